#include "declai/core/Quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

namespace declai::quant {

float fp16ToFp32(f16_bits h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { // subnormal: normalise
            int shift = 0;
            while ((mantissa & 0x400u) == 0) {
                mantissa <<= 1;
                ++shift;
            }
            mantissa &= 0x3FFu;
            bits = sign | (static_cast<uint32_t>(127 - 15 - shift + 1) << 23) | (mantissa << 13);
        }
    } else if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

const float* fp16ToFp32Table() {
    static const std::array<float, 65536> table = [] {
        std::array<float, 65536> values{};
        for (size_t bits = 0; bits < values.size(); ++bits)
            values[bits] = fp16ToFp32(static_cast<f16_bits>(bits));
        return values;
    }();
    return table.data();
}

f16_bits fp32ToFp16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    const uint32_t sign = (bits >> 16) & 0x8000u;
    const uint32_t absBits = bits & 0x7FFFFFFFu;
    if (absBits > 0x7F800000u) // NaN: keep it a (quiet) NaN
        return static_cast<f16_bits>(sign | 0x7E00u | ((absBits >> 13) & 0x3FFu));
    if (absBits >= 0x477FF000u) // rounds to >= 65520: infinity
        return static_cast<f16_bits>(sign | 0x7C00u);
    if (absBits < 0x38800000u) { // below the smallest normal half: subnormal or zero
        if (absBits < 0x33000000u)
            return static_cast<f16_bits>(sign);
        const uint32_t exponent = absBits >> 23;
        const uint32_t mantissa = (absBits & 0x7FFFFFu) | 0x800000u;
        // value = mantissa * 2^(exponent-150); half subnormal unit = 2^-24 -> q = mantissa * 2^(exponent-126)
        const uint32_t rshift = 126 - exponent;
        uint32_t q = mantissa >> rshift;
        const uint32_t rem = mantissa & ((1u << rshift) - 1);
        const uint32_t halfway = 1u << (rshift - 1);
        if (rem > halfway || (rem == halfway && (q & 1u)))
            ++q;
        return static_cast<f16_bits>(sign | q);
    }
    // Normal: rebias exponent and round the mantissa to 10 bits, ties to even.
    uint32_t value = absBits - 0x38000000u; // exponent rebias 127 -> 15
    const uint32_t rem = value & 0x1FFFu;
    value >>= 13;
    if (rem > 0x1000u || (rem == 0x1000u && (value & 1u)))
        ++value;
    return static_cast<f16_bits>(sign | value);
}

float bf16ToFp32(bf16_bits h) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

bf16_bits fp32ToBf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
        return static_cast<bf16_bits>((bits >> 16) | 64u);
    return static_cast<bf16_bits>((bits + (0x7FFFu + ((bits >> 16) & 1u))) >> 16);
}

TensorType activationTypeFor(TensorType weightType) {
    switch (weightType) {
    case TensorType::F16:
        return TensorType::F16;
    case TensorType::BF16:
        return TensorType::BF16;
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL:
        return TensorType::Q8_0;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
        return TensorType::Q8_1;
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::IQ4_XS:
        return TensorType::Q8_K;
    default:
        return TensorType::F32;
    }
}

size_t activationRowBytes(TensorType weightType, int64_t n) {
    switch (activationTypeFor(weightType)) {
    case TensorType::F16:
    case TensorType::BF16:
        return static_cast<size_t>(n) * 2;
    case TensorType::Q8_0:
        return static_cast<size_t>(n / kQK8_0) * sizeof(BlockQ8_0);
    case TensorType::Q8_1:
        return static_cast<size_t>(n / kQK8_1) * sizeof(BlockQ8_1);
    case TensorType::Q8_K:
        return static_cast<size_t>(n / kQKK) * sizeof(BlockQ8_K);
    default:
        return static_cast<size_t>(n) * 4;
    }
}

void quantizeActivationRow(TensorType weightType, const float* x, void* out, int64_t n) {
    switch (activationTypeFor(weightType)) {
    case TensorType::F16: {
        auto* y = static_cast<f16_bits*>(out);
        for (int64_t i = 0; i < n; ++i)
            y[i] = fp32ToFp16(x[i]);
        break;
    }
    case TensorType::BF16: {
        auto* y = static_cast<bf16_bits*>(out);
        for (int64_t i = 0; i < n; ++i)
            y[i] = fp32ToBf16(x[i]);
        break;
    }
    case TensorType::Q8_0:
        quantizeRowQ8_0(x, static_cast<BlockQ8_0*>(out), n);
        break;
    case TensorType::Q8_1:
        quantizeRowQ8_1(x, static_cast<BlockQ8_1*>(out), n);
        break;
    case TensorType::Q8_K:
        quantizeRowQ8_K(x, static_cast<BlockQ8_K*>(out), n);
        break;
    default:
        std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
        break;
    }
}

// ---- activation / weight quantisers -------------------------------------------------------------------

// llama.cpp's x86 quantize_row_q8_0: the multiplier is 127 / amax, not 1 / (amax / 127) (its generic and
// ARM code's form): the two differ in the last bit for some amax, which moves values lying near a
// rounding boundary to the next integer.
void quantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const float* xb = x + b * kQK8_0;
        float amax = 0.0f;
        for (int j = 0; j < kQK8_0; ++j)
            amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = fp32ToFp16(d);
        for (int j = 0; j < kQK8_0; ++j)
            y[b].qs[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
    }
}

// llama.cpp's x86 quantize_row_q8_1: Q8_0's scale and rounding, plus s = d * (sum of the quants) for the
// weights' offset m.
void quantizeRowQ8_1(const float* x, BlockQ8_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK8_1; ++b) {
        const float* xb = x + b * kQK8_1;
        float amax = 0.0f;
        for (int j = 0; j < kQK8_1; ++j)
            amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = fp32ToFp16(d);
        int sum = 0;
        for (int j = 0; j < kQK8_1; ++j) {
            const int q = static_cast<int>(std::nearbyint(xb[j] * id));
            y[b].qs[j] = static_cast<int8_t>(q);
            sum += q;
        }
        y[b].s = fp32ToFp16(d * static_cast<float>(sum));
    }
}

namespace {
// The value of largest magnitude (the first of equals), with its sign: Q4_0 / Q5_0 map it to their most
// negative level and Q8_K to -127, as llama.cpp's reference quantisers do.
float largestMagnitude(const float* x, int n) {
    float amax = 0.0f;
    float signedMax = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            signedMax = x[j];
        }
    }
    return signedMax;
}
} // namespace

void quantizeRowQ8_K(const float* x, BlockQ8_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        const float signedMax = largestMagnitude(xb, kQKK);
        if (signedMax == 0.0f) {
            y[b].d = 0.0f;
            std::memset(y[b].qs, 0, sizeof y[b].qs);
            std::memset(y[b].bsums, 0, sizeof y[b].bsums);
            continue;
        }
        const float iscale = -127.0f / signedMax;
        for (int j = 0; j < kQKK; ++j) {
            const int v = static_cast<int>(std::nearbyint(iscale * xb[j]));
            y[b].qs[j] = static_cast<int8_t>(std::min(127, v));
        }
        for (int g = 0; g < kQKK / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j)
                sum += y[b].qs[g * 16 + j];
            y[b].bsums[g] = static_cast<int16_t>(sum);
        }
        y[b].d = 1.0f / iscale;
    }
}

void quantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK4_0; ++b) {
        const float* xb = x + b * kQK4_0;
        const float signedMax = largestMagnitude(xb, kQK4_0);
        const float d = signedMax / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32ToFp16(d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            const int lo = std::min(15, static_cast<int>(xb[j] * id + 8.5f));
            const int hi = std::min(15, static_cast<int>(xb[j + kQK4_0 / 2] * id + 8.5f));
            y[b].qs[j] = static_cast<uint8_t>(std::max(0, lo) | (std::max(0, hi) << 4));
        }
    }
}

namespace {

// Unpacks the 6-bit scale and min of sub-block j of a Q4_K block.
inline void scaleMinK4(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
    if (j < 4) {
        scale = q[j] & 63;
        min = q[j + 4] & 63;
    } else {
        scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

inline void packScaleMinK4(int j, uint8_t* q, uint8_t scale, uint8_t min) {
    if (j < 4) {
        q[j] = static_cast<uint8_t>((q[j] & 0xC0) | (scale & 63));
        q[j + 4] = static_cast<uint8_t>((q[j + 4] & 0xC0) | (min & 63));
    } else {
        q[j + 4] = static_cast<uint8_t>((scale & 0xF) | ((min & 0xF) << 4));
        q[j - 4] = static_cast<uint8_t>((q[j - 4] & 0x3F) | ((scale >> 4) << 6));
        q[j] = static_cast<uint8_t>((q[j] & 0x3F) | ((min >> 4) << 6));
    }
}

} // namespace

namespace {

// The affine sub-block scheme of Q4_K and Q5_K: per 32-value sub-block x ~ scale*q - min with q in
// [0, maxLevel]; scales and mins are themselves quantised to 6 bits against the block's largest. Writes the
// block's d, dmin and packed scales/mins and each value's level to q. Simpler than llama.cpp's search-based
// quantiser but the same format, so llama.cpp reads what this writes.
void quantizeAffineK(const float* xb, int maxLevel, uint16_t& dOut, uint16_t& dminOut, uint8_t* packedScales,
                     uint8_t* q) {
    float scales[8];
    float mins[8];
    float maxScale = 0.0f;
    float maxMin = 0.0f;
    for (int s = 0; s < 8; ++s) {
        float lo = 0.0f;
        float hi = 0.0f;
        for (int j = 0; j < 32; ++j) {
            lo = std::min(lo, xb[s * 32 + j]);
            hi = std::max(hi, xb[s * 32 + j]);
        }
        scales[s] = (hi - lo) / static_cast<float>(maxLevel);
        mins[s] = -lo;
        maxScale = std::max(maxScale, scales[s]);
        maxMin = std::max(maxMin, mins[s]);
    }
    dOut = fp32ToFp16(maxScale / 63.0f);
    dminOut = fp32ToFp16(maxMin / 63.0f);
    const float d = fp16ToFp32(dOut);
    const float dmin = fp16ToFp32(dminOut);
    for (int s = 0; s < 8; ++s) {
        const int ls = d > 0 ? std::clamp(static_cast<int>(std::nearbyint(scales[s] / d)), 0, 63) : 0;
        const int lm = dmin > 0 ? std::clamp(static_cast<int>(std::nearbyint(mins[s] / dmin)), 0, 63) : 0;
        packScaleMinK4(s, packedScales, static_cast<uint8_t>(ls), static_cast<uint8_t>(lm));
        const float effScale = d * static_cast<float>(ls);
        const float effMin = dmin * static_cast<float>(lm);
        for (int j = 0; j < 32; ++j) {
            const int v =
                effScale > 0 ? static_cast<int>(std::nearbyint((xb[s * 32 + j] + effMin) / effScale)) : 0;
            q[s * 32 + j] = static_cast<uint8_t>(std::clamp(v, 0, maxLevel));
        }
    }
}

} // namespace

void quantizeRowQ4_K(const float* x, BlockQ4_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        std::memset(y[b].scales, 0, sizeof y[b].scales);
        uint8_t q[kQKK];
        quantizeAffineK(x + b * kQKK, 15, y[b].d, y[b].dmin, y[b].scales, q);
        // Layout: each 64-value chunk stores sub-block 2c in low nibbles and 2c+1 in high nibbles.
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l)
                y[b].qs[c * 32 + l] = static_cast<uint8_t>(q[c * 64 + l] | (q[c * 64 + 32 + l] << 4));
        }
    }
}

void quantizeRowQ6_K(const float* x, BlockQ6_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        float subScale[16];
        float maxAbsScale = 0.0f;
        float signedMaxScale = 0.0f;
        for (int s = 0; s < 16; ++s) {
            float amax = 0.0f;
            float signedMax = 0.0f;
            for (int j = 0; j < 16; ++j) {
                if (std::fabs(xb[s * 16 + j]) > amax) {
                    amax = std::fabs(xb[s * 16 + j]);
                    signedMax = xb[s * 16 + j];
                }
            }
            subScale[s] = signedMax / -32.0f;
            if (std::fabs(subScale[s]) > maxAbsScale) {
                maxAbsScale = std::fabs(subScale[s]);
                signedMaxScale = subScale[s];
            }
        }
        std::memset(&y[b], 0, sizeof y[b]);
        if (maxAbsScale == 0.0f)
            continue;
        const float iscale = -128.0f / signedMaxScale;
        y[b].d = fp32ToFp16(1.0f / iscale);
        const float d = fp16ToFp32(y[b].d);
        int8_t q[kQKK];
        for (int s = 0; s < 16; ++s) {
            const int sc = std::min(127, static_cast<int>(std::nearbyint(iscale * subScale[s])));
            y[b].scales[s] = static_cast<int8_t>(sc);
            const float eff = d * static_cast<float>(sc);
            for (int j = 0; j < 16; ++j) {
                const int v = eff != 0.0f ? static_cast<int>(std::nearbyint(xb[s * 16 + j] / eff)) : 0;
                q[s * 16 + j] = static_cast<int8_t>(std::clamp(v, -32, 31));
            }
        }
        // Layout per 128-value half: ql holds low 4 bits (l, l+32 in low nibbles; l+64, l+96 in high
        // nibbles), qh the 2 high bits of l, l+32, l+64, l+96.
        for (int half = 0; half < 2; ++half) {
            uint8_t* ql = y[b].ql + half * 64;
            uint8_t* qh = y[b].qh + half * 32;
            const int8_t* qq = q + half * 128;
            for (int l = 0; l < 32; ++l) {
                const int q1 = qq[l] + 32;
                const int q2 = qq[l + 32] + 32;
                const int q3 = qq[l + 64] + 32;
                const int q4 = qq[l + 96] + 32;
                ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] =
                    static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

// Weight quantisers for the model synthesiser's Q3_K_M / Q5_K_M / IQ4_XS files (random weights for
// benchmarks): simple max-based scales rather than llama.cpp's searches, but the same block layouts, so
// llama.cpp reads what these write and the dot products above see ordinary blocks.
void quantizeRowQ5_K(const float* x, BlockQ5_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        std::memset(&y[b], 0, sizeof y[b]);
        uint8_t q[kQKK];
        quantizeAffineK(x + b * kQKK, 31, y[b].d, y[b].dmin, y[b].scales, q);
        // Sub-block s = 2j + h: nibble h of qs[32j + l], fifth bit in bit s of qh[l].
        for (int s = 0; s < 8; ++s)
            for (int l = 0; l < 32; ++l) {
                const int v = q[s * 32 + l];
                y[b].qs[32 * (s / 2) + l] |= static_cast<uint8_t>((v & 0xF) << (4 * (s % 2)));
                y[b].qh[l] |= static_cast<uint8_t>((v >> 4) << s);
            }
    }
}

namespace {
// The affine step of llama.cpp's Q4_1 / Q5_1 reference quantisers: a block of n values spans [lo, hi], its
// step d = (hi - lo) / top, and value v becomes level min(top, int((v - lo) / d + 0.5)).
struct AffineBlock {
    float lo = 0.0f;
    float d = 0.0f;
    float id = 0.0f; // 1 / d, 0 for a constant block
    int top = 0;
    AffineBlock(const float* xb, int n, int levels) : top(levels - 1) {
        lo = xb[0];
        float hi = xb[0];
        for (int j = 1; j < n; ++j) {
            lo = std::min(lo, xb[j]);
            hi = std::max(hi, xb[j]);
        }
        d = (hi - lo) / static_cast<float>(top);
        id = d != 0.0f ? 1.0f / d : 0.0f;
    }
    int level(float v) const { return std::clamp(static_cast<int>((v - lo) * id + 0.5f), 0, top); }
};
} // namespace

// llama.cpp's quantize_row_q4_1_ref: min and (max - min) / 15 per block, values 0..15.
void quantizeRowQ4_1(const float* x, BlockQ4_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK4_1; ++b) {
        const float* xb = x + b * kQK4_1;
        const AffineBlock block(xb, kQK4_1, 16);
        y[b].d = fp32ToFp16(block.d);
        y[b].m = fp32ToFp16(block.lo);
        for (int j = 0; j < kQK4_1 / 2; ++j)
            y[b].qs[j] = static_cast<uint8_t>(block.level(xb[j]) | (block.level(xb[j + kQK4_1 / 2]) << 4));
    }
}

// Q2_K: per 16-value sub-block x ~ scale * q - min with q in 0..3; the 16 scales and mins are quantised to
// 4 bits against the block's largest (d, dmin). Like quantizeAffineK, simpler than llama.cpp's search-based
// quantiser but the same format, so llama.cpp reads what this writes.
void quantizeRowQ2_K(const float* x, BlockQ2_K* y, int64_t n) {
    constexpr int kSubBlocks = kQKK / 16;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        float scales[kSubBlocks];
        float mins[kSubBlocks];
        float maxScale = 0.0f;
        float maxMin = 0.0f;
        for (int s = 0; s < kSubBlocks; ++s) {
            float lo = 0.0f;
            float hi = 0.0f;
            for (int j = 0; j < 16; ++j) {
                lo = std::min(lo, xb[s * 16 + j]);
                hi = std::max(hi, xb[s * 16 + j]);
            }
            scales[s] = (hi - lo) / 3.0f;
            mins[s] = -lo;
            maxScale = std::max(maxScale, scales[s]);
            maxMin = std::max(maxMin, mins[s]);
        }
        y[b].d = fp32ToFp16(maxScale / 15.0f);
        y[b].dmin = fp32ToFp16(maxMin / 15.0f);
        const float d = fp16ToFp32(y[b].d);
        const float dmin = fp16ToFp32(y[b].dmin);
        std::memset(y[b].qs, 0, sizeof y[b].qs);
        for (int s = 0; s < kSubBlocks; ++s) {
            const int ls = d > 0 ? std::clamp(static_cast<int>(std::nearbyint(scales[s] / d)), 0, 15) : 0;
            const int lm = dmin > 0 ? std::clamp(static_cast<int>(std::nearbyint(mins[s] / dmin)), 0, 15) : 0;
            y[b].scales[s] = static_cast<uint8_t>(ls | (lm << 4));
            const float effScale = d * static_cast<float>(ls);
            const float effMin = dmin * static_cast<float>(lm);
            for (int j = 0; j < 16; ++j) {
                // Element e = 128i + 32k + l is bits 2k..2k+1 of qs[32i + l] (dequantizeRowQ2_K).
                const int e = s * 16 + j;
                const int v =
                    effScale > 0
                        ? std::clamp(static_cast<int>(std::nearbyint((xb[e] + effMin) / effScale)), 0, 3)
                        : 0;
                y[b].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(v << (2 * ((e % 128) / 32)));
            }
        }
    }
}

// llama.cpp's quantize_row_q5_0_ref: the largest magnitude maps to -16, values to 0..31 around 16.
void quantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK5_0; ++b) {
        const float* xb = x + b * kQK5_0;
        const float signedMax = largestMagnitude(xb, kQK5_0);
        const float d = signedMax / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32ToFp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kQK5_0 / 2; ++j) {
            const int lo = std::clamp(static_cast<int>(xb[j] * id + 16.5f), 0, 31);
            const int hi = std::clamp(static_cast<int>(xb[j + kQK5_0 / 2] * id + 16.5f), 0, 31);
            y[b].qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
            qh |= static_cast<uint32_t>(lo >> 4) << j;
            qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK5_0 / 2);
        }
        std::memcpy(y[b].qh, &qh, sizeof qh);
    }
}

// llama.cpp's quantize_row_q5_1_ref: min and (max - min) / 31 per block, values 0..31.
void quantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK5_1; ++b) {
        const float* xb = x + b * kQK5_1;
        const AffineBlock block(xb, kQK5_1, 32);
        y[b].d = fp32ToFp16(block.d);
        y[b].m = fp32ToFp16(block.lo);
        uint32_t qh = 0;
        for (int j = 0; j < kQK5_1 / 2; ++j) {
            const int v0 = block.level(xb[j]);
            const int v1 = block.level(xb[j + kQK5_1 / 2]);
            y[b].qs[j] = static_cast<uint8_t>((v0 & 0xF) | ((v1 & 0xF) << 4));
            qh |= static_cast<uint32_t>(v0 >> 4) << j;
            qh |= static_cast<uint32_t>(v1 >> 4) << (j + kQK5_1 / 2);
        }
        std::memcpy(y[b].qh, &qh, sizeof qh);
    }
}

namespace {
// The nearest entry of the IQ4_NL table to `target` (in units of the block's scale).
int nearestIQ4Value(float target) {
    int best = 0;
    for (int k = 1; k < 16; ++k)
        if (std::fabs(static_cast<float>(kIQ4NLValues[k]) - target) <
            std::fabs(static_cast<float>(kIQ4NLValues[best]) - target))
            best = k;
    return best;
}
} // namespace

// Per 32 values one F16 scale, the largest magnitude mapped to the table's largest positive value (the
// model synthesiser's files; llama.cpp searches scales further, which changes values, not the format).
void quantizeRowIQ4_NL(const float* x, BlockIQ4_NL* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK4_NL; ++b) {
        const float* xb = x + b * kQK4_NL;
        float amax = 0.0f;
        for (int j = 0; j < kQK4_NL; ++j)
            amax = std::max(amax, std::fabs(xb[j]));
        y[b].d = fp32ToFp16(amax / 113.0f);
        const float d = fp16ToFp32(y[b].d);
        for (int j = 0; j < kQK4_NL / 2; ++j) {
            const int lo = d > 0 ? nearestIQ4Value(xb[j] / d) : 8;
            const int hi = d > 0 ? nearestIQ4Value(xb[j + kQK4_NL / 2] / d) : 8;
            y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

void quantizeRowQ3_K(const float* x, BlockQ3_K* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        float groupScale[16];
        float maxAbsScale = 0.0f;
        float signedMaxScale = 0.0f;
        for (int g = 0; g < 16; ++g) {
            float amax = 0.0f;
            float signedMax = 0.0f;
            for (int j = 0; j < 16; ++j) {
                if (std::fabs(xb[g * 16 + j]) > amax) {
                    amax = std::fabs(xb[g * 16 + j]);
                    signedMax = xb[g * 16 + j];
                }
            }
            groupScale[g] = signedMax / -4.0f; // the largest value maps to -4
            if (std::fabs(groupScale[g]) > maxAbsScale) {
                maxAbsScale = std::fabs(groupScale[g]);
                signedMaxScale = groupScale[g];
            }
        }
        std::memset(&y[b], 0, sizeof y[b]);
        if (maxAbsScale == 0.0f)
            continue; // d = 0: every value is 0 whatever the scales
        const float iscale = -32.0f / signedMaxScale;
        y[b].d = fp32ToFp16(1.0f / iscale);
        const float d = fp16ToFp32(y[b].d);
        for (int g = 0; g < 16; ++g) {
            const int sc = std::clamp(static_cast<int>(std::nearbyint(iscale * groupScale[g])), -32, 31);
            const int stored = sc + 32;
            if (g < 8)
                y[b].scales[g] |= static_cast<uint8_t>(stored & 0xF);
            else
                y[b].scales[g - 8] |= static_cast<uint8_t>((stored & 0xF) << 4);
            y[b].scales[8 + g % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (g / 4)));
            const float eff = d * static_cast<float>(sc);
            for (int j = 0; j < 16; ++j) {
                const int e = g * 16 + j;
                const int v =
                    eff != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(xb[e] / eff)), -4, 3) : 0;
                const int u = v + 4; // 0..7: low 2 bits in qs, bit 2 in hmask
                const int jj = e / 128, k = (e % 128) / 32, l = e % 32;
                y[b].qs[32 * jj + l] |= static_cast<uint8_t>((u & 3) << (2 * k));
                y[b].hmask[l] |= static_cast<uint8_t>((u >> 2) << (4 * jj + k));
            }
        }
    }
}

void quantizeRowIQ4_XS(const float* x, BlockIQ4_XS* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        float subScale[8];
        float maxScale = 0.0f;
        for (int ib = 0; ib < 8; ++ib) {
            float amax = 0.0f;
            for (int j = 0; j < 32; ++j)
                amax = std::max(amax, std::fabs(xb[ib * 32 + j]));
            subScale[ib] = amax / 113.0f; // the table's largest positive value
            maxScale = std::max(maxScale, subScale[ib]);
        }
        std::memset(&y[b], 0, sizeof y[b]);
        y[b].d = fp32ToFp16(maxScale / 31.0f);
        const float d = fp16ToFp32(y[b].d);
        for (int ib = 0; ib < 8; ++ib) {
            const int ls = d > 0 ? std::clamp(static_cast<int>(std::nearbyint(subScale[ib] / d)), 0, 31) : 0;
            const int stored = ls + 32;
            y[b].scalesLow[ib / 2] |= static_cast<uint8_t>((stored & 0xF) << (4 * (ib % 2)));
            y[b].scalesHigh = static_cast<uint16_t>(y[b].scalesHigh | ((stored >> 4) << (2 * ib)));
            const float eff = d * static_cast<float>(ls);
            for (int j = 0; j < 32; ++j) {
                // 8: the value nearest zero
                const int best = eff > 0 ? nearestIQ4Value(xb[ib * 32 + j] / eff) : 8;
                y[b].qs[16 * ib + j % 16] |= static_cast<uint8_t>(best << (4 * (j / 16)));
            }
        }
    }
}

bool quantizeRow(TensorType type, const float* x, void* out, int64_t n) {
    switch (type) {
    case TensorType::F32:
        std::memcpy(out, x, static_cast<size_t>(n) * 4);
        return true;
    case TensorType::F16:
    case TensorType::BF16:
        quantizeActivationRow(type, x, out, n);
        return true;
    case TensorType::Q8_0:
        quantizeRowQ8_0(x, static_cast<BlockQ8_0*>(out), n);
        return true;
    case TensorType::Q4_0:
        quantizeRowQ4_0(x, static_cast<BlockQ4_0*>(out), n);
        return true;
    case TensorType::Q4_K:
        quantizeRowQ4_K(x, static_cast<BlockQ4_K*>(out), n);
        return true;
    case TensorType::Q6_K:
        quantizeRowQ6_K(x, static_cast<BlockQ6_K*>(out), n);
        return true;
    case TensorType::Q5_K:
        quantizeRowQ5_K(x, static_cast<BlockQ5_K*>(out), n);
        return true;
    case TensorType::Q3_K:
        quantizeRowQ3_K(x, static_cast<BlockQ3_K*>(out), n);
        return true;
    case TensorType::IQ4_XS:
        quantizeRowIQ4_XS(x, static_cast<BlockIQ4_XS*>(out), n);
        return true;
    case TensorType::Q4_1:
        quantizeRowQ4_1(x, static_cast<BlockQ4_1*>(out), n);
        return true;
    case TensorType::Q5_0:
        quantizeRowQ5_0(x, static_cast<BlockQ5_0*>(out), n);
        return true;
    case TensorType::Q5_1:
        quantizeRowQ5_1(x, static_cast<BlockQ5_1*>(out), n);
        return true;
    case TensorType::IQ4_NL:
        quantizeRowIQ4_NL(x, static_cast<BlockIQ4_NL*>(out), n);
        return true;
    case TensorType::Q2_K:
        quantizeRowQ2_K(x, static_cast<BlockQ2_K*>(out), n);
        return true;
    default:
        return false;
    }
}

// ---- dequantisation -----------------------------------------------------------------------------------

void dequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        const float d = fp16ToFp32(x[b].d);
        for (int j = 0; j < kQK8_0; ++j)
            y[b * kQK8_0 + j] = d * static_cast<float>(x[b].qs[j]);
    }
}

void dequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK4_0; ++b) {
        const float d = fp16ToFp32(x[b].d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            y[b * kQK4_0 + j] = d * static_cast<float>((x[b].qs[j] & 0xF) - 8);
            y[b * kQK4_0 + j + kQK4_0 / 2] = d * static_cast<float>((x[b].qs[j] >> 4) - 8);
        }
    }
}

void dequantizeRowQ4_K(const BlockQ4_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = fp16ToFp32(x[b].d);
        const float dmin = fp16ToFp32(x[b].dmin);
        const uint8_t* q = x[b].qs;
        float* out = y + b * kQKK;
        for (int c = 0; c < 4; ++c) {
            uint8_t sc;
            uint8_t m;
            scaleMinK4(2 * c, x[b].scales, sc, m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            scaleMinK4(2 * c + 1, x[b].scales, sc, m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            for (int l = 0; l < 32; ++l)
                *out++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l)
                *out++ = d2 * static_cast<float>(q[l] >> 4) - m2;
            q += 32;
        }
    }
}

void dequantizeRowQ6_K(const BlockQ6_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = fp16ToFp32(x[b].d);
        const uint8_t* ql = x[b].ql;
        const uint8_t* qh = x[b].qh;
        const int8_t* sc = x[b].scales;
        float* out = y + b * kQKK;
        for (int half = 0; half < 2; ++half) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = static_cast<int>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = static_cast<int>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                out[l] = d * sc[is] * static_cast<float>(q1);
                out[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
                out[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
                out[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
            }
            out += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

// The new formats' dequantisers follow ggml's dequantize_row_* (ggml-base, no FMA): used for embedding rows.
void dequantizeRowQ4_1(const BlockQ4_1* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK4_1; ++b) {
        const float d = fp16ToFp32(x[b].d);
        const float m = fp16ToFp32(x[b].m);
        for (int j = 0; j < kQK4_1 / 2; ++j) {
            y[b * kQK4_1 + j] = static_cast<float>(x[b].qs[j] & 0xF) * d + m;
            y[b * kQK4_1 + j + kQK4_1 / 2] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
        }
    }
}

namespace {
inline uint32_t loadHighBits(const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, sizeof bits);
    return bits;
}
// The 5-bit value j (0..31) of a Q5_0 / Q5_1 block, 0..31.
inline int fiveBitValue(const uint8_t* qs, uint32_t qh, int j) {
    const int nibble = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return nibble | static_cast<int>(((qh >> j) & 1u) << 4);
}
} // namespace

void dequantizeRowQ5_0(const BlockQ5_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK5_0; ++b) {
        const float d = fp16ToFp32(x[b].d);
        const uint32_t qh = loadHighBits(x[b].qh);
        for (int j = 0; j < kQK5_0; ++j)
            y[b * kQK5_0 + j] = static_cast<float>(fiveBitValue(x[b].qs, qh, j) - 16) * d;
    }
}

void dequantizeRowQ5_1(const BlockQ5_1* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK5_1; ++b) {
        const float d = fp16ToFp32(x[b].d);
        const float m = fp16ToFp32(x[b].m);
        const uint32_t qh = loadHighBits(x[b].qh);
        for (int j = 0; j < kQK5_1; ++j)
            y[b * kQK5_1 + j] = static_cast<float>(fiveBitValue(x[b].qs, qh, j)) * d + m;
    }
}

void dequantizeRowQ2_K(const BlockQ2_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = fp16ToFp32(x[b].d);
        const float dmin = fp16ToFp32(x[b].dmin);
        float* out = y + b * kQKK;
        // Element 128j + 32k + l is bits 2k..2k+1 of qs[32j + l]; its scale byte is (128j + 32k + l) / 16.
        for (int e = 0; e < kQKK; ++e) {
            const int j = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t sc = x[b].scales[e / 16];
            const float dl = d * static_cast<float>(sc & 0xF);
            const float ml = dmin * static_cast<float>(sc >> 4);
            out[e] = dl * static_cast<float>((x[b].qs[32 * j + l] >> (2 * k)) & 3) - ml;
        }
    }
}

namespace {
// The 16 signed scales of a Q3_K block (6 bits, offset 32).
inline void unpackQ3KScales(const uint8_t* packed, int* scales) {
    for (int s = 0; s < 16; ++s) {
        const int low = s < 8 ? (packed[s] & 0xF) : (packed[s - 8] >> 4);
        const int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
        scales[s] = (low | (high << 4)) - 32;
    }
}
// Element 128j + 32k + l of a Q3_K block: bits 2k..2k+1 of qs[32j + l], minus 4 unless bit 4j+k of hmask[l].
inline int q3Value(const BlockQ3_K& block, int e) {
    const int j = e / 128, k = (e % 128) / 32, l = e % 32;
    const int low = (block.qs[32 * j + l] >> (2 * k)) & 3;
    return low - (((block.hmask[l] >> (4 * j + k)) & 1) ? 0 : 4);
}
// Element 64j + 32h + l of a Q5_K block: nibble h of qs[32j + l] plus 16 * bit 2j+h of qh[l].
inline int q5KValue(const BlockQ5_K& block, int e) {
    const int j = e / 64, h = (e % 64) / 32, l = e % 32;
    const int nibble = h == 0 ? (block.qs[32 * j + l] & 0xF) : (block.qs[32 * j + l] >> 4);
    return nibble + (((block.qh[l] >> (2 * j + h)) & 1) << 4);
}
// Sub-block scale (6 bits, offset 32) of IQ4_XS sub-block ib.
inline int iq4XsScale(const BlockIQ4_XS& block, int ib) {
    const int low = (block.scalesLow[ib / 2] >> (4 * (ib % 2))) & 0xF;
    const int high = (block.scalesHigh >> (2 * ib)) & 3;
    return (low | (high << 4)) - 32;
}
} // namespace

void dequantizeRowQ3_K(const BlockQ3_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = fp16ToFp32(x[b].d);
        int scales[16];
        unpackQ3KScales(x[b].scales, scales);
        float* out = y + b * kQKK;
        for (int e = 0; e < kQKK; ++e)
            out[e] = (d * static_cast<float>(scales[e / 16])) * static_cast<float>(q3Value(x[b], e));
    }
}

void dequantizeRowQ5_K(const BlockQ5_K* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = fp16ToFp32(x[b].d);
        const float dmin = fp16ToFp32(x[b].dmin);
        float* out = y + b * kQKK;
        for (int s = 0; s < 8; ++s) {
            uint8_t sc;
            uint8_t m;
            scaleMinK4(s, x[b].scales, sc, m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            for (int l = 0; l < 32; ++l)
                out[32 * s + l] = d1 * static_cast<float>(q5KValue(x[b], 32 * s + l)) - m1;
        }
    }
}

void dequantizeRowIQ4_NL(const BlockIQ4_NL* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQK4_NL; ++b) {
        const float d = fp16ToFp32(x[b].d);
        for (int j = 0; j < kQK4_NL / 2; ++j) {
            y[b * kQK4_NL + j] = d * static_cast<float>(kIQ4NLValues[x[b].qs[j] & 0xF]);
            y[b * kQK4_NL + j + kQK4_NL / 2] = d * static_cast<float>(kIQ4NLValues[x[b].qs[j] >> 4]);
        }
    }
}

void dequantizeRowIQ4_XS(const BlockIQ4_XS* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = fp16ToFp32(x[b].d);
        float* out = y + b * kQKK;
        for (int ib = 0; ib < kQKK / 32; ++ib) {
            const float dl = d * static_cast<float>(iq4XsScale(x[b], ib));
            const uint8_t* qs = x[b].qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                out[32 * ib + j] = dl * static_cast<float>(kIQ4NLValues[qs[j] & 0xF]);
                out[32 * ib + j + 16] = dl * static_cast<float>(kIQ4NLValues[qs[j] >> 4]);
            }
        }
    }
}

void dequantizeRow(TensorType type, const void* row, float* out, int64_t n) {
    switch (type) {
    case TensorType::F32:
        std::memcpy(out, row, static_cast<size_t>(n) * 4);
        break;
    case TensorType::F16: {
        const auto* h = static_cast<const f16_bits*>(row);
        for (int64_t i = 0; i < n; ++i)
            out[i] = fp16ToFp32(h[i]);
        break;
    }
    case TensorType::BF16: {
        const auto* h = static_cast<const bf16_bits*>(row);
        for (int64_t i = 0; i < n; ++i)
            out[i] = bf16ToFp32(h[i]);
        break;
    }
    case TensorType::Q8_0:
        dequantizeRowQ8_0(static_cast<const BlockQ8_0*>(row), out, n);
        break;
    case TensorType::Q4_0:
        dequantizeRowQ4_0(static_cast<const BlockQ4_0*>(row), out, n);
        break;
    case TensorType::Q4_K:
        dequantizeRowQ4_K(static_cast<const BlockQ4_K*>(row), out, n);
        break;
    case TensorType::Q6_K:
        dequantizeRowQ6_K(static_cast<const BlockQ6_K*>(row), out, n);
        break;
    case TensorType::Q8_1: { // activations only (tests): d * q
        const auto* blocks = static_cast<const BlockQ8_1*>(row);
        for (int64_t i = 0; i < n; ++i)
            out[i] = fp16ToFp32(blocks[i / kQK8_1].d) * static_cast<float>(blocks[i / kQK8_1].qs[i % kQK8_1]);
        break;
    }
    case TensorType::Q4_1:
        dequantizeRowQ4_1(static_cast<const BlockQ4_1*>(row), out, n);
        break;
    case TensorType::Q5_0:
        dequantizeRowQ5_0(static_cast<const BlockQ5_0*>(row), out, n);
        break;
    case TensorType::Q5_1:
        dequantizeRowQ5_1(static_cast<const BlockQ5_1*>(row), out, n);
        break;
    case TensorType::Q2_K:
        dequantizeRowQ2_K(static_cast<const BlockQ2_K*>(row), out, n);
        break;
    case TensorType::Q3_K:
        dequantizeRowQ3_K(static_cast<const BlockQ3_K*>(row), out, n);
        break;
    case TensorType::Q5_K:
        dequantizeRowQ5_K(static_cast<const BlockQ5_K*>(row), out, n);
        break;
    case TensorType::IQ4_NL:
        dequantizeRowIQ4_NL(static_cast<const BlockIQ4_NL*>(row), out, n);
        break;
    case TensorType::IQ4_XS:
        dequantizeRowIQ4_XS(static_cast<const BlockIQ4_XS*>(row), out, n);
        break;
    default:
        std::fill(out, out + n, 0.0f);
        break; // unsupported types are refused when a model loads
    }
}

// ---- dot products ------------------------------------------------------------------------------------

float dotF32(const float* a, const float* b, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i)
        sum += a[i] * b[i];
    return sum;
}

float dotF16(const f16_bits* a, const f16_bits* b, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(fp16ToFp32(a[i]) * fp16ToFp32(b[i]));
    return static_cast<float>(sum);
}

float dotBF16(const bf16_bits* a, const bf16_bits* b, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(bf16ToFp32(a[i]) * bf16ToFp32(b[i]));
    return static_cast<float>(sum);
}

float dotQ8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / kQK8_0; ++b) {
        int isum = 0;
        for (int j = 0; j < kQK8_0; ++j)
            isum += w[b].qs[j] * x[b].qs[j];
        sum += static_cast<float>(isum) * (fp16ToFp32(w[b].d) * fp16ToFp32(x[b].d));
    }
    return sum;
}

float dotQ4_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / kQK4_0; ++b) {
        int isum = 0;
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            isum += ((w[b].qs[j] & 0xF) - 8) * x[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + kQK4_0 / 2];
        }
        sum += static_cast<float>(isum) * (fp16ToFp32(w[b].d) * fp16ToFp32(x[b].d));
    }
    return sum;
}

// llama.cpp on x86 (any AVX2 machine) repacks Q4_K matrices into 8-row groups (q4_K_8x8) and multiplies them
// with kernels that keep, per (row, token), two FMA chains over the super-blocks: acc += isum * (dw * dx) and
// accMin += minsum * (dmin * dx), with the exact integer isum = sum of scale * q * x and minsum = sum of
// min * (pair of 16-value activation sums); the result is acc - accMin. That is its gemv (one token, and the
// last nTokens % 4 tokens of a batch); its gemm (each full group of 4 tokens, dotQ4_KGemm) steps the two
// chains per pair of sub-blocks, 4 FMAs per super-block, so a batch rounds differently from decode.
namespace {
// Sub-blocks 2c and 2c + 1 of a Q4_K super-block against its Q8_K block: the integer sum of the scaled
// products and of the mins (exact integers: any grouping of them gives the same value).
void q4KPairSums(const BlockQ4_K& w, const BlockQ8_K& x, int c, int& sumScaled, int& sumMins) {
    const uint8_t* q4 = w.qs + 32 * c;
    const int8_t* q8 = x.qs + 64 * c;
    int lo = 0;
    int hi = 0;
    for (int l = 0; l < 32; ++l) {
        lo += (q4[l] & 0xF) * q8[l];
        hi += (q4[l] >> 4) * q8[l + 32];
    }
    uint8_t sc;
    uint8_t m;
    scaleMinK4(2 * c, w.scales, sc, m);
    sumScaled = sc * lo;
    sumMins = m * (x.bsums[4 * c] + x.bsums[4 * c + 1]);
    scaleMinK4(2 * c + 1, w.scales, sc, m);
    sumScaled += sc * hi;
    sumMins += m * (x.bsums[4 * c + 2] + x.bsums[4 * c + 3]);
}
} // namespace

float dotQ4_K(const BlockQ4_K* w, const BlockQ8_K* x, int64_t n) {
    float acc = 0.0f;
    float accMin = 0.0f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int sumScaled = 0;
        int sumMins = 0;
        for (int c = 0; c < 4; ++c) {
            int scaled = 0;
            int mins = 0;
            q4KPairSums(w[b], x[b], c, scaled, mins);
            sumScaled += scaled;
            sumMins += mins;
        }
        acc = std::fma(static_cast<float>(sumScaled), fp16ToFp32(w[b].d) * x[b].d, acc);
        accMin = std::fma(static_cast<float>(sumMins), fp16ToFp32(w[b].dmin) * x[b].d, accMin);
    }
    return acc - accMin;
}

float dotQ4_KGemm(const BlockQ4_K* w, const BlockQ8_K* x, int64_t n) {
    float acc = 0.0f;
    float accMin = 0.0f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float dw = fp16ToFp32(w[b].d) * x[b].d;
        const float dminw = fp16ToFp32(w[b].dmin) * x[b].d;
        for (int c = 0; c < 4; ++c) { // the float sums step per pair of sub-blocks, as llama.cpp's gemm
            int sumScaled = 0;
            int sumMins = 0;
            q4KPairSums(w[b], x[b], c, sumScaled, sumMins);
            acc = std::fma(static_cast<float>(sumScaled), dw, acc);
            accMin = std::fma(static_cast<float>(sumMins), dminw, accMin);
        }
    }
    return acc - accMin;
}

namespace {
// The sum of 8 lanes in llama.cpp's x86 order (hsum_float_8): (i + 4+i), then (0+2, 1+3), then their sum.
float hsum8(const float* lane) {
    const float r0 = lane[0] + lane[4], r1 = lane[1] + lane[5], r2 = lane[2] + lane[6],
                r3 = lane[3] + lane[7];
    return (r0 + r2) + (r1 + r3);
}
} // namespace

// llama.cpp's x86 arithmetic (ggml_vec_dot_q6_K_q8_K, AVX2): integer sums in 8 lanes (lane i takes values
// 4i..4i+3 of every 32, with the unsigned 6-bit values) minus the -32 offset's share of lane i, which is
// 32 * (scale * block sum) of the 16-value groups 2i and 2i+1; each lane scaled by dx * dw and accumulated
// with one FMA per block, lanes summed at the end. The SIMD kernels give the same floats.
float dotQ6_K(const BlockQ6_K* w, const BlockQ8_K* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const uint8_t* ql = w[b].ql;
        const uint8_t* qh = w[b].qh;
        const int8_t* sc = w[b].scales;
        const int8_t* q8 = x[b].qs;
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int half = 0; half < 2; ++half) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = static_cast<int>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
                const int q2 = static_cast<int>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
                lane[l / 4] += sc[is + 0] * q1 * q8[l] + sc[is + 2] * q2 * q8[l + 32] +
                               sc[is + 4] * q3 * q8[l + 64] + sc[is + 6] * q4 * q8[l + 96];
            }
            ql += 64;
            qh += 32;
            sc += 8;
            q8 += 128;
        }
        const int8_t* scales = w[b].scales;
        const int16_t* bsums = x[b].bsums;
        for (int i = 0; i < 8; ++i)
            lane[i] -= 32 * (scales[2 * i] * bsums[2 * i] + scales[2 * i + 1] * bsums[2 * i + 1]);
        const float d = x[b].d * fp16ToFp32(w[b].d);
        for (int i = 0; i < 8; ++i)
            acc[i] = std::fma(d, static_cast<float>(lane[i]), acc[i]);
    }
    return hsum8(acc);
}

// ---- the newer formats, in llama.cpp's x86 (AVX2) arithmetic ------------------------------------------
//
// llama.cpp's AVX2 dot products form products of 32 values at a time and sum them into 8 int32 lanes, lane i
// taking values 4i..4i+3 of the 32 (vpmaddubsw + vpmaddwd, or vpdpbusd); integer sums are exact, so only
// which values meet in a lane matters. Each lane is scaled and accumulated in float with one FMA per block
// (or per pair of blocks), and the lanes are summed with hsum_float_8 at the end. Scalar offsets (Q4_1 /
// Q5_1's m * s, the K-quants' dmin * mins) are accumulated separately with an FMA (GCC contracts llama.cpp's
// `summs += a * b`) and added last. The functions below do the same float operations in the same order.

namespace {
// lane[i] += sum over k < 4 of w[4i + k] * x[4i + k] (weights as ints, one 32-value group).
inline void addLaneProducts(const int* w, const int8_t* x, int* lane, int scale = 1) {
    for (int i = 0; i < 8; ++i) {
        int sum = 0;
        for (int k = 0; k < 4; ++k)
            sum += w[4 * i + k] * x[4 * i + k];
        lane[i] += scale * sum;
    }
}
inline void fmaLanes(float d, const int* lane, float* acc) {
    for (int i = 0; i < 8; ++i)
        acc[i] = std::fma(d, static_cast<float>(lane[i]), acc[i]);
}
} // namespace

float dotQ4_1(const BlockQ4_1* w, const BlockQ8_1* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float summs = 0.0f;
    for (int64_t b = 0; b < n / kQK4_1; ++b) {
        summs = std::fma(fp16ToFp32(w[b].m), fp16ToFp32(x[b].s), summs);
        int q[32];
        for (int j = 0; j < 16; ++j) {
            q[j] = w[b].qs[j] & 0xF;
            q[j + 16] = w[b].qs[j] >> 4;
        }
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        addLaneProducts(q, x[b].qs, lane);
        fmaLanes(fp16ToFp32(w[b].d) * fp16ToFp32(x[b].d), lane, acc);
    }
    return hsum8(acc) + summs;
}

float dotQ5_0(const BlockQ5_0* w, const BlockQ8_0* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t b = 0; b < n / kQK5_0; ++b) {
        const uint32_t qh = loadHighBits(w[b].qh);
        int q[32];
        for (int j = 0; j < 32; ++j)
            q[j] = fiveBitValue(w[b].qs, qh, j) - 16;
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        addLaneProducts(q, x[b].qs, lane);
        fmaLanes(fp16ToFp32(w[b].d) * fp16ToFp32(x[b].d), lane, acc);
    }
    return hsum8(acc);
}

float dotQ5_1(const BlockQ5_1* w, const BlockQ8_1* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float summs = 0.0f;
    for (int64_t b = 0; b < n / kQK5_1; ++b) {
        summs = std::fma(fp16ToFp32(w[b].m), fp16ToFp32(x[b].s), summs);
        const uint32_t qh = loadHighBits(w[b].qh);
        int q[32];
        for (int j = 0; j < 32; ++j)
            q[j] = fiveBitValue(w[b].qs, qh, j);
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        addLaneProducts(q, x[b].qs, lane);
        fmaLanes(fp16ToFp32(w[b].d) * fp16ToFp32(x[b].d), lane, acc);
    }
    return hsum8(acc) + summs;
}

// llama.cpp never runs its IQ4_NL dot product (ggml_vec_dot_iq4_nl_q8_0) on x86 matrices: every AVX2 machine
// repacks IQ4_NL weights into 8-row groups (iq4_nl_8x8) whose kernels, decode and prompt alike, keep one FMA
// chain per (row, token): acc = fma(float(block's integer dot), dw * dx, acc), block after block. We follow
// that (it is also the simplest order).
float dotIQ4_NL(const BlockIQ4_NL* w, const BlockQ8_0* x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / kQK4_NL; ++b) {
        int isum = 0;
        for (int j = 0; j < 16; ++j)
            isum +=
                x[b].qs[j] * kIQ4NLValues[w[b].qs[j] & 0xF] + x[b].qs[j + 16] * kIQ4NLValues[w[b].qs[j] >> 4];
        acc = std::fma(static_cast<float>(isum), fp16ToFp32(w[b].d) * fp16ToFp32(x[b].d), acc);
    }
    return acc;
}

float dotIQ4_XS(const BlockIQ4_XS* w, const BlockQ8_K* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int ib = 0; ib < kQKK / 32; ++ib) {
            const uint8_t* qs = w[b].qs + 16 * ib;
            int q[32];
            for (int j = 0; j < 16; ++j) {
                q[j] = kIQ4NLValues[qs[j] & 0xF];
                q[j + 16] = kIQ4NLValues[qs[j] >> 4];
            }
            addLaneProducts(q, x[b].qs + 32 * ib, lane, iq4XsScale(w[b], ib));
        }
        fmaLanes(fp16ToFp32(w[b].d) * x[b].d, lane, acc);
    }
    return hsum8(acc);
}

float dotIQ4_XSPanel(const BlockIQ4_XS* w, const BlockQ8_K* x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int isum = 0; // exact: any grouping of the integer products gives the same value
        for (int ib = 0; ib < kQKK / 32; ++ib) {
            const uint8_t* qs = w[b].qs + 16 * ib;
            const int8_t* q8 = x[b].qs + 32 * ib;
            int sub = 0;
            for (int j = 0; j < 16; ++j)
                sub += kIQ4NLValues[qs[j] & 0xF] * q8[j] + kIQ4NLValues[qs[j] >> 4] * q8[j + 16];
            isum += iq4XsScale(w[b], ib) * sub;
        }
        acc = std::fma(static_cast<float>(isum), fp16ToFp32(w[b].d) * x[b].d, acc);
    }
    return acc;
}

// Q2_K / Q3_K: 16-value groups with their own scale; in each 32-value product vector, lanes 0-3 take the
// first group's scale and lanes 4-7 the second's.
float dotQ2_K(const BlockQ2_K* w, const BlockQ8_K* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = x[b].d * fp16ToFp32(w[b].d);
        const float dmin = -x[b].d * fp16ToFp32(w[b].dmin);
        int minLane[8];
        for (int i = 0; i < 8; ++i)
            minLane[i] = (w[b].scales[2 * i] >> 4) * x[b].bsums[2 * i] +
                         (w[b].scales[2 * i + 1] >> 4) * x[b].bsums[2 * i + 1];
        fmaLanes(dmin, minLane, acc);
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int e = 0; e < kQKK; ++e) {
            const int j = e / 128, k = (e % 128) / 32, l = e % 32;
            const int q = (w[b].qs[32 * j + l] >> (2 * k)) & 3;
            lane[l / 4] += (w[b].scales[e / 16] & 0xF) * q * x[b].qs[e];
        }
        fmaLanes(d, lane, acc);
    }
    return hsum8(acc);
}

// llama.cpp's AVX-512 builds repack Q2_K matrices (q2_K_8x8) like Q4_K: per (row, token) two FMA chains over
// whole-super-block integer sums, acc - accMin at the end. The AVX-512 kernel tables follow this; the others
// follow dotQ2_K (llama.cpp's AVX2 build, which keeps Q2_K unpacked).
float dotQ2_KRepacked(const BlockQ2_K* w, const BlockQ8_K* x, int64_t n) {
    float acc = 0.0f;
    float accMin = 0.0f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int sumScaled = 0;
        int sumMins = 0;
        for (int g = 0; g < 16; ++g)
            sumMins += (w[b].scales[g] >> 4) * x[b].bsums[g];
        for (int e = 0; e < kQKK; ++e) {
            const int j = e / 128, k = (e % 128) / 32, l = e % 32;
            sumScaled += (w[b].scales[e / 16] & 0xF) * ((w[b].qs[32 * j + l] >> (2 * k)) & 3) * x[b].qs[e];
        }
        acc = std::fma(static_cast<float>(sumScaled), fp16ToFp32(w[b].d) * x[b].d, acc);
        accMin = std::fma(static_cast<float>(sumMins), fp16ToFp32(w[b].dmin) * x[b].d, accMin);
    }
    return acc - accMin;
}

// The same kernels' gemm (each full group of 4 tokens of a batch) steps both chains per half super-block
// (128 values, sub-blocks 8h..8h + 7), 2 FMAs per super-block each, so a prompt rounds differently from
// decode wherever a row holds more than one super-block.
float dotQ2_KGemm(const BlockQ2_K* w, const BlockQ8_K* x, int64_t n) {
    float acc = 0.0f;
    float accMin = 0.0f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float dw = fp16ToFp32(w[b].d) * x[b].d;
        const float dminw = fp16ToFp32(w[b].dmin) * x[b].d;
        for (int h = 0; h < 2; ++h) {
            int sumScaled = 0;
            int sumMins = 0;
            for (int g = 8 * h; g < 8 * h + 8; ++g)
                sumMins += (w[b].scales[g] >> 4) * x[b].bsums[g];
            for (int e = 128 * h; e < 128 * h + 128; ++e) {
                const int j = e / 128, k = (e % 128) / 32, l = e % 32;
                sumScaled +=
                    (w[b].scales[e / 16] & 0xF) * ((w[b].qs[32 * j + l] >> (2 * k)) & 3) * x[b].qs[e];
            }
            acc = std::fma(static_cast<float>(sumScaled), dw, acc);
            accMin = std::fma(static_cast<float>(sumMins), dminw, accMin);
        }
    }
    return acc - accMin;
}

float dotQ3_K(const BlockQ3_K* w, const BlockQ8_K* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t b = 0; b < n / kQKK; ++b) {
        int scales[16];
        unpackQ3KScales(w[b].scales, scales);
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int e = 0; e < kQKK; ++e)
            lane[(e % 32) / 4] += scales[e / 16] * q3Value(w[b], e) * x[b].qs[e];
        fmaLanes(x[b].d * fp16ToFp32(w[b].d), lane, acc);
    }
    return hsum8(acc);
}

float dotQ5_K(const BlockQ5_K* w, const BlockQ8_K* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float summs = 0.0f;
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float d = x[b].d * fp16ToFp32(w[b].d);
        const float dmin = -x[b].d * fp16ToFp32(w[b].dmin);
        uint8_t scales[8];
        int sumMins = 0;
        for (int s = 0; s < 8; ++s) {
            uint8_t m;
            scaleMinK4(s, w[b].scales, scales[s], m);
            sumMins += m * (x[b].bsums[2 * s] + x[b].bsums[2 * s + 1]);
        }
        summs = std::fma(dmin, static_cast<float>(sumMins), summs);
        int lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int e = 0; e < kQKK; ++e)
            lane[(e % 32) / 4] += scales[e / 32] * q5KValue(w[b], e) * x[b].qs[e];
        fmaLanes(d, lane, acc);
    }
    return hsum8(acc) + summs;
}

float dotRow(TensorType weightType, const void* weightRow, const void* activationRow, int64_t n) {
    switch (weightType) {
    case TensorType::F32:
        return dotF32(static_cast<const float*>(weightRow), static_cast<const float*>(activationRow), n);
    case TensorType::F16:
        return dotF16(static_cast<const f16_bits*>(weightRow), static_cast<const f16_bits*>(activationRow),
                      n);
    case TensorType::BF16:
        return dotBF16(static_cast<const bf16_bits*>(weightRow), static_cast<const bf16_bits*>(activationRow),
                       n);
    case TensorType::Q8_0:
        return dotQ8_0(static_cast<const BlockQ8_0*>(weightRow), static_cast<const BlockQ8_0*>(activationRow),
                       n);
    case TensorType::Q4_0:
        return dotQ4_0(static_cast<const BlockQ4_0*>(weightRow), static_cast<const BlockQ8_0*>(activationRow),
                       n);
    case TensorType::Q4_K:
        return dotQ4_K(static_cast<const BlockQ4_K*>(weightRow), static_cast<const BlockQ8_K*>(activationRow),
                       n);
    case TensorType::Q6_K:
        return dotQ6_K(static_cast<const BlockQ6_K*>(weightRow), static_cast<const BlockQ8_K*>(activationRow),
                       n);
    case TensorType::Q4_1:
        return dotQ4_1(static_cast<const BlockQ4_1*>(weightRow), static_cast<const BlockQ8_1*>(activationRow),
                       n);
    case TensorType::Q5_0:
        return dotQ5_0(static_cast<const BlockQ5_0*>(weightRow), static_cast<const BlockQ8_0*>(activationRow),
                       n);
    case TensorType::Q5_1:
        return dotQ5_1(static_cast<const BlockQ5_1*>(weightRow), static_cast<const BlockQ8_1*>(activationRow),
                       n);
    case TensorType::Q2_K:
        return dotQ2_K(static_cast<const BlockQ2_K*>(weightRow), static_cast<const BlockQ8_K*>(activationRow),
                       n);
    case TensorType::Q3_K:
        return dotQ3_K(static_cast<const BlockQ3_K*>(weightRow), static_cast<const BlockQ8_K*>(activationRow),
                       n);
    case TensorType::Q5_K:
        return dotQ5_K(static_cast<const BlockQ5_K*>(weightRow), static_cast<const BlockQ8_K*>(activationRow),
                       n);
    case TensorType::IQ4_NL:
        return dotIQ4_NL(static_cast<const BlockIQ4_NL*>(weightRow),
                         static_cast<const BlockQ8_0*>(activationRow), n);
    case TensorType::IQ4_XS:
        return dotIQ4_XS(static_cast<const BlockIQ4_XS*>(weightRow),
                         static_cast<const BlockQ8_K*>(activationRow), n);
    default:
        return 0.0f;
    }
}

} // namespace declai::quant
