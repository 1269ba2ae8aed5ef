#include "declai/server/Orchestrator.h"

#include "declai/server/CreditService.h"

#include <QDateTime>
#include <QDir>

namespace declai::server {

Orchestrator::Orchestrator(const ServerConfig& config, ModelStore& store, QString httpBase,
                           CreditService* credits, QObject* parent)
    : QObject(parent), m_config(config), m_store(store), m_gatewayCompute(config.threads),
      m_reputation([&config] {
          ReputationPolicy p = config.reputation;
          if (config.verification.initialRate <= 0)
              p.probationChecks = 0; // verification is off: probation ends on answers and age alone
          return p;
      }()),
      // Refunds reach back at least 10 minutes even when earnings are released sooner.
      m_billing(credits, std::max<int64_t>(config.credits.verificationWindowMs, 600000)),
      m_registry(config, store, m_models, m_reputation, m_stats, registryEvents()),
      m_assignments(config, m_models, m_registry, m_reputation, std::move(httpBase)),
      m_clients(clientHooks()), m_verifier(config.verification, 1, std::random_device{}()),
      m_admission(config, m_models, m_billing, m_registry.quarantined(), m_stats, admissionHooks()),
      m_reputationStore(QDir(config.dataDir).filePath(QStringLiteral("node-reputation.json")), m_reputation) {
    if (auto loaded = m_reputationStore.load(); !loaded)
        qWarning("node reputation starts empty: %s", loaded.error().message.c_str());
    m_registry.restoreQuarantine();
    connect(&m_verifier, &Verifier::finished, this, &Orchestrator::onVerification);
    // Placement runs a moment after the last change, so a burst of joins is placed once.
    m_rebalanceTimer.setSingleShot(true);
    m_rebalanceTimer.setInterval(300);
    connect(&m_rebalanceTimer, &QTimer::timeout, this, [this] { m_assignments.rebalance(); });
    connect(&m_assignmentTimer, &QTimer::timeout, this, [this] { m_assignments.expireAssignments(); });
    m_assignmentTimer.start(
        std::clamp<int>(static_cast<int>(config.reputation.assignmentDeadlineMs / 4), 100, 5000));
}

Orchestrator::~Orchestrator() {
    m_sessions.clear();
}

NodeRegistry::Events Orchestrator::registryEvents() {
    NodeRegistry::Events events;
    events.joined = [this](NodeLink&) {
        m_rebalanceTimer.start();
        Q_EMIT nodesChanged();
    };
    events.leaving = [this](const std::string& nodeId, const QString& reason) {
        nodeLeaving(nodeId, reason);
    };
    events.left = [this](const std::string&) {
        m_rebalanceTimer.start();
        Q_EMIT nodesChanged();
    };
    events.statusApplied = [this](NodeLink&) {
        // Not a restart: with more than ~30 nodes heartbeating every 10 s a status arrives more often than
        // the 300 ms debounce, and restarting it on each one postponed placement forever (a node joining a
        // busy gateway was never given layers; tests/load/swarm_sim --late-nodes).
        if (!m_rebalanceTimer.isActive())
            m_rebalanceTimer.start();
        for (auto& [sid, session] : m_sessions)
            session->onShardReady(session->modelName());
    };
    events.placementChanged = [this] { m_rebalanceTimer.start(); };
    events.shardProven = [this](const std::string& modelName) {
        m_rebalanceTimer.start();
        std::vector<GenerationSession*> sessions;
        for (auto& [sid, session] : m_sessions)
            sessions.push_back(session.get());
        for (GenerationSession* session : sessions)
            session->onShardReady(modelName);
    };
    events.stageAnswer = [this](NodeLink& node, const wire::StageResponse& response) {
        deliverStageResponse(node, response);
    };
    events.quarantined = [this](const std::string& nodeId, const QString& reason) {
        m_billing.voidNode(nodeId, reason);
        Q_EMIT nodeQuarantined(QString::fromStdString(nodeId), reason);
    };
    return events;
}

Admission::Hooks Orchestrator::admissionHooks() {
    Admission::Hooks hooks;
    hooks.makeSession = [this](uint64_t sessionId, GatewayModel& model, SessionRequest request,
                               GenerationSession::Sinks sinks) {
        return makeSession(sessionId, model, std::move(request), std::move(sinks));
    };
    hooks.start = [this](std::unique_ptr<GenerationSession> session) {
        GenerationSession* raw = session.get();
        m_sessions[raw->sessionId()] = std::move(session);
        ++m_stats.sessionsStarted;
        raw->start();
    };
    hooks.running = [this] { return m_sessions.size(); };
    hooks.covered = [this](const std::string& modelName) { return chainFor(modelName, {}).has_value(); };
    hooks.connectedNodes = [this] { return m_registry.nodeCount(); };
    return hooks;
}

ClientConnections::Hooks Orchestrator::clientHooks() {
    ClientConnections::Hooks hooks;
    hooks.submit = [this](SubmitRequest request, SubmitCallbacks callbacks) {
        return submit(std::move(request), std::move(callbacks));
    };
    hooks.cancel = [this](uint64_t sessionId, const QString& reason) { cancel(sessionId, reason); };
    hooks.requestsOf = [this](const std::string& connectionId) {
        return m_admission.requestsOf(connectionId);
    };
    return hooks;
}

std::unique_ptr<GenerationSession> Orchestrator::makeSession(uint64_t sessionId, GatewayModel& model,
                                                             SessionRequest request,
                                                             GenerationSession::Sinks sinks) {
    const auto encoding = m_config.wireEncoding == QStringLiteral("f16") ? wire::F16 : wire::F32;
    auto session = std::make_unique<GenerationSession>(
        sessionId, *this, model, m_gatewayCompute, std::move(request), std::move(sinks),
        m_config.stageTimeoutMs, m_config.failoverDeadlineMs, m_config.chainWaitMs, encoding);
    session->setPrefillChunkTokens(m_config.prefillChunkTokens);
    return session;
}

void Orchestrator::nodeLeaving(const std::string& nodeId, const QString& reason) {
    m_stageDispatcher.forgetNode(nodeId); // first: the sessions below fail over without sending it more
    // Sessions re-route before the link is destroyed (they may still read its counters).
    std::vector<GenerationSession*> affected;
    for (auto& [sid, session] : m_sessions)
        if (session->usesNode(nodeId))
            affected.push_back(session.get());
    for (GenerationSession* session : affected) {
        ++m_stats.failovers;
        session->onNodeLost(nodeId, reason);
    }
}

Expected<void> Orchestrator::loadModels() {
    for (const auto& entry : m_store.models()) {
        // The digest nodes know the model by is the one of the view they may download.
        auto model = GatewayModel::create(entry->name.toStdString(), entry->manifest.digest, entry->file,
                                          m_config.gatewayLayers);
        if (!model)
            return model.error();
        m_models[entry->name.toStdString()] = std::move(*model);
    }
    return {};
}

GatewayModel* Orchestrator::model(const std::string& name) {
    auto it = m_models.find(name);
    return it == m_models.end() ? nullptr : it->second.get();
}

void Orchestrator::deliverStageResponse(NodeLink& node, const wire::StageResponse& response) {
    auto it = m_sessions.find(response.session_id());
    if (it == m_sessions.end() || !it->second->awaits(node.nodeId, response.step())) {
        // The session ended meanwhile, or the answer is for a session or step this node was not given:
        // dropped, and its self-reported compute time is not counted.
        ++m_stats.strayStageAnswers;
        return;
    }
    m_stats.nodeComputeUs += response.compute_us();
    it->second->onStageResponse(node.nodeId, response);
}

std::optional<std::vector<ChainStage>> Orchestrator::chainFor(const std::string& modelName,
                                                              const std::set<std::string>& exclude) {
    return m_assignments.chainFor(modelName, exclude);
}

std::optional<std::vector<ChainStage>> Orchestrator::coverOf(const std::string& modelName, LayerRange layers,
                                                             const std::set<std::string>& exclude) {
    return m_assignments.coverOf(modelName, layers, exclude);
}

bool Orchestrator::requestCoverage(const std::string& modelName, LayerRange layers,
                                   const std::set<std::string>& exclude) {
    return m_assignments.requestCoverage(modelName, layers, exclude);
}

void Orchestrator::sessionWork(const std::string& modelName, const std::vector<StageWork>& stages) {
    GatewayModel* m = model(modelName);
    if (!m || m_config.verification.initialRate <= 0)
        return;
    for (const StageWork& w : stages) {
        // A node on probation has every session checked; then the verifier's falling rate applies.
        if (!m_reputation.onProbation(w.nodeId) && !m_verifier.shouldCheck(w.nodeId))
            continue;
        if (m_verifier.pendingJobs() >=
            static_cast<uint64_t>(std::max(0, m_config.verification.maxQueuedChecks))) {
            ++m_stats.verificationsSkipped;
            continue;
        }
        auto job = std::make_shared<VerificationJob>();
        job->jobId = m_nextJobId++;
        job->nodeId = w.nodeId;
        job->weights = m->sharedWeights();
        job->layers = w.layers;
        job->history = *w.history;
        job->rows = w.historyRows;
        job->promptTokens = w.promptTokens;
        job->promptChunkTokens = w.promptChunkTokens;
        job->claimed = *w.outputs;
        job->claimedPositions = *w.outputPositions;
        m_verifier.submit(std::move(job));
    }
}

void Orchestrator::onVerification(const VerificationResult& result) {
    if (!result.error.empty()) {
        qWarning("verification of node %.12s could not run: %s", result.nodeId.c_str(), result.error.c_str());
        return;
    }
    if (result.valid)
        ++m_stats.verificationsPassed;
    else
        ++m_stats.verificationsFailed;
    m_reputation.verified(result.nodeId, result.valid);
    const bool cheater = m_verifier.record(result);
    if (!result.valid && m_registry.isQuarantined(result.nodeId))
        m_billing.refundVoidedRequests(result.nodeId); // caught before (e.g. a NaN answer); void too
    if (cheater && !m_registry.isQuarantined(result.nodeId))
        m_registry.quarantine(result.nodeId,
                              QStringLiteral("stage output failed verification (cosine %1, error %2)")
                                  .arg(result.cosine, 0, 'f', 6)
                                  .arg(result.normalizedError, 0, 'g', 3));
}

int Orchestrator::answerTimeoutMs(const std::string& nodeId, int stageTimeoutMs) {
    return m_reputation.answerTimeoutMs(nodeId, stageTimeoutMs);
}

void Orchestrator::stageAnswered(const std::string& nodeId, const StageAnswer& answer) {
    m_reputation.answered(nodeId);
    if (NodeLink* node = nodeLink(nodeId)) {
        node->recordStageTiming(answer.layerTokensComputed, answer.roundTripUs);
        ++node->stagesServed;
        node->layerTokensComputed += answer.layerTokensOfStep;
    }
}

bool Orchestrator::nodeConnected(const std::string& nodeId) {
    const NodeLink* node = nodeLink(nodeId);
    return node && node->channel && node->channel->isOpen();
}

void Orchestrator::sessionJoined(const std::string& nodeId) {
    if (NodeLink* node = nodeLink(nodeId))
        ++node->activeSessions;
}

void Orchestrator::sessionLeft(const std::string& nodeId, uint64_t sessionId) {
    NodeLink* node = nodeLink(nodeId);
    if (!node)
        return;
    if (node->activeSessions > 0)
        --node->activeSessions;
    if (node->channel && node->channel->isOpen()) {
        wire::EndSession end;
        end.set_session_id(sessionId);
        node->channel->send(wire::END_SESSION, end);
    }
}

void Orchestrator::stageFailed(const std::string& nodeId, StageFault fault, const QString& reason) {
    switch (fault) {
    case StageFault::Timeout:
    case StageFault::NodeError:
        // Left out of new chains and placement for a backoff that doubles while it keeps failing.
        if (fault == StageFault::Timeout)
            m_reputation.timedOut(nodeId);
        else
            m_reputation.reportedError(nodeId);
        m_rebalanceTimer.start(); // its layers may need another home meanwhile
        return;
    case StageFault::InvalidAnswer:
        // Nothing honest produces NaN, Inf or the wrong shape: cut off now, not after the session.
        if (!m_registry.isQuarantined(nodeId))
            m_registry.quarantine(nodeId, QStringLiteral("invalid stage answer: %1").arg(reason));
        return;
    case StageFault::Lost:
        return; // a dropped connection alone is no misbehaviour (crashes, network); it costs no backoff
    }
}

void Orchestrator::addClient(std::unique_ptr<ClientLink> client) {
    m_clients.add(std::move(client));
}

void Orchestrator::cancel(uint64_t sessionId, const QString& reason) {
    if (auto s = m_sessions.find(sessionId); s != m_sessions.end())
        return s->second->cancel(reason);
    m_admission.cancel(sessionId, reason); // still waiting for its hold or for a slot
}

std::vector<std::string> Orchestrator::modelNames() const {
    std::vector<std::string> names;
    for (const auto& [name, unused] : m_models)
        names.push_back(name);
    return names;
}

void Orchestrator::queueStage(const std::string& nodeId, const std::string& account, uint64_t sessionId,
                              std::function<void()> send) {
    m_stageDispatcher.submit(nodeId, account, sessionId, std::move(send));
}

void Orchestrator::sendStage(const std::string& nodeId, wire::StageRequest request) {
    m_stageOutbox.send(nodeId, std::move(request));
}

void Orchestrator::stageSettled(const std::string& nodeId, uint64_t sessionId) {
    m_stageDispatcher.settle(nodeId, sessionId);
}

void Orchestrator::sessionFinished(GenerationSession* session) {
    const uint64_t id = session->sessionId();
    m_stageDispatcher.forgetSession(id); // now: nothing it queued may be sent once it has ended
    // Destroyed later: we are inside one of the session's own calls.
    QMetaObject::invokeMethod(
        this,
        [this, id] {
            m_sessions.erase(id);
            m_admission.sessionEnded(id);
        },
        Qt::QueuedConnection);
}

} // namespace declai::server
