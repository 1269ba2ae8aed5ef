// Hyper-parameters of a model of a supported architecture (core/Architecture.h: llama and its
// mixture-of-experts form, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3, smollm3, granite, granitemoe), read
// from GGUF metadata (`<architecture>.` keys) and checked against the architecture's tensor table.
#pragma once

#include "declai/core/Architecture.h"
#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"
#include "declai/core/RopeYarn.h"

#include <array>
#include <cstdint>
#include <string>

namespace declai {

struct ModelConfig {
    std::string architecture;               // general.architecture
    const ArchitectureSpec* spec = nullptr; // its description (never null in a validated config)
    std::string name;                       // general.name, if any
    int64_t embeddingLength = 0;            // model dimension
    int64_t layerCount = 0;
    int64_t headCount = 0;
    int64_t kvHeadCount = 0;
    int64_t headDim = 0;
    int64_t feedForwardLength = 0; // of the FFN the graph runs (qwen3moe: expert_feed_forward_length)
    int64_t vocabSize = 0;
    int64_t contextLength = 0;
    float rmsNormEps = 1e-5f;
    float ropeFreqBase = 10000.0f;
    float ropeFreqScale = 1.0f;  // 1 / linear scaling factor
    int64_t ropeDimensions = 0;  // rotated dimensions per head (usually headDim)
    bool tiedEmbeddings = false; // no output.weight: the head reuses token_embd.weight
    bool hasRopeFactors = false; // Llama 3.1 style rope_freqs.weight
    // LongRoPE (Phi-3.5, Phi-3 128k): rope_factors_long.weight and rope_factors_short.weight, one of which
    // divides the angles; the long set when the context the model runs with exceeds ropeOriginalContext
    // (llama.cpp's rule: llama_model::get_rope_factors).
    bool hasLongRopeFactors = false;
    int64_t ropeOriginalContext = 0; // rope.scaling.original_context_length (contextLength when absent)
    // cos and sin are multiplied by it: rope.scaling.attn_factor, times YaRN's magnitude correction when
    // ropeYarn is on (the product llama.cpp's context and ggml's rope_yarn form, in their order).
    float ropeAttnFactor = 1.0f;
    RopeYarn ropeYarn; // rope.scaling.type "yarn" (Qwen 2.5/3 beyond 32k, ...)

    // Architecture modes (from spec and the file's keys).
    float embeddingScale = 1.0f;   // token embeddings are multiplied by it (gemma: sqrt(dim))
    float attentionScale = 0.0f;   // scale of Q.K (1/sqrt(headDim) unless the architecture says otherwise)
    float attentionSoftCap = 0.0f; // 0 = none; else scores = cap * tanh(scores / cap)
    float finalSoftCap = 0.0f;     // 0 = none; same on the logits
    float residualScale = 1.0f;    // attention and FFN outputs x it before each residual add (granite)
    float logitScale = 1.0f;       // logits x 1 / logitScale (granite)
    bool ropeEnabled = true;       // false: no layer rotates (granite with rope.scaling.finetuned false)
    // 0 = none; else queries x queryTemperature(position) after RoPE (mistral3's
    // attention.temperature_scale).
    float attentionTemperatureScale = 0.0f;
    int64_t slidingWindow = 0;       // 0 = none; else a SWA layer sees the last slidingWindow positions
    int64_t slidingWindowPeriod = 0; // SWA on layers with index % period < period - 1 (0, 1: every layer)
    // Gemma 3: the sliding-window layers' RoPE (rope.freq_base_swa, no linear scaling), when the
    // architecture gives them their own (ArchitectureSpec::slidingWindowRope) and the file has a window.
    bool separateWindowRope = false;
    float ropeFreqBaseWindow = 10000.0f;
    float ropeFreqScaleWindow = 1.0f;
    int64_t expertCount = 0; // 0 = dense FFN
    int64_t expertUsedCount = 0;
    // Which of the architecture's layer tensors the file has (the same set in every layer).
    std::array<bool, kLayerTensorCount> layerTensorPresent{};

    bool has(LayerTensor t) const { return layerTensorPresent[static_cast<size_t>(t)]; }
    bool usesSlidingWindow(int64_t layer) const;
    // 1 + attentionTemperatureScale * ln(floor(position / ropeOriginalContext) + 1), in llama.cpp's order.
    float queryTemperature(int64_t position) const;
    // Whether `layer` rotates Q and K at all (smollm3's NoPE layers do not).
    bool usesRope(int64_t layer) const {
        return ropeEnabled &&
               !(spec && spec->noRopeLayerStep > 0 && (layer + 1) % spec->noRopeLayerStep == 0);
    }
    // Whether `layer` rotates with the sliding-window RoPE (ropeFreqBaseWindow / ropeFreqScaleWindow)
    // rather than ropeFreqBase / ropeFreqScale.
    bool usesWindowRope(int64_t layer) const { return separateWindowRope && usesSlidingWindow(layer); }
    float ropeBaseOf(int64_t layer) const {
        return usesWindowRope(layer) ? ropeFreqBaseWindow : ropeFreqBase;
    }
    float ropeScaleOf(int64_t layer) const {
        return usesWindowRope(layer) ? ropeFreqScaleWindow : ropeFreqScale;
    }
    // The device graph's options beyond plain llama's that this model uses (DeviceShardExecutor::create asks
    // the device for each; every backend has them since session 18), e.g. "NeoX RoPE, Q/K/V biases"; empty
    // for plain llama and llama with experts. Rope frequency factors are listed too (a mode of every
    // backend's Rope op, not a separate op).
    std::string deviceOptionalFeatures() const;

    // Whether a model run with `contextTokens` of context (an executor's maxContext) takes LongRoPE's long
    // factors rather than its short ones.
    bool usesLongRopeFactors(int64_t contextTokens) const {
        return hasLongRopeFactors && contextTokens > ropeOriginalContext;
    }

    int64_t qDim() const { return headCount * headDim; }
    int64_t kvDim() const { return kvHeadCount * headDim; }

    // Reads and validates: every required tensor present with the expected shape and a supported type.
    static Expected<ModelConfig> fromGguf(const GgufFile& file);
};

// Tensor names of a layer, as llama.cpp writes them.
std::string layerTensorName(int64_t layer, const char* suffix);

} // namespace declai
