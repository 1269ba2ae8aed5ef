// The server's brain: keeps the registry of authenticated nodes and clients, places layer ranges on
// nodes (and re-places them when nodes come, go or drain), runs generation sessions and routes node
// answers to them, verifying every signed stage answer. Threading: main thread only.
#pragma once

#include "declai/core/WireCodec.h"
#include "declai/gpu/ThreadPool.h"
#include "declai/server/Billing.h"
#include "declai/server/GatewayCompute.h"
#include "declai/server/GatewayModel.h"
#include "declai/server/GenerationSession.h"
#include "declai/server/Links.h"
#include "declai/server/ModelStore.h"
#include "declai/server/NodeJoinLimiter.h"
#include "declai/server/NodeReputation.h"
#include "declai/server/OrchestratorStats.h"
#include "declai/server/Placement.h"
#include "declai/server/PriorityScheduler.h"
#include "declai/server/ReputationStore.h"
#include "declai/server/ServerConfig.h"
#include "declai/server/ShardProofs.h"
#include "declai/server/StageDispatcher.h"
#include "declai/server/StageOutbox.h"
#include "declai/server/StatusApi.h"
#include "declai/server/Verifier.h"

#include <QObject>
#include <QTimer>
#include <map>
#include <memory>
#include <random>
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
    // callback runs). Inside submit() when no ledger work is needed (a request refused before pricing,
    // credits off), else later, when the ledger has placed or refused the hold; the gateway thread keeps
    // serving meanwhile. Never after cancel() of a request still waiting for it.
    std::function<void(const SubmitDecision& decision)> decided;
    // From inside the session.
    std::function<void(int32_t id, const std::string& text)> token;
    // Once per accepted request, after its hold was settled in the ledger (cost and balance are final).
    std::function<void(const SubmitEnd& end)> ended;
};

class Orchestrator : public QObject, public SessionHost {
    Q_OBJECT

public:
    // credits may be null (free service).
    Orchestrator(const ServerConfig& config, ModelStore& store, QString httpBase, CreditService* credits,
                 QObject* parent = nullptr);
    ~Orchestrator() override;

    // Loads the gateway side (embeddings, head, tokenizer) of every model in the store.
    Expected<void> loadModels();

    // Before a node is welcomed: a key with no record costs one join from its address's budget.
    Expected<void> admitNode(const std::string& nodeId, const QString& peerAddress);
    void addNode(std::unique_ptr<NodeLink> node);
    void addClient(std::unique_ptr<ClientLink> client);

    size_t nodeCount() const { return m_nodes.size(); }
    size_t clientCount() const { return m_clients.size(); }
    size_t activeSessionCount() const { return m_sessions.size(); }
    const OrchestratorStats& stats() const { return m_stats; }
    std::vector<const NodeLink*> nodes() const;
    // Serves GET /v1/status: nodes, shards, sessions (for operators, tests and the app).
    QJsonObject statusJson() const { return m_statusApi.json(); }

    // SessionHost
    std::optional<std::vector<ChainStage>> chainFor(const std::string& model,
                                                    const std::set<std::string>& exclude) override;
    std::optional<std::vector<ChainStage>> coverOf(const std::string& model, LayerRange layers,
                                                   const std::set<std::string>& exclude) override;
    bool requestCoverage(const std::string& model, LayerRange layers,
                         const std::set<std::string>& exclude) override;
    bool nodeConnected(const std::string& nodeId) override;
    void sessionJoined(const std::string& nodeId) override;
    void sessionLeft(const std::string& nodeId, uint64_t sessionId) override;
    void sessionFinished(GenerationSession* session) override;
    void sessionWork(const std::string& model, const std::vector<StageWork>& stages) override;
    int answerTimeoutMs(const std::string& nodeId, int stageTimeoutMs) override;
    void stageFailed(const std::string& nodeId, StageFault fault, const QString& reason) override;
    void stageAnswered(const std::string& nodeId, const StageAnswer& answer) override;
    void queueStage(const std::string& nodeId, const std::string& account, uint64_t sessionId,
                    std::function<void()> send) override;
    void stageSettled(const std::string& nodeId, uint64_t sessionId) override;
    void sendStage(const std::string& nodeId, wire::StageRequest request) override;
    Verifier& verifier() { return m_verifier; }

    // See SubmitRequest. Never waits for the ledger: the request is checked here, its hold is queued, and
    // callbacks.decided reports whether it was refused (nothing held, nothing charged, no other callback
    // runs) or accepted: queued, with `token` and `ended` reporting its tokens and its end. Returns the id it
    // runs under (SubmitAccepted::sessionId), known before the decision so that the caller can cancel() a
    // request whose client left while the ledger works; 0 when it was decided inside this call and is not
    // running (refused, or a quote).
    uint64_t submit(SubmitRequest request, SubmitCallbacks callbacks);
    // Ends a request now (the client left). Accepted: nodes stop, only what was produced is charged, and
    // `ended` runs with failed=true and stats.cancelled (after settlement). Still waiting for its hold: no
    // callback runs, and the hold is released whole when it lands. Unknown or finished ids are ignored.
    void cancel(uint64_t sessionId, const QString& reason);
    // Requests (and quotes) the ledger is still admitting, also those whose client left meanwhile (metrics).
    size_t admissionsInFlight() const { return m_billing.admissionsInFlight(); }
    // 0-based place in the admission queue of the queued request holding `holdId` (the order the scheduler
    // would start them now); nullopt when it is not queued (running, finished or unknown).
    std::optional<size_t> queuePosition(const std::string& holdId);
    size_t queuedCount(Priority p) const { return m_scheduler.size(p); }
    size_t queuedCount() const { return m_scheduler.size(); }
    // Stage requests held by nodes / waiting at the gateway for a node's slot (metrics).
    const StageDispatcher& stageDispatcher() const { return m_stageDispatcher; }
    // StageBatch frames sent and the requests they carried (metrics: the mean batch a node is sent).
    const StageOutbox& stageOutbox() const { return m_stageOutbox; }
    // Every request's end, after its callbacks (for metrics); gateway thread.
    void setSessionEndObserver(std::function<void(const std::string& model, const SubmitEnd&)> observer) {
        m_sessionEndObserver = std::move(observer);
    }
    std::vector<std::string> modelNames() const;
    const NodeReputation& reputation() const { return m_reputation; }
    const Billing& billing() const { return m_billing; }

Q_SIGNALS:
    void nodesChanged();
    void nodeQuarantined(const QString& nodeId, const QString& reason);

private:
    void onVerification(const VerificationResult& result);
    void quarantine(const std::string& nodeId, const QString& reason);
    void expireAssignments(); // withdraws assignments not confirmed ready in time
    void onNodeEnvelope(NodeLink* node, const wire::Envelope& envelope);
    void onNodeClosed(const std::string& nodeId, const QString& reason);
    void onClientEnvelope(ClientLink* client, const wire::Envelope& envelope);
    void onClientClosed(const std::string& clientId);
    void handleSubmit(ClientLink* client, const wire::Submit& submit);
    void startQueued();
    // What submit() checked and prepared, carried to the ledger's decision.
    struct PendingSubmit {
        SubmitRequest request; // prompt and markup moved into `session`
        SessionRequest session;
        int64_t promptTokens = 0;
        double priceMultiplier = 1.0;
    };
    // The ledger decided a submitted request (gateway thread): queue it, or refuse it.
    void admissionDecided(uint64_t sessionId, PendingSubmit pending,
                          std::shared_ptr<SubmitCallbacks> callbacks, const Billing::Decision& decision);
    // A StageResponse or a StageBatchResponse: the signature checked, then each answer delivered.
    void handleStageAnswers(NodeLink* node, const wire::Envelope& envelope);
    // One signed answer (alone or from a batch): to the session that waits for it, else counted as stray.
    void deliverStageResponse(NodeLink& node, const wire::StageResponse& response);
    // Signed node messages: the signature must verify on this connection and the seq must be new; else
    // the node is refused and closed, and this returns false.
    bool acceptSigned(NodeLink* node, const wire::Envelope& envelope, const char* what);
    // Possession proofs (ShardProofs): a claimed or loaded shard is routed to only once proven.
    void challengeShard(NodeLink& node, const std::string& model, LayerRange layers);
    void handleShardProof(NodeLink* node, const wire::Envelope& envelope);
    void shardProven(NodeLink& node, const std::string& model, LayerRange layers);
    void rebalance();
    void assign(NodeLink& node, const GatewayModel& model, LayerRange layers);
    std::vector<NodeShards> shardsOf(const std::string& model) const;
    GatewayModel* model(const std::string& name);
    NodeLink* nodeLink(const std::string& nodeId); // null when not connected

    const ServerConfig& m_config;
    ModelStore& m_store;
    QString m_httpBase;
    GatewayCompute m_gatewayCompute; // before the sessions: they end their gateway caches when destroyed
    ShardProofs m_shardProofs;
    std::map<std::string, std::unique_ptr<GatewayModel>> m_models;
    std::map<std::string, std::unique_ptr<NodeLink>> m_nodes;
    // Empty when the client may submit; else the reason (per-connection and per-account limits).
    std::string tooManyRequests(const std::string& connectionId, const std::string& account) const;

    std::map<std::string, std::unique_ptr<ClientLink>> m_clients;
    std::map<uint64_t, std::unique_ptr<GenerationSession>> m_sessions;
    // Each node shared fairly between accounts; up to 8 requests per node so that nodes batch them.
    StageDispatcher m_stageDispatcher{2, 8};
    StageOutbox m_stageOutbox{[this](const std::string& nodeId) { return nodeLink(nodeId); }};
    struct SessionOwner {
        std::string connectionId;
        std::string account;
    };
    std::map<uint64_t, SessionOwner> m_sessionOwner; // running or queued session id -> who submitted it
    std::function<void(const std::string& model, const SubmitEnd&)> m_sessionEndObserver;
    QTimer m_rebalanceTimer;
    uint64_t m_nextAssignmentId = 1;
    std::mt19937_64 m_rng{std::random_device{}()};
    OrchestratorStats m_stats;
    Verifier m_verifier;
    PriorityScheduler m_scheduler;
    struct Waiting {
        std::unique_ptr<GenerationSession> session;
        std::string holdId;
    };
    std::map<uint64_t, Waiting> m_waiting; // queued sessions by session id
    std::map<uint64_t, uint64_t>
        m_admitting; // session id -> Billing ticket, while the ledger places its hold
    QTimer m_queueTimer;
    uint64_t m_nextJobId = 1;
    bool m_placedOnce = false;           // --min-nodes only delays the first placement
    std::set<std::string> m_quarantined; // node ids caught cheating: never routed to again
    NodeReputation m_reputation;         // by node id, so it survives reconnects
    NodeJoinLimiter m_joinLimiter;
    Billing m_billing; // holds of running requests, charges, refunds of voided work
    QTimer m_assignmentTimer;
    ReputationStore m_reputationStore; // after m_reputation: saves it once more when destroyed
    StatusApi m_statusApi{
        StatusApi::Sources{m_nodes, m_models, m_sessions, m_stats, m_reputation, m_stageOutbox, m_verifier}};
};

} // namespace declai::server
