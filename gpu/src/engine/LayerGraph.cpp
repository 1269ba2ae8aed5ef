#include "declai/gpu/LayerGraph.h"

#include <algorithm>

namespace declai {

#define DECLAI_GRAPH_STEP(expr)                                                                              \
    if (auto stepResult = (expr); !stepResult)                                                               \
    return stepResult

// The steps and their order are llama.cpp's llm_build_* graphs for the supported architectures; the float
// steps inside each op are each engine's own (ShardExecutor: llama.cpp's CPU numerics bit for bit).
Expected<void> runLayerGraph(LayerOps& ops, const ModelConfig& c, const LayerWeights& w, int64_t layer) {
    static const ArchitectureSpec kLlama{};
    const ArchitectureSpec& arch = c.spec ? *c.spec : kLlama;
    using B = LayerBuffer;
    using T = LayerTensor;
    DECLAI_GRAPH_STEP(ops.beginLayer(layer));
    // Each block's output joins the residual stream, scaled first where the model says (granite).
    const auto residualAdd = [&](LayerBuffer y) {
        return c.residualScale != 1.0f ? ops.addScaled(B::Hidden, y, c.residualScale) : ops.add(B::Hidden, y);
    };

    // Attention block. Its input is the normed hidden state, or the hidden state itself where the
    // architecture has no pre-norm (olmo2).
    // Whether the architecture's table has a tensor (a config without a spec runs llama's layer).
    const auto archHas = [&](LayerTensor role) {
        return arch.layerTensors.empty() ||
               std::any_of(arch.layerTensors.begin(), arch.layerTensors.end(),
                           [role](const LayerTensorSpec& t) { return t.role == role; });
    };
    const bool attnPreNorm = archHas(T::AttnNorm);
    if (attnPreNorm)
        DECLAI_GRAPH_STEP(ops.rmsNorm(B::Hidden, T::AttnNorm, B::Normed));
    const LayerBuffer attnIn = attnPreNorm ? B::Normed : B::Hidden;
    if (w.wqkv.data) {
        const LayerBuffer qkv[] = {B::Q, B::K, B::V};
        DECLAI_GRAPH_STEP(ops.projectSplit(attnIn, T::Wqkv, qkv));
    } else {
        const LayerProduct qkv[] = {{T::Wq, B::Q}, {T::Wk, B::K}, {T::Wv, B::V}};
        DECLAI_GRAPH_STEP(ops.project(attnIn, qkv));
    }
    // Biases, then per-head Q/K norms, then RoPE.
    if (!w.bq.empty())
        DECLAI_GRAPH_STEP(ops.addBias(B::Q, T::Bq));
    if (!w.bk.empty())
        DECLAI_GRAPH_STEP(ops.addBias(B::K, T::Bk));
    if (!w.bv.empty())
        DECLAI_GRAPH_STEP(ops.addBias(B::V, T::Bv));
    if (!w.qNorm.empty())
        DECLAI_GRAPH_STEP(ops.headNorm(B::Q, T::QNorm));
    if (!w.kNorm.empty())
        DECLAI_GRAPH_STEP(ops.headNorm(B::K, T::KNorm));
    if (c.usesRope(layer))
        DECLAI_GRAPH_STEP(ops.rope(arch.rope));
    if (c.attentionTemperatureScale != 0.0f) // mistral3's temperature tuning
        DECLAI_GRAPH_STEP(ops.scaleQueries());
    AttentionMode attention{c.attentionScale, arch.queryPreScaled, c.attentionSoftCap, 0};
    attention.window = c.usesSlidingWindow(layer) ? c.slidingWindow : 0;
    DECLAI_GRAPH_STEP(ops.attention(attention));
    const LayerProduct wo[] = {{T::Wo, B::Proj}};
    DECLAI_GRAPH_STEP(ops.project(B::AttnOut, wo));
    if (!w.postAttnNorm.empty()) {
        DECLAI_GRAPH_STEP(ops.rmsNorm(B::Proj, T::PostAttnNorm, B::Normed));
        DECLAI_GRAPH_STEP(residualAdd(B::Normed));
    } else {
        DECLAI_GRAPH_STEP(residualAdd(B::Proj));
    }

    // Feed-forward block: a gated FFN (SwiGLU or GeGLU) or a mixture of such experts.
    const bool ffnPreNorm = archHas(T::FfnNorm);
    if (ffnPreNorm)
        DECLAI_GRAPH_STEP(ops.rmsNorm(B::Hidden, T::FfnNorm, B::Normed));
    const LayerBuffer ffnIn = ffnPreNorm ? B::Normed : B::Hidden;
    if (c.expertCount > 0) {
        DECLAI_GRAPH_STEP(ops.experts(arch.activation)); // experts' tables always have the pre-norm
    } else {
        if (arch.fusedGateUp) { // ffn_up holds [gate | up] rows
            const LayerBuffer gateUp[] = {B::Gate, B::Up};
            DECLAI_GRAPH_STEP(ops.projectSplit(ffnIn, T::Up, gateUp));
        } else {
            const LayerProduct gateUp[] = {{T::Gate, B::Gate}, {T::Up, B::Up}};
            DECLAI_GRAPH_STEP(ops.project(ffnIn, gateUp));
        }
        DECLAI_GRAPH_STEP(ops.gatedActivation(arch.activation));
        const LayerProduct down[] = {{T::Down, B::Proj}};
        DECLAI_GRAPH_STEP(ops.project(B::Up, down));
    }
    if (!w.postFfnNorm.empty()) {
        DECLAI_GRAPH_STEP(ops.rmsNorm(B::Proj, T::PostFfnNorm, B::Normed));
        DECLAI_GRAPH_STEP(residualAdd(B::Normed));
    } else {
        DECLAI_GRAPH_STEP(residualAdd(B::Proj));
    }
    return {};
}

#undef DECLAI_GRAPH_STEP

} // namespace declai
