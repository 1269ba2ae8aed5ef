// GGUF block dequantisation for the CUDA/HIP kernels (the twins of gpu/src/opencl/kernels/quant.cl), plus
// the per-element math of the newer ops. Written once for two compilers: inside CudaKernels.cu (nvcc or
// hipcc) every function is device code; compiled by the host compiler (tests/gpu/tst_cuda_formats.cpp)
// the same text is plain inline C++, so the layouts are checked against core's reference dequantisation on
// any machine, GPU or not.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#include "cuda/vendor.h"
#define DECLAI_CUDA_FN __device__ __forceinline__
#define DECLAI_CUDA_TABLE static __constant__
#else
#include "declai/core/Quant.h"
#define DECLAI_CUDA_FN inline
#define DECLAI_CUDA_TABLE static constexpr
#endif

namespace declai::gpu::cuda {

// Weight formats MatMul/GetRows read (the GGUF block layouts of quant.cl).
enum class Format : int {
    F32,
    F16,
    Q8_0,
    Q4_0,
    Q4_K,
    Q6_K,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K,
    Q5_K,
    IQ4_NL,
    IQ4_XS
};

// Calls fn(FormatTag<F>{}) for the run-time format f: the one switch over the formats, for the kernel
// launchers (host code) and the host test.
template <Format F>
struct FormatTag {
    static constexpr Format kFormat = F;
};

template <class Fn>
inline void withFormat(Format f, Fn&& fn) {
    switch (f) {
    case Format::F32:
        return fn(FormatTag<Format::F32>{});
    case Format::F16:
        return fn(FormatTag<Format::F16>{});
    case Format::Q8_0:
        return fn(FormatTag<Format::Q8_0>{});
    case Format::Q4_0:
        return fn(FormatTag<Format::Q4_0>{});
    case Format::Q4_K:
        return fn(FormatTag<Format::Q4_K>{});
    case Format::Q6_K:
        return fn(FormatTag<Format::Q6_K>{});
    case Format::Q4_1:
        return fn(FormatTag<Format::Q4_1>{});
    case Format::Q5_0:
        return fn(FormatTag<Format::Q5_0>{});
    case Format::Q5_1:
        return fn(FormatTag<Format::Q5_1>{});
    case Format::Q2_K:
        return fn(FormatTag<Format::Q2_K>{});
    case Format::Q3_K:
        return fn(FormatTag<Format::Q3_K>{});
    case Format::Q5_K:
        return fn(FormatTag<Format::Q5_K>{});
    case Format::IQ4_NL:
        return fn(FormatTag<Format::IQ4_NL>{});
    case Format::IQ4_XS:
        return fn(FormatTag<Format::IQ4_XS>{});
    }
}

namespace fmt {

constexpr int kQ8_0Bytes = 34;
constexpr int kQ4_0Bytes = 18;
constexpr int kQ4_KBytes = 144;
constexpr int kQ6_KBytes = 210;
constexpr int kQ4_1Bytes = 20;
constexpr int kQ5_0Bytes = 22;
constexpr int kQ5_1Bytes = 24;
constexpr int kQ2_KBytes = 84;
constexpr int kQ3_KBytes = 110;
constexpr int kQ5_KBytes = 176;
constexpr int kIQ4_NLBytes = 18;
constexpr int kIQ4_XSBytes = 136;

// What an IQ4_NL / IQ4_XS nibble stands for (core's kIQ4NLValues).
DECLAI_CUDA_TABLE float kIq4NlValues[16] = {-127.0f, -104.0f, -83.0f, -65.0f, -49.0f, -35.0f, -22.0f, -10.0f,
                                            1.0f,    13.0f,   25.0f,  38.0f,  53.0f,  69.0f,  89.0f,  113.0f};

#if defined(__CUDACC__) || defined(__HIPCC__)
DECLAI_CUDA_FN float halfBitsToFloat(uint16_t bits) {
    return __half2float(__ushort_as_half(bits));
}
// float -> nearest F16 (ties to even) -> float.
DECLAI_CUDA_FN float roundF16(float v) {
    return __half2float(__float2half_rn(v));
}
#else
DECLAI_CUDA_FN float halfBitsToFloat(uint16_t bits) {
    return quant::fp16ToFp32(bits);
}
DECLAI_CUDA_FN float roundF16(float v) {
    return quant::fp16ToFp32(quant::fp32ToFp16(v));
}
#endif

// The little-endian F16 at byte address p (byte loads: no alignment assumption).
DECLAI_CUDA_FN float loadF16(const uint8_t* p) {
    return halfBitsToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}

// Little-endian 32-bit word at any byte offset.
DECLAI_CUDA_FN uint32_t loadU32(const uint8_t* p) {
    return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block; `s` points at the 12 packed bytes.
DECLAI_CUDA_FN void q4kScaleMin(int j, const uint8_t* s, float* scale, float* min) {
    if (j < 4) {
        *scale = static_cast<float>(s[j] & 63);
        *min = static_cast<float>(s[j + 4] & 63);
    } else {
        *scale = static_cast<float>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *min = static_cast<float>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// The float scale and min of sub-block `sub` of a Q4_K / Q5_K block `b` (f16 d, f16 dmin, 12 packed bytes).
DECLAI_CUDA_FN void q4kUnitScaleMin(const uint8_t* b, int sub, float* d, float* m) {
    float scale, min;
    q4kScaleMin(sub, b + 4, &scale, &min);
    *d = loadF16(b) * scale;
    *m = loadF16(b + 2) * min;
}

// Integer value (already centred) of element l (0..31) of unit `sub` of a Q6_K block, and its scale index.
DECLAI_CUDA_FN int q6kValue(const uint8_t* block, int sub, int l, int* scaleIndex) {
    const int half = sub / 4;
    const int part = sub % 4;
    const uint8_t* ql = block + half * 64 + (part & 1) * 32;
    const uint8_t* qh = block + 128 + half * 32;
    const int low = (ql[l] >> ((part >> 1) * 4)) & 0xF;
    const int high = (qh[l] >> (2 * part)) & 3;
    *scaleIndex = half * 8 + part * 2 + l / 16;
    return (low | (high << 4)) - 32;
}

// The 5-bit value l (0..31) of a Q5_0 / Q5_1 block: nibble l % 16 of qs, plus bit l of qh as bit 4.
DECLAI_CUDA_FN int fiveBitValue(const uint8_t* qs, uint32_t qh, int l) {
    const int nibble = l < 16 ? (qs[l] & 0xF) : (qs[l - 16] >> 4);
    return nibble | static_cast<int>(((qh >> l) & 1u) << 4);
}

// Scale s (0..15) of a Q3_K block: 6 bits, offset by 32; `p` points at the 12 packed bytes.
DECLAI_CUDA_FN int q3kScale(const uint8_t* p, int s) {
    const int low = s < 8 ? (p[s] & 0xF) : (p[s - 8] >> 4);
    const int high = (p[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (low | (high << 4)) - 32;
}

} // namespace fmt

// Fmt<F>::unit(row, u, w) dequantises values 32u .. 32u+31 of a row (one value for F32/F16); every format is
// handled in units so a row splits evenly over a block (a K-quant super-block is 8 units). value(row, i)
// is element i, for gathers.
template <Format F>
struct Fmt;

// Formats whose Fmt has unitScaled (the values without the block minimum, which is returned).
template <Format F>
constexpr bool kHasBlockMins = F == Format::Q4_1 || F == Format::Q5_1;

// The newer formats gather through their unit decoder (gathers read embedding rows only, once per token).
template <class Self>
struct GatherByUnit {
    static constexpr int kUnit = 32;
    DECLAI_CUDA_FN static float value(const uint8_t* row, int64_t i) {
        float w[32];
        Self::unit(row, i / 32, w);
        return w[i % 32];
    }
};

template <>
struct Fmt<Format::F32> {
    static constexpr int kUnit = 1;
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        w[0] = reinterpret_cast<const float*>(row)[u];
    }
    DECLAI_CUDA_FN static float value(const uint8_t* row, int64_t i) {
        return reinterpret_cast<const float*>(row)[i];
    }
};

template <>
struct Fmt<Format::F16> {
    static constexpr int kUnit = 1;
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        w[0] = fmt::loadF16(row + 2 * u);
    }
    DECLAI_CUDA_FN static float value(const uint8_t* row, int64_t i) { return fmt::loadF16(row + 2 * i); }
};

template <>
struct Fmt<Format::Q8_0> {
    static constexpr int kUnit = 32;
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + u * fmt::kQ8_0Bytes;
        const auto* q = reinterpret_cast<const int8_t*>(b + 2);
        const float d = fmt::loadF16(b);
        for (int l = 0; l < 32; ++l)
            w[l] = d * static_cast<float>(q[l]);
    }
    DECLAI_CUDA_FN static float value(const uint8_t* row, int64_t i) {
        const uint8_t* b = row + (i / 32) * fmt::kQ8_0Bytes;
        return fmt::loadF16(b) * static_cast<float>(reinterpret_cast<const int8_t*>(b + 2)[i % 32]);
    }
};

template <>
struct Fmt<Format::Q4_0> {
    static constexpr int kUnit = 32;
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + u * fmt::kQ4_0Bytes;
        const float d = fmt::loadF16(b);
        for (int l = 0; l < 16; ++l) {
            const uint8_t q = b[2 + l];
            w[l] = d * static_cast<float>(static_cast<int>(q & 0xF) - 8);
            w[l + 16] = d * static_cast<float>(static_cast<int>(q >> 4) - 8);
        }
    }
    DECLAI_CUDA_FN static float value(const uint8_t* row, int64_t i) {
        const uint8_t* b = row + (i / 32) * fmt::kQ4_0Bytes;
        const int l = static_cast<int>(i % 32);
        const uint8_t q = b[2 + (l % 16)];
        const int v = l < 16 ? (q & 0xF) : (q >> 4);
        return fmt::loadF16(b) * static_cast<float>(v - 8);
    }
};

template <>
struct Fmt<Format::Q4_K> {
    static constexpr int kUnit = 32;
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + (u / 8) * fmt::kQ4_KBytes;
        const int sub = static_cast<int>(u % 8);
        float d, m;
        fmt::q4kUnitScaleMin(b, sub, &d, &m);
        const uint8_t* q = b + 16 + (sub / 2) * 32;
        const int shift = (sub & 1) * 4;
        for (int l = 0; l < 32; ++l)
            w[l] = d * static_cast<float>((q[l] >> shift) & 0xF) - m;
    }
    DECLAI_CUDA_FN static float value(const uint8_t* row, int64_t i) {
        const uint8_t* b = row + (i / 256) * fmt::kQ4_KBytes;
        const int sub = static_cast<int>((i % 256) / 32);
        float scale, min;
        fmt::q4kScaleMin(sub, b + 4, &scale, &min);
        const uint8_t q = b[16 + (sub / 2) * 32 + i % 32];
        const int v = (q >> ((sub & 1) * 4)) & 0xF;
        return fmt::loadF16(b) * scale * static_cast<float>(v) - fmt::loadF16(b + 2) * min;
    }
};

template <>
struct Fmt<Format::Q6_K> {
    static constexpr int kUnit = 32;
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + (u / 8) * fmt::kQ6_KBytes;
        const int sub = static_cast<int>(u % 8);
        const auto* scales = reinterpret_cast<const int8_t*>(b + 192);
        const float d = fmt::loadF16(b + 208);
        int scaleIndex = 0;
        for (int l = 0; l < 32; ++l) {
            const int v = fmt::q6kValue(b, sub, l, &scaleIndex);
            w[l] = d * static_cast<float>(scales[scaleIndex]) * static_cast<float>(v);
        }
    }
    DECLAI_CUDA_FN static float value(const uint8_t* row, int64_t i) {
        const uint8_t* b = row + (i / 256) * fmt::kQ6_KBytes;
        int scaleIndex = 0;
        const int v =
            fmt::q6kValue(b, static_cast<int>((i % 256) / 32), static_cast<int>(i % 32), &scaleIndex);
        return fmt::loadF16(b + 208) *
               static_cast<float>(reinterpret_cast<const int8_t*>(b + 192)[scaleIndex]) *
               static_cast<float>(v);
    }
};

// Q4_1 / Q5_0 / Q5_1 / IQ4_NL: one block per unit. Q4_1 and Q5_1 (kHasBlockMins) also decode without their
// block minimum: unitScaled leaves d * q in w and returns m, which MatMul adds once per block times the
// activations' block sum, as llama.cpp's Q4_1 x Q8_1 dot does (d * q is exact in float, so unit's d * q + m
// is the same value).
template <>
struct Fmt<Format::Q4_1> : GatherByUnit<Fmt<Format::Q4_1>> {
    DECLAI_CUDA_FN static float unitScaled(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + u * fmt::kQ4_1Bytes;
        const float d = fmt::loadF16(b);
        for (int l = 0; l < 16; ++l) {
            const uint8_t q = b[4 + l];
            w[l] = static_cast<float>(q & 0xF) * d;
            w[l + 16] = static_cast<float>(q >> 4) * d;
        }
        return fmt::loadF16(b + 2);
    }
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const float m = unitScaled(row, u, w);
        for (int l = 0; l < 32; ++l)
            w[l] += m;
    }
};

template <>
struct Fmt<Format::Q5_0> : GatherByUnit<Fmt<Format::Q5_0>> {
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + u * fmt::kQ5_0Bytes;
        const float d = fmt::loadF16(b);
        const uint32_t qh = fmt::loadU32(b + 2);
        for (int l = 0; l < 32; ++l)
            w[l] = static_cast<float>(fmt::fiveBitValue(b + 6, qh, l) - 16) * d;
    }
};

template <>
struct Fmt<Format::Q5_1> : GatherByUnit<Fmt<Format::Q5_1>> {
    DECLAI_CUDA_FN static float unitScaled(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + u * fmt::kQ5_1Bytes;
        const float d = fmt::loadF16(b);
        const uint32_t qh = fmt::loadU32(b + 4);
        for (int l = 0; l < 32; ++l)
            w[l] = static_cast<float>(fmt::fiveBitValue(b + 8, qh, l)) * d;
        return fmt::loadF16(b + 2);
    }
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const float m = unitScaled(row, u, w);
        for (int l = 0; l < 32; ++l)
            w[l] += m;
    }
};

template <>
struct Fmt<Format::IQ4_NL> : GatherByUnit<Fmt<Format::IQ4_NL>> {
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + u * fmt::kIQ4_NLBytes;
        const float d = fmt::loadF16(b);
        for (int l = 0; l < 16; ++l) {
            w[l] = d * fmt::kIq4NlValues[b[2 + l] & 0xF];
            w[l + 16] = d * fmt::kIq4NlValues[b[2 + l] >> 4];
        }
    }
};

// K-quant super-blocks: unit u is values 32 * (u % 8) .. +31 of super-block u / 8. Value 32s + l sits in
// byte 32 * (s / 4) + l of a 2-bit array at bits 2 * (s % 4) (Q2_K, Q3_K).
template <>
struct Fmt<Format::Q2_K> : GatherByUnit<Fmt<Format::Q2_K>> {
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + (u / 8) * fmt::kQ2_KBytes;
        const int sub = static_cast<int>(u % 8);
        const float d = fmt::loadF16(b + 80);
        const float dmin = fmt::loadF16(b + 82);
        const uint8_t* q = b + 16 + (sub / 4) * 32;
        const int shift = 2 * (sub % 4);
        for (int l = 0; l < 32; ++l) {
            const uint8_t sc = b[sub * 2 + l / 16];
            w[l] = d * static_cast<float>(sc & 0xF) * static_cast<float>((q[l] >> shift) & 3) -
                   dmin * static_cast<float>(sc >> 4);
        }
    }
};

template <>
struct Fmt<Format::Q3_K> : GatherByUnit<Fmt<Format::Q3_K>> {
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + (u / 8) * fmt::kQ3_KBytes;
        const int sub = static_cast<int>(u % 8);
        const float d = fmt::loadF16(b + 108);
        const uint8_t* q = b + 32 + (sub / 4) * 32;
        const int shift = 2 * (sub % 4);
        const int maskBit = 4 * (sub / 4) + sub % 4;
        for (int l = 0; l < 32; ++l) {
            const int low = (q[l] >> shift) & 3;
            const int value = low - (((b[l] >> maskBit) & 1) ? 0 : 4);
            w[l] =
                d * static_cast<float>(fmt::q3kScale(b + 96, sub * 2 + l / 16)) * static_cast<float>(value);
        }
    }
};

template <>
struct Fmt<Format::Q5_K> : GatherByUnit<Fmt<Format::Q5_K>> {
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + (u / 8) * fmt::kQ5_KBytes;
        const int sub = static_cast<int>(u % 8);
        float d, m;
        fmt::q4kUnitScaleMin(b, sub, &d, &m);
        const uint8_t* q = b + 48 + (sub / 2) * 32;
        const int shift = (sub & 1) * 4;
        for (int l = 0; l < 32; ++l) {
            const int value = ((q[l] >> shift) & 0xF) + (((b[16 + l] >> sub) & 1) << 4);
            w[l] = d * static_cast<float>(value) - m;
        }
    }
};

template <>
struct Fmt<Format::IQ4_XS> : GatherByUnit<Fmt<Format::IQ4_XS>> {
    DECLAI_CUDA_FN static void unit(const uint8_t* row, int64_t u, float* w) {
        const uint8_t* b = row + (u / 8) * fmt::kIQ4_XSBytes;
        const int sub = static_cast<int>(u % 8);
        const uint32_t high = uint32_t(b[2]) | (uint32_t(b[3]) << 8);
        const int scale = static_cast<int>(((b[4 + sub / 2] >> (4 * (sub % 2))) & 0xF) |
                                           (((high >> (2 * sub)) & 3u) << 4)) -
                          32;
        const float d = fmt::loadF16(b) * static_cast<float>(scale);
        const uint8_t* q = b + 8 + 16 * sub;
        for (int l = 0; l < 16; ++l) {
            w[l] = d * fmt::kIq4NlValues[q[l] & 0xF];
            w[l + 16] = d * fmt::kIq4NlValues[q[l] >> 4];
        }
    }
};

// ---- per-element math of the newer ops (ops.cl) ----

// The pair rotation of RoPE touches elements (first, second) of a head: adjacent for normal RoPE,
// ropeDims / 2 apart for NeoX.
DECLAI_CUDA_FN int64_t ropePairFirst(int64_t i, bool neox) {
    return neox ? i : 2 * i;
}
DECLAI_CUDA_FN int64_t ropePairSecond(int64_t i, int64_t ropeDims, bool neox) {
    return neox ? i + ropeDims / 2 : 2 * i + 1;
}

// The first cache row a query at position visible - 1 attends to (sliding-window layers see the last
// `window` positions only; 0 = no window).
DECLAI_CUDA_FN int64_t attentionFirstRow(int64_t visible, int64_t window) {
    return window > 0 && visible > window ? visible - window : 0;
}

// A raw attention score, soft-capped when softCap > 0 (Gemma 2).
DECLAI_CUDA_FN float cappedScore(float dot, float scale, float softCap) {
    return softCap > 0.0f ? softCap * tanhf(dot * scale) : dot * scale;
}

// gelu_tanh(gate) with the gate and the GELU value rounded to F16 as llama.cpp's CPU table does (saturated
// outside [-10, 10]); GeluGlu multiplies it into x. The CPU engine's geluF16 step for step, its FMA included
// (ggml's table is built with GCC contracting 1 + a*x*x), so only tanhf's last bit can differ on a device.
DECLAI_CUDA_FN float geluTanhF16(float g) {
    if (g <= -10.0f)
        return 0.0f;
    if (g >= 10.0f)
        return g;
    const float h = fmt::roundF16(g);
    const float inner = fmaf(0.044715f * h, h, 1.0f);
    return fmt::roundF16(0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h * inner)));
}

} // namespace declai::gpu::cuda
