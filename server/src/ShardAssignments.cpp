#include "declai/server/ShardAssignments.h"

#include <QDateTime>
#include <algorithm>

namespace declai::server {

ShardAssignments::ShardAssignments(const ServerConfig& config,
                                   const std::map<std::string, std::unique_ptr<GatewayModel>>& models,
                                   NodeRegistry& registry, NodeReputation& reputation, QString httpBase)
    : m_config(config), m_models(models), m_registry(registry), m_reputation(reputation),
      m_httpBase(std::move(httpBase)) {}

const GatewayModel* ShardAssignments::model(const std::string& name) const {
    auto it = m_models.find(name);
    return it == m_models.end() ? nullptr : it->second.get();
}

std::vector<NodeShards> ShardAssignments::shardsOf(const std::string& modelName) const {
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

std::optional<std::vector<ChainStage>> ShardAssignments::chainFor(const std::string& modelName,
                                                                  const std::set<std::string>& exclude) {
    const GatewayModel* m = model(modelName);
    if (!m)
        return std::nullopt;
    // Nodes serve the layers after the gateway's own: the chain starts there.
    return m_reputation.chainFor(m->nodeLayers(), shardsOf(modelName), exclude);
}

std::optional<std::vector<ChainStage>> ShardAssignments::coverOf(const std::string& modelName,
                                                                 LayerRange layers,
                                                                 const std::set<std::string>& exclude) {
    // Draining nodes may still take over a running session's layers; they only refuse new sessions.
    return coverRange(layers, shardsOf(modelName), exclude, true);
}

bool ShardAssignments::requestCoverage(const std::string& modelName, LayerRange layers,
                                       const std::set<std::string>& exclude) {
    const GatewayModel* m = model(modelName);
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

void ShardAssignments::assign(NodeLink& node, const GatewayModel& m, LayerRange layers) {
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

std::vector<int> ShardAssignments::layerCoverage(const std::string& modelName, int64_t layerCount) const {
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

void ShardAssignments::rebalance() {
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
        std::map<std::string, NodeHoldings> holdings;
        for (const auto& [nodeId, layers] : plan.assignments) {
            const NodeLink* node = m_registry.nodeLink(nodeId);
            if (!node)
                continue;
            NodeHoldings& h = holdings[nodeId];
            if (auto it = node->readyShards.find(name); it != node->readyShards.end())
                h.ready = it->second;
            for (const auto& [aid, p] : node->pendingAssignments)
                if (p.model == name)
                    h.pending.push_back(p.layers);
            if (node->failedAssignments.count(rangeKey(name, layers).toStdString()))
                h.failed.push_back(layers);
        }
        for (const LayerAssignment& a :
             gapFillingAssignments(plan, layerCoverage(name, shape.layerCount), holdings))
            if (NodeLink* node = m_registry.nodeLink(a.nodeId))
                assign(*node, *m, a.layers);
    }
}

void ShardAssignments::expireAssignments() {
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

} // namespace declai::server
