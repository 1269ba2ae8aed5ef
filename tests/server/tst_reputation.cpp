// The rules that give node identities a memory and a cost of entry, on a fake clock: per-node answer
// timeouts, exclusion with doubling backoff, probation (chain order, session share, end), assignment
// deadlines, the per-address join rate, and which settled requests a voided node's refunds reach.
#include "declai/server/ChargeBook.h"
#include "declai/server/NodeJoinLimiter.h"
#include "declai/server/NodeReputation.h"
#include "declai/server/ReputationStore.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace declai::server;
using declai::LayerRange;

class TestReputation : public QObject {
    Q_OBJECT

    int64_t m_nowMs = 1'000'000;
    NodeReputation::Clock clock() {
        return [this] { return m_nowMs; };
    }

    static NodeShards holds(const std::string& id, int64_t begin, int64_t end, uint32_t sessions = 0) {
        return NodeShards{id, {LayerRange{begin, end}}, 0, sessions, true};
    }

    // Makes `id` an established node: enough answers and checks, and old enough.
    void establish(NodeReputation& r, const std::string& id) {
        r.connected(id);
        for (uint64_t i = 0; i < r.policy().probationStages; ++i)
            r.answered(id);
        for (uint64_t i = 0; i < r.policy().probationChecks; ++i)
            r.verified(id, true);
    }

private Q_SLOTS:
    void newNodeGetsTheShortFirstAnswerTimeout() {
        NodeReputation r(ReputationPolicy{}, clock());
        QCOMPARE(r.answerTimeoutMs("fresh", 30000), 10000);
        r.connected("fresh");
        QCOMPARE(r.answerTimeoutMs("fresh", 30000), 10000);
        r.answered("fresh");
        QCOMPARE(r.answerTimeoutMs("fresh", 30000), 30000);
        QCOMPARE(r.answerTimeoutMs("other", 5000), 5000); // never longer than the stage timeout
    }

    void timeoutsExcludeWithDoublingBackoff() {
        NodeReputation r(ReputationPolicy{}, clock());
        r.connected("slow");
        QVERIFY(!r.excluded("slow"));
        r.timedOut("slow");
        QVERIFY(r.excluded("slow"));
        m_nowMs += 59'000;
        QVERIFY(r.excluded("slow"));
        m_nowMs += 2'000;
        QVERIFY(!r.excluded("slow")); // 60 s after the first timeout
        r.timedOut("slow");
        m_nowMs += 119'000;
        QVERIFY(r.excluded("slow")); // the second consecutive one doubles it
        m_nowMs += 2'000;
        QVERIFY(!r.excluded("slow"));
        r.answered("slow"); // a good answer resets the run
        r.timedOut("slow");
        m_nowMs += 61'000;
        QVERIFY(!r.excluded("slow"));
        QVERIFY(r.historyOf("slow")->score < 0.5);
        for (int i = 0; i < 40; ++i)
            r.timedOut("slow");
        m_nowMs += 3'600'000 + 1;
        QVERIFY(!r.excluded("slow")); // capped at an hour
    }

    void recordSurvivesReconnect() {
        NodeReputation r(ReputationPolicy{}, clock());
        r.connected("k");
        r.timedOut("k");
        r.connected("k"); // same key again: the record and its exclusion stay
        QVERIFY(r.excluded("k"));
        QCOMPARE(r.historyOf("k")->connections, uint64_t(2));
        QCOMPARE(r.historyOf("k")->timeouts, uint64_t(1));
    }

    void probationEndsOnlyWithAnswersChecksAndAge() {
        NodeReputation r(ReputationPolicy{}, clock());
        QVERIFY(r.onProbation("unknown"));
        establish(r, "n");
        QVERIFY(r.onProbation("n")); // too young
        m_nowMs += 10 * 60 * 1000;
        QVERIFY(!r.onProbation("n"));
        NodeReputation fewChecks(ReputationPolicy{}, clock());
        fewChecks.connected("m");
        for (int i = 0; i < 100; ++i)
            fewChecks.answered("m");
        m_nowMs += 3'600'000;
        QVERIFY(fewChecks.onProbation("m"));
        for (int i = 0; i < 5; ++i)
            fewChecks.verified("m", true);
        QVERIFY(!fewChecks.onProbation("m"));
        fewChecks.verified("m", false);
        QVERIFY(fewChecks.onProbation("m")); // a failed check puts it back for good
    }

    void probationNodesComeAfterEstablishedOnes() {
        NodeReputation r(ReputationPolicy{}, clock());
        establish(r, "old-a");
        establish(r, "old-b");
        m_nowMs += 10 * 60 * 1000;
        r.connected("new");
        // The new node claims the whole model (one hop); the established ones need two hops: still them.
        const std::vector<NodeShards> nodes{holds("new", 0, 8), holds("old-a", 0, 4), holds("old-b", 4, 8)};
        auto chain = r.chainFor(LayerRange{0, 8}, nodes, {});
        QVERIFY(chain);
        QCOMPARE(chain->size(), size_t(2));
        QCOMPARE((*chain)[0].nodeId, std::string("old-a"));
        QCOMPARE((*chain)[1].nodeId, std::string("old-b"));
        // Without the established nodes, the new one serves (better than nothing).
        auto alone = r.chainFor(LayerRange{0, 8}, nodes, {"old-a"});
        QVERIFY(alone);
        QCOMPARE((*alone)[0].nodeId, std::string("new"));
    }

    void probationNodesGetALimitedShare() {
        NodeReputation r(ReputationPolicy{}, clock());
        r.connected("busy-new");
        r.connected("idle-new");
        // Both on probation; the busy one is at its session limit, so the idle one is used even though the
        // busy one would be a single hop.
        const std::vector<NodeShards> nodes{holds("busy-new", 0, 8, 2), holds("idle-new", 0, 4, 0),
                                            holds("idle-new", 4, 8, 0)};
        auto chain = r.chainFor(LayerRange{0, 8}, nodes, {});
        QVERIFY(chain);
        for (const ChainStage& s : *chain)
            QCOMPARE(s.nodeId, std::string("idle-new"));
        // When nobody else covers the model, the limit gives way.
        auto only = r.chainFor(LayerRange{0, 8}, {holds("busy-new", 0, 8, 5)}, {});
        QVERIFY(only);
    }

    void excludedNodesAreNeverChosen() {
        NodeReputation r(ReputationPolicy{}, clock());
        r.connected("silent");
        r.timedOut("silent");
        QVERIFY(!r.chainFor(LayerRange{0, 8}, {holds("silent", 0, 8)}, {}));
        auto chain = r.chainFor(LayerRange{0, 8}, {holds("silent", 0, 8), holds("ok", 0, 8, 3)}, {});
        QVERIFY(chain);
        QCOMPARE((*chain)[0].nodeId, std::string("ok"));
    }

    void assignmentDeadlineGrowsWithSize() {
        ReputationPolicy p;
        NodeReputation r(p, clock());
        QCOMPARE(r.assignmentDeadlineMs(0), int64_t(120000));
        QCOMPARE(r.assignmentDeadlineMs(100ull << 20), int64_t(120000 + 100000)); // 1 s per MiB
        r.assignmentExpired("hoarder");
        QVERIFY(r.excluded("hoarder"));
        QCOMPARE(r.historyOf("hoarder")->expiredAssignments, uint64_t(1));
    }

    void joinRateIsPerAddress() {
        NodeJoinLimiter limiter(JoinLimitPolicy{3, 6}, clock()); // 3 at once, then one per 10 minutes
        for (int i = 0; i < 3; ++i)
            QVERIFY(limiter.admit(QStringLiteral("10.0.0.1:%1").arg(40000 + i))); // ports do not matter
        QVERIFY(!limiter.admit(QStringLiteral("10.0.0.1:41000")));
        QCOMPARE(limiter.waitMs(QStringLiteral("10.0.0.1:1")), int64_t(600000));
        QVERIFY(limiter.admit(QStringLiteral("10.0.0.2:41000"))); // another address has its own budget
        m_nowMs += 600000;
        QVERIFY(limiter.admit(QStringLiteral("10.0.0.1:41001")));
        QVERIFY(!limiter.admit(QStringLiteral("10.0.0.1:41002")));
        // IPv6: one /64 is one subscriber.
        NodeJoinLimiter v6(JoinLimitPolicy{1, 1}, clock());
        QVERIFY(v6.admit(QStringLiteral("2001:db8:1:2::5:443")));
        QVERIFY(!v6.admit(QStringLiteral("2001:db8:1:2:aaaa::9:443")));
        QVERIFY(v6.admit(QStringLiteral("2001:db8:1:3::5:443")));
        QCOMPARE(NodeJoinLimiter::addressKey(QStringLiteral("127.0.0.1:5555")), QStringLiteral("127.0.0.1"));
        QCOMPARE(NodeJoinLimiter::addressKey(QStringLiteral("::ffff:127.0.0.1:5555")),
                 QStringLiteral("127.0.0.1"));
    }

    void voidedNodeRefundsEveryRequestThatDependedOnIt() {
        ChargeBook book(600000);
        book.record(SettledCharge{"alice", "h1", 500, m_nowMs, {"cheat", "honest"}});
        book.record(SettledCharge{"bob", "h2", 700, m_nowMs, {"honest"}});
        book.record(SettledCharge{"carol", "h3", 0, m_nowMs, {"cheat"}}); // nothing paid: nothing to refund
        auto refunds = book.takeChargesOf("cheat", m_nowMs + 1000);
        QCOMPARE(refunds.size(), size_t(1));
        QCOMPARE(refunds[0].holdId, std::string("h1"));
        QVERIFY(book.takeChargesOf("cheat", m_nowMs + 1000).empty());    // once only
        QVERIFY(book.takeChargesOf("honest", m_nowMs + 600001).empty()); // past the window
        QCOMPARE(book.size(), size_t(0));
    }

    void recordsSurviveARestart() {
        QTemporaryDir dir;
        const QString path = QDir(dir.path()).filePath(QStringLiteral("node-reputation.json"));
        const std::string silent(64, 'a'), cheat(64, 'b'), good(64, 'c');
        {
            NodeReputation r(ReputationPolicy{}, clock());
            ReputationStore store(path, r);
            QVERIFY(store.load()); // no file yet: empty
            r.connected(silent);
            r.timedOut(silent);
            r.connected(cheat);
            r.quarantined(cheat);
            establish(r, good);
        } // the destructor writes the last state
        m_nowMs += 10 * 60 * 1000;
        NodeReputation after(ReputationPolicy{}, clock());
        ReputationStore store(path, after);
        QVERIFY(store.load());
        QVERIFY(after.known(silent));
        QCOMPARE(after.historyOf(silent)->timeouts, uint64_t(1));
        QCOMPARE(after.quarantinedIds(), std::vector<std::string>{cheat});
        QVERIFY(after.onProbation(cheat));
        QVERIFY(!after.onProbation(good)); // its probation progress was kept
        QCOMPARE(after.answerTimeoutMs(good, 30000), 30000);
    }

    void unreadableRecordsAreReportedAndKept() {
        QTemporaryDir dir;
        const QString path = QDir(dir.path()).filePath(QStringLiteral("node-reputation.json"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"version\": 1, \"nodes\": {");
        f.close();
        {
            NodeReputation r(ReputationPolicy{}, clock());
            ReputationStore store(path, r);
            auto loaded = store.load();
            QVERIFY(!loaded);
            QVERIFY2(loaded.error().message.find("node-reputation.json") != std::string::npos,
                     loaded.error().message.c_str());
            r.connected(std::string(64, 'd'));
        }
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), QByteArray("{\"version\": 1, \"nodes\": {")); // left for the operator
        // Entries that are not ours are skipped, not trusted.
        NodeReputation r(ReputationPolicy{}, clock());
        r.restore(
            QJsonObject{{QStringLiteral("version"), 1},
                        {QStringLiteral("nodes"),
                         QJsonObject{{QStringLiteral("short"), QJsonObject{{QStringLiteral("score"), 1}}}}}});
        QVERIFY(!r.known("short"));
    }
};

QTEST_GUILESS_MAIN(TestReputation)
#include "tst_reputation.moc"
