// Priority policy: class order, the HIGH reserve, credit-weighted fairness within a class, aging.
#include "declai/server/PriorityScheduler.h"

#include <QTest>
#include <map>

using namespace declai::server;

class TestPriority : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void classesAreServedInOrder() {
        PriorityScheduler s({8, 0.25, 1000000, 100});
        QVERIFY(s.enqueue({1, "a", Priority::Low, 0, 1, 0}, 0));
        QVERIFY(s.enqueue({2, "b", Priority::Normal, 0, 1, 0}, 0));
        QVERIFY(s.enqueue({3, "c", Priority::High, 0, 1, 0}, 0));
        QCOMPARE(s.next(0, 0)->id, uint64_t(3));
        QCOMPARE(s.next(0, 0)->id, uint64_t(2));
        QCOMPARE(s.next(0, 0)->id, uint64_t(1));
        QVERIFY(!s.next(0, 0));
    }

    void highReserveIsKeptFree() {
        PriorityScheduler s({8, 0.25, 1000000, 100}); // 2 of 8 slots reserved for HIGH
        QVERIFY(s.enqueue({1, "a", Priority::Normal, 0, 1, 0}, 0));
        QVERIFY(!s.next(6, 0)); // 6 active: NORMAL may not take the reserve
        QVERIFY(s.next(5, 0));  // 5 active: it may start
        QVERIFY(s.enqueue({2, "b", Priority::High, 0, 1, 0}, 0));
        QCOMPARE(s.next(7, 0)->id, uint64_t(2)); // HIGH may use the reserve
        QVERIFY(s.enqueue({3, "c", Priority::High, 0, 1, 0}, 0));
        QVERIFY(!s.next(8, 0)); // but nobody exceeds capacity
    }

    void richerAccountsGetALargerShareButNobodyStarves() {
        PriorityScheduler s({1, 0.0, 1000000, 100000});
        uint64_t id = 1;
        for (int i = 0; i < 400; ++i) {
            QVERIFY(s.enqueue({id++, "rich", Priority::Normal, 1000000, 1, 0}, 0)); // 1,000 credits
            QVERIFY(s.enqueue({id++, "poor", Priority::Normal, 0, 1, 0}, 0));
        }
        std::map<std::string, int> served;
        for (int i = 0; i < 200; ++i)
            ++served[s.next(0, 0)->account];
        QVERIFY2(served["rich"] > served["poor"],
                 qPrintable(QStringLiteral("rich %1 poor %2").arg(served["rich"]).arg(served["poor"])));
        QVERIFY(served["poor"] > 0);
        // The share follows the weights: 1 + log2(1 + 1000) ~ 11 vs 1.
        QVERIFY(served["rich"] >= 8 * served["poor"]);
    }

    void equalAccountsAlternate() {
        PriorityScheduler s({1, 0.0, 1000000, 100});
        QVERIFY(s.enqueue({1, "a", Priority::Normal, 0, 1, 0}, 0));
        QVERIFY(s.enqueue({2, "a", Priority::Normal, 0, 1, 0}, 0));
        QVERIFY(s.enqueue({3, "b", Priority::Normal, 0, 1, 0}, 0));
        QCOMPARE(s.next(0, 0)->account, std::string("a"));
        QCOMPARE(s.next(0, 0)->account, std::string("b")); // b's first request beats a's second
        QCOMPARE(s.next(0, 0)->account, std::string("a"));
    }

    void agingPromotesWaitingRequests() {
        PriorityScheduler s({8, 0.0, 1000, 100});
        QVERIFY(s.enqueue({1, "low", Priority::Low, 0, 1, 0}, 0));
        QVERIFY(s.enqueue({2, "norm", Priority::Normal, 0, 1, 500}, 500));
        QCOMPARE(s.size(Priority::Low), size_t(1));
        // After 1 s the LOW request is NORMAL and older in virtual time: it goes first.
        QCOMPARE(s.next(0, 1000)->id, uint64_t(1));
        QVERIFY(s.enqueue({3, "low2", Priority::Low, 0, 1, 1000}, 1000));
        QVERIFY(s.enqueue({4, "high", Priority::High, 0, 1, 1000}, 1000));
        // By 3 s request 2 has waited 2.5 s and reached HIGH; it entered earlier than request 4 (a smaller
        // virtual tag), so it goes first; then 4; the newer LOW request has only reached NORMAL.
        QCOMPARE(s.next(0, 3000)->id, uint64_t(2));
        QCOMPARE(s.next(0, 3000)->id, uint64_t(4));
        QCOMPARE(s.next(0, 3000)->id, uint64_t(3));
    }

    void queueLimitRefusesOverload() {
        PriorityScheduler s({1, 0.0, 1000, 2});
        QVERIFY(s.enqueue({1, "a", Priority::Normal, 0, 1, 0}, 0));
        QVERIFY(s.enqueue({2, "a", Priority::Normal, 0, 1, 0}, 0));
        QVERIFY(!s.enqueue({3, "a", Priority::Normal, 0, 1, 0}, 0));
        QVERIFY(s.remove(1));
        QVERIFY(s.enqueue({3, "a", Priority::Normal, 0, 1, 0}, 0));
        QCOMPARE(*s.position(3, 0), size_t(1));
    }
};

QTEST_APPLESS_MAIN(TestPriority)
#include "tst_priority.moc"
