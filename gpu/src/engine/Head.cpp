#include "declai/gpu/Head.h"

#include "declai/gpu/CpuKernels.h"

#include <cmath>

namespace declai {

Head::Head(std::shared_ptr<const ModelWeights> weights, ThreadPool& pool)
    : m_weights(std::move(weights)), m_pool(pool) {}

int64_t Head::vocabSize() const {
    return m_weights->output().rows;
}

Expected<void> Head::logits(std::span<const float> hidden, std::span<float> logits) {
    return logitsBatch(hidden, 1, logits);
}

Expected<void> Head::logitsBatch(std::span<const float> hidden, int64_t rows, std::span<float> logits) {
    const ModelConfig& c = m_weights->config();
    const auto dim = static_cast<size_t>(c.embeddingLength);
    const auto vocab = static_cast<size_t>(vocabSize());
    if (rows < 1 || hidden.size() != dim * static_cast<size_t>(rows))
        return makeError(ErrorCode::InvalidArgument, "head input has " + std::to_string(hidden.size()) +
                                                         " values, expected " + std::to_string(rows) + " x " +
                                                         std::to_string(c.embeddingLength));
    if (logits.size() < vocab * static_cast<size_t>(rows))
        return makeError(ErrorCode::InvalidArgument, "logits buffer too small");
    m_normed.resize(hidden.size());
    for (size_t r = 0; r < static_cast<size_t>(rows); ++r)
        cpu::rmsNorm(hidden.data() + r * dim, m_weights->outputNorm().data(), c.embeddingLength, c.rmsNormEps,
                     m_normed.data() + r * dim);
    // llama.cpp computes one row's logits (the prompt's last, or a decode token's): each row rounds as a
    // batch of one, while one pass over the output matrix serves them all.
    cpu::matmul(m_weights->output(), m_normed.data(), rows, logits.data(), m_pool, m_scratch,
                cpu::BatchRounding::AsDecode);
    // Granite divides the logits by logit_scale as llama.cpp's graph does: one multiply by its reciprocal.
    if (c.logitScale != 1.0f) {
        const float inverse = 1.0f / c.logitScale;
        for (size_t i = 0; i < vocab * static_cast<size_t>(rows); ++i)
            logits[i] *= inverse;
    }
    // Final soft-capping (gemma2), as llama.cpp's graph: scale by 1/cap, tanh, scale by cap.
    if (const float cap = c.finalSoftCap; cap > 0.0f) {
        const float inverse = 1.0f / cap;
        for (size_t i = 0; i < vocab * static_cast<size_t>(rows); ++i)
            logits[i] = std::tanh(logits[i] * inverse) * cap;
    }
    return {};
}

} // namespace declai
