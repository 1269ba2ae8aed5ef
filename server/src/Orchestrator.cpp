#include "declai/server/Orchestrator.h"

#include "declai/core/Identity.h"
#include "declai/network/PeerText.h"
#include "declai/server/CreditService.h"

#include <QDateTime>
#include <QDir>

namespace declai::server {
namespace {

QString rangeKey(const std::string& model, LayerRange r) {
    return QStringLiteral("%1/%2-%3").arg(QString::fromStdString(model)).arg(r.begin).arg(r.end);
}

bool covers(const std::vector<LayerRange>& ranges, LayerRange wanted) {
    for (const LayerRange& r : ranges)
        if (r.begin <= wanted.begin && r.end >= wanted.end)
            return true;
    return false;
}

} // namespace

Orchestrator::Orchestrator(const ServerConfig& config, ModelStore& store, QString httpBase,
                           CreditService* credits, QObject* parent)
    : QObject(parent), m_config(config), m_store(store), m_httpBase(std::move(httpBase)),
      m_gatewayCompute(config.threads), m_shardProofs(std::random_device{}()),
      m_verifier(config.verification, 1, std::random_device{}()),
      m_scheduler(SchedulerConfig{config.maxSessions, config.highReserveShare, 30000, 10000}),
      m_reputation([&config] {
          ReputationPolicy p = config.reputation;
          if (config.verification.initialRate <= 0)
              p.probationChecks = 0; // verification is off: probation ends on answers and age alone
          return p;
      }()),
      m_joinLimiter(config.nodeJoins),
      // Refunds reach back at least 10 minutes even when earnings are released sooner.
      m_billing(credits, std::max<int64_t>(config.credits.verificationWindowMs, 600000)),
      m_reputationStore(QDir(config.dataDir).filePath(QStringLiteral("node-reputation.json")), m_reputation) {
    if (auto loaded = m_reputationStore.load(); !loaded)
        qWarning("node reputation starts empty: %s", loaded.error().message.c_str());
    for (const std::string& id : m_reputation.quarantinedIds())
        m_quarantined.insert(id); // cut off before a restart: still cut off
    // Aging moves waiting requests up even when nothing finishes.
    connect(&m_queueTimer, &QTimer::timeout, this, &Orchestrator::startQueued);
    m_queueTimer.start(1000);
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

std::vector<const NodeLink*> Orchestrator::nodes() const {
    std::vector<const NodeLink*> out;
    for (const auto& [id, node] : m_nodes)
        out.push_back(node.get());
    return out;
}

NodeLink* Orchestrator::nodeLink(const std::string& nodeId) {
    auto it = m_nodes.find(nodeId);
    return it == m_nodes.end() ? nullptr : it->second.get();
}

Expected<void> Orchestrator::admitNode(const std::string& nodeId, const QString& peerAddress) {
    // Keys are free: a new identity costs one join from its address's budget; a known key returns freely.
    if (m_reputation.known(nodeId) || m_joinLimiter.admit(peerAddress))
        return {};
    const int64_t waitS = (m_joinLimiter.waitMs(peerAddress) + 999) / 1000;
    return makeError(ErrorCode::Protocol,
                     "too many new node identities from " +
                         NodeJoinLimiter::addressKey(peerAddress).toStdString() + " (at most " +
                         std::to_string(static_cast<int>(m_config.nodeJoins.perHour)) +
                         " per hour); reconnect with an existing key" +
                         (waitS > 0 ? " or retry in " + std::to_string(waitS) + " s" : std::string()));
}

void Orchestrator::addNode(std::unique_ptr<NodeLink> node) {
    const std::string id = node->nodeId;
    if (m_quarantined.count(id)) {
        node->channel->refuse(wire::UNAUTHORIZED, "this node is quarantined for failing verification",
                              QWebSocketProtocol::CloseCodePolicyViolated, QStringLiteral("quarantined"));
        node->channel.release()->deleteLater();
        return;
    }
    m_reputation.connected(id);
    if (auto old = m_nodes.find(id); old != m_nodes.end()) {
        // The same key connected again (a reconnect that beat our timeout): the new connection wins.
        old->second->channel->close(QWebSocketProtocol::CloseCodeNormal,
                                    QStringLiteral("replaced by a new connection"));
        onNodeClosed(id, QStringLiteral("replaced by a new connection"));
    }
    NodeLink* raw = node.get();
    connect(raw->channel.get(), &net::Channel::envelopeReceived, this,
            [this, raw](const wire::Envelope& envelope) { onNodeEnvelope(raw, envelope); });
    // Runs on the gateway thread; the channel has already sent Reject and closed (e.g. a replayed seq).
    connect(raw->channel.get(), &net::Channel::protocolViolation, this,
            [this](const QString&) { ++m_stats.protocolViolations; });
    connect(raw->channel.get(), &net::Channel::closed, this, [this, id, raw](const QString& reason) {
        // Deferred: the channel that emits this signal must not be destroyed inside it.
        QMetaObject::invokeMethod(
            this,
            [this, id, raw, reason] {
                auto it = m_nodes.find(id);
                if (it != m_nodes.end() && it->second.get() == raw)
                    onNodeClosed(id, reason);
            },
            Qt::QueuedConnection);
    });
    qInfo("node %s joined from %s", qPrintable(raw->shortId()), qPrintable(raw->channel->peerAddress()));
    m_nodes[id] = std::move(node);
    m_rebalanceTimer.start();
    Q_EMIT nodesChanged();
}

void Orchestrator::onNodeClosed(const std::string& nodeId, const QString& reason) {
    auto it = m_nodes.find(nodeId);
    if (it == m_nodes.end())
        return;
    qInfo("node %s left: %s", qPrintable(it->second->shortId()), qPrintable(reason));
    std::unique_ptr<NodeLink> gone = std::move(it->second);
    m_nodes.erase(it);
    m_shardProofs.forgetNode(nodeId);
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
    gone->channel->disconnect(this);
    gone->channel.release()->deleteLater();
    m_rebalanceTimer.start();
    Q_EMIT nodesChanged();
}

void Orchestrator::onNodeEnvelope(NodeLink* node, const wire::Envelope& envelope) {
    switch (envelope.type()) {
    case wire::NODE_STATUS: {
        auto status = wire::decodeBody<wire::NodeStatus>(envelope, wire::NODE_STATUS);
        if (!status) {
            node->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                                 QString::fromStdString(status.error().message));
            return;
        }
        const bool wasAccepting = node->accepting();
        node->status = *status;
        node->statusReceived = true;
        // Shards the node says it holds are used only once it proves it holds them (a claim costs
        // nothing); layers the gateway runs itself are never taken from nodes.
        for (const auto& held : status->shards()) {
            GatewayModel* m = model(held.model());
            if (!m || held.model_digest() != m->digest() || held.layer_end() > m->config().layerCount ||
                held.layer_begin() >= held.layer_end() || held.layer_begin() < m->nodeLayers().begin)
                continue;
            const LayerRange r{held.layer_begin(), held.layer_end()};
            if (!covers(node->readyShards[held.model()], r))
                challengeShard(*node, held.model(), r);
        }
        if (wasAccepting && !node->accepting())
            qInfo("node %s is draining: no new sessions", qPrintable(node->shortId()));
        // Not a restart: with more than ~30 nodes heartbeating every 10 s a status arrives more often than
        // the 300 ms debounce, and restarting it on each one postponed placement forever (a node joining a
        // busy gateway was never given layers; tests/load/swarm_sim --late-nodes).
        if (!m_rebalanceTimer.isActive())
            m_rebalanceTimer.start();
        for (auto& [sid, session] : m_sessions)
            session->onShardReady(session->modelName());
        return;
    }
    case wire::SHARD_READY: {
        auto ready = wire::decodeBody<wire::ShardReady>(envelope, wire::SHARD_READY);
        if (!ready)
            return;
        auto it = node->pendingAssignments.find(ready->assignment_id());
        if (it == node->pendingAssignments.end())
            return;
        const PendingAssignment assignment = it->second;
        node->pendingAssignments.erase(it);
        if (!ready->ok()) {
            const std::string why = net::boundedPeerText(ready->error()); // node-supplied text
            qWarning("node %s could not load %s: %s", qPrintable(node->shortId()),
                     qPrintable(rangeKey(assignment.model, assignment.layers)), why.c_str());
            node->failedAssignments[rangeKey(assignment.model, assignment.layers).toStdString()] = why;
            m_rebalanceTimer.start();
            return;
        }
        qInfo("node %s loaded %s (%llu bytes downloaded, loaded in %u ms)", qPrintable(node->shortId()),
              qPrintable(rangeKey(assignment.model, assignment.layers)),
              static_cast<unsigned long long>(ready->downloaded_bytes()), ready->load_ms());
        challengeShard(*node, assignment.model, assignment.layers);
        return;
    }
    case wire::SHARD_PROOF:
        handleShardProof(node, envelope);
        return;
    case wire::STAGE_RESPONSE:
    case wire::STAGE_BATCH_RESPONSE:
        handleStageAnswers(node, envelope);
        return;
    default:
        node->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                             QStringLiteral("unexpected %1 from a node")
                                 .arg(QString::fromLatin1(wire::messageTypeName(envelope.type()))));
    }
}

void Orchestrator::handleStageAnswers(NodeLink* node, const wire::Envelope& envelope) {
    // Stage answers carry credit later: they must be signed by the node's key, bound to this connection,
    // and never replayed. A StageBatchResponse is signed as a whole; each of its answers is then handled as
    // if it had come alone.
    if (!acceptSigned(node, envelope, "stage response"))
        return;
    google::protobuf::RepeatedPtrField<wire::StageResponse> answers;
    Expected<void> decoded;
    if (envelope.type() == wire::STAGE_RESPONSE) {
        auto one = wire::decodeBody<wire::StageResponse>(envelope, wire::STAGE_RESPONSE);
        if (one)
            *answers.Add() = std::move(*one);
        else
            decoded = one.error();
    } else {
        auto batch = wire::decodeBody<wire::StageBatchResponse>(envelope, wire::STAGE_BATCH_RESPONSE);
        if (batch)
            answers.Swap(batch->mutable_responses());
        else
            decoded = batch.error();
    }
    if (!decoded) {
        node->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                             QString::fromStdString(decoded.error().message));
        return;
    }
    const std::string nodeId = node->nodeId; // a bad answer may cut the node off (and free *node) midway
    for (const wire::StageResponse& response : answers) {
        NodeLink* live = nodeLink(nodeId);
        if (!live)
            return;
        deliverStageResponse(*live, response);
    }
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

bool Orchestrator::acceptSigned(NodeLink* node, const wire::Envelope& envelope, const char* what) {
    const std::string payload = wire::signedPayload(envelope, node->channelBinding);
    if (!NodeIdentity::verify(node->publicKey, payload, envelope.signature())) {
        ++m_stats.badSignatures;
        node->channel->refuse(wire::BAD_SIGNATURE, std::string(what) + " signature does not verify",
                              QWebSocketProtocol::CloseCodePolicyViolated, QStringLiteral("bad signature"));
        return false;
    }
    if (!node->replayWindow.accept(envelope.seq())) {
        node->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                             QStringLiteral("replayed %1").arg(QLatin1String(what)));
        return false;
    }
    return true;
}

void Orchestrator::challengeShard(NodeLink& node, const std::string& modelName, LayerRange layers) {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (m_shardProofs.isPending(node.nodeId, modelName, layers, now) ||
        !m_shardProofs.canChallenge(node.nodeId, now))
        return; // asked already, or the node must answer what it was asked before claiming more
    const ModelStore::Entry* entry = m_store.find(QString::fromStdString(modelName));
    if (!entry)
        return;
    auto challenge = m_shardProofs.challenge(node.nodeId, *entry, layers, now);
    if (!challenge) {
        qWarning("cannot challenge node %s for %s: %s", qPrintable(node.shortId()),
                 qPrintable(rangeKey(modelName, layers)), challenge.error().message.c_str());
        return;
    }
    node.channel->send(wire::SHARD_CHALLENGE, *challenge);
}

void Orchestrator::handleShardProof(NodeLink* node, const wire::Envelope& envelope) {
    if (!acceptSigned(node, envelope, "shard proof"))
        return;
    auto proof = wire::decodeBody<wire::ShardProof>(envelope, wire::SHARD_PROOF);
    if (!proof) {
        node->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                             QString::fromStdString(proof.error().message));
        return;
    }
    auto outcome = m_shardProofs.check(node->nodeId, *proof, QDateTime::currentMSecsSinceEpoch());
    if (!outcome)
        return; // unknown, expired or already answered: nothing to decide
    if (!outcome->valid) {
        qWarning("node %s does not hold %s: %s", qPrintable(node->shortId()),
                 qPrintable(rangeKey(outcome->model, outcome->layers)), outcome->reason.c_str());
        // Not assigned to it again; a later claim of it is challenged afresh.
        node->failedAssignments[rangeKey(outcome->model, outcome->layers).toStdString()] = outcome->reason;
        m_rebalanceTimer.start();
        return;
    }
    shardProven(*node, outcome->model, outcome->layers);
}

void Orchestrator::shardProven(NodeLink& node, const std::string& modelName, LayerRange layers) {
    auto& ranges = node.readyShards[modelName];
    if (covers(ranges, layers))
        return;
    ranges.push_back(layers);
    qInfo("node %s serves %s (proved it holds them)", qPrintable(node.shortId()),
          qPrintable(rangeKey(modelName, layers)));
    m_rebalanceTimer.start();
    std::vector<GenerationSession*> sessions;
    for (auto& [sid, session] : m_sessions)
        sessions.push_back(session.get());
    for (GenerationSession* session : sessions)
        session->onShardReady(modelName);
}

std::vector<NodeShards> Orchestrator::shardsOf(const std::string& modelName) const {
    std::vector<NodeShards> out;
    for (const auto& [id, node] : m_nodes) {
        if (m_quarantined.count(id) || m_reputation.excluded(id)) // excluded: backing off after a timeout
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
    for (const auto& [id, node] : m_nodes) {
        if (exclude.count(id))
            continue;
        for (const auto& [aid, pending] : node->pendingAssignments)
            if (pending.model == modelName && pending.layers.begin <= layers.begin &&
                pending.layers.end >= layers.end)
                return true;
    }
    // The live node with the most room that has not failed this range before.
    NodeLink* best = nullptr;
    for (const auto& [id, node] : m_nodes) {
        if (exclude.count(id) || !node->channel->isOpen() || !node->statusReceived ||
            m_reputation.excluded(id) || m_quarantined.count(id))
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

void Orchestrator::rebalance() {
    std::vector<NodeCapacity> capacities;
    for (const auto& [id, node] : m_nodes) {
        if (!node->statusReceived || !node->channel->isOpen() || m_reputation.excluded(id) ||
            m_quarantined.count(id))
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
        std::vector<int> coverage(static_cast<size_t>(shape.layerCount), 0);
        for (const auto& [id, node] : m_nodes) {
            if (m_quarantined.count(id) || m_reputation.excluded(id))
                continue;
            std::vector<LayerRange> held = node->readyShards[name];
            for (const auto& [aid, p] : node->pendingAssignments)
                if (p.model == name)
                    held.push_back(p.layers);
            std::vector<bool> seen(coverage.size(), false);
            for (const LayerRange& r : held)
                for (int64_t l = r.begin; l < r.end; ++l)
                    seen[static_cast<size_t>(l)] = true;
            for (size_t l = 0; l < seen.size(); ++l)
                coverage[l] += seen[l] ? 1 : 0;
        }
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
    if (!result.valid && m_quarantined.count(result.nodeId))
        m_billing.refundVoidedRequests(result.nodeId); // caught before (e.g. a NaN answer); void too
    if (cheater && !m_quarantined.count(result.nodeId))
        quarantine(result.nodeId, QStringLiteral("stage output failed verification (cosine %1, error %2)")
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
        if (!m_quarantined.count(nodeId))
            quarantine(nodeId, QStringLiteral("invalid stage answer: %1").arg(reason));
        return;
    case StageFault::Lost:
        return; // a dropped connection alone is no misbehaviour (crashes, network); it costs no backoff
    }
}

void Orchestrator::expireAssignments() {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    bool expired = false;
    for (auto& [id, node] : m_nodes) {
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

void Orchestrator::quarantine(const std::string& nodeId, const QString& reason) {
    m_quarantined.insert(nodeId);
    m_reputation.quarantined(nodeId);
    ++m_stats.cheatersQuarantined;
    qWarning("node %.12s quarantined: %s", nodeId.c_str(), qPrintable(reason));
    m_billing.voidNode(nodeId, reason);
    Q_EMIT nodeQuarantined(QString::fromStdString(nodeId), reason);
    if (NodeLink* node = nodeLink(nodeId)) {
        node->channel->refuse(wire::UNAUTHORIZED, "quarantined: " + reason.toStdString(),
                              QWebSocketProtocol::CloseCodePolicyViolated, QStringLiteral("quarantined"));
    }
}

void Orchestrator::addClient(std::unique_ptr<ClientLink> client) {
    const std::string id = client->clientId;
    ClientLink* raw = client.get();
    connect(raw->channel.get(), &net::Channel::envelopeReceived, this,
            [this, raw](const wire::Envelope& envelope) { onClientEnvelope(raw, envelope); });
    connect(raw->channel.get(), &net::Channel::closed, this, [this, id](const QString&) {
        QMetaObject::invokeMethod(
            this, [this, id] { onClientClosed(id); }, Qt::QueuedConnection);
    });
    m_clients[id] = std::move(client);
}

void Orchestrator::onClientClosed(const std::string& clientId) {
    auto it = m_clients.find(clientId);
    if (it == m_clients.end())
        return;
    std::vector<uint64_t> owned;
    for (const auto& [sid, owner] : m_sessionOwner)
        if (owner.connectionId == clientId)
            owned.push_back(sid);
    for (uint64_t sid : owned)
        cancel(sid, QStringLiteral("the client disconnected"));
    std::unique_ptr<ClientLink> gone = std::move(it->second);
    m_clients.erase(it);
    gone->channel->disconnect(this);
    gone->channel.release()->deleteLater();
}

void Orchestrator::cancel(uint64_t sessionId, const QString& reason) {
    if (auto a = m_admitting.find(sessionId); a != m_admitting.end()) {
        // Its hold is still on its way to the ledger: Billing releases it when it lands; nothing ran.
        qInfo("request of session %llu abandoned before its hold landed: %s",
              static_cast<unsigned long long>(sessionId), qPrintable(reason));
        m_billing.abandon(a->second);
        m_admitting.erase(a);
        m_sessionOwner.erase(sessionId);
        return;
    }
    if (auto s = m_sessions.find(sessionId); s != m_sessions.end())
        return s->second->cancel(reason);
    if (auto w = m_waiting.find(sessionId); w != m_waiting.end() && w->second.session) {
        m_scheduler.remove(sessionId);
        w->second.session->cancel(reason);
    }
}

std::vector<std::string> Orchestrator::modelNames() const {
    std::vector<std::string> names;
    for (const auto& [name, unused] : m_models)
        names.push_back(name);
    return names;
}

void Orchestrator::onClientEnvelope(ClientLink* client, const wire::Envelope& envelope) {
    if (envelope.type() != wire::SUBMIT) {
        client->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                               QStringLiteral("unexpected %1 from a client")
                                   .arg(QString::fromLatin1(wire::messageTypeName(envelope.type()))));
        return;
    }
    auto submit = wire::decodeBody<wire::Submit>(envelope, wire::SUBMIT);
    if (!submit) {
        client->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                               QString::fromStdString(submit.error().message));
        return;
    }
    handleSubmit(client, *submit);
}

void Orchestrator::handleSubmit(ClientLink* client, const wire::Submit& submit) {
    // The WebSocket face of submit(): wire::Submit in, TOKEN / DONE / FAILED out on the client's channel.
    const uint64_t requestId = submit.request_id();
    auto failNow = [client, requestId](const std::string& reason) {
        wire::Failed failed;
        failed.set_request_id(requestId);
        failed.set_reason(reason);
        client->channel->send(wire::FAILED, failed);
    };
    const auto priority = priorityFromName(submit.priority());
    if (!priority)
        return failNow("priority '" + submit.priority() + "' is not low, normal or high");
    SubmitRequest request;
    request.account = client->userId;
    request.keyId = client->keyId;
    request.connectionId = client->clientId;
    request.requestId = requestId;
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

    const std::string clientId = client->clientId;
    SubmitCallbacks callbacks;
    // Run on the main thread from inside the session; the client may have gone meanwhile.
    callbacks.token = [this, clientId, requestId](int32_t id, const std::string& text) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end())
            return;
        wire::Token token;
        token.set_request_id(requestId);
        token.set_token_id(id);
        token.set_text(text);
        it->second->channel->send(wire::TOKEN, token);
    };
    callbacks.ended = [this, clientId, requestId](const SubmitEnd& end) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end())
            return;
        if (end.failed) {
            std::string charged;
            if (end.costMicrocredits > 0)
                charged = QStringLiteral(" (charged %1 credits for the %2 token(s) already sent)")
                              .arg(static_cast<double>(end.costMicrocredits) / credit::kMicrocreditsPerCredit,
                                   0, 'f', 6)
                              .arg(end.stats.generatedTokens)
                              .toStdString();
            wire::Failed failed;
            failed.set_request_id(requestId);
            failed.set_reason(end.reason + charged);
            it->second->channel->send(wire::FAILED, failed);
            return;
        }
        wire::Done done;
        done.set_request_id(requestId);
        done.set_finish_reason(end.reason);
        done.set_prompt_tokens(end.stats.promptTokens);
        done.set_generated_tokens(end.stats.generatedTokens);
        done.set_time_to_first_token_ms(
            static_cast<uint32_t>(std::max<qint64>(0, end.stats.timeToFirstTokenMs)));
        done.set_total_ms(static_cast<uint32_t>(end.stats.totalMs));
        done.set_failovers(end.stats.failovers);
        done.set_text_tail(end.tail);
        done.set_cost_microcredits(end.costMicrocredits);
        done.set_balance_microcredits(end.balanceMicrocredits);
        it->second->channel->send(wire::DONE, done);
    };
    // The decision may come after the ledger answered; the client may have gone meanwhile (then a hold that
    // lands is released: onClientClosed cancelled the request).
    const bool quoteOnly = submit.quote_only();
    callbacks.decided = [this, clientId, requestId, quoteOnly](const SubmitDecision& decision) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end())
            return;
        if (const auto* refused = std::get_if<SubmitRefused>(&decision)) {
            wire::Failed failed;
            failed.set_request_id(requestId);
            failed.set_reason(refused->message);
            it->second->channel->send(wire::FAILED, failed);
            return;
        }
        if (!quoteOnly)
            return; // TOKEN and DONE follow
        const auto& accepted = std::get<SubmitAccepted>(decision);
        wire::Done done;
        done.set_request_id(requestId);
        done.set_finish_reason("quote");
        done.set_quote_only(true);
        done.set_prompt_tokens(static_cast<uint32_t>(accepted.promptTokens));
        done.set_cost_microcredits(accepted.quoteMicrocredits);
        done.set_balance_microcredits(accepted.balanceMicrocredits);
        it->second->channel->send(wire::DONE, done);
    };
    this->submit(std::move(request), std::move(callbacks));
}

uint64_t Orchestrator::submit(SubmitRequest request, SubmitCallbacks callbacks) {
    auto shared = std::make_shared<SubmitCallbacks>(std::move(callbacks));
    auto refuse = [&shared](SubmitRefusal kind, std::string message, std::string field = {}) -> uint64_t {
        if (shared->decided)
            shared->decided(SubmitRefused{kind, std::move(message), std::move(field)});
        return 0;
    };
    const uint64_t requestId = request.requestId;
    const std::string account = request.account;
    // Pipelining is fine, hoarding is not: one connection or account cannot fill the queue on its own
    // (requests still waiting for their hold count too).
    if (auto busy = tooManyRequests(request.connectionId, account); !busy.empty())
        return refuse(SubmitRefusal::RateLimited, busy);
    GatewayModel* m = model(request.model);
    if (!m) {
        std::string known;
        for (const auto& [name, unused] : m_models)
            known.append(known.empty() ? "" : ", ").append(name);
        return refuse(SubmitRefusal::UnknownModel,
                      "model '" + request.model + "' is not served here (served: " + known + ")", "model");
    }
    if (auto valid = validate(request.sampler); !valid)
        return refuse(SubmitRefusal::InvalidRequest, valid.error().message);
    if (request.prompt.size() > (1u << 20)) // before tokenizing it
        return refuse(SubmitRefusal::InvalidRequest, "the prompt is larger than 1 MiB", "prompt");

    PendingSubmit pending;
    // High priority jumps the queue, so it costs more (--high-priority-price, docs/ledger.md).
    pending.priceMultiplier =
        request.priority == Priority::High ? m_config.credits.highPriorityPriceMultiplier : 1.0;
    // Price: the worst case (prompt + max tokens) is held before anything runs; nothing is charged if the
    // hold fails. A request that cannot run is refused for its real reason before any price is quoted.
    SessionRequest& sessionRequest = pending.session;
    sessionRequest.requestId = requestId;
    sessionRequest.prompt = std::move(request.prompt);
    sessionRequest.promptMarkup = std::move(request.promptMarkup);
    sessionRequest.sampler = request.sampler;
    sessionRequest.wantTokenIds = request.wantTokenIds;
    // Nodes are shared fairly between accounts (StageDispatcher); without credits, between connections.
    sessionRequest.account = request.account.empty() ? request.connectionId : request.account;
    sessionRequest.promptTokens =
        promptTokensOf(m->tokenizer(), sessionRequest); // once: the session reuses them
    const int64_t promptTokens = static_cast<int64_t>(sessionRequest.promptTokens.size());
    pending.promptTokens = promptTokens;
    if (request.fitMaxTokensToContext && promptTokens < m->config().contextLength)
        request.maxTokens = static_cast<uint32_t>(
            std::min<int64_t>(request.maxTokens, m->config().contextLength - promptTokens));
    if (request.maxTokens == 0)
        return refuse(SubmitRefusal::InvalidRequest, "max_tokens must be at least 1", "max_tokens");
    if (auto overflow =
            GenerationSession::contextOverflow(promptTokens, request.maxTokens, m->config().contextLength))
        return refuse(SubmitRefusal::InvalidRequest, *overflow, "max_tokens");

    // The id it will run under, reserved now: the caller may cancel it before the ledger decides.
    uint64_t sessionId = 0;
    while (sessionId == 0 || m_sessions.count(sessionId) || m_waiting.count(sessionId) ||
           m_sessionOwner.count(sessionId))
        sessionId = m_rng();
    const bool quoteOnly = request.quoteOnly;
    if (!quoteOnly)
        m_sessionOwner[sessionId] = SessionOwner{request.connectionId, account};
    // The worst case is priced and, unless this is a quote, held before anything runs.
    const std::string holdKey = m_billing.enabled() && !quoteOnly
                                    ? account + "/" + request.connectionId + "/" + std::to_string(requestId) +
                                          "/" + std::to_string(m_rng())
                                    : std::string();
    const int64_t modelParams = m->parameterCount();
    const std::string keyId = request.keyId;
    const uint32_t maxTokens = request.maxTokens;
    const double priceMultiplier = pending.priceMultiplier;
    pending.request = std::move(request);
    // Billing's callbacks never outlive it, and it lives in this Orchestrator.
    const uint64_t ticket = m_billing.admit(
        account, holdKey, keyId, modelParams, promptTokens, maxTokens, priceMultiplier, quoteOnly,
        [this, sessionId, shared,
         pending = std::make_shared<PendingSubmit>(std::move(pending))](Billing::Decision decision) {
            admissionDecided(sessionId, std::move(*pending), shared, decision);
        });
    if (ticket != 0) {
        if (!quoteOnly)
            m_admitting[sessionId] = ticket;
        return quoteOnly ? 0 : sessionId;
    }
    return m_waiting.count(sessionId) || m_sessions.count(sessionId) ? sessionId : 0;
}

void Orchestrator::admissionDecided(uint64_t sessionId, PendingSubmit pending,
                                    std::shared_ptr<SubmitCallbacks> shared,
                                    const Billing::Decision& decision) {
    m_admitting.erase(sessionId);
    SubmitRequest& request = pending.request;
    const uint64_t requestId = request.requestId;
    const std::string account = request.account;
    auto refuse = [this, &shared, sessionId, quoteOnly = request.quoteOnly](
                      SubmitRefusal kind, std::string message, std::string field = {}) {
        if (!quoteOnly)
            m_sessionOwner.erase(sessionId);
        if (shared->decided)
            shared->decided(SubmitRefused{kind, std::move(message), std::move(field)});
    };
    if (const auto* refused = std::get_if<Billing::Refused>(&decision)) {
        switch (refused->kind) {
        case Billing::Refusal::Internal:
            return refuse(SubmitRefusal::Internal, refused->message);
        case Billing::Refusal::InvalidQuote:
            return refuse(SubmitRefusal::InvalidRequest, refused->message, "max_tokens");
        case Billing::Refusal::InsufficientCredits:
            return refuse(SubmitRefusal::InsufficientCredits, refused->message);
        }
    }
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
        return refuse(SubmitRefusal::UnknownModel, "model '" + request.model + "' is not served here",
                      "model");
    }

    // After the credit checks, so a caller learns about its balance before about the swarm's state.
    if (request.refuseWithoutCapacity && !chainFor(request.model, {})) {
        m_billing.release(holdId, requestId);
        return refuse(SubmitRefusal::NoCapacity,
                      "no capacity for model '" + request.model + "': the " + std::to_string(m_nodes.size()) +
                          " connected node(s) do not yet serve layers " +
                          std::to_string(m->nodeLayers().begin) + "-" + std::to_string(m->nodeLayers().end) +
                          "; retry when nodes have joined or loaded them");
    }
    const int64_t modelParams = m->parameterCount();
    const double priceMultiplier = pending.priceMultiplier;
    const std::string modelName = request.model;
    auto report = [this, shared, modelName](const SubmitEnd& end) {
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
    // callbacks never outlive this object; they run on the gateway thread).
    auto settleThenReport = [this, report, requestId, sessionId, modelParams, priceMultiplier,
                             account](RequestEnd how, const SessionStats& stats, SubmitEnd end) {
        m_billing.settle(sessionId, account, modelParams, how, stats, requestId, priceMultiplier,
                         m_quarantined, [report, end](std::optional<Billing::Settlement> settled) mutable {
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
    const auto encoding = m_config.wireEncoding == QStringLiteral("f16") ? wire::F16 : wire::F32;
    const uint32_t maxTokens = request.maxTokens;
    pending.session.maxTokens = maxTokens;
    auto session = std::make_unique<GenerationSession>(
        sessionId, *this, *m, m_gatewayCompute, std::move(pending.session), std::move(sinks),
        m_config.stageTimeoutMs, m_config.failoverDeadlineMs, m_config.chainWaitMs, encoding);
    session->setPrefillChunkTokens(m_config.prefillChunkTokens);
    QueuedRequest queued;
    queued.id = sessionId;
    queued.account = account.empty() ? request.connectionId : account;
    queued.priority = request.priority;
    queued.balance = accepted.balanceMicrocredits;
    queued.cost = static_cast<double>(pending.promptTokens + maxTokens);
    if (!m_scheduler.enqueue(queued, QDateTime::currentMSecsSinceEpoch())) {
        // Nothing ran: the hold goes back whole.
        m_billing.release(holdId, requestId);
        return refuse(SubmitRefusal::RateLimited, "the gateway is overloaded: too many requests are waiting");
    }
    m_billing.attach(sessionId, holdId);
    m_waiting[sessionId] = Waiting{std::move(session), holdId};
    accepted.sessionId = sessionId;
    // Decided before it starts: the caller knows the session before any of its tokens.
    if (shared->decided)
        shared->decided(accepted);
    startQueued();
}

std::string Orchestrator::tooManyRequests(const std::string& connectionId, const std::string& account) const {
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

std::optional<size_t> Orchestrator::queuePosition(const std::string& holdId) {
    if (holdId.empty())
        return std::nullopt;
    for (const auto& [sessionId, waiting] : m_waiting) // bounded by the queue's capacity
        if (waiting.holdId == holdId && waiting.session)
            return m_scheduler.position(sessionId, QDateTime::currentMSecsSinceEpoch());
    return std::nullopt;
}

void Orchestrator::startQueued() {
    while (true) {
        auto next =
            m_scheduler.next(static_cast<int>(m_sessions.size()), QDateTime::currentMSecsSinceEpoch());
        if (!next)
            return;
        auto it = m_waiting.find(next->id);
        if (it == m_waiting.end())
            continue; // cancelled while waiting
        std::unique_ptr<GenerationSession> session = std::move(it->second.session);
        m_waiting.erase(it);
        GenerationSession* raw = session.get();
        m_sessions[next->id] = std::move(session);
        ++m_stats.sessionsStarted;
        raw->start();
    }
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
            m_waiting.erase(id);
            m_sessionOwner.erase(id);
            startQueued();
        },
        Qt::QueuedConnection);
}

} // namespace declai::server
