// Batched stages end to end: several clients at once on two nodes. The nodes run the sessions' stages
// together (their logs show passes of more than one session), and every client still gets exactly
// llama.cpp's greedy continuation: with mixed prompt lengths, a client joining while the others decode,
// a node killed while it holds a batch (failover replays give the same floats), and prompts run in chunks.
#include "ParityReference.h"
#include "SwarmHarness.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>
#include <csignal>

using declai::testdata::Swarm;

namespace {

QJsonObject reference(const QString& name) {
    return declai::testdata::parityJson(name);
}
QString ids(const QJsonArray& array) {
    return declai::testdata::idText(array);
}

// The largest number of sessions one pass served, over the nodes' logs (ComputeWorker's histogram lines).
int largestBatch(const Swarm& swarm, int nodes) {
    static const QRegularExpression line(QStringLiteral("batch histogram [^{]*\\{([^}]*)\\}"));
    static const QRegularExpression entry(QStringLiteral("\"(\\d+)\":\\d+"));
    int largest = 0;
    for (int i = 0; i < nodes; ++i) {
        auto lines = line.globalMatch(swarm.log(QStringLiteral("node%1").arg(i)));
        while (lines.hasNext()) {
            auto entries = entry.globalMatch(lines.next().captured(1));
            while (entries.hasNext())
                largest = std::max(largest, entries.next().captured(1).toInt());
        }
    }
    return largest;
}

struct Job {
    QJsonArray greedy;
    std::unique_ptr<QProcess> client;
};

} // namespace

class TestBatchedSwarm : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::referenceDir().isEmpty() ||
            declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            DECLAI_SKIP_MISSING(
                "models",
                QStringLiteral("DECLAI_MODEL_PATH and DECLAI_REFERENCE_DIR must point at ../shared"));
    }

    void concurrentClientsGetTheirSoloOutput_data() {
        QTest::addColumn<bool>("killANode");
        QTest::addColumn<int>("prefillChunkTokens"); // 0: the server's default
        QTest::newRow("all nodes stay") << false << 0;
        QTest::newRow("a node killed mid-batch") << true << 0;
        // Chunked prefill: every prompt runs in steps of 3 tokens, batched with the others' decode steps.
        QTest::newRow("prompts in 3-token chunks") << false << 3;
    }

    void concurrentClientsGetTheirSoloOutput() {
        QFETCH(bool, killANode);
        QFETCH(int, prefillChunkTokens);
        // Three nodes, one replica: each holds a range; a killed one's range moves to a live node.
        QStringList args{QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("3"),
                         QStringLiteral("--replicas"), QStringLiteral("1")};
        if (prefillChunkTokens > 0)
            args << QStringLiteral("--prefill-chunk-tokens") << QString::number(prefillChunkTokens);
        Swarm swarm(args);
        QVERIFY(swarm.waitForServer());
        for (int i = 0; i < 3; ++i) // slow enough that requests wait for each other and batch
            swarm.addTestNode({QStringLiteral("--stage-delay-ms"), QStringLiteral("15")});
        QVERIFY2(swarm.waitForShards(3), qPrintable(swarm.log(QStringLiteral("server"))));
        std::vector<Job> jobs;
        auto start = [&](const QString& name) {
            const QJsonObject ref = reference(name);
            Job job;
            job.greedy = ref.value(QStringLiteral("greedy_tokens")).toArray();
            job.client = swarm.submit(ref.value(QStringLiteral("prompt")).toString(), int(job.greedy.size()),
                                      {QStringLiteral("--tokens")});
            jobs.push_back(std::move(job));
        };
        // Mixed prompt lengths at once (each client is its own connection, so its own account). Six sessions
        // on three nodes: more sessions than pipeline stages, so some must share a node's pass (with fewer, a
        // balanced pipeline may keep every session on its own node and never need to batch).
        for (int round = 0; round < 2; ++round)
            for (const QString& name :
                 {QStringLiteral("stories260K-p1.json"), QStringLiteral("stories260K-p2.json"),
                  QStringLiteral("stories260K-p3.json")})
                start(name);
        // One joins while the others decode.
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < 30000) {
            const QJsonArray sessions = swarm.status().value(QStringLiteral("sessions")).toArray();
            if (!sessions.isEmpty() &&
                sessions[0].toObject().value(QStringLiteral("generated_tokens")).toInt() >= 5)
                break;
            QTest::qWait(20);
        }
        start(QStringLiteral("stories260K-p1.json"));
        if (killANode) {
            QTest::qWait(300);
            ::kill(static_cast<pid_t>(swarm.nodes()[1]->processId()), SIGKILL);
        }
        for (Job& job : jobs) {
            QVERIFY(job.client->waitForFinished(180000));
            const QString err = QString::fromUtf8(job.client->readAllStandardError());
            QVERIFY2(job.client->exitCode() == 0, qPrintable(err + swarm.log(QStringLiteral("server"))));
            QCOMPARE(QString::fromUtf8(job.client->readAllStandardOutput()).trimmed(), ids(job.greedy));
        }
        if (killANode)
            QVERIFY(swarm.status().value(QStringLiteral("failovers")).toInt() >= 1);
        QTest::qWait(2000); // the nodes log their histogram 1.5 s after their last pass
        const int largest = largestBatch(swarm, 3);
        QVERIFY2(largest >= 2,
                 qPrintable(QStringLiteral("no pass served more than %1 session(s)").arg(largest)));
        // Sessions that left a pass together travelled on together: one StageBatch frame for their requests.
        QVERIFY(swarm.status().value(QStringLiteral("stage_batch_frames")).toInteger() >= 1);
    }
};

QTEST_GUILESS_MAIN(TestBatchedSwarm)
#include "tst_batched_swarm.moc"
