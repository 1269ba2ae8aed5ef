// Pricing: quotes scale with model size, round up once, refuse overflow; node shares sum exactly to the pool.
#include "declai/credit/Pricing.h"
#include "declai/credit/Receipt.h"

#include <QTest>
#include <numeric>

using namespace declai::credit;

class PricingTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void quoteScalesAndRoundsUp();
    void quoteRefusesBadInput();
    void sharesSumToPool();
    void canonicalBytesAreUnambiguous();
};

void PricingTest::quoteScalesAndRoundsUp() {
    PriceSchedule schedule; // 0.1 / 0.3 credit per 1k tokens at 1B parameters
    auto q = quote(schedule, 1'000'000'000, 1'000, 1'000);
    QVERIFY(q);
    QCOMPARE(q->promptCost, 100'000);
    QCOMPARE(q->generationCost, 300'000);
    QCOMPARE(q->total, 400'000);
    auto big = quote(schedule, 7'000'000'000, 1'000, 1'000); // 7x the parameters, 7x the price
    QCOMPARE(big->total, 2'800'000);
    auto one = quote(schedule, 1'100'000'000, 1, 0); // 110 microcredits exactly
    QCOMPARE(one->promptCost, 110);
    auto frac = quote(schedule, 1'000'000'001, 1, 0); // 100.0000001 -> rounds up to 101
    QCOMPARE(frac->promptCost, 101);
    QCOMPARE(quote(schedule, 1'000'000'000, 0, 0)->total, 0);
    QCOMPARE(nodePool(schedule, 1'000), 900);
    QCOMPARE(nodePool(schedule, 999), 899);
}

void PricingTest::quoteRefusesBadInput() {
    PriceSchedule schedule;
    QVERIFY(!quote(schedule, 0, 1, 1));
    QVERIFY(!quote(schedule, 1'000, -1, 1));
    QVERIFY(!quote(schedule, 1'000, 1, -1));
    schedule.generatedPer1kTokens = std::numeric_limits<std::int64_t>::max();
    QVERIFY(!quote(schedule, 1'000'000'000'000, 1, 1'000'000'000)); // would not fit in int64
}

void PricingTest::sharesSumToPool() {
    std::vector<NodeWork> work{{"node:a", 11 * 100}, {"node:b", 11 * 100}, {"node:c", 0}, {"node:d", 1}};
    for (Microcredits pool : {0LL, 1LL, 2LL, 3LL, 1'000LL, 999'999LL}) {
        auto shares = splitByLayerTokens(pool, work);
        QVERIFY(shares);
        Microcredits sum = 0;
        for (const auto& s : *shares) {
            QVERIFY(s.nodeAccount != "node:c");
            sum += s.amount;
        }
        QCOMPARE(sum, pool);
    }
    auto shares = splitByLayerTokens(1'000, std::vector<NodeWork>{{"node:a", 3}, {"node:b", 1}});
    QCOMPARE((*shares)[0].amount, 750);
    QCOMPARE((*shares)[1].amount, 250);
    QVERIFY(!splitByLayerTokens(-1, work));
    QVERIFY(!splitByLayerTokens(10, std::vector<NodeWork>{{"node:a", -1}}));
}

void PricingTest::canonicalBytesAreUnambiguous() {
    // Moving a character between two fields must change the bytes (fields are length-prefixed).
    const auto a = canonicalTransactionBytes(1, "ab", TxKind::Grant, "c", 5, {{"x", 1}, {"y", -1}});
    const auto b = canonicalTransactionBytes(1, "a", TxKind::Grant, "bc", 5, {{"x", 1}, {"y", -1}});
    QVERIFY(a != b);
    QVERIFY(chainHash(kGenesisHash, a) != chainHash(kGenesisHash, b));
    QCOMPARE(chainHash(kGenesisHash, a).size(), size_t(64));
}

QTEST_GUILESS_MAIN(PricingTest)
#include "tst_pricing.moc"
