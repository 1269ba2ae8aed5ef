// Final RMSNorm + output matrix: hidden state -> logits over the vocabulary.
#pragma once

#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/ModelWeights.h"
#include "declai/gpu/ThreadPool.h"

#include <memory>
#include <span>
#include <vector>

namespace declai {

class Head {
public:
    Head(std::shared_ptr<const ModelWeights> weights, ThreadPool& pool);
    int64_t vocabSize() const;
    // hidden: one row of hiddenSize floats; logits: vocabSize floats. Called on the compute thread.
    Expected<void> logits(std::span<const float> hidden, std::span<float> logits);
    // hidden: `rows` rows of hiddenSize floats; logits: rows x vocabSize floats. One pass over the output
    // matrix for all rows; each row's logits are bit-identical to logits() on that row alone.
    Expected<void> logitsBatch(std::span<const float> hidden, int64_t rows, std::span<float> logits);

private:
    std::shared_ptr<const ModelWeights> m_weights;
    ThreadPool& m_pool;
    std::vector<float> m_normed;
    std::vector<std::byte> m_scratch;
};

} // namespace declai
