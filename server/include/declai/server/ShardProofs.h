// A node earns the right to serve layers by proving it holds them, not by claiming them. For a shard a
// node claims (NodeStatus) or reports loaded (ShardReady), the gateway sends a ShardChallenge: a fresh nonce
// and random byte ranges of that shard's tensors in the node's view of the file (at least two per layer).
// The node answers with ShardProofHasher over its own copy, signed; the gateway computed the same hash from
// its file when it made the challenge. Only a correct answer puts the shard into routing. What this proves:
// the node could produce those bytes when asked. They are public to nodes anyway, so a node could fetch
// them on demand; it cannot take layers by saying so, and what it computes is still checked by the
// Verifier. Threading: main thread only; a challenge hashes at most a few hundred KiB from the memory map.
#pragma once

#include "declai/core/WireCodec.h"
#include "declai/gpu/ModelWeights.h"
#include "declai/server/ModelStore.h"

#include <QtGlobal>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>

namespace declai::server {

struct ShardProofSettings {
    int rangesPerLayer = 2;
    int minRanges = 16;
    int maxRanges = 256;
    uint64_t rangeBytes = 1024;
    qint64 timeoutMs = 30000; // an unanswered challenge is forgotten after this; a later claim gets a new one
    int maxOpenPerNode = 8;   // a node cannot make the gateway hash without bound by claiming many ranges
};

class ShardProofs {
public:
    explicit ShardProofs(uint64_t seed, ShardProofSettings settings = {});

    // A new challenge for `layers` of `entry` held by `nodeId` (remembered until answered or expired). An
    // error when the range holds no tensors or the node already has maxOpenPerNode unanswered challenges.
    Expected<wire::ShardChallenge> challenge(const std::string& nodeId, const ModelStore::Entry& entry,
                                             LayerRange layers, qint64 nowMs);
    // False while the node has maxOpenPerNode unanswered challenges: further claims wait for its answers.
    bool canChallenge(const std::string& nodeId, qint64 nowMs);
    // Whether an unexpired challenge for exactly this claim is waiting for its answer.
    bool isPending(const std::string& nodeId, const std::string& model, LayerRange layers,
                   qint64 nowMs) const;

    struct Outcome {
        std::string model;
        LayerRange layers;
        bool valid = false;
        std::string reason; // why it is not valid
    };
    // Checks an answer (its signature is the caller's job). nullopt: no open challenge of that id for this
    // node (unknown, already answered, or expired).
    std::optional<Outcome> check(const std::string& nodeId, const wire::ShardProof& proof, qint64 nowMs);
    void forgetNode(const std::string& nodeId);
    size_t openCount() const { return m_open.size(); }

private:
    struct Open {
        std::string nodeId;
        std::string model;
        LayerRange layers;
        std::string expected; // raw SHA-256
        qint64 deadlineMs = 0;
    };
    void expire(qint64 nowMs);

    ShardProofSettings m_settings;
    std::map<uint64_t, Open> m_open;
    uint64_t m_nextId = 1;
    std::mt19937_64 m_rng;
};

} // namespace declai::server
