#include "declai/server/Placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace declai::server {
namespace {

double weightOf(const NodeCapacity& n) {
    return n.layerTokensPerS > 0 ? n.layerTokensPerS : 1.0;
}

int64_t nodeLayerCount(const ModelShape& model) {
    return std::max<int64_t>(0, model.layerCount - std::max<int64_t>(0, model.firstLayer));
}

int64_t layerCapacity(const NodeCapacity& n, const ModelShape& model) {
    if (model.bytesPerLayer == 0)
        return nodeLayerCount(model);
    return static_cast<int64_t>(std::min<uint64_t>(n.memoryBudgetBytes / model.bytesPerLayer,
                                                   static_cast<uint64_t>(nodeLayerCount(model))));
}

// Splits [firstLayer, L) over the group's nodes in order, proportional to weight, within each node's
// capacity.
void splitOverGroup(const ModelShape& model, const std::vector<const NodeCapacity*>& group,
                    PlacementPlan& plan) {
    const int64_t first = std::max<int64_t>(0, model.firstLayer);
    const int64_t total = nodeLayerCount(model);
    std::vector<int64_t> capacity;
    std::vector<double> weights;
    for (const NodeCapacity* n : group) {
        capacity.push_back(layerCapacity(*n, model));
        weights.push_back(weightOf(*n));
    }
    std::vector<int64_t> counts(group.size(), 0);
    int64_t remaining = total;
    // Water-filling: hand out layers by weight among nodes that still have room, until done or full.
    while (remaining > 0) {
        double weightSum = 0;
        for (size_t i = 0; i < group.size(); ++i)
            if (counts[i] < capacity[i])
                weightSum += weights[i];
        if (weightSum == 0)
            break;
        int64_t given = 0;
        const int64_t pool = remaining;
        for (size_t i = 0; i < group.size() && remaining > 0; ++i) {
            if (counts[i] >= capacity[i])
                continue;
            int64_t share = static_cast<int64_t>(std::floor(pool * weights[i] / weightSum));
            share = std::clamp<int64_t>(share, 0, std::min(capacity[i] - counts[i], remaining));
            counts[i] += share;
            remaining -= share;
            given += share;
        }
        if (given ==
            0) { // rounding left crumbs: one layer to the node with room that has the fewest per weight
            size_t best = group.size();
            for (size_t i = 0; i < group.size(); ++i)
                if (counts[i] < capacity[i] &&
                    (best == group.size() || counts[i] / weights[i] < counts[best] / weights[best]))
                    best = i;
            if (best == group.size())
                break;
            ++counts[best];
            --remaining;
        }
    }
    int64_t begin = first;
    for (size_t i = 0; i < group.size(); ++i) {
        if (counts[i] == 0)
            continue;
        plan.assignments[group[i]->nodeId] = LayerRange{begin, begin + counts[i]};
        begin += counts[i];
    }
    if (begin < model.layerCount)
        plan.uncovered.push_back(LayerRange{begin, model.layerCount});
}

} // namespace

PlacementPlan planPlacement(const ModelShape& model, const std::vector<NodeCapacity>& nodes,
                            int maxReplicas) {
    PlacementPlan plan;
    std::vector<const NodeCapacity*> eligible;
    for (const NodeCapacity& n : nodes)
        if (n.accepting && layerCapacity(n, model) > 0)
            eligible.push_back(&n);
    if (eligible.empty() || nodeLayerCount(model) <= 0) {
        if (nodeLayerCount(model) > 0)
            plan.uncovered.push_back(LayerRange{std::max<int64_t>(0, model.firstLayer), model.layerCount});
        return plan;
    }
    // Fastest first; ties by id so the same swarm always gets the same plan (no needless re-downloads).
    std::sort(eligible.begin(), eligible.end(), [](const NodeCapacity* a, const NodeCapacity* b) {
        if (weightOf(*a) != weightOf(*b))
            return weightOf(*a) > weightOf(*b);
        return a->nodeId < b->nodeId;
    });
    int64_t totalCapacity = 0;
    for (const NodeCapacity* n : eligible)
        totalCapacity += layerCapacity(*n, model);
    int replicas = 1;
    if (maxReplicas == 0)
        replicas = (eligible.size() >= 3 && totalCapacity >= 2 * nodeLayerCount(model)) ? 2 : 1;
    else
        replicas = std::clamp<int>(maxReplicas, 1, static_cast<int>(eligible.size()));
    plan.replicas = replicas;
    // Deal nodes into replica groups round-robin so each group gets a fair mix of fast and slow nodes.
    std::vector<std::vector<const NodeCapacity*>> groups(static_cast<size_t>(replicas));
    for (size_t i = 0; i < eligible.size(); ++i)
        groups[i % static_cast<size_t>(replicas)].push_back(eligible[i]);
    for (auto& group : groups) {
        std::sort(group.begin(), group.end(),
                  [](const NodeCapacity* a, const NodeCapacity* b) { return a->nodeId < b->nodeId; });
        splitOverGroup(model, group, plan);
    }
    return plan;
}

std::optional<std::vector<ChainStage>> coverRange(LayerRange span, const std::vector<NodeShards>& nodes,
                                                  const std::set<std::string>& exclude, bool allowDraining) {
    std::vector<ChainStage> chain;
    int64_t position = span.begin;
    while (position < span.end) {
        const NodeShards* best = nullptr;
        int64_t bestEnd = position;
        for (const NodeShards& n : nodes) {
            if (exclude.count(n.nodeId) || (!n.accepting && !allowDraining))
                continue;
            for (const LayerRange& r : n.ranges) {
                if (!r.contains(position))
                    continue;
                const int64_t end = std::min(r.end, span.end);
                // Fewest hops first (reach furthest), then the less loaded, then the faster node.
                const bool better = end > bestEnd || (end == bestEnd && best &&
                                                      (n.activeSessions < best->activeSessions ||
                                                       (n.activeSessions == best->activeSessions &&
                                                        n.layerTokensPerS > best->layerTokensPerS)));
                if (better) {
                    best = &n;
                    bestEnd = end;
                }
            }
        }
        if (!best)
            return std::nullopt;
        chain.push_back(ChainStage{best->nodeId, LayerRange{position, bestEnd}});
        position = bestEnd;
    }
    return chain;
}

std::optional<std::vector<ChainStage>> selectChain(int64_t layerCount, const std::vector<NodeShards>& nodes,
                                                   const std::set<std::string>& exclude, bool allowDraining) {
    return coverRange(LayerRange{0, layerCount}, nodes, exclude, allowDraining);
}

} // namespace declai::server
