// Admission on its own, without a network: real Billing over a CreditService on a SQLite ledger in a
// temporary folder, the real stories260K GatewayModel (tokenizer, context) and real GenerationSessions, which
// a host with no nodes keeps instead of running. Covered: the per-connection and per-account in-flight limits
// refuse with RateLimited and their messages, and free a place when a request ends; queue positions follow
// the priority classes and the next slot goes to HIGH; a request cancelled while its hold is on its way to
// the ledger never hears a decision and its hold goes back whole; a queued request cancelled ends as
// cancelled and is charged nothing; a request cancelled while its prompt is tokenized (on the tokenizer
// thread) is never priced; context checks answer after tokenizing.
#include "TestData.h"
#include "declai/core/GgufFile.h"
#include "declai/server/Admission.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTest>
#include <map>
#include <memory>
#include <set>

using namespace declai;
using namespace declai::server;

namespace {

const std::string kModel = "stories260K";
constexpr int kWaitMs = 10'000;

// A SessionHost without nodes: sessions built here never get a chain. Ended sessions are reported on the
// next event-loop turn, as the Orchestrator does.
class IdleHost : public SessionHost {
public:
    std::function<void(uint64_t sessionId)> finished;

    std::optional<std::vector<ChainStage>> chainFor(const std::string&,
                                                    const std::set<std::string>&) override {
        return std::nullopt;
    }
    std::optional<std::vector<ChainStage>> coverOf(const std::string&, LayerRange,
                                                   const std::set<std::string>&) override {
        return std::nullopt;
    }
    bool requestCoverage(const std::string&, LayerRange, const std::set<std::string>&) override {
        return false;
    }
    bool nodeConnected(const std::string&) override { return false; }
    void sessionFinished(GenerationSession* session) override { finished(session->sessionId()); }
    void sendStage(const std::string&, wire::StageRequest) override {}
};

// What one submitted request heard.
struct Outcome {
    uint64_t sessionId = 0; // submit()'s return
    std::optional<SubmitDecision> decision;
    int decisions = 0;
    std::optional<SubmitEnd> end;

    bool accepted() const { return decision && std::holds_alternative<SubmitAccepted>(*decision); }
    const SubmitAccepted& acceptance() const { return std::get<SubmitAccepted>(*decision); }
    const SubmitRefused* refusal() const {
        return decision ? std::get_if<SubmitRefused>(&*decision) : nullptr;
    }
};

// Admission with everything it talks to. Started sessions are kept in `running`, not run (there are no
// nodes); ending one (cancel) frees its slot as in the Orchestrator.
struct Rig {
    ServerConfig config;
    std::unique_ptr<CreditService> credits;
    std::unique_ptr<Billing> billing;
    OrchestratorStats stats;
    std::set<std::string> unpaid;
    GatewayCompute compute{1};
    IdleHost host;
    std::map<uint64_t, std::unique_ptr<GenerationSession>> running;
    std::unique_ptr<Admission> admission;
    QObject context; // last: destroyed first, so no deferred end runs into a half-destroyed rig

    QString start(const QString& dir, const std::map<std::string, std::unique_ptr<GatewayModel>>& models) {
        auto ledger = openLedger(config.credits, dir, std::nullopt, "admission-test");
        if (!ledger)
            return QString::fromStdString(ledger.error().message);
        credits = std::make_unique<CreditService>(config.credits, std::move(*ledger));
        if (auto started = credits->start(); !started)
            return QString::fromStdString(started.error().message);
        billing = std::make_unique<Billing>(credits.get(), 600000);
        host.finished = [this](uint64_t id) {
            QMetaObject::invokeMethod(
                &context,
                [this, id] {
                    running.erase(id);
                    admission->sessionEnded(id);
                },
                Qt::QueuedConnection);
        };
        Admission::Hooks hooks;
        hooks.makeSession = [this](uint64_t id, GatewayModel& model, SessionRequest request,
                                   GenerationSession::Sinks sinks) {
            return std::make_unique<GenerationSession>(id, host, model, compute, std::move(request),
                                                       std::move(sinks), 1000, 1000, 1000, wire::F32);
        };
        hooks.start = [this](std::unique_ptr<GenerationSession> session) {
            const uint64_t id = session->sessionId();
            running[id] = std::move(session);
        };
        hooks.running = [this] { return running.size(); };
        hooks.covered = [](const std::string&) { return false; };
        hooks.connectedNodes = [] { return size_t(0); };
        admission = std::make_unique<Admission>(config, models, *billing, unpaid, stats, std::move(hooks));
        return {};
    }

    std::shared_ptr<Outcome> submit(const std::string& connection, const std::string& account,
                                    Priority priority = Priority::Normal, const std::string& model = kModel,
                                    uint32_t maxTokens = 8) {
        auto outcome = std::make_shared<Outcome>();
        SubmitRequest request;
        request.account = account;
        request.connectionId = connection;
        request.requestId = ++m_requests;
        request.model = model;
        request.prompt = "Once upon a time";
        request.maxTokens = maxTokens;
        request.priority = priority;
        SubmitCallbacks callbacks;
        callbacks.decided = [outcome](const SubmitDecision& decision) {
            outcome->decision = decision;
            ++outcome->decisions;
        };
        callbacks.ended = [outcome](const SubmitEnd& end) { outcome->end = end; };
        outcome->sessionId = admission->submit(std::move(request), std::move(callbacks));
        return outcome;
    }

    int64_t available(const std::string& user) {
        auto balance = credits->balanceOfUser(user);
        return balance ? balance->available : -1;
    }

    // Every ledger job queued so far, and the jobs their callbacks queued, have run.
    bool drain() {
        for (int round = 0; round < 3; ++round) {
            bool done = false;
            credits->afterQueuedWork([&done] { done = true; });
            if (!QTest::qWaitFor([&] { return done; }, kWaitMs))
                return false;
        }
        return true;
    }

private:
    uint64_t m_requests = 0;
};

bool decided(const std::vector<std::shared_ptr<Outcome>>& outcomes) {
    return QTest::qWaitFor(
        [&] {
            for (const auto& o : outcomes)
                if (!o->decision)
                    return false;
            return true;
        },
        kWaitMs);
}

} // namespace

class TestAdmission : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    int m_runs = 0;
    std::map<std::string, std::unique_ptr<GatewayModel>> m_models;

    QString nextDir() {
        const QString dir = m_dir.filePath(QStringLiteral("run%1").arg(m_runs++));
        QDir().mkpath(dir);
        return dir;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        const QString path = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (path.isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf is not in DECLAI_MODEL_PATH"));
        auto file = GgufFile::open(path.toStdString());
        QVERIFY2(file, file ? "" : file.error().message.c_str());
        auto model = GatewayModel::create(kModel, "test-digest",
                                          std::make_shared<const GgufFile>(std::move(*file)), 1);
        QVERIFY2(model, model ? "" : model.error().message.c_str());
        m_models[kModel] = std::move(*model);
    }

    void inFlightLimitsRefuseWithRateLimited() {
        Rig rig;
        rig.config.maxRequestsPerConnection = 2;
        rig.config.maxRequestsPerAccount = 3;
        const QString problem = rig.start(nextDir(), m_models);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        auto a1 = rig.submit("c1", "u");
        auto a2 = rig.submit("c1", "u");
        QVERIFY(decided({a1, a2}));
        QVERIFY(a1->accepted() && a2->accepted());
        QVERIFY(a1->sessionId != 0 && a2->sessionId != a1->sessionId);
        QCOMPARE(a1->acceptance().sessionId, a1->sessionId);
        QVERIFY(!a1->acceptance().holdId.empty()); // credits on: the worst case is held

        // The connection's third request in flight: refused inside submit(), nothing held.
        const int64_t before = rig.available("u");
        auto a3 = rig.submit("c1", "u");
        QCOMPARE(a3->sessionId, uint64_t(0));
        QVERIFY(a3->refusal());
        QCOMPARE(a3->refusal()->kind, SubmitRefusal::RateLimited);
        QCOMPARE(
            a3->refusal()->message,
            std::string("too many requests in flight on this connection (limit 2): wait for one to finish"));

        // Another connection of the same account may, up to the account's limit.
        auto b1 = rig.submit("c2", "u");
        QVERIFY(decided({b1}));
        QVERIFY(b1->accepted());
        auto b2 = rig.submit("c3", "u");
        QVERIFY(b2->refusal());
        QCOMPARE(b2->refusal()->kind, SubmitRefusal::RateLimited);
        QCOMPARE(
            b2->refusal()->message,
            std::string("too many requests in flight for account 'u' (limit 3): wait for one to finish"));
        // Another account on that connection is not affected.
        auto v1 = rig.submit("c3", "v");
        QVERIFY(decided({v1}));
        QVERIFY(v1->accepted());
        QVERIFY(rig.drain());
        QCOMPARE(rig.available("u"), before - b1->acceptance().quoteMicrocredits); // only b1 was held since

        // An unknown model is refused by name, with what is served.
        auto unknown = rig.submit("c4", "w", Priority::Normal, "nope");
        QVERIFY(unknown->refusal());
        QCOMPARE(unknown->refusal()->kind, SubmitRefusal::UnknownModel);
        QCOMPARE(unknown->refusal()->message,
                 std::string("model 'nope' is not served here (served: stories260K)"));
        QCOMPARE(unknown->refusal()->field, std::string("model"));

        // A request that ends frees its place on the connection.
        QVERIFY(rig.running.count(a1->sessionId));
        rig.running.at(a1->sessionId)->cancel(QStringLiteral("the client left"));
        QTRY_VERIFY_WITH_TIMEOUT(a1->end.has_value() && !rig.running.count(a1->sessionId), kWaitMs);
        QVERIFY(a1->end->failed);
        QVERIFY(a1->end->stats.cancelled);
        QCOMPARE(a1->end->costMicrocredits, int64_t(0)); // nothing was produced
        auto a4 = rig.submit("c1", "u");
        QVERIFY(decided({a4}));
        QVERIFY(a4->accepted());
        QCOMPARE(a1->decisions, 1);
    }

    void queuePositionsFollowPriority() {
        Rig rig;
        rig.config.maxSessions = 1;
        rig.config.highReserveShare = 0;
        const QString problem = rig.start(nextDir(), m_models);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        auto first = rig.submit("c0", "a");
        QVERIFY(decided({first}));
        QVERIFY(first->accepted());
        QCOMPARE(rig.running.size(), size_t(1)); // the only slot
        QCOMPARE(rig.admission->queuePosition(first->acceptance().holdId), std::optional<size_t>());

        auto low = rig.submit("c1", "u", Priority::Low);
        auto normal = rig.submit("c2", "v", Priority::Normal);
        auto high = rig.submit("c3", "w", Priority::High);
        QVERIFY(decided({low, normal, high}));
        QVERIFY(low->accepted() && normal->accepted() && high->accepted());
        QCOMPARE(rig.admission->queuedCount(), size_t(3));
        QCOMPARE(rig.admission->queuedCount(Priority::High), size_t(1));
        QCOMPARE(rig.admission->queuePosition(high->acceptance().holdId), std::optional<size_t>(0));
        QCOMPARE(rig.admission->queuePosition(normal->acceptance().holdId), std::optional<size_t>(1));
        QCOMPARE(rig.admission->queuePosition(low->acceptance().holdId), std::optional<size_t>(2));
        // The worst case is held at the price list's quote; HIGH pays --high-priority-price times the list.
        const int64_t params = m_models.at(kModel)->parameterCount();
        const int64_t promptTokens = normal->acceptance().promptTokens;
        auto normalQuote = rig.credits->quote(params, promptTokens, 8, 1.0);
        auto highQuote =
            rig.credits->quote(params, promptTokens, 8, rig.config.credits.highPriorityPriceMultiplier);
        QVERIFY(normalQuote && highQuote);
        QVERIFY(highQuote->total > normalQuote->total);
        QCOMPARE(normal->acceptance().quoteMicrocredits, normalQuote->total);
        QCOMPARE(high->acceptance().quoteMicrocredits, highQuote->total);

        // The slot frees: HIGH starts, the others move up.
        rig.running.at(first->sessionId)->cancel(QStringLiteral("done"));
        QTRY_VERIFY_WITH_TIMEOUT(rig.running.count(high->sessionId), kWaitMs);
        QCOMPARE(rig.running.size(), size_t(1));
        QCOMPARE(rig.admission->queuePosition(high->acceptance().holdId), std::optional<size_t>());
        QCOMPARE(rig.admission->queuePosition(normal->acceptance().holdId), std::optional<size_t>(0));
        QCOMPARE(rig.admission->queuePosition(low->acceptance().holdId), std::optional<size_t>(1));
    }

    void cancelWhileTheHoldIsOnItsWay() {
        Rig rig;
        const QString problem = rig.start(nextDir(), m_models);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(rig.credits->ensureUser("u"));
        const int64_t before = rig.available("u");
        QVERIFY(before > 0);

        // The prompt is tokenized on its own thread, then the ledger places the hold on its own: submit()
        // returns before either. Cancel once the hold has left for the ledger (Billing counts it at once).
        auto request = rig.submit("c1", "u");
        QVERIFY(request->sessionId != 0);
        QVERIFY(!request->decision);
        QElapsedTimer clock;
        clock.start();
        while (rig.billing->admissionsInFlight() == 0 && !request->decision && clock.elapsed() < kWaitMs)
            QCoreApplication::processEvents();
        QCOMPARE(rig.billing->admissionsInFlight(), size_t(1));
        QVERIFY(!request->decision);
        QCOMPARE(rig.admission->requestsOf("c1"), std::vector<uint64_t>{request->sessionId});
        rig.admission->cancel(request->sessionId, QStringLiteral("the client left"));
        QVERIFY(rig.admission->requestsOf("c1").empty());

        QVERIFY(rig.drain());
        QTRY_COMPARE_WITH_TIMEOUT(rig.billing->admissionsInFlight(), size_t(0), kWaitMs);
        QVERIFY(rig.drain());
        QVERIFY(!request->decision); // never decided, never ended
        QVERIFY(!request->end);
        QVERIFY(rig.running.empty());
        QCOMPARE(rig.admission->queuedCount(), size_t(0));
        QCOMPARE(rig.available("u"), before); // the hold that landed went back whole
    }

    // A request whose client leaves while its prompt is still being tokenized: nothing is priced or held,
    // no callback runs, and its place in the connection's limit is free at once.
    void cancelWhileThePromptIsTokenized() {
        Rig rig;
        const QString problem = rig.start(nextDir(), m_models);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(rig.credits->ensureUser("u"));
        const int64_t before = rig.available("u");
        auto request = rig.submit("c1", "u");
        QVERIFY(request->sessionId != 0);
        QVERIFY(!request->decision);
        QCOMPARE(rig.billing->admissionsInFlight(), size_t(0)); // not priced yet
        rig.admission->cancel(request->sessionId, QStringLiteral("the client left"));
        QVERIFY(rig.admission->requestsOf("c1").empty());
        QTest::qWait(200); // the tokenizer finishes its job; its result is dropped
        QVERIFY(rig.drain());
        QVERIFY(!request->decision);
        QVERIFY(!request->end);
        QCOMPARE(rig.billing->admissionsInFlight(), size_t(0));
        QCOMPARE(rig.available("u"), before);
    }

    // Context checks need the prompt's tokens, so they answer after the tokenizer thread has run (submit()
    // has returned by then), with the field and the numbers.
    void contextOverflowIsRefusedAfterTokenizing() {
        Rig rig;
        const QString problem = rig.start(nextDir(), m_models);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        auto request = rig.submit("c1", "u", Priority::Normal, kModel, 1u << 20);
        QVERIFY(request->sessionId != 0);
        QVERIFY(!request->decision);
        QVERIFY(decided({request}));
        QCOMPARE(request->decisions, 1);
        const SubmitRefused* refused = request->refusal();
        QVERIFY(refused);
        QCOMPARE(refused->kind, SubmitRefusal::InvalidRequest);
        QCOMPARE(refused->field, std::string("max_tokens"));
        QVERIFY2(refused->message.find("context") != std::string::npos, refused->message.c_str());
        QVERIFY(rig.admission->requestsOf("c1").empty());
        QCOMPARE(rig.billing->admissionsInFlight(), size_t(0));
    }

    void cancelQueuedRequest() {
        Rig rig;
        rig.config.maxSessions = 1;
        rig.config.highReserveShare = 0;
        const QString problem = rig.start(nextDir(), m_models);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        auto first = rig.submit("c0", "a");
        QVERIFY(decided({first}));
        QVERIFY(rig.credits->ensureUser("u"));
        const int64_t before = rig.available("u");

        auto queued = rig.submit("c1", "u");
        QVERIFY(decided({queued}));
        QVERIFY(queued->accepted());
        QVERIFY(!rig.running.count(queued->sessionId));
        QCOMPARE(rig.available("u"), before - queued->acceptance().quoteMicrocredits);
        rig.admission->cancel(queued->sessionId, QStringLiteral("the client left"));
        QTRY_VERIFY_WITH_TIMEOUT(queued->end.has_value(), kWaitMs);
        QVERIFY(queued->end->failed);
        QVERIFY(queued->end->stats.cancelled);
        QCOMPARE(queued->end->reason, std::string("the client left"));
        QCOMPARE(queued->end->costMicrocredits, int64_t(0));
        QCOMPARE(queued->end->balanceMicrocredits, before);
        QCOMPARE(rig.admission->queuedCount(), size_t(0));
        QTRY_VERIFY_WITH_TIMEOUT(rig.admission->requestsOf("c1").empty(), kWaitMs);
        QCOMPARE(rig.available("u"), before);
        QCOMPARE(rig.stats.sessionsFailed, uint64_t(1));
        QVERIFY(rig.running.count(first->sessionId)); // the running one is untouched
    }
};

QTEST_GUILESS_MAIN(TestAdmission)
#include "tst_admission.moc"
