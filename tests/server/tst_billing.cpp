// Billing, the credit side of requests the Orchestrator wires in, on a real SQLite ledger: a session's hold
// is settled once on its end path (what CreditService::closeRequest charges), nodes cut off meanwhile earn
// nothing, an untouched hold goes back whole, quarantining a node refunds the requests that used its work,
// and without credits every call does nothing. Expected amounts come from CreditService's own quote (the
// price list), never from Billing.
// Nothing in Billing waits for the ledger: with a store whose jobs are held at a gate (a slow commit), admit
// and settle return at once, the main thread's event loop keeps running, and the decision comes later; an
// admission abandoned before its hold lands releases the hold, so no credit is lost or minted.
#include "declai/credit/SqliteLedgerStore.h"
#include "declai/server/Billing.h"

#include <QDir>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <condition_variable>
#include <mutex>

using namespace declai;
using namespace declai::server;

namespace {

constexpr int64_t kParams = 1'000'000'000; // the reference size: prices apply as written
constexpr int kWaitMs = 10'000;

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

// Jobs wait at this gate on the store thread until it opens: a commit as slow as the test wants.
class Gate {
public:
    void close() {
        std::lock_guard lock(m_mutex);
        m_open = false;
    }
    void open() {
        {
            std::lock_guard lock(m_mutex);
            m_open = true;
        }
        m_changed.notify_all();
    }
    void pass() {
        std::unique_lock lock(m_mutex);
        ++m_waiting;
        m_changed.wait(lock, [this] { return m_open; });
        --m_waiting;
    }
    int waiting() {
        std::lock_guard lock(m_mutex);
        return m_waiting;
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_changed;
    bool m_open = true;
    int m_waiting = 0;
};

// A real SQLite store whose every job first passes the gate (on the store thread, inside the transaction).
class GatedStore final : public credit::LedgerStore {
public:
    GatedStore(std::unique_ptr<credit::LedgerStore> inner, std::shared_ptr<Gate> gate)
        : m_inner(std::move(inner)), m_gate(std::move(gate)) {}
    std::string backendName() const override { return m_inner->backendName(); }
    int schemaVersion() const override { return m_inner->schemaVersion(); }

protected:
    void submit(Job job) override {
        credit::LedgerWork<bool> run =
            [gate = m_gate, run = std::move(job.run)](credit::LedgerSession& session) -> Expected<bool> {
            gate->pass();
            if (auto ok = run(session); !ok)
                return ok.error();
            return true;
        };
        auto done = [done = std::move(job.done)](Expected<bool> outcome) {
            done(outcome ? Expected<void>{} : Expected<void>(outcome.error()));
        };
        if (job.mode == JobMode::Read)
            m_inner->readThen<bool>(std::move(run), std::move(done));
        else
            m_inner->writeThen<bool>(std::move(run), std::move(done));
    }

private:
    std::unique_ptr<credit::LedgerStore> m_inner;
    std::shared_ptr<Gate> m_gate;
};

// Admits and waits for the decision (the event loop runs meanwhile).
std::optional<Billing::Decision> admitNow(Billing& billing, const std::string& holdKey, int64_t maxTokens,
                                          bool quoteOnly) {
    std::optional<Billing::Decision> decision;
    billing.admit("u", holdKey, "", kParams, 10, maxTokens, 1.0, quoteOnly,
                  [&decision](Billing::Decision d) { decision = std::move(d); });
    if (!QTest::qWaitFor([&] { return decision.has_value(); }, kWaitMs))
        return std::nullopt;
    return decision;
}

// Settles and waits: nullopt when the session held nothing; a settlement with cost -1 when none came.
std::optional<Billing::Settlement> settleNow(Billing& billing, uint64_t sessionId, RequestEnd end,
                                             const SessionStats& stats,
                                             const std::set<std::string>& unpaid = {}) {
    bool done = false;
    std::optional<Billing::Settlement> settled;
    billing.settle(sessionId, "u", kParams, end, stats, sessionId, 1.0, unpaid,
                   [&](std::optional<Billing::Settlement> s) {
                       settled = s;
                       done = true;
                   });
    if (!QTest::qWaitFor([&] { return done; }, kWaitMs))
        return Billing::Settlement{-1, 0};
    return settled;
}

// Waits until every ledger job queued so far (and its callback) has run.
bool drain(CreditService& credits) {
    bool done = false;
    credits.afterQueuedWork([&done] { done = true; });
    return QTest::qWaitFor([&] { return done; }, kWaitMs);
}

} // namespace

class TestBilling : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    int m_next = 0;

    // gate: every ledger job passes it first (null: a plain SQLite store).
    std::unique_ptr<CreditService> service(std::shared_ptr<Gate> gate = nullptr) {
        CreditConfig config;
        const int run = m_next++;
        const QString dir = m_dir.filePath(QStringLiteral("d%1").arg(run));
        std::unique_ptr<credit::Ledger> ledger;
        if (gate) {
            QDir().mkpath(dir);
            auto sqlite =
                credit::SqliteLedgerStore::open(QDir(dir).filePath(QStringLiteral("ledger.sqlite")));
            if (!sqlite)
                return nullptr;
            credit::Ledger::Options options;
            options.instanceId = "run-" + std::to_string(run);
            ledger = std::make_unique<credit::Ledger>(std::make_unique<GatedStore>(std::move(*sqlite), gate),
                                                      options);
        } else {
            auto opened = openLedger(config, dir, std::nullopt, "run-" + std::to_string(run));
            if (!opened)
                return nullptr;
            ledger = std::move(*opened);
        }
        auto credits = std::make_unique<CreditService>(config, std::move(ledger));
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
        auto quoted = admitNow(billing, "", 100, true);
        QVERIFY(quoted && std::holds_alternative<Billing::Admission>(*quoted));
        QCOMPARE(std::get<Billing::Admission>(*quoted).quoteMicrocredits, worst);
        QCOMPARE(std::get<Billing::Admission>(*quoted).balanceMicrocredits, before);
        QVERIFY(std::get<Billing::Admission>(*quoted).holdId.empty());
        // A request holds it.
        auto admitted = admitNow(billing, "u/c/1/9", 100, false);
        QVERIFY(admitted && std::holds_alternative<Billing::Admission>(*admitted));
        const auto& admission = std::get<Billing::Admission>(*admitted);
        QVERIFY(!admission.holdId.empty());
        QCOMPARE(admission.quoteMicrocredits, worst);
        QCOMPARE(admission.balanceMicrocredits, before - worst);
        QCOMPARE(credits->balanceOfUser("u")->held, worst);
        // More than the balance is refused with nothing changed.
        const int64_t tooMany = 1'000'000'000;
        auto refused = admitNow(billing, "u/c/2/9", tooMany, false);
        QVERIFY(refused);
        if (std::holds_alternative<Billing::Refused>(*refused)) {
            QCOMPARE(std::get<Billing::Refused>(*refused).kind, Billing::Refusal::InsufficientCredits);
        } else {
            QFAIL("a hold beyond the balance was admitted");
        }
        QCOMPARE(credits->balanceOfUser("u")->held, worst);
        QCOMPARE(billing.admissionsInFlight(), size_t(0));
        // Without credits: nothing priced, nothing held, decided inside the call.
        Billing free(nullptr, 600000);
        std::optional<Billing::Decision> none;
        QCOMPARE(
            free.admit("u", "k", "", kParams, 10, 100, 1.0, false, [&](Billing::Decision d) { none = d; }),
            uint64_t(0));
        QVERIFY(none && std::holds_alternative<Billing::Admission>(*none));
        QCOMPARE(std::get<Billing::Admission>(*none).quoteMicrocredits, int64_t(0));
        QVERIFY(std::get<Billing::Admission>(*none).holdId.empty());
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
        // Another session holds nothing.
        QVERIFY(!settleNow(billing, 8, RequestEnd::Completed, statsOf(10, 5, {{"n1", 30}})));
        auto settled = settleNow(billing, 7, RequestEnd::Completed, statsOf(10, 5, {{"n1", 30}}));
        QVERIFY(settled);
        const int64_t price = credits->quote(kParams, 10, 5)->total;
        QCOMPARE(settled->costMicrocredits, price);
        QCOMPARE(settled->balanceMicrocredits, before - price);
        QCOMPARE(credits->balanceOfUser("u")->available, before - price);
        QCOMPARE(billing.settlements(), uint64_t(1));
        QCOMPARE(billing.releases(), uint64_t(0));
        // Settled once: a second end of the same session finds no hold.
        QVERIFY(!settleNow(billing, 7, RequestEnd::Failed, statsOf(10, 5, {{"n1", 30}})));
        QVERIFY(credits->ledger().verify()->clean());
    }

    void nothingBillableReleasesTheHold() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        const int64_t before = credits->balanceOfUser("u")->available;
        billing.attach(1, hold(*credits, "req-1"));
        auto settled = settleNow(billing, 1, RequestEnd::Failed, statsOf(10, 0, {{"n1", 20}}));
        QVERIFY(settled);
        QCOMPARE(settled->costMicrocredits, int64_t(0));
        QCOMPARE(settled->balanceMicrocredits, before);
        QCOMPARE(billing.releases(), uint64_t(1));
        QCOMPARE(billing.settlements(), uint64_t(0));
        // Refused after the hold (no capacity, queue full): released whole, nothing counted.
        billing.release(hold(*credits, "req-2"), 2);
        QVERIFY(drain(*credits));
        QCOMPARE(credits->balanceOfUser("u")->available, before);
        QCOMPARE(credits->balanceOfUser("u")->held, int64_t(0));
        QVERIFY(credits->ledger().verify()->clean());
    }

    void nodesCutOffEarnNothing() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        billing.attach(1, hold(*credits, "req-1"));
        QVERIFY(settleNow(billing, 1, RequestEnd::Completed, statsOf(10, 5, {{"honest", 30}, {"cheat", 30}}),
                          {"cheat"}));
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
        const auto first = settleNow(billing, 1, RequestEnd::Completed, statsOf(10, 5, {{"bad", 30}}));
        const auto second = settleNow(billing, 2, RequestEnd::Completed, statsOf(10, 5, {{"good", 30}}));
        QVERIFY(first && second);
        billing.voidNode("bad", QStringLiteral("stage output failed verification"));
        QVERIFY(drain(*credits)); // the void, then the refunds it queued
        QVERIFY(drain(*credits));
        // The request that used "bad" is paid back; the other stays charged.
        QCOMPARE(credits->balanceOfUser("u")->available, before - second->costMicrocredits);
        QVERIFY(pendingOf(*credits, "good") > 0);
        QCOMPARE(pendingOf(*credits, "bad"), int64_t(0));
        billing.refundVoidedRequests("bad"); // refunded once only
        QVERIFY(drain(*credits));
        QVERIFY(drain(*credits));
        QCOMPARE(credits->balanceOfUser("u")->available, before - second->costMicrocredits);
        QVERIFY(credits->ledger().verify()->clean());
    }

    // A settlement still on its way to the ledger when its node is quarantined is refunded too: the void
    // and the refund queue behind it (without waiting on the main thread in between).
    void quarantineRefundsASettlementInFlight() {
        auto credits = service();
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        const int64_t before = credits->balanceOfUser("u")->available;
        billing.attach(1, hold(*credits, "req-1"));
        bool settled = false;
        billing.settle(1, "u", kParams, RequestEnd::Completed, statsOf(10, 5, {{"bad", 30}}), 1, 1.0, {},
                       [&settled](std::optional<Billing::Settlement> s) { settled = s.has_value(); });
        billing.voidNode("bad", QStringLiteral("stage output failed verification"));
        QVERIFY(QTest::qWaitFor([&] { return settled; }, kWaitMs));
        QVERIFY(drain(*credits));
        QVERIFY(drain(*credits));
        QCOMPARE(credits->balanceOfUser("u")->available, before);
        QCOMPARE(pendingOf(*credits, "bad"), int64_t(0));
        QVERIFY(credits->ledger().verify()->clean());
    }

    // The gateway thread never waits for a commit: while the ledger's store thread is stuck, admit() and
    // settle() return at once, the event loop keeps running (a timer ticks), and the answers come after.
    void aSlowLedgerDoesNotBlockTheEventLoop() {
        auto gate = std::make_shared<Gate>();
        auto credits = service(gate);
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        const int64_t before = credits->balanceOfUser("u")->available;
        const int64_t worst = credits->quote(kParams, 10, 100)->total;

        gate->close();
        int ticks = 0;
        QTimer timer;
        QObject::connect(&timer, &QTimer::timeout, [&ticks] { ++ticks; });
        timer.start(5);
        std::optional<Billing::Decision> decision;
        const uint64_t ticket = billing.admit("u", "u/c/1/1", "", kParams, 10, 100, 1.0, false,
                                              [&decision](Billing::Decision d) { decision = std::move(d); });
        QVERIFY(ticket != 0);
        QVERIFY(!decision); // not inside the call
        QVERIFY(
            QTest::qWaitFor([&] { return gate->waiting() > 0; }, kWaitMs)); // the hold's job is at the gate
        QVERIFY(QTest::qWaitFor([&] { return ticks >= 10; }, kWaitMs));     // the loop kept running
        QVERIFY(!decision);                                                 // and no decision yet
        QCOMPARE(billing.admissionsInFlight(), size_t(1));
        gate->open();
        QVERIFY(QTest::qWaitFor([&] { return decision.has_value(); }, kWaitMs));
        QVERIFY(std::holds_alternative<Billing::Admission>(*decision));
        const auto admission = std::get<Billing::Admission>(*decision);
        QCOMPARE(admission.balanceMicrocredits, before - worst);
        QCOMPARE(billing.admissionsInFlight(), size_t(0));

        // Settlement: the same.
        billing.attach(1, admission.holdId);
        gate->close();
        ticks = 0;
        bool settledCalled = false;
        std::optional<Billing::Settlement> settled;
        billing.settle(1, "u", kParams, RequestEnd::Completed, statsOf(10, 5, {{"n1", 30}}), 1, 1.0, {},
                       [&](std::optional<Billing::Settlement> s) {
                           settled = s;
                           settledCalled = true;
                       });
        QVERIFY(!settledCalled);
        QVERIFY(QTest::qWaitFor([&] { return gate->waiting() > 0; }, kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return ticks >= 10; }, kWaitMs));
        QVERIFY(!settledCalled);
        gate->open();
        QVERIFY(QTest::qWaitFor([&] { return settledCalled; }, kWaitMs));
        QVERIFY(settled);
        const int64_t price = credits->quote(kParams, 10, 5)->total;
        QCOMPARE(settled->costMicrocredits, price);
        QCOMPARE(settled->balanceMicrocredits, before - price);
        QVERIFY(credits->ledger().verify()->clean());
    }

    // The client leaves while its hold is on the way: no decision is delivered, the hold is released as soon
    // as it lands, and the user's balance is exactly what it was (no credit lost or minted).
    void anAdmissionAbandonedBeforeItsHoldLandsReleasesIt() {
        auto gate = std::make_shared<Gate>();
        auto credits = service(gate);
        QVERIFY(credits);
        Billing billing(credits.get(), 600000);
        const int64_t before = credits->balanceOfUser("u")->available;
        gate->close();
        bool decided = false;
        const uint64_t ticket = billing.admit("u", "u/c/1/2", "", kParams, 10, 100, 1.0, false,
                                              [&decided](Billing::Decision) { decided = true; });
        QVERIFY(ticket != 0);
        QVERIFY(QTest::qWaitFor([&] { return gate->waiting() > 0; }, kWaitMs));
        billing.abandon(ticket);
        gate->open(); // the hold lands now, after its client left
        QVERIFY(QTest::qWaitFor([&] { return billing.admissionsInFlight() == 0; }, kWaitMs));
        QVERIFY(drain(*credits)); // the release it queued
        QVERIFY(!decided);
        auto after = credits->balanceOfUser("u");
        QVERIFY(after);
        QCOMPARE(after->available, before);
        QCOMPARE(after->held, int64_t(0));
        auto hold = credits->ledger().hold("u/c/1/2");
        QVERIFY(hold && hold->has_value());
        QCOMPARE((*hold)->status, credit::HoldStatus::Released);
        auto report = credits->ledger().verify();
        QVERIFY(report && report->clean());
        // An abandoned admission the ledger refuses leaves nothing to release (and nothing changes).
        gate->close();
        const uint64_t refusedTicket =
            billing.admit("u", "u/c/1/3", "", kParams, 10, 1'000'000'000, 1.0, false,
                          [&decided](Billing::Decision) { decided = true; });
        billing.abandon(refusedTicket);
        gate->open();
        QVERIFY(QTest::qWaitFor([&] { return billing.admissionsInFlight() == 0; }, kWaitMs));
        QVERIFY(drain(*credits));
        QVERIFY(!decided);
        QCOMPARE(credits->balanceOfUser("u")->available, before);
    }

    void withoutCreditsNothingHappens() {
        Billing billing(nullptr, 600000);
        QVERIFY(!billing.enabled());
        billing.attach(1, "hold");
        bool done = false;
        std::optional<Billing::Settlement> settled;
        billing.settle(1, "u", kParams, RequestEnd::Completed, statsOf(10, 5, {{"n1", 30}}), 1, 1.0, {},
                       [&](std::optional<Billing::Settlement> s) {
                           settled = s;
                           done = true;
                       });
        QVERIFY(done); // nothing to wait for: inside the call
        QVERIFY(!settled);
        billing.release("hold", 1);
        billing.voidNode("n1", QStringLiteral("reason"));
        QCOMPARE(billing.settlements() + billing.releases(), uint64_t(0));
    }
};

QTEST_GUILESS_MAIN(TestBilling)
#include "tst_billing.moc"
