// YaRN RoPE scaling (rope.scaling.type "yarn": Qwen 2.5 and Qwen 3 files converted for 128k contexts, ...).
#pragma once

#include <cstdint>
#include <vector>

namespace declai {

// Each dimension pair's angle mixes the scaled (interpolated) angle with the unscaled one by a ramp over the
// pairs between two correction dimensions, and cos/sin grow by a magnitude correction: ggml's rope_yarn with
// llama.cpp's defaults for the generic graphs (ext_factor 1, beta_fast 32, beta_slow 1; they read no other
// YaRN key).
struct RopeYarn {
    float extFactor = 0.0f; // 0 = off
    float corrLow = 0.0f;   // ggml_rope_yarn_corr_dims: pairs up to it keep the unscaled angle
    float corrHigh = 0.0f;  // pairs from it on take the scaled one

    static constexpr float kBetaFast = 32.0f; // llama.cpp's defaults (llama_hparams)
    static constexpr float kBetaSlow = 1.0f;

    // The correction dimensions for `ropeDims` rotated dimensions trained at `originalContext` positions
    // with RoPE base `freqBase`.
    static RopeYarn forModel(int64_t ropeDims, int64_t originalContext, float freqBase,
                             float betaFast = kBetaFast, float betaSlow = kBetaSlow);
    // cos/sin's multiplier: llama.cpp's context divides YaRN's mscale out of its attention factor and ggml's
    // rope_yarn multiplies it back in, each in its own float order; `attnFactor` is rope.scaling.attn_factor
    // and `logMultiplier` rope.scaling.yarn_log_multiplier (mscale_all_dim; 0 = absent).
    static float magnitude(float freqScale, float attnFactor, float logMultiplier = 0.0f);

    bool enabled() const { return extFactor != 0.0f; }
    // The unscaled angle's share in dimension pair `pair` (rope_yarn_ramp x ext_factor).
    float mix(int64_t pair) const;
    // The angle of pair `pair`, from its unscaled angle (theta / factor) as ggml's rope_yarn forms it.
    float angle(float unscaled, float freqScale, int64_t pair) const;
    // The devices' Rope op computes freqScale * theta / factor; YaRN folds into per-pair factors with scale 1
    // (factor / (freqScale * (1 - mix) + mix)), so no backend needs a YaRN mode (its rounding differs from
    // ggml's order by an ulp or so; devices are held to the cosine bar). `factors` are the file's (empty: all
    // 1); the result has `pairs` entries.
    std::vector<float> foldIntoFactors(const std::vector<float>& factors, int64_t pairs,
                                       float freqScale) const;
};

} // namespace declai
