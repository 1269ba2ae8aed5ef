// Runs a whole model on this machine: Embedder -> ShardExecutor over all layers -> Head -> Sampler.
// The distributed pipeline composes the same parts across nodes; this is its local reference.
#pragma once

#include "declai/core/Sampler.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/Head.h"
#include "declai/gpu/ShardBackend.h"
#include "declai/gpu/ShardExecutor.h"

#include <functional>
#include <memory>
#include <span>
#include <unordered_set>
#include <vector>

namespace declai {

struct GenerationOptions {
    int32_t maxTokens = 32;
    SamplerConfig sampler;               // temperature 0 => greedy
    std::unordered_set<int32_t> stopIds; // generation ends (without emitting) on these ids
};

class LocalGenerator {
public:
    static Expected<std::unique_ptr<LocalGenerator>> create(std::shared_ptr<const ModelWeights> weights,
                                                            ThreadPool& pool, int64_t maxContext = 0);
    // The same on any device ("cpu", "opencl:0", "vulkan:0", ...): the layers run on it, the embeddings
    // and the head stay on the CPU.
    static Expected<std::unique_ptr<LocalGenerator>> create(std::shared_ptr<const ModelWeights> weights,
                                                            ThreadPool& pool, std::string_view deviceId,
                                                            int64_t maxContext = 0);
    const ShardBackend& shard() const { return *m_shard; }
    // How prompt products round (ShardExecutor::setBatchRounding): LlamaCpp unless set.
    void setBatchRounding(cpu::BatchRounding rounding) { m_shard->setBatchRounding(rounding); }

    const ModelWeights& weights() const { return *m_weights; }

    // Logits of the last prompt position (prefill only).
    Expected<std::vector<float>> promptLogits(std::span<const int32_t> prompt);

    // Generates up to maxTokens after the prompt. onToken runs on the calling thread for each generated
    // token as soon as it is sampled; returning false stops early. Returns the generated ids.
    Expected<std::vector<int32_t>> generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                                            const std::function<bool(int32_t)>& onToken = {});

private:
    LocalGenerator(std::shared_ptr<const ModelWeights> weights, ThreadPool& pool,
                   std::unique_ptr<ShardBackend> shard);
    Expected<void> step(SessionId session, std::span<const int32_t> tokens, int64_t startPos);

    std::shared_ptr<const ModelWeights> m_weights;
    Embedder m_embedder;
    Head m_head;
    std::unique_ptr<ShardBackend> m_shard;
    std::vector<float> m_hidden;
    std::vector<float> m_logits;
    SessionId m_nextSession = 1;
};

} // namespace declai
