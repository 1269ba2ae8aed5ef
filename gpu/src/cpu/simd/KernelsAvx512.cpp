// AVX-512 kernel table (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c
// -ffp-contract=off): the AVX2 kernels of KernelsAvx2.inc (dot products with 256-bit VNNI, quantisers,
// attention pieces) plus register-tiled GEMM kernels for F16, Q8_0, Q4_0, Q4_K and Q6_K weights.
//
// Each GEMM kernel computes a tile of up to kTileRows weight rows x kTileTokens activation rows: every
// weight block is loaded and unpacked once per tile and reused for all its tokens, every activation block
// once and reused for all its rows. The arithmetic of one (row, token) pair is the same sequence of
// operations whatever the tile shape, so decode (1 token) and prefill (n tokens) give identical floats.
//  - Q8_0 / Q4_0: activations prepared as unsigned bytes (q + 128) plus float scales, so one vpdpbusd per
//    64 values and token does the integer dot (minus 128 * sum(w), computed once per weight block); per
//    pair of blocks the 16 int32 lanes are scaled by dw * dx and accumulated in float lanes.
//  - Q4_K / Q6_K: per-block integer sums via vpmaddubsw + vpdpwssd (scales applied as int16), Q6_K's -32
//    offset through the activation's block sums; the per-block float steps are the scalar reference's.
//  - F16: activations prepared as float (rounded through F16 as the reference does), FMA on 16 lanes.
// GCC 12's AVX-512 headers build some intrinsics (extract, insert, permutexvar, the reductions) on an
// _mm512_undefined_* value, which -Wmaybe-uninitialized reports at every inlined use; the value is a
// deliberate "don't care", so the warning is off for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#define DECLAI_KERNELS_VNNI512 1
#define DECLAI_KERNEL_TABLE_NAME "avx512"
#define DECLAI_KERNEL_TABLE_FN avx512BaseKernelTable
#include "KernelsAvx2.inc"

namespace declai::cpu {
namespace {

constexpr int kTileRows = 4;
constexpr int kTileTokens = 4;
// Q8_0 / Q4_0 keep three registers per weight row live (values, correction, scales): 4 x 3 fits in 32.
constexpr int kQ8TileTokens = 3;
constexpr int kKTileRows = 2;
constexpr int kKTileTokens = 4;
// Formats whose GEMM equals the table's dot product bit for bit (Q8_0: same lanes and reduction; K-quants:
// both equal the scalar reference) use the dot product below this many tokens, where it is faster.
constexpr int kDecodeByDot = 4;

inline int64_t roundUp(int64_t v, int64_t m) {
    return (v + m - 1) / m * m;
}

// Broadcasts float lane 0 to lanes 0-7 and lane 1 to lanes 8-15.
inline __m512 splitHalves(__m128 two) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(two));
}

// Reduces a (16 int32 lanes) and m (8 int32 lanes) to their two sums with shared shuffles.
inline void reducePair(__m512i a, __m256i m, int& aSum, int& mSum) {
    const __m256i a8 = _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
    __m256i h = _mm256_hadd_epi32(a8, m);
    h = _mm256_hadd_epi32(h, h);
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    aSum = _mm_cvtsi128_si32(s);
    mSum = _mm_extract_epi32(s, 1);
}

// ---- Q8_0 / Q4_0 ------------------------------------------------------------------------------------------

// Prepared activation row: n unsigned bytes (q + 128) padded with zeros to a multiple of 64, then the
// n / 32 block scales as floats, padded with zeros to a multiple of 64 bytes.
size_t q8PreparedBytes(int64_t n) {
    return static_cast<size_t>(roundUp(n, 64) + roundUp(n / kQK8_0 * 4, 64));
}

void prepareQ8(const float* x, void* out, int64_t n) {
    auto* qs = static_cast<uint8_t*>(out);
    const int64_t nb = n / kQK8_0;
    uint8_t* scales = qs + roundUp(n, 64);
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int64_t b = 0; b < nb; ++b) {
        BlockQ8_0 block;
        quantizeQ8_0Avx2(x + b * kQK8_0, &block, kQK8_0);
        const float d = halfToFloat(block.d);
        std::memcpy(scales + 4 * b, &d, sizeof d);
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * b), _mm256_xor_si256(q, flip));
    }
    std::memset(qs + nb * kQK8_0, 0, static_cast<size_t>(roundUp(n, 64) - nb * kQK8_0));
    std::memset(scales + 4 * nb, 0, static_cast<size_t>(roundUp(nb * 4, 64) - nb * 4));
}

// Signed weights of blocks 2p and 2p+1 (the second zero when `half`) in one register, and their two scales.
struct Q8_0Weights {
    static __m512i load(const std::byte* row, int64_t p, bool half, __m128& scales) {
        const auto* w = reinterpret_cast<const BlockQ8_0*>(row) + 2 * p;
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[0].qs));
        uint32_t bits = w[0].d;
        __m512i v;
        if (half) {
            v = _mm512_zextsi256_si512(lo);
        } else {
            v = _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[1].qs)), 1);
            bits |= static_cast<uint32_t>(w[1].d) << 16;
        }
        scales = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
        return v;
    }
    static const char* address(const std::byte* row, int64_t p) {
        return reinterpret_cast<const char*>(reinterpret_cast<const BlockQ8_0*>(row) + 2 * p);
    }
};

struct Q4_0Weights {
    static __m512i load(const std::byte* row, int64_t p, bool half, __m128& scales) {
        const auto* w = reinterpret_cast<const BlockQ4_0*>(row) + 2 * p;
        const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[0].qs));
        uint32_t bits = w[0].d;
        __m128i b1 = _mm_setzero_si128();
        if (!half) {
            b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[1].qs));
            bits |= static_cast<uint32_t>(w[1].d) << 16;
        }
        const __m256i both = _mm256_set_m128i(b1, b0);
        // [b0, b1, b0 >> 4, b1 >> 4] -> [b0, b0 >> 4, b1, b1 >> 4]: values 0..31 of each block in order.
        __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(both), _mm256_srli_epi16(both, 4), 1);
        v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
        v = _mm512_sub_epi8(_mm512_and_si512(v, _mm512_set1_epi8(0x0F)), _mm512_set1_epi8(8));
        if (half)
            v = _mm512_maskz_mov_epi64(0x0F, v);
        scales = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
        return v;
    }
    static const char* address(const std::byte* row, int64_t p) {
        return reinterpret_cast<const char*>(reinterpret_cast<const BlockQ4_0*>(row) + 2 * p);
    }
};

#define DECLAI_INLINE inline __attribute__((always_inline))

// One pair of blocks (p) for every (row, token) of the tile; `Half` for a last, single block.
template <typename W, int R, int T, bool Half>
DECLAI_INLINE void stepQ8(const std::byte* w, size_t wStride, const uint8_t* const (&xq)[T],
                          const float* const (&xd)[T], int64_t p, __m512 (&acc)[R][T]) {
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512i wv[R];
    __m512i negCorr[R];
    __m512 dw[R];
    for (int r = 0; r < R; ++r) {
        const std::byte* row = w + static_cast<size_t>(r) * wStride;
        if (!Half)
            _mm_prefetch(W::address(row, p) + 768, _MM_HINT_T0);
        __m128 s;
        wv[r] = W::load(row, p, Half, s);
        dw[r] = splitHalves(s);
        // The activations carry +128: subtract 128 * (sum of each 4 weights) once per weight block.
        negCorr[r] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                      _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, wv[r]));
    }
    for (int t = 0; t < T; ++t) {
        const __m512i xv = _mm512_loadu_si512(xq[t] + 64 * p);
        const __m512 dx =
            splitHalves(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(xd[t] + 2 * p))));
        for (int r = 0; r < R; ++r) {
            const __m512i isum = _mm512_dpbusd_epi32(negCorr[r], xv, wv[r]);
            const __m512 prod = _mm512_cvtepi32_ps(isum);
            const __m512 scale = _mm512_mul_ps(dw[r], dx);
            // A single last block only touches the even lanes (as the AVX2 dot only touches its even sum).
            acc[r][t] = Half ? _mm512_mask3_fmadd_ps(prod, scale, acc[r][t], static_cast<__mmask16>(0x00FF))
                             : _mm512_fmadd_ps(prod, scale, acc[r][t]);
        }
    }
}

template <typename W, int R, int T>
void tileQ8(const std::byte* w, size_t wStride, const std::byte* x, size_t xStride, int64_t n, float* y,
            int64_t yStride) {
    const int64_t nb = n / kQK8_0;
    const uint8_t* xq[T];
    const float* xd[T];
    for (int t = 0; t < T; ++t) {
        xq[t] = reinterpret_cast<const uint8_t*>(x + static_cast<size_t>(t) * xStride);
        xd[t] = reinterpret_cast<const float*>(xq[t] + roundUp(n, 64));
    }
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            acc[r][t] = _mm512_setzero_ps();
    for (int64_t p = 0; p < nb / 2; ++p)
        stepQ8<W, R, T, false>(w, wStride, xq, xd, p, acc);
    if (nb & 1)
        stepQ8<W, R, T, true>(w, wStride, xq, xd, nb / 2, acc);
    // Lanes 0-7 hold the even blocks and 8-15 the odd ones, exactly the AVX2 dot's two accumulators, and
    // they are summed the same way, so this equals the table's dotQ8_0 / dotQ4_0 bit for bit.
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            y[t * yStride + r] =
                hsum(_mm256_add_ps(_mm512_castps512_ps256(acc[r][t]),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][t]), 1))));
}

template <int R, int T>
struct Q8_0Tile {
    static void run(const std::byte* w, size_t ws, const std::byte* x, size_t xs, int64_t n, float* y,
                    int64_t ys) {
        tileQ8<Q8_0Weights, R, T>(w, ws, x, xs, n, y, ys);
    }
};
template <int R, int T>
struct Q4_0Tile {
    static void run(const std::byte* w, size_t ws, const std::byte* x, size_t xs, int64_t n, float* y,
                    int64_t ys) {
        tileQ8<Q4_0Weights, R, T>(w, ws, x, xs, n, y, ys);
    }
};

// ---- F16 -------------------------------------------------------------------------------------------------

// Prepared activation row: the values rounded to F16 and back, as floats, zero padded to 16.
size_t f16PreparedBytes(int64_t n) {
    return static_cast<size_t>(roundUp(n, 16)) * sizeof(float);
}

void prepareF16(const float* x, void* out, int64_t n) {
    auto* y = static_cast<float*>(out);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; ++i)
        y[i] = halfToFloat(quant::fp32ToFp16(x[i]));
    for (; i < roundUp(n, 16); ++i)
        y[i] = 0.0f;
}

template <int R, int T, bool Full>
DECLAI_INLINE void stepF16(const f16_bits* const (&wr)[R], const float* const (&xr)[T], int64_t i,
                           __mmask16 mask, __m512 (&acc)[R][T]) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) {
        if (Full) {
            _mm_prefetch(reinterpret_cast<const char*>(wr[r] + i) + 1024, _MM_HINT_T0);
            wv[r] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r] + i)));
        } else {
            wv[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, wr[r] + i));
        }
    }
    for (int t = 0; t < T; ++t) {
        const __m512 xv = _mm512_loadu_ps(xr[t] + i);
        for (int r = 0; r < R; ++r)
            acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
}

template <int R, int T>
void tileF16(const std::byte* w, size_t wStride, const std::byte* x, size_t xStride, int64_t n, float* y,
             int64_t yStride) {
    const f16_bits* wr[R];
    const float* xr[T];
    for (int r = 0; r < R; ++r)
        wr[r] = reinterpret_cast<const f16_bits*>(w + static_cast<size_t>(r) * wStride);
    for (int t = 0; t < T; ++t)
        xr[t] = reinterpret_cast<const float*>(x + static_cast<size_t>(t) * xStride);
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        stepF16<R, T, true>(wr, xr, i, 0xFFFF, acc);
    if (i < n) // the tail: weights masked, activations zero padded
        stepF16<R, T, false>(wr, xr, i, static_cast<__mmask16>((1u << (n - i)) - 1u), acc);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            y[t * yStride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <int R, int T>
struct F16Tile {
    static void run(const std::byte* w, size_t ws, const std::byte* x, size_t xs, int64_t n, float* y,
                    int64_t ys) {
        tileF16<R, T>(w, ws, x, xs, n, y, ys);
    }
};

// ---- Q4_K / Q6_K (Q8_K activations, used as they are) ----------------------------------------------------

size_t q8KPreparedBytes(int64_t n) {
    return static_cast<size_t>(n / kQKK) * sizeof(BlockQ8_K);
}

// int16 lane i of the result is lane (i / 16) of `pairBase` + base: [s[base] x16, s[base+1] x16].
inline __m512i q4kScaleIndex(int c) {
    return _mm512_mask_blend_epi16(static_cast<__mmask32>(0xFFFF0000u),
                                   _mm512_set1_epi16(static_cast<short>(2 * c)),
                                   _mm512_set1_epi16(static_cast<short>(2 * c + 1)));
}

template <int R, int T>
void tileQ4_K(const std::byte* w, size_t wStride, const std::byte* x, size_t xStride, int64_t n, float* y,
              int64_t yStride) {
    const BlockQ4_K* wr[R];
    const BlockQ8_K* xr[T];
    for (int r = 0; r < R; ++r)
        wr[r] = reinterpret_cast<const BlockQ4_K*>(w + static_cast<size_t>(r) * wStride);
    for (int t = 0; t < T; ++t)
        xr[t] = reinterpret_cast<const BlockQ8_K*>(x + static_cast<size_t>(t) * xStride);
    float sums[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            sums[r][t] = 0.0f;
    const __m256i lowMask = _mm256_set1_epi8(0x0F);
    const int64_t blocks = n / kQKK;
    for (int64_t b = 0; b < blocks; ++b) {
        __m512i scales16[R];
        __m256i minsDup[R];
        for (int r = 0; r < R; ++r) {
            const char* base = reinterpret_cast<const char*>(wr[r] + b);
            _mm_prefetch(base + 1024, _MM_HINT_T0);
            _mm_prefetch(base + 1024 + 64, _MM_HINT_T0);
            _mm_prefetch(base + 1024 + 128, _MM_HINT_T0);
            uint8_t scales[8];
            uint8_t mins[8];
            unpackQ4KScales(wr[r][b].scales, scales, mins);
            uint64_t s64;
            uint64_t m64;
            std::memcpy(&s64, scales, 8);
            std::memcpy(&m64, mins, 8);
            scales16[r] =
                _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(s64))));
            const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(m64));
            minsDup[r] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
        }
        __m512i acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t)
                acc[r][t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
            __m512i q[R];
            __m512i sc[R];
            const __m512i idx = q4kScaleIndex(c);
            for (int r = 0; r < R; ++r) {
                const __m256i raw =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r][b].qs + 32 * c));
                q[r] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(raw, lowMask)),
                                          _mm256_and_si256(_mm256_srli_epi16(raw, 4), lowMask), 1);
                sc[r] = _mm512_permutexvar_epi16(idx, scales16[r]);
            }
            for (int t = 0; t < T; ++t) {
                const __m512i xv = _mm512_loadu_si512(xr[t][b].qs + 64 * c);
                for (int r = 0; r < R; ++r)
                    acc[r][t] = _mm512_dpwssd_epi32(acc[r][t], _mm512_maddubs_epi16(q[r], xv), sc[r]);
            }
        }
        for (int t = 0; t < T; ++t) {
            const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][b].bsums));
            const float xd = xr[t][b].d;
            for (int r = 0; r < R; ++r) {
                int sumScaled = 0;
                int sumMins = 0;
                reducePair(acc[r][t], _mm256_madd_epi16(bsums, minsDup[r]), sumScaled, sumMins);
                const float d = halfToFloat(wr[r][b].d) * xd;
                const float dmin = halfToFloat(wr[r][b].dmin) * xd;
                sums[r][t] += d * static_cast<float>(sumScaled) - dmin * static_cast<float>(sumMins);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            y[t * yStride + r] = sums[r][t];
}

// int16 lane i of the result is lane 4 * part + i / 8 of the block's 16 scales.
inline __m512i q6kScaleIndex(int part) {
    alignas(64) short idx[32];
    for (int i = 0; i < 32; ++i)
        idx[i] = static_cast<short>(4 * part + i / 8);
    return _mm512_load_si512(idx);
}

template <int R, int T>
void tileQ6_K(const std::byte* w, size_t wStride, const std::byte* x, size_t xStride, int64_t n, float* y,
              int64_t yStride) {
    const BlockQ6_K* wr[R];
    const BlockQ8_K* xr[T];
    for (int r = 0; r < R; ++r)
        wr[r] = reinterpret_cast<const BlockQ6_K*>(w + static_cast<size_t>(r) * wStride);
    for (int t = 0; t < T; ++t)
        xr[t] = reinterpret_cast<const BlockQ8_K*>(x + static_cast<size_t>(t) * xStride);
    float sums[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            sums[r][t] = 0.0f;
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i bits01 = _mm512_set1_epi8(0x03);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    __m512i scaleIdx[4];
    for (int part = 0; part < 4; ++part)
        scaleIdx[part] = q6kScaleIndex(part);
    const int64_t blocks = n / kQKK;
    for (int64_t b = 0; b < blocks; ++b) {
        __m256i scales16[R];
        for (int r = 0; r < R; ++r) {
            const char* base = reinterpret_cast<const char*>(wr[r] + b);
            for (int line = 0; line < static_cast<int>(sizeof(BlockQ6_K)); line += 64)
                _mm_prefetch(base + 1024 + line, _MM_HINT_T0);
            scales16[r] =
                _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[r][b].scales)));
        }
        __m512i acc[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t)
                acc[r][t] = _mm512_setzero_si512();
        for (int part = 0; part < 4; ++part) {
            const int h = part >> 1;
            __m512i q[R];
            __m512i sc[R];
            for (int r = 0; r < R; ++r) {
                // L = 64 low-bit bytes of this half, H = [qh, qh >> 2]: parts 0/1 take the low / high
                // nibbles.
                const __m512i l = _mm512_loadu_si512(wr[r][b].ql + 64 * h);
                const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r][b].qh + 32 * h));
                const __m512i hb =
                    _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                if (part & 1)
                    q[r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), lowMask),
                                           _mm512_and_si512(hb, bits45));
                else
                    q[r] = _mm512_or_si512(_mm512_and_si512(l, lowMask),
                                           _mm512_slli_epi16(_mm512_and_si512(hb, bits01), 4));
                sc[r] = _mm512_permutexvar_epi16(scaleIdx[part], _mm512_castsi256_si512(scales16[r]));
            }
            for (int t = 0; t < T; ++t) {
                const __m512i xv = _mm512_loadu_si512(xr[t][b].qs + 64 * part);
                for (int r = 0; r < R; ++r)
                    acc[r][t] = _mm512_dpwssd_epi32(acc[r][t], _mm512_maddubs_epi16(q[r], xv), sc[r]);
            }
        }
        for (int t = 0; t < T; ++t) {
            const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][b].bsums));
            const float xd = xr[t][b].d;
            for (int r = 0; r < R; ++r) {
                // The weights are stored + 32: subtract 32 * sum over groups of scale * (sum of x in group).
                int sumQ = 0;
                int sumOffset = 0;
                reducePair(acc[r][t], _mm256_madd_epi16(scales16[r], bsums), sumQ, sumOffset);
                const int isum = sumQ - 32 * sumOffset;
                sums[r][t] += halfToFloat(wr[r][b].d) * xd * static_cast<float>(isum);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t)
            y[t * yStride + r] = sums[r][t];
}

template <int R, int T>
struct Q4_KTile {
    static void run(const std::byte* w, size_t ws, const std::byte* x, size_t xs, int64_t n, float* y,
                    int64_t ys) {
        tileQ4_K<R, T>(w, ws, x, xs, n, y, ys);
    }
};
template <int R, int T>
struct Q6_KTile {
    static void run(const std::byte* w, size_t ws, const std::byte* x, size_t xs, int64_t n, float* y,
                    int64_t ys) {
        tileQ6_K<R, T>(w, ws, x, xs, n, y, ys);
    }
};

// ---- tiling driver ----------------------------------------------------------------------------------------

using TileFn = void (*)(const std::byte*, size_t, const std::byte*, size_t, int64_t, float*, int64_t);

template <template <int, int> class Tile, int R>
TileFn tileFor(int tokens) {
    switch (tokens) {
    case 1:
        return &Tile<R, 1>::run;
    case 2:
        return &Tile<R, 2>::run;
    case 3:
        return &Tile<R, 3>::run;
    default:
        return &Tile<R, 4>::run;
    }
}

template <template <int, int> class Tile>
TileFn tileFor(int rows, int tokens) {
    switch (rows) {
    case 1:
        return tileFor<Tile, 1>(tokens);
    case 2:
        return tileFor<Tile, 2>(tokens);
    case 3:
        return tileFor<Tile, 3>(tokens);
    default:
        return tileFor<Tile, 4>(tokens);
    }
}

// Row tiles outside, token tiles inside: the kTileRows weight rows stay in L1 while every token tile
// passes over them, so the weights are read from memory once per matmul.
template <template <int, int> class Tile, int TileTokens = kTileTokens, int TileRows = kTileRows>
void gemm(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
          int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    for (int64_t r0 = 0; r0 < nRows; r0 += TileRows) {
        const int rows = static_cast<int>(nRows - r0 < TileRows ? nRows - r0 : TileRows);
        const std::byte* wTile = w + static_cast<size_t>(r0) * wStride;
        for (int64_t t0 = 0; t0 < nTokens; t0 += TileTokens) {
            const int tokens = static_cast<int>(nTokens - t0 < TileTokens ? nTokens - t0 : TileTokens);
            tileFor<Tile>(rows, tokens)(wTile, wStride, x + static_cast<size_t>(t0) * xStride, xStride, n,
                                        y + t0 * yStride + r0, yStride);
        }
    }
}

KernelTable makeAvx512Table() {
    KernelTable t = avx512BaseKernelTable();
    t.name = "avx512";
    t.gemmF16 = {&gemm<F16Tile>, &prepareF16, &f16PreparedBytes, 1};
    t.gemmQ8_0 = {&gemm<Q8_0Tile, kQ8TileTokens>, &prepareQ8, &q8PreparedBytes, kDecodeByDot};
    t.gemmQ4_0 = {&gemm<Q4_0Tile, kQ8TileTokens>, &prepareQ8, &q8PreparedBytes, 1};
    t.gemmQ4_K = {&gemm<Q4_KTile, kKTileTokens, kKTileRows>, &quantizeQ8_KAvx2, &q8KPreparedBytes,
                  kDecodeByDot};
    t.gemmQ6_K = {&gemm<Q6_KTile, kKTileTokens, kKTileRows>, &quantizeQ8_KAvx2, &q8KPreparedBytes,
                  kDecodeByDot};
    return t;
}

} // namespace

const KernelTable& avx512KernelTableUnchecked() {
    static const KernelTable table = makeAvx512Table();
    return table;
}

} // namespace declai::cpu
