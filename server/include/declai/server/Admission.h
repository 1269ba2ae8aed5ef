// Admission of generation requests: from a SubmitRequest to a session that is queued (PriorityScheduler) or
// started. It checks the request (per-connection and per-account in-flight limits, model, sampler, prompt
// size, context), prices it and has Billing hold its worst case, then builds its session through the owner's
// factory, queues it by priority and hands it to the owner to run when a slot is free. Every accepted request
// is settled through Billing on its end, whatever the end. Threading: main thread only (the gateway thread).
#pragma once

#include "declai/core/Error.h"
#include "declai/server/Billing.h"
#include "declai/server/GatewayModel.h"
#include "declai/server/GenerationSession.h"
#include "declai/server/Links.h"
#include "declai/server/OrchestratorStats.h"
#include "declai/server/PriorityScheduler.h"
#include "declai/server/PromptTokenizer.h"
#include "declai/server/ServerConfig.h"

#include <QTimer>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>

namespace declai::server {

// The one way a generation request enters the swarm: the WebSocket Submit of declai-cli and the HTTP API
// (server/src/api) both go through Orchestrator::submit, so limits, pricing, holds, queueing and charging
// are written once.
struct SubmitRequest {
    std::string account; // the authenticated user ("" when credits are off)
    std::string keyId;   // the API key it came with ("" for none): its spend limit applies
    std::string
        connectionId;       // per-connection in-flight limit (a WebSocket client id, or one per HTTP request)
    uint64_t requestId = 0; // the caller's id, for logs and hold keys
    std::string model;
    std::string prompt; // text; tokenized with BOS on the gateway
    // A rendered chat: control tokens are parsed only in these ranges (SessionRequest::promptMarkup).
    std::optional<std::vector<TextRange>> promptMarkup;
    uint32_t maxTokens = 32;
    // maxTokens was not asked for (an OpenAI request without max_tokens): fewer when the prompt leaves less
    // room in the model's context, instead of a refusal.
    bool fitMaxTokensToContext = false;
    SamplerConfig sampler;
    bool wantTokenIds = false;
    Priority priority = Priority::Normal;
    bool quoteOnly = false; // price it and report; nothing runs, nothing is held
    // Refuse at once (NoCapacity) when no live nodes cover the model now, instead of waiting chainWaitMs for
    // placement (HTTP clients get a 503 with the reason; declai-cli keeps waiting for nodes to load).
    bool refuseWithoutCapacity = false;
};

enum class SubmitRefusal {
    InvalidRequest,      // bad parameters (the message names the field)
    UnknownModel,        // not served here
    InsufficientCredits, // the worst-case hold failed (balance or daily limit)
    RateLimited,         // too many requests in flight on the connection or account, or the queue is full
    NoCapacity,          // no live node covers the model (refuseWithoutCapacity)
    Internal,            // the ledger failed
};

struct SubmitRefused {
    SubmitRefusal kind = SubmitRefusal::Internal;
    std::string message;
    std::string field; // the offending request field, for InvalidRequest
};

struct SubmitAccepted {
    uint64_t sessionId = 0; // 0 for a quote
    std::string holdId;     // the request's hold in the ledger: its job id for GET /v1/jobs/{id}
    int64_t promptTokens = 0;
    uint32_t maxTokens = 0;          // the most tokens it may produce (after fitting to the context)
    int64_t quoteMicrocredits = 0;   // the worst-case price (what is held); 0 with credits off
    int64_t balanceMicrocredits = 0; // available after the hold
};

// How a submitted request ended (exactly once per accepted, non-quote request).
struct SubmitEnd {
    bool failed = false; // the swarm could not finish it, or it was cancelled (stats.cancelled)
    std::string reason;  // finish reason ("stop", "length") or the failure
    std::string tail;    // text the decoder held back until the end (completed requests)
    SessionStats stats;  // tokens produced, timings
    int64_t costMicrocredits = 0;
    int64_t balanceMicrocredits = 0; // available after settlement (credits on)
};

using SubmitDecision = std::variant<SubmitAccepted, SubmitRefused>;

// Callbacks of a submitted request. runs on: the gateway thread, every one of them.
struct SubmitCallbacks {
    // Once: accepted (queued, or for a quote priced) or refused (nothing held, nothing charged, no other
    // callback runs). Inside submit() for a request refused before its prompt is tokenized (limits, unknown
    // model, bad sampler, oversized prompt), else later: after tokenizing (context checks; credits off) or
    // when the ledger has placed or refused the hold; the gateway thread keeps serving meanwhile. Never after
    // cancel() of a request still waiting for it.
    std::function<void(const SubmitDecision& decision)> decided;
    // From inside the session.
    std::function<void(int32_t id, const std::string& text)> token;
    // Once per accepted request, after its hold was settled in the ledger (cost and balance are final).
    std::function<void(const SubmitEnd& end)> ended;
};

// The WebSocket face of a request: declai-cli's wire::Submit from `client`, or the reason it is refused (an
// unknown priority name).
Expected<SubmitRequest> submitRequestFromWire(const wire::Submit& submit, const ClientLink& client);

class Admission {
public:
    // What admission needs from its owner (the Orchestrator), each called on the main thread.
    struct Hooks {
        // The session of an accepted request, built but not started.
        std::function<std::unique_ptr<GenerationSession>(
            uint64_t sessionId, GatewayModel& model, SessionRequest request, GenerationSession::Sinks sinks)>
            makeSession;
        // The scheduler let it through: it runs now, and the owner keeps it until sessionEnded().
        std::function<void(std::unique_ptr<GenerationSession> session)> start;
        std::function<size_t()> running; // sessions the owner runs now (the scheduler's occupied slots)
        // Whether live nodes cover the model now, and how many are connected (refuseWithoutCapacity).
        std::function<bool(const std::string& model)> covered;
        std::function<size_t()> connectedNodes;
    };

    // models, billing, unpaidNodes (nodes cut off: they earn nothing at settlement) and stats outlive this.
    Admission(const ServerConfig& config, const std::map<std::string, std::unique_ptr<GatewayModel>>& models,
              Billing& billing, const std::set<std::string>& unpaidNodes, OrchestratorStats& stats,
              Hooks hooks);
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;

    // Orchestrator::submit.
    uint64_t submit(SubmitRequest request, SubmitCallbacks callbacks);
    // A request still being tokenized, waiting for its hold or for a slot: see Orchestrator::cancel (running
    // sessions are the owner's). Unknown ids are ignored.
    void cancel(uint64_t sessionId, const QString& reason);
    // A session (started or still queued) called SessionHost::sessionFinished and is gone: its slot and its
    // place in the in-flight limits are free, so the next waiting request may start.
    void sessionEnded(uint64_t sessionId);
    // Starts waiting requests while the scheduler has slots for them (also on a timer: aging moves them up).
    void startQueued();
    // Requests running, queued or waiting for their hold that came over this connection.
    std::vector<uint64_t> requestsOf(const std::string& connectionId) const;
    // Orchestrator::queuePosition.
    std::optional<size_t> queuePosition(const std::string& holdId);
    size_t queuedCount(Priority p) const { return m_scheduler.size(p); }
    size_t queuedCount() const { return m_scheduler.size(); }
    // Every request's end, after its callbacks (for metrics).
    void setSessionEndObserver(std::function<void(const std::string& model, const SubmitEnd&)> observer) {
        m_sessionEndObserver = std::move(observer);
    }

private:
    // What submit() checked and prepared, carried to the ledger's decision.
    struct PendingSubmit {
        SubmitRequest request; // prompt and markup moved into `session`
        SessionRequest session;
        int64_t promptTokens = 0;
        double priceMultiplier = 1.0;
    };
    // Empty when the client may submit; else the reason (per-connection and per-account limits).
    std::string tooManyRequests(const std::string& connectionId, const std::string& account) const;
    // The checks before pricing: the refusal, or nothing when the request may be priced.
    std::optional<SubmitRefused> check(const SubmitRequest& request) const;
    // The session's request and price multiplier; moves the prompt out of `request`.
    void describe(SubmitRequest& request, PendingSubmit& pending) const;
    // With the prompt tokenized: fits and checks max tokens against the context.
    std::optional<SubmitRefused> fitToContext(SubmitRequest& request, const GatewayModel& model,
                                              PendingSubmit& pending) const;
    // The tokenizer thread has the prompt's tokens (main thread): refuse it, or ask the ledger for its hold.
    void tokenized(uint64_t sessionId, PendingSubmit pending, std::shared_ptr<SubmitCallbacks> callbacks,
                   std::vector<int32_t> tokens);
    // The ledger decided a submitted request (gateway thread): queue it, or refuse it.
    void admissionDecided(uint64_t sessionId, PendingSubmit pending,
                          std::shared_ptr<SubmitCallbacks> callbacks, const Billing::Decision& decision);
    // Tokens to the caller, then on either end the hold settled and `ended` reported with its cost.
    GenerationSession::Sinks sinksFor(uint64_t sessionId, const PendingSubmit& pending, int64_t modelParams,
                                      std::shared_ptr<SubmitCallbacks> callbacks);
    uint64_t newSessionId();
    GatewayModel* model(const std::string& name) const;

    const ServerConfig& m_config;
    const std::map<std::string, std::unique_ptr<GatewayModel>>& m_models;
    Billing& m_billing;
    const std::set<std::string>& m_unpaidNodes;
    OrchestratorStats& m_stats;
    Hooks m_hooks;
    std::mt19937_64 m_rng{std::random_device{}()};
    PriorityScheduler m_scheduler;
    struct SessionOwner {
        std::string connectionId;
        std::string account;
    };
    // Running, queued or admitting session id -> who submitted it. A started session keeps its entry until
    // sessionEnded(), so this also knows every id the owner runs.
    std::map<uint64_t, SessionOwner> m_sessionOwner;
    struct Waiting {
        std::unique_ptr<GenerationSession> session;
        std::string holdId;
    };
    std::map<uint64_t, Waiting> m_waiting; // queued sessions by session id
    std::map<uint64_t, uint64_t>
        m_admitting; // session id -> Billing ticket, while the ledger places its hold
    std::map<uint64_t, uint64_t> m_tokenizing; // session id -> PromptTokenizer ticket, while it tokenizes
    std::function<void(const std::string& model, const SubmitEnd&)> m_sessionEndObserver;
    QTimer m_queueTimer;
    // Last, so destroyed first: its thread stops, and no result is delivered, before the rest goes.
    PromptTokenizer m_promptTokenizer;
};

} // namespace declai::server
