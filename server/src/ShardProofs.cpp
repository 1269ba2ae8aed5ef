#include "declai/server/ShardProofs.h"

#include "declai/core/Identity.h"
#include "declai/core/ShardProof.h"

#include <algorithm>
#include <vector>

namespace declai::server {

ShardProofs::ShardProofs(uint64_t seed, ShardProofSettings settings) : m_settings(settings), m_rng(seed) {}

void ShardProofs::expire(qint64 nowMs) {
    std::erase_if(m_open, [nowMs](const auto& entry) { return entry.second.deadlineMs <= nowMs; });
}

Expected<wire::ShardChallenge> ShardProofs::challenge(const std::string& nodeId,
                                                      const ModelStore::Entry& entry, LayerRange layers,
                                                      qint64 nowMs) {
    expire(nowMs);
    if (!canChallenge(nodeId, nowMs))
        return makeError(ErrorCode::InvalidArgument, "the node has too many unanswered challenges");
    const ShardManifest& manifest = entry.manifest; // the node's view: offsets as the node holds them
    const std::vector<const ShardManifest::Tensor*> tensors =
        manifest.tensorsForLayers(layers.begin, layers.end);
    if (tensors.empty() || layers.size() <= 0)
        return makeError(ErrorCode::InvalidArgument, "layers " + std::to_string(layers.begin) + "-" +
                                                         std::to_string(layers.end) + " of '" +
                                                         manifest.modelName + "' hold no tensors");
    const int count = std::clamp<int>(static_cast<int>(std::min<int64_t>(layers.size(), 1 << 20)) *
                                          m_settings.rangesPerLayer,
                                      m_settings.minRanges, m_settings.maxRanges);
    // Every layer gets ranges (a node holding most layers but not all fails), the rest fall anywhere.
    std::vector<int64_t> layerOfRange;
    for (int i = 0; i < count; ++i)
        layerOfRange.push_back(i < layers.size() * m_settings.rangesPerLayer
                                   ? layers.begin + i / m_settings.rangesPerLayer
                                   : layers.begin + static_cast<int64_t>(m_rng() % uint64_t(layers.size())));
    wire::ShardChallenge challenge;
    const uint64_t id = m_nextId++;
    challenge.set_challenge_id(id);
    challenge.set_model(manifest.modelName);
    challenge.set_model_digest(manifest.digest);
    challenge.set_layer_begin(static_cast<uint32_t>(layers.begin));
    challenge.set_layer_end(static_cast<uint32_t>(layers.end));
    challenge.set_nonce(randomBytes(32));
    ShardProofHasher hasher(challenge.nonce());
    std::vector<std::byte> buffer;
    for (int64_t layer : layerOfRange) {
        std::vector<const ShardManifest::Tensor*> candidates;
        uint64_t layerBytes = 0;
        for (const ShardManifest::Tensor* t : tensors)
            if (t->layer == layer) {
                candidates.push_back(t);
                layerBytes += t->sizeBytes;
            }
        if (layerBytes == 0)
            continue;
        // A uniformly random byte of the layer, then a range from there within its tensor.
        uint64_t pick = m_rng() % layerBytes;
        const ShardManifest::Tensor* tensor = candidates.front();
        for (const ShardManifest::Tensor* t : candidates) {
            if (pick < t->sizeBytes) {
                tensor = t;
                break;
            }
            pick -= t->sizeBytes;
        }
        const uint64_t length = std::min(m_settings.rangeBytes, tensor->sizeBytes - pick);
        buffer.resize(static_cast<size_t>(length));
        if (auto read = entry.view.read(*entry.file, tensor->offset + pick, length, buffer.data()); !read)
            return read.error();
        wire::ByteSpan* span = challenge.add_ranges();
        span->set_offset(tensor->offset + pick);
        span->set_length(length);
        hasher.addRange(tensor->offset + pick, buffer);
    }
    m_open[id] = Open{nodeId, manifest.modelName, layers, hasher.result(), nowMs + m_settings.timeoutMs};
    return challenge;
}

bool ShardProofs::canChallenge(const std::string& nodeId, qint64 nowMs) {
    expire(nowMs);
    const auto open = std::count_if(m_open.begin(), m_open.end(),
                                    [&nodeId](const auto& e) { return e.second.nodeId == nodeId; });
    return open < m_settings.maxOpenPerNode;
}

bool ShardProofs::isPending(const std::string& nodeId, const std::string& model, LayerRange layers,
                            qint64 nowMs) const {
    for (const auto& [id, open] : m_open)
        if (open.nodeId == nodeId && open.model == model && open.layers.begin == layers.begin &&
            open.layers.end == layers.end && open.deadlineMs > nowMs)
            return true;
    return false;
}

std::optional<ShardProofs::Outcome> ShardProofs::check(const std::string& nodeId,
                                                       const wire::ShardProof& proof, qint64 nowMs) {
    expire(nowMs);
    auto it = m_open.find(proof.challenge_id());
    if (it == m_open.end() || it->second.nodeId != nodeId)
        return std::nullopt;
    const Open open = it->second;
    m_open.erase(it);
    Outcome outcome{open.model, open.layers, false, {}};
    if (!proof.error().empty())
        outcome.reason = "the node could not answer: " + proof.error().substr(0, 200);
    else if (proof.proof() != open.expected)
        outcome.reason = "the proof does not match the bytes of those layers";
    else
        outcome.valid = true;
    return outcome;
}

void ShardProofs::forgetNode(const std::string& nodeId) {
    std::erase_if(m_open, [&nodeId](const auto& entry) { return entry.second.nodeId == nodeId; });
}

} // namespace declai::server
