// Runtime CPU feature detection and the table of CPU kernels chosen from it. SIMD kernels live in
// gpu/src/cpu/simd/, each file compiled with its own instruction-set flags, so one binary runs on any
// x86-64 and uses the widest kernels the machine supports. AArch64 builds use the NEON table (NEON is part
// of every AArch64 CPU); everything else falls back to the scalar reference code in declai::quant.
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
    bool avx512vl = false;
    bool avx512vnni = false;
    bool avx512bf16 = false;
    bool avx512fp16 = false; // reported as a device capability; no kernel uses it
    bool avxVnni = false;
    bool amxTile = false;
    bool amxInt8 = false;
    // The OS saves the YMM / ZMM state on context switches (XCR0), so the registers may be used.
    bool osYmm = false;
    bool osZmm = false;
    // The OS enabled the AMX tile state (XCR0) and granted this process its use (Linux arch_prctl).
    bool osAmx = false;
    // AArch64 Advanced SIMD: architecturally guaranteed there, so set by the build target, not detected.
    bool neon = false;

    bool hasAvx2Set() const { return avx2 && fma && f16c && osYmm; }
    // What the AVX-512 table needs (on top of hasAvx2Set): F, BW, VL and VNNI with ZMM state enabled.
    bool hasAvx512Set() const {
        return hasAvx2Set() && avx512f && avx512bw && avx512vl && avx512vnni && osZmm;
    }
    // The AMX table adds int8 tile GEMMs on top of the AVX-512 set.
    bool hasAmxSet() const { return hasAvx512Set() && amxTile && amxInt8 && osAmx; }
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

// A register-tiled matrix product for one weight format: y[t * yStride + r] = dot(weight row r, activation
// row t) for r < nRows, t < nTokens. Weight row r starts at w + r * wStride; activation row t at
// x + t * xStride, in the kernel's own prepared layout (written by `prepare`, preparedBytes(n) bytes a row).
// The per-(row, token) arithmetic does not depend on nRows, nTokens or where the row / token sits in its
// tile, so a batch gives bit-identical results to one token at a time and to any split of the rows.
using GemmFn = void (*)(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                        int64_t nTokens, int64_t n, float* y, int64_t yStride);
struct GemmKernel {
    GemmFn run = nullptr;
    QuantizeFn prepare = nullptr;
    size_t (*preparedBytes)(int64_t n) = nullptr;
    // Below this many tokens cpu::matmul uses the table's dot product instead; only set above 1 where the
    // two give bit-identical results (tests/gpu/tst_cpu_kernels.cpp checks it).
    int minTokens = 1;
    // BatchRounding::LlamaCpp where it differs from `run` (which rounds every token as decode): Q4_K's full
    // groups of 4 tokens (from the first) as llama.cpp's repacked gemm (quant::dotQ4_KGemm), the rest as run;
    // IQ4_XS batches that llama.cpp takes through its IQ panel gemm (llamaIqPanelBatches,
    // quant::dotIQ4_XSPanel), every token.
    GemmFn runLlamaBatch = nullptr;
};

struct KernelTable {
    const char* name = "scalar";
    DotFn dotF32 = nullptr;
    DotFn dotF16 = nullptr;
    DotFn dotBF16 = nullptr;
    DotFn dotQ8_0 = nullptr;
    DotFn dotQ4_0 = nullptr;
    DotFn dotQ4_K = nullptr;
    DotFn dotQ6_K = nullptr;
    DotFn dotQ4_1 = nullptr;
    DotFn dotQ5_0 = nullptr;
    DotFn dotQ5_1 = nullptr;
    DotFn dotQ2_K = nullptr;
    DotFn dotQ3_K = nullptr;
    DotFn dotQ5_K = nullptr;
    DotFn dotIQ4_NL = nullptr;
    DotFn dotIQ4_XS = nullptr;
    // F32 in llama.cpp's ggml_vec_dot_f32 order: every token under BatchRounding::AsDecode (llama.cpp's
    // decode is a batch of one) and, under LlamaCpp, the products its tinyBLAS declines (one token, or the
    // conditions below). Null: dotF32.
    DotFn dotF32Ggml = nullptr;
    // llama.cpp's tinyBLAS takes F32 products of 2 or more tokens whose row length is a multiple of its
    // vector width in floats (this) and whose row count is a multiple of 4; the others go through
    // ggml_vec_dot_f32 (dotF32Ggml).
    int llamaSgemmF32Lanes = 16;
    // F16 weights in llama.cpp's tinyBLAS order (activations rounded to F16, one FMA chain of
    // llamaSgemmF32Lanes lanes per row and token, its hsum), which it takes for F16 batches under the same
    // conditions as for F32; BatchRounding::LlamaCpp only. Null: dotF16 (its ggml_vec_dot_f16 order).
    DotFn dotF16Sgemm = nullptr;
    // The same products register-tiled over rows and tokens as tinyBLAS runs them (each (row, token) still
    // one chain, so dotF16Sgemm's floats), for whole row ranges; null: dotF16Sgemm row by row.
    GemmFn gemmF16Sgemm = nullptr;
    // llama.cpp's x86 builds (AVX2 and up) run IQ4_XS products of 8 or more tokens through their IQ panel
    // gemm, which rounds unlike their dot product (quant::dotIQ4_XSPanel); tables that follow those builds
    // set this, and BatchRounding::LlamaCpp then takes such batches that way.
    bool llamaIqPanelBatches = false;
    // BatchRounding::LlamaCpp rounds Q4_K batches as llama.cpp's x86 builds' repacked gemm (groups of 4
    // tokens: GemmKernel::runLlamaBatch, or quant::dotQ4_KGemm where the table has no Q4_K gemm). Off for
    // tables that follow no stored llama.cpp build and would pay the scalar groups in every prompt (NEON):
    // their batches keep the decode rounding.
    bool llamaQ4KGemmGroups = true;
    // Q2_K in llama.cpp's repacked gemm order (quant::dotQ2_KGemm), which its AVX-512 builds take for the
    // full groups of 4 tokens of a batch: BatchRounding::LlamaCpp multiplies those tokens with this, the
    // others with dotQ2_K. Null (the tables that follow builds without the Q2_K repack): dotQ2_K for all.
    DotFn dotQ2_KGemm = nullptr;
    // The same products register-tiled over rows and tokens (for whole groups of 4 tokens; each (row, token)
    // still dotQ2_KGemm's floats); null: dotQ2_KGemm row by row.
    GemmFn gemmQ2_KGroups = nullptr;
    // Those batches one weight row at a time (quant::dotIQ4_XSPanel's floats), where the table's IQ4_XS gemm
    // has no runLlamaBatch or the batch is a single row; null: the scalar reference.
    DotFn dotIQ4_XSPanel = nullptr;
    QuantizeFn toF16 = nullptr;
    QuantizeFn toBF16 = nullptr;
    QuantizeFn quantizeQ8_0 = nullptr;
    QuantizeFn quantizeQ8_K = nullptr;
    QuantizeFn quantizeQ8_1 = nullptr;

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
    // llama.cpp's tiled flash attention (LlamaCpp batches of 64+ queries), F32 throughout:
    // scores[i] = one FMA chain over d of q[d] * float(k_i[d]) starting from 0, for count keys
    // kvStride values apart (its simple_gemm's order; a table may run several keys side by side). Every
    // table has both (NEON the scalar reference's).
    void (*fmaChainScoresF16)(const float* q, const f16_bits* keys, int64_t kvStride, int64_t count,
                              int64_t headDim, float* scores) = nullptr;
    // For i = 0 .. count-1 in order: acc[d] = fma(weights[i], float(v_i[d]), acc[d]), values kvStride apart.
    void (*fmaAccumulateRowsF16)(float* acc, const float* weights, const f16_bits* values, int64_t kvStride,
                                 int64_t count, int64_t headDim) = nullptr;
    // x[i] = silu(gate[i]) * x[i] over one row, llama.cpp's way for this instruction set (vector groups
    // from the row start with its own exp, the tail with libm); nullptr: cpu::swiGlu's libm loop.
    void (*swiGlu)(const float* gate, float* x, int64_t n) = nullptr;
    // llama.cpp's ggml_vec_soft_max_f32 for this instruction set: y = exp(x - max) with whole vector groups
    // through its own exp (the tail with libm), returning the sum of the y in double, each group's part
    // reduced in its lane order. nullptr: libm for every value, summed one by one. The mixture-of-experts
    // router's softmax and LlamaCpp's tiled attention use it.
    double (*expSumGgml)(float* y, const float* x, int64_t n, float max) = nullptr;

    // Tiled matrix products (tables that have them use them for every matmul of that weight type, decode
    // included, instead of the dot products above).
    GemmKernel gemmF16;
    GemmKernel gemmQ8_0;
    GemmKernel gemmQ4_0;
    GemmKernel gemmQ4_K;
    GemmKernel gemmQ6_K;
    GemmKernel gemmQ5_K;
    GemmKernel gemmIQ4_XS;
    GemmKernel gemmQ3_K;
    GemmKernel gemmIQ4_NL;
    GemmKernel gemmQ5_0;
    GemmKernel gemmQ4_1;
    GemmKernel gemmQ5_1;
    // Matrices in WeightLayout::Strips16 (cpu::packStrips), with the floats of gemmQ4_0 / the Q8_0 dot
    // product and gemm; tables without them leave those formats in the file's row layout.
    GemmKernel stripsQ4_0;
    GemmKernel stripsQ8_0;

    // nullptr for weight types the engine cannot multiply.
    DotFn dotFor(TensorType weightType) const;
    // nullptr when this table has no tiled kernel for the weight type.
    const GemmKernel* gemmFor(TensorType weightType) const;
    // The kernel for weightType in WeightLayout::Strips16; nullptr when this table has none.
    const GemmKernel* stripsGemmFor(TensorType weightType) const;
    // The quantiser for weightType's activation format; nullptr for F32 (a plain copy).
    QuantizeFn activationQuantizerFor(TensorType weightType) const;
};

// The scalar reference table (declai::quant underneath).
const KernelTable& scalarKernels();
// The AVX2+FMA+F16C table, or nullptr when this build has none or the CPU lacks the features.
const KernelTable* avx2Kernels();
// The AVX2 table with AVX-VNNI dot products, or nullptr when the CPU lacks AVX-VNNI.
const KernelTable* avxVnniKernels();
// The AVX-512 (F/BW/VL/VNNI) table with tiled GEMM kernels, or nullptr when the CPU lacks them.
const KernelTable* avx512Kernels();
// The AVX-512 table plus AMX int8 tile GEMMs for Q8_0 / Q4_0 batches, or nullptr without AMX.
const KernelTable* amxKernels();
// The ARM64 NEON table (dot products for every weight format, every activation converter, the F16 attention
// helpers; no tiled GEMMs), or nullptr on builds for other architectures.
const KernelTable* neonKernels();
// The table cpu::matmul uses: the best supported, chosen once (NEON on AArch64). DECLAI_CPU_KERNELS=scalar,
// =avx2, =avx-vnni or =avx512 forces the reference or a narrower table (for debugging and comparisons).
const KernelTable& activeKernels();

} // namespace declai::cpu
