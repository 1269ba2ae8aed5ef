// Numeric options of `generate`, `submit`, `bench` and `model synth` are validated by one helper
// (declai/core/CommandLineOptions.h, which declai-node and declai-server use too): an out-of-range or
// non-finite value is a usage error (exit 2) whose message names the option, never a cast of an arbitrary
// double to an integer. And a model whose numbers are NaN fails `generate` clearly instead
// of printing nothing with exit 0.
#include "ProcessRun.h"
#include "TestData.h"
#include "declai/core/GgufFile.h"

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <limits>

namespace {

using Run = declai::testdata::ProcessResult;

Run runCli(const QStringList& args, int timeoutMs = 120000) {
    return declai::testdata::runProcess(QStringLiteral(DECLAI_CLI_PATH), args, timeoutMs);
}

// A submit that would go to a closed port: validation must refuse it before any connection is tried.
QStringList submitArgs(const QStringList& extra) {
    return QStringList{
               QStringLiteral("submit"), QStringLiteral("--server"),    QStringLiteral("wss://127.0.0.1:9"),
               QStringLiteral("-m"),     QStringLiteral("stories260K"), QStringLiteral("-p"),
               QStringLiteral("x"),      QStringLiteral("--timeout-s"), QStringLiteral("5")} +
           extra;
}

QStringList generateArgs(const QStringList& extra) {
    return QStringList{QStringLiteral("generate"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
                       QStringLiteral("-p"), QStringLiteral("x")} +
           extra;
}

} // namespace

class TestCliValidation : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void usageErrorsNameTheOption_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        auto row = [](const char* name, const QStringList& args, const char* expected) {
            QTest::newRow(name) << args << QString::fromLatin1(expected);
        };
        row("submit -n -1", submitArgs({QStringLiteral("-n"), QStringLiteral("-1")}),
            "-n must be an integer in [1, 1048576], got '-1'");
        row("submit -n 0", submitArgs({QStringLiteral("-n"), QStringLiteral("0")}),
            "-n must be an integer in [1, 1048576], got '0'");
        row("submit -n 1e20", submitArgs({QStringLiteral("-n"), QStringLiteral("1e20")}),
            "-n must be an integer in [1, 1048576]");
        row("submit --top-k 1e20", submitArgs({QStringLiteral("--top-k"), QStringLiteral("1e20")}),
            "--top-k must be an integer in [-1, 16777216], got '1e20'");
        row("submit --seed -1", submitArgs({QStringLiteral("--seed"), QStringLiteral("-1")}),
            "--seed must be an integer in [0, 9223372036854775807], got '-1'");
        row("submit --seed 2.5", submitArgs({QStringLiteral("--seed"), QStringLiteral("2.5")}),
            "--seed must be an integer");
        row("submit --timeout-s 1e300", submitArgs({QStringLiteral("--timeout-s"), QStringLiteral("1e300")}),
            "--timeout-s must be in [0.001, 2e+06], got '1e300'");
        row("submit --timeout-s -5", submitArgs({QStringLiteral("--timeout-s"), QStringLiteral("-5")}),
            "--timeout-s must be in");
        row("submit --temp nan", submitArgs({QStringLiteral("--temp"), QStringLiteral("nan")}),
            "--temp must be a finite number, got 'nan'");
        row("submit --top-p inf", submitArgs({QStringLiteral("--top-p"), QStringLiteral("inf")}),
            "--top-p must be a finite number");
        row("generate --top-k 1e20", generateArgs({QStringLiteral("--top-k"), QStringLiteral("1e20")}),
            "--top-k must be an integer in [-1, 16777216], got '1e20'");
        row("generate --seed -1", generateArgs({QStringLiteral("--seed"), QStringLiteral("-1")}),
            "--seed must be an integer in [0, 9223372036854775807], got '-1'");
        row("generate --temp nan", generateArgs({QStringLiteral("--temp"), QStringLiteral("nan")}),
            "--temp must be a finite number, got 'nan'");
        row("bench --reps 0",
            {QStringLiteral("bench"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
             QStringLiteral("--reps"), QStringLiteral("0")},
            "--reps must be an integer in [1, 1000], got '0'");
        row("bench -p 1e3",
            {QStringLiteral("bench"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
             QStringLiteral("-p"), QStringLiteral("1e3")},
            "-p must be an integer in [1, 65536], got '1e3'");
        const QStringList synth{QStringLiteral("model"),   QStringLiteral("synth"),
                                QStringLiteral("--shape"), QStringLiteral("llama-20m"),
                                QStringLiteral("--type"),  QStringLiteral("f16"),
                                QStringLiteral("-o"),      QStringLiteral("/nonexistent/x.gguf")};
        row("model synth --threads 2000",
            synth + QStringList{QStringLiteral("--threads"), QStringLiteral("2000")},
            "--threads must be an integer in [0, 1024], got '2000'");
        row("model synth --seed -1", synth + QStringList{QStringLiteral("--seed"), QStringLiteral("-1")},
            "--seed must be an integer in [0, 9223372036854775807], got '-1'");
    }

    void usageErrorsNameTheOption() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const Run r = runCli(args);
        QVERIFY2(r.exitCode == 2,
                 qPrintable(QStringLiteral("exit %1: %2").arg(r.exitCode).arg(QString::fromUtf8(r.err))));
        QVERIFY2(QString::fromUtf8(r.err).contains(expected), r.err.constData());
        QVERIFY(r.out.isEmpty());
    }

    // A model whose final norm is NaN makes every logit NaN: generate must say so and exit 1.
    void nanModelFailsGenerate() {
        const QString source = declai::testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (source.isEmpty())
            QSKIP("stories260K.gguf not in DECLAI_MODEL_PATH");
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("nan.gguf"));
        QVERIFY(QFile::copy(source, path));
        QVERIFY(QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner));
        qint64 at = -1, bytes = 0;
        {
            auto file = declai::GgufFile::open(path.toStdString());
            QVERIFY2(file.hasValue(), file ? "" : file.error().message.c_str());
            for (const auto& t : file->tensors())
                if (t.name == "output_norm.weight") {
                    QCOMPARE(static_cast<int>(t.type), 0); // F32
                    at = static_cast<qint64>(file->dataOffset() + t.offset);
                    bytes = static_cast<qint64>(t.sizeBytes);
                }
        }
        QVERIFY(at > 0 && bytes > 0);
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadWrite));
        QVERIFY(f.seek(at));
        const float nan = std::numeric_limits<float>::quiet_NaN();
        QByteArray nanBytes;
        for (qint64 i = 0; i < bytes / 4; ++i)
            nanBytes.append(reinterpret_cast<const char*>(&nan), 4);
        QCOMPARE(f.write(nanBytes), bytes);
        f.close();

        const Run r = runCli({QStringLiteral("generate"), QStringLiteral("-m"), path, QStringLiteral("-p"),
                              QStringLiteral("Once upon a time"), QStringLiteral("-n"), QStringLiteral("8")});
        QVERIFY2(
            r.exitCode == 1,
            qPrintable(QStringLiteral("exit %1, stdout '%2'").arg(r.exitCode).arg(QString::fromUtf8(r.out))));
        QVERIFY2(QString::fromUtf8(r.err).contains(QStringLiteral("non-finite logits")), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliValidation)
#include "tst_cli_validation.moc"
