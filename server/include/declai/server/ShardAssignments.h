// Which node loads which layers: fills the placement plan's coverage gaps (rebalance), finds a home for a
// range a session needs (requestCoverage), withdraws assignments a node did not confirm in time, and lists
// the proven, usable shards that chains are built from. Threading: main thread only.
#pragma once

#include "declai/server/GatewayModel.h"
#include "declai/server/NodeRegistry.h"
#include "declai/server/NodeReputation.h"
#include "declai/server/Placement.h"
#include "declai/server/ServerConfig.h"

#include <QString>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace declai::server {

class ShardAssignments {
public:
    // config, models, registry and reputation outlive this; httpBase: where nodes download shards from.
    ShardAssignments(const ServerConfig& config,
                     const std::map<std::string, std::unique_ptr<GatewayModel>>& models,
                     NodeRegistry& registry, NodeReputation& reputation, QString httpBase);
    ShardAssignments(const ShardAssignments&) = delete;
    ShardAssignments& operator=(const ShardAssignments&) = delete;

    // SessionHost::chainFor / coverOf / requestCoverage.
    std::optional<std::vector<ChainStage>> chainFor(const std::string& model,
                                                    const std::set<std::string>& exclude);
    std::optional<std::vector<ChainStage>> coverOf(const std::string& model, LayerRange layers,
                                                   const std::set<std::string>& exclude);
    bool requestCoverage(const std::string& model, LayerRange layers, const std::set<std::string>& exclude);
    // Plans placement over the live nodes and assigns the ranges whose layers lack replicas.
    void rebalance();
    // Withdraws assignments not confirmed ready in time (then re-plans).
    void expireAssignments();

private:
    // Per layer of `model`, how many usable nodes hold it or are loading it.
    std::vector<int> layerCoverage(const std::string& model, int64_t layerCount) const;
    void assign(NodeLink& node, const GatewayModel& model, LayerRange layers);
    std::vector<NodeShards> shardsOf(const std::string& model) const;
    const GatewayModel* model(const std::string& name) const;

    const ServerConfig& m_config;
    const std::map<std::string, std::unique_ptr<GatewayModel>>& m_models;
    NodeRegistry& m_registry;
    NodeReputation& m_reputation;
    QString m_httpBase;
    uint64_t m_nextAssignmentId = 1;
    bool m_placedOnce = false; // --min-nodes only delays the first placement
};

} // namespace declai::server
