// What the gateway keeps of a model: embeddings, the first layers [0, k), the final norm and output head (all
// three computed by GatewayCompute), the tokenizer and the sampler settings. Volunteers only ever see hidden
// states after layer k-1, never ids, text or embedding rows. Threading: used on the server's main thread; the
// head and the gateway's layers run in GatewayCompute.
#pragma once

#include "declai/core/Tokenizer.h"
#include "declai/gpu/ModelWeights.h"

#include <memory>
#include <string>
#include <unordered_set>

namespace declai::server {

class GatewayModel {
public:
    static Expected<std::unique_ptr<GatewayModel>>
    create(std::string name, std::string digest, std::shared_ptr<const GgufFile> file, int gatewayLayers = 1);

    const std::string& name() const { return m_name; }
    const std::string& digest() const { return m_digest; }
    const ModelConfig& config() const { return m_weights->config(); }
    const ModelWeights& weights() const { return *m_weights; }
    std::shared_ptr<const ModelWeights> sharedWeights() const { return m_weights; }
    const Tokenizer& tokenizer() const { return *m_tokenizer; }
    // Layers the gateway runs itself ([0, k), k >= 1); nodes serve [k, layerCount).
    LayerRange gatewayLayers() const { return LayerRange{0, m_gatewayLayers}; }
    LayerRange nodeLayers() const { return LayerRange{m_gatewayLayers, config().layerCount}; }
    const std::unordered_set<int32_t>& stopIds() const { return m_stopIds; }
    uint64_t bytesPerLayer() const;
    int64_t parameterCount() const; // weights in the file (prices scale with it)

private:
    GatewayModel() = default;
    std::string m_name;
    std::string m_digest;
    int64_t m_gatewayLayers = 1;
    std::shared_ptr<const ModelWeights> m_weights;
    std::unique_ptr<Tokenizer> m_tokenizer;
    std::unordered_set<int32_t> m_stopIds;
};

} // namespace declai::server
