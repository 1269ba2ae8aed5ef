#include "declai/server/Admission.h"

#include <QDateTime>
#include <algorithm>

namespace declai::server {
namespace {

SubmitRefused refusalOf(const Billing::Refused& refused) {
    switch (refused.kind) {
    case Billing::Refusal::Internal:
        return SubmitRefused{SubmitRefusal::Internal, refused.message, {}};
    case Billing::Refusal::InvalidQuote:
        return SubmitRefused{SubmitRefusal::InvalidRequest, refused.message, "max_tokens"};
    case Billing::Refusal::InsufficientCredits:
        break;
    }
    return SubmitRefused{SubmitRefusal::InsufficientCredits, refused.message, {}};
}

// How the scheduler sees an accepted request: its work is its worst case (prompt + max tokens).
QueuedRequest queuedOf(uint64_t sessionId, const SubmitRequest& request, int64_t promptTokens,
                       int64_t balanceMicrocredits) {
    QueuedRequest queued;
    queued.id = sessionId;
    queued.account = request.account.empty() ? request.connectionId : request.account;
    queued.priority = request.priority;
    queued.balance = balanceMicrocredits;
    queued.cost = static_cast<double>(promptTokens + request.maxTokens);
    return queued;
}

} // namespace

Expected<SubmitRequest> submitRequestFromWire(const wire::Submit& submit, const ClientLink& client) {
    const auto priority = priorityFromName(submit.priority());
    if (!priority)
        return makeError(ErrorCode::InvalidArgument,
                         "priority '" + submit.priority() + "' is not low, normal or high");
    SubmitRequest request;
    request.account = client.userId;
    request.keyId = client.keyId;
    request.connectionId = client.clientId;
    request.requestId = submit.request_id();
    request.model = submit.model();
    request.prompt = submit.prompt();
    request.maxTokens = submit.max_tokens();
    request.wantTokenIds = submit.want_token_ids();
    request.sampler.temperature = submit.temperature();
    request.sampler.seed = submit.seed();
    request.sampler.topK = submit.top_k();
    request.sampler.topP = submit.top_p() > 0 ? submit.top_p() : 1.0f;
    request.sampler.minP = submit.min_p();
    request.sampler.repeatPenalty = submit.repeat_penalty() > 0 ? submit.repeat_penalty() : 1.0f;
    request.priority = *priority;
    request.quoteOnly = submit.quote_only();
    return request;
}

Admission::Admission(const ServerConfig& config,
                     const std::map<std::string, std::unique_ptr<GatewayModel>>& models, Billing& billing,
                     const std::set<std::string>& unpaidNodes, OrchestratorStats& stats, Hooks hooks)
    : m_config(config), m_models(models), m_billing(billing), m_unpaidNodes(unpaidNodes), m_stats(stats),
      m_hooks(std::move(hooks)),
      m_scheduler(SchedulerConfig{config.maxSessions, config.highReserveShare, 30000, 10000}) {
    // Aging moves waiting requests up even when nothing finishes.
    QObject::connect(&m_queueTimer, &QTimer::timeout, [this] { startQueued(); });
    m_queueTimer.start(1000);
}

GatewayModel* Admission::model(const std::string& name) const {
    auto it = m_models.find(name);
    return it == m_models.end() ? nullptr : it->second.get();
}

std::optional<SubmitRefused> Admission::check(const SubmitRequest& request) const {
    // Pipelining is fine, hoarding is not: one connection or account cannot fill the queue on its own
    // (requests still waiting for their hold count too).
    if (auto busy = tooManyRequests(request.connectionId, request.account); !busy.empty())
        return SubmitRefused{SubmitRefusal::RateLimited, busy, {}};
    if (!model(request.model)) {
        std::string known;
        for (const auto& [name, unused] : m_models)
            known.append(known.empty() ? "" : ", ").append(name);
        return SubmitRefused{SubmitRefusal::UnknownModel,
                             "model '" + request.model + "' is not served here (served: " + known + ")",
                             "model"};
    }
    if (auto valid = validate(request.sampler); !valid)
        return SubmitRefused{SubmitRefusal::InvalidRequest, valid.error().message, {}};
    if (request.prompt.size() > (1u << 20)) // before tokenizing it
        return SubmitRefused{SubmitRefusal::InvalidRequest, "the prompt is larger than 1 MiB", "prompt"};
    return std::nullopt;
}

void Admission::describe(SubmitRequest& request, PendingSubmit& pending) const {
    // High priority jumps the queue, so it costs more (--high-priority-price, docs/ledger.md).
    pending.priceMultiplier =
        request.priority == Priority::High ? m_config.credits.highPriorityPriceMultiplier : 1.0;
    SessionRequest& sessionRequest = pending.session;
    sessionRequest.requestId = request.requestId;
    sessionRequest.prompt = std::move(request.prompt);
    sessionRequest.promptMarkup = std::move(request.promptMarkup);
    sessionRequest.sampler = request.sampler;
    sessionRequest.wantTokenIds = request.wantTokenIds;
    // Nodes are shared fairly between accounts (StageDispatcher); without credits, between connections.
    sessionRequest.account = request.account.empty() ? request.connectionId : request.account;
}

std::optional<SubmitRefused> Admission::fitToContext(SubmitRequest& request, const GatewayModel& m,
                                                     PendingSubmit& pending) const {
    const int64_t promptTokens = static_cast<int64_t>(pending.session.promptTokens.size());
    pending.promptTokens = promptTokens;
    if (request.fitMaxTokensToContext && promptTokens < m.config().contextLength)
        request.maxTokens = static_cast<uint32_t>(
            std::min<int64_t>(request.maxTokens, m.config().contextLength - promptTokens));
    if (request.maxTokens == 0)
        return SubmitRefused{SubmitRefusal::InvalidRequest, "max_tokens must be at least 1", "max_tokens"};
    if (auto overflow =
            GenerationSession::contextOverflow(promptTokens, request.maxTokens, m.config().contextLength))
        return SubmitRefused{SubmitRefusal::InvalidRequest, *overflow, "max_tokens"};
    return std::nullopt;
}

uint64_t Admission::newSessionId() {
    // A started session keeps its owner entry until it has ended, so this never reuses a running id.
    uint64_t sessionId = 0;
    while (sessionId == 0 || m_waiting.count(sessionId) || m_sessionOwner.count(sessionId))
        sessionId = m_rng();
    return sessionId;
}

uint64_t Admission::submit(SubmitRequest request, SubmitCallbacks callbacks) {
    auto shared = std::make_shared<SubmitCallbacks>(std::move(callbacks));
    if (auto refused = check(request)) {
        if (shared->decided)
            shared->decided(std::move(*refused));
        return 0;
    }
    const GatewayModel& m = *model(request.model); // check() found it
    // The id it will run under, reserved now: the caller may cancel it while its prompt is tokenized or the
    // ledger places its hold.
    const uint64_t sessionId = newSessionId();
    const bool quoteOnly = request.quoteOnly;
    if (!quoteOnly)
        m_sessionOwner[sessionId] = SessionOwner{request.connectionId, request.account};
    auto pending = std::make_shared<PendingSubmit>();
    describe(request, *pending);
    pending->request = std::move(request);
    // The tokenizer thread only reads the prompt; nothing here touches `pending` until `done` runs.
    const Tokenizer* tokenizer = &m.tokenizer();
    const uint64_t ticket = m_promptTokenizer.tokenize(
        [tokenizer, pending] { return promptTokensOf(*tokenizer, pending->session); },
        [this, sessionId, shared, pending](std::vector<int32_t> tokens) {
            // runs on: the main thread
            tokenized(sessionId, std::move(*pending), shared, std::move(tokens));
        });
    if (quoteOnly)
        return 0;
    m_tokenizing[sessionId] = ticket;
    return sessionId;
}

void Admission::tokenized(uint64_t sessionId, PendingSubmit pending, std::shared_ptr<SubmitCallbacks> shared,
                          std::vector<int32_t> tokens) {
    m_tokenizing.erase(sessionId);
    SubmitRequest& request = pending.request;
    const bool quoteOnly = request.quoteOnly;
    const GatewayModel* m = model(request.model);     // models are loaded once at start
    pending.session.promptTokens = std::move(tokens); // once: the session reuses them
    std::optional<SubmitRefused> refused =
        m ? fitToContext(request, *m, pending)
          : SubmitRefused{SubmitRefusal::UnknownModel, "model '" + request.model + "' is not served here",
                          "model"};
    if (refused) {
        if (!quoteOnly)
            m_sessionOwner.erase(sessionId);
        if (shared->decided)
            shared->decided(std::move(*refused));
        return;
    }
    // Price: the worst case (prompt + max tokens) is held before anything runs; nothing is charged if the
    // hold fails. A request that cannot run is refused for its real reason before any price is quoted.
    const uint64_t requestId = request.requestId;
    const std::string account = request.account;
    const std::string holdKey = m_billing.enabled() && !quoteOnly
                                    ? account + "/" + request.connectionId + "/" + std::to_string(requestId) +
                                          "/" + std::to_string(m_rng())
                                    : std::string();
    const std::string keyId = request.keyId;
    const uint32_t maxTokens = request.maxTokens;
    const int64_t promptTokens = pending.promptTokens;
    const double priceMultiplier = pending.priceMultiplier;
    // Billing's callbacks never outlive it, and it outlives this Admission's owner's sessions.
    const uint64_t ticket = m_billing.admit(
        account, holdKey, keyId, m->parameterCount(), promptTokens, maxTokens, priceMultiplier, quoteOnly,
        [this, sessionId, shared,
         pending = std::make_shared<PendingSubmit>(std::move(pending))](Billing::Decision decision) {
            admissionDecided(sessionId, std::move(*pending), shared, decision);
        });
    if (ticket != 0 && !quoteOnly)
        m_admitting[sessionId] = ticket;
}

void Admission::admissionDecided(uint64_t sessionId, PendingSubmit pending,
                                 std::shared_ptr<SubmitCallbacks> shared, const Billing::Decision& decision) {
    m_admitting.erase(sessionId);
    SubmitRequest& request = pending.request;
    const uint64_t requestId = request.requestId;
    auto refuse = [this, &shared, sessionId, quoteOnly = request.quoteOnly](SubmitRefused refused) {
        if (!quoteOnly)
            m_sessionOwner.erase(sessionId);
        if (shared->decided)
            shared->decided(std::move(refused));
    };
    if (const auto* refused = std::get_if<Billing::Refused>(&decision))
        return refuse(refusalOf(*refused));
    const Billing::Admission& admission = std::get<Billing::Admission>(decision);
    SubmitAccepted accepted;
    accepted.promptTokens = pending.promptTokens;
    accepted.maxTokens = request.maxTokens;
    accepted.quoteMicrocredits = admission.quoteMicrocredits;
    accepted.balanceMicrocredits = admission.balanceMicrocredits;
    if (request.quoteOnly) {
        if (shared->decided)
            shared->decided(accepted);
        return;
    }
    const std::string holdId = admission.holdId;
    accepted.holdId = holdId;
    GatewayModel* m = model(request.model);
    if (!m) { // models are loaded once at start; defensive
        m_billing.release(holdId, requestId);
        return refuse(SubmitRefused{SubmitRefusal::UnknownModel,
                                    "model '" + request.model + "' is not served here", "model"});
    }
    // After the credit checks, so a caller learns about its balance before about the swarm's state.
    if (request.refuseWithoutCapacity && !m_hooks.covered(request.model)) {
        m_billing.release(holdId, requestId);
        return refuse(SubmitRefused{
            SubmitRefusal::NoCapacity,
            "no capacity for model '" + request.model + "': the " + std::to_string(m_hooks.connectedNodes()) +
                " connected node(s) do not yet serve layers " + std::to_string(m->nodeLayers().begin) + "-" +
                std::to_string(m->nodeLayers().end) + "; retry when nodes have joined or loaded them",
            {}});
    }
    GenerationSession::Sinks sinks = sinksFor(sessionId, pending, m->parameterCount(), shared);
    pending.session.maxTokens = request.maxTokens;
    auto session = m_hooks.makeSession(sessionId, *m, std::move(pending.session), std::move(sinks));
    const QueuedRequest queued =
        queuedOf(sessionId, request, pending.promptTokens, accepted.balanceMicrocredits);
    if (!m_scheduler.enqueue(queued, QDateTime::currentMSecsSinceEpoch())) {
        // Nothing ran: the hold goes back whole.
        m_billing.release(holdId, requestId);
        return refuse(SubmitRefused{
            SubmitRefusal::RateLimited, "the gateway is overloaded: too many requests are waiting", {}});
    }
    m_billing.attach(sessionId, holdId);
    m_waiting[sessionId] = Waiting{std::move(session), holdId};
    accepted.sessionId = sessionId;
    // Decided before it starts: the caller knows the session before any of its tokens.
    if (shared->decided)
        shared->decided(accepted);
    startQueued();
}

GenerationSession::Sinks Admission::sinksFor(uint64_t sessionId, const PendingSubmit& pending,
                                             int64_t modelParams, std::shared_ptr<SubmitCallbacks> shared) {
    const uint64_t requestId = pending.request.requestId;
    const std::string account = pending.request.account;
    const double priceMultiplier = pending.priceMultiplier;
    auto report = [this, shared, modelName = pending.request.model](const SubmitEnd& end) {
        if (shared->ended)
            shared->ended(end);
        if (m_sessionEndObserver)
            m_sessionEndObserver(modelName, end);
    };
    GenerationSession::Sinks sinks;
    sinks.token = [shared](int32_t id, const std::string& text) {
        if (shared->token)
            shared->token(id, text);
    };
    // `ended` reports after the ledger settled the hold, with its cost and the balance after it (Billing's
    // callbacks never outlive it; they run on the gateway thread).
    auto settleThenReport = [this, report, requestId, sessionId, modelParams, priceMultiplier,
                             account](RequestEnd how, const SessionStats& stats, SubmitEnd end) {
        m_billing.settle(sessionId, account, modelParams, how, stats, requestId, priceMultiplier,
                         m_unpaidNodes, [report, end](std::optional<Billing::Settlement> settled) mutable {
                             if (settled) {
                                 end.costMicrocredits = settled->costMicrocredits;
                                 end.balanceMicrocredits = settled->balanceMicrocredits;
                             }
                             report(end);
                         });
    };
    sinks.finished = [this, settleThenReport](const std::string& reason, const std::string& tail,
                                              const SessionStats& stats) {
        ++m_stats.sessionsCompleted;
        m_stats.hiddenBytesSent += stats.hiddenBytesSent;
        m_stats.stageHops += stats.hops;
        m_stats.tokensGenerated += stats.generatedTokens;
        SubmitEnd end;
        end.reason = reason;
        end.tail = tail;
        end.stats = stats;
        settleThenReport(RequestEnd::Completed, stats, std::move(end));
    };
    sinks.failed = [this, settleThenReport, requestId](const std::string& reason, const SessionStats& stats) {
        ++m_stats.sessionsFailed;
        qWarning("request %llu failed: %s", static_cast<unsigned long long>(requestId), reason.c_str());
        SubmitEnd end;
        end.failed = true;
        end.reason = reason;
        end.stats = stats;
        // What the client received is charged and the nodes are paid for it, whoever ended the request.
        settleThenReport(stats.cancelled ? RequestEnd::ClientLeft : RequestEnd::Failed, stats,
                         std::move(end));
    };
    return sinks;
}

void Admission::cancel(uint64_t sessionId, const QString& reason) {
    // Before it is queued, nothing has run and no callback runs: it only leaves the in-flight limits.
    auto abandoned = [&](const char* when) {
        qInfo("request of session %llu abandoned %s: %s", static_cast<unsigned long long>(sessionId), when,
              qPrintable(reason));
        m_sessionOwner.erase(sessionId);
    };
    if (auto t = m_tokenizing.find(sessionId); t != m_tokenizing.end()) {
        m_promptTokenizer.cancel(t->second); // nothing was priced or held yet
        m_tokenizing.erase(t);
        return abandoned("while its prompt was tokenized");
    }
    if (auto a = m_admitting.find(sessionId); a != m_admitting.end()) {
        m_billing.abandon(a->second); // Billing releases the hold when it lands
        m_admitting.erase(a);
        return abandoned("before its hold landed");
    }
    if (auto w = m_waiting.find(sessionId); w != m_waiting.end() && w->second.session) {
        m_scheduler.remove(sessionId);
        w->second.session->cancel(reason);
    }
}

void Admission::sessionEnded(uint64_t sessionId) {
    m_waiting.erase(sessionId);
    m_sessionOwner.erase(sessionId);
    startQueued();
}

std::vector<uint64_t> Admission::requestsOf(const std::string& connectionId) const {
    std::vector<uint64_t> owned;
    for (const auto& [sid, owner] : m_sessionOwner)
        if (owner.connectionId == connectionId)
            owned.push_back(sid);
    return owned;
}

std::string Admission::tooManyRequests(const std::string& connectionId, const std::string& account) const {
    int onConnection = 0;
    int onAccount = 0;
    for (const auto& [sid, owner] : m_sessionOwner) {
        if (owner.connectionId == connectionId)
            ++onConnection;
        if (!account.empty() && owner.account == account)
            ++onAccount;
    }
    if (onConnection >= m_config.maxRequestsPerConnection)
        return "too many requests in flight on this connection (limit " +
               std::to_string(m_config.maxRequestsPerConnection) + "): wait for one to finish";
    if (!account.empty() && onAccount >= m_config.maxRequestsPerAccount)
        return "too many requests in flight for account '" + account + "' (limit " +
               std::to_string(m_config.maxRequestsPerAccount) + "): wait for one to finish";
    return {};
}

std::optional<size_t> Admission::queuePosition(const std::string& holdId) {
    if (holdId.empty())
        return std::nullopt;
    for (const auto& [sessionId, waiting] : m_waiting) // bounded by the queue's capacity
        if (waiting.holdId == holdId && waiting.session)
            return m_scheduler.position(sessionId, QDateTime::currentMSecsSinceEpoch());
    return std::nullopt;
}

void Admission::startQueued() {
    while (true) {
        auto next =
            m_scheduler.next(static_cast<int>(m_hooks.running()), QDateTime::currentMSecsSinceEpoch());
        if (!next)
            return;
        auto it = m_waiting.find(next->id);
        if (it == m_waiting.end())
            continue; // cancelled while waiting
        std::unique_ptr<GenerationSession> session = std::move(it->second.session);
        m_waiting.erase(it);
        m_hooks.start(std::move(session));
    }
}

} // namespace declai::server
