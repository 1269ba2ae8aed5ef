// NodeSettings: the INI file shared by declai-node and the app (defaults, round trip, errors that name the
// file and key), declai-node --config with flags that win, and the test flags that only the test node has.
#include "NodeConfig.h"
#include "NodeSettings.h"

#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

using declai::node::NodeSettings;

namespace {

void writeFile(const QString& path, const QByteArray& text) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(text);
}

struct Run {
    int exitCode = -1;
    QByteArray err;
};

Run run(const QString& program, const QStringList& args) {
    QProcess p;
    p.start(program, args);
    if (!p.waitForFinished(20000)) {
        p.kill();
        p.waitForFinished(5000);
    }
    return Run{p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardError()};
}

} // namespace

class TestNodeSettings : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void missingFileGivesDefaults() {
        QTemporaryDir dir;
        auto s = NodeSettings::load(dir.filePath(QStringLiteral("none.ini")));
        QVERIFY(s);
        QCOMPARE(s->budgets.maxSessions, 16);
        QCOMPARE(s->budgets.diskBytes, 20ull << 30);
        QCOMPARE(s->budgets.enabledDevices, QStringList{QStringLiteral("cpu")});
        QCOMPARE(s->drainGraceMs, 30000);
        QVERIFY(s->rules.grid.allSet());
        QVERIFY(NodeSettings::defaultPath().endsWith(QStringLiteral("declai/node.ini")));
    }

    void saveLoadRoundTrip() {
        QTemporaryDir dir;
        NodeSettings s;
        s.serverUrl = QUrl(QStringLiteral("wss://example.org:7443"));
        s.dataDir = dir.filePath(QStringLiteral("data"));
        s.tls.caFile = dir.filePath(QStringLiteral("server.crt"));
        s.tls.pinnedFingerprint = QStringLiteral("SHA256:") + QString(64, QLatin1Char('a'));
        s.budgets.threads = 3;
        s.budgets.memoryBytes = 512ull << 20;
        s.budgets.diskBytes = 1024ull << 20;
        s.budgets.maxSessions = 4;
        s.budgets.enabledDevices = {QStringLiteral("vulkan:0"), QStringLiteral("cpu")};
        s.rules.idleMinutesRequired = 5;
        s.rules.cpuThrottlePercent = 50;
        s.rules.grid.set(1, 3, false);
        s.drainGraceMs = 7000;
        s.prefault = true;
        const QString file = dir.filePath(QStringLiteral("conf/node.ini"));
        QVERIFY(s.save(file));
        auto back = NodeSettings::load(file);
        QVERIFY2(back, back ? "" : back.error().message.c_str());
        QCOMPARE(back->serverUrl, s.serverUrl);
        QCOMPARE(back->dataDir, s.dataDir);
        QCOMPARE(back->tls.caFile, s.tls.caFile);
        QCOMPARE(back->tls.pinnedFingerprint, s.tls.pinnedFingerprint);
        QVERIFY(back->budgets == s.budgets);
        QVERIFY(back->rules == s.rules);
        QCOMPARE(back->drainGraceMs, 7000);
        QCOMPARE(back->prefault, true);
        QVERIFY(back->validate());
        // An empty device list survives too (it pauses the engine).
        s.budgets.enabledDevices.clear();
        QVERIFY(s.save(file));
        QVERIFY(NodeSettings::load(file)->budgets.enabledDevices.isEmpty());
    }

    void relativePathsAreRelativeToTheFile() {
        QTemporaryDir dir;
        const QString file = dir.filePath(QStringLiteral("node.ini"));
        writeFile(file, "[node]\ndata_dir=data\n[server]\nca_file=tls/server.crt\n");
        auto s = NodeSettings::load(file);
        QVERIFY(s);
        QCOMPARE(s->dataDir, dir.filePath(QStringLiteral("data")));
        QCOMPARE(s->tls.caFile, dir.filePath(QStringLiteral("tls/server.crt")));
    }

    void invalidValuesNameFileAndKey_data() {
        QTest::addColumn<QByteArray>("ini");
        QTest::addColumn<QString>("key");
        QTest::newRow("threads") << QByteArray("[budgets]\nthreads=lots\n")
                                 << QStringLiteral("budgets/threads");
        QTest::newRow("max sessions")
            << QByteArray("[budgets]\nmax_sessions=0\n") << QStringLiteral("budgets/max_sessions");
        QTest::newRow("disk") << QByteArray("[budgets]\ndisk_mb=-5\n") << QStringLiteral("budgets/disk_mb");
        QTest::newRow("prefault") << QByteArray("[node]\nprefault=perhaps\n")
                                  << QStringLiteral("node/prefault");
        QTest::newRow("grace") << QByteArray("[node]\ndrain_grace_s=1e9\n")
                               << QStringLiteral("node/drain_grace_s");
        QTest::newRow("idle") << QByteArray("[rules]\nidle_minutes=-1\n") << QStringLiteral("idle_minutes");
        QTest::newRow("grid") << QByteArray("[rules]\ngrid=101\n") << QStringLiteral("grid");
        QTest::newRow("throttle") << QByteArray("[rules]\ncpu_throttle_percent=0\n")
                                  << QStringLiteral("cpu_throttle_percent");
    }
    void invalidValuesNameFileAndKey() {
        QFETCH(QByteArray, ini);
        QFETCH(QString, key);
        QTemporaryDir dir;
        const QString file = dir.filePath(QStringLiteral("node.ini"));
        writeFile(file, ini);
        auto s = NodeSettings::load(file);
        QVERIFY(!s);
        const QString message = QString::fromStdString(s.error().message);
        QVERIFY2(message.startsWith(file), qPrintable(message));
        QVERIFY2(message.contains(QStringLiteral("'%1'").arg(key)), qPrintable(message));
    }

    void validateNeedsServerAndDataDir() {
        NodeSettings s;
        auto v = s.validate();
        QVERIFY(!v);
        QVERIFY(v.error().message.find("server/url") != std::string::npos);
        s.serverUrl = QUrl(QStringLiteral("ws://127.0.0.1:9"));
        s.dataDir = QStringLiteral("/tmp/x");
        QVERIFY(!s.validate()); // plaintext without insecureDev
        s.tls.insecureDev = true;
        QVERIFY(s.validate());
    }

    void commandLineFlagsWinOverTheFile() {
        QTemporaryDir dir;
        const QString file = dir.filePath(QStringLiteral("node.ini"));
        writeFile(file, "[server]\nurl=wss://127.0.0.1:7000\n[node]\ndata_dir=d\n"
                        "[budgets]\nthreads=2\nmax_sessions=3\n[rules]\nidle_minutes=7\n");
        auto fromFile = declai::node::parseNodeCommandLine(
            {QStringLiteral("declai-node"), QStringLiteral("--config"), file});
        QVERIFY2(fromFile, fromFile ? "" : fromFile.error().message.c_str());
        QCOMPARE(fromFile->settings.budgets.threads, 2);
        QCOMPARE(fromFile->settings.budgets.maxSessions, 3);
        QCOMPARE(fromFile->settings.rules.idleMinutesRequired, 7);
        QCOMPARE(fromFile->settings.dataDir, dir.filePath(QStringLiteral("d")));
        auto flags = declai::node::parseNodeCommandLine(
            {QStringLiteral("declai-node"), QStringLiteral("--config"), file, QStringLiteral("--threads"),
             QStringLiteral("5"), QStringLiteral("--server"), QStringLiteral("wss://127.0.0.1:7001"),
             QStringLiteral("--device"), QStringLiteral("vulkan:0")});
        QVERIFY(flags);
        QCOMPARE(flags->settings.budgets.threads, 5);
        QCOMPARE(flags->settings.budgets.maxSessions, 3);
        QCOMPARE(flags->settings.serverUrl.port(), 7001);
        QCOMPARE(flags->settings.budgets.device(), QStringLiteral("vulkan:0"));
        // Without --config the old contract holds: --server and --data-dir are required.
        QVERIFY(!declai::node::parseNodeCommandLine({QStringLiteral("declai-node")}));
        auto missing =
            declai::node::parseNodeCommandLine({QStringLiteral("declai-node"), QStringLiteral("--config"),
                                                dir.filePath(QStringLiteral("nope.ini"))});
        QVERIFY(!missing);
        QVERIFY(missing.error().message.find("no such file") != std::string::npos);
    }

    // The shipped node has no test behaviour: it refuses the test flags as unknown options; the test-only
    // node accepts them (and refuses a bad value as a usage error).
    void testFlagsLiveOnlyInTheTestNode() {
        const QStringList base{QStringLiteral("--server"), QStringLiteral("wss://127.0.0.1:9"),
                               QStringLiteral("--data-dir"), QStringLiteral("/nonexistent-declai"),
                               QStringLiteral("--help")};
        for (const QStringList& extra :
             {QStringList{QStringLiteral("--test-cheat"), QStringLiteral("random")},
              QStringList{QStringLiteral("--stage-delay-ms"), QStringLiteral("10")}}) {
            const Run shipped = run(QStringLiteral(DECLAI_NODE_PATH), base + extra);
            QVERIFY2(shipped.exitCode == 2, shipped.err.constData());
            QVERIFY2(shipped.err.contains("Unknown option"), shipped.err.constData());
            const Run test = run(QStringLiteral(DECLAI_TEST_NODE_PATH), base + extra);
            QVERIFY2(test.exitCode == 0, test.err.constData()); // --help after the flags were taken
        }
        const Run bad = run(QStringLiteral(DECLAI_TEST_NODE_PATH),
                            base + QStringList{QStringLiteral("--test-cheat"), QStringLiteral("bogus")});
        QCOMPARE(bad.exitCode, 2);
    }
};

QTEST_GUILESS_MAIN(TestNodeSettings)
#include "tst_node_settings.moc"
