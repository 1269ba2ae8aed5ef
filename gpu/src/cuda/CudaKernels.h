// Host-side launchers of the CUDA/HIP kernels (CudaKernels.cu). Each enqueues one op on `stream` and
// returns the launch status (cudaGetLastError); semantics mirror gpu/src/opencl/kernels/*.cl exactly.
// Plain C++: included by the g++-compiled CudaBackend.cpp as well as by the .cu file.
#pragma once

#include "cuda/CudaFormats.h"
#include "cuda/vendor.h"

#include <cstdint>

namespace declai::gpu::cuda {

// roundActivations modes: copy, F16, Q8_0 (32, F16 scale), Q8_K (256, float scale), Q8_1 (Q8_0 plus the
// block sums after the values); the values of checks::RoundKind (OpChecks.h), which this plain header for
// nvcc does not include.
enum class RoundKind : int { Copy = 0, F16 = 1, Q8_0 = 2, Q8_K = 3, Q8_1 = 4 };

cudaError_t launchRmsNorm(cudaStream_t stream, const float* x, const float* weight, float* out, int64_t n,
                          int64_t nTokens, float eps);
// Q4_1/Q5_1: x holds the Q8_1 block sums after its nTokens * cols values (DeviceOps::matMul).
cudaError_t launchMatMul(cudaStream_t stream, Format format, const void* w, uint64_t rowBytes, const float* x,
                         float* y, int64_t rows, int64_t cols, int64_t nTokens);
// factors: ropeDims / 2 rope frequency factors (rope_freqs, LongRoPE's long or short set) or null;
// attnFactor multiplies cos and sin (RopeParams::attnFactor).
cudaError_t launchRope(cudaStream_t stream, float* x, int64_t nTokens, int64_t heads, int64_t headDim,
                       int64_t ropeDims, int64_t startPos, float thetaScale, float freqScale, bool neox,
                       const float* factors, float attnFactor);
// keyCache/valueCache hold F16 bits.
cudaError_t launchKvStore(cudaStream_t stream, const float* k, const float* v, uint16_t* keyCache,
                          uint16_t* valueCache, int64_t startPos, int64_t count, int64_t kvDim);
cudaError_t launchAttention(cudaStream_t stream, bool halfAccumulator, const float* q,
                            const uint16_t* keyCache, const uint16_t* valueCache, float* out, float* scores,
                            int64_t nTokens, int64_t startPos, int64_t headCount, int64_t kvHeadCount,
                            int64_t headDim, int64_t maxVisible, float scale, float softCap, int64_t window);
cudaError_t launchSwiGlu(cudaStream_t stream, const float* gate, float* x, int64_t n);
// x = geluTanhF16(gate) * x (CudaFormats.h).
cudaError_t launchGeluGlu(cudaStream_t stream, const float* gate, float* x, int64_t n);
// x[r][c] += bias[c].
cudaError_t launchAddBias(cudaStream_t stream, float* x, const float* bias, int64_t rows, int64_t cols);
cudaError_t launchAdd(cudaStream_t stream, float* x, const float* y, int64_t n);
// dst row slots[i] = src row i * scales[slots[i]] for i < count (slots already offset by `first`); rows
// outside [0, dstRows) are skipped.
cudaError_t launchScatterScaledRows(cudaStream_t stream, const float* src, const int32_t* slots,
                                    const float* scales, float* dst, int64_t count, int64_t dstRows,
                                    int64_t cols);
// out row g = in rows g*groupSize.. added left to right.
cudaError_t launchSumRowGroups(cudaStream_t stream, const float* in, float* out, int64_t groups,
                               int64_t groupSize, int64_t cols);
cudaError_t launchGetRows(cudaStream_t stream, Format format, const void* table, uint64_t rowBytes,
                          const int32_t* ids, int64_t count, float* out, int64_t cols);
// Q8_1 writes block b's sum to out[sumsAt + b].
cudaError_t launchRoundActivations(cudaStream_t stream, RoundKind kind, const float* x, float* out,
                                   int64_t blocks, int64_t block, int64_t sumsAt);

} // namespace declai::gpu::cuda
