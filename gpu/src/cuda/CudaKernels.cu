// CUDA kernels of the CUDA backend; HIP-compatible through cuda/vendor.h (no CUDA-only intrinsics).
// Every kernel mirrors its OpenCL twin in gpu/src/opencl/kernels (the semantics reference): one block
// per output row or token, shared-memory tree reductions, float math with correctly rounded F16
// conversions (__float2half_rn = vstore_half_rte).
#include "cuda/CudaFormats.h"
#include "cuda/CudaKernels.h"

namespace declai::gpu::cuda {
namespace {

// Threads of every reduction block; a power of two.
constexpr int kBlock = 128;
// Tokens one matmul block handles (TOKENS_PER_GROUP in matmul.cl).
constexpr int kTokensPerBlock = 8;
// Blocks of the 1-D grid-stride kernels.
constexpr int64_t kMaxGrid = 65535;

__device__ __forceinline__ uint16_t floatToHalfBits(float v) {
    return __half_as_ushort(__float2half_rn(v));
}
__device__ __forceinline__ float negativeInfinity() {
    return __int_as_float(static_cast<int>(0xff800000u));
}
using fmt::halfBitsToFloat;
using fmt::roundF16;

// Block-wide sum/max; every thread of the block must call it. `scratch` holds kBlock floats.
__device__ float blockSum(float* scratch, float value) {
    const int lid = threadIdx.x;
    scratch[lid] = value;
    __syncthreads();
    for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            scratch[lid] += scratch[lid + stride];
        __syncthreads();
    }
    const float result = scratch[0];
    __syncthreads();
    return result;
}

__device__ float blockMax(float* scratch, float value) {
    const int lid = threadIdx.x;
    scratch[lid] = value;
    __syncthreads();
    for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            scratch[lid] = fmaxf(scratch[lid], scratch[lid + stride]);
        __syncthreads();
    }
    const float result = scratch[0];
    __syncthreads();
    return result;
}

// ---- kernels ----

// y[t][r] = dot(W.row(r), x[t]); grid = (rows, ceil(nTokens / kTokensPerBlock)), block = kBlock.
template <Format F>
__global__ void __launch_bounds__(kBlock)
    matMulKernel(const uint8_t* w, uint64_t rowBytes, const float* x, float* y, int64_t rows, int64_t cols,
                 int64_t nTokens) {
    __shared__ float scratch[kBlock];
    constexpr int kUnit = Fmt<F>::kUnit;
    const int64_t r = blockIdx.x;
    const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTokensPerBlock;
    const int count = static_cast<int>(nTokens - t0 < kTokensPerBlock ? nTokens - t0 : kTokensPerBlock);
    const uint8_t* row = w + r * rowBytes;
    const int64_t units = cols / kUnit;
    float acc[kTokensPerBlock];
    for (int t = 0; t < kTokensPerBlock; ++t)
        acc[t] = 0.0f;
    float values[kUnit];
    // Q4_1/Q5_1: the activations' block sums follow their nTokens * cols values (round_activations' Q8_1
    // layout) and each block adds m * s, as llama.cpp's Q4_1 x Q8_1 dot does.
    const float* blockSums = x + nTokens * cols;
    for (int64_t u = threadIdx.x; u < units; u += kBlock) {
        float blockMin = 0.0f;
        if constexpr (kHasBlockMins<F>)
            blockMin = Fmt<F>::unitScaled(row, u, values);
        else
            Fmt<F>::unit(row, u, values);
        for (int t = 0; t < count; ++t) {
            const float* xt = x + (t0 + t) * cols + u * kUnit;
            float sum = 0.0f;
            for (int l = 0; l < kUnit; ++l)
                sum += values[l] * xt[l];
            if constexpr (kHasBlockMins<F>)
                sum += blockMin * blockSums[(t0 + t) * units + u];
            acc[t] += sum;
        }
    }
    // count is uniform over the block, so every thread reaches the same barriers.
    for (int t = 0; t < count; ++t) {
        const float total = blockSum(scratch, acc[t]);
        if (threadIdx.x == 0)
            y[(t0 + t) * rows + r] = total;
    }
}

template <Format F>
__global__ void getRowsKernel(const uint8_t* table, uint64_t rowBytes, const int32_t* ids, float* out,
                              int64_t count, int64_t cols) {
    const int64_t total = count * cols;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t row = i / cols;
        const int64_t c = i % cols;
        out[i] = Fmt<F>::value(table + static_cast<uint64_t>(ids[row]) * rowBytes, c);
    }
}

// One block per token.
__global__ void __launch_bounds__(kBlock)
    rmsNormKernel(const float* x, const float* weight, float* out, int64_t n, float eps) {
    __shared__ float scratch[kBlock];
    const int64_t t = blockIdx.x;
    const float* row = x + t * n;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += kBlock)
        sum += row[i] * row[i];
    sum = blockSum(scratch, sum);
    const float scale = 1.0f / sqrtf(sum / static_cast<float>(n) + eps);
    float* o = out + t * n;
    for (int64_t i = threadIdx.x; i < n; i += kBlock)
        o[i] = (row[i] * scale) * weight[i];
}

// One thread per rotated pair: index = (t * heads + h) * (ropeDims / 2) + i; the pair is (2i, 2i+1), or
// (i, i + ropeDims/2) when neox is set. theta_i = pos * thetaScale^i by repeated multiplication in float,
// as the CPU reference builds its table (RopeParams::thetaScale); divided by factors[i] first where the
// model has rope frequency factors (factors null otherwise); cos and sin times attnFactor (ggml's mscale).
__global__ void ropeKernel(float* x, int64_t total, int64_t heads, int64_t headDim, int64_t ropeDims,
                           int64_t startPos, float thetaScale, float freqScale, bool neox,
                           const float* factors, float attnFactor) {
    const int64_t pairs = ropeDims / 2;
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t i = idx % pairs;
        const int64_t h = (idx / pairs) % heads;
        const int64_t t = idx / (pairs * heads);
        float theta = static_cast<float>(startPos + t);
        for (int64_t k = 0; k < i; ++k)
            theta *= thetaScale;
        const float angle = freqScale * (factors ? theta / factors[i] : theta);
        const float c = cosf(angle) * attnFactor;
        const float s = sinf(angle) * attnFactor;
        float* v = x + (t * heads + h) * headDim;
        const int64_t i0 = ropePairFirst(i, neox);
        const int64_t i1 = ropePairSecond(i, ropeDims, neox);
        const float x0 = v[i0];
        const float x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
    }
}

__global__ void kvStoreKernel(const float* k, const float* v, uint16_t* keyCache, uint16_t* valueCache,
                              int64_t startPos, int64_t total, int64_t kvDim) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t dst = startPos * kvDim + i;
        keyCache[dst] = floatToHalfBits(k[i]);
        valueCache[dst] = floatToHalfBits(v[i]);
    }
}

// One block per (head, token): grid = (headCount, nTokens). Two-pass float softmax over the scores
// stored in `scores` (maxVisible floats per (token, head)).
__global__ void __launch_bounds__(kBlock)
    attentionKernel(const float* q, const uint16_t* keyCache, const uint16_t* valueCache, float* out,
                    float* scores, int64_t startPos, int64_t headCount, int64_t kvHeadCount, int64_t headDim,
                    int64_t maxVisible, float scale, float softCap, int64_t window) {
    __shared__ float scratch[kBlock];
    const int64_t h = blockIdx.x;
    const int64_t t = blockIdx.y;
    const int lid = threadIdx.x;
    const int64_t kvHead = h / (headCount / kvHeadCount);
    const int64_t visible = startPos + t + 1;
    const int64_t first = attentionFirstRow(visible, window);
    const int64_t kvDim = kvHeadCount * headDim;
    const int64_t qOffset = (t * headCount + h) * headDim;
    const float* query = q + qOffset;
    float* s = scores + (t * headCount + h) * maxVisible;

    float localMax = negativeInfinity();
    for (int64_t j = first + lid; j < visible; j += kBlock) {
        const uint16_t* key = keyCache + j * kvDim + kvHead * headDim;
        float dot = 0.0f;
        for (int64_t d = 0; d < headDim; ++d)
            dot += query[d] * halfBitsToFloat(key[d]);
        const float score = cappedScore(dot, scale, softCap);
        s[j] = score;
        localMax = fmaxf(localMax, score);
    }
    const float maxScore = blockMax(scratch, localMax);
    float localSum = 0.0f;
    for (int64_t j = first + lid; j < visible; j += kBlock) {
        const float e = expf(s[j] - maxScore);
        s[j] = e;
        localSum += e;
    }
    // blockSum's barriers also make the weights above visible to the whole block.
    const float sum = blockSum(scratch, localSum);
    const float inverse = 1.0f / sum;
    const uint16_t* values = valueCache + kvHead * headDim;
    for (int64_t d = lid; d < headDim; d += kBlock) {
        float acc = 0.0f;
        for (int64_t j = first; j < visible; ++j)
            acc += s[j] * halfBitsToFloat(values[j * kvDim + d]);
        out[qOffset + d] = acc * inverse;
    }
}

// AttentionParams::halfAccumulator: F16-rounded query, then per output dimension a one-pass online
// softmax over rows 0.. in order with the weighted value sum rounded to F16 after every step.
__global__ void __launch_bounds__(kBlock)
    attentionHalfKernel(const float* q, const uint16_t* keyCache, const uint16_t* valueCache, float* out,
                        float* scores, int64_t startPos, int64_t headCount, int64_t kvHeadCount,
                        int64_t headDim, int64_t maxVisible, float scale, float softCap, int64_t window) {
    const int64_t h = blockIdx.x;
    const int64_t t = blockIdx.y;
    const int lid = threadIdx.x;
    const int64_t kvHead = h / (headCount / kvHeadCount);
    const int64_t visible = startPos + t + 1;
    const int64_t first = attentionFirstRow(visible, window);
    const int64_t kvDim = kvHeadCount * headDim;
    const int64_t qOffset = (t * headCount + h) * headDim;
    const float* query = q + qOffset;
    float* s = scores + (t * headCount + h) * maxVisible;
    for (int64_t j = first + lid; j < visible; j += kBlock) {
        const uint16_t* key = keyCache + j * kvDim + kvHead * headDim;
        float dot = 0.0f;
        for (int64_t d = 0; d < headDim; ++d)
            dot += roundF16(query[d]) * halfBitsToFloat(key[d]);
        s[j] = cappedScore(dot, scale, softCap);
    }
    __syncthreads();
    const uint16_t* values = valueCache + kvHead * headDim;
    for (int64_t d = lid; d < headDim; d += kBlock) {
        float acc = 0.0f;
        float maxScore = negativeInfinity();
        float sum = 0.0f;
        for (int64_t j = first; j < visible; ++j) {
            const float score = s[j];
            float oldScale = 1.0f;
            float weight = 1.0f;
            if (score > maxScore) {
                oldScale = expf(maxScore - score);
                maxScore = score;
                acc = roundF16(acc * oldScale);
            } else {
                weight = expf(score - maxScore);
            }
            acc = roundF16(acc + halfBitsToFloat(values[j * kvDim + d]) * weight);
            sum = sum * oldScale + weight;
        }
        out[qOffset + d] = acc * (sum == 0.0f ? 0.0f : 1.0f / sum);
    }
}

__global__ void swiGluKernel(const float* gate, float* x, int64_t n) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float g = gate[i];
        x[i] = (g / (1.0f + expf(-g))) * x[i];
    }
}

__global__ void geluGluKernel(const float* gate, float* x, int64_t n) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        x[i] = geluTanhF16(gate[i]) * x[i];
}

// x[r][c] += bias[c] over rows * cols values.
__global__ void addBiasKernel(float* x, const float* bias, int64_t total, int64_t cols) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        x[i] += bias[i % cols];
}

__global__ void addKernel(float* x, const float* y, int64_t n) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        x[i] += y[i];
}

// Mixture-of-experts combine (scatter_scaled_rows / sum_row_groups in ops.cl): a lone multiply, then adds
// only, so nvcc's FMA contraction has nothing to fuse and the bits match the CPU engine.
__global__ void scatterScaledRowsKernel(const float* src, const int32_t* slots, const float* scales,
                                        float* dst, int64_t count, int64_t dstRows, int64_t cols) {
    for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < count * cols;
         v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t j = slots[v / cols];
        if (j < 0 || j >= dstRows)
            continue;
        dst[j * cols + v % cols] = src[v] * scales[j];
    }
}

__global__ void sumRowGroupsKernel(const float* in, float* out, int64_t groups, int64_t groupSize,
                                   int64_t cols) {
    for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < groups * cols;
         v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float* rows = in + (v / cols) * groupSize * cols + v % cols;
        float sum = rows[0];
        for (int64_t k = 1; k < groupSize; ++k)
            sum = sum + rows[k * cols];
        out[v] = sum;
    }
}

// One thread per rounding block (see round_activations in ops.cl); rintf rounds half to even.
// Q8_1 also writes block b's s = fp16(d * sum(q)), d unrounded, to out[sumsAt + b] (quantize_row_q8_1).
__global__ void roundActivationsKernel(const float* x, float* out, int kind, int64_t blocks, int64_t block,
                                       int64_t sumsAt) {
    for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks;
         b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float* xb = x + b * block;
        float* ob = out + b * block;
        if (kind == static_cast<int>(RoundKind::Copy)) {
            ob[0] = xb[0];
        } else if (kind == static_cast<int>(RoundKind::F16)) {
            ob[0] = roundF16(xb[0]);
        } else if (kind == static_cast<int>(RoundKind::Q8_0) || kind == static_cast<int>(RoundKind::Q8_1)) {
            float amax = 0.0f;
            for (int64_t i = 0; i < block; ++i)
                amax = fmaxf(amax, fabsf(xb[i]));
            const float d = amax / 127.0f;
            const float id = amax != 0.0f ? 127.0f / amax : 0.0f; // llama.cpp's x86 quantize_row_q8_0
            const float storedScale = roundF16(d);
            int sum = 0;
            for (int64_t i = 0; i < block; ++i) {
                const float q = rintf(xb[i] * id);
                ob[i] = storedScale * q;
                sum += static_cast<int>(q);
            }
            if (kind == static_cast<int>(RoundKind::Q8_1))
                out[sumsAt + b] = roundF16(d * static_cast<float>(sum));
        } else {
            float amax = 0.0f;
            float signedMax = 0.0f;
            for (int64_t i = 0; i < block; ++i) {
                if (fabsf(xb[i]) > amax) {
                    amax = fabsf(xb[i]);
                    signedMax = xb[i];
                }
            }
            if (amax == 0.0f) {
                for (int64_t i = 0; i < block; ++i)
                    ob[i] = 0.0f;
                continue;
            }
            const float iscale = -127.0f / signedMax;
            const float d = 1.0f / iscale;
            for (int64_t i = 0; i < block; ++i)
                ob[i] = d * fminf(127.0f, rintf(iscale * xb[i]));
        }
    }
}

// Blocks for a grid-stride loop over `work` items.
unsigned gridFor(int64_t work, int threads = 256) {
    const int64_t blocks = (work + threads - 1) / threads;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxGrid ? kMaxGrid : blocks));
}

template <Format F>
void matMulAs(cudaStream_t stream, const void* w, uint64_t rowBytes, const float* x, float* y, int64_t rows,
              int64_t cols, int64_t nTokens) {
    const dim3 grid(static_cast<unsigned>(rows),
                    static_cast<unsigned>((nTokens + kTokensPerBlock - 1) / kTokensPerBlock));
    matMulKernel<F>
        <<<grid, kBlock, 0, stream>>>(static_cast<const uint8_t*>(w), rowBytes, x, y, rows, cols, nTokens);
}

template <Format F>
void getRowsAs(cudaStream_t stream, const void* table, uint64_t rowBytes, const int32_t* ids, int64_t count,
               float* out, int64_t cols) {
    getRowsKernel<F><<<gridFor(count * cols), 256, 0, stream>>>(static_cast<const uint8_t*>(table), rowBytes,
                                                                ids, out, count, cols);
}

} // namespace

cudaError_t launchRmsNorm(cudaStream_t stream, const float* x, const float* weight, float* out, int64_t n,
                          int64_t nTokens, float eps) {
    rmsNormKernel<<<static_cast<unsigned>(nTokens), kBlock, 0, stream>>>(x, weight, out, n, eps);
    return cudaGetLastError();
}

cudaError_t launchMatMul(cudaStream_t stream, Format format, const void* w, uint64_t rowBytes, const float* x,
                         float* y, int64_t rows, int64_t cols, int64_t nTokens) {
    withFormat(format, [&](auto tag) {
        matMulAs<decltype(tag)::kFormat>(stream, w, rowBytes, x, y, rows, cols, nTokens);
    });
    return cudaGetLastError();
}

cudaError_t launchRope(cudaStream_t stream, float* x, int64_t nTokens, int64_t heads, int64_t headDim,
                       int64_t ropeDims, int64_t startPos, float thetaScale, float freqScale, bool neox,
                       const float* factors, float attnFactor) {
    const int64_t total = nTokens * heads * (ropeDims / 2);
    if (total > 0)
        ropeKernel<<<gridFor(total), 256, 0, stream>>>(x, total, heads, headDim, ropeDims, startPos,
                                                       thetaScale, freqScale, neox, factors, attnFactor);
    return cudaGetLastError();
}

cudaError_t launchKvStore(cudaStream_t stream, const float* k, const float* v, uint16_t* keyCache,
                          uint16_t* valueCache, int64_t startPos, int64_t count, int64_t kvDim) {
    const int64_t total = count * kvDim;
    kvStoreKernel<<<gridFor(total), 256, 0, stream>>>(k, v, keyCache, valueCache, startPos, total, kvDim);
    return cudaGetLastError();
}

cudaError_t launchAttention(cudaStream_t stream, bool halfAccumulator, const float* q,
                            const uint16_t* keyCache, const uint16_t* valueCache, float* out, float* scores,
                            int64_t nTokens, int64_t startPos, int64_t headCount, int64_t kvHeadCount,
                            int64_t headDim, int64_t maxVisible, float scale, float softCap, int64_t window) {
    const dim3 grid(static_cast<unsigned>(headCount), static_cast<unsigned>(nTokens));
    if (halfAccumulator)
        attentionHalfKernel<<<grid, kBlock, 0, stream>>>(q, keyCache, valueCache, out, scores, startPos,
                                                         headCount, kvHeadCount, headDim, maxVisible, scale,
                                                         softCap, window);
    else
        attentionKernel<<<grid, kBlock, 0, stream>>>(q, keyCache, valueCache, out, scores, startPos,
                                                     headCount, kvHeadCount, headDim, maxVisible, scale,
                                                     softCap, window);
    return cudaGetLastError();
}

cudaError_t launchSwiGlu(cudaStream_t stream, const float* gate, float* x, int64_t n) {
    swiGluKernel<<<gridFor(n), 256, 0, stream>>>(gate, x, n);
    return cudaGetLastError();
}

cudaError_t launchGeluGlu(cudaStream_t stream, const float* gate, float* x, int64_t n) {
    geluGluKernel<<<gridFor(n), 256, 0, stream>>>(gate, x, n);
    return cudaGetLastError();
}

cudaError_t launchAddBias(cudaStream_t stream, float* x, const float* bias, int64_t rows, int64_t cols) {
    addBiasKernel<<<gridFor(rows * cols), 256, 0, stream>>>(x, bias, rows * cols, cols);
    return cudaGetLastError();
}

cudaError_t launchAdd(cudaStream_t stream, float* x, const float* y, int64_t n) {
    addKernel<<<gridFor(n), 256, 0, stream>>>(x, y, n);
    return cudaGetLastError();
}

cudaError_t launchScatterScaledRows(cudaStream_t stream, const float* src, const int32_t* slots,
                                    const float* scales, float* dst, int64_t count, int64_t dstRows,
                                    int64_t cols) {
    scatterScaledRowsKernel<<<gridFor(count * cols), 256, 0, stream>>>(src, slots, scales, dst, count,
                                                                       dstRows, cols);
    return cudaGetLastError();
}

cudaError_t launchSumRowGroups(cudaStream_t stream, const float* in, float* out, int64_t groups,
                               int64_t groupSize, int64_t cols) {
    sumRowGroupsKernel<<<gridFor(groups * cols), 256, 0, stream>>>(in, out, groups, groupSize, cols);
    return cudaGetLastError();
}

cudaError_t launchGetRows(cudaStream_t stream, Format format, const void* table, uint64_t rowBytes,
                          const int32_t* ids, int64_t count, float* out, int64_t cols) {
    withFormat(format, [&](auto tag) {
        getRowsAs<decltype(tag)::kFormat>(stream, table, rowBytes, ids, count, out, cols);
    });
    return cudaGetLastError();
}

cudaError_t launchRoundActivations(cudaStream_t stream, RoundKind kind, const float* x, float* out,
                                   int64_t blocks, int64_t block, int64_t sumsAt) {
    roundActivationsKernel<<<gridFor(blocks), 256, 0, stream>>>(x, out, static_cast<int>(kind), blocks, block,
                                                                sumsAt);
    return cudaGetLastError();
}

} // namespace declai::gpu::cuda
