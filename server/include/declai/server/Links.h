// The server's view of one authenticated connection: a volunteer node or a client. Owned by the
// Orchestrator; everything here is touched on the server's main thread only.
#pragma once

#include "declai/core/Identity.h"
#include "declai/core/ReplayWindow.h"
#include "declai/gpu/ModelWeights.h"
#include "declai/network/Channel.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace declai::server {

struct PendingAssignment {
    std::string model;
    LayerRange layers;
    qint64 startedMs = 0;
};

struct NodeLink {
    std::string nodeId;
    std::string publicKey;      // raw Ed25519, verified in the handshake
    PublicKey verifier;         // the same key, parsed once, for its signed answers
    std::string channelBinding; // the handshake nonce: signatures on this connection cover it
    std::unique_ptr<net::Channel> channel;
    wire::NodeStatus status;
    bool statusReceived = false;
    std::map<std::string, std::vector<LayerRange>> readyShards; // model -> verified, loaded ranges
    std::map<uint64_t, PendingAssignment> pendingAssignments;
    std::map<std::string, std::string> failedAssignments; // "model/begin-end" -> reason
    ReplayWindow replayWindow{64};
    bool takesStageBatches = false; // its Hello said it understands StageBatch
    uint64_t maxMessageBytes = 0;   // the frame limit agreed in the handshake (a StageBatch stays under it)
    uint32_t activeSessions = 0;
    uint64_t stagesServed = 0;
    uint64_t layerTokensComputed = 0; // the work a node earns credit for (credits issue)
    // Speed as the gateway measured it (layer-tokens per second of stage round trips, smoothed); 0 until
    // the first accepted stage. A node's self-reported layer_tokens_per_s is never used for ordering: a
    // node could claim anything to be preferred.
    double measuredLayerTokensPerS = 0;

    QString shortId() const { return QString::fromStdString(nodeId.substr(0, 12)); }
    bool accepting() const { return !statusReceived || status.accepting_sessions(); }
    uint64_t memoryBudgetBytes() const { return statusReceived ? status.memory_budget_bytes() : 0; }
    double layerTokensPerS() const { return measuredLayerTokensPerS; }
    void recordStageTiming(uint64_t layerTokens, qint64 roundTripUs);
};

struct ClientLink {
    std::string clientId;
    std::string userId; // the authenticated account owner ("" when credits are off)
    std::string keyId;  // the API key it presented ("" when credits are off)
    std::unique_ptr<net::Channel> channel;
};

} // namespace declai::server
