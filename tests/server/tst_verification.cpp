// Proof of inference with real processes: a node that cheats (random output, skipped layers, stale replays,
// wrong on 5% of stages) is caught by sampled re-execution and quarantined; honest nodes pass every check.
#include "SwarmHarness.h"

#include <QElapsedTimer>

using declai::testdata::Swarm;

class TestVerification : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf not in DECLAI_MODEL_PATH"));
    }

    void honestNodesPassEveryCheck() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2"),
                     QStringLiteral("--verify-initial-rate"), QStringLiteral("1"),
                     QStringLiteral("--verify-floor-rate"), QStringLiteral("1")});
        QVERIFY(swarm.waitForServer());
        swarm.addNode();
        swarm.addNode();
        QVERIFY(swarm.waitForShards(2));
        for (int i = 0; i < 3; ++i) {
            auto client = swarm.submit(QStringLiteral("Once upon a time"), 60);
            QVERIFY(client->waitForFinished(60000));
            QCOMPARE(client->exitCode(), 0);
        }
        QElapsedTimer clock;
        clock.start();
        QJsonObject s;
        do { // checks finish asynchronously
            QTest::qWait(200);
            s = swarm.status();
        } while (s.value(QStringLiteral("verifications_passed")).toInt() < 6 && clock.elapsed() < 30000);
        // Rate 1: each of the 3 sessions has both of its stages re-executed (every row of every step).
        QVERIFY2(s.value(QStringLiteral("verifications_passed")).toInt() == 6,
                 QJsonDocument(s).toJson().constData());
        QCOMPARE(s.value(QStringLiteral("verifications_failed")).toInt(), 0);
        QCOMPARE(s.value(QStringLiteral("quarantined_nodes")).toInt(), 0);
        // Every check ran: none left queued (benchmarks wait for this before their next run).
        QVERIFY2(s.contains(QStringLiteral("verifications_pending")), QJsonDocument(s).toJson().constData());
        QCOMPARE(s.value(QStringLiteral("verifications_pending")).toInt(), 0);
    }

    void cheatersAreCaughtAndQuarantined_data() {
        QTest::addColumn<QString>("mode");
        QTest::newRow("random output") << QStringLiteral("random");
        QTest::newRow("skips its layers") << QStringLiteral("skip");
        QTest::newRow("replays stale output") << QStringLiteral("stale");
        QTest::newRow("wrong on 5% of stages") << QStringLiteral("sometimes");
    }

    void cheatersAreCaughtAndQuarantined() {
        QFETCH(QString, mode);
        // Credits on: the cheater's earnings stay pending (10 min window) and must be voided when caught.
        QString key;
        Swarm swarm(
            {QStringLiteral("--min-nodes"), QStringLiteral("2"), QStringLiteral("--replicas"),
             QStringLiteral("1")},
            [&](Swarm& s) {
                key =
                    s.admin({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("eve")}).trimmed();
            });
        QVERIFY(swarm.waitForServer());
        swarm.addNode();
        swarm.addTestNode({QStringLiteral("--test-cheat"), mode});
        QVERIFY(swarm.waitForShards(2));
        // Default policy: a new node is checked on half its stages. Keep generating until it is caught.
        QElapsedTimer clock;
        clock.start();
        int requests = 0;
        while (swarm.status().value(QStringLiteral("quarantined_nodes")).toInt() == 0 &&
               clock.elapsed() < 60000) {
            auto client =
                swarm.submit(QStringLiteral("Once upon a time"), 60, {QStringLiteral("--api-key"), key});
            QVERIFY(client->waitForFinished(60000));
            ++requests;
            QTest::qWait(100);
        }
        const QJsonObject s = swarm.status();
        qInfo("%s: caught after %d request(s); %d checks passed, %d failed", qPrintable(mode), requests,
              s.value(QStringLiteral("verifications_passed")).toInt(),
              s.value(QStringLiteral("verifications_failed")).toInt());
        QCOMPARE(s.value(QStringLiteral("quarantined_nodes")).toInt(), 1);
        QVERIFY(swarm.log(QStringLiteral("server")).contains(QStringLiteral("quarantined")));
        // The cheater earns nothing: its pending credit was voided and nothing was released to it.
        const QString cheaterShort = [&] {
            const QString log = swarm.log(QStringLiteral("node1"));
            const int at = log.indexOf(QStringLiteral("as node "));
            return at < 0 ? QString() : log.mid(at + 8, 12);
        }();
        QVERIFY(!cheaterShort.isEmpty());
        const QString csv =
            swarm.admin({QStringLiteral("ledger"), QStringLiteral("export"), QStringLiteral("--csv")});
        QVERIFY2(csv.contains(QStringLiteral(",void,")), qPrintable(csv.left(3000)));
        const int at = csv.indexOf(QStringLiteral("node:") + cheaterShort);
        QVERIFY(at >= 0);
        const QString account = csv.mid(at, 5 + 64);
        const QString balance = swarm.admin({QStringLiteral("ledger"), QStringLiteral("balance"), account});
        QVERIFY2(balance.contains(QStringLiteral("available 0.000000")) &&
                     balance.contains(QStringLiteral("pending 0.000000")),
                 qPrintable(balance));
        int exitCode = -1;
        swarm.admin({QStringLiteral("ledger"), QStringLiteral("verify")}, &exitCode);
        QCOMPARE(exitCode, 0);
        // The honest node takes over the cheater's layers and serves new requests alone.
        const QJsonObject ref = [] {
            QFile f(declai::testdata::referencePath(QStringLiteral("parity/stories260K-p1.json")));
            f.open(QIODevice::ReadOnly);
            return QJsonDocument::fromJson(f.readAll()).object();
        }();
        auto after = swarm.submit(ref.value(QStringLiteral("prompt")).toString(), 100,
                                  {QStringLiteral("--api-key"), key});
        QVERIFY(after->waitForFinished(60000));
        QCOMPARE(after->exitCode(), 0);
        QCOMPARE(QString::fromUtf8(after->readAllStandardOutput()),
                 ref.value(QStringLiteral("greedy_text")).toString() + QLatin1Char('\n'));
    }
};

QTEST_GUILESS_MAIN(TestVerification)
#include "tst_verification.moc"
