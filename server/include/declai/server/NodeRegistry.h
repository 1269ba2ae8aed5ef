// The gateway's connected volunteer nodes: which keys may join (NodeJoinLimiter), which are cut off for
// cheating (the quarantine set, restored from NodeReputation across restarts), the authentication of every
// signed node message (signature over this connection's binding, fresh seq) and the possession proofs a
// claimed or loaded shard needs before it is routed to (ShardProofs). It tells its owner what happened
// through Events; what to do about it (placement, sessions, billing) is the owner's.
// Threading: main thread only.
#pragma once

#include "declai/core/Error.h"
#include "declai/server/GatewayModel.h"
#include "declai/server/Links.h"
#include "declai/server/ModelStore.h"
#include "declai/server/NodeJoinLimiter.h"
#include "declai/server/NodeReputation.h"
#include "declai/server/OrchestratorStats.h"
#include "declai/server/Placement.h"
#include "declai/server/ServerConfig.h"
#include "declai/server/ShardProofs.h"

#include <QObject>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace declai::server {

class NodeRegistry : public QObject {
    Q_OBJECT

public:
    // What the owner hears, each on the main thread, from inside the registry's own calls.
    struct Events {
        std::function<void(NodeLink& node)> joined; // welcomed and listed
        // Unlisted (it closed, or a new connection of its key replaced it); its link still lives, so
        // sessions can fail over while reading its counters.
        std::function<void(const std::string& nodeId, const QString& reason)> leaving;
        std::function<void(const std::string& nodeId)> left; // its link is gone
        std::function<void(NodeLink& node)> statusApplied;   // a NodeStatus replaced node.status
        // A load failed or a claimed shard was disproven: its layers need another home.
        std::function<void()> placementChanged;
        std::function<void(const std::string& model)> shardProven; // node.readyShards grew
        // A stage answer whose message was signed by the node on this connection with a fresh seq.
        std::function<void(NodeLink& node, const wire::StageResponse& response)> stageAnswer;
        // Cut off from routing; its connection, if any, is refused right after this returns.
        std::function<void(const std::string& nodeId, const QString& reason)> quarantined;
    };

    // models, store, reputation and stats outlive the registry.
    NodeRegistry(const ServerConfig& config, ModelStore& store,
                 const std::map<std::string, std::unique_ptr<GatewayModel>>& models,
                 NodeReputation& reputation, OrchestratorStats& stats, Events events,
                 QObject* parent = nullptr);
    ~NodeRegistry() override;

    // Nodes quarantined before a restart stay cut off (call once the reputation is loaded).
    void restoreQuarantine();

    // Before a node is welcomed: a key with no record costs one join from its address's budget.
    Expected<void> admitNode(const std::string& nodeId, const QString& peerAddress);
    // Lists a handshaken node (a quarantined key is refused and closed instead).
    void addNode(std::unique_ptr<NodeLink> node);
    // Never routed to again; its pending earnings are the owner's to void (Events::quarantined).
    void quarantine(const std::string& nodeId, const QString& reason);
    bool isQuarantined(const std::string& nodeId) const { return m_quarantined.count(nodeId) != 0; }
    const std::set<std::string>& quarantined() const { return m_quarantined; }

    NodeLink* nodeLink(const std::string& nodeId) const; // null when not connected
    const std::map<std::string, std::unique_ptr<NodeLink>>& links() const { return m_nodes; }
    std::vector<const NodeLink*> nodes() const;
    size_t nodeCount() const { return m_nodes.size(); }

private:
    void onNodeEnvelope(NodeLink* node, const wire::Envelope& envelope);
    void onNodeClosed(const std::string& nodeId, const QString& reason);
    void applyStatus(NodeLink* node, const wire::Envelope& envelope);
    void handleShardReady(NodeLink* node, const wire::Envelope& envelope);
    // A StageResponse or a StageBatchResponse: the signature checked, then each answer delivered.
    void handleStageAnswers(NodeLink* node, const wire::Envelope& envelope);
    // Signed node messages: the signature must verify on this connection and the seq must be new; else
    // the node is refused and closed, and this returns false.
    bool acceptSigned(NodeLink* node, const wire::Envelope& envelope, const char* what);
    // Possession proofs (ShardProofs): a claimed or loaded shard is routed to only once proven.
    void challengeShard(NodeLink& node, const std::string& model, LayerRange layers);
    void handleShardProof(NodeLink* node, const wire::Envelope& envelope);
    void shardProven(NodeLink& node, const std::string& model, LayerRange layers);

    const ServerConfig& m_config;
    ModelStore& m_store;
    const std::map<std::string, std::unique_ptr<GatewayModel>>& m_models;
    NodeReputation& m_reputation; // by node id, so it survives reconnects
    OrchestratorStats& m_stats;
    Events m_events;
    ShardProofs m_shardProofs;
    NodeJoinLimiter m_joinLimiter;
    std::set<std::string> m_quarantined; // node ids caught cheating: never routed to again
    std::map<std::string, std::unique_ptr<NodeLink>> m_nodes;
};

// "model/begin-end": how logs and NodeLink::failedAssignments name a range of a model's layers.
QString rangeKey(const std::string& model, LayerRange r);

} // namespace declai::server
