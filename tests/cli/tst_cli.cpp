// declai-cli's contract (the one our acceptance checks use): generate prints only the continuation,
// --tokens prints ids, tokenize prints ids, logits writes raw float32, errors go to stderr with a
// non-zero exit. Expected outputs come from llama.cpp's reference files.
#include "TestData.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <cmath>

namespace {

struct Run {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Run runCli(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(DECLAI_CLI_PATH), args);
    Run r;
    if (!p.waitForFinished(120000)) {
        p.kill();
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QJsonObject reference(const QString& name) {
    QFile f(declai::testdata::referencePath(QStringLiteral("parity/") + name));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

QString idsToString(const QJsonArray& ids) {
    QStringList parts;
    for (const QJsonValue& v : ids)
        parts << QString::number(v.toInt());
    return parts.join(QLatin1Char(' '));
}

} // namespace

class TestCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::referenceDir().isEmpty() || qEnvironmentVariable("DECLAI_MODEL_PATH").isEmpty())
            QSKIP("DECLAI_MODEL_PATH and DECLAI_REFERENCE_DIR must point at ../shared");
    }

    void generatePrintsReferenceContinuation_data() {
        QTest::addColumn<QString>("reference");
        QTest::newRow("p1") << QStringLiteral("stories260K-p1.json");
        QTest::newRow("p2") << QStringLiteral("stories260K-p2.json");
        QTest::newRow("p3") << QStringLiteral("stories260K-p3.json");
    }

    void generatePrintsReferenceContinuation() {
        QFETCH(QString, reference);
        const QJsonObject ref = ::reference(reference);
        QVERIFY(!ref.isEmpty());
        const QJsonArray greedy = ref.value(QStringLiteral("greedy_tokens")).toArray();
        const QStringList common = {QStringLiteral("-m"), ref.value(QStringLiteral("model")).toString(),
                                    QStringLiteral("-p"), ref.value(QStringLiteral("prompt")).toString(),
                                    QStringLiteral("-n"), QString::number(greedy.size())};
        const Run text = runCli(QStringList{QStringLiteral("generate")} + common);
        QCOMPARE(text.exitCode, 0);
        QCOMPARE(QString::fromUtf8(text.out),
                 ref.value(QStringLiteral("greedy_text")).toString() + QLatin1Char('\n'));
        const Run ids = runCli(QStringList{QStringLiteral("generate")} + common +
                               QStringList{QStringLiteral("--tokens")});
        QCOMPARE(ids.exitCode, 0);
        QCOMPARE(QString::fromUtf8(ids.out).trimmed(), idsToString(greedy));
    }

    void tokenizeMatchesReference() {
        const QJsonObject ref = reference(QStringLiteral("tiny-random-p1.json"));
        const Run r = runCli({QStringLiteral("tokenize"), QStringLiteral("-m"),
                              ref.value(QStringLiteral("model")).toString(), QStringLiteral("-p"),
                              ref.value(QStringLiteral("prompt")).toString()});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(QString::fromUtf8(r.out).trimmed(),
                 idsToString(ref.value(QStringLiteral("prompt_tokens")).toArray()));
        const Run noBos =
            runCli({QStringLiteral("tokenize"), QStringLiteral("-m"),
                    ref.value(QStringLiteral("model")).toString(), QStringLiteral("-p"),
                    ref.value(QStringLiteral("prompt")).toString(), QStringLiteral("--no-bos")});
        QCOMPARE(noBos.exitCode, 0);
        QVERIFY(!QString::fromUtf8(noBos.out).startsWith(QStringLiteral("1 ")));
    }

    void logitsWritesRawFloats() {
        QTemporaryDir dir;
        const QString out = dir.filePath(QStringLiteral("l.f32"));
        const Run r =
            runCli({QStringLiteral("logits"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
                    QStringLiteral("-p"), QStringLiteral("Once upon a time"), QStringLiteral("-o"), out});
        QCOMPARE(r.exitCode, 0);
        QFile mine(out),
            theirs(declai::testdata::referencePath(QStringLiteral("parity/stories260K-p1.logits.f32")));
        QVERIFY(mine.open(QIODevice::ReadOnly) && theirs.open(QIODevice::ReadOnly));
        const QByteArray a = mine.readAll(), b = theirs.readAll();
        QCOMPARE(a.size(), b.size());
        const auto* fa = reinterpret_cast<const float*>(a.constData());
        const auto* fb = reinterpret_cast<const float*>(b.constData());
        const auto [lo, hi] = std::minmax_element(fb, fb + b.size() / 4);
        const float range = *hi - *lo;
        // Same numbers up to float summation order (SIMD lanes): within 1e-4 of the logit range.
        for (qsizetype i = 0; i < a.size() / 4; ++i)
            QVERIFY2(std::fabs(fa[i] - fb[i]) <= 1e-4f * range,
                     qPrintable(
                         QStringLiteral("logit %1: %2 vs %3").arg(i).arg(double(fa[i])).arg(double(fb[i]))));
    }

    void inspectShowsMetadataAndTensors() {
        const Run r =
            runCli({QStringLiteral("inspect"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf")});
        QCOMPARE(r.exitCode, 0);
        const QString text = QString::fromUtf8(r.out);
        QVERIFY(text.contains(QStringLiteral("general.architecture")));
        QVERIFY(text.contains(QStringLiteral("blk.4.ffn_down.weight")));
        QVERIFY(text.contains(QStringLiteral("5 layers")));
    }

    void errorsGoToStderrWithNonZeroExit_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        QTest::newRow("no command") << QStringList{} << QStringLiteral("usage");
        QTest::newRow("unknown command")
            << QStringList{QStringLiteral("frobnicate")} << QStringLiteral("unknown command");
        QTest::newRow("missing model")
            << QStringList{QStringLiteral("generate"), QStringLiteral("-m"), QStringLiteral("nope.gguf"),
                           QStringLiteral("-p"), QStringLiteral("x")}
            << QStringLiteral("not found");
        QTest::newRow("bad -n") << QStringList{QStringLiteral("generate"),
                                               QStringLiteral("-m"),
                                               QStringLiteral("stories260K.gguf"),
                                               QStringLiteral("-p"),
                                               QStringLiteral("x"),
                                               QStringLiteral("-n"),
                                               QStringLiteral("many")}
                                << QStringLiteral("-n");
        QTest::newRow("bad temperature") << QStringList{QStringLiteral("generate"),
                                                        QStringLiteral("-m"),
                                                        QStringLiteral("stories260K.gguf"),
                                                        QStringLiteral("-p"),
                                                        QStringLiteral("x"),
                                                        QStringLiteral("--temp"),
                                                        QStringLiteral("-1")}
                                         << QStringLiteral("temperature");
        QTest::newRow("unavailable device") << QStringList{QStringLiteral("generate"),
                                                           QStringLiteral("-m"),
                                                           QStringLiteral("stories260K.gguf"),
                                                           QStringLiteral("-p"),
                                                           QStringLiteral("x"),
                                                           QStringLiteral("--device"),
                                                           QStringLiteral("cuda:7")}
                                            << QStringLiteral("cuda:7");
        QTest::newRow("context overflow") << QStringList{QStringLiteral("generate"),
                                                         QStringLiteral("-m"),
                                                         QStringLiteral("stories260K.gguf"),
                                                         QStringLiteral("-p"),
                                                         QStringLiteral("x"),
                                                         QStringLiteral("-n"),
                                                         QStringLiteral("100000")}
                                          << QStringLiteral("context length");
    }

    void errorsGoToStderrWithNonZeroExit() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const Run r = runCli(args);
        QVERIFY2(r.exitCode > 0, qPrintable(QStringLiteral("exit %1").arg(r.exitCode)));
        QVERIFY2(QString::fromUtf8(r.err).contains(expected), r.err.constData());
    }

    void malformedModelFileIsRefusedCleanly() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("broken.gguf"));
        QFile source(declai::testdata::modelPath(QStringLiteral("stories260K.gguf")));
        QVERIFY(source.open(QIODevice::ReadOnly));
        QByteArray bytes = source.read(4000); // header and part of the vocabulary only
        QFile broken(path);
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write(bytes);
        broken.close();
        for (const QString& command : {QStringLiteral("inspect"), QStringLiteral("generate")}) {
            const Run r =
                runCli({command, QStringLiteral("-m"), path, QStringLiteral("-p"), QStringLiteral("x")});
            QCOMPARE(r.exitCode, 1);
            QVERIFY2(r.err.contains("broken.gguf") && r.err.contains("at byte"), r.err.constData());
        }
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
