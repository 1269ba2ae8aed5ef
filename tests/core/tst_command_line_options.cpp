// The one way our programs read a numeric option (declai/core/CommandLineOptions.h): declai-cli, declai-node
// and declai-server refuse the same bad values with the same message naming the option.
#include "declai/core/CommandLineOptions.h"

#include <QTest>
#include <limits>

using namespace declai;

namespace {

// Parses `args` (after a program name) against `options`.
bool parse(QCommandLineParser& parser, const QList<QCommandLineOption>& options, const QStringList& args) {
    parser.addOptions(options);
    return parser.parse(QStringList{QStringLiteral("prog")} + args);
}

} // namespace

class TestCommandLineOptions : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void makeOptionSetsValueAndDefault() {
        const QCommandLineOption flag = makeOption({QStringLiteral("prefault")}, "touch every page");
        QVERIFY(flag.valueName().isEmpty());
        QVERIFY(flag.defaultValues().isEmpty());
        const QCommandLineOption count =
            makeOption({QStringLiteral("n"), QStringLiteral("n-predict")}, "tokens", "N", "32");
        QCOMPARE(count.valueName(), QStringLiteral("N"));
        QCOMPARE(count.defaultValues(), QStringList{QStringLiteral("32")});
        const QCommandLineOption computed =
            makeOption({QStringLiteral("temp")}, "temperature", "T", QString::number(0.8));
        QCOMPARE(computed.defaultValues(), QStringList{QStringLiteral("0.8")});
    }

    void optionNameIsTheLongestName() {
        QCOMPARE(optionName(makeOption({QStringLiteral("n")}, "n", "N")), std::string("-n"));
        QCOMPARE(optionName(makeOption({QStringLiteral("t"), QStringLiteral("threads")}, "t", "T")),
                 std::string("--threads"));
    }

    void intOptionChecksRangeAndForm_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("accepted");
        QTest::newRow("in range") << QStringLiteral("16") << true;
        QTest::newRow("lower bound") << QStringLiteral("1") << true;
        QTest::newRow("upper bound") << QStringLiteral("1024") << true;
        QTest::newRow("below") << QStringLiteral("0") << false;
        QTest::newRow("above") << QStringLiteral("1025") << false;
        QTest::newRow("exponent") << QStringLiteral("1e3") << false;
        QTest::newRow("fraction") << QStringLiteral("2.5") << false;
        QTest::newRow("word") << QStringLiteral("many") << false;
        QTest::newRow("overflow") << QStringLiteral("99999999999999999999") << false;
    }
    void intOptionChecksRangeAndForm() {
        QFETCH(QString, text);
        QFETCH(bool, accepted);
        const QCommandLineOption threads = makeOption({QStringLiteral("threads")}, "threads", "T");
        QCommandLineParser parser;
        QVERIFY(parse(parser, {threads}, {QStringLiteral("--threads"), text}));
        const auto value = intOption(parser, threads, 1, 1024);
        QCOMPARE(value.hasValue(), accepted);
        if (accepted)
            QCOMPARE(*value, text.toLongLong());
        else
            QCOMPARE(QString::fromStdString(value.error().message),
                     QStringLiteral("--threads must be an integer in [1, 1024], got '%1'").arg(text));
    }

    void intOptionReadsTheDefault() {
        const QCommandLineOption count = makeOption({QStringLiteral("n")}, "tokens", "N", "32");
        QCommandLineParser parser;
        QVERIFY(parse(parser, {count}, {}));
        const auto value = intOption(parser, count, 0, 100);
        QVERIFY(value);
        QCOMPARE(*value, int64_t(32));
    }

    void floatOptionRefusesNonFiniteAndOutOfRange() {
        const QCommandLineOption rate = makeOption({QStringLiteral("rate")}, "rate", "R");
        for (const QString& bad :
             {QStringLiteral("nan"), QStringLiteral("inf"), QStringLiteral("-inf"), QStringLiteral("x")}) {
            QCommandLineParser parser;
            QVERIFY(parse(parser, {rate}, {QStringLiteral("--rate"), bad}));
            const auto value = floatOption(parser, rate, 0, 1);
            QVERIFY2(!value, qPrintable(bad));
            QCOMPARE(QString::fromStdString(value.error().message),
                     QStringLiteral("--rate must be a finite number, got '%1'").arg(bad));
        }
        QCommandLineParser parser;
        QVERIFY(parse(parser, {rate}, {QStringLiteral("--rate"), QStringLiteral("1.5")}));
        const auto value = floatOption(parser, rate, 0, 1);
        QVERIFY(!value);
        QCOMPARE(QString::fromStdString(value.error().message),
                 QStringLiteral("--rate must be in [0, 1], got '1.5'"));
    }

    // Options whose default lives in a config struct: unset leaves the default, set replaces it, bad refuses.
    void readOptionsKeepTheConfigDefault() {
        const QCommandLineOption sessions = makeOption({QStringLiteral("max-sessions")}, "n", "N");
        const QCommandLineOption rate = makeOption({QStringLiteral("rate")}, "r", "R");
        {
            QCommandLineParser parser;
            QVERIFY(parse(parser, {sessions, rate}, {}));
            int maxSessions = 8;
            double r = 0.5;
            QVERIFY(readIntOption(parser, sessions, 1, 100000, maxSessions));
            QVERIFY(readFloatOption(parser, rate, 0, 1, r));
            QCOMPARE(maxSessions, 8);
            QCOMPARE(r, 0.5);
        }
        {
            QCommandLineParser parser;
            QVERIFY(parse(parser, {sessions, rate},
                          {QStringLiteral("--max-sessions"), QStringLiteral("12"), QStringLiteral("--rate"),
                           QStringLiteral("0.25")}));
            int maxSessions = 8;
            double r = 0.5;
            QVERIFY(readIntOption(parser, sessions, 1, 100000, maxSessions));
            QVERIFY(readFloatOption(parser, rate, 0, 1, r));
            QCOMPARE(maxSessions, 12);
            QCOMPARE(r, 0.25);
        }
        {
            QCommandLineParser parser;
            QVERIFY(parse(parser, {sessions}, {QStringLiteral("--max-sessions"), QStringLiteral("0")}));
            int maxSessions = 8;
            const auto read = readIntOption(parser, sessions, 1, 100000, maxSessions);
            QVERIFY(!read);
            QCOMPARE(read.error().code, ErrorCode::InvalidArgument);
            QCOMPARE(maxSessions, 8);
        }
    }

    void fullInt64RangeIsAccepted() {
        const QCommandLineOption seed = makeOption({QStringLiteral("seed")}, "seed", "S");
        QCommandLineParser parser;
        QVERIFY(parse(parser, {seed}, {QStringLiteral("--seed"), QStringLiteral("9223372036854775807")}));
        const auto value = intOption(parser, seed, 0, std::numeric_limits<int64_t>::max());
        QVERIFY(value);
        QCOMPARE(*value, std::numeric_limits<int64_t>::max());
    }
};

QTEST_GUILESS_MAIN(TestCommandLineOptions)
#include "tst_command_line_options.moc"
