// Fair sharing of a node between accounts (StageDispatcher): the cap on requests at a node, the choice of
// the next account, and the bookkeeping when requests settle, sessions end or nodes leave.
#include "declai/server/StageDispatcher.h"

#include <QTest>
#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace declai::server;

namespace {
// Records the order in which requests were sent.
struct SendLog {
    std::vector<uint64_t> sent;
    StageDispatcher::Send sender(uint64_t session) {
        return [this, session] { sent.push_back(session); };
    }
};
} // namespace

class TestStageDispatcher : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sendsAtOnceUpToTheCap() {
        StageDispatcher d(2);
        SendLog log;
        for (uint64_t s = 1; s <= 3; ++s)
            d.submit("n", "a", s, log.sender(s));
        QCOMPARE(log.sent, (std::vector<uint64_t>{1, 2}));
        QCOMPARE(d.inFlight("n"), 2);
        QCOMPARE(d.waiting("n"), size_t(1));
        d.settle("n", 1);
        QCOMPARE(log.sent, (std::vector<uint64_t>{1, 2, 3}));
        QCOMPARE(d.waiting("n"), size_t(0));
        // Other nodes have their own slots.
        d.submit("m", "a", 4, log.sender(4));
        QCOMPARE(log.sent.back(), uint64_t(4));
    }

    void anAccountWithNothingAtTheNodeGoesNext() {
        StageDispatcher d(2);
        SendLog log;
        for (uint64_t s = 1; s <= 4; ++s) // a script: four sessions of one account, two at the node
            d.submit("n", "abuser", s, log.sender(s));
        QCOMPARE(d.inFlight("n"), 2);
        d.submit("n", "researcher", 100, log.sender(100)); // arrives last
        d.settle("n", 1);
        // Shared now: one at a time, so nothing is sent until the node has none.
        QCOMPARE(log.sent, (std::vector<uint64_t>{1, 2}));
        d.settle("n", 2);
        QCOMPARE(log.sent.back(), uint64_t(100)); // not session 3, which waited longer
        d.settle("n", 100); // the researcher's next step is on its way back: still one at a time
        QCOMPARE(log.sent, (std::vector<uint64_t>{1, 2, 100, 3}));
        QCOMPARE(d.inFlight("n"), 1);
        // The researcher has gone: after a while the abuser's sessions get two slots again.
        int maxHeld = 0;
        for (int i = 0; i < 40; ++i) {
            const uint64_t oldest = log.sent[log.sent.size() - static_cast<size_t>(d.inFlight("n"))];
            d.settle("n", oldest);
            d.submit("n", "abuser", oldest, log.sender(oldest));
            maxHeld = std::max(maxHeld, d.inFlight("n"));
        }
        QCOMPARE(maxHeld, 2);
    }

    void closedLoopSharesTheNodeEquallyBetweenAccounts() {
        // A node answering in arrival order; every session asks again one answer later (its step goes
        // through the next node and the gateway's head first). One account runs 4 sessions, another 1: the
        // single session must get about half of the node (first-come-first-served would give it a fifth).
        StageDispatcher d(2);
        std::deque<uint64_t> nodeQueue; // what the node holds, in the order it got it
        std::map<uint64_t, std::string> accountOf{{1, "a"}, {2, "a"}, {3, "a"}, {4, "a"}, {9, "b"}};
        std::map<std::string, int> answered;
        auto ask = [&](uint64_t session) {
            d.submit("n", accountOf[session], session,
                     [&nodeQueue, session] { nodeQueue.push_back(session); });
        };
        for (const auto& [session, account] : accountOf)
            ask(session);
        std::optional<uint64_t> comingBack;
        for (int step = 0; step < 1000; ++step) {
            QVERIFY(!nodeQueue.empty());
            QVERIFY(static_cast<int>(nodeQueue.size()) <= d.maxInFlightPerNode());
            const uint64_t done = nodeQueue.front();
            nodeQueue.pop_front();
            ++answered[accountOf[done]];
            if (comingBack) // it came back while the node computed `done`
                ask(*comingBack);
            d.settle("n", done);
            comingBack = done;
        }
        const double share = answered["b"] / 1000.0;
        QVERIFY2(share > 0.45 && share < 0.55, qPrintable(QString::number(share)));
        QCOMPARE(answered["a"] + answered["b"], 1000);
    }

    // Batching nodes (batchSlotsPerNode > 1): one account alone fills the batch; when another account
    // arrives it gets a slot in the node's next pass at once (the first one to free), and from then on
    // each account holds one request at the node; many accounts fill the batch one request each.
    void batchingNodesHoldEqualSharesOfABatch() {
        StageDispatcher d(2, 8);
        QCOMPARE(d.maxInFlightPerNode(), 8);
        SendLog log;
        for (uint64_t s = 1; s <= 10; ++s)
            d.submit("n", "abuser", s, log.sender(s));
        QCOMPARE(d.inFlight("n"), 8);
        QCOMPARE(d.waiting("n"), size_t(2));
        d.submit("n", "researcher", 100, log.sender(100));
        d.settle("n", 1);
        QCOMPARE(log.sent.back(), uint64_t(100)); // not session 9, which waited longer
        // The abuser's sessions come back and settle in a closed loop: it falls to one request while the
        // researcher keeps coming back too.
        std::map<uint64_t, std::string> accountOf;
        for (uint64_t s = 1; s <= 10; ++s)
            accountOf[s] = "abuser";
        accountOf[100] = "researcher";
        std::deque<uint64_t> held;
        for (uint64_t s : log.sent)
            if (s != 1)
                held.push_back(s);
        d.submit("n", "abuser", 1, log.sender(1));
        int maxAbuser = 0;
        for (int i = 0; i < 200; ++i) {
            const uint64_t done = held.front();
            held.pop_front();
            const size_t before = log.sent.size();
            d.settle("n", done);
            d.submit("n", accountOf[done], done, log.sender(done));
            for (size_t k = before; k < log.sent.size(); ++k)
                held.push_back(log.sent[k]);
            QVERIFY(d.inFlight("n") <= 8);
            if (i > 20) {
                const auto abuser = std::count_if(held.begin(), held.end(),
                                                  [&](uint64_t s) { return accountOf[s] == "abuser"; });
                maxAbuser = std::max(maxAbuser, static_cast<int>(abuser));
                QVERIFY(std::count(held.begin(), held.end(), uint64_t(100)) <= 1);
            }
        }
        QCOMPARE(maxAbuser, 1);
        QCOMPARE(d.inFlightTotal(), d.inFlight("n"));
        QCOMPARE(d.waitingTotal(), d.waiting("n"));
        // Eight accounts with a session each: all eight at the node at once (one pass).
        StageDispatcher e(2, 8);
        SendLog many;
        for (uint64_t s = 1; s <= 9; ++s)
            e.submit("n", "account" + std::to_string(s), s, many.sender(s));
        QCOMPARE(e.inFlight("n"), 8);
        QCOMPARE(e.waiting("n"), size_t(1));
    }

    void aSettledWaitingRequestIsNeverSent() {
        StageDispatcher d(1);
        SendLog log;
        d.submit("n", "a", 1, log.sender(1));
        d.submit("n", "b", 2, log.sender(2));
        d.settle("n", 2); // session 2 gave up (failed over) before it was sent
        QCOMPARE(d.waiting("n"), size_t(0));
        d.settle("n", 1);
        QCOMPARE(log.sent, (std::vector<uint64_t>{1}));
        QCOMPARE(d.inFlight("n"), 0);
    }

    void aResubmitReplacesTheSessionsEarlierRequest() {
        StageDispatcher d(1);
        SendLog log;
        d.submit("n", "a", 1, log.sender(1));
        d.submit("n", "b", 2, log.sender(2));
        d.submit("n", "b", 2, log.sender(20)); // the session's request changed while it waited
        QCOMPARE(d.waiting("n"), size_t(1));
        d.settle("n", 1);
        QCOMPARE(log.sent, (std::vector<uint64_t>{1, 20}));
    }

    void endedSessionsAndLostNodesAreForgotten() {
        StageDispatcher d(1);
        SendLog log;
        d.submit("n", "a", 1, log.sender(1));
        d.submit("m", "a", 1, log.sender(1));
        d.submit("n", "b", 2, log.sender(2));
        d.submit("m", "b", 3, log.sender(3));
        d.forgetSession(1); // frees both slots: the waiting ones go
        std::sort(log.sent.begin(), log.sent.end());
        QCOMPARE(log.sent, (std::vector<uint64_t>{1, 1, 2, 3}));
        d.submit("n", "c", 4, log.sender(4));
        d.forgetNode("n");
        QCOMPARE(d.waiting("n"), size_t(0));
        QCOMPARE(d.inFlight("n"), 0);
        d.settle("n", 2);                     // harmless after the node left
        QCOMPARE(log.sent.size(), size_t(4)); // session 4 was never sent
    }

    void aSendThatSettlesAtOnceDoesNotStallTheQueue() {
        // A closed channel makes the session fail the stage inside its send: that settles synchronously.
        StageDispatcher d(1);
        std::vector<uint64_t> sent;
        d.submit("n", "a", 1, [&] { sent.push_back(1); });
        d.submit("n", "b", 2, [&] {
            sent.push_back(2);
            d.settle("n", 2);
        });
        d.submit("n", "c", 3, [&] { sent.push_back(3); });
        d.settle("n", 1);
        QCOMPARE(sent, (std::vector<uint64_t>{1, 2, 3}));
        QCOMPARE(d.inFlight("n"), 1);
    }
};

QTEST_GUILESS_MAIN(TestStageDispatcher)
#include "tst_stage_dispatcher.moc"
