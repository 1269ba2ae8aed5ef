// The reference kernel table: declai::quant's scalar code behind the tiled DotFn interface.
#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"

#include <cmath>

namespace declai::cpu {
namespace {

template <TensorType Type>
void dotScalar(const void* w, const std::byte* x, size_t xStride, int nTokens, int64_t n, float* out) {
    for (int t = 0; t < nTokens; ++t)
        out[t] = quant::dotRow(Type, w, x + static_cast<size_t>(t) * xStride, n);
}

template <TensorType WeightType>
void quantizeScalar(const float* x, void* out, int64_t n) {
    quant::quantizeActivationRow(WeightType, x, out, n);
}

float dotF32F16Scalar(const float* a, const f16_bits* b, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i)
        sum += a[i] * quant::fp16ToFp32(b[i]);
    return sum;
}

float roundToHalf(float x) {
    return quant::fp16ToFp32(quant::fp32ToFp16(x));
}

void accumulateF16Scalar(float* acc, const f16_bits* v, float weight, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        acc[i] = roundToHalf(acc[i] + quant::fp16ToFp32(v[i]) * weight);
}

void scaleF16Scalar(float* acc, float factor, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        acc[i] = roundToHalf(acc[i] * factor);
}

void roundF16Scalar(const float* x, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        out[i] = roundToHalf(x[i]);
}

void fmaChainScoresF16Scalar(const float* q, const f16_bits* keys, int64_t kvStride, int64_t count,
                             int64_t headDim, float* scores) {
    for (int64_t i = 0; i < count; ++i) {
        const f16_bits* k = keys + i * kvStride;
        float score = 0.0f;
        for (int64_t d = 0; d < headDim; ++d)
            score = std::fma(q[d], quant::fp16ToFp32(k[d]), score);
        scores[i] = score;
    }
}

void fmaAccumulateRowsF16Scalar(float* acc, const float* weights, const f16_bits* values, int64_t kvStride,
                                int64_t count, int64_t headDim) {
    for (int64_t i = 0; i < count; ++i) {
        const f16_bits* v = values + i * kvStride;
        for (int64_t d = 0; d < headDim; ++d)
            acc[d] = std::fma(weights[i], quant::fp16ToFp32(v[d]), acc[d]);
    }
}

KernelTable makeScalarTable() {
    KernelTable t;
    t.name = "scalar";
    t.dotF32 = &dotScalar<TensorType::F32>;
    t.dotF16 = &dotScalar<TensorType::F16>;
    t.dotBF16 = &dotScalar<TensorType::BF16>;
    t.dotQ8_0 = &dotScalar<TensorType::Q8_0>;
    t.dotQ4_0 = &dotScalar<TensorType::Q4_0>;
    t.dotQ4_K = &dotScalar<TensorType::Q4_K>;
    t.dotQ6_K = &dotScalar<TensorType::Q6_K>;
    t.dotQ4_1 = &dotScalar<TensorType::Q4_1>;
    t.dotQ5_0 = &dotScalar<TensorType::Q5_0>;
    t.dotQ5_1 = &dotScalar<TensorType::Q5_1>;
    t.dotQ2_K = &dotScalar<TensorType::Q2_K>;
    t.dotQ3_K = &dotScalar<TensorType::Q3_K>;
    t.dotQ5_K = &dotScalar<TensorType::Q5_K>;
    t.dotIQ4_NL = &dotScalar<TensorType::IQ4_NL>;
    t.dotIQ4_XS = &dotScalar<TensorType::IQ4_XS>;
    t.toF16 = &quantizeScalar<TensorType::F16>;
    t.toBF16 = &quantizeScalar<TensorType::BF16>;
    t.quantizeQ8_0 = &quantizeScalar<TensorType::Q8_0>;
    t.quantizeQ8_K = &quantizeScalar<TensorType::Q4_K>;
    t.quantizeQ8_1 = &quantizeScalar<TensorType::Q4_1>;
    t.dotF32F16 = &dotF32F16Scalar;
    t.accumulateF16 = &accumulateF16Scalar;
    t.scaleF16 = &scaleF16Scalar;
    t.roundF16 = &roundF16Scalar;
    t.fmaChainScoresF16 = &fmaChainScoresF16Scalar;
    t.fmaAccumulateRowsF16 = &fmaAccumulateRowsF16Scalar;
    return t;
}

} // namespace

const KernelTable& scalarKernels() {
    static const KernelTable table = makeScalarTable();
    return table;
}

} // namespace declai::cpu
