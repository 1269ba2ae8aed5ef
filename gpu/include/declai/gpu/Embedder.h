// Token ids -> hidden states (the embedding lookup). Runs on the gateway in the distributed setting so
// volunteers never see token ids.
#pragma once

#include "declai/gpu/ModelWeights.h"

#include <memory>
#include <span>

namespace declai {

class Embedder {
public:
    explicit Embedder(std::shared_ptr<const ModelWeights> weights);
    int64_t hiddenSize() const;
    // out receives tokens.size() x hiddenSize() floats. An id outside the vocabulary is an error.
    Expected<void> embed(std::span<const int32_t> tokens, std::span<float> out) const;

private:
    std::shared_ptr<const ModelWeights> m_weights;
};

} // namespace declai
