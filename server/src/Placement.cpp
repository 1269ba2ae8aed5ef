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

// The median measured speed of the nodes (0 when none is measured).
double medianMeasuredSpeed(const std::vector<NodeCapacity>& nodes) {
    std::vector<double> measured;
    for (const NodeCapacity& n : nodes)
        if (n.layerTokensPerS > 0)
            measured.push_back(n.layerTokensPerS);
    if (measured.empty())
        return 0;
    std::sort(measured.begin(), measured.end());
    const size_t mid = measured.size() / 2;
    return measured.size() % 2 ? measured[mid] : (measured[mid - 1] + measured[mid]) / 2;
}

} // namespace

PlacementPlan planPlacement(const ModelShape& model, const std::vector<NodeCapacity>& nodes,
                            int maxReplicas) {
    PlacementPlan plan;
    std::vector<NodeCapacity> weighed;
    for (const NodeCapacity& n : nodes)
        if (n.accepting && layerCapacity(n, model) > 0)
            weighed.push_back(n);
    // Not measured yet: the typical node of this swarm (the gateway times a node only once it serves).
    const double typical = medianMeasuredSpeed(weighed);
    for (NodeCapacity& n : weighed)
        if (n.layerTokensPerS <= 0)
            n.layerTokensPerS = typical;
    std::vector<const NodeCapacity*> eligible;
    for (const NodeCapacity& n : weighed)
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

std::vector<LayerAssignment> gapFillingAssignments(const PlacementPlan& plan, std::vector<int> coverage,
                                                   const std::map<std::string, NodeHoldings>& holdings) {
    const auto holdingOf = [&holdings](const std::string& nodeId) -> const NodeHoldings* {
        auto it = holdings.find(nodeId);
        return it == holdings.end() ? nullptr : &it->second;
    };
    std::vector<LayerAssignment> order;
    for (const auto& [nodeId, layers] : plan.assignments)
        order.push_back(LayerAssignment{nodeId, layers});
    std::stable_partition(order.begin(), order.end(), [&holdingOf](const LayerAssignment& a) {
        const NodeHoldings* h = holdingOf(a.nodeId);
        return h && h->ready.empty() && h->pending.empty();
    });
    const int wanted = std::max(1, plan.replicas);
    const auto layerCount = static_cast<int64_t>(coverage.size());
    std::vector<LayerAssignment> chosen;
    for (const LayerAssignment& a : order) {
        const NodeHoldings* h = holdingOf(a.nodeId);
        if (!h || a.layers.begin < 0 || a.layers.end > layerCount)
            continue;
        bool gap = false;
        for (int64_t l = a.layers.begin; l < a.layers.end; ++l)
            gap = gap || coverage[static_cast<size_t>(l)] < wanted;
        const bool failedBefore = std::any_of(h->failed.begin(), h->failed.end(), [&a](const LayerRange& r) {
            return r.begin == a.layers.begin && r.end == a.layers.end;
        });
        if (!gap || covers(h->ready, a.layers) || covers(h->pending, a.layers) || failedBefore)
            continue;
        chosen.push_back(a);
        for (int64_t l = a.layers.begin; l < a.layers.end; ++l)
            ++coverage[static_cast<size_t>(l)];
    }
    return chosen;
}

bool covers(const std::vector<LayerRange>& ranges, LayerRange wanted) {
    for (const LayerRange& r : ranges)
        if (r.begin <= wanted.begin && r.end >= wanted.end)
            return true;
    return false;
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
