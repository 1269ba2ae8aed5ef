// Where layers go: covers every layer of a model with contiguous ranges on nodes, two replicas per layer
// when there are enough nodes and memory, weighted by memory and measured speed; and which chain of nodes
// serves one session. Pure functions over snapshots, so they are easy to test and to reason about.
#pragma once

#include "declai/gpu/ModelWeights.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace declai::server {

struct NodeCapacity {
    std::string nodeId;
    uint64_t memoryBudgetBytes = 0;
    double layerTokensPerS = 0; // measured; 0 = unknown (weight 1)
    bool accepting = true;      // false while draining
};

struct ModelShape {
    std::string name;
    int64_t layerCount = 0;
    uint64_t bytesPerLayer = 0; // weights of one layer (largest layer when they differ)
    int64_t firstLayer = 0;     // layers below this run on the gateway and are never placed on nodes
};

struct PlacementPlan {
    int replicas = 0;
    std::map<std::string, LayerRange> assignments; // node id -> its range for this model
    std::vector<LayerRange> uncovered;             // layers no node could take (capacity too small)
};

// Covers [firstLayer, layerCount). maxReplicas 0 = automatic: two replicas when at least three nodes are
// eligible and their memory holds the model twice, else one (two nodes split the model rather than mirror
// it).
PlacementPlan planPlacement(const ModelShape& model, const std::vector<NodeCapacity>& nodes,
                            int maxReplicas = 0);

struct NodeShards {
    std::string nodeId;
    std::vector<LayerRange> ranges; // ready shards of the model in question
    double layerTokensPerS = 0;
    uint32_t activeSessions = 0;
    bool accepting = true;
};

struct ChainStage {
    std::string nodeId;
    LayerRange layers;
};

// Chooses stages covering [0, layerCount) with as few hops as possible, preferring faster and less loaded
// nodes; nodes in `exclude` and nodes not accepting sessions are skipped. nullopt when a layer is uncovered.
std::optional<std::vector<ChainStage>> selectChain(int64_t layerCount, const std::vector<NodeShards>& nodes,
                                                   const std::set<std::string>& exclude = {},
                                                   bool allowDraining = false);

// Stages covering `span` only (a failed stage's layers), same preferences as selectChain.
std::optional<std::vector<ChainStage>> coverRange(LayerRange span, const std::vector<NodeShards>& nodes,
                                                  const std::set<std::string>& exclude,
                                                  bool allowDraining = true);

} // namespace declai::server
