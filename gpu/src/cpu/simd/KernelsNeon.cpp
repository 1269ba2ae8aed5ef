// ARM64 NEON kernels (baseline ARMv8-A Advanced SIMD: no dot-product or FP16-arithmetic extensions). NEON is
// part of every AArch64 CPU, so this table needs no runtime check; CMake compiles the file only for aarch64 /
// arm64 targets, and CpuFeatures.cpp supplies a neonKernels() that returns nullptr everywhere else.
//
// Exactness: the quantised dot products (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS) form each
// block's integer sums with widening multiplies (exact however they are grouped, and in the reference's lanes
// where its float steps work per lane) and then apply the reference's float steps, in the reference's order,
// one block after another, so they give declai::quant's bits. The quantisers (F16, BF16, Q8_0, Q8_1, Q8_K)
// and the F16 rounding helpers give its bits too: F16 through the hardware conversions, which round to
// nearest-even exactly as quant::fp32ToFp16 does (FPCR is left at its default: round to nearest, no
// flush-to-zero, no default-NaN), BF16 with the reference's integer rounding. The file is compiled with
// -ffp-contract=off so a multiply followed by an add stays two roundings, as in the reference; the float
// dot products (F32, F16, BF16, F32 x F16) use FMA deliberately and only differ from the reference by
// summation order. tests/gpu/neon_kernels_check.cpp compares every entry with the scalar table under
// qemu-aarch64.
#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"

#if defined(__aarch64__)

#include <arm_neon.h>
#include <cmath>
#include <cstring>
#include <utility>

namespace declai::cpu {
namespace {

// How far ahead of the current position the weight stream is prefetched: each weight row is read once per
// token tile, so the loads should be in flight well before the loop reaches them.
constexpr int kPrefetchBytes = 512;

inline void prefetchWeights(const void* p) {
    __builtin_prefetch(static_cast<const char*>(p) + kPrefetchBytes);
}

// A half-precision bit pattern to float through the hardware conversion (exact for every finite value and
// infinity, like quant::fp16ToFp32).
inline float halfToFloat(f16_bits h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

inline float32x4_t loadHalf4(const f16_bits* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

// Rounds four floats to the nearest half (ties to even) and back.
inline float32x4_t roundToHalf4(float32x4_t v) {
    return vcvt_f32_f16(vcvt_f16_f32(v));
}

inline float roundToHalf(float v) {
    return quant::fp16ToFp32(quant::fp32ToFp16(v));
}

template <typename Block>
inline const Block* activationRow(const std::byte* x, size_t xStride, int t) {
    return reinterpret_cast<const Block*>(x + static_cast<size_t>(t) * xStride);
}

// Splits any token count into tiles of at most kMaxTileTokens and runs Kernel::tile<NT> on each, so every
// weight block is loaded once per tile and reused for all of its tokens.
template <typename Kernel>
void dotTiled(const void* weightRow, const std::byte* x, size_t xStride, int nTokens, int64_t n, float* out) {
    while (nTokens > 0) {
        const int tileTokens = nTokens < kMaxTileTokens ? nTokens : kMaxTileTokens;
        switch (tileTokens) {
        case 1:
            Kernel::template tile<1>(weightRow, x, xStride, n, out);
            break;
        case 2:
            Kernel::template tile<2>(weightRow, x, xStride, n, out);
            break;
        case 3:
            Kernel::template tile<3>(weightRow, x, xStride, n, out);
            break;
        default:
            Kernel::template tile<4>(weightRow, x, xStride, n, out);
            break;
        }
        x += static_cast<size_t>(tileTokens) * xStride;
        out += tileTokens;
        nTokens -= tileTokens;
    }
}

// ---- float formats ------------------------------------------------------------------------------------

struct F32Values {
    using T = float;
    static float32x4_t load4(const float* p) { return vld1q_f32(p); }
    static float scalar(float v) { return v; }
};

struct F16Values {
    using T = f16_bits;
    static float32x4_t load4(const f16_bits* p) { return loadHalf4(p); }
    static float scalar(f16_bits v) { return halfToFloat(v); }
};

// BF16 is the top half of a float: widening the 16 bits into the high half of a 32-bit lane is exact.
struct BF16Values {
    using T = bf16_bits;
    static float32x4_t load4(const bf16_bits* p) {
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
    }
    static float scalar(bf16_bits v) { return quant::bf16ToFp32(v); }
};

// sum_i w[i] * x[i] with four 4-lane accumulators per token (16 partial sums hide the FMA latency). The
// product of two halves (or of two BF16 values) is exact in float, so for F16 and BF16 only the summation
// order differs from the reference (which sums in double). The per-token sequence does not depend on the tile
// size.
template <typename Values>
struct FloatDot {
    template <int NT>
    static void tile(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
        using T = typename Values::T;
        const T* w = static_cast<const T*>(weightRow);
        const T* xs[NT];
        float32x4_t acc[NT][4];
        for (int t = 0; t < NT; ++t) {
            xs[t] = activationRow<T>(x, xStride, t);
            for (int k = 0; k < 4; ++k)
                acc[t][k] = vdupq_n_f32(0.0f);
        }
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            prefetchWeights(w + i);
            float32x4_t wv[4];
            for (int k = 0; k < 4; ++k)
                wv[k] = Values::load4(w + i + 4 * k);
            for (int t = 0; t < NT; ++t) {
                for (int k = 0; k < 4; ++k)
                    acc[t][k] = vfmaq_f32(acc[t][k], wv[k], Values::load4(xs[t] + i + 4 * k));
            }
        }
        for (int t = 0; t < NT; ++t) {
            float sum =
                vaddvq_f32(vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]), vaddq_f32(acc[t][2], acc[t][3])));
            for (int64_t j = i; j < n; ++j)
                sum += Values::scalar(w[j]) * Values::scalar(xs[t][j]);
            out[t] = sum;
        }
    }
};

// ---- Q8_0 x Q8_0 and Q4_0 x Q8_0 --------------------------------------------------------------------------

// int32 lane sums of the 32 products of one weight block (lo = values 0..15, hi = 16..31) with one Q8_0
// activation block. Each product is at most 128 * 128, which fits an int16 lane; the pairwise widening add
// into int32 is exact, so the lane total equals the reference's integer sum.
inline int32x4_t blockProducts(int8x16_t wLo, int8x16_t wHi, const int8_t* xq) {
    const int8x16_t xLo = vld1q_s8(xq);
    const int8x16_t xHi = vld1q_s8(xq + 16);
    int32x4_t sums = vpaddlq_s16(vmull_s8(vget_low_s8(wLo), vget_low_s8(xLo)));
    sums = vpadalq_s16(sums, vmull_high_s8(wLo, xLo));
    sums = vpadalq_s16(sums, vmull_s8(vget_low_s8(wHi), vget_low_s8(xHi)));
    sums = vpadalq_s16(sums, vmull_high_s8(wHi, xHi));
    return sums;
}

// The per-block float steps, one token per lane: sum += float(isum) * (dw * dx). Lane-wise vector
// multiplies and adds are the same IEEE operations as the reference's scalar ones, in the same order.
inline float32x4_t accumulateBlock(float32x4_t sum, const int32x4_t (&lanes)[4], float dw, float32x4_t dx) {
    // Horizontal totals of the four tokens' lane sums, token t in lane t (integer adds: exact).
    const int32x4_t isum = vpaddq_s32(vpaddq_s32(lanes[0], lanes[1]), vpaddq_s32(lanes[2], lanes[3]));
    const float32x4_t scale = vmulq_f32(vdupq_n_f32(dw), dx);
    return vaddq_f32(sum, vmulq_f32(vcvtq_f32_s32(isum), scale));
}

// One Q8_0-activation dot driver for both weight formats: Unpack turns weight block b into its 32 signed
// values (lo = 0..15, hi = 16..31) and returns the block scale.
template <typename WeightBlock, typename Unpack>
struct QuantDot {
    template <int NT>
    static void tile(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
        const auto* w = static_cast<const WeightBlock*>(weightRow);
        const BlockQ8_0* xs[NT];
        for (int t = 0; t < NT; ++t)
            xs[t] = activationRow<BlockQ8_0>(x, xStride, t);
        float32x4_t sum = vdupq_n_f32(0.0f);
        const int64_t blocks = n / kQK8_0;
        for (int64_t b = 0; b < blocks; ++b) {
            prefetchWeights(w + b);
            int8x16_t wLo;
            int8x16_t wHi;
            const float dw = Unpack::block(w[b], wLo, wHi);
            // Unused token lanes stay zero; their results are never stored.
            int32x4_t lanes[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
            float dxs[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int t = 0; t < NT; ++t) {
                lanes[t] = blockProducts(wLo, wHi, xs[t][b].qs);
                dxs[t] = halfToFloat(xs[t][b].d);
            }
            sum = accumulateBlock(sum, lanes, dw, vld1q_f32(dxs));
        }
        float sums[4];
        vst1q_f32(sums, sum);
        for (int t = 0; t < NT; ++t)
            out[t] = sums[t];
    }
};

struct UnpackQ8_0 {
    static float block(const BlockQ8_0& blk, int8x16_t& lo, int8x16_t& hi) {
        lo = vld1q_s8(blk.qs);
        hi = vld1q_s8(blk.qs + 16);
        return halfToFloat(blk.d);
    }
};

struct UnpackQ4_0 {
    static float block(const BlockQ4_0& blk, int8x16_t& lo, int8x16_t& hi) {
        // Low nibbles are values 0..15 of the block, high nibbles 16..31; both are stored offset by 8.
        const uint8x16_t raw = vld1q_u8(blk.qs);
        const int8x16_t eight = vdupq_n_s8(8);
        lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F))), eight);
        hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
        return halfToFloat(blk.d);
    }
};

// ---- Q4_1 / Q5_1 x Q8_1, Q5_0 x Q8_0 (eight lanes), IQ4_NL x Q8_0 (one chain) --------------------------

// The eight lane sums of the reference's addLaneProducts (lane i = values 4i..4i+3 of the block) for one
// block of 32 weight values (lo = 0..15, hi = 16..31, int8) and one activation block: lanes 0..3 in
// `first`, 4..7 in `second`. Every product fits an int16 (|w| <= 127, |x| <= 128) and every pairwise sum
// is an integer add, so the lanes are exact.
inline void laneSums(int8x16_t wLo, int8x16_t wHi, const int8_t* xq, int32x4_t& first, int32x4_t& second) {
    const int8x16_t xLo = vld1q_s8(xq);
    const int8x16_t xHi = vld1q_s8(xq + 16);
    // Pairs of adjacent products, then pairs of pairs: four consecutive values per lane.
    const int32x4_t p0 = vpaddlq_s16(vmull_s8(vget_low_s8(wLo), vget_low_s8(xLo))); // values 0..7
    const int32x4_t p1 = vpaddlq_s16(vmull_high_s8(wLo, xLo));                      // values 8..15
    const int32x4_t p2 = vpaddlq_s16(vmull_s8(vget_low_s8(wHi), vget_low_s8(xHi))); // values 16..23
    const int32x4_t p3 = vpaddlq_s16(vmull_high_s8(wHi, xHi));                      // values 24..31
    first = vpaddq_s32(p0, p1);
    second = vpaddq_s32(p2, p3);
}

// The reference's hsum8: (lane0 + lane4) .. (lane3 + lane7), then (r0 + r2) + (r1 + r3).
inline float laneTotal(float32x4_t first, float32x4_t second) {
    const float32x4_t r = vaddq_f32(first, second);
    return (vgetq_lane_f32(r, 0) + vgetq_lane_f32(r, 2)) + (vgetq_lane_f32(r, 1) + vgetq_lane_f32(r, 3));
}

// Unpack::block(w, lo, hi) returns the block's 32 values as int8 (lo = 0..15, hi = 16..31); Unpack::kHasMin
// adds the reference's `summs = fma(m, s, summs)` per block (Q4_1 / Q5_1 with Q8_1 activations).
template <typename WeightBlock, typename ActBlock, typename Unpack>
struct LaneDot {
    template <int NT>
    static void tile(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
        const auto* w = static_cast<const WeightBlock*>(weightRow);
        const ActBlock* xs[NT];
        float32x4_t accFirst[NT];
        float32x4_t accSecond[NT];
        float summs[NT];
        for (int t = 0; t < NT; ++t) {
            xs[t] = activationRow<ActBlock>(x, xStride, t);
            accFirst[t] = vdupq_n_f32(0.0f);
            accSecond[t] = vdupq_n_f32(0.0f);
            summs[t] = 0.0f;
        }
        const int64_t blocks = n / 32;
        for (int64_t b = 0; b < blocks; ++b) {
            prefetchWeights(w + b);
            int8x16_t wLo;
            int8x16_t wHi;
            const float dw = Unpack::block(w[b], wLo, wHi);
            for (int t = 0; t < NT; ++t) {
                const ActBlock& xb = xs[t][b];
                if constexpr (Unpack::kHasMin)
                    summs[t] = std::fma(halfToFloat(w[b].m), halfToFloat(xb.s), summs[t]);
                int32x4_t first;
                int32x4_t second;
                laneSums(wLo, wHi, xb.qs, first, second);
                // acc[i] = fma(d, float(lane[i]), acc[i]): one fused multiply-add per lane, as the reference.
                const float32x4_t d = vdupq_n_f32(dw * halfToFloat(xb.d));
                accFirst[t] = vfmaq_f32(accFirst[t], vcvtq_f32_s32(first), d);
                accSecond[t] = vfmaq_f32(accSecond[t], vcvtq_f32_s32(second), d);
            }
        }
        for (int t = 0; t < NT; ++t)
            out[t] = Unpack::kHasMin ? laneTotal(accFirst[t], accSecond[t]) + summs[t]
                                     : laneTotal(accFirst[t], accSecond[t]);
    }
};

// The low and high nibbles of a block's 16 bytes: values 0..15 and 16..31.
inline void splitNibbles(const uint8_t* qs, uint8x16_t& lo, uint8x16_t& hi) {
    const uint8x16_t raw = vld1q_u8(qs);
    lo = vandq_u8(raw, vdupq_n_u8(0x0F));
    hi = vshrq_n_u8(raw, 4);
}

// The fifth bits of a Q5 block: bit j of qh is value j's, moved to bit 4 of lane j (lo: 0..15, hi: 16..31).
inline void fifthBits(const uint8_t* qh, uint8x16_t& lo, uint8x16_t& hi) {
    static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t select = vld1q_u8(kBit);
    // Byte k of qh, repeated over the 8 lanes its bits belong to.
    const uint8x16_t bytesLo = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    const uint8x16_t bytesHi = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    lo = vandq_u8(vtstq_u8(bytesLo, select), vdupq_n_u8(0x10));
    hi = vandq_u8(vtstq_u8(bytesHi, select), vdupq_n_u8(0x10));
}

// A 32-value block of nibbles (Q4_1), or of nibbles plus fifth bits (Q5_0, Q5_1), as int8 minus kOffset;
// kMin: the block has an F16 minimum `m` (the reference's summs term).
template <typename Block, int kOffset, bool kMin, bool kFifthBit>
struct UnpackNibbles {
    static constexpr bool kHasMin = kMin;
    static float block(const Block& blk, int8x16_t& lo, int8x16_t& hi) {
        uint8x16_t l;
        uint8x16_t h;
        splitNibbles(blk.qs, l, h);
        if constexpr (kFifthBit) {
            uint8x16_t bitsLo;
            uint8x16_t bitsHi;
            fifthBits(blk.qh, bitsLo, bitsHi);
            l = vorrq_u8(l, bitsLo);
            h = vorrq_u8(h, bitsHi);
        }
        const int8x16_t offset = vdupq_n_s8(kOffset);
        lo = vsubq_s8(vreinterpretq_s8_u8(l), offset);
        hi = vsubq_s8(vreinterpretq_s8_u8(h), offset);
        return halfToFloat(blk.d);
    }
};

// The reference's one chain per (row, token): acc = fma(float(block's integer dot), dw * dx, acc).
struct IQ4_NLDot {
    template <int NT>
    static void tile(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
        const auto* w = static_cast<const BlockIQ4_NL*>(weightRow);
        const int8x16_t table = vld1q_s8(kIQ4NLValues);
        const BlockQ8_0* xs[NT];
        float acc[NT];
        for (int t = 0; t < NT; ++t) {
            xs[t] = activationRow<BlockQ8_0>(x, xStride, t);
            acc[t] = 0.0f;
        }
        for (int64_t b = 0; b < n / kQK4_NL; ++b) {
            prefetchWeights(w + b);
            uint8x16_t l;
            uint8x16_t h;
            splitNibbles(w[b].qs, l, h);
            const int8x16_t wLo = vqtbl1q_s8(table, l);
            const int8x16_t wHi = vqtbl1q_s8(table, h);
            const float dw = halfToFloat(w[b].d);
            for (int t = 0; t < NT; ++t) {
                const int32_t isum = vaddvq_s32(blockProducts(wLo, wHi, xs[t][b].qs));
                acc[t] = std::fma(static_cast<float>(isum), dw * halfToFloat(xs[t][b].d), acc[t]);
            }
        }
        for (int t = 0; t < NT; ++t)
            out[t] = acc[t];
    }
};

// ---- K-quants and IQ4_XS x Q8_K ---------------------------------------------------------------------------
//
// Each 256-value super-block is read as eight groups of 32 values; group g multiplies activations
// 32g..32g+31 in every format here. Format::group<g>(block, lo, hi) gives group g's weights as int8 (lo =
// values 0..15, hi = 16..31), before any constant offset the reference folds in later (Q6_K's -32), and
// Format::prepare fills Prepared::scales[16] with the block's integer scales: lanes 0..3 of group g take
// scales[2g], lanes 4..7 scales[2g + 1] (the 16-value groups of Q2_K / Q3_K / Q6_K; Q4_K, Q5_K and IQ4_XS
// repeat one scale per group). The products go through laneSums (lane i = values 4i..4i+3 of the group, as
// the reference's lanes) and are scaled with integer multiply-adds, so each token's eight int32 lanes hold
// the reference's integer lane sums exactly (every |lane| stays far below 2^31 for any block bytes). Then
// Format::accumulate applies the reference's float steps for that format, in its order.

// One cache-line prefetch per 64 bytes of a weight block (K-quant blocks span 2-4 lines).
template <typename Block>
inline void prefetchBlock(const Block* block) {
    for (size_t line = 0; line < sizeof(Block); line += 64)
        prefetchWeights(reinterpret_cast<const char*>(block) + line);
}

// v >> S for S = 0..7 (the intrinsic takes 1..8 only).
template <int S>
inline uint8x16_t shiftRight(uint8x16_t v) {
    if constexpr (S == 0)
        return v;
    else
        return vshrq_n_u8(v, S);
}

// The reference's 8-lane integer pairs sum_{k<2} a[2i + k] * b[2i + k] (i = 0..7) for 16 int16 values a
// (e.g. a block's 16 scales or mins) and the 16 activation group sums b: lanes 0..3 in first, 4..7 in second.
inline void pairLanes(int16x8_t aLo, int16x8_t aHi, const int16_t* b, int32x4_t& first, int32x4_t& second) {
    const int16x8_t bLo = vld1q_s16(b);
    const int16x8_t bHi = vld1q_s16(b + 8);
    first = vpaddq_s32(vmull_s16(vget_low_s16(aLo), vget_low_s16(bLo)), vmull_high_s16(aLo, bLo));
    second = vpaddq_s32(vmull_s16(vget_low_s16(aHi), vget_low_s16(bHi)), vmull_high_s16(aHi, bHi));
}

// Q4_K / Q5_K's 6-bit scale and min of sub-block j (quant's scaleMinK4).
inline void scaleMinK4(int j, const uint8_t* q, int& scale, int& min) {
    if (j < 4) {
        scale = q[j] & 63;
        min = q[j + 4] & 63;
    } else {
        scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The 8 scales (each repeated for both halves of its group) and 8 mins of a Q4_K / Q5_K block.
inline void unpackScaleMinK4(const uint8_t* packed, int32_t (&scales)[16], int32x4_t (&mins)[2]) {
    int32_t m[8];
    for (int s = 0; s < 8; ++s) {
        int scale;
        scaleMinK4(s, packed, scale, m[s]);
        scales[2 * s] = scale;
        scales[2 * s + 1] = scale;
    }
    mins[0] = vld1q_s32(m);
    mins[1] = vld1q_s32(m + 4);
}

// sum_s mins[s] * (bsums[2s] + bsums[2s + 1]) (exact integers).
inline int32_t minSum(const int32x4_t (&mins)[2], const int16_t* bsums) {
    const int32x4_t pairs0 = vpaddlq_s16(vld1q_s16(bsums));
    const int32x4_t pairs1 = vpaddlq_s16(vld1q_s16(bsums + 8));
    return vaddvq_s32(vmlaq_s32(vmulq_s32(mins[0], pairs0), mins[1], pairs1));
}

// The reference's per-lane step acc[i] = fma(d, float(lane[i]), acc[i]) for both halves of the lanes.
inline void fmaLanes(float d, int32x4_t first, int32x4_t second, float32x4_t& accFirst,
                     float32x4_t& accSecond) {
    const float32x4_t dv = vdupq_n_f32(d);
    accFirst = vfmaq_f32(accFirst, vcvtq_f32_s32(first), dv);
    accSecond = vfmaq_f32(accSecond, vcvtq_f32_s32(second), dv);
}

// Per-token float state of the eight-lane formats (Q2_K, Q3_K, Q5_K, Q6_K, IQ4_XS).
struct LaneState {
    float32x4_t accFirst = vdupq_n_f32(0.0f);
    float32x4_t accSecond = vdupq_n_f32(0.0f);
    float summs = 0.0f; // Q5_K's minimum term
};

template <typename Format>
struct KQuantDot {
    template <int NT>
    static void tile(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
        using Block = typename Format::Block;
        const auto* w = static_cast<const Block*>(weightRow);
        const BlockQ8_K* xs[NT];
        typename Format::State state[NT];
        for (int t = 0; t < NT; ++t)
            xs[t] = activationRow<BlockQ8_K>(x, xStride, t);
        for (int64_t b = 0; b < n / kQKK; ++b) {
            prefetchBlock(w + b);
            typename Format::Prepared p;
            Format::prepare(w[b], p);
            int32x4_t first[NT];
            int32x4_t second[NT];
            for (int t = 0; t < NT; ++t) {
                first[t] = vdupq_n_s32(0);
                second[t] = vdupq_n_s32(0);
            }
            forEachGroup(w[b], p, xs, b, first, second, std::make_integer_sequence<int, 8>{});
            for (int t = 0; t < NT; ++t)
                Format::accumulate(w[b], p, xs[t][b], first[t], second[t], state[t]);
        }
        for (int t = 0; t < NT; ++t)
            out[t] = Format::result(state[t]);
    }

private:
    // The eight groups unrolled, so each group's shifts and offsets are constants.
    template <int NT, int... G>
    static void forEachGroup(const typename Format::Block& blk, const typename Format::Prepared& p,
                             const BlockQ8_K* (&xs)[NT], int64_t b, int32x4_t (&first)[NT],
                             int32x4_t (&second)[NT], std::integer_sequence<int, G...>) {
        (groupProducts<G>(blk, p, xs, b, first, second), ...);
    }

    template <int G, int NT>
    static void groupProducts(const typename Format::Block& blk, const typename Format::Prepared& p,
                              const BlockQ8_K* (&xs)[NT], int64_t b, int32x4_t (&first)[NT],
                              int32x4_t (&second)[NT]) {
        int8x16_t lo;
        int8x16_t hi;
        Format::template group<G>(blk, p, lo, hi);
        for (int t = 0; t < NT; ++t) {
            int32x4_t f;
            int32x4_t s;
            laneSums(lo, hi, xs[t][b].qs + 32 * G, f, s);
            first[t] = vmlaq_n_s32(first[t], f, p.scales[2 * G]);
            second[t] = vmlaq_n_s32(second[t], s, p.scales[2 * G + 1]);
        }
    }
};

// Q4_K (quant::dotQ4_K): one integer sum of scale * q * x and one of min * bsums per super-block, each
// accumulated into its own chain with one FMA (acc by d * dx, accMin by dmin * dx); the result is acc -
// accMin.
struct Q4_KFormat {
    using Block = BlockQ4_K;
    struct Prepared {
        int32_t scales[16];
        int32x4_t mins[2];
    };
    struct State {
        float acc = 0.0f;
        float accMin = 0.0f;
    };
    static void prepare(const Block& blk, Prepared& p) { unpackScaleMinK4(blk.scales, p.scales, p.mins); }
    // Sub-block G: the low (even G) or high (odd G) nibbles of bytes 32 * (G / 2) .. + 31.
    template <int G>
    static void group(const Block& blk, const Prepared&, int8x16_t& lo, int8x16_t& hi) {
        const uint8_t* q = blk.qs + 32 * (G / 2);
        const uint8x16_t mask = vdupq_n_u8(0x0F);
        lo = vreinterpretq_s8_u8(vandq_u8(shiftRight<4 * (G % 2)>(vld1q_u8(q)), mask));
        hi = vreinterpretq_s8_u8(vandq_u8(shiftRight<4 * (G % 2)>(vld1q_u8(q + 16)), mask));
    }
    static void accumulate(const Block& blk, const Prepared& p, const BlockQ8_K& xb, int32x4_t first,
                           int32x4_t second, State& s) {
        const int32_t sumScaled = vaddvq_s32(vaddq_s32(first, second));
        const int32_t sumMins = minSum(p.mins, xb.bsums);
        s.acc = std::fma(static_cast<float>(sumScaled), halfToFloat(blk.d) * xb.d, s.acc);
        s.accMin = std::fma(static_cast<float>(sumMins), halfToFloat(blk.dmin) * xb.d, s.accMin);
    }
    static float result(const State& s) { return s.acc - s.accMin; }
};

// Q5_K (quant::dotQ5_K): Q4_K's nibbles plus a fifth bit; eight lanes with one FMA each per block by
// d = dx * dw, and summs = fma(dmin, float(min sum), summs) with dmin = -dx * dwmin, added after hsum8.
struct Q5_KFormat {
    using Block = BlockQ5_K;
    using Prepared = Q4_KFormat::Prepared;
    using State = LaneState;
    static void prepare(const Block& blk, Prepared& p) { unpackScaleMinK4(blk.scales, p.scales, p.mins); }
    // Group G = 2j + h: nibble h of qs[32j + l] plus 16 * bit G of qh[l].
    template <int G>
    static void group(const Block& blk, const Prepared&, int8x16_t& lo, int8x16_t& hi) {
        const uint8_t* q = blk.qs + 32 * (G / 2);
        const uint8x16_t mask = vdupq_n_u8(0x0F);
        const uint8x16_t bit = vdupq_n_u8(static_cast<uint8_t>(1u << G));
        const uint8x16_t sixteen = vdupq_n_u8(0x10);
        const uint8x16_t nibLo = vandq_u8(shiftRight<4 * (G % 2)>(vld1q_u8(q)), mask);
        const uint8x16_t nibHi = vandq_u8(shiftRight<4 * (G % 2)>(vld1q_u8(q + 16)), mask);
        lo = vreinterpretq_s8_u8(vorrq_u8(nibLo, vandq_u8(vtstq_u8(vld1q_u8(blk.qh), bit), sixteen)));
        hi = vreinterpretq_s8_u8(vorrq_u8(nibHi, vandq_u8(vtstq_u8(vld1q_u8(blk.qh + 16), bit), sixteen)));
    }
    static void accumulate(const Block& blk, const Prepared& p, const BlockQ8_K& xb, int32x4_t first,
                           int32x4_t second, State& s) {
        const float d = xb.d * halfToFloat(blk.d);
        const float dmin = -xb.d * halfToFloat(blk.dmin);
        s.summs = std::fma(dmin, static_cast<float>(minSum(p.mins, xb.bsums)), s.summs);
        fmaLanes(d, first, second, s.accFirst, s.accSecond);
    }
    static float result(const State& s) { return laneTotal(s.accFirst, s.accSecond) + s.summs; }
};

// Q6_K (quant::dotQ6_K): the unsigned 6-bit values in the lanes, minus the -32 offset's share of lane i,
// 32 * (scale * block sum) of the 16-value groups 2i and 2i + 1; one FMA per lane and block by dx * dw.
struct Q6_KFormat {
    using Block = BlockQ6_K;
    struct Prepared {
        int32_t scales[16];
        int16x8_t scalesLo; // the same scales as int16, for the offset term
        int16x8_t scalesHi;
    };
    using State = LaneState;
    static void prepare(const Block& blk, Prepared& p) {
        for (int g = 0; g < 16; ++g)
            p.scales[g] = blk.scales[g];
        const int8x16_t sc = vld1q_s8(blk.scales);
        p.scalesLo = vmovl_s8(vget_low_s8(sc));
        p.scalesHi = vmovl_high_s8(sc);
    }
    // Group G = 4h + k: low bits from the low (k < 2) or high nibble of ql[64h + 32 * (k % 2) + l], bits
    // 4..5 from bits 2k..2k+1 of qh[32h + l].
    template <int G>
    static void group(const Block& blk, const Prepared&, int8x16_t& lo, int8x16_t& hi) {
        constexpr int kH = G / 4;
        constexpr int kK = G % 4;
        const uint8_t* ql = blk.ql + 64 * kH + 32 * (kK % 2);
        const uint8_t* qh = blk.qh + 32 * kH;
        const uint8x16_t mask = vdupq_n_u8(0x0F);
        const uint8x16_t highMask = vdupq_n_u8(0x30);
        const uint8x16_t lowLo = vandq_u8(shiftRight<4 * (kK / 2)>(vld1q_u8(ql)), mask);
        const uint8x16_t lowHi = vandq_u8(shiftRight<4 * (kK / 2)>(vld1q_u8(ql + 16)), mask);
        // Bits 2k..2k+1 moved to 4..5: a right shift by 2k - 4 (or left by 4 - 2k), then the mask.
        uint8x16_t highLo;
        uint8x16_t highHi;
        if constexpr (2 * kK >= 4) {
            highLo = shiftRight<2 * kK - 4>(vld1q_u8(qh));
            highHi = shiftRight<2 * kK - 4>(vld1q_u8(qh + 16));
        } else {
            highLo = vshlq_n_u8(vld1q_u8(qh), 4 - 2 * kK);
            highHi = vshlq_n_u8(vld1q_u8(qh + 16), 4 - 2 * kK);
        }
        lo = vreinterpretq_s8_u8(vorrq_u8(lowLo, vandq_u8(highLo, highMask)));
        hi = vreinterpretq_s8_u8(vorrq_u8(lowHi, vandq_u8(highHi, highMask)));
    }
    static void accumulate(const Block& blk, const Prepared& p, const BlockQ8_K& xb, int32x4_t first,
                           int32x4_t second, State& s) {
        int32x4_t offsetFirst;
        int32x4_t offsetSecond;
        pairLanes(p.scalesLo, p.scalesHi, xb.bsums, offsetFirst, offsetSecond);
        first = vsubq_s32(first, vshlq_n_s32(offsetFirst, 5));
        second = vsubq_s32(second, vshlq_n_s32(offsetSecond, 5));
        fmaLanes(xb.d * halfToFloat(blk.d), first, second, s.accFirst, s.accSecond);
    }
    static float result(const State& s) { return laneTotal(s.accFirst, s.accSecond); }
};

// The 2-bit field of 16-value group G = 4j + k shared by Q2_K and Q3_K: bits 2k..2k+1 of qs[32j + l]
// (lo: l = 0..15, hi: l = 16..31).
template <int G>
inline void twoBitGroup(const uint8_t* qs, uint8x16_t& lo, uint8x16_t& hi) {
    const uint8_t* q = qs + 32 * (G / 4);
    const uint8x16_t mask = vdupq_n_u8(3);
    lo = vandq_u8(shiftRight<2 * (G % 4)>(vld1q_u8(q)), mask);
    hi = vandq_u8(shiftRight<2 * (G % 4)>(vld1q_u8(q + 16)), mask);
}

// Q2_K (quant::dotQ2_K, llama.cpp's AVX2 order): per block first acc[i] = fma(dmin, float(min lane i),
// acc[i]) with dmin = -dx * dwmin and min lane i = the 4-bit mins times the sums of 16-value groups 2i and 2i
// + 1, then acc[i] = fma(d, float(lane i), acc[i]) with d = dx * dw.
struct Q2_KFormat {
    using Block = BlockQ2_K;
    struct Prepared {
        int32_t scales[16];
        int16x8_t minsLo;
        int16x8_t minsHi;
    };
    using State = LaneState;
    static void prepare(const Block& blk, Prepared& p) {
        for (int g = 0; g < 16; ++g)
            p.scales[g] = blk.scales[g] & 0xF;
        const uint8x16_t mins = vshrq_n_u8(vld1q_u8(blk.scales), 4);
        p.minsLo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
        p.minsHi = vreinterpretq_s16_u16(vmovl_high_u8(mins));
    }
    template <int G>
    static void group(const Block& blk, const Prepared&, int8x16_t& lo, int8x16_t& hi) {
        uint8x16_t fieldLo;
        uint8x16_t fieldHi;
        twoBitGroup<G>(blk.qs, fieldLo, fieldHi);
        lo = vreinterpretq_s8_u8(fieldLo);
        hi = vreinterpretq_s8_u8(fieldHi);
    }
    static void accumulate(const Block& blk, const Prepared& p, const BlockQ8_K& xb, int32x4_t first,
                           int32x4_t second, State& s) {
        const float d = xb.d * halfToFloat(blk.d);
        const float dmin = -xb.d * halfToFloat(blk.dmin);
        int32x4_t minFirst;
        int32x4_t minSecond;
        pairLanes(p.minsLo, p.minsHi, xb.bsums, minFirst, minSecond);
        fmaLanes(dmin, minFirst, minSecond, s.accFirst, s.accSecond);
        fmaLanes(d, first, second, s.accFirst, s.accSecond);
    }
    static float result(const State& s) { return laneTotal(s.accFirst, s.accSecond); }
};

// Q3_K (quant::dotQ3_K): signed 6-bit scales per 16 values, values (low 2 bits) - 4 unless the hmask bit is
// set; one FMA per lane and block by dx * dw.
struct Q3_KFormat {
    using Block = BlockQ3_K;
    struct Prepared {
        int32_t scales[16];
    };
    using State = LaneState;
    static void prepare(const Block& blk, Prepared& p) {
        for (int s = 0; s < 16; ++s) {
            const int low = s < 8 ? (blk.scales[s] & 0xF) : (blk.scales[s - 8] >> 4);
            const int high = (blk.scales[8 + s % 4] >> (2 * (s / 4))) & 3;
            p.scales[s] = (low | (high << 4)) - 32;
        }
    }
    // Group G: its 2-bit field, plus 4 where bit G of hmask[l] is set, minus 4.
    template <int G>
    static void group(const Block& blk, const Prepared&, int8x16_t& lo, int8x16_t& hi) {
        const uint8x16_t bit = vdupq_n_u8(static_cast<uint8_t>(1u << G));
        const uint8x16_t four = vdupq_n_u8(4);
        uint8x16_t lowLo;
        uint8x16_t lowHi;
        twoBitGroup<G>(blk.qs, lowLo, lowHi);
        const uint8x16_t valueLo = vorrq_u8(lowLo, vandq_u8(vtstq_u8(vld1q_u8(blk.hmask), bit), four));
        const uint8x16_t valueHi = vorrq_u8(lowHi, vandq_u8(vtstq_u8(vld1q_u8(blk.hmask + 16), bit), four));
        lo = vsubq_s8(vreinterpretq_s8_u8(valueLo), vdupq_n_s8(4));
        hi = vsubq_s8(vreinterpretq_s8_u8(valueHi), vdupq_n_s8(4));
    }
    static void accumulate(const Block& blk, const Prepared&, const BlockQ8_K& xb, int32x4_t first,
                           int32x4_t second, State& s) {
        fmaLanes(xb.d * halfToFloat(blk.d), first, second, s.accFirst, s.accSecond);
    }
    static float result(const State& s) { return laneTotal(s.accFirst, s.accSecond); }
};

// IQ4_XS (quant::dotIQ4_XS): the non-linear table's values, a signed 6-bit scale per 32; one FMA per lane and
// block by dw * dx.
struct IQ4_XSFormat {
    using Block = BlockIQ4_XS;
    struct Prepared {
        int32_t scales[16];
        int8x16_t table;
    };
    using State = LaneState;
    static void prepare(const Block& blk, Prepared& p) {
        for (int ib = 0; ib < 8; ++ib) {
            const int low = (blk.scalesLow[ib / 2] >> (4 * (ib % 2))) & 0xF;
            const int high = (blk.scalesHigh >> (2 * ib)) & 3;
            p.scales[2 * ib] = (low | (high << 4)) - 32;
            p.scales[2 * ib + 1] = p.scales[2 * ib];
        }
        p.table = vld1q_s8(kIQ4NLValues);
    }
    // Group G: the low nibbles of qs[16G .. 16G + 15] are values 0..15, the high nibbles 16..31.
    template <int G>
    static void group(const Block& blk, const Prepared& p, int8x16_t& lo, int8x16_t& hi) {
        uint8x16_t l;
        uint8x16_t h;
        splitNibbles(blk.qs + 16 * G, l, h);
        lo = vqtbl1q_s8(p.table, l);
        hi = vqtbl1q_s8(p.table, h);
    }
    static void accumulate(const Block& blk, const Prepared&, const BlockQ8_K& xb, int32x4_t first,
                           int32x4_t second, State& s) {
        fmaLanes(halfToFloat(blk.d) * xb.d, first, second, s.accFirst, s.accSecond);
    }
    static float result(const State& s) { return laneTotal(s.accFirst, s.accSecond); }
};

// ---- activation converters --------------------------------------------------------------------------------

void toF16Neon(const float* x, void* out, int64_t n) {
    auto* y = static_cast<f16_bits*>(out);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
        vst1q_u16(y + i, vreinterpretq_u16_f16(h));
    }
    for (; i < n; ++i)
        y[i] = quant::fp32ToFp16(x[i]);
}

// quant::fp32ToBf16 in integer lanes: a NaN keeps its top 16 bits with the quiet bit (64) set; anything else
// rounds to nearest, ties to even, by adding 0x7FFF plus the kept part's lowest bit (infinities stay put).
inline uint16x4_t toBF16x4(float32x4_t v) {
    const uint32x4_t bits = vreinterpretq_u32_f32(v);
    const uint32x4_t isNaN = vcgtq_u32(vandq_u32(bits, vdupq_n_u32(0x7FFFFFFFu)), vdupq_n_u32(0x7F800000u));
    const uint32x4_t nan = vorrq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(64u));
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(1u));
    const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(bits, vaddq_u32(vdupq_n_u32(0x7FFFu), odd)), 16);
    return vmovn_u32(vbslq_u32(isNaN, nan, rounded));
}

void toBF16Neon(const float* x, void* out, int64_t n) {
    auto* y = static_cast<bf16_bits*>(out);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        vst1q_u16(y + i, vcombine_u16(toBF16x4(vld1q_f32(x + i)), toBF16x4(vld1q_f32(x + i + 4))));
    for (; i < n; ++i)
        y[i] = quant::fp32ToBf16(x[i]);
}

// The reference's per-block steps: amax by max(amax, |x|) from 0 (max is exact, so the order is free;
// vmaxnm like std::max keeps the number when one side is a quiet NaN), d = amax / 127 and id = 127 / amax as
// scalars (llama.cpp's x86 formula, which the reference follows so every table quantises alike), then q =
// (int8)round-to-nearest-even(x * id). FCVTNS rounds ties to even like nearbyint in the default rounding
// mode, and the quotient never leaves the int8 range.
// One 32-value block: writes the quants to qs and returns d (as a float, before its F16 rounding).
inline float quantizeBlock32(const float* xb, int8_t* qs) {
    float32x4_t v[8];
    float32x4_t maxAbs[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int k = 0; k < 8; ++k) {
        v[k] = vld1q_f32(xb + 4 * k);
        maxAbs[k & 1] = vmaxnmq_f32(maxAbs[k & 1], vabsq_f32(v[k]));
    }
    const float amax = vmaxnmvq_f32(vmaxnmq_f32(maxAbs[0], maxAbs[1]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int half = 0; half < 2; ++half) {
        int16x8_t q16[2];
        for (int k = 0; k < 2; ++k) {
            const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[4 * half + 2 * k], id));
            const int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(v[4 * half + 2 * k + 1], id));
            q16[k] = vcombine_s16(vmovn_s32(a), vmovn_s32(c));
        }
        vst1q_s8(qs + 16 * half, vcombine_s8(vmovn_s16(q16[0]), vmovn_s16(q16[1])));
    }
    return d;
}

void quantizeQ8_0Neon(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(out);
    for (int64_t b = 0; b < n / kQK8_0; ++b)
        y[b].d = quant::fp32ToFp16(quantizeBlock32(x + b * kQK8_0, y[b].qs));
}

// quant::quantizeRowQ8_1: Q8_0's quants and scale, plus s = F16(d * float(sum of the quants)).
void quantizeQ8_1Neon(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_1*>(out);
    for (int64_t b = 0; b < n / kQK8_1; ++b) {
        const float d = quantizeBlock32(x + b * kQK8_1, y[b].qs);
        y[b].d = quant::fp32ToFp16(d);
        const int sum = vaddlvq_s8(vld1q_s8(y[b].qs)) + vaddlvq_s8(vld1q_s8(y[b].qs + 16));
        y[b].s = quant::fp32ToFp16(d * static_cast<float>(sum));
    }
}

// quant::quantizeRowQ8_K: amax = the largest |x| (max is exact, so the order is free) and the first value of
// that magnitude, whose sign sets iscale = -127 / signedMax; q = min(127, round-to-nearest-even(iscale * x))
// (FCVTNS, as nearbyint in the default rounding mode), bsums = sums of 16 quants, d = 1 / iscale. A block
// whose largest magnitude is 0 is all zeros. Only finite inputs are promised the reference's bits: for a NaN
// or an infinity (or a block so small that iscale overflows) the reference converts a NaN or infinity to int,
// which C++ leaves undefined.
void quantizeQ8_KNeon(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(out);
    for (int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        float32x4_t maxAbs[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
        for (int k = 0; k < kQKK / 4; ++k)
            maxAbs[k % 4] = vmaxnmq_f32(maxAbs[k % 4], vabsq_f32(vld1q_f32(xb + 4 * k)));
        const float amax =
            vmaxnmvq_f32(vmaxnmq_f32(vmaxnmq_f32(maxAbs[0], maxAbs[1]), vmaxnmq_f32(maxAbs[2], maxAbs[3])));
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float signedMax = amax;
        const float32x4_t amaxV = vdupq_n_f32(amax);
        for (int k = 0; k < kQKK / 4; ++k) {
            if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(xb + 4 * k)), amaxV)) != 0) {
                int j = 4 * k;
                while (std::fabs(xb[j]) != amax)
                    ++j;
                signedMax = xb[j];
                break;
            }
        }
        const float iscale = -127.0f / signedMax;
        const int32x4_t limit = vdupq_n_s32(127);
        for (int g = 0; g < kQKK / 16; ++g) {
            int32x4_t q[4];
            for (int k = 0; k < 4; ++k)
                q[k] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xb + 16 * g + 4 * k), iscale)), limit);
            // Every q is in -127..127 here, so the narrowing moves are exact.
            const int16x8_t lo = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            const int16x8_t hi = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            const int8x16_t bytes = vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
            vst1q_s8(y[b].qs + 16 * g, bytes);
            y[b].bsums[g] = vaddlvq_s8(bytes);
        }
        y[b].d = 1.0f / iscale;
    }
}

// ---- attention helpers (F16 KV cache) ---------------------------------------------------------------------

// sum_i a[i] * float(b[i]): a float dot product, compared with the reference within rounding of the sum.
float dotF32F16Neon(const float* a, const f16_bits* b, int64_t n) {
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 4; ++k)
            acc[k] = vfmaq_f32(acc[k], vld1q_f32(a + i + 4 * k), loadHalf4(b + i + 4 * k));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; ++i)
        sum += a[i] * halfToFloat(b[i]);
    return sum;
}

// acc[i] = roundF16(acc[i] + float(v[i]) * weight): multiply, add, round, as in the reference (no FMA).
void accumulateF16Neon(float* acc, const f16_bits* v, float weight, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t product = vmulq_n_f32(loadHalf4(v + i), weight);
        vst1q_f32(acc + i, roundToHalf4(vaddq_f32(vld1q_f32(acc + i), product)));
    }
    for (; i < n; ++i)
        acc[i] = roundToHalf(acc[i] + halfToFloat(v[i]) * weight);
}

void scaleF16Neon(float* acc, float factor, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(acc + i, roundToHalf4(vmulq_n_f32(vld1q_f32(acc + i), factor)));
    for (; i < n; ++i)
        acc[i] = roundToHalf(acc[i] * factor);
}

void roundF16Neon(const float* x, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, roundToHalf4(vld1q_f32(x + i)));
    for (; i < n; ++i)
        out[i] = roundToHalf(x[i]);
}

KernelTable makeNeonTable() {
    // Every dot product and activation quantiser has a NEON version. What stays the scalar table's: SwiGLU
    // and dotF32Ggml (null there: cpu::swiGlu's libm loop and dotF32; llama.cpp's ARM exp and F32 order are
    // not its x86 ones, which the AVX-512 table copies), and no tiled GEMMs, so every matmul runs the dot
    // products. BatchRounding::LlamaCpp (the product's rounding) keeps the decode rounding for Q4_K batches
    // here (llamaQ4KGemmGroups off): the x86 builds' groups of 4 tokens would go through the scalar
    // quant::dotQ4_KGemm in every prompt, and no llama.cpp ARM build's outputs are stored to follow.
    KernelTable t = scalarKernels();
    t.name = "neon";
    t.llamaQ4KGemmGroups = false;
    t.dotF32 = &dotTiled<FloatDot<F32Values>>;
    t.dotF16 = &dotTiled<FloatDot<F16Values>>;
    t.dotBF16 = &dotTiled<FloatDot<BF16Values>>;
    t.dotQ8_0 = &dotTiled<QuantDot<BlockQ8_0, UnpackQ8_0>>;
    t.dotQ4_0 = &dotTiled<QuantDot<BlockQ4_0, UnpackQ4_0>>;
    t.dotQ4_1 = &dotTiled<LaneDot<BlockQ4_1, BlockQ8_1, UnpackNibbles<BlockQ4_1, 0, true, false>>>;
    t.dotQ5_0 = &dotTiled<LaneDot<BlockQ5_0, BlockQ8_0, UnpackNibbles<BlockQ5_0, 16, false, true>>>;
    t.dotQ5_1 = &dotTiled<LaneDot<BlockQ5_1, BlockQ8_1, UnpackNibbles<BlockQ5_1, 0, true, true>>>;
    t.dotIQ4_NL = &dotTiled<IQ4_NLDot>;
    t.dotQ2_K = &dotTiled<KQuantDot<Q2_KFormat>>;
    t.dotQ3_K = &dotTiled<KQuantDot<Q3_KFormat>>;
    t.dotQ4_K = &dotTiled<KQuantDot<Q4_KFormat>>;
    t.dotQ5_K = &dotTiled<KQuantDot<Q5_KFormat>>;
    t.dotQ6_K = &dotTiled<KQuantDot<Q6_KFormat>>;
    t.dotIQ4_XS = &dotTiled<KQuantDot<IQ4_XSFormat>>;
    t.toF16 = &toF16Neon;
    t.toBF16 = &toBF16Neon;
    t.quantizeQ8_0 = &quantizeQ8_0Neon;
    t.quantizeQ8_K = &quantizeQ8_KNeon;
    t.quantizeQ8_1 = &quantizeQ8_1Neon;
    t.dotF32F16 = &dotF32F16Neon;
    t.accumulateF16 = &accumulateF16Neon;
    t.scaleF16 = &scaleF16Neon;
    t.roundF16 = &roundF16Neon;
    return t;
}

} // namespace

const KernelTable* neonKernels() {
    static const KernelTable table = makeNeonTable();
    return &table;
}

} // namespace declai::cpu

#endif // __aarch64__
