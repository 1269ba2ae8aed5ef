#include "declai/gpu/Embedder.h"

#include "declai/core/Quant.h"

namespace declai {

Embedder::Embedder(std::shared_ptr<const ModelWeights> weights) : m_weights(std::move(weights)) {}

int64_t Embedder::hiddenSize() const {
    return m_weights->config().embeddingLength;
}

Expected<void> Embedder::embed(std::span<const int32_t> tokens, std::span<float> out) const {
    const WeightMatrix& table = m_weights->tokenEmbedding();
    const int64_t dim = hiddenSize();
    const float scale = m_weights->config().embeddingScale;
    if (out.size() < tokens.size() * static_cast<size_t>(dim))
        return makeError(ErrorCode::InvalidArgument, "embedding output buffer too small");
    for (size_t i = 0; i < tokens.size(); ++i) {
        const int32_t id = tokens[i];
        if (id < 0 || id >= table.rows)
            return makeError(ErrorCode::InvalidArgument,
                             "token id " + std::to_string(id) + " at position " + std::to_string(i) +
                                 " is outside the vocabulary (" + std::to_string(table.rows) + " tokens)");
        float* row = out.data() + i * static_cast<size_t>(dim);
        quant::dequantizeRow(table.type, table.row(id), row, dim);
        // Gemma scales the embeddings by sqrt(dim), Granite by embedding_scale; the gateway does it, so
        // shards stay layer ranges.
        if (scale != 1.0f)
            for (int64_t d = 0; d < dim; ++d)
                row[d] *= scale;
    }
    return {};
}

} // namespace declai
