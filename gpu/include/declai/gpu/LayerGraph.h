// The one description of a transformer layer: the steps every architecture of core/Architecture.h runs, in
// order, switched by the config's modes and the tensors the layer has. It runs over LayerOps, which the CPU
// engine (ShardExecutor) and the device engine (DeviceShardExecutor) both implement; each keeps its own
// numerics (the CPU side llama.cpp's, bit for bit) and its own buffers, batching and caches. A new
// architecture changes this file only when it needs a step no architecture has yet (docs/architecture.md).
#pragma once

#include "declai/core/Architecture.h"
#include "declai/core/Error.h"
#include "declai/core/ModelConfig.h"
#include "declai/gpu/ModelWeights.h"

#include <cstdint>
#include <span>

namespace declai {

// The activations of one pass through a layer, nTokens rows each (the rows the ops were set up with). Widths:
// Hidden, Normed, Proj: embedding length; Q, AttnOut: qDim; K, V: kvDim; Gate, Up: feed-forward length.
enum class LayerBuffer : uint8_t { Hidden, Normed, Q, K, V, AttnOut, Proj, Gate, Up };

// Values per row of `buffer`.
inline int64_t layerBufferWidth(const ModelConfig& c, LayerBuffer buffer) {
    switch (buffer) {
    case LayerBuffer::Q:
    case LayerBuffer::AttnOut:
        return c.qDim();
    case LayerBuffer::K:
    case LayerBuffer::V:
        return c.kvDim();
    case LayerBuffer::Gate:
    case LayerBuffer::Up:
        return c.feedForwardLength;
    default:
        return c.embeddingLength;
    }
}

// One product of a projection group: out = matrix x input.
struct LayerProduct {
    LayerTensor matrix;
    LayerBuffer out;
};

// How the attention scales its scores.
struct AttentionMode {
    float scale = 0.0f; // the model's KQ scale
    // true: queries are multiplied by `scale` in F32 before attention, which then scores with 1 (gemma2);
    // false: the scale is applied to each dot product.
    bool queryPreScaled = false;
    float softCap = 0.0f; // > 0: score = cap * tanh(score * scale / cap)
    int64_t window = 0;   // > 0: a sliding-window layer sees the last `window` positions, its own included
};

// The operations of one layer, over the rows of the current pass. Tensors are named by their role; an
// implementation looks them up in its own copy of the current layer. Errors are values (device backends
// can fail at every step; the CPU never does).
class LayerOps {
public:
    virtual ~LayerOps() = default;

    // Selects layer `layer` of the model for the ops that follow.
    [[nodiscard]] virtual Expected<void> beginLayer(int64_t layer) = 0;
    // out = rmsNorm(x) * weight, row by row (x and out of embedding width; x != out).
    [[nodiscard]] virtual Expected<void> rmsNorm(LayerBuffer x, LayerTensor weight, LayerBuffer out) = 0;
    // Products sharing one input: the input is rounded once for matrices whose formats pair with the same
    // activation format, as llama.cpp does for Q/K/V and gate/up.
    [[nodiscard]] virtual Expected<void> project(LayerBuffer input,
                                                 std::span<const LayerProduct> products) = 0;
    // One product of a fused matrix (Wqkv: [q | k | v] rows; Up with fusedGateUp: [gate | up] rows) whose
    // rows are split, in order, into `outs`.
    [[nodiscard]] virtual Expected<void> projectSplit(LayerBuffer input, LayerTensor matrix,
                                                      std::span<const LayerBuffer> outs) = 0;
    // x[row] += bias for every row.
    [[nodiscard]] virtual Expected<void> addBias(LayerBuffer x, LayerTensor bias) = 0;
    // RMSNorm of Q or K in groups as wide as the weight, in place: every head with one shared weight of
    // headDim values (qwen3), or the whole row with a weight per value (olmo2).
    [[nodiscard]] virtual Expected<void> headNorm(LayerBuffer x, LayerTensor weight) = 0;
    // Rotates the first ropeDimensions values of every head of Q and K by each row's position.
    [[nodiscard]] virtual Expected<void> rope(RopeMode mode) = 0;
    // Q's row of position p x config.queryTemperature(p), one float multiply per value (ggml_mul).
    [[nodiscard]] virtual Expected<void> scaleQueries() = 0;
    // Stores K and V in the layer's KV cache at each row's position, then attends Q over the cache
    // causally into AttnOut.
    [[nodiscard]] virtual Expected<void> attention(const AttentionMode& mode) = 0;
    // Up = act(Gate) * Up.
    [[nodiscard]] virtual Expected<void> gatedActivation(FfnActivation activation) = 0;
    // x += y.
    [[nodiscard]] virtual Expected<void> add(LayerBuffer x, LayerBuffer y) = 0;
    // x += y * yScale, each product rounded to float before the add (llama.cpp's ggml_scale, then ggml_add:
    // Granite's residual_scale). y is left as it was.
    [[nodiscard]] virtual Expected<void> addScaled(LayerBuffer x, LayerBuffer y, float yScale) = 0;
    // Proj = the mixture of experts applied to Normed: router product, cpu::routeExperts, each chosen
    // expert's gated FFN scaled by its weight, the weighted outputs added in rank order.
    [[nodiscard]] virtual Expected<void> experts(FfnActivation activation) = 0;
};

// Runs layer `layer` (whose host tensors are `w`: they say which optional steps run) over `ops`, updating
// Hidden in place.
[[nodiscard]] Expected<void> runLayerGraph(LayerOps& ops, const ModelConfig& config, const LayerWeights& w,
                                           int64_t layer);

} // namespace declai
