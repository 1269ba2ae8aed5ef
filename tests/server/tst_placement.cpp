// Where layers go (server/Placement.h): the plan's split by measured speed and memory, replicas, a
// volunteer that joins a measured swarm, which of the plan's assignments are sent, and the chain of nodes
// one session takes.
#include "declai/server/Placement.h"

#include <QTest>
#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace declai;
using namespace declai::server;

namespace {

constexpr uint64_t kLayerBytes = 1000;
constexpr uint64_t kRoomy = 1000 * kLayerBytes; // memory for every layer, many times over

// 25 layers, the gateway's own layer 0 never placed: 24 node layers.
ModelShape model() {
    return ModelShape{"m", 25, kLayerBytes, 1};
}

NodeCapacity node(const std::string& id, double speed, uint64_t memory = kRoomy, bool accepting = true) {
    return NodeCapacity{id, memory, speed, accepting};
}

// How many assignments of the plan hold each layer.
std::vector<int> coverageOf(const PlacementPlan& plan, int64_t layerCount) {
    std::vector<int> coverage(static_cast<size_t>(layerCount), 0);
    for (const auto& [id, r] : plan.assignments)
        for (int64_t l = r.begin; l < r.end; ++l)
            ++coverage[static_cast<size_t>(l)];
    return coverage;
}

// Every node layer held `replicas` times, the gateway's layer never.
bool coveredExactly(const PlacementPlan& plan, int replicas) {
    const std::vector<int> coverage = coverageOf(plan, model().layerCount);
    if (coverage[0] != 0)
        return false;
    return std::all_of(coverage.begin() + 1, coverage.end(), [replicas](int c) { return c == replicas; });
}

std::vector<std::string> idsOf(const std::vector<LayerAssignment>& assignments) {
    std::vector<std::string> ids;
    for (const LayerAssignment& a : assignments)
        ids.push_back(a.nodeId);
    return ids;
}

} // namespace

class TestPlacement : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void splitsByMeasuredSpeed() {
        const PlacementPlan plan = planPlacement(model(), {node("a", 3000), node("b", 1000)});
        QCOMPARE(plan.replicas, 1); // two nodes split the model rather than mirror it
        QVERIFY(coveredExactly(plan, 1));
        QCOMPARE(plan.assignments.at("a").size(), int64_t(18)); // 24 * 3000 / 4000
        QCOMPARE(plan.assignments.at("b").size(), int64_t(6));
        QCOMPARE(plan.assignments.at("a").begin, int64_t(1));
        QVERIFY(plan.uncovered.empty());
    }

    void unmeasuredNodesSplitEvenly() {
        const PlacementPlan plan = planPlacement(model(), {node("b", 0), node("a", 0)});
        QVERIFY(coveredExactly(plan, 1));
        QCOMPARE(plan.assignments.at("a").size(), int64_t(12));
        QCOMPARE(plan.assignments.at("b").size(), int64_t(12));
    }

    // A volunteer that joins a swarm whose nodes the gateway has timed has no figure of its own yet: it is
    // planned a typical node's share, not the one or zero layers that a weight of 1 token/s against
    // thousands would give it.
    void newcomerIsPlannedATypicalShare() {
        for (const std::string newcomer : {"0", "m", "z"}) { // before, between and after the others' ids
            const PlacementPlan plan =
                planPlacement(model(), {node("c", 5000), node(newcomer, 0), node("k", 3000)});
            QCOMPARE(plan.replicas, 2); // three nodes with room for the model twice
            QVERIFY(coveredExactly(plan, 2));
            QVERIFY2(plan.assignments.count(newcomer) &&
                         plan.assignments.at(newcomer).size() >= model().layerCount / 3,
                     newcomer.c_str());
        }
        // Only unmeasured nodes: all weigh the same.
        const PlacementPlan even =
            planPlacement(model(), {node("a", 0), node("b", 0), node("c", 0), node("d", 0)});
        QVERIFY(coveredExactly(even, 2));
        for (const auto& [id, r] : even.assignments)
            QCOMPARE(r.size(), int64_t(12));
    }

    // The situation of a third volunteer joining two serving ones: they hold half the model each, the plan
    // now wants two replicas. The newcomer takes the second copy; the serving nodes download nothing.
    void newcomerFillsTheGapAndServingNodesKeepTheirShards() {
        for (const std::string newcomer : {"0", "m", "z"}) {
            const PlacementPlan plan =
                planPlacement(model(), {node("c", 5000), node(newcomer, 0), node("k", 3000)});
            std::map<std::string, NodeHoldings> holdings;
            holdings["c"].ready = {LayerRange{1, 13}};
            holdings["k"].ready = {LayerRange{13, 25}};
            holdings[newcomer] = NodeHoldings{};
            std::vector<int> coverage(25, 1);
            coverage[0] = 0;
            const std::vector<LayerAssignment> sent = gapFillingAssignments(plan, coverage, holdings);
            QVERIFY2(!sent.empty() && sent.front().nodeId == newcomer, newcomer.c_str());
            QCOMPARE(idsOf(sent), std::vector<std::string>{newcomer});
            QCOMPARE(sent.front().layers.begin, int64_t(1));
            QCOMPARE(sent.front().layers.end, int64_t(25));
        }
    }

    // Whatever the plan, a node holding nothing fills its gap before a serving node is asked to grow: in
    // node-id order "a" would come first and its larger range would leave nothing for "z".
    void nodesHoldingNothingGoFirst() {
        PlacementPlan plan;
        plan.replicas = 2;
        plan.assignments["a"] = LayerRange{1, 25};
        plan.assignments["z"] = LayerRange{13, 25};
        std::map<std::string, NodeHoldings> holdings;
        holdings["a"].ready = {LayerRange{1, 13}};
        holdings["z"] = NodeHoldings{};
        std::vector<int> coverage(25, 1);
        coverage[0] = 0;
        const std::vector<LayerAssignment> sent = gapFillingAssignments(plan, coverage, holdings);
        // "z" fills 13-25; "a" is still asked for 1-25, whose first half has one copy only.
        QCOMPARE(idsOf(sent), (std::vector<std::string>{"z", "a"}));
    }

    void gapFillingSkipsWhatIsHeldLoadingOrFailed() {
        PlacementPlan plan;
        plan.replicas = 1;
        plan.assignments["held"] = LayerRange{1, 5};
        plan.assignments["loading"] = LayerRange{5, 9};
        plan.assignments["failed"] = LayerRange{9, 13};
        plan.assignments["gone"] = LayerRange{13, 17}; // not in holdings: disconnected meanwhile
        plan.assignments["fresh"] = LayerRange{17, 25};
        std::map<std::string, NodeHoldings> holdings;
        holdings["held"].ready = {LayerRange{1, 9}};
        holdings["loading"].pending = {LayerRange{3, 11}};
        holdings["failed"].failed = {LayerRange{9, 13}};
        holdings["fresh"] = NodeHoldings{};
        const std::vector<int> none(25, 0);
        QCOMPARE(idsOf(gapFillingAssignments(plan, none, holdings)), std::vector<std::string>{"fresh"});
        // No gap, no download: every layer already held once.
        std::vector<int> full(25, 1);
        QVERIFY(gapFillingAssignments(plan, full, holdings).empty());
        // A range outside the model is never sent.
        plan.assignments["fresh"] = LayerRange{17, 30};
        QVERIFY(gapFillingAssignments(plan, none, holdings).empty());
    }

    void memoryBoundsEachShareAndSaysWhatDoesNotFit() {
        // Room for 2 and 3 layers: 5 of the 24 are placed, the rest reported uncovered.
        const PlacementPlan plan =
            planPlacement(model(), {node("a", 0, 2 * kLayerBytes + 1), node("b", 0, 3 * kLayerBytes)});
        QCOMPARE(plan.assignments.at("a").size(), int64_t(2));
        QCOMPARE(plan.assignments.at("b").size(), int64_t(3));
        int64_t uncovered = 0;
        for (const LayerRange& r : plan.uncovered)
            uncovered += r.size();
        QCOMPARE(uncovered, int64_t(19));
        // No room at all: nothing planned, everything uncovered.
        const PlacementPlan none = planPlacement(model(), {node("a", 0, kLayerBytes - 1)});
        QVERIFY(none.assignments.empty());
        QCOMPARE(none.uncovered.size(), size_t(1));
        QCOMPARE(none.uncovered.front().begin, int64_t(1));
        QCOMPARE(none.uncovered.front().end, int64_t(25));
    }

    void drainingNodesAreNotPlanned() {
        const PlacementPlan plan =
            planPlacement(model(), {node("a", 1000), node("b", 1000, kRoomy, false), node("c", 1000)});
        QVERIFY(!plan.assignments.count("b"));
        QCOMPARE(plan.replicas, 1); // two eligible nodes
        QVERIFY(coveredExactly(plan, 1));
    }

    void samePlanWhateverTheOrderOfNodes() {
        std::vector<NodeCapacity> nodes{node("d", 800), node("a", 0), node("c", 1200), node("b", 800)};
        const PlacementPlan first = planPlacement(model(), nodes);
        std::reverse(nodes.begin(), nodes.end());
        const PlacementPlan second = planPlacement(model(), nodes);
        QCOMPARE(first.assignments.size(), second.assignments.size());
        for (const auto& [id, r] : first.assignments) {
            QCOMPARE(second.assignments.at(id).begin, r.begin);
            QCOMPARE(second.assignments.at(id).end, r.end);
        }
    }

    void chainTakesFewestHopsAndAvoidsExcludedNodes() {
        const std::vector<NodeShards> nodes{NodeShards{"whole", {LayerRange{0, 10}}, 100, 0, true},
                                            NodeShards{"front", {LayerRange{0, 5}}, 100, 0, true},
                                            NodeShards{"back", {LayerRange{5, 10}}, 100, 0, true}};
        auto chain = selectChain(10, nodes);
        QVERIFY(chain);
        QCOMPARE(chain->size(), size_t(1));
        QCOMPARE(chain->front().nodeId, std::string("whole"));
        chain = selectChain(10, nodes, {"whole"});
        QVERIFY(chain);
        QCOMPARE(chain->size(), size_t(2));
        QCOMPARE((*chain)[0].nodeId, std::string("front"));
        QCOMPARE((*chain)[1].nodeId, std::string("back"));
        QCOMPARE((*chain)[1].layers.begin, int64_t(5));
        QVERIFY(!selectChain(10, nodes, {"whole", "back"}));
        // A draining node takes no new session, but may carry a running one's layers.
        std::vector<NodeShards> draining = nodes;
        draining[0].accepting = false;
        QCOMPARE(selectChain(10, draining)->size(), size_t(2));
        QCOMPARE(selectChain(10, draining, {}, true)->size(), size_t(1));
    }
};

QTEST_GUILESS_MAIN(TestPlacement)
#include "tst_placement.moc"
