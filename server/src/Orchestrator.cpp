#include "declai/server/Orchestrator.h"

#include "declai/server/CreditService.h"

#include <QDateTime>
#include <QDir>

namespace declai::server {

Orchestrator::Orchestrator(const ServerConfig& config, ModelStore& store, QString httpBase,
                           CreditService* credits, QObject* parent)
    : QObject(parent), m_config(config), m_store(store), m_httpBase(std::move(httpBase)),
      m_gatewayCompute(config.threads), m_reputation([&config] {
          ReputationPolicy p = config.reputation;
          if (config.verification.initialRate <= 0)
              p.probationChecks = 0; // verification is off: probation ends on answers and age alone
          return p;
      }()),
      // Refunds reach back at least 10 minutes even when earnings are released sooner.
      m_billing(credits, std::max<int64_t>(config.credits.verificationWindowMs, 600000)),
      m_registry(config, store, m_models, m_reputation, m_stats, registryEvents()), m_clients(clientHooks()),
      m_verifier(config.verification, 1, std::random_device{}()),
      m_admission(config, m_models, m_billing, m_registry.quarantined(), m_stats, admissionHooks()),
      m_reputationStore(QDir(config.dataDir).filePath(QStringLiteral("node-reputation.json")), m_reputation) {
    if (auto loaded = m_reputationStore.load(); !loaded)
        qWarning("node reputation starts empty: %s", loaded.error().message.c_str());
    m_registry.restoreQuarantine();
    connect(&m_verifier, &Verifier::finished, this, &Orchestrator::onVerification);
    // Placement runs a moment after the last change, so a burst of joins is placed once.
    m_rebalanceTimer.setSingleShot(true);
    m_rebalanceTimer.setInterval(300);
    connect(&m_rebalanceTimer, &QTimer::timeout, this, &Orchestrator::rebalance);
    connect(&m_assignmentTimer, &QTimer::timeout, this, &Orchestrator::expireAssignments);
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

std::vector<NodeShards> Orchestrator::shardsOf(const std::string& modelName) const {
    std::vector<NodeShards> out;
    for (const auto& [id, node] : m_registry.links()) {
        if (m_registry.isQuarantined(id) ||
            m_reputation.excluded(id)) // excluded: backing off after a timeout
            continue;
        auto it = node->readyShards.find(modelName);
        if (it == node->readyShards.end() || it->second.empty() || !node->channel->isOpen())
            continue;
        out.push_back(
            NodeShards{id, it->second, node->layerTokensPerS(), node->activeSessions, node->accepting()});
    }
    return out;
}

std::optional<std::vector<ChainStage>> Orchestrator::chainFor(const std::string& modelName,
                                                              const std::set<std::string>& exclude) {
    GatewayModel* m = model(modelName);
    if (!m)
        return std::nullopt;
    // Nodes serve the layers after the gateway's own: the chain starts there.
    return m_reputation.chainFor(m->nodeLayers(), shardsOf(modelName), exclude);
}

std::optional<std::vector<ChainStage>> Orchestrator::coverOf(const std::string& modelName, LayerRange layers,
                                                             const std::set<std::string>& exclude) {
    // Draining nodes may still take over a running session's layers; they only refuse new sessions.
    return coverRange(layers, shardsOf(modelName), exclude, true);
}

bool Orchestrator::requestCoverage(const std::string& modelName, LayerRange layers,
                                   const std::set<std::string>& exclude) {
    GatewayModel* m = model(modelName);
    if (!m)
        return false;
    // Already on its way somewhere?
    for (const auto& [id, node] : m_registry.links()) {
        if (exclude.count(id))
            continue;
        for (const auto& [aid, pending] : node->pendingAssignments)
            if (pending.model == modelName && pending.layers.begin <= layers.begin &&
                pending.layers.end >= layers.end)
                return true;
    }
    // The live node with the most room that has not failed this range before.
    NodeLink* best = nullptr;
    for (const auto& [id, node] : m_registry.links()) {
        if (exclude.count(id) || !node->channel->isOpen() || !node->statusReceived ||
            m_reputation.excluded(id) || m_registry.isQuarantined(id))
            continue;
        if (node->failedAssignments.count(rangeKey(modelName, layers).toStdString()))
            continue;
        if (node->memoryBudgetBytes() < m->bytesPerLayer() * static_cast<uint64_t>(layers.size()))
            continue;
        if (!best || node->memoryBudgetBytes() > best->memoryBudgetBytes())
            best = node.get();
    }
    if (!best)
        return false;
    assign(*best, *m, layers);
    return true;
}

void Orchestrator::assign(NodeLink& node, const GatewayModel& m, LayerRange layers) {
    wire::AssignLayers message;
    const uint64_t id = m_nextAssignmentId++;
    message.set_assignment_id(id);
    message.set_model(m.name());
    message.set_model_digest(m.digest());
    message.set_layer_begin(static_cast<uint32_t>(layers.begin));
    message.set_layer_end(static_cast<uint32_t>(layers.end));
    const QString base = m_httpBase + QStringLiteral("/v1/models/") + QString::fromStdString(m.name());
    message.set_manifest_url(QString(base + QStringLiteral("/manifest")).toStdString());
    message.set_file_url(QString(base + QStringLiteral("/file")).toStdString());
    node.pendingAssignments[id] = PendingAssignment{m.name(), layers, QDateTime::currentMSecsSinceEpoch()};
    qInfo("assigning %s to node %s", qPrintable(rangeKey(m.name(), layers)), qPrintable(node.shortId()));
    node.channel->send(wire::ASSIGN_LAYERS, message);
}

std::vector<int> Orchestrator::layerCoverage(const std::string& modelName, int64_t layerCount) const {
    std::vector<int> coverage(static_cast<size_t>(layerCount), 0);
    for (const auto& [id, node] : m_registry.links()) {
        if (m_registry.isQuarantined(id) || m_reputation.excluded(id))
            continue;
        std::vector<LayerRange> held = node->readyShards[modelName];
        for (const auto& [aid, p] : node->pendingAssignments)
            if (p.model == modelName)
                held.push_back(p.layers);
        std::vector<bool> seen(coverage.size(), false);
        for (const LayerRange& r : held)
            for (int64_t l = r.begin; l < r.end; ++l)
                seen[static_cast<size_t>(l)] = true;
        for (size_t l = 0; l < seen.size(); ++l)
            coverage[l] += seen[l] ? 1 : 0;
    }
    return coverage;
}

void Orchestrator::rebalance() {
    std::vector<NodeCapacity> capacities;
    for (const auto& [id, node] : m_registry.links()) {
        if (!node->statusReceived || !node->channel->isOpen() || m_reputation.excluded(id) ||
            m_registry.isQuarantined(id))
            continue;
        capacities.push_back(
            NodeCapacity{id, node->memoryBudgetBytes(), node->layerTokensPerS(), node->accepting()});
    }
    if (!m_placedOnce && static_cast<int>(capacities.size()) < std::max(1, m_config.minNodes))
        return; // wait for the swarm the operator asked for before the first placement
    if (capacities.empty())
        return;
    m_placedOnce = true;
    for (auto& [name, m] : m_models) {
        const ModelShape shape{name, m->config().layerCount, m->bytesPerLayer(), m->nodeLayers().begin};
        const PlacementPlan plan = planPlacement(shape, capacities, m_config.replicas);
        for (const LayerRange& gap : plan.uncovered)
            qWarning("model %s: layers %lld-%lld fit on no node (not enough memory)", name.c_str(),
                     static_cast<long long>(gap.begin), static_cast<long long>(gap.end));
        // Only fill gaps: a layer already held (or being loaded) by enough live nodes needs nothing, so new
        // speed figures or a joining node do not trigger needless downloads.
        std::vector<int> coverage = layerCoverage(name, shape.layerCount);
        const int wanted = std::max(1, plan.replicas);
        for (const auto& [nodeId, layers] : plan.assignments) {
            NodeLink* node = nodeLink(nodeId);
            if (!node)
                continue;
            bool gap = false;
            for (int64_t l = layers.begin; l < layers.end; ++l)
                gap = gap || coverage[static_cast<size_t>(l)] < wanted;
            if (!gap || covers(node->readyShards[name], layers))
                continue;
            bool pending = false;
            for (const auto& [aid, p] : node->pendingAssignments)
                pending = pending ||
                          (p.model == name && p.layers.begin <= layers.begin && p.layers.end >= layers.end);
            if (pending || node->failedAssignments.count(rangeKey(name, layers).toStdString()))
                continue;
            assign(*node, *m, layers);
            for (int64_t l = layers.begin; l < layers.end; ++l)
                ++coverage[static_cast<size_t>(l)];
        }
    }
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

void Orchestrator::expireAssignments() {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    bool expired = false;
    for (const auto& [id, node] : m_registry.links()) {
        for (auto it = node->pendingAssignments.begin(); it != node->pendingAssignments.end();) {
            const PendingAssignment& a = it->second;
            const GatewayModel* m = model(a.model);
            const uint64_t bytes = m ? m->bytesPerLayer() * static_cast<uint64_t>(a.layers.size()) : 0;
            const int64_t deadlineMs = m_reputation.assignmentDeadlineMs(bytes);
            if (now - a.startedMs < deadlineMs) {
                ++it;
                continue;
            }
            // Withdrawn: the layers count as unplaced again, and this node is not asked for them again.
            qWarning("node %s did not confirm %s within %lld ms: assignment withdrawn",
                     qPrintable(node->shortId()), qPrintable(rangeKey(a.model, a.layers)),
                     static_cast<long long>(deadlineMs));
            node->failedAssignments[rangeKey(a.model, a.layers).toStdString()] =
                "not ready within the deadline";
            m_reputation.assignmentExpired(id);
            it = node->pendingAssignments.erase(it);
            expired = true;
        }
    }
    if (expired)
        rebalance();
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
