// One free node identity must not stall, block or poison the swarm. A real declai-server and honest
// declai-node processes on loopback, plus a misbehaving node driven from this test (FakeNode.h): a silent
// node costs one short timeout once and is then left out; a hoarding node loses its assignment; a node
// answering NaN, wrong sizes or absurd values is refused at once, quarantined, and the user still gets the
// reference text; new identities are on probation (every session verified); one address cannot bring new
// identities faster than the join rate; a voided stage refunds the user.
#include "SwarmRuns.h"

using declai::NodeIdentity;
using declai::testdata::FakeNode;
using declai::testdata::Misbehaviour;
using declai::testdata::nodeStatus;
using declai::testdata::reference;
using declai::testdata::Run;
using declai::testdata::submitAndWait;
using declai::testdata::Swarm;
using declai::testdata::wholeModel;

class TestMisbehavingNodes : public QObject {
    Q_OBJECT

    QJsonObject m_ref;
    QString m_prompt;
    QString m_expected;
    int m_tokens = 0;

    // One honest node holding every layer, then the misbehaving one, which claims the whole model and the
    // highest speed: without a memory the gateway prefers it.
    // Two honest nodes that split the node layers between them (the swarm runs with --min-nodes 2), so a
    // fake node claiming all of them offers the one-hop chain that new sessions prefer: it is tried first.
    bool honestThenFake(Swarm& swarm) {
        if (!swarm.waitForServer())
            return false;
        swarm.addNode();
        swarm.addNode();
        return swarm.waitForShards(2);
    }

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::referenceDir().isEmpty() ||
            declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            QSKIP("DECLAI_MODEL_PATH and DECLAI_REFERENCE_DIR must point at ../shared");
        m_ref = reference(QStringLiteral("stories260K-p1.json"));
        m_prompt = m_ref.value(QStringLiteral("prompt")).toString();
        m_expected = m_ref.value(QStringLiteral("greedy_text")).toString() + QLatin1Char('\n');
        m_tokens = int(m_ref.value(QStringLiteral("greedy_tokens")).toArray().size());
        QVERIFY(m_tokens > 0);
    }

    void silentNodeCostsOneShortTimeoutOnce() {
        // Stage timeout 20 s; a node with no record gets the 10 s first-answer timeout.
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2"),
                     QStringLiteral("--stage-timeout-ms"), QStringLiteral("20000")});
        QVERIFY2(honestThenFake(swarm), qPrintable(swarm.log(QStringLiteral("server"))));
        FakeNode silent(Misbehaviour::Silent, swarm.caFile(), wholeModel(swarm));
        QVERIFY(silent.join(swarm.port()));
        QVERIFY(FakeNode::waitUntil(
            [&] {
                return nodeStatus(swarm, silent.nodeId()).value(QStringLiteral("shards")).toArray().size() >
                       0;
            },
            5000));
        const Run first = submitAndWait(swarm, m_prompt, m_tokens);
        QCOMPARE(first.exitCode, 0);
        QCOMPARE(first.out, m_expected);
        QCOMPARE(silent.stageRequests(), 1); // the silent node was tried once...
        qInfo("first session with a silent node: %lld ms", first.ms);
        QVERIFY2(first.ms < 17000, qPrintable(QString::number(first.ms))); // ...for at most 10 s
        for (int i = 0; i < 2; ++i) {
            const Run next = submitAndWait(swarm, m_prompt, m_tokens);
            QCOMPARE(next.exitCode, 0);
            QCOMPARE(next.out, m_expected);
            qInfo("session %d after the timeout: %lld ms", i + 2, next.ms);
            QVERIFY2(next.ms < 6000, qPrintable(QString::number(next.ms)));
        }
        QCOMPARE(silent.stageRequests(), 1); // ...and never again
        const QJsonObject rep =
            nodeStatus(swarm, silent.nodeId()).value(QStringLiteral("reputation")).toObject();
        QCOMPARE(rep.value(QStringLiteral("timeouts")).toInt(), 1);
        QCOMPARE(rep.value(QStringLiteral("excluded")).toBool(), true);
        // Reconnecting with the same key does not wipe the record.
        const NodeIdentity key = silent.identity();
        const std::string id = silent.nodeId();
        silent.leave();
        QVERIFY(FakeNode::waitUntil([&] { return nodeStatus(swarm, id).isEmpty(); }, 5000));
        FakeNode back(Misbehaviour::Silent, swarm.caFile(), wholeModel(swarm), key);
        QVERIFY(back.join(swarm.port()));
        const Run after = submitAndWait(swarm, m_prompt, m_tokens);
        QCOMPARE(after.out, m_expected);
        QVERIFY2(after.ms < 6000, qPrintable(QString::number(after.ms)));
        QCOMPARE(back.stageRequests(), 0);
        const QJsonObject again = nodeStatus(swarm, id).value(QStringLiteral("reputation")).toObject();
        QCOMPARE(again.value(QStringLiteral("connections")).toInt(), 2);
        QCOMPARE(again.value(QStringLiteral("timeouts")).toInt(), 1);
        QCOMPARE(again.value(QStringLiteral("excluded")).toBool(), true);
    }

    void hoardingNodeLosesItsAssignment() {
        // Two nodes split the model; the hoarder accepts its part and never reports it ready.
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2"),
                     QStringLiteral("--replicas"), QStringLiteral("1"),
                     QStringLiteral("--assignment-deadline-ms"), QStringLiteral("2000"),
                     QStringLiteral("--chain-wait-ms"), QStringLiteral("30000")});
        QVERIFY(swarm.waitForServer());
        FakeNode hoarder(Misbehaviour::Hoard, swarm.caFile());
        QVERIFY(hoarder.join(swarm.port()));
        swarm.addNode();
        QVERIFY(FakeNode::waitUntil([&] { return hoarder.assignments() > 0; }, 20000));
        const Run run = submitAndWait(swarm, m_prompt, m_tokens);
        QVERIFY2(run.exitCode == 0, qPrintable(run.err + swarm.log(QStringLiteral("server"))));
        QCOMPARE(run.out, m_expected);
        const QJsonObject node = nodeStatus(swarm, hoarder.nodeId());
        QCOMPARE(node.value(QStringLiteral("pending_assignments")).toInt(), 0);
        QCOMPARE(node.value(QStringLiteral("reputation"))
                     .toObject()
                     .value(QStringLiteral("expired_assignments"))
                     .toInt(),
                 1);
        QVERIFY(swarm.log(QStringLiteral("server")).contains(QStringLiteral("assignment withdrawn")));
    }

    void garbageNeverReachesTheUser_data() {
        QTest::addColumn<int>("mode");
        QTest::newRow("NaN rows") << int(Misbehaviour::NaNAnswer);
        QTest::newRow("wrong size") << int(Misbehaviour::WrongSize);
        QTest::newRow("absurd values") << int(Misbehaviour::HugeValues);
    }

    void garbageNeverReachesTheUser() {
        QFETCH(int, mode);
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2")});
        QVERIFY2(honestThenFake(swarm), qPrintable(swarm.log(QStringLiteral("server"))));
        FakeNode bad(Misbehaviour(mode), swarm.caFile(), wholeModel(swarm));
        QVERIFY(bad.join(swarm.port()));
        QVERIFY(FakeNode::waitUntil(
            [&] {
                return nodeStatus(swarm, bad.nodeId()).value(QStringLiteral("shards")).toArray().size() > 0;
            },
            5000));
        const Run run = submitAndWait(swarm, m_prompt, m_tokens);
        QCOMPARE(bad.stageRequests(), 1); // it was asked, answered garbage once...
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(run.out, m_expected); // ...and the session failed over to the honest node
        // Quarantined during the session, for the answer itself (not by a later check).
        QVERIFY(bad.rejected());
        QVERIFY2(bad.rejectReason().contains(QStringLiteral("invalid stage answer")),
                 qPrintable(bad.rejectReason()));
        QCOMPARE(swarm.status().value(QStringLiteral("quarantined_nodes")).toInt(), 1);
        // The same key cannot come back.
        FakeNode again(Misbehaviour(mode), swarm.caFile(), std::nullopt, bad.identity());
        QVERIFY(!again.join(swarm.port()));
        QVERIFY(again.rejected());
    }

    void freshIdentityIsOnProbation() {
        // Default verification rate (0.5); probation checks every session of a new node.
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2"),
                     QStringLiteral("--replicas"), QStringLiteral("1")});
        QVERIFY(swarm.waitForServer());
        swarm.addNode();
        swarm.addNode();
        QVERIFY(swarm.waitForShards(2));
        const QJsonArray nodes = swarm.status().value(QStringLiteral("nodes")).toArray();
        QCOMPARE(nodes.size(), 2);
        for (const QJsonValue& n : nodes)
            QVERIFY2(n.toObject()
                         .value(QStringLiteral("reputation"))
                         .toObject()
                         .value(QStringLiteral("probation"))
                         .toBool(),
                     QJsonDocument(n.toObject()).toJson().constData());
        const int sessions = 4;
        for (int i = 0; i < sessions; ++i) {
            const Run run = submitAndWait(swarm, m_prompt, 20);
            QCOMPARE(run.exitCode, 0);
        }
        QJsonObject s;
        FakeNode::waitUntil(
            [&] {
                s = swarm.status();
                return s.value(QStringLiteral("verifications_passed")).toInt() >= 2 * sessions;
            },
            30000);
        // Two stages per session, every one re-executed (at rate 0.5 all 8 would be checked 1 time in 256).
        QVERIFY2(s.value(QStringLiteral("verifications_passed")).toInt() == 2 * sessions,
                 QJsonDocument(s).toJson().constData());
    }

    void newIdentitiesFromOneAddressAreRateLimited() {
        Swarm swarm({QStringLiteral("--no-credits")}); // default: 10 new identities per address per hour
        QVERIFY(swarm.waitForServer());
        std::vector<std::unique_ptr<FakeNode>> joined;
        for (int i = 0; i < 10; ++i) {
            joined.push_back(std::make_unique<FakeNode>(Misbehaviour::Polite, swarm.caFile()));
            QVERIFY2(joined.back()->join(swarm.port()), qPrintable(QString::number(i)));
        }
        FakeNode eleventh(Misbehaviour::Polite, swarm.caFile());
        QVERIFY(!eleventh.join(swarm.port()));
        QVERIFY(eleventh.rejected());
        QCOMPARE(eleventh.rejectCode(), declai::wire::OVERLOADED);
        QVERIFY2(
            eleventh.rejectReason().contains(QStringLiteral("too many new node identities from 127.0.0.1")),
            qPrintable(eleventh.rejectReason()));
        // A known key is no new identity: it may reconnect.
        FakeNode returning(Misbehaviour::Polite, swarm.caFile(), std::nullopt, joined.front()->identity());
        QVERIFY(returning.join(swarm.port()));
    }

    void voidedStageRefundsTheUser() {
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
        swarm.addTestNode({QStringLiteral("--test-cheat"), QStringLiteral("random")});
        QVERIFY(swarm.waitForShards(2));
        QElapsedTimer clock;
        clock.start();
        int requests = 0;
        while (swarm.status().value(QStringLiteral("quarantined_nodes")).toInt() == 0 &&
               clock.elapsed() < 60000) {
            const Run run = submitAndWait(swarm, QStringLiteral("Once upon a time"), 30,
                                          {QStringLiteral("--api-key"), key});
            QCOMPARE(run.exitCode, 0);
            ++requests;
            FakeNode::waitUntil(
                [&] { return swarm.status().value(QStringLiteral("quarantined_nodes")).toInt() > 0; }, 3000);
        }
        QCOMPARE(swarm.status().value(QStringLiteral("quarantined_nodes")).toInt(), 1);
        qInfo("cheater caught after %d request(s)", requests);
        // Every request depended on the cheater's layers: each is refunded, so eve has her grant back.
        const QString balance =
            swarm.admin({QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("user:eve")});
        QVERIFY2(balance.contains(QStringLiteral("available 100.000000")), qPrintable(balance));
        QVERIFY(swarm.log(QStringLiteral("server")).contains(QStringLiteral("work was voided")));
        int exitCode = -1;
        swarm.admin({QStringLiteral("ledger"), QStringLiteral("verify")}, &exitCode);
        QCOMPARE(exitCode, 0);
    }
};

QTEST_GUILESS_MAIN(TestMisbehavingNodes)
#include "tst_misbehaving_nodes.moc"
