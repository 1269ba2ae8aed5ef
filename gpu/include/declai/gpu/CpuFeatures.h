// Runtime CPU feature detection and the table of CPU kernels chosen from it. SIMD kernels live in
// gpu/src/cpu/simd/, each file compiled with its own instruction-set flags, so one binary runs on any
// x86-64 and uses the widest kernels the machine supports; everything else falls back to the scalar
// reference code in declai::quant.
#pragma once

#include "declai/core/TensorType.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace declai::cpu {

struct CpuFeatures {
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vnni = false;
    bool avx512bf16 = false;
    bool avxVnni = false;
    // The OS saves the YMM / ZMM state on context switches (XCR0), so the registers may be used.
    bool osYmm = false;
    bool osZmm = false;

    bool hasAvx2Set() const { return avx2 && fma && f16c && osYmm; }
    std::string toString() const; // e.g. "avx2 fma f16c avx512f ..."
};

// Detected once (cpuid / xgetbv) and cached.
const CpuFeatures& cpuFeatures();

// Most activation rows one dot-product call handles: the weight row is loaded (and unpacked) once and
// multiplied against up to this many activation rows, which is what makes prefill compute-bound
// instead of weight-bandwidth-bound.
constexpr int kMaxTileTokens = 4;

// out[t] = dot(weightRow, activation row t) for t < nTokens (1..kMaxTileTokens); activation row t starts
// at x + t * xStride bytes and is in quant::activationTypeFor(weight type). n is the row length.
using DotFn = void (*)(const void* weightRow, const std::byte* x, size_t xStride, int nTokens, int64_t n,
                       float* out);
// Converts / quantises one row of n floats into an activation format.
using QuantizeFn = void (*)(const float* x, void* out, int64_t n);

struct KernelTable {
    const char* name = "scalar";
    DotFn dotF32 = nullptr;
    DotFn dotF16 = nullptr;
    DotFn dotBF16 = nullptr;
    DotFn dotQ8_0 = nullptr;
    DotFn dotQ4_0 = nullptr;
    DotFn dotQ4_K = nullptr;
    DotFn dotQ6_K = nullptr;
    QuantizeFn toF16 = nullptr;
    QuantizeFn toBF16 = nullptr;
    QuantizeFn quantizeQ8_0 = nullptr;
    QuantizeFn quantizeQ8_K = nullptr;

    // Attention pieces (F16 KV cache, llama.cpp's CPU numerics). A value "rounded to F16" is stored as the
    // float it converts back to, so the accumulator behaves like ggml's F16 one.
    // sum_i a[i] * float(b[i])
    float (*dotF32F16)(const float* a, const f16_bits* b, int64_t n) = nullptr;
    // acc[i] = roundF16(acc[i] + float(v[i]) * weight)
    void (*accumulateF16)(float* acc, const f16_bits* v, float weight, int64_t n) = nullptr;
    // acc[i] = roundF16(acc[i] * factor)
    void (*scaleF16)(float* acc, float factor, int64_t n) = nullptr;
    // out[i] = roundF16(x[i])
    void (*roundF16)(const float* x, float* out, int64_t n) = nullptr;

    // nullptr for weight types the engine cannot multiply.
    DotFn dotFor(TensorType weightType) const;
    // The quantiser for weightType's activation format; nullptr for F32 (a plain copy).
    QuantizeFn activationQuantizerFor(TensorType weightType) const;
};

// The scalar reference table (declai::quant underneath).
const KernelTable& scalarKernels();
// The AVX2+FMA+F16C table, or nullptr when this build has none or the CPU lacks the features.
const KernelTable* avx2Kernels();
// The AVX2 table with AVX-VNNI dot products, or nullptr when the CPU lacks AVX-VNNI.
const KernelTable* avxVnniKernels();
// The table cpu::matmul uses: the best supported, chosen once. DECLAI_CPU_KERNELS=scalar or =avx2 forces
// the reference or the plain AVX2 kernels (for debugging and comparisons).
const KernelTable& activeKernels();

} // namespace declai::cpu
