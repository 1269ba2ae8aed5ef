#include "declai/core/RopeYarn.h"

#include <cmath>
#include <numbers>

namespace declai {

RopeYarn RopeYarn::forModel(int64_t ropeDims, int64_t originalContext, float freqBase, float betaFast,
                            float betaSlow) {
    // ggml_rope_yarn_corr_dim, in float as ggml.c: n_dims * logf(n_ctx_orig / (beta * 2 * pi)) / (2 *
    // logf(base)).
    const auto corrDim = [&](float beta) {
        return static_cast<float>(ropeDims) *
               std::log(static_cast<float>(originalContext) / (beta * 2.0f * std::numbers::pi_v<float>)) /
               (2.0f * std::log(freqBase));
    };
    const float start = std::floor(corrDim(betaFast));
    const float end = std::ceil(corrDim(betaSlow));
    const auto lastDim = static_cast<float>(ropeDims - 1);
    RopeYarn yarn;
    yarn.extFactor = 1.0f;
    yarn.corrLow = 0.0f > start ? 0.0f : start; // ggml's MAX(0, start)
    yarn.corrHigh = lastDim < end ? lastDim : end;
    return yarn;
}

float RopeYarn::magnitude(float freqScale, float attnFactor, float logMultiplier) {
    // llama_context (libllama is built without FMA): get_mscale(factor, 1) [/ get_mscale(factor, log
    // multiplier)] / (1 + 0.1 ln factor) x attn_factor; ggml-cpu's rope_yarn (built with FMA, the
    // multiply-add contracted): mscale *= 1 + 0.1 ln(1 / freq_scale).
    const float factor = 1.0f / freqScale;
    const auto mscale = [factor](float m) {
        return factor <= 1.0f ? 1.0f : 0.1f * m * std::log(factor) + 1.0f;
    };
    float attn = logMultiplier != 0.0f ? mscale(1.0f) / mscale(logMultiplier) : mscale(1.0f);
    attn *= 1.0f / (1.0f + 0.1f * std::log(factor));
    attn *= attnFactor;
    return attn * std::fma(0.1f, std::log(1.0f / freqScale), 1.0f);
}

float RopeYarn::mix(int64_t pair) const {
    // rope_yarn_ramp with ggml's MAX/MIN macros (their comparison order).
    const float span = 0.001f > corrHigh - corrLow ? 0.001f : corrHigh - corrLow;
    const float y = (static_cast<float>(pair) - corrLow) / span;
    const float clamped = 0.0f > y ? 0.0f : y;
    return (1.0f - (1.0f < clamped ? 1.0f : clamped)) * extFactor;
}

float RopeYarn::angle(float unscaled, float freqScale, int64_t pair) const {
    const float scaled = freqScale * unscaled;
    if (!enabled())
        return scaled;
    // theta_interp * (1 - mix) + theta_extrap * mix, contracted in ggml-cpu's FMA builds as here.
    const float m = mix(pair);
    return std::fma(scaled, 1.0f - m, unscaled * m);
}

std::vector<float> RopeYarn::foldIntoFactors(const std::vector<float>& factors, int64_t pairs,
                                             float freqScale) const {
    std::vector<float> folded(static_cast<size_t>(pairs));
    for (int64_t i = 0; i < pairs; ++i) {
        const float factor = static_cast<size_t>(i) < factors.size() ? factors[static_cast<size_t>(i)] : 1.0f;
        const float m = mix(i);
        folded[static_cast<size_t>(i)] = factor / (freqScale * (1.0f - m) + m);
    }
    return folded;
}

} // namespace declai
