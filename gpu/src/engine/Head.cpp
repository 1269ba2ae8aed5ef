#include "declai/gpu/Head.h"

#include "declai/gpu/CpuKernels.h"

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
    cpu::matmul(m_weights->output(), m_normed.data(), 1, logits.data(), m_pool, m_scratch);
    return {};
}

} // namespace declai
