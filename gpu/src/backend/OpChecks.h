// Argument checks shared by every backend's DeviceOps, so a bad call fails the same way everywhere and
// before anything is enqueued.
#pragma once

#include "declai/gpu/backend/Device.h"

namespace declai::gpu::checks {

// The formats MatMul and GetRows read on every device (CPU, OpenCL, Vulkan, CUDA, HIP).
bool isComputeFormat(TensorType type);
// The suffix of a format's MatMul/GetRows kernels in the OpenCL and Vulkan sources ("q4_k" for
// matmul_q4_k, ...); nullptr for a format without kernels.
const char* kernelFormatSuffix(TensorType type);
// Bytes per row of `desc` after checking its format and shape.
Expected<uint64_t> rowBytes(const MatrixDesc& desc);

Expected<void> rmsNorm(const Device& device, const DeviceBuffer& x, const DeviceBuffer& weight,
                       const DeviceBuffer& out, int64_t n, int64_t nTokens);
// matMul and getRows return the matrix's bytes per row once every argument is checked, so a backend never
// dereferences an unchecked rowBytes().
Expected<uint64_t> matMul(const Device& device, const DeviceBuffer& weights, const MatrixDesc& w,
                          const DeviceBuffer& x, int64_t nTokens, const DeviceBuffer& y);
Expected<void> rope(const Device& device, const DeviceBuffer& x, const RopeParams& p);
Expected<void> attention(const Device& device, const DeviceBuffer& q, const DeviceBuffer& k,
                         const DeviceBuffer& v, const DeviceBuffer& keyCache, const DeviceBuffer& valueCache,
                         const DeviceBuffer& out, const AttentionParams& p);
Expected<void> elementwise(const Device& device, const DeviceBuffer& a, const DeviceBuffer& b, int64_t n);
Expected<void> addBias(const Device& device, const DeviceBuffer& x, const DeviceBuffer& bias, int64_t rows,
                       int64_t cols);
Expected<uint64_t> getRows(const Device& device, const DeviceBuffer& table, const MatrixDesc& desc,
                           std::span<const int32_t> ids, const DeviceBuffer& out);
// Values per rounding block of roundActivations for weights of `type` (1 for F32/F16).
int64_t activationBlock(TensorType type);
// The roundActivations kernels' `kind` argument (round_activations in ops.cl, round_activations.comp,
// CudaKernels.cu): what the activations for weights of a type are rounded to. Q8_1 is Q8_0's rounding
// plus each block's sum s after the values (DeviceOps::roundActivations).
enum class RoundKind : int { Copy = 0, F16 = 1, Q8_0 = 2, Q8_K = 3, Q8_1 = 4 };
RoundKind roundKind(TensorType weightType);
// Q4_1/Q5_1: activations in Q8_1, whose block sums MatMul reads after the values.
bool pairsWithQ8_1(TensorType weightType);
Expected<void> roundActivations(const Device& device, const DeviceBuffer& x, const DeviceBuffer& out,
                                int64_t cols, int64_t nTokens, TensorType weightType);
Expected<void> scatterScaledRows(const Device& device, const DeviceBuffer& src, const DeviceBuffer& slots,
                                 int64_t first, int64_t count, const DeviceBuffer& scales,
                                 const DeviceBuffer& dst, int64_t dstRows, int64_t cols);
Expected<void> sumRowGroups(const Device& device, const DeviceBuffer& in, const DeviceBuffer& out,
                            int64_t groups, int64_t groupSize, int64_t cols);
Expected<void> copyRange(const Device& device, const DeviceBuffer& buffer, uint64_t offsetBytes,
                         uint64_t sizeBytes);

} // namespace declai::gpu::checks
