// Billing, the credit side of requests the Orchestrator wires in, on a real SQLite ledger: a session's hold
// is settled once on its end path (what CreditService::closeRequest charges), nodes cut off meanwhile earn
// nothing, an untouched hold goes back whole, quarantining a node refunds the requests that used its work,
// and without credits every call does nothing. Expected amounts come from CreditService's own quote (the
// price list), never from Billing.
#include "declai/server/Billing.h"

#include <QTemporaryDir>
#include <QTest>

using namespace declai;
using namespace declai::server;

namespace {

constexpr int64_t kParams = 1'000'000'000; // the reference size: prices apply as written

SessionStats statsOf(uint32_t prompt, uint32_t generated, std::map<std::string, int64_t> work) {
    SessionStats stats;
    stats.promptTokens = prompt;
    stats.generatedTokens = generated;
    stats.nodeLayerTokens = std::move(work);
    return stats;
}

// A node's pending earnings; 0 for a node that never earned (its ledger account does not exist).
int64_t pendingOf(CreditService& credits, const std::string& node) {
    auto balance = credits.ledger().balance(credit::nodeAccount(node));
    return balance ? balance->pending : 0;
}

} // namespace

class TestBilling : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    int m_next = 0;

    std::unique_ptr<CreditService> service() {
        CreditConfig config;
        const int run = m_next++;
        auto ledger = openLedger(config, m_dir.filePath(QStringLiteral("d%1").arg(run)), std::nullopt,
                                 "run-" + std::to_string(run));
        if (!ledger)
            return nullptr;
        auto credits = std::make_unique<CreditService>(config, std::move(*ledger));
        if (!credits->start() || !credits->ensureUser("u"))
            return nullptr;
        return credits;
    }

    // A worst-case hold for `u`, as Orchestrator::submit places it.
    static std::string hold(CreditService& credits, const std::string& key) {
        auto worst = credits.quote(kParams, 10, 100);
        if (!worst)
            return {};
        auto held = credits.admit("u", key, worst->total);
        return held ? *held : std::string();
    }

private Q_SLOTS:
    void admissionHoldsTheWorstCase() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        const int64_t before = credits->balanceOfUser("u")->available;
        const int64_t worst = credits->quote(kParams, 10, 100)->total;
        // A quote prices it and holds nothing.
        auto quoted = billing.admit("u", "", "", kParams, 10, 100, 1.0, true);
        QVERIFY(std::holds_alternative<Billing::Admission>(quoted));
        QCOMPARE(std::get<Billing::Admission>(quoted).quoteMicrocredits, worst);
        QCOMPARE(std::get<Billing::Admission>(quoted).balanceMicrocredits, before);
        QVERIFY(std::get<Billing::Admission>(quoted).holdId.empty());
        // A request holds it.
        auto admitted = billing.admit("u", "u/c/1/9", "", kParams, 10, 100, 1.0, false);
        QVERIFY(std::holds_alternative<Billing::Admission>(admitted));
        const auto& admission = std::get<Billing::Admission>(admitted);
        QVERIFY(!admission.holdId.empty());
        QCOMPARE(admission.quoteMicrocredits, worst);
        QCOMPARE(admission.balanceMicrocredits, before - worst);
        QCOMPARE(credits->balanceOfUser("u")->held, worst);
        // More than the balance is refused with nothing changed.
        const int64_t tooMany = 1'000'000'000;
        auto refused = billing.admit("u", "u/c/2/9", "", kParams, 10, tooMany, 1.0, false);
        if (std::holds_alternative<Billing::Refused>(refused)) {
            QCOMPARE(std::get<Billing::Refused>(refused).kind, Billing::Refusal::InsufficientCredits);
        } else {
            QFAIL("a hold beyond the balance was admitted");
        }
        QCOMPARE(credits->balanceOfUser("u")->held, worst);
        // Without credits: nothing priced, nothing held.
        Billing free(nullptr, 600000);
        auto none = free.admit("u", "k", "", kParams, 10, 100, 1.0, false);
        QVERIFY(std::holds_alternative<Billing::Admission>(none));
        QCOMPARE(std::get<Billing::Admission>(none).quoteMicrocredits, int64_t(0));
        QVERIFY(std::get<Billing::Admission>(none).holdId.empty());
    }

    void settlesOnceWithTheCharge() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        QVERIFY(billing.enabled());
        const int64_t before = credits->balanceOfUser("u")->available;
        const std::string holdId = hold(*credits, "req-1");
        QVERIFY(!holdId.empty());
        billing.attach(7, holdId);
        QVERIFY(!billing.settle(8, "u", kParams, RequestEnd::Completed, statsOf(10, 5, {{"n1", 30}}), 1, 1.0,
                                {})); // another session holds nothing
        auto settled =
            billing.settle(7, "u", kParams, RequestEnd::Completed, statsOf(10, 5, {{"n1", 30}}), 1, 1.0, {});
        QVERIFY(settled);
        const int64_t price = credits->quote(kParams, 10, 5)->total;
        QCOMPARE(settled->costMicrocredits, price);
        QCOMPARE(settled->balanceMicrocredits, before - price);
        QCOMPARE(credits->balanceOfUser("u")->available, before - price);
        QCOMPARE(billing.settlements(), uint64_t(1));
        QCOMPARE(billing.releases(), uint64_t(0));
        // Settled once: a second end of the same session finds no hold.
        QVERIFY(
            !billing.settle(7, "u", kParams, RequestEnd::Failed, statsOf(10, 5, {{"n1", 30}}), 1, 1.0, {}));
        QVERIFY(credits->ledger().verify()->clean());
    }

    void nothingBillableReleasesTheHold() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        const int64_t before = credits->balanceOfUser("u")->available;
        billing.attach(1, hold(*credits, "req-1"));
        auto settled =
            billing.settle(1, "u", kParams, RequestEnd::Failed, statsOf(10, 0, {{"n1", 20}}), 1, 1.0, {});
        QVERIFY(settled);
        QCOMPARE(settled->costMicrocredits, int64_t(0));
        QCOMPARE(settled->balanceMicrocredits, before);
        QCOMPARE(billing.releases(), uint64_t(1));
        QCOMPARE(billing.settlements(), uint64_t(0));
        // Refused after the hold (no capacity, queue full): released whole, nothing counted.
        billing.release(hold(*credits, "req-2"), 2);
        QCOMPARE(credits->balanceOfUser("u")->available, before);
        QCOMPARE(credits->balanceOfUser("u")->held, int64_t(0));
        QVERIFY(credits->ledger().verify()->clean());
    }

    void nodesCutOffEarnNothing() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        billing.attach(1, hold(*credits, "req-1"));
        QVERIFY(billing.settle(1, "u", kParams, RequestEnd::Completed,
                               statsOf(10, 5, {{"honest", 30}, {"cheat", 30}}), 1, 1.0, {"cheat"}));
        QVERIFY(pendingOf(*credits, "honest") > 0);
        QCOMPARE(pendingOf(*credits, "cheat"), int64_t(0));
    }

    void quarantineRefundsTheRequestsThatUsedTheNode() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        const int64_t before = credits->balanceOfUser("u")->available;
        billing.attach(1, hold(*credits, "req-1"));
        billing.attach(2, hold(*credits, "req-2"));
        const auto first =
            billing.settle(1, "u", kParams, RequestEnd::Completed, statsOf(10, 5, {{"bad", 30}}), 1, 1.0, {});
        const auto second = billing.settle(2, "u", kParams, RequestEnd::Completed,
                                           statsOf(10, 5, {{"good", 30}}), 2, 1.0, {});
        QVERIFY(first && second);
        billing.voidNode("bad", QStringLiteral("stage output failed verification"));
        // The request that used "bad" is paid back; the other stays charged.
        QCOMPARE(credits->balanceOfUser("u")->available, before - second->costMicrocredits);
        QVERIFY(pendingOf(*credits, "good") > 0);
        QCOMPARE(pendingOf(*credits, "bad"), int64_t(0));
        billing.refundVoidedRequests("bad"); // refunded once only
        QCOMPARE(credits->balanceOfUser("u")->available, before - second->costMicrocredits);
        QVERIFY(credits->ledger().verify()->clean());
    }

    void withoutCreditsNothingHappens() {
        Billing billing(nullptr, 600000);
        QVERIFY(!billing.enabled());
        billing.attach(1, "hold");
        QVERIFY(!billing.settle(1, "u", kParams, RequestEnd::Completed, statsOf(10, 5, {{"n1", 30}}), 1, 1.0,
                                {}));
        billing.release("hold", 1);
        billing.voidNode("n1", QStringLiteral("reason"));
        QCOMPARE(billing.settlements() + billing.releases(), uint64_t(0));
    }
};

QTEST_GUILESS_MAIN(TestBilling)
#include "tst_billing.moc"
