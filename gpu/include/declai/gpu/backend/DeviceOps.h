// The operations a compute device runs on its own buffers. Every backend implements the same set; the
// CPU device is the reference the others are tested against (tests/gpu/tst_backend_ops.cpp).
//
// Layouts (all row-major, float activations unless stated):
//  - activations: nTokens rows of n values;
//  - weight matrices: `rows` rows of `cols` values in their GGUF format, uploaded as raw bytes
//    (tensorBytes(type, cols) bytes per row);
//  - KV cache: F16, cacheTokens rows of kvHeadCount * headDim values, one buffer for keys and one for
//    values.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/TensorType.h"

#include <cmath>
#include <cstdint>
#include <span>

namespace declai::gpu {

class Device;

// Floats roundActivations writes for nTokens rows of cols values rounded for `weightType` weights (and
// MatMul of such weights reads): nTokens * cols, plus one block sum per 32 values for Q4_1/Q5_1.
int64_t roundedActivationFloats(TensorType weightType, int64_t cols, int64_t nTokens);

enum class OpKind {
    RmsNorm,
    MatMul,
    Rope,
    Attention,
    SwiGlu,
    Add,
    GetRows,
    RoundActivations,
    RopeNeox, // Rope with RopeParams::neox (Qwen, Phi, Gemma): pairs (i, i + ropeDims/2)
    AddBias,  // a bias vector added to every row (Qwen2's Q/K/V biases)
    GeluGlu,  // x = gelu_tanh(gate) * x (Gemma 2's gated FFN)
    // Attention with AttentionParams::softCap or ::window set (Gemma 2's capped scores and sliding-window
    // layers, Phi-3's window); plain Attention is the op without them.
    AttentionCapWindow,
    // The mixture-of-experts combine, kept on the device (Mixtral): ScatterScaledRows writes one expert's
    // weighted output rows into their (token, slot) rows, SumRowGroups adds each token's slots into proj.
    ScatterScaledRows,
    SumRowGroups,
};

inline constexpr OpKind kAllOps[] = {
    OpKind::RmsNorm,           OpKind::MatMul,           OpKind::Rope,
    OpKind::Attention,         OpKind::SwiGlu,           OpKind::Add,
    OpKind::GetRows,           OpKind::RoundActivations, OpKind::RopeNeox,
    OpKind::AddBias,           OpKind::GeluGlu,          OpKind::AttentionCapWindow,
    OpKind::ScatterScaledRows, OpKind::SumRowGroups};
const char* opKindName(OpKind op);

// Memory owned by one device. Created by Device::allocate; must not outlive its device. Not thread-safe:
// a buffer is used from the thread that drives its device.
class DeviceBuffer {
public:
    virtual ~DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    uint64_t sizeBytes() const { return m_sizeBytes; }
    const Device& device() const { return *m_device; }

protected:
    DeviceBuffer(const Device* device, uint64_t sizeBytes) : m_device(device), m_sizeBytes(sizeBytes) {}

private:
    const Device* m_device;
    uint64_t m_sizeBytes;
};

// A matrix stored in a device buffer: `rows` rows of `cols` values of `type`, rows packed back to back.
struct MatrixDesc {
    TensorType type = TensorType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
};

struct RopeParams {
    int64_t nTokens = 1;
    int64_t heads = 0;
    int64_t headDim = 0;
    int64_t ropeDims = 0; // rotated values per head (<= headDim, even)
    int64_t startPos = 0; // token t sits at position startPos + t
    float freqBase = 10000.0f;
    float freqScale = 1.0f;
    // false: llama's pairs (2i, 2i+1); true: NeoX pairs (i, i + ropeDims/2), same angle per pair i.
    bool neox = false;
    // Llama 3.1's per-pair frequency factors (rope_freqs.weight, ropeDims/2 floats on this device) or null:
    // pair i turns by freqScale * (theta_i / factor_i), as cpu::ropeTable and ggml's rope cache.
    const DeviceBuffer* freqFactors = nullptr;
    // rope.scaling.attn_factor (LongRoPE's magnitude correction): cos and sin are multiplied by it, as in
    // ggml's rope (mscale); 1 leaves the rotation exact.
    float attnFactor = 1.0f;
    // base^(-2/ropeDims): kernels build theta_i = pos * thetaScale^i by repeated multiplication in float,
    // the same expression as cpu::ropeTable, so the angles match the CPU engine's bit for bit.
    float thetaScale() const { return std::pow(freqBase, -2.0f / static_cast<float>(ropeDims)); }
};

struct AttentionParams {
    int64_t nTokens = 1;  // new tokens (1 for decode, more for prefill)
    int64_t startPos = 0; // cache rows [0, startPos) already hold earlier tokens
    int64_t headCount = 0;
    int64_t kvHeadCount = 0; // divides headCount (grouped-query attention)
    int64_t headDim = 0;
    int64_t cacheTokens = 0; // capacity of the cache buffers in tokens
    float scale = 0.0f;      // 0 means 1/sqrt(headDim)
    // llama.cpp CPU numerics (what ShardExecutor computes): the query is rounded to F16, and a one-pass
    // online softmax over cache rows 0.. in order keeps the weighted value sum in F16 (rounded after every
    // rescale and every accumulation). false: the plain two-pass float softmax.
    bool halfAccumulator = false;
    // > 0: each score is softCap * tanh(dot * scale) (Gemma 2's attention soft-capping; llama.cpp folds
    // 1/cap into the scale the same way, so pass scale = kqScale / softCap).
    float softCap = 0.0f;
    // > 0: token at position p attends to positions (p - window, p] only (sliding-window layers).
    int64_t window = 0;
};

// Operations are enqueued on the device's one in-order queue: they may return before the work is done,
// and Device::download or Device::synchronize waits for it. Argument errors (sizes, foreign buffers,
// unsupported formats) are returned before anything is enqueued.
class DeviceOps {
public:
    virtual ~DeviceOps() = default;

    // out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, for nTokens rows of n values.
    [[nodiscard]] virtual Expected<void> rmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight,
                                                 DeviceBuffer& out, int64_t n, int64_t nTokens,
                                                 float eps) = 0;
    // y[t][r] = dot(W.row(r), x[t]): x is nTokens x w.cols, y is nTokens x w.rows. For Q4_1/Q5_1 weights x
    // is in roundActivations' Q8_1 layout (the values, then one block sum s per 32 values) and each block
    // adds m * s, as llama.cpp's Q4_1 x Q8_1 dot does; roundedActivationFloats gives its size.
    [[nodiscard]] virtual Expected<void> matMul(const DeviceBuffer& weights, const MatrixDesc& w,
                                                const DeviceBuffer& x, int64_t nTokens, DeviceBuffer& y) = 0;
    // Rotates adjacent pairs of the first ropeDims values of every head in place (llama "normal" mode,
    // angle = pos * freqScale * base^(-2i/ropeDims)). x is nTokens x heads x headDim.
    [[nodiscard]] virtual Expected<void> rope(DeviceBuffer& x, const RopeParams& params) = 0;
    // Stores the new keys/values (nTokens x kvHeadCount x headDim, F32) as F16 in cache rows
    // [startPos, startPos + nTokens), then computes causal softmax attention of q (nTokens x headCount x
    // headDim) over cache rows [0, startPos + t] into out (same shape as q).
    [[nodiscard]] virtual Expected<void> attention(const DeviceBuffer& q, const DeviceBuffer& k,
                                                   const DeviceBuffer& v, DeviceBuffer& keyCache,
                                                   DeviceBuffer& valueCache, DeviceBuffer& out,
                                                   const AttentionParams& params) = 0;
    // x = silu(gate) * x over n values.
    [[nodiscard]] virtual Expected<void> swiGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) = 0;
    // x = gelu(gate) * x over n values, GELU in its tanh form (llama.cpp's ggml_gelu).
    [[nodiscard]] virtual Expected<void> geluGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) = 0;
    // x += y over n values.
    [[nodiscard]] virtual Expected<void> add(DeviceBuffer& x, const DeviceBuffer& y, int64_t n) = 0;
    // x[r][c] += bias[c] for rows x cols values of x (row-major) and cols values of bias.
    [[nodiscard]] virtual Expected<void> addBias(DeviceBuffer& x, const DeviceBuffer& bias, int64_t rows,
                                                 int64_t cols) = 0;
    // out[i] = dequantised table.row(ids[i]) (embedding lookup); out is ids.size() x table.cols floats.
    // The ids come from the host (token ids), so they are range-checked before anything runs.
    [[nodiscard]] virtual Expected<void> getRows(const DeviceBuffer& table, const MatrixDesc& desc,
                                                 std::span<const int32_t> ids, DeviceBuffer& out) = 0;
    // out = x (nTokens rows of cols floats) rounded to the activation format llama.cpp's CPU path pairs
    // with `weightType` (quant::activationTypeFor: Q8_0 blocks of 32 with an F16 scale for Q8_0/Q4_0
    // weights, Q8_K blocks of 256 with a float scale for Q4_K/Q6_K, F16 for F16), written back as floats;
    // a plain copy for F32. Q8_1 (Q4_1/Q5_1 weights) rounds as Q8_0 and then stores, after all
    // nTokens * cols values, each block's s = fp16(d * sum(q)) with d before its F16 rounding (token-major,
    // cols / 32 per token): llama.cpp multiplies the weights' block minimum by that s, which the rounded
    // values alone cannot reproduce. out holds roundedActivationFloats(weightType, cols, nTokens) floats.
    // The engine runs it before MatMul so a device multiplies the same activation values as the CPU
    // reference (keeps quantised models' logits next to llama.cpp's).
    [[nodiscard]] virtual Expected<void> roundActivations(const DeviceBuffer& x, DeviceBuffer& out,
                                                          int64_t cols, int64_t nTokens,
                                                          TensorType weightType) = 0;
    // For i in [0, count): j = slots[first + i]; dst row j = src row i * scales[j] (one float multiply per
    // value), rows of cols floats. `slots` holds int32 row indices and `scales` one float per dst row
    // (dstRows of them): both live on the device, so a MoE layer uploads its routing once and scatters
    // every expert's output from the same buffers (they may be one buffer). A slot outside [0, dstRows) is
    // skipped: device-side indices cannot be range-checked before the op is enqueued.
    [[nodiscard]] virtual Expected<void> scatterScaledRows(const DeviceBuffer& src, const DeviceBuffer& slots,
                                                           int64_t first, int64_t count,
                                                           const DeviceBuffer& scales, DeviceBuffer& dst,
                                                           int64_t dstRows, int64_t cols) = 0;
    // out row g = in row g*groupSize + in row g*groupSize+1 + ... + in row g*groupSize+groupSize-1, added
    // left to right one float add at a time (the CPU engine's copy then addInPlace per slot), for `groups`
    // rows of cols floats; groupSize 1 is a copy.
    [[nodiscard]] virtual Expected<void> sumRowGroups(const DeviceBuffer& in, DeviceBuffer& out,
                                                      int64_t groups, int64_t groupSize, int64_t cols) = 0;
};

} // namespace declai::gpu
