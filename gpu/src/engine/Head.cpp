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
    const ModelConfig& c = m_weights->config();
    if (hidden.size() != static_cast<size_t>(c.embeddingLength))
        return makeError(ErrorCode::InvalidArgument, "head input has " + std::to_string(hidden.size()) +
                                                         " values, expected " +
                                                         std::to_string(c.embeddingLength));
    if (logits.size() < static_cast<size_t>(vocabSize()))
        return makeError(ErrorCode::InvalidArgument, "logits buffer too small");
    m_normed.resize(hidden.size());
    cpu::rmsNorm(hidden.data(), m_weights->outputNorm().data(), c.embeddingLength, c.rmsNormEps,
                 m_normed.data());
    cpu::matmul(m_weights->output(), m_normed.data(), 1, logits.data(), m_pool, m_scratch, m_rounding);
    // Final soft-capping (gemma2), as llama.cpp's graph: scale by 1/cap, tanh, scale by cap.
    if (const float cap = c.finalSoftCap; cap > 0.0f) {
        const float inverse = 1.0f / cap;
        for (int64_t i = 0; i < vocabSize(); ++i)
            logits[static_cast<size_t>(i)] = std::tanh(logits[static_cast<size_t>(i)] * inverse) * cap;
    }
    return {};
}

} // namespace declai
