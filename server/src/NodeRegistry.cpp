#include "declai/server/NodeRegistry.h"

#include "declai/core/Identity.h"
#include "declai/network/PeerText.h"

#include <QDateTime>
#include <random>

namespace declai::server {

QString rangeKey(const std::string& model, LayerRange r) {
    return QStringLiteral("%1/%2-%3").arg(QString::fromStdString(model)).arg(r.begin).arg(r.end);
}

NodeRegistry::NodeRegistry(const ServerConfig& config, ModelStore& store,
                           const std::map<std::string, std::unique_ptr<GatewayModel>>& models,
                           NodeReputation& reputation, OrchestratorStats& stats, Events events,
                           QObject* parent)
    : QObject(parent), m_config(config), m_store(store), m_models(models), m_reputation(reputation),
      m_stats(stats), m_events(std::move(events)), m_shardProofs(std::random_device{}()),
      m_joinLimiter(config.nodeJoins) {}

NodeRegistry::~NodeRegistry() = default;

void NodeRegistry::restoreQuarantine() {
    for (const std::string& id : m_reputation.quarantinedIds())
        m_quarantined.insert(id); // cut off before a restart: still cut off
}

std::vector<const NodeLink*> NodeRegistry::nodes() const {
    std::vector<const NodeLink*> out;
    for (const auto& [id, node] : m_nodes)
        out.push_back(node.get());
    return out;
}

NodeLink* NodeRegistry::nodeLink(const std::string& nodeId) const {
    auto it = m_nodes.find(nodeId);
    return it == m_nodes.end() ? nullptr : it->second.get();
}

Expected<void> NodeRegistry::admitNode(const std::string& nodeId, const QString& peerAddress) {
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

void NodeRegistry::addNode(std::unique_ptr<NodeLink> node) {
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
    m_events.joined(*raw);
}

void NodeRegistry::onNodeClosed(const std::string& nodeId, const QString& reason) {
    auto it = m_nodes.find(nodeId);
    if (it == m_nodes.end())
        return;
    qInfo("node %s left: %s", qPrintable(it->second->shortId()), qPrintable(reason));
    std::unique_ptr<NodeLink> gone = std::move(it->second);
    m_nodes.erase(it);
    m_shardProofs.forgetNode(nodeId);
    m_events.leaving(nodeId, reason); // before the link is destroyed: sessions may still read its counters
    gone->channel->disconnect(this);
    gone->channel.release()->deleteLater();
    m_events.left(nodeId);
}

void NodeRegistry::quarantine(const std::string& nodeId, const QString& reason) {
    m_quarantined.insert(nodeId);
    m_reputation.quarantined(nodeId);
    ++m_stats.cheatersQuarantined;
    qWarning("node %.12s quarantined: %s", nodeId.c_str(), qPrintable(reason));
    m_events.quarantined(nodeId, reason);
    if (NodeLink* node = nodeLink(nodeId)) {
        node->channel->refuse(wire::UNAUTHORIZED, "quarantined: " + reason.toStdString(),
                              QWebSocketProtocol::CloseCodePolicyViolated, QStringLiteral("quarantined"));
    }
}

void NodeRegistry::onNodeEnvelope(NodeLink* node, const wire::Envelope& envelope) {
    switch (envelope.type()) {
    case wire::NODE_STATUS:
        return applyStatus(node, envelope);
    case wire::SHARD_READY:
        return handleShardReady(node, envelope);
    case wire::SHARD_PROOF:
        return handleShardProof(node, envelope);
    case wire::STAGE_RESPONSE:
    case wire::STAGE_BATCH_RESPONSE:
        return handleStageAnswers(node, envelope);
    default:
        node->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                             QStringLiteral("unexpected %1 from a node")
                                 .arg(QString::fromLatin1(wire::messageTypeName(envelope.type()))));
    }
}

void NodeRegistry::applyStatus(NodeLink* node, const wire::Envelope& envelope) {
    auto status = wire::decodeBody<wire::NodeStatus>(envelope, wire::NODE_STATUS);
    if (!status) {
        node->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                             QString::fromStdString(status.error().message));
        return;
    }
    const bool wasAccepting = node->accepting();
    node->status = *status;
    node->statusReceived = true;
    // Shards the node says it holds are used only once it proves it holds them (a claim costs nothing);
    // layers the gateway runs itself are never taken from nodes.
    for (const auto& held : status->shards()) {
        auto found = m_models.find(held.model());
        const GatewayModel* m = found == m_models.end() ? nullptr : found->second.get();
        if (!m || held.model_digest() != m->digest() || held.layer_end() > m->config().layerCount ||
            held.layer_begin() >= held.layer_end() || held.layer_begin() < m->nodeLayers().begin)
            continue;
        const LayerRange r{held.layer_begin(), held.layer_end()};
        if (!covers(node->readyShards[held.model()], r))
            challengeShard(*node, held.model(), r);
    }
    if (wasAccepting && !node->accepting())
        qInfo("node %s is draining: no new sessions", qPrintable(node->shortId()));
    m_events.statusApplied(*node);
}

void NodeRegistry::handleShardReady(NodeLink* node, const wire::Envelope& envelope) {
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
        m_events.placementChanged();
        return;
    }
    qInfo("node %s loaded %s (%llu bytes downloaded, loaded in %u ms)", qPrintable(node->shortId()),
          qPrintable(rangeKey(assignment.model, assignment.layers)),
          static_cast<unsigned long long>(ready->downloaded_bytes()), ready->load_ms());
    challengeShard(*node, assignment.model, assignment.layers);
}

void NodeRegistry::handleStageAnswers(NodeLink* node, const wire::Envelope& envelope) {
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
        m_events.stageAnswer(*live, response);
    }
}

bool NodeRegistry::acceptSigned(NodeLink* node, const wire::Envelope& envelope, const char* what) {
    const std::string payload = wire::signedPayload(envelope, node->channelBinding);
    if (!node->verifier.verify(payload, envelope.signature())) {
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

void NodeRegistry::challengeShard(NodeLink& node, const std::string& modelName, LayerRange layers) {
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

void NodeRegistry::handleShardProof(NodeLink* node, const wire::Envelope& envelope) {
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
        m_events.placementChanged();
        return;
    }
    shardProven(*node, outcome->model, outcome->layers);
}

void NodeRegistry::shardProven(NodeLink& node, const std::string& modelName, LayerRange layers) {
    auto& ranges = node.readyShards[modelName];
    if (covers(ranges, layers))
        return;
    ranges.push_back(layers);
    qInfo("node %s serves %s (proved it holds them)", qPrintable(node.shortId()),
          qPrintable(rangeKey(modelName, layers)));
    m_events.shardProven(modelName);
}

} // namespace declai::server
