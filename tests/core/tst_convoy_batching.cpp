// ConvoyBatching: an idle stage waits briefly for the rest of a group that ran together, never for a lone
// session or a group that has fully arrived, and never longer than its budget.
#include "declai/core/ConvoyBatching.h"

#include <QTest>
#include <vector>

using declai::ConvoyBatching;

class TestConvoyBatching : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void unknownAndLoneSessionsRunAtOnce() {
        ConvoyBatching convoy(500, 5000);
        const std::vector<uint64_t> one{7};
        QCOMPARE(convoy.waitUs(one, 0), int64_t(0)); // never seen: nothing to wait for
        convoy.ran(one, 20000);
        QCOMPARE(convoy.waitUs(one, 100), int64_t(0)); // a group of one has fully arrived
        QCOMPARE(convoy.waitUs({}, 200), int64_t(0));
    }

    void aPartialGroupWaitsWithinItsBudget() {
        ConvoyBatching convoy(500, 5000);
        const std::vector<uint64_t> group{1, 2, 3};
        convoy.ran(group, 8000); // budget: a quarter of the pass, 2,000 us
        const std::vector<uint64_t> first{2};
        QCOMPARE(convoy.waitUs(first, 10000), int64_t(2000));
        QCOMPARE(convoy.waitUs(first, 10500), int64_t(1500)); // the wait counts from when it began
        const std::vector<uint64_t> two{2, 3};
        QCOMPARE(convoy.waitUs(two, 11000), int64_t(1000));
        const std::vector<uint64_t> all{3, 1, 2};
        QCOMPARE(convoy.waitUs(all, 11100), int64_t(0)); // complete: run now
    }

    void theBudgetRunsOut() {
        ConvoyBatching convoy(500, 5000);
        const std::vector<uint64_t> group{1, 2};
        convoy.ran(group, 1000000); // a long pass: the wait is capped at maxWaitUs
        const std::vector<uint64_t> first{1};
        QCOMPARE(convoy.waitUs(first, 0), int64_t(5000));
        QCOMPARE(convoy.waitUs(first, 5000), int64_t(0)); // time is up: run without the straggler
        convoy.ran(first, 1000000);                       // 1 now forms a group of its own
        QCOMPARE(convoy.waitUs(first, 6000), int64_t(0));
        ConvoyBatching quick(500, 5000);
        quick.ran(group, 100); // a short pass still waits the minimum
        QCOMPARE(quick.waitUs(first, 0), int64_t(500));
    }

    void anEndedSessionIsNotWaitedFor() {
        ConvoyBatching convoy;
        const std::vector<uint64_t> group{1, 2};
        convoy.ran(group, 8000);
        convoy.ended(2);
        const std::vector<uint64_t> first{1};
        QCOMPARE(convoy.waitUs(first, 0), int64_t(0));
        QCOMPARE(convoy.sessionsKnown(), size_t(1));
    }

    void strangersDoNotWaitForAnotherGroup() {
        ConvoyBatching convoy;
        const std::vector<uint64_t> a{1, 2}, b{3, 4};
        convoy.ran(a, 8000);
        convoy.ran(b, 8000);
        const std::vector<uint64_t> fromA{1};
        QVERIFY(convoy.waitUs(fromA, 0) > 0); // 2 is on its way
        const std::vector<uint64_t> allOfB{3, 4};
        QCOMPARE(convoy.waitUs(allOfB, 0), int64_t(0)); // B is complete; A's straggler is not B's concern
        const std::vector<uint64_t> mixed{1, 3, 4};
        QVERIFY(convoy.waitUs(mixed, 100) > 0); // part of A is queued with B: wait for 2 as well
    }
};

QTEST_GUILESS_MAIN(TestConvoyBatching)
#include "tst_convoy_batching.moc"
