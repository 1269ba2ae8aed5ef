// The server's wiring: the connected nodes (NodeRegistry), admission of requests (Admission, with Billing),
// placement of layer ranges on nodes (re-placed when nodes come, go or drain), the running generation
// sessions and the routing of node answers to them, and sampled verification of those answers (Verifier).
// Threading: main thread only.
#pragma once

#include "declai/core/WireCodec.h"
#include "declai/gpu/ThreadPool.h"
#include "declai/server/Admission.h"
#include "declai/server/Billing.h"
#include "declai/server/ClientConnections.h"
#include "declai/server/GatewayCompute.h"
#include "declai/server/GatewayModel.h"
#include "declai/server/GenerationSession.h"
#include "declai/server/Links.h"
#include "declai/server/ModelStore.h"
#include "declai/server/NodeRegistry.h"
#include "declai/server/NodeReputation.h"
#include "declai/server/OrchestratorStats.h"
#include "declai/server/Placement.h"
#include "declai/server/PriorityScheduler.h"
#include "declai/server/ReputationStore.h"
#include "declai/server/ServerConfig.h"
#include "declai/server/ShardAssignments.h"
#include "declai/server/StageDispatcher.h"
#include "declai/server/StageOutbox.h"
#include "declai/server/StatusApi.h"
#include "declai/server/Verifier.h"

#include <QObject>
#include <QTimer>
#include <map>
#include <memory>

namespace declai::server {

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
    Expected<void> admitNode(const std::string& nodeId, const QString& peerAddress) {
        return m_registry.admitNode(nodeId, peerAddress);
    }
    void addNode(std::unique_ptr<NodeLink> node) { m_registry.addNode(std::move(node)); }
    void addClient(std::unique_ptr<ClientLink> client);

    size_t nodeCount() const { return m_registry.nodeCount(); }
    size_t clientCount() const { return m_clients.count(); }
    size_t activeSessionCount() const { return m_sessions.size(); }
    const OrchestratorStats& stats() const { return m_stats; }
    std::vector<const NodeLink*> nodes() const { return m_registry.nodes(); }
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

    // See SubmitRequest. Never waits for the tokenizer or the ledger: the request is checked here, its
    // prompt is tokenized on the tokenizer thread (PromptTokenizer), then its hold is queued, and
    // callbacks.decided reports whether it was refused (nothing held, nothing charged, no other callback
    // runs) or accepted: queued, with `token` and `ended` reporting its tokens and its end. Returns the id it
    // runs under (SubmitAccepted::sessionId), known before the decision so that the caller can cancel() a
    // request whose client left meanwhile; 0 for a request refused inside this call and for quotes.
    uint64_t submit(SubmitRequest request, SubmitCallbacks callbacks) {
        return m_admission.submit(std::move(request), std::move(callbacks));
    }
    // Ends a request now (the client left). Accepted: nodes stop, only what was produced is charged, and
    // `ended` runs with failed=true and stats.cancelled (after settlement). Still being tokenized or waiting
    // for its hold: no callback runs, and a hold is released whole when it lands. Unknown or finished ids are
    // ignored.
    void cancel(uint64_t sessionId, const QString& reason);
    // Requests (and quotes) the ledger is still admitting, also those whose client left meanwhile (metrics).
    size_t admissionsInFlight() const { return m_billing.admissionsInFlight(); }
    // 0-based place in the admission queue of the queued request holding `holdId` (the order the scheduler
    // would start them now); nullopt when it is not queued (running, finished or unknown).
    std::optional<size_t> queuePosition(const std::string& holdId) {
        return m_admission.queuePosition(holdId);
    }
    size_t queuedCount(Priority p) const { return m_admission.queuedCount(p); }
    size_t queuedCount() const { return m_admission.queuedCount(); }
    // Stage requests held by nodes / waiting at the gateway for a node's slot (metrics).
    const StageDispatcher& stageDispatcher() const { return m_stageDispatcher; }
    // StageBatch frames sent and the requests they carried (metrics: the mean batch a node is sent).
    const StageOutbox& stageOutbox() const { return m_stageOutbox; }
    // Every request's end, after its callbacks (for metrics); gateway thread.
    void setSessionEndObserver(std::function<void(const std::string& model, const SubmitEnd&)> observer) {
        m_admission.setSessionEndObserver(std::move(observer));
    }
    std::vector<std::string> modelNames() const;
    const NodeReputation& reputation() const { return m_reputation; }
    const Billing& billing() const { return m_billing; }

Q_SIGNALS:
    void nodesChanged();
    void nodeQuarantined(const QString& nodeId, const QString& reason);

private:
    void onVerification(const VerificationResult& result);
    NodeRegistry::Events registryEvents();
    Admission::Hooks admissionHooks();
    ClientConnections::Hooks clientHooks();
    void nodeLeaving(const std::string& nodeId, const QString& reason);
    // One signed answer (alone or from a batch): to the session that waits for it, else counted as stray.
    void deliverStageResponse(NodeLink& node, const wire::StageResponse& response);
    std::unique_ptr<GenerationSession> makeSession(uint64_t sessionId, GatewayModel& model,
                                                   SessionRequest request, GenerationSession::Sinks sinks);
    GatewayModel* model(const std::string& name);
    NodeLink* nodeLink(const std::string& nodeId) { return m_registry.nodeLink(nodeId); }

    const ServerConfig& m_config;
    ModelStore& m_store;
    GatewayCompute m_gatewayCompute; // before the sessions: they end their gateway caches when destroyed
    std::map<std::string, std::unique_ptr<GatewayModel>> m_models;
    OrchestratorStats m_stats;
    NodeReputation m_reputation; // by node id, so it survives reconnects
    Billing m_billing;           // holds of running requests, charges, refunds of voided work
    NodeRegistry m_registry;
    ShardAssignments m_assignments; // placement: which node loads which layers
    ClientConnections m_clients;    // before Admission: its requests' callbacks look clients up
    std::map<uint64_t, std::unique_ptr<GenerationSession>> m_sessions; // running
    // Each node shared fairly between accounts; up to 8 requests per node so that nodes batch them.
    StageDispatcher m_stageDispatcher{2, 8};
    StageOutbox m_stageOutbox{[this](const std::string& nodeId) { return nodeLink(nodeId); }};
    QTimer m_rebalanceTimer;
    Verifier m_verifier;
    Admission m_admission; // after the registry and Billing it uses; its queued sessions go before them
    uint64_t m_nextJobId = 1;
    QTimer m_assignmentTimer;
    ReputationStore m_reputationStore; // after m_reputation: saves it once more when destroyed
    StatusApi m_statusApi{StatusApi::Sources{m_registry.links(), m_models, m_sessions, m_stats, m_reputation,
                                             m_stageOutbox, m_verifier}};
};

} // namespace declai::server
