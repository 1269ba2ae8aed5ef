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
    double layerTokensPerS = 0; // measured; 0 = not yet (weighs as the median measured node)
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
// it). A node not measured yet (a volunteer that just joined) weighs as the median of the measured ones, so
// it is planned a typical share rather than the crumbs a weight of one token per second would give it.
PlacementPlan planPlacement(const ModelShape& model, const std::vector<NodeCapacity>& nodes,
                            int maxReplicas = 0);

// What one node has of a model when the plan's gaps are filled.
struct NodeHoldings {
    std::vector<LayerRange> ready;   // proven shards
    std::vector<LayerRange> pending; // assigned, not confirmed yet
    std::vector<LayerRange> failed;  // ranges it could not load or prove: not asked for again
};

struct LayerAssignment {
    std::string nodeId;
    LayerRange layers;
};

// Which of the plan's assignments to send now. Only those that fill a gap: a layer that fewer live nodes
// hold or are loading (`coverage`, per layer) than the plan's replicas, so new speed figures or a joining
// node do not trigger needless downloads; a node that holds, is loading or failed its range is skipped, and
// so is a node missing from `holdings`. Nodes that hold nothing of the model come first: a serving node's
// larger planned range, met earlier, would otherwise fill the gap and leave the newcomer idle while the
// serving node downloads more. Then in node-id order.
std::vector<LayerAssignment> gapFillingAssignments(const PlacementPlan& plan, std::vector<int> coverage,
                                                   const std::map<std::string, NodeHoldings>& holdings);

// Whether one of `ranges` holds all of `wanted`.
bool covers(const std::vector<LayerRange>& ranges, LayerRange wanted);

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
