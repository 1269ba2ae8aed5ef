// AVX-512 kernel table (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c
// -ffp-contract=off): the AVX2 kernels of KernelsAvx2.inc (dot products with 256-bit VNNI, quantisers,
// attention pieces; the Q3_K, Q5_K and Q6_K dot products are redone here with 64 weights a 512-bit
// register, the same integer lanes and float steps) plus register-tiled GEMM kernels for F16, Q8_0, Q4_0,
// Q4_K, Q6_K and Q5_K weights (IQ4_XS batches: the AVX-VNNI / AVX2 table's int16 panel gemm; under
// BatchRounding::LlamaCpp, IQ4_XS and Q4_K batches take the int8 lane gemm of KernelsAvx2.inc, 16 tokens a
// register).
//
// Each GEMM kernel computes a tile of up to kTileRows weight rows x kTileTokens activation rows: every
// weight block is loaded and unpacked once per tile and reused for all its tokens, every activation block
// once and reused for all its rows. The arithmetic of one (row, token) pair is the same sequence of
// operations whatever the tile shape, so decode (1 token) and prefill (n tokens) give identical floats
// (BatchRounding::AsDecode; for BatchRounding::LlamaCpp, Q4_K batches follow llama.cpp's gemm, stripQ4_K).
//  - Q8_0 / Q4_0: activations prepared as unsigned bytes (q + 128) plus float scales, so one vpdpbusd per
//    64 values and token does the integer dot (minus 128 * sum(w), computed once per weight block); per
//    pair of blocks the 16 int32 lanes are scaled by dw * dx and accumulated in float lanes.
//  - Q4_K / Q6_K: per-block integer sums via vpmaddubsw + vpdpwssd (scales applied as int16), Q6_K's -32
//    offset through the activation's block sums; the per-block float steps are the scalar reference's.
//  - F16: activations prepared as float (rounded through F16 as the reference does), FMA on 16 lanes.
//  - Q5_K: rows unpacked once per batch into scaled int16 panels, activations as int16, vpdpwssd
//    (gemmK16, below).
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

#include <cstddef>
#include <cstdlib>
#include <math.h>      // expf: a plain C function (no inline std:: template compiled with AVX-512)
#include <type_traits> // std::integral_constant (the AMX block driver's tile numbers)
#include <utility>     // std::index_sequence (types only)

namespace declai::cpu {

// simd/KernelsAvx2.cpp's table (AVX2 code runs on every AVX-512 machine) and simd/KernelsAvxVnni.cpp's
// (where the CPU has AVX-VNNI as well).
const KernelTable& avx2KernelTableUnchecked();
const KernelTable& avxVnniKernelTableUnchecked();

namespace {

constexpr int kTileRows = 4;
constexpr int kTileTokens = 4;

inline int64_t roundUp(int64_t v, int64_t m) {
    return (v + m - 1) / m * m;
}

#define DECLAI_INLINE inline __attribute__((always_inline))
// The same for a lambda (a callback of an always-inline driver: kept out of line, its register arrays went
// through memory, ~10% of Q4_0 prompt tiles).
#define DECLAI_INLINE_LAMBDA __attribute__((always_inline))

// Reduces a (16 int32 lanes) and m (8 int32 lanes) to their two sums with shared shuffles.
inline void reducePair(__m512i a, __m256i m, int& aSum, int& mSum) {
    const __m256i a8 = _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
    __m256i h = _mm256_hadd_epi32(a8, m);
    h = _mm256_hadd_epi32(h, h);
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    aSum = _mm_cvtsi128_si32(s);
    mSum = _mm_extract_epi32(s, 1);
}

// ---- Two 256-bit halves of one 512-bit register ----------------------------------------------------------

inline __m512i pairOf(__m256i low, __m256i high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}
inline __m512 pairOf(__m256 low, __m256 high) {
    return _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(low)), _mm256_castps_pd(high), 1));
}
inline __m256 highHalf(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

// ---- Q8_0 / Q4_0: row strips
// -------------------------------------------------------------------------------
//
// The arithmetic of one (row r, token t) pair, whatever the batch, tile or thread split:
//   acc = 0; for each block b in order: acc = fma(float(isum(r, t, b)), float(dw[r][b]) * dx[t][b], acc)
// where isum is the block's exact integer dot product. Integer sums are exact however they are formed, so
// any kernel that keeps this float sequence (decode, a VNNI GEMM, an AMX GEMM) gives the same bits.
//
// A strip is 16 weight rows. Q8_0: two rows share one 512-bit register per block; one vpdpbusd per register
// forms the 4-value partial sums, and a 7-step transpose-add turns the 8 registers into one vector of
// the 16 rows' block sums. Q4_0: four rows a register (two vpdpbusd, low and high nibbles), 3 steps. The
// float work of a block (scale, convert, fma) is then 4 instructions for 16 rows, and the 16 row scales come
// in with one gather.
//  - Q8_0: weights flipped to unsigned (w ^ 0x80 = w + 128), activations signed; the extra 128 * sum(x)
//    is removed with a per-block correction computed once per activation row.
//  - Q4_0: weights as unsigned nibbles 0..15 (value + 8); correction -8 * sum(x).

constexpr int kStripRows = 16;
constexpr int kStripTokens = 4;

// Streams the next strip (the 16 rows after this one, contiguous in memory) into L2 while this strip is
// computed, a slice per block step: 16 rows read side by side are 16 slow streams that the hardware
// prefetchers follow poorly, while the next strip is one sequential range.
struct NextStripPrefetch {
    const char* next;
    int64_t bytesPerStep;
    NextStripPrefetch(const std::byte* w, size_t wStride, int64_t steps)
        : next(reinterpret_cast<const char*>(w) + kStripRows * wStride),
          bytesPerStep(roundUp((kStripRows * static_cast<int64_t>(wStride) + steps - 1) / steps, 64)) {}
    DECLAI_INLINE void step(int64_t s) const {
        const char* p = next + s * bytesPerStep;
        for (int64_t line = 0; line < bytesPerStep; line += 64)
            _mm_prefetch(p + line, _MM_HINT_T1);
    }
    // Part `part` of kStripRows of step s: for the K-quant strips, whose steps are 2-3 KB, so that the
    // prefetches go out a few at a time between the rows' work instead of in one burst that fills the
    // line-fill buffers and stalls the loads of the step itself.
    DECLAI_INLINE void stepPart(int64_t s, int part) const {
        const int64_t partBytes = (bytesPerStep / 64 + kStripRows - 1) / kStripRows * 64;
        const int64_t begin = part * partBytes;
        const int64_t end = begin + partBytes < bytesPerStep ? begin + partBytes : bytesPerStep;
        const char* p = next + s * bytesPerStep;
        for (int64_t line = begin; line < end; line += 64)
            _mm_prefetch(p + line, _MM_HINT_T1);
    }
};

template <bool Q4>
constexpr int64_t preparedQsBytes() {
    return 32;
}

// Prepared activation row: nb blocks of qs (32 or 64 bytes), then nb int32 corrections, then nb float
// scales, each part padded to 64 bytes.
template <bool Q4>
size_t stripPreparedBytes(int64_t n) {
    const int64_t nb = n / kQK8_0;
    return static_cast<size_t>(roundUp(nb * preparedQsBytes<Q4>(), 64) + 2 * roundUp(nb * 4, 64));
}

struct StripActivation {
    const int8_t* qs;
    const int32_t* corr;
    const float* dx;
};

template <bool Q4>
StripActivation stripActivation(const std::byte* x, int64_t nb) {
    const auto* base = reinterpret_cast<const char*>(x);
    const char* corr = base + roundUp(nb * preparedQsBytes<Q4>(), 64);
    const char* dx = corr + roundUp(nb * 4, 64);
    return {reinterpret_cast<const int8_t*>(base), reinterpret_cast<const int32_t*>(corr),
            reinterpret_cast<const float*>(dx)};
}

template <bool Q4>
void prepareStrip(const float* x, void* out, int64_t n) {
    const int64_t nb = n / kQK8_0;
    auto* base = static_cast<char*>(out);
    std::memset(base, 0, stripPreparedBytes<Q4>(n));
    auto* qs = reinterpret_cast<int8_t*>(base);
    auto* corr = reinterpret_cast<int32_t*>(base + roundUp(nb * preparedQsBytes<Q4>(), 64));
    auto* dx = reinterpret_cast<float*>(reinterpret_cast<char*>(corr) + roundUp(nb * 4, 64));
    for (int64_t b = 0; b < nb; ++b) {
        BlockQ8_0 block;
        quantizeQ8_0Avx2(x + b * kQK8_0, &block, kQK8_0);
        dx[b] = halfToFloat(block.d);
        int sum = 0;
        for (int i = 0; i < kQK8_0; ++i)
            sum += block.qs[i];
        corr[b] = -(Q4 ? 8 : 128) * sum;
        std::memcpy(qs + 32 * b, block.qs, 32);
    }
}

// Where one block of each of a strip's 16 rows starts, moved along block by block. Full strips keep four
// base pointers and the stride (few registers, so the block loop does not spill); short strips keep a
// table whose rows past the end repeat the last one.
template <bool Full>
struct StripCursor;

template <>
struct StripCursor<true> {
    const char* quad[4];
    size_t stride;
    size_t stride3;
    StripCursor(const std::byte* w, size_t rowStride, int) : stride(rowStride), stride3(3 * rowStride) {
        for (int i = 0; i < 4; ++i)
            quad[i] = reinterpret_cast<const char*>(w) + static_cast<size_t>(4 * i) * rowStride;
    }
    DECLAI_INLINE const char* row(int r) const {
        const char* p = quad[r >> 2];
        switch (r & 3) {
        case 0:
            return p;
        case 1:
            return p + stride;
        case 2:
            return p + 2 * stride;
        default:
            return p + stride3;
        }
    }
    DECLAI_INLINE void advance(size_t bytes) {
        for (const char*& p : quad)
            p += bytes;
    }
};

template <>
struct StripCursor<false> {
    const char* rows[kStripRows];
    StripCursor(const std::byte* w, size_t rowStride, int count) {
        for (int i = 0; i < kStripRows; ++i)
            rows[i] =
                reinterpret_cast<const char*>(w) + static_cast<size_t>(i < count ? i : count - 1) * rowStride;
    }
    DECLAI_INLINE const char* row(int r) const { return rows[r]; }
    DECLAI_INLINE void advance(size_t bytes) {
        for (const char*& p : rows)
            p += bytes;
    }
};

// Q4_0: the 16-byte blocks (qs after the 2-byte scale) of rows 4q..4q+3 in one register, nibbles packed.
template <bool Full>
DECLAI_INLINE __m512i loadRowQuad(const StripCursor<Full>& c, int q) {
    auto qs = [&](int i) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(c.row(4 * q + i) + 2)); };
    __m512i v = _mm512_castsi128_si512(qs(0));
    v = _mm512_inserti32x4(v, qs(1), 1);
    v = _mm512_inserti32x4(v, qs(2), 2);
    return _mm512_inserti32x4(v, qs(3), 3);
}

// Q8_0: the 32-byte blocks of rows 2p and 2p+1 in one register, flipped to unsigned.
template <bool Full>
DECLAI_INLINE __m512i loadRowPair(const StripCursor<Full>& c, int p) {
    const __m512i v = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.row(2 * p) + 2))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.row(2 * p + 1) + 2)), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
}

// Lane tables of the transpose-add. Level 1 folds registers 2q and 2q+1 (rows 4q..4q+3) into lanes
// 4k..4k+3 per row; level 2 pairs of those into 2 lanes per row; level 3 into one lane per row.
struct StripReduceTables {
    __m512i halves[2]; // two full registers (one row each) -> one with 8 lanes per row
    __m512i level1[2];
    __m512i level2[2];
    __m512i level3[2];
};

StripReduceTables makeStripReduceTables() {
    // Lanes of the even (A) and odd (B) row of a Q8_0 register.
    const int laneA[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const int laneB[8] = {8, 9, 10, 11, 12, 13, 14, 15};
    alignas(64) int l1[2][16];
    alignas(64) int l2[2][16];
    alignas(64) int l3[2][16];
    for (int k = 0; k < 4; ++k) {
        const int* lanes = (k & 1) ? laneB : laneA;
        const int source = k < 2 ? 0 : 16;
        for (int j = 0; j < 4; ++j) {
            l1[0][4 * k + j] = source + lanes[j];
            l1[1][4 * k + j] = source + lanes[j + 4];
        }
    }
    for (int m = 0; m < 8; ++m) {
        const int first = m < 4 ? 4 * m : 16 + 4 * (m - 4);
        for (int j = 0; j < 2; ++j) {
            l2[0][2 * m + j] = first + j;
            l2[1][2 * m + j] = first + j + 2;
        }
    }
    for (int m = 0; m < 16; ++m) {
        const int first = m < 8 ? 2 * m : 16 + 2 * (m - 8);
        l3[0][m] = first;
        l3[1][m] = first + 1;
    }
    alignas(64) int halves[2][16];
    for (int i = 0; i < 16; ++i) {
        halves[0][i] = i < 8 ? i : 16 + (i - 8);
        halves[1][i] = halves[0][i] + 8;
    }
    StripReduceTables t;
    for (int i = 0; i < 2; ++i) {
        t.halves[i] = _mm512_load_si512(halves[i]);
        t.level1[i] = _mm512_load_si512(l1[i]);
        t.level2[i] = _mm512_load_si512(l2[i]);
        t.level3[i] = _mm512_load_si512(l3[i]);
    }
    return t;
}

// The tables, built once.
const StripReduceTables& stripTables() {
    static const StripReduceTables tables = makeStripReduceTables();
    return tables;
}

DECLAI_INLINE __m512i foldPair(__m512i a, __m512i b, const __m512i (&idx)[2]) {
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, idx[0], b), _mm512_permutex2var_epi32(a, idx[1], b));
}

// 8 registers of two rows each -> one vector of the 16 rows' sums (lane = row).
DECLAI_INLINE __m512i reduceStrip(const __m512i (&z)[8], const StripReduceTables& t) {
    const __m512i y0 = foldPair(z[0], z[1], t.level1);
    const __m512i y1 = foldPair(z[2], z[3], t.level1);
    const __m512i y2 = foldPair(z[4], z[5], t.level1);
    const __m512i y3 = foldPair(z[6], z[7], t.level1);
    const __m512i u0 = foldPair(y0, y1, t.level2);
    const __m512i u1 = foldPair(y2, y3, t.level2);
    return foldPair(u0, u1, t.level3);
}

// Q4_0: 4 registers of four rows each (4 lanes a row) -> one vector of the 16 rows' sums.
DECLAI_INLINE __m512i reduceQuads(const __m512i (&z)[4], const StripReduceTables& t) {
    return foldPair(foldPair(z[0], z[1], t.level2), foldPair(z[2], z[3], t.level2), t.level3);
}

// One strip of `rows` (1..16) weight rows against T activation rows.
template <bool Q4, int T, bool Full>
void stripQ8(const std::byte* w, size_t wStride, int rows, const StripActivation (&x)[T], int64_t nb,
             float* y, int64_t yStride, const StripReduceTables& tables) {
    // Rows past `rows` repeat the last one (valid memory; their lanes are never stored), so a short strip
    // runs the same code and each row's arithmetic does not depend on the strip it sits in.
    StripCursor<Full> cursor(w, wStride, rows);
    alignas(64) int offsets[kStripRows];
    for (int i = 0; i < kStripRows; ++i)
        offsets[i] = static_cast<int>(static_cast<size_t>(i < rows ? i : rows - 1) * wStride);
    const __m512i gatherIdx = _mm512_load_si512(offsets);
    constexpr size_t blockBytes = Q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
    __m512 acc[T];
    for (int t = 0; t < T; ++t)
        acc[t] = _mm512_setzero_ps();
    const NextStripPrefetch prefetch(w, wStride, nb);
    for (int64_t b = 0; b < nb; ++b) {
        prefetch.step(b);
        // The 16 rows' f16 block scales (d is the first field of both block types).
        const __m512i dBits = _mm512_i32gather_epi32(gatherIdx, w + blockBytes * static_cast<size_t>(b), 1);
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dBits));
        if constexpr (Q4) {
            // Four rows a register: the low nibbles (values 0-15) meet x[0..15] and the high ones x[16..31],
            // both broadcast to the four 128-bit lanes; two vpdpbusd per register, 3 folds for 16 rows.
            const __m512i lowMask = _mm512_set1_epi8(0x0F);
            __m512i lo[4];
            __m512i hi[4];
            for (int q = 0; q < 4; ++q) {
                const __m512i raw = loadRowQuad(cursor, q);
                lo[q] = _mm512_and_si512(raw, lowMask);
                hi[q] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), lowMask);
            }
            for (int t = 0; t < T; ++t) {
                const int8_t* xq = x[t].qs + 32 * b;
                const __m512i xLo =
                    _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq)));
                const __m512i xHi =
                    _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 16)));
                __m512i z[4];
                for (int q = 0; q < 4; ++q)
                    z[q] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[q], xLo), hi[q],
                                               xHi);
                const __m512i isum =
                    _mm512_add_epi32(reduceQuads(z, tables), _mm512_set1_epi32(x[t].corr[b]));
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(x[t].dx[b]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[t]);
            }
        } else {
            __m512i wz[8];
            for (int p = 0; p < 8; ++p)
                wz[p] = loadRowPair(cursor, p);
            for (int t = 0; t < T; ++t) {
                const __m512i xv = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t].qs + 32 * b)));
                __m512i z[8];
                for (int p = 0; p < 8; ++p)
                    z[p] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wz[p], xv);
                const __m512i isum =
                    _mm512_add_epi32(reduceStrip(z, tables), _mm512_set1_epi32(x[t].corr[b]));
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(x[t].dx[b]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[t]);
            }
        }
        cursor.advance(blockBytes);
    }
    const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
    for (int t = 0; t < T; ++t)
        _mm512_mask_storeu_ps(y + t * yStride, mask, acc[t]);
}

template <bool Q4, int T>
void stripTile(const std::byte* w, size_t wStride, int rows, const std::byte* x, size_t xStride, int64_t n,
               float* y, int64_t yStride) {
    const int64_t nb = n / kQK8_0;
    StripActivation acts[T];
    for (int t = 0; t < T; ++t)
        acts[t] = stripActivation<Q4>(x + static_cast<size_t>(t) * xStride, nb);
    if (rows == kStripRows)
        stripQ8<Q4, T, true>(w, wStride, rows, acts, nb, y, yStride, stripTables());
    else
        stripQ8<Q4, T, false>(w, wStride, rows, acts, nb, y, yStride, stripTables());
}

template <int T>
struct Q8_0Strip {
    static void run(const std::byte* w, size_t ws, int rows, const std::byte* x, size_t xs, int64_t n,
                    float* y, int64_t ys) {
        stripTile<false, T>(w, ws, rows, x, xs, n, y, ys);
    }
};
template <int T>
struct Q4_0Strip {
    static void run(const std::byte* w, size_t ws, int rows, const std::byte* x, size_t xs, int64_t n,
                    float* y, int64_t ys) {
        stripTile<true, T>(w, ws, rows, x, xs, n, y, ys);
    }
};

using StripFn = void (*)(const std::byte*, size_t, int, const std::byte*, size_t, int64_t, float*, int64_t);

// 16-row strips outside, token tiles of up to kStripTokens inside.
template <template <int> class Strip>
void gemmStrips(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    static constexpr StripFn kByTokens[kStripTokens] = {&Strip<1>::run, &Strip<2>::run, &Strip<3>::run,
                                                        &Strip<4>::run};
    for (int64_t r0 = 0; r0 < nRows; r0 += kStripRows) {
        const int rows = static_cast<int>(nRows - r0 < kStripRows ? nRows - r0 : kStripRows);
        const std::byte* wStrip = w + static_cast<size_t>(r0) * wStride;
        for (int64_t t0 = 0; t0 < nTokens; t0 += kStripTokens) {
            const int64_t tokens = nTokens - t0 < kStripTokens ? nTokens - t0 : kStripTokens;
            kByTokens[tokens - 1](wStrip, wStride, rows, x + static_cast<size_t>(t0) * xStride, xStride, n,
                                  y + t0 * yStride + r0, yStride);
        }
    }
}

template <bool Q4>
void gemmStrip(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
               int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    if constexpr (Q4)
        gemmStrips<Q4_0Strip>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
    else
        gemmStrips<Q8_0Strip>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
}

// ---- F16 -------------------------------------------------------------------------------------------------

// Prepared activation row: the values rounded to F16 and back, as floats, zero padded to 16.
// The F16 panel GEMM below is not in the table at present (its summation order is not llama.cpp's; see
// makeAvx512Table), kept for a tiled kernel that follows ggml_vec_dot_f16's order.
[[maybe_unused]] size_t f16PreparedBytes(int64_t n) {
    return static_cast<size_t>(roundUp(n, 16)) * sizeof(float);
}

[[maybe_unused]] void prepareF16(const float* x, void* out, int64_t n) {
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

// Each step also pulls the same position of the next tile's rows into L2 (once per cache line): the next
// tile is the next R rows, so every thread's prefetches run one tile ahead of its loads, far enough to
// cover the memory latency.
template <int R, int T, bool Full>
DECLAI_INLINE void stepF16(const f16_bits* const (&wr)[R], const float* const (&xr)[T], int64_t i,
                           size_t nextTileBytes, __mmask16 mask, __m512 (&acc)[R][T]) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) {
        if (Full) {
            if ((i & 31) == 0)
                _mm_prefetch(reinterpret_cast<const char*>(wr[r] + i) + nextTileBytes, _MM_HINT_T1);
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
    const size_t nextTileBytes = R * wStride;
    for (; i + 16 <= n; i += 16)
        stepF16<R, T, true>(wr, xr, i, nextTileBytes, 0xFFFF, acc);
    if (i < n) // the tail: weights masked, activations zero padded
        stepF16<R, T, false>(wr, xr, i, nextTileBytes, static_cast<__mmask16>((1u << (n - i)) - 1u), acc);
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

[[maybe_unused]] size_t q8KPreparedBytes(int64_t n) {
    return static_cast<size_t>(n / kQKK) * sizeof(BlockQ8_K);
}

// ---- Q4_K row strips
// ---------------------------------------------------------------------------------------
//
// Same per-(row, token) arithmetic as the scalar reference (exact integer sums per super-block, then
// acc += isum * (d * dx) and minAcc += minsum * (dmin * dx) as FMA chains, acc - minAcc at the end), with the
// float steps done for 16 rows at once. The weights
// are read 64 bytes at a time: the low nibbles of two 32-byte chunks are sub-blocks 4k and 4k+2, the
// high nibbles 4k+1 and 4k+3, so the activations are prepared in that order ([0, 2, 1, 3, 4, 6, 5, 7]).

// Prepared activation row: nb super-blocks of 256 reordered int8 values, then nb x 8 int16 sub-block sums,
// then nb float scales, each part padded to 64 bytes.
size_t q4KStripPreparedBytes(int64_t n) {
    const int64_t nb = n / kQKK;
    return static_cast<size_t>(nb * kQKK + roundUp(nb * 16, 64) + roundUp(nb * 4, 64));
}

struct Q4KActivation {
    const int8_t* qs;
    const int16_t* subSums;
    const float* d;
};

Q4KActivation q4KActivation(const std::byte* x, int64_t nb) {
    const auto* base = reinterpret_cast<const char*>(x);
    const char* sums = base + nb * kQKK;
    const char* d = sums + roundUp(nb * 16, 64);
    return {reinterpret_cast<const int8_t*>(base), reinterpret_cast<const int16_t*>(sums),
            reinterpret_cast<const float*>(d)};
}

void prepareQ4KStrip(const float* x, void* out, int64_t n) {
    const int64_t nb = n / kQKK;
    auto* base = static_cast<char*>(out);
    std::memset(base, 0, q4KStripPreparedBytes(n));
    auto* qs = reinterpret_cast<int8_t*>(base);
    auto* sums = reinterpret_cast<int16_t*>(base + nb * kQKK);
    auto* d = reinterpret_cast<float*>(reinterpret_cast<char*>(sums) + roundUp(nb * 16, 64));
    static constexpr int kOrder[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int64_t b = 0; b < nb; ++b) {
        BlockQ8_K block;
        quantizeQ8_KAvx2(x + b * kQKK, &block, kQKK);
        d[b] = block.d;
        for (int j = 0; j < 8; ++j) {
            std::memcpy(qs + b * kQKK + 32 * j, block.qs + 32 * kOrder[j], 32);
            sums[8 * b + j] = static_cast<int16_t>(block.bsums[2 * j] + block.bsums[2 * j + 1]);
        }
    }
}

// int16 lane i of the result is scale (i < 16 ? first : second) of the 8 scales in the low 128 bits.
inline __m512i q4KScalePairIndex(int first, int second) {
    return _mm512_mask_blend_epi16(static_cast<__mmask32>(0xFFFF0000u),
                                   _mm512_set1_epi16(static_cast<short>(first)),
                                   _mm512_set1_epi16(static_cast<short>(second)));
}

// Folds that keep a register's two halves apart: 16 registers (one row each; lanes 0-7 = sums of one group,
// lanes 8-15 of another) -> one register per group with the 16 rows' totals (lane = row). Level L joins two
// registers of 2^(L-1) rows each, halving the lanes a row holds in each half; integer sums, so any grouping
// gives the same totals.
struct HalfFoldTables {
    __m512i level[3][2]; // [level][even / odd source lanes]
    __m512i lowHalves;   // lanes 0-7 of a, then lanes 0-7 of b
    __m512i highHalves;  // lanes 8-15 of a, then lanes 8-15 of b
    __m512i quadLane[4]; // lane p of each 4-lane group of a (rows 0-3) then of b (rows 4-7), in lanes 0-7
};

HalfFoldTables makeHalfFoldTables() {
    HalfFoldTables t{};
    for (int l = 0; l < 3; ++l) {
        const int rowsIn = 1 << l;      // rows per input register
        const int lanesIn = 8 / rowsIn; // lanes per row and half in an input register
        const int lanesOut = lanesIn / 2;
        alignas(64) int even[16];
        alignas(64) int odd[16];
        for (int j = 0; j < 16; ++j) {
            const int half = j / 8;
            const int g = (j % 8) / lanesOut; // output row
            const int m = (j % 8) % lanesOut;
            const int source = (g < rowsIn ? 0 : 16) + 8 * half + lanesIn * (g % rowsIn) + 2 * m;
            even[j] = source;
            odd[j] = source + 1;
        }
        t.level[l][0] = _mm512_load_si512(even);
        t.level[l][1] = _mm512_load_si512(odd);
    }
    alignas(64) int lo[16];
    alignas(64) int hi[16];
    for (int j = 0; j < 16; ++j) {
        lo[j] = j < 8 ? j : 16 + (j - 8);
        hi[j] = j < 8 ? 8 + j : 24 + (j - 8);
    }
    t.lowHalves = _mm512_load_si512(lo);
    t.highHalves = _mm512_load_si512(hi);
    for (int p = 0; p < 4; ++p) {
        alignas(64) int pick[16];
        for (int j = 0; j < 16; ++j)
            pick[j] = j < 4 ? 4 * j + p : j < 8 ? 16 + 4 * (j - 4) + p : 0;
        t.quadLane[p] = _mm512_load_si512(pick);
    }
    return t;
}

const HalfFoldTables& halfFoldTables() {
    static const HalfFoldTables tables = makeHalfFoldTables();
    return tables;
}

// 16 row registers -> (lane = row) the totals of their low halves and of their high halves.
DECLAI_INLINE void foldHalves(const int32_t (&rowsIn)[kStripRows][16], const HalfFoldTables& t, __m512i& low,
                              __m512i& high) {
    __m512i l1[8];
    for (int i = 0; i < 8; ++i)
        l1[i] = foldPair(_mm512_load_si512(rowsIn[2 * i]), _mm512_load_si512(rowsIn[2 * i + 1]), t.level[0]);
    __m512i l2[4];
    for (int i = 0; i < 4; ++i)
        l2[i] = foldPair(l1[2 * i], l1[2 * i + 1], t.level[1]);
    const __m512i rows0to7 = foldPair(l2[0], l2[1], t.level[2]);
    const __m512i rows8to15 = foldPair(l2[2], l2[3], t.level[2]);
    low = _mm512_permutex2var_epi32(rows0to7, t.lowHalves, rows8to15);
    high = _mm512_permutex2var_epi32(rows0to7, t.highHalves, rows8to15);
}

// GemmOrder: the strip is a full group of 4 tokens of a batch, which llama.cpp's repacked gemm rounds its
// own way (below); otherwise every token as its gemv.
template <int T, bool GemmOrder>
void stripQ4_K(const std::byte* w, size_t wStride, int rows, const std::byte* x, size_t xStride, int64_t n,
               float* y, int64_t yStride) {
    const int64_t nb = n / kQKK;
    Q4KActivation act[T];
    for (int t = 0; t < T; ++t)
        act[t] = q4KActivation(x + static_cast<size_t>(t) * xStride, nb);
    const BlockQ4_K* rowPtr[kStripRows];
    alignas(64) int offsets[kStripRows];
    for (int i = 0; i < kStripRows; ++i) {
        const int r = i < rows ? i : rows - 1;
        rowPtr[i] = reinterpret_cast<const BlockQ4_K*>(w + static_cast<size_t>(r) * wStride);
        offsets[i] = static_cast<int>(static_cast<size_t>(r) * wStride);
    }
    const __m512i gatherIdx = _mm512_load_si512(offsets);
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i scaleIdx[4] = {q4KScalePairIndex(0, 2), q4KScalePairIndex(1, 3), q4KScalePairIndex(4, 6),
                                 q4KScalePairIndex(5, 7)};
    const StripReduceTables& tables = stripTables();
    // llama.cpp's repacked q4_K_8x8 order (quant::dotQ4_K): per row and token, acc += isum * (dw * dx) and
    // minAcc += minsum * (dmin * dx) as two FMA chains, acc - minAcc at the end. Its gemv (one token, and
    // the last nTokens % 4 tokens of a batch) takes isum and minsum per super-block; its gemm (each full
    // group of 4 tokens) takes them per pair of sub-blocks, four FMAs per super-block and chain, which
    // rounds differently.
    constexpr bool kPairOrder = GemmOrder && T == 4;
    // Pair order: each row's two scaled-sum registers per super-block (lanes 0-7 sub-blocks 4k, 4k + 1; lanes
    // 8-15 sub-blocks 4k + 2, 4k + 3), folded for all 16 rows at once after the row loop.
    alignas(64) int32_t pairRows[kPairOrder ? 2 : 1][T][kStripRows][16];
    alignas(64) int32_t minQuads[kPairOrder ? T : 1][kStripRows][4]; // per row the 4 sub-block pairs' mins
    const HalfFoldTables& halfTables = halfFoldTables();
    __m512 sums[T];
    __m512 minAcc[T];
    for (int t = 0; t < T; ++t) {
        sums[t] = _mm512_setzero_ps();
        minAcc[t] = _mm512_setzero_ps();
    }
    const NextStripPrefetch prefetch(w, wStride, nb);
    for (int64_t b = 0; b < nb; ++b) {
        alignas(64) int scaled[T][kStripRows];
        alignas(64) int minSums[T][kStripRows];
        alignas(64) int32_t minParts[kStripRows][4];
        __m512i pairs[8];
        __m512i pending = _mm512_setzero_si512();
        __m128i subSums[T];
        for (int t = 0; t < T; ++t)
            subSums[t] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(act[t].subSums + 8 * b));
#pragma GCC unroll 16
        for (int r = 0; r < kStripRows; ++r) {
            prefetch.stepPart(b, r);
            const BlockQ4_K& blk = rowPtr[r][b];
            uint64_t s64 = 0;
            uint64_t m64 = 0;
            unpackQ4KScaleBytes(blk.scales, s64, m64);
            const __m512i scales16 =
                _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(s64))));
            const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(m64)));
            __m512i acc[T];
            for (int t = 0; t < T; ++t)
                acc[t] = _mm512_setzero_si512();
            for (int k = 0; k < 2; ++k) {
                const __m512i raw = _mm512_loadu_si512(blk.qs + 64 * k);
                const __m512i lo = _mm512_and_si512(raw, lowMask);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), lowMask);
                const __m512i scLo = _mm512_permutexvar_epi16(scaleIdx[2 * k], scales16);
                const __m512i scHi = _mm512_permutexvar_epi16(scaleIdx[2 * k + 1], scales16);
                for (int t = 0; t < T; ++t) {
                    const int8_t* xq = act[t].qs + b * kQKK + 128 * k;
                    if constexpr (kPairOrder)
                        acc[t] = _mm512_setzero_si512();
                    acc[t] =
                        _mm512_dpwssd_epi32(acc[t], _mm512_maddubs_epi16(lo, _mm512_loadu_si512(xq)), scLo);
                    acc[t] = _mm512_dpwssd_epi32(acc[t],
                                                 _mm512_maddubs_epi16(hi, _mm512_loadu_si512(xq + 64)), scHi);
                    if constexpr (kPairOrder)
                        _mm512_store_si512(pairRows[k][t][r], acc[t]);
                }
            }
            if constexpr (kPairOrder) {
                // The min products of sub-block pairs (0, 1), (2, 3), (4, 5), (6, 7).
                for (int t = 0; t < T; ++t)
                    _mm_store_si128(reinterpret_cast<__m128i*>(minQuads[t][r]),
                                    _mm_madd_epi16(mins16, subSums[t]));
                continue;
            }
            if constexpr (T == 1) {
                // Decode: fold row pairs now and the 16 rows after the loop (cheaper than a horizontal sum
                // per row); the min products of four rows go out as one 64-byte row of minParts.
                if (r & 1)
                    pairs[r >> 1] = foldPair(pending, acc[0], tables.halves);
                else
                    pending = acc[0];
                _mm_store_si128(reinterpret_cast<__m128i*>(minParts[r]), _mm_madd_epi16(mins16, subSums[0]));
                continue;
            }
            for (int t = 0; t < T; ++t) {
                const __m256i a8 =
                    _mm256_add_epi32(_mm512_castsi512_si256(acc[t]), _mm512_extracti64x4_epi64(acc[t], 1));
                // Lane 0 ends as the sum of the 16 scaled lanes, lane 1 as the sum of the 4 min products.
                __m256i h = _mm256_hadd_epi32(a8, _mm256_zextsi128_si256(_mm_madd_epi16(mins16, subSums[t])));
                h = _mm256_hadd_epi32(h, h);
                const __m128i lanes =
                    _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
                scaled[t][r] = _mm_cvtsi128_si32(lanes);
                minSums[t][r] = _mm_extract_epi32(lanes, 1);
            }
        }
        const __m512i dBits =
            _mm512_i32gather_epi32(gatherIdx, reinterpret_cast<const char*>(w) + sizeof(BlockQ4_K) * b, 1);
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dBits));
        const __m512 dminw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dBits, 16)));
        if constexpr (T == 1) {
            const __m512i quads[4] = {_mm512_load_si512(minParts[0]), _mm512_load_si512(minParts[4]),
                                      _mm512_load_si512(minParts[8]), _mm512_load_si512(minParts[12])};
            _mm512_store_si512(scaled[0], reduceStrip(pairs, tables));
            _mm512_store_si512(minSums[0], reduceQuads(quads, tables));
        }
        if constexpr (kPairOrder) {
            __m512i pairScaled[4][T];
            __m512i pairMins[4][T];
            for (int k = 0; k < 2; ++k)
                for (int t = 0; t < T; ++t)
                    foldHalves(pairRows[k][t], halfTables, pairScaled[2 * k][t], pairScaled[2 * k + 1][t]);
            for (int t = 0; t < T; ++t) {
                const __m512i q0 = _mm512_load_si512(minQuads[t][0]);
                const __m512i q1 = _mm512_load_si512(minQuads[t][4]);
                const __m512i q2 = _mm512_load_si512(minQuads[t][8]);
                const __m512i q3 = _mm512_load_si512(minQuads[t][12]);
                for (int pair = 0; pair < 4; ++pair)
                    pairMins[pair][t] = _mm512_permutex2var_epi32(
                        _mm512_permutex2var_epi32(q0, halfTables.quadLane[pair], q1), halfTables.lowHalves,
                        _mm512_permutex2var_epi32(q2, halfTables.quadLane[pair], q3));
            }
            for (int pair = 0; pair < 4; ++pair)
                for (int t = 0; t < T; ++t) {
                    const __m512 xd = _mm512_set1_ps(act[t].d[b]);
                    sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pairScaled[pair][t]), _mm512_mul_ps(dw, xd),
                                              sums[t]);
                    minAcc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pairMins[pair][t]),
                                                _mm512_mul_ps(dminw, xd), minAcc[t]);
                }
            continue;
        }
        for (int t = 0; t < T; ++t) {
            const __m512 xd = _mm512_set1_ps(act[t].d[b]);
            sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(scaled[t])), _mm512_mul_ps(dw, xd),
                                      sums[t]);
            minAcc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(minSums[t])),
                                        _mm512_mul_ps(dminw, xd), minAcc[t]);
        }
    }
    const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
    for (int t = 0; t < T; ++t)
        _mm512_mask_storeu_ps(y + t * yStride, mask, _mm512_sub_ps(sums[t], minAcc[t]));
}

// int16 lane i of the result is lane 4 * part + i / 8 of the block's 16 scales.
inline __m512i q6kScaleIndex(int part) {
    alignas(64) short idx[32];
    for (int i = 0; i < 32; ++i)
        idx[i] = static_cast<short>(4 * part + i / 8);
    return _mm512_load_si512(idx);
}

// Q6_K in row strips: per row, integer sums per super-block (6-bit values via vpmaddubsw, the scales via
// vpdpwssd, the -32 offset through the activation block sums), then the float step
// (sum += d * xd * isum, the scalar reference's order) runs for 16 rows at once.
template <int T>
void stripQ6_K(const std::byte* w, size_t wStride, int rows, const std::byte* x, size_t xStride, int64_t n,
               float* y, int64_t yStride) {
    const BlockQ8_K* xr[T];
    for (int t = 0; t < T; ++t)
        xr[t] = reinterpret_cast<const BlockQ8_K*>(x + static_cast<size_t>(t) * xStride);
    const BlockQ6_K* rowPtr[kStripRows];
    alignas(64) int offsets[kStripRows];
    for (int i = 0; i < kStripRows; ++i) {
        const int r = i < rows ? i : rows - 1;
        rowPtr[i] = reinterpret_cast<const BlockQ6_K*>(w + static_cast<size_t>(r) * wStride);
        offsets[i] = static_cast<int>(static_cast<size_t>(r) * wStride);
    }
    const __m512i gatherIdx = _mm512_load_si512(offsets);
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i bits01 = _mm512_set1_epi8(0x03);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    __m512i scaleIdx[4];
    for (int part = 0; part < 4; ++part)
        scaleIdx[part] = q6kScaleIndex(part);
    __m512 sums[T];
    for (int t = 0; t < T; ++t)
        sums[t] = _mm512_setzero_ps();
    const int64_t blocks = n / kQKK;
    const NextStripPrefetch prefetch(w, wStride, blocks);
    for (int64_t b = 0; b < blocks; ++b) {
        alignas(64) int isums[T][kStripRows];
        __m256i bsums[T];
        for (int t = 0; t < T; ++t)
            bsums[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][b].bsums));
        for (int r = 0; r < kStripRows; ++r) {
            prefetch.stepPart(b, r);
            const BlockQ6_K& blk = rowPtr[r][b];
            const __m256i scales16 =
                _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
            __m512i acc[T];
            for (int t = 0; t < T; ++t)
                acc[t] = _mm512_setzero_si512();
            for (int h = 0; h < 2; ++h) {
                const __m512i l = _mm512_loadu_si512(blk.ql + 64 * h);
                const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
                const __m512i hb =
                    _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                // Parts 2h and 2h+1: the low and the high nibbles of this half's 64 low-bit bytes.
                const __m512i qLow = _mm512_or_si512(_mm512_and_si512(l, lowMask),
                                                     _mm512_slli_epi16(_mm512_and_si512(hb, bits01), 4));
                const __m512i qHigh = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), lowMask),
                                                      _mm512_and_si512(hb, bits45));
                const __m512i scLow =
                    _mm512_permutexvar_epi16(scaleIdx[2 * h], _mm512_castsi256_si512(scales16));
                const __m512i scHigh =
                    _mm512_permutexvar_epi16(scaleIdx[2 * h + 1], _mm512_castsi256_si512(scales16));
                for (int t = 0; t < T; ++t) {
                    const int8_t* xq = xr[t][b].qs + 128 * h;
                    acc[t] = _mm512_dpwssd_epi32(acc[t], _mm512_maddubs_epi16(qLow, _mm512_loadu_si512(xq)),
                                                 scLow);
                    acc[t] = _mm512_dpwssd_epi32(
                        acc[t], _mm512_maddubs_epi16(qHigh, _mm512_loadu_si512(xq + 64)), scHigh);
                }
            }
            for (int t = 0; t < T; ++t) {
                // The weights are stored + 32: subtract 32 * sum over groups of scale * (sum of x in group).
                int sumQ = 0;
                int sumOffset = 0;
                reducePair(acc[t], _mm256_madd_epi16(scales16, bsums[t]), sumQ, sumOffset);
                isums[t][r] = sumQ - 32 * sumOffset;
            }
        }
        // d is the block's last field: gather the 4 bytes ending with it (no read past the block).
        const __m512i dBits = _mm512_i32gather_epi32(
            gatherIdx, reinterpret_cast<const char*>(w) + sizeof(BlockQ6_K) * b + offsetof(BlockQ6_K, d) - 2,
            1);
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dBits, 16)));
        for (int t = 0; t < T; ++t) {
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(xr[t][b].d));
            sums[t] =
                _mm512_add_ps(sums[t], _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_load_si512(isums[t]))));
        }
    }
    const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
    for (int t = 0; t < T; ++t)
        _mm512_mask_storeu_ps(y + t * yStride, mask, sums[t]);
}

// A batch as llama.cpp's repacked q4_K_8x8 product takes it (BatchRounding::LlamaCpp): full groups of 4
// tokens through its gemm (kStripTokens is 4), the rest through its gemv.
static_assert(kStripTokens == 4, "Q4_KStrip's gemm groups are llama.cpp's 4 tokens");
template <int T>
struct Q4_KStrip {
    static void run(const std::byte* w, size_t ws, int rows, const std::byte* x, size_t xs, int64_t n,
                    float* y, int64_t ys) {
        stripQ4_K<T, true>(w, ws, rows, x, xs, n, y, ys);
    }
};
// Every token as llama.cpp's gemv (BatchRounding::AsDecode; the AMX tiles' arithmetic too).
template <int T>
struct Q4_KStripGemv {
    static void run(const std::byte* w, size_t ws, int rows, const std::byte* x, size_t xs, int64_t n,
                    float* y, int64_t ys) {
        stripQ4_K<T, false>(w, ws, rows, x, xs, n, y, ys);
    }
};
template <int T>
struct Q6_KStrip {
    static void run(const std::byte* w, size_t ws, int rows, const std::byte* x, size_t xs, int64_t n,
                    float* y, int64_t ys) {
        stripQ6_K<T>(w, ws, rows, x, xs, n, y, ys);
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

// F16 batches: the same per-(row, token) sequence as tileF16 (16 float lanes fed in column order, one FMA
// per 16 columns, the lanes added by _mm512_reduce_add_ps at the end), cache-blocked. The dot-product form
// needs both operands as vectors along the columns, so each loaded activation vector is reused for only as
// many rows as the tile has; with tileF16's 4 rows the activations stream from L2 at 32 bytes a cycle and
// the FMAs wait. Here a panel of 8 rows x 512 columns is converted to float once into an L1 buffer and
// reused by every 3-token tile (24 accumulators, 8 FMAs per activation load); the 16-lane accumulators
// live in a per-thread buffer between column chunks, which keeps the float sequence unchanged.
constexpr int kF16PanelRows = 8;
constexpr int kF16PanelTokens = 3;
constexpr int64_t kF16PanelCols = 512;

struct F16PanelScratch {
    ScratchBuffer panel; // kF16PanelRows x kF16PanelCols floats
    ScratchBuffer acc;   // tokens x kF16PanelRows x 16 floats
};
thread_local F16PanelScratch t_f16PanelScratch;

// Rows [0, rows) of w, columns [c0, c0 + width) as floats, the tail of the last 16 zero (as tileF16's
// masked load); rows past `rows` are not touched.
DECLAI_INLINE void convertF16Panel(const std::byte* w, size_t wStride, int rows, int64_t c0, int64_t width,
                                   float* panel) {
    for (int r = 0; r < rows; ++r) {
        const auto* src = reinterpret_cast<const f16_bits*>(w + static_cast<size_t>(r) * wStride) + c0;
        float* dst = panel + r * kF16PanelCols;
        int64_t i = 0;
        for (; i + 16 <= width; i += 16)
            _mm512_store_ps(dst + i,
                            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
        if (i < width) {
            const auto mask = static_cast<__mmask16>((1u << (width - i)) - 1u);
            _mm512_store_ps(dst + i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, src + i)));
        }
    }
}

// R rows of the converted panel x T tokens over `steps` 16-column steps, accumulators in and out of acc
// (token-major: acc[(t * kF16PanelRows + r) * 16]).
template <int R, int T>
DECLAI_INLINE void f16PanelTile(const float* panel, const float* (&xr)[T], int64_t steps, bool first,
                                float* acc) {
    __m512 a[R][T];
    for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r)
            a[r][t] = first ? _mm512_setzero_ps() : _mm512_load_ps(acc + (t * kF16PanelRows + r) * 16);
    for (int64_t s = 0; s < steps; ++s) {
        __m512 xv[T];
        for (int t = 0; t < T; ++t)
            xv[t] = _mm512_loadu_ps(xr[t] + 16 * s);
        for (int r = 0; r < R; ++r) {
            __m512 wv = _mm512_load_ps(panel + r * kF16PanelCols + 16 * s);
            // One load for T FMAs: without this GCC folds the load into each FMA, and the loads, not the
            // FMAs, become the limit.
            __asm__("" : "+v"(wv));
            for (int t = 0; t < T; ++t)
                a[r][t] = _mm512_fmadd_ps(wv, xv[t], a[r][t]);
        }
    }
    for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r)
            _mm512_store_ps(acc + (t * kF16PanelRows + r) * 16, a[r][t]);
}

template <int R>
void f16PanelRows(const std::byte* w, size_t wStride, const std::byte* x, size_t xStride, int64_t nTokens,
                  int64_t n, float* y, int64_t yStride, float* panel, float* acc) {
    for (int64_t c0 = 0; c0 < n; c0 += kF16PanelCols) {
        const int64_t width = n - c0 < kF16PanelCols ? n - c0 : kF16PanelCols;
        const int64_t steps = (width + 15) / 16;
        convertF16Panel(w, wStride, R, c0, width, panel);
        const bool first = c0 == 0;
        auto xRow = [&](int64_t t) {
            return reinterpret_cast<const float*>(x + static_cast<size_t>(t) * xStride) + c0;
        };
        // The next panel's weights (next chunk of these rows, or the next rows' first chunk) are pulled into
        // L2 a few lines per token tile, so converting it does not wait on memory. Prefetches never fault,
        // so running past the matrix is harmless.
        const bool lastChunk = c0 + kF16PanelCols >= n;
        const char* nextPanel =
            reinterpret_cast<const char*>(w) +
            (lastChunk ? kF16PanelRows * wStride : static_cast<size_t>(c0 + kF16PanelCols) * 2);
        constexpr int kLinesPerRow = kF16PanelCols * 2 / 64;
        constexpr int kPanelLines = kF16PanelRows * kLinesPerRow;
        const int64_t tiles = (nTokens + kF16PanelTokens - 1) / kF16PanelTokens;
        const int linesPerTile = static_cast<int>((kPanelLines + tiles - 1) / tiles);
        int nextLine = 0;
        auto prefetchSome = [&] {
            for (int i = 0; i < linesPerTile && nextLine < kPanelLines; ++i, ++nextLine)
                _mm_prefetch(nextPanel + static_cast<size_t>(nextLine / kLinesPerRow) * wStride +
                                 (nextLine % kLinesPerRow) * 64,
                             _MM_HINT_T1);
        };
        int64_t t0 = 0;
        for (; t0 + kF16PanelTokens <= nTokens; t0 += kF16PanelTokens) {
            prefetchSome();
            const float* xr[kF16PanelTokens];
            for (int t = 0; t < kF16PanelTokens; ++t)
                xr[t] = xRow(t0 + t);
            f16PanelTile<R, kF16PanelTokens>(panel, xr, steps, first, acc + t0 * kF16PanelRows * 16);
        }
        for (; t0 < nTokens; ++t0) {
            prefetchSome();
            const float* xr[1] = {xRow(t0)};
            f16PanelTile<R, 1>(panel, xr, steps, first, acc + t0 * kF16PanelRows * 16);
        }
    }
    for (int64_t t = 0; t < nTokens; ++t)
        for (int r = 0; r < R; ++r)
            y[t * yStride + r] = _mm512_reduce_add_ps(_mm512_load_ps(acc + (t * kF16PanelRows + r) * 16));
}

[[maybe_unused]] void gemmF16(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x,
                              size_t xStride, int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    F16PanelScratch& scratch = t_f16PanelScratch;
    float* panel = nTokens >= kF16PanelTokens
                       ? scratch.panel.reserve<float>(kF16PanelRows * kF16PanelCols * sizeof(float))
                       : nullptr;
    float* acc =
        panel ? scratch.acc.reserve<float>(static_cast<size_t>(nTokens) * kF16PanelRows * 16 * sizeof(float))
              : nullptr;
    if (!acc) { // decode (the weights stream once anyway) or no memory: the register tiles
        gemm<F16Tile>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
        return;
    }
    using RowsFn = void (*)(const std::byte*, size_t, const std::byte*, size_t, int64_t, int64_t, float*,
                            int64_t, float*, float*);
    static constexpr RowsFn kByRows[kF16PanelRows + 1] = {
        nullptr,          &f16PanelRows<1>, &f16PanelRows<2>, &f16PanelRows<3>, &f16PanelRows<4>,
        &f16PanelRows<5>, &f16PanelRows<6>, &f16PanelRows<7>, &f16PanelRows<8>};
    for (int64_t r0 = 0; r0 < nRows; r0 += kF16PanelRows) {
        const int rows = static_cast<int>(nRows - r0 < kF16PanelRows ? nRows - r0 : kF16PanelRows);
        kByRows[rows](w + static_cast<size_t>(r0) * wStride, wStride, x, xStride, nTokens, n, y + r0, yStride,
                      panel, acc);
    }
}

// ---- IQ4_XS and Q5_K batches: int16 panels and vpdpwssd ------------------------------------------------
//
// The dot products (dotIQ4_XSTile / dotQ5_KTile, llama.cpp's ggml_vec_dot_iq4_xs_q8_K / _q5_K_q8_K) keep per
// super-block 8 int32 lanes (lane i: values 4i..4i+3 of every 32, times the sub-block scale), one FMA of them
// with dw * dx onto 8 float lanes and hsum_float_8 at the end; Q5_K adds dmin * mins in a scalar FMA chain.
// As 4-token tiles they still unpack every weight block once per 4 tokens and spend a sign (IQ4_XS), a
// maddubs and a madd per 32 values and token: IQ4_XS prefill ran at 0.64x llama.cpp, whose batches of 8 or
// more IQ4_XS tokens take its IQ panel gemm (ggml-cpu/iqp.cpp: rows unpacked to int8 once, a VNNI product
// over all tokens). Here kK16PanelRows rows are unpacked once per batch into an int16 panel with each value
// already multiplied by its sub-block scale (IQ4_XS |(scale - 32) * value| <= 32 * 127, Q5_K 63 * 31), the
// activations are prepared once per token as the same Q8_K values widened to int16, and one vpdpwssd adds
// 32 products into 16 lanes (lane j: values 2j and 2j + 1 of every 32). Lanes 2i and 2i + 1 added at the
// end of a super-block are the dot product's lane i exactly (integer sums have no order), and the float
// steps are the dot product's (Q5_K's mins chain lane-wise), so every (row, token) result is bit-identical
// to it and to decode. (llama.cpp's panel gemm rounds its own way, one int32 sum per super-block; this keeps
// the decode arithmetic.)
constexpr int kK16PanelRows = 4;
constexpr int kK16TileTokens = 4;
// A single token stays on the dot product (decode is already at llama.cpp's speed; both give the same
// floats).
constexpr int kK16MinTokens = 2;

inline int64_t k16ScaleBytes(int64_t nb) {
    return roundUp(nb * static_cast<int64_t>(sizeof(float)), 64);
}
inline int64_t k16PairSumBytes(int64_t nb) {
    return roundUp(nb * 8 * static_cast<int64_t>(sizeof(int16_t)), 64);
}

// Prepared row, one layout for both formats (so Q/K/V of a layer share it): nb float scales (the Q8_K d),
// nb x 8 int16 block sums in pairs (bsums[2s] + bsums[2s + 1], for Q5_K's mins), each part padded to 64
// bytes, then nb x 256 int16 values.
size_t k16PreparedBytes(int64_t n) {
    const int64_t nb = n / kQKK;
    return static_cast<size_t>(k16ScaleBytes(nb) + k16PairSumBytes(nb) +
                               nb * kQKK * static_cast<int64_t>(sizeof(int16_t)));
}

// The Q8_K row the dot products would get (the same quantiser), widened to int16.
void prepareK16(const float* x, void* out, int64_t n) {
    const int64_t nb = n / kQKK;
    auto* bytes = static_cast<std::byte*>(out);
    auto* d = reinterpret_cast<float*>(bytes);
    auto* pairSums = reinterpret_cast<int16_t*>(bytes + k16ScaleBytes(nb));
    auto* qs = reinterpret_cast<int16_t*>(bytes + k16ScaleBytes(nb) + k16PairSumBytes(nb));
    for (int64_t b = 0; b < nb; ++b) {
        BlockQ8_K q;
        quantizeQ8_KAvx2(x + b * kQKK, &q, kQKK);
        d[b] = q.d;
        for (int s = 0; s < 8; ++s) // |sum of 32 values| <= 32 * 127
            pairSums[b * 8 + s] = static_cast<int16_t>(q.bsums[2 * s] + q.bsums[2 * s + 1]);
        for (int k = 0; k < kQKK / 32; ++k)
            _mm512_storeu_si512(qs + b * kQKK + 32 * k, _mm512_cvtepi8_epi16(loadBytes(q.qs + 32 * k)));
    }
}

// One super-block unpacked: 8 x 32 int16 (sub-block k's values times its scale) into dst (64-byte aligned),
// the float scales and the 8 mins. (IQ4_XS batches take the AVX-VNNI / AVX2 table's int16 panel instead,
// which has llama.cpp's IQ panel order as well: see makeAvx512Table.)
struct Q5_KPanel {
    using Block = BlockQ5_K;
    static constexpr bool kMins = true;
    static DECLAI_INLINE void unpack(const Block& blk, int16_t* dst, float& dw, float& dmin, int16_t* mins) {
        uint8_t scales[8];
        uint8_t minBytes[8];
        unpackQ4KScales(blk.scales, scales, minBytes);
        const __m256i lowMask = _mm256_set1_epi8(0x0F);
        const __m256i one = _mm256_set1_epi8(1);
        const __m256i hbits = loadBytes(blk.qh);
        for (int j = 0; j < 4; ++j) { // as dotQ5_KTile: sub-blocks 2j (low nibbles) and 2j + 1 (high)
            const __m256i bits = loadBytes(blk.qs + 32 * j);
            const __m256i q0 =
                _mm256_add_epi8(_mm256_and_si256(bits, lowMask),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4));
            const __m256i q1 = _mm256_add_epi8(
                _mm256_and_si256(_mm256_srli_epi16(bits, 4), lowMask),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4));
            _mm512_store_si512(
                dst + 64 * j, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(q0), _mm512_set1_epi16(scales[2 * j])));
            _mm512_store_si512(dst + 64 * j + 32, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(q1),
                                                                     _mm512_set1_epi16(scales[2 * j + 1])));
        }
        for (int s = 0; s < 8; ++s)
            mins[s] = minBytes[s];
        dw = halfToFloat(blk.d);
        dmin = halfToFloat(blk.dmin);
    }
};

// Where a tile finds row r's unpacked super-block b: the panel of the whole rows (unpacked once per batch),
// or, for a single token tile or without scratch memory, unpacked block by block on the tile's stack.
struct K16Rows {
    const std::byte* w;
    size_t wStride;
    const int16_t* panel; // nullptr: unpack as the tile goes; else rows x nb x 256
    const float* dw;      // rows x nb, with panel
    const float* dmin;    // rows x nb, with panel (Q5_K)
    const int16_t* mins;  // rows x nb x 8, with panel (Q5_K)
};

// R rows x T tokens. Pair p = r * T + t; pairs 2q and 2q + 1 share float accumulator q (low and high 8
// lanes), which keeps the 16 integer accumulators, 8 float ones and the operands in the 32 registers.
template <typename Format, int R, int T>
void k16Tile(const K16Rows& rows, int64_t nb, const std::byte* x, size_t xStride, float* y, int64_t yStride) {
    constexpr int P = R * T;
    constexpr int Q = (P + 1) / 2;
    const float* dx[T];
    const int16_t* pairSums[T];
    const int16_t* xq[T];
    for (int t = 0; t < T; ++t) {
        const std::byte* row = x + static_cast<size_t>(t) * xStride;
        dx[t] = reinterpret_cast<const float*>(row);
        pairSums[t] = reinterpret_cast<const int16_t*>(row + k16ScaleBytes(nb));
        xq[t] = reinterpret_cast<const int16_t*>(row + k16ScaleBytes(nb) + k16PairSumBytes(nb));
    }
    // Lanes 0..7: the even lanes of the first operand (then of the second in 8..15), and the odd ones.
    const __m512i evenLanes = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i oddLanes = _mm512_add_epi32(evenLanes, _mm512_set1_epi32(1));
    __m512 acc[Q];
    for (int q = 0; q < Q; ++q)
        acc[q] = _mm512_setzero_ps();
    // Q5_K: row r's dmin * mins chain for token t in lanes 4t..4t+3 of minAcc[r] (all four equal).
    __m512 minAcc[Format::kMins ? R : 1];
    for (__m512& m : minAcc)
        m = _mm512_setzero_ps();
    alignas(64) int16_t local[R][kQKK];
    alignas(16) int16_t localMins[R][8];
    for (int64_t b = 0; b < nb; ++b) {
        const int16_t* wb[R];
        const int16_t* mins[R];
        float dw[R];
        float dmin[R];
        for (int r = 0; r < R; ++r) {
            if (rows.panel) {
                wb[r] = rows.panel + (r * nb + b) * kQKK;
                dw[r] = rows.dw[r * nb + b];
                if constexpr (Format::kMins) {
                    dmin[r] = rows.dmin[r * nb + b];
                    mins[r] = rows.mins + (r * nb + b) * 8;
                }
            } else {
                const auto& blk = reinterpret_cast<const typename Format::Block*>(
                    rows.w + static_cast<size_t>(r) * rows.wStride)[b];
                Format::unpack(blk, local[r], dw[r], dmin[r], localMins[r]);
                wb[r] = local[r];
                mins[r] = localMins[r];
            }
        }
        __m512i sums[P];
        for (int p = 0; p < P; ++p)
            sums[p] = _mm512_setzero_si512();
            // Unrolled, so the accumulators stay in their registers (GCC rotates them through copies
            // otherwise).
#pragma GCC unroll 8
        for (int k = 0; k < kQKK / 32; ++k) {
            __m512i xv[T];
            for (int t = 0; t < T; ++t)
                xv[t] = _mm512_loadu_si512(xq[t] + b * kQKK + 32 * k);
            for (int r = 0; r < R; ++r) {
                __m512i wv = _mm512_load_si512(wb[r] + 32 * k);
                // One load for T products (GCC would otherwise fold the load into each vpdpwssd).
                __asm__("" : "+v"(wv));
                for (int t = 0; t < T; ++t)
                    sums[r * T + t] = _mm512_dpwssd_epi32(sums[r * T + t], wv, xv[t]);
            }
        }
        for (int q = 0; q < Q; ++q) {
            const int pa = 2 * q;
            const int pb = 2 * q + 1 < P ? 2 * q + 1 : pa; // an odd last pair repeats (its high half unused)
            const __m512i lanes = _mm512_add_epi32(_mm512_permutex2var_epi32(sums[pa], evenLanes, sums[pb]),
                                                   _mm512_permutex2var_epi32(sums[pa], oddLanes, sums[pb]));
            // dw * dx per half, the dot product's product (a vector multiply rounds as the scalar one).
            const __m512 dws = _mm512_castpd_ps(
                _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm256_set1_ps(dw[pa / T]))),
                                   _mm256_castps_pd(_mm256_set1_ps(dw[pb / T])), 1));
            const __m512 dxs = _mm512_castpd_ps(
                _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm256_set1_ps(dx[pa % T][b]))),
                                   _mm256_castps_pd(_mm256_set1_ps(dx[pb % T][b])), 1));
            acc[q] = _mm512_fmadd_ps(_mm512_mul_ps(dws, dxs), _mm512_cvtepi32_ps(lanes), acc[q]);
        }
        if constexpr (Format::kMins) {
            // sumMins = sum_s mins[s] * (bsums[2s] + bsums[2s + 1]) for every token at once (128-bit lane t),
            // then the dot product's step minSum = fma(-dx * dmin, sumMins, minSum), lane-wise.
            __m512i pairs = _mm512_setzero_si512();
            __m512 negDx = _mm512_setzero_ps();
            for (int t = 0; t < T; ++t) {
                const auto lane = static_cast<__mmask16>(0xFu << (4 * t));
                pairs = _mm512_mask_broadcast_i32x4(
                    pairs, lane, _mm_loadu_si128(reinterpret_cast<const __m128i*>(pairSums[t] + 8 * b)));
                negDx = _mm512_mask_mov_ps(negDx, lane, _mm512_set1_ps(-dx[t][b]));
            }
            for (int r = 0; r < R; ++r) {
                __m512i m = _mm512_madd_epi16(
                    _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(mins[r]))),
                    pairs);
                m = _mm512_add_epi32(m, _mm512_shuffle_epi32(m, _MM_PERM_CDAB));
                m = _mm512_add_epi32(m, _mm512_shuffle_epi32(m, _MM_PERM_BADC));
                minAcc[r] = _mm512_fmadd_ps(_mm512_mul_ps(negDx, _mm512_set1_ps(dmin[r])),
                                            _mm512_cvtepi32_ps(m), minAcc[r]);
            }
        }
    }
    alignas(64) float minSums[Format::kMins ? R : 1][16];
    if constexpr (Format::kMins) {
        for (int r = 0; r < R; ++r)
            _mm512_store_ps(minSums[r], minAcc[r]);
    }
    for (int p = 0; p < P; ++p) {
        const __m512 a = acc[p / 2];
        const __m256 half = p % 2 ? highHalf(a) : _mm512_castps512_ps256(a);
        float v = hsumGgml(half);
        if constexpr (Format::kMins)
            v = v + minSums[p / T][4 * (p % T)];
        y[(p % T) * yStride + p / T] = v;
    }
}

template <typename Format, int R>
void k16Tokens(const K16Rows& rows, int64_t nb, const std::byte* x, size_t xStride, int64_t nTokens, float* y,
               int64_t yStride) {
    // The next rows' weights are pulled into L2 a few lines per token tile (all at once, the prefetches
    // would wait for free miss buffers), so unpacking them does not wait on memory. Prefetches never
    // fault, so running past the matrix is harmless.
    const char* next = reinterpret_cast<const char*>(rows.w + kK16PanelRows * rows.wStride);
    const int64_t lines = static_cast<int64_t>(kK16PanelRows * rows.wStride + 63) / 64;
    const int64_t tiles = nTokens / kK16TileTokens;
    const int64_t linesPerTile = rows.panel && tiles > 0 ? (lines + tiles - 1) / tiles : 0;
    int64_t t0 = 0;
    for (int64_t line = 0; t0 + kK16TileTokens <= nTokens; t0 += kK16TileTokens) {
        for (int64_t i = 0; i < linesPerTile && line < lines; ++i, ++line)
            _mm_prefetch(next + 64 * line, _MM_HINT_T1);
        k16Tile<Format, R, kK16TileTokens>(rows, nb, x + static_cast<size_t>(t0) * xStride, xStride,
                                           y + t0 * yStride, yStride);
    }
    const std::byte* xt = x + static_cast<size_t>(t0) * xStride;
    switch (nTokens - t0) {
    case 1:
        k16Tile<Format, R, 1>(rows, nb, xt, xStride, y + t0 * yStride, yStride);
        break;
    case 2:
        k16Tile<Format, R, 2>(rows, nb, xt, xStride, y + t0 * yStride, yStride);
        break;
    case 3:
        k16Tile<Format, R, 3>(rows, nb, xt, xStride, y + t0 * yStride, yStride);
        break;
    default:
        break;
    }
}

struct K16Scratch {
    ScratchBuffer panel;  // kK16PanelRows x nb x 256 int16
    ScratchBuffer scales; // kK16PanelRows x nb floats dw, then as many dmin
    ScratchBuffer mins;   // kK16PanelRows x nb x 8 int16
};
thread_local K16Scratch t_k16Scratch;

template <typename Format>
void gemmK16(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
             int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    const int64_t nb = n / kQKK;
    const auto panelBlocks = static_cast<size_t>(kK16PanelRows * nb);
    // One token tile uses each unpacked block once: no panel needed.
    K16Scratch& scratch = t_k16Scratch;
    int16_t* panel = nTokens > kK16TileTokens
                         ? scratch.panel.reserve<int16_t>(panelBlocks * kQKK * sizeof(int16_t))
                         : nullptr;
    float* scales = panel ? scratch.scales.reserve<float>(2 * panelBlocks * sizeof(float)) : nullptr;
    int16_t* mins = scales ? scratch.mins.reserve<int16_t>(panelBlocks * 8 * sizeof(int16_t)) : nullptr;
    if (!mins)
        panel = nullptr;
    using TokensFn = void (*)(const K16Rows&, int64_t, const std::byte*, size_t, int64_t, float*, int64_t);
    static constexpr TokensFn kByRows[kK16PanelRows + 1] = {
        nullptr, &k16Tokens<Format, 1>, &k16Tokens<Format, 2>, &k16Tokens<Format, 3>, &k16Tokens<Format, 4>};
    for (int64_t r0 = 0; r0 < nRows; r0 += kK16PanelRows) {
        const int rowCount = static_cast<int>(nRows - r0 < kK16PanelRows ? nRows - r0 : kK16PanelRows);
        const std::byte* wRows = w + static_cast<size_t>(r0) * wStride;
        if (panel) {
            for (int r = 0; r < rowCount; ++r) {
                const auto* blocks =
                    reinterpret_cast<const typename Format::Block*>(wRows + static_cast<size_t>(r) * wStride);
                for (int64_t b = 0; b < nb; ++b) {
                    const int64_t at = r * nb + b;
                    Format::unpack(blocks[b], panel + at * kQKK, scales[at],
                                   scales[static_cast<int64_t>(panelBlocks) + at], mins + at * 8);
                }
            }
        }
        const K16Rows rows{wRows, wStride, panel, scales, scales ? scales + panelBlocks : nullptr, mins};
        kByRows[rowCount](rows, nb, x, xStride, nTokens, y + r0, yStride);
    }
}

// ---- SwiGLU
// ------------------------------------------------------------------------------------------------

// exp on 16 lanes as llama.cpp's AVX-512 SiLU computes it (ggml_v_expf, after Arm's optimized-routines
// expf): n = round(x log2 e) via the 1.5 * 2^23 shift, r = x - n ln 2 in two parts, a degree-5 polynomial
// evaluated as (c5 b + c4) u + (c3 b + c2), times u, plus (c1 b + 1), scaled by 2^n with vscalefps; lanes
// with |n| > 192 give inf or 0. Same operations in the same order, so the same floats.
inline __m512 expGgml(__m512 x) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
    const __m512 n = _mm512_sub_ps(z, shift);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 far = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 high = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f));
    const __m512 mid = _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f));
    const __m512 low = _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f));
    const __m512 j = _mm512_fmadd_ps(_mm512_fmadd_ps(high, u, mid), u, low);
    const __m512 result = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(far, far))
        return result;
    const __m512 zero = _mm512_setzero_ps();
    const __m512 outside =
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ), _mm512_set1_ps(INFINITY), zero);
    return _mm512_mask_blend_ps(far, result, outside);
}

// x = silu(g) * x with silu(g) = g / (1 + exp(-g)), llama.cpp's order (ggml_vec_swiglu_f32).
inline __m512 siluMul(__m512 g, __m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 denominator = _mm512_add_ps(one, expGgml(_mm512_sub_ps(_mm512_setzero_ps(), g)));
    return _mm512_mul_ps(_mm512_div_ps(g, denominator), x);
}

// Whole groups of 16 on the vector path; the tail with libm's expf, as llama.cpp does.
void swiGluAvx512(const float* gate, float* x, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, siluMul(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(x + i)));
    for (; i < n; ++i)
        x[i] = (gate[i] / (1.0f + ::expf(-gate[i]))) * x[i];
}

// llama.cpp's ggml_vec_soft_max_f32 on its AVX-512 build: groups of 16 through its exp, each group's sum by
// _mm512_reduce_add_ps (the same compiler's expansion as in that build), added to a double; the tail (every
// value of a row shorter than 16, such as 8 experts' router logits) with libm.
double expSumAvx512(float* y, const float* x, int64_t n, float max) {
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 value = expGgml(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(max)));
        _mm512_storeu_ps(y + i, value);
        sum += static_cast<double>(_mm512_reduce_add_ps(value));
    }
    for (; i < n; ++i) {
        const float e = ::expf(x[i] - max);
        sum += static_cast<double>(e);
        y[i] = e;
    }
    return sum;
}

// llama.cpp's ggml_vec_dot_f32 as its AVX-512 build runs it, its F32 product where tinyBLAS (the table's
// dotF32 order: one 16-lane chain) does not run, i.e. for one token or a row length not a multiple of 16:
// four 16-lane FMA chains over steps of 64, chains 0 + 2 and 1 + 3, their sum, _mm512_reduce_add_ps. The
// tail as GCC compiled that build's `sumf += x[i] * y[i]`: products of 16 (then one group of 8) at a time,
// each rounded, added one by one; the last 0..7 with an FMA (contraction on there). Checked against the
// build's exported ggml_vec_dot_f32: 60,000 random rows of 1 to 300 values, all bit-equal.
void dotF32GgmlTile(const void* weightRow, const std::byte* x, size_t xStride, int nTokens, int64_t n,
                    float* out) {
    const auto* w = static_cast<const float*>(weightRow);
    const int64_t steps = n / 64 * 64;
    for (int t = 0; t < nTokens; ++t) {
        const auto* a = reinterpret_cast<const float*>(x + static_cast<size_t>(t) * xStride);
        __m512 sum[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t i = 0; i < steps; i += 64)
            for (int j = 0; j < 4; ++j)
                sum[j] =
                    _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16 * j), _mm512_loadu_ps(a + i + 16 * j), sum[j]);
        const __m512 folded = _mm512_add_ps(_mm512_add_ps(sum[0], sum[2]), _mm512_add_ps(sum[1], sum[3]));
        float s = _mm512_reduce_add_ps(folded);
        int64_t i = steps;
        for (; i + 16 <= n; i += 16)
            for (int64_t k = i; k < i + 16; ++k)
                s += w[k] * a[k]; // two roundings: this file is compiled with -ffp-contract=off
        if (i + 8 <= n) {
            for (int64_t k = i; k < i + 8; ++k)
                s += w[k] * a[k];
            i += 8;
        }
        for (; i < n; ++i)
            s = std::fma(w[i], a[i], s);
        out[t] = s;
    }
}

// ---- Q8_0 batches: ggml_vec_dot_q8_0_q8_0's floats, two tokens a register ---------------------------------

// Per (row, token) llama.cpp's order (its dot product and tinyBLAS_Q0 alike): per block, 8 int32 lanes of 4
// products each, times dw * dx, one FMA chain per lane, hsum_float_8 at the end (dotQ8_0Tile). Here the two
// 256-bit halves of a register carry two tokens, so one vpdpbusd, conversion, scale and FMA serve both; the
// weight block is broadcast to both halves, kRows rows x kPairs token pairs of accumulators. The integer
// lanes are exact whichever way they are formed: |w| times x negated where w < 0 (llama.cpp's sign trick;
// where w is 0 the product is 0 either way, and -(-128) wraps to -128 in both). Format::values unpacks a
// weight block to 32 signed bytes (Q8_0Weights, Q5_0Weights: the same per-(row, token) order, dotQ5_0Tile's).
template <typename Format, int kRows, int kPairs>
void signedBlockPairTile(const std::byte* w, size_t wStride, const std::byte* x, size_t xStride, int tokens,
                         int64_t nb, float* y, int64_t yStride) {
    using Block = typename Format::Block;
    const Block* rows[kRows];
    for (int r = 0; r < kRows; ++r)
        rows[r] = reinterpret_cast<const Block*>(w + wStride * static_cast<size_t>(r));
    const BlockQ8_0* acts[2 * kPairs];
    for (int t = 0; t < 2 * kPairs; ++t) // a missing last token repeats the one before; its sums are dropped
        acts[t] =
            reinterpret_cast<const BlockQ8_0*>(x + xStride * static_cast<size_t>(std::min(t, tokens - 1)));
    __m512 acc[kPairs][kRows];
    for (int p = 0; p < kPairs; ++p)
        for (int r = 0; r < kRows; ++r)
            acc[p][r] = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t b = 0; b < nb; ++b) {
        __m512i xq[kPairs];
        __m512 dx[kPairs];
        for (int p = 0; p < kPairs; ++p) {
            const BlockQ8_0& lo = acts[2 * p][b];
            const BlockQ8_0& hi = acts[2 * p + 1][b];
            xq[p] = pairOf(loadBytes(lo.qs), loadBytes(hi.qs));
            dx[p] = pairOf(_mm256_set1_ps(halfToFloat(lo.d)), _mm256_set1_ps(halfToFloat(hi.d)));
        }
        for (int r = 0; r < kRows; ++r) {
            const __m512i wq = _mm512_broadcast_i64x4(Format::values(rows[r][b]));
            const __m512i absW = _mm512_abs_epi8(wq);
            const __mmask64 negative = _mm512_movepi8_mask(wq);
            const __m512 dw = _mm512_set1_ps(halfToFloat(rows[r][b].d));
            for (int p = 0; p < kPairs; ++p) {
                const __m512i signedX = _mm512_mask_sub_epi8(xq[p], negative, zero, xq[p]);
                const __m512 sums = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, absW, signedX));
                acc[p][r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx[p]), sums, acc[p][r]);
            }
        }
    }
    for (int p = 0; p < kPairs; ++p)
        for (int r = 0; r < kRows; ++r) {
            y[(2 * p) * yStride + r] = hsumGgml(_mm512_castps512_ps256(acc[p][r]));
            if (2 * p + 1 < tokens)
                y[(2 * p + 1) * yStride + r] = hsumGgml(highHalf(acc[p][r]));
        }
}

template <typename Format, int kRows>
void signedBlockPairRows(const std::byte* w, size_t wStride, const std::byte* x, size_t xStride,
                         int64_t nTokens, int64_t nb, float* y, int64_t yStride) {
    constexpr int kPairs = 3; // 4 x 3 accumulators, 3 token pairs and their scales, one row's operands
    for (int64_t t = 0; t < nTokens; t += 2 * kPairs) {
        const int tokens = static_cast<int>(std::min<int64_t>(2 * kPairs, nTokens - t));
        const std::byte* xt = x + xStride * static_cast<size_t>(t);
        float* yt = y + t * yStride;
        using Tile =
            void (*)(const std::byte*, size_t, const std::byte*, size_t, int, int64_t, float*, int64_t);
        static constexpr Tile kTiles[kPairs + 1] = {nullptr, &signedBlockPairTile<Format, kRows, 1>,
                                                    &signedBlockPairTile<Format, kRows, 2>,
                                                    &signedBlockPairTile<Format, kRows, 3>};
        kTiles[(tokens + 1) / 2](w, wStride, xt, xStride, tokens, nb, yt, yStride);
    }
}

// GemmKernel::run for Q8_0 and Q5_0 (plain Q8_0 activation rows, as the dot products take them).
template <typename Format>
void gemmSignedBlockPairs(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x,
                          size_t xStride, int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    rowsInFours(&signedBlockPairRows<Format, 4>, &signedBlockPairRows<Format, 1>, w, wStride, nRows, x,
                xStride, nTokens, n / kQK8_0, y, yStride);
}

// ---- Q6_K batches: ggml_vec_dot_q6_K_q8_K's floats, two tokens a register ---------------------------------

// One weight row against kPairs pairs of tokens in dotQ6_KTile's order per (row, token): per super-block the
// int32 lanes of the scaled products less the -32 offset's share, then one FMA of dw * dx per lane, and
// hsum_float_8 at the end. Each half-block is unpacked once for all 2 * kPairs tokens and broadcast to both
// halves of a register, so one maddubs / madd / add serves two tokens.
template <int kPairs>
void q6_KPairRow(const BlockQ6_K* w, const std::byte* x, size_t xStride, int tokens, int64_t nb, float* y,
                 int64_t yStride) {
    const BlockQ8_K* acts[2 * kPairs];
    for (int t = 0; t < 2 * kPairs; ++t) // a missing last token repeats the one before; its sums are dropped
        acts[t] =
            reinterpret_cast<const BlockQ8_K*>(x + xStride * static_cast<size_t>(std::min(t, tokens - 1)));
    __m512 sums[kPairs];
    for (int p = 0; p < kPairs; ++p)
        sums[p] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m512i acc[kPairs];
        for (int p = 0; p < kPairs; ++p)
            acc[p] = _mm512_setzero_si512();
        for (int half = 0; half < 2; ++half) {
            __m256i q[4];
            __m256i scale[4];
            unpackQ6_KHalf(w[b], half, q, scale);
            for (int k = 0; k < 4; ++k) {
                const __m512i values = _mm512_broadcast_i64x4(q[k]);
                const __m512i scales = _mm512_broadcast_i64x4(scale[k]);
                for (int p = 0; p < kPairs; ++p) {
                    const int64_t at = 128 * half + 32 * k;
                    const __m512i xv =
                        pairOf(loadBytes(acts[2 * p][b].qs + at), loadBytes(acts[2 * p + 1][b].qs + at));
                    acc[p] =
                        _mm512_add_epi32(acc[p], _mm512_madd_epi16(_mm512_maddubs_epi16(values, xv), scales));
                }
            }
        }
        const __m512i scales16 = _mm512_broadcast_i64x4(q6_KScales16(w[b]));
        const float dw = halfToFloat(w[b].d);
        for (int p = 0; p < kPairs; ++p) {
            const BlockQ8_K& lo = acts[2 * p][b];
            const BlockQ8_K& hi = acts[2 * p + 1][b];
            const __m512i bsums = pairOf(loadBytes(lo.bsums), loadBytes(hi.bsums));
            acc[p] = _mm512_sub_epi32(acc[p], _mm512_slli_epi32(_mm512_madd_epi16(bsums, scales16), 5));
            const __m512 d = pairOf(_mm256_set1_ps(lo.d * dw), _mm256_set1_ps(hi.d * dw));
            sums[p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(acc[p]), sums[p]);
        }
    }
    for (int p = 0; p < kPairs; ++p) {
        y[(2 * p) * yStride] = hsumGgml(_mm512_castps512_ps256(sums[p]));
        if (2 * p + 1 < tokens)
            y[(2 * p + 1) * yStride] = hsumGgml(highHalf(sums[p]));
    }
}

// GemmKernel::run for Q6_K (plain Q8_K activation rows, as the dot product takes them): every row against
// tokens in groups of 8.
void gemmQ6_KPairs(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                   int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    constexpr int kPairs = 4;
    using RowTile = void (*)(const BlockQ6_K*, const std::byte*, size_t, int, int64_t, float*, int64_t);
    static constexpr RowTile kRowTiles[kPairs + 1] = {nullptr, &q6_KPairRow<1>, &q6_KPairRow<2>,
                                                      &q6_KPairRow<3>, &q6_KPairRow<4>};
    const int64_t nb = n / kQKK;
    for (int64_t r = 0; r < nRows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ6_K*>(w + wStride * static_cast<size_t>(r));
        for (int64_t t = 0; t < nTokens; t += 2 * kPairs) {
            const int tokens = static_cast<int>(std::min<int64_t>(2 * kPairs, nTokens - t));
            const std::byte* xt = x + xStride * static_cast<size_t>(t);
            float* yt = y + t * yStride + r;
            kRowTiles[(tokens + 1) / 2](row, xt, xStride, tokens, nb, yt, yStride);
        }
    }
}

// ---- Q4_K batches in llama.cpp's repacked gemm order: the lane gemm of KernelsAvx2.inc --------------------

struct Q4_KLanes {
    using Block = BlockQ4_K;
    static constexpr int kSteps = 4; // one per pair of sub-blocks
    static constexpr bool kMins = true;
    static constexpr int kSumPairs = 4;        // the sub-block sums, a pair per step
    static constexpr int kMinPairsPerStep = 1; // the step's two sub-blocks' mins
    static constexpr bool kScalesInValues = false;
    static constexpr int kScaleSlots = 1;
    static constexpr int kTileRows = 3; // 4 x 3 x 2 accumulators + operands in 32 registers
    // Prepared rows: the Q4_K strips' (prepareQ4KStrip: sub-blocks in the order 0 2 1 3 4 6 5 7, which is
    // its own inverse, then the sub-block sums and scales).
    static LaneActivation activation(const std::byte* x, size_t xStride, int64_t token, int64_t nb,
                                     int64_t b) {
        static constexpr int kOrder[8] = {0, 2, 1, 3, 4, 6, 5, 7};
        const Q4KActivation act = q4KActivation(x + static_cast<size_t>(token) * xStride, nb);
        LaneActivation a{};
        for (int k = 0; k < 8; ++k) {
            a.subBlock[k] = act.qs + b * kQKK + 32 * kOrder[k];
            a.sums[k] = act.subSums[8 * b + k];
        }
        a.d[0] = act.d[b];
        return a;
    }
    static void unpack(const Block& blk, const LaneRows& rows, int64_t at) {
        uint8_t scales[8];
        uint8_t mins[8];
        unpackQ4KScales(blk.scales, scales, mins);
        const __m256i lowMask = _mm256_set1_epi8(0x0F);
        for (int c = 0; c < 4; ++c) { // sub-block 2c: low nibbles of 32 bytes, 2c + 1: their high nibbles
            const __m256i bits = loadBytes(blk.qs + 32 * c);
            const __m256i low = _mm256_and_si256(bits, lowMask);
            const __m256i high = _mm256_and_si256(_mm256_srli_epi16(bits, 4), lowMask);
            int8_t* dst = rows.values + at * kQKK + 64 * c;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), low);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32), high);
            rows.scales[at * 8 + 2 * c] = scales[2 * c];
            rows.scales[at * 8 + 2 * c + 1] = scales[2 * c + 1];
            rows.bias[at * kLaneMaxSteps + c] =
                128 * (scales[2 * c] * byteSum(low) + scales[2 * c + 1] * byteSum(high));
            rows.minPairs[at * kLaneMinPairs + c] =
                static_cast<int32_t>(mins[2 * c] | (uint32_t{mins[2 * c + 1]} << 16));
        }
        rows.dw[at * kLaneMaxSteps] = halfToFloat(blk.d);
        rows.dmin[at] = halfToFloat(blk.dmin);
    }
};

// Q2_K in llama.cpp's repacked gemm order (quant::dotQ2_KGemm): two float steps per super-block, one per
// half (128 values, groups 8h..8h + 7). A 2-bit value times its group's 4-bit scale is at most 45, so the
// unpacked values carry their scales (one vpdpbusd chain per half, no vpmulld) and the half's 8 mins are 4
// vpmaddwd pairs against the tokens' 16-value sums (Q8_K's bsums).
struct Q2_KLanes {
    using Block = BlockQ2_K;
    static constexpr int kSteps = 2;
    static constexpr bool kMins = true;
    static constexpr int kSumPairs = 8;
    static constexpr int kMinPairsPerStep = 4;
    static constexpr bool kScalesInValues = true;
    static constexpr int kScaleSlots = 1;
    static constexpr int kTileRows = 4; // 3 x 4 x 2 accumulators + operands in 32 registers
    static LaneActivation activation(const std::byte* x, size_t xStride, int64_t token, int64_t /*nb*/,
                                     int64_t b) {
        const BlockQ8_K& blk = activationBlocks<BlockQ8_K>(x, xStride, static_cast<int>(token))[b];
        LaneActivation a{};
        for (int k = 0; k < 8; ++k)
            a.subBlock[k] = blk.qs + 32 * k;
        for (int g = 0; g < 16; ++g)
            a.sums[g] = blk.bsums[g];
        a.d[0] = blk.d;
        return a;
    }
    static void unpack(const Block& blk, const LaneRows& rows, int64_t at) {
        const __m256i three = _mm256_set1_epi8(3);
        for (int j = 0; j < 2; ++j) { // half j: values 128j.., 2-bit fields k of the bytes qs[32j..32j + 31]
            const __m256i bits = loadBytes(blk.qs + 32 * j);
            int32_t total = 0;
            for (int k = 0; k < 4; ++k) {
                // Values 0..15 of the 32 take group 8j + 2k's scale, 16..31 group 8j + 2k + 1's: a per-lane
                // table {0, s, 2s, 3s} indexed by the 2-bit value.
                const int low = blk.scales[8 * j + 2 * k] & 0xF;
                const int high = blk.scales[8 * j + 2 * k + 1] & 0xF;
                const __m256i table = _mm256_setr_epi8(
                    0, static_cast<char>(low), static_cast<char>(2 * low), static_cast<char>(3 * low), 0, 0,
                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<char>(high), static_cast<char>(2 * high),
                    static_cast<char>(3 * high), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), three);
                const __m256i scaled = _mm256_shuffle_epi8(table, q);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows.values + at * kQKK + 128 * j + 32 * k),
                                    scaled);
                total += byteSum(scaled);
            }
            rows.bias[at * kLaneMaxSteps + j] = 128 * total;
        }
        for (int c = 0; c < 8; ++c)
            rows.minPairs[at * kLaneMinPairs + c] =
                (blk.scales[2 * c] >> 4) | ((blk.scales[2 * c + 1] >> 4) << 16); // int16 pair, both >= 0
        rows.dw[at * kLaneMaxSteps] = halfToFloat(blk.d);
        rows.dmin[at] = halfToFloat(blk.dmin);
    }
};

// KernelTable::gemmQ2_KGroups: whole groups of 4 tokens in the repacked gemm's order; batches too small to
// fill the lanes (or no scratch memory) through the row-at-a-time dotQ2_KGemm tiles, the same floats.
void gemmQ2_KLanes(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                   int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    if (nTokens >= kLaneMinTokens &&
        gemmLanes<Q2_KLanes>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride))
        return;
    float out[4];
    for (int64_t r = 0; r < nRows; ++r)
        for (int64_t t0 = 0; t0 < nTokens; t0 += 4) {
            const int tile = static_cast<int>(std::min<int64_t>(4, nTokens - t0));
            dispatchTile<Q2_KGemmKernel>(w + static_cast<size_t>(r) * wStride,
                                         x + static_cast<size_t>(t0) * xStride, xStride, tile, n, out);
            for (int t = 0; t < tile; ++t)
                y[(t0 + t) * yStride + r] = out[t];
        }
}

// ---- IQ4_NL decode and small batches: eight rows a block, four rows to a register ----------------------

// dotIQ4_NL's floats (per row and token: the block's integer dot, then acc = fma(float(isum), dw * dx, acc))
// for 8 rows x kTokens tokens. Each 128-bit lane of a register holds one row's 16 nibble bytes (rows 0-3 in
// one register, 4-7 in the other), looked up as table value + 128 (unsigned: 1..241), so one vpdpbusd
// against the token's 16 activation bytes broadcast to every lane adds 64 products of 4 rows; the offset's
// share, 128 * sum(x) per block, is the same for every row and taken off once. Each row's 4 lanes fold to
// one with two permutes and a shift (integers: exact), so 8 rows share one conversion and one FMA.
template <int kTokens>
void iq4NlEightRows(const std::byte* w, size_t wStride, const BlockQ8_0* const* acts,
                    const int32_t* const* xSums, int64_t nb, float* y, int64_t yStride) {
    const BlockIQ4_NL* rows[8];
    for (int r = 0; r < 8; ++r)
        rows[r] = reinterpret_cast<const BlockIQ4_NL*>(w + wStride * static_cast<size_t>(r));
    alignas(16) static constexpr uint8_t kValuesPlus128[16] = {1,   24,  45,  63,  79,  93,  106, 118,
                                                               129, 141, 153, 166, 181, 197, 217, 241};
    const __m512i table =
        _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kValuesPlus128)));
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i evenLanes = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i oddLanes = _mm512_add_epi32(evenLanes, _mm512_set1_epi32(1));
    __m256 acc[kTokens];
    for (int t = 0; t < kTokens; ++t)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m512i packed[2];
        for (int h = 0; h < 2; ++h) {
            const BlockIQ4_NL* const* four = rows + 4 * h;
            auto nibbles = [&](int r) {
                return _mm_loadu_si128(reinterpret_cast<const __m128i*>(four[r][b].qs));
            };
            // The lane index of vinserti32x4 is an immediate: spelled out, not a loop variable.
            __m512i v = _mm512_castsi128_si512(nibbles(0));
            v = _mm512_inserti32x4(v, nibbles(1), 1);
            v = _mm512_inserti32x4(v, nibbles(2), 2);
            packed[h] = _mm512_inserti32x4(v, nibbles(3), 3);
        }
        for (int r = 0; r < 8; ++r) {
            // Decode: the same place of the next eight rows (contiguous after these), as gemmIQ4_NLEights.
            if constexpr (kTokens == 1)
                _mm_prefetch(reinterpret_cast<const char*>(rows[r] + b) + 8 * wStride, _MM_HINT_T0);
        }
        const __m512i low[2] = {_mm512_shuffle_epi8(table, _mm512_and_si512(packed[0], lowMask)),
                                _mm512_shuffle_epi8(table, _mm512_and_si512(packed[1], lowMask))};
        const __m512i high[2] = {
            _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(packed[0], 4), lowMask)),
            _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(packed[1], 4), lowMask))};
        const __m256 dw = rowScales8(rows, b, kRowsInOrder);
        for (int t = 0; t < kTokens; ++t) {
            const BlockQ8_0& xb = acts[t][b];
            const __m512i xLow =
                _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.qs)));
            const __m512i xHigh =
                _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.qs + 16)));
            const __m512i zero = _mm512_setzero_si512();
            const __m512i s0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, low[0], xLow), high[0], xHigh);
            const __m512i s1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, low[1], xLow), high[1], xHigh);
            // Lanes 4r..4r + 3 of s0 (rows 0-3) and s1 (rows 4-7): pairs, then pairs of pairs.
            const __m512i pairs = _mm512_add_epi32(_mm512_permutex2var_epi32(s0, evenLanes, s1),
                                                   _mm512_permutex2var_epi32(s0, oddLanes, s1));
            const __m256i sums = _mm512_cvtepi64_epi32(_mm512_add_epi32(pairs, _mm512_srli_epi64(pairs, 32)));
            const __m256i isum = _mm256_sub_epi32(sums, _mm256_set1_epi32(128 * xSums[t][b]));
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(halfToFloat(xb.d)));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[t]);
        }
    }
    for (int t = 0; t < kTokens; ++t)
        _mm256_storeu_ps(y + t * yStride, acc[t]);
}

thread_local ScratchBuffer t_iq4NlActivationSums;

// GemmKernel::run for IQ4_NL on the AVX-512 tables: batches that fill the lanes through the lane gemm, the
// others (decode included) eight rows at a time as above, the last 0-7 rows through the dot product. The
// same floats everywhere.
void gemmIQ4_NLAvx512(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                      int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    if (nTokens >= kLaneMinTokens && n % kQKK == 0 &&
        gemmLanes<IQ4_NLLanes>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride))
        return;
    const int64_t nb = n / kQK4_NL;
    // Each token's block sums once for all rows.
    auto* sums = t_iq4NlActivationSums.reserve<int32_t>(static_cast<size_t>(nTokens * nb) * sizeof(int32_t));
    if (!sums) {
        gemmIQ4_NLEights(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
        return;
    }
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t t = 0; t < nTokens; ++t) {
        const BlockQ8_0* blocks = activationBlocks<BlockQ8_0>(x, xStride, static_cast<int>(t));
        for (int64_t b = 0; b < nb; ++b)
            sums[t * nb + b] =
                hsumInt(_mm256_madd_epi16(_mm256_maddubs_epi16(ones, loadBytes(blocks[b].qs)), ones16()));
    }
    int64_t r = 0;
    for (; r + 8 <= nRows; r += 8) {
        const std::byte* rowGroup = w + wStride * static_cast<size_t>(r);
        for (int64_t t0 = 0; t0 < nTokens; t0 += 4) {
            const int tile = static_cast<int>(std::min<int64_t>(4, nTokens - t0));
            const BlockQ8_0* acts[4];
            const int32_t* tileSums[4];
            for (int t = 0; t < tile; ++t) {
                acts[t] = activationBlocks<BlockQ8_0>(x, xStride, static_cast<int>(t0 + t));
                tileSums[t] = sums + (t0 + t) * nb;
            }
            float* out = y + t0 * yStride + r;
            switch (tile) {
            case 1:
                iq4NlEightRows<1>(rowGroup, wStride, acts, tileSums, nb, out, yStride);
                break;
            case 2:
                iq4NlEightRows<2>(rowGroup, wStride, acts, tileSums, nb, out, yStride);
                break;
            case 3:
                iq4NlEightRows<3>(rowGroup, wStride, acts, tileSums, nb, out, yStride);
                break;
            default:
                iq4NlEightRows<4>(rowGroup, wStride, acts, tileSums, nb, out, yStride);
                break;
            }
        }
    }
    for (; r < nRows; ++r)
        for (int64_t t = 0; t < nTokens; ++t)
            dotIQ4_NLTile<1>(w + wStride * static_cast<size_t>(r), x + xStride * static_cast<size_t>(t),
                             xStride, n, y + t * yStride + r);
}

// Small IQ4_XS batches of the 16-lane gemm: the AVX-VNNI table's 8-lane one (itself falling back to the int16
// panel), or the AVX2 table's int16 panel.
GemmFn laneFallbackIQ4_XS() {
    static const GemmFn fallback =
        (cpuFeatures().avxVnni ? avxVnniKernelTableUnchecked() : avx2KernelTableUnchecked())
            .gemmIQ4_XS.runLlamaBatch;
    return fallback;
}

// runLlamaBatch for Q4_K: the full groups of 4 tokens in the repacked gemm's order, the rest as decode (the
// strips' gemv order); small batches through the strips (the same floats).
void gemmQ4_KLanes(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                   int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    const int64_t grouped = nTokens - nTokens % kStripTokens;
    if (grouped < kLaneMinTokens ||
        !gemmLanes<Q4_KLanes>(w, wStride, nRows, x, xStride, grouped, n, y, yStride)) {
        gemmStrips<Q4_KStrip>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
        return;
    }
    if (grouped < nTokens)
        gemmStrips<Q4_KStripGemv>(w, wStride, nRows, x + static_cast<size_t>(grouped) * xStride, xStride,
                                  nTokens - grouped, n, y + grouped * yStride, yStride);
}

// ---- Q4_0 and Q8_0 in 16-row strips (WeightLayout::Strips16) ----------------------------------------------
//
// cpu::packStrips lays a strip's block out as its leading F16 fields, each as the 16 rows' values (32
// bytes), then the rest of the block in 4-byte parts, each as the 16 rows' 4 bytes (64 bytes, row i in
// 32-bit lane i). A block step is then one load per field for all 16 rows and one register load per part
// in one sequential stream, and every vpdpbusd meets a broadcast of 4 activation bytes with the 16 rows in
// its lanes: no gather, no transpose-add. The block sums are exact integers and the float steps per (row,
// block) are those of the row-layout kernels (stripQ8, dotQ8_0Tile), so the results are theirs, bit for bit.
// Q4_K stays in rows: 16-row strips of it decoded 1-4% and prefilled 5% slower on an Intel Xeon without the
// AMX table and were within noise on an AMD EPYC (docs/benchmarks.md, sessions 29 and 37).

// Transposes 16 x 16 dwords: afterwards r[k] lane i holds what r[i] lane k held.
DECLAI_INLINE void transposeDwords16(__m512i (&r)[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4g + m]: 128-bit lane L holds column 4L + m of rows 4g..4g+3.
    __m512i u[16];
    for (int g = 0; g < 4; ++g) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int m = 0; m < 4; ++m) {
        const __m512i x = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x88);
        const __m512i y = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xDD);
        const __m512i z = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x88);
        const __m512i w = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xDD);
        r[m] = _mm512_shuffle_i32x4(x, z, 0x88);
        r[8 + m] = _mm512_shuffle_i32x4(x, z, 0xDD);
        r[4 + m] = _mm512_shuffle_i32x4(y, w, 0x88);
        r[12 + m] = _mm512_shuffle_i32x4(y, w, 0xDD);
    }
}

// One strip back in row layout (the inverse of cpu::packStrips) for Block (BlockQ8_0 here, with Halves
// leading F16 fields), the 4-byte parts transposed 16 at a time in registers.
template <typename Block, int Halves>
void unpackStripAvx512(const std::byte* strip, size_t rowBytes, std::byte* out) {
    constexpr int kParts = static_cast<int>((sizeof(Block) - 2 * Halves) / 4);
    const size_t blocks = rowBytes / sizeof(Block);
    for (size_t b = 0; b < blocks; ++b) {
        const char* src = reinterpret_cast<const char*>(strip) + b * kStripRows * sizeof(Block);
        char* dst = reinterpret_cast<char*>(out) + b * sizeof(Block);
        for (int h = 0; h < Halves; ++h)
            for (int i = 0; i < kStripRows; ++i)
                std::memcpy(dst + static_cast<size_t>(i) * rowBytes + 2 * h, src + 32 * h + 2 * i, 2);
        const char* parts = src + 32 * Halves;
        for (int k0 = 0; k0 < kParts; k0 += 16) {
            const int count = kParts - k0 < 16 ? kParts - k0 : 16;
            __m512i r[16];
            for (int i = 0; i < 16; ++i)
                r[i] = i < count ? _mm512_loadu_si512(parts + 64 * (k0 + i)) : _mm512_setzero_si512();
            transposeDwords16(r);
            const auto mask = static_cast<__mmask16>((1u << count) - 1u);
            for (int i = 0; i < kStripRows; ++i)
                _mm512_mask_storeu_epi32(dst + static_cast<size_t>(i) * rowBytes + 2 * Halves + 4 * k0, mask,
                                         r[i]);
        }
    }
}

// broadcast4Bytes (KernelsAvx2.inc) in 16 lanes: activation bytes p[0..3] broadcast straight from memory,
// not extracted from a register copy (which cost more instructions per block than the dot products).
DECLAI_INLINE __m512i broadcast4Bytes512(const int8_t* p) {
    return _mm512_broadcastd_epi32(_mm_loadu_si32(p));
}

// The next strip's same block, one strip ahead in the stream, into L2 a line at a time.
DECLAI_INLINE void prefetchNextStrip(const char* block, int64_t stripBytes, size_t blockBytes) {
    for (size_t line = 0; line < blockBytes; line += 64)
        _mm_prefetch(block + stripBytes + line, _MM_HINT_T1);
}

constexpr size_t kPackedQ4_0BlockBytes = kStripRows * sizeof(BlockQ4_0);

template <int T>
void packedQ4_0Strip(const std::byte* strip, int64_t nb, const StripActivation (&x)[T], float* y,
                     int64_t yStride) {
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const char* p = reinterpret_cast<const char*>(strip);
    const int64_t stripBytes = nb * static_cast<int64_t>(kPackedQ4_0BlockBytes);
    __m512 acc[T];
    for (int t = 0; t < T; ++t)
        acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, p += kPackedQ4_0BlockBytes) {
        prefetchNextStrip(p, stripBytes, kPackedQ4_0BlockBytes);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        __m512i lo[4];
        __m512i hi[4];
        for (int k = 0; k < 4; ++k) {
            const __m512i raw = _mm512_loadu_si512(p + 32 + 64 * k);
            lo[k] = _mm512_and_si512(raw, lowMask);
            hi[k] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), lowMask);
        }
        for (int t = 0; t < T; ++t) {
            const int8_t* xq = x[t].qs + 32 * b;
            // The block's integer sum, exact in any order; the correction (-8 x the activation sum) seeds
            // the first chain. One token: four chains, or the vpdpbusd latency would pace the block.
            // Several: two chains each, the tokens' chains interleaving, so fewer adds per token.
            __m512i isum;
            if constexpr (T == 1) {
                __m512i z0 =
                    _mm512_dpbusd_epi32(_mm512_set1_epi32(x[t].corr[b]), lo[0], broadcast4Bytes512(xq));
                __m512i z1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[1], broadcast4Bytes512(xq + 4));
                __m512i z2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], broadcast4Bytes512(xq + 16));
                __m512i z3 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[1], broadcast4Bytes512(xq + 20));
                z0 = _mm512_dpbusd_epi32(z0, lo[2], broadcast4Bytes512(xq + 8));
                z1 = _mm512_dpbusd_epi32(z1, lo[3], broadcast4Bytes512(xq + 12));
                z2 = _mm512_dpbusd_epi32(z2, hi[2], broadcast4Bytes512(xq + 24));
                z3 = _mm512_dpbusd_epi32(z3, hi[3], broadcast4Bytes512(xq + 28));
                isum = _mm512_add_epi32(_mm512_add_epi32(z0, z1), _mm512_add_epi32(z2, z3));
            } else {
                __m512i z0 =
                    _mm512_dpbusd_epi32(_mm512_set1_epi32(x[t].corr[b]), lo[0], broadcast4Bytes512(xq));
                __m512i z1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], broadcast4Bytes512(xq + 16));
                for (int k = 1; k < 4; ++k) {
                    z0 = _mm512_dpbusd_epi32(z0, lo[k], broadcast4Bytes512(xq + 4 * k));
                    z1 = _mm512_dpbusd_epi32(z1, hi[k], broadcast4Bytes512(xq + 16 + 4 * k));
                }
                isum = _mm512_add_epi32(z0, z1);
            }
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(x[t].dx[b]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[t]);
        }
    }
    for (int t = 0; t < T; ++t)
        _mm512_storeu_ps(y + t * yStride, acc[t]);
}

// Q4_0 strips take up to 8 tokens per pass over a strip: two dot-product chains per token leave room in
// the registers, and a node's batch of 5-8 sessions then reads each strip once.
constexpr int kQ4_0StripTokens = 8;

template <int T>
struct PackedQ4_0 {
    static void run(const std::byte* strip, const std::byte* x, size_t xStride, int64_t n, float* y,
                    int64_t yStride) {
        const int64_t nb = n / kQK8_0;
        StripActivation acts[T];
        for (int t = 0; t < T; ++t)
            acts[t] = stripActivation<true>(x + static_cast<size_t>(t) * xStride, nb);
        packedQ4_0Strip<T>(strip, nb, acts, y, yStride);
    }
};

// Q8_0: per strip and block (544 bytes) the 16 d, then 8 parts of 4 weight bytes. The row layout's decode
// is llama.cpp's ggml_vec_dot_q8_0_q8_0 order (dotQ8_0Tile): per row, 8 float lanes, lane l taking
// fma(dw * dx, float(sum of the block's values 4l..4l+3 products), acc_l) block by block, then hsum_float_8.
// Here part l's vpdpbusd gives that 4-value sum for the 16 rows at once (weights flipped to unsigned, w +
// 128, and 128 times the 4 activations' sum taken off by starting the sum there), so each (row, lane) runs
// the same float chain in its own register lane, and the horizontal sum is done across the 8 registers in
// hsum_float_8's order. Prepared rows: the plain Q8_0 blocks (what the row kernels read) and after them, per
// block, the 8 corrections -128 * (sum of 4 activations).
size_t q8_0StripPreparedBytes(int64_t n) {
    const int64_t nb = n / kQK8_0;
    return static_cast<size_t>(roundUp(nb * static_cast<int64_t>(sizeof(BlockQ8_0)), 64) +
                               roundUp(nb * 32, 64));
}

void prepareQ8_0Strip(const float* x, void* out, int64_t n) {
    const int64_t nb = n / kQK8_0;
    quantizeQ8_0Avx2(x, out, n);
    const auto* blocks = static_cast<const BlockQ8_0*>(out);
    auto* corr = reinterpret_cast<int32_t*>(static_cast<char*>(out) +
                                            roundUp(nb * static_cast<int64_t>(sizeof(BlockQ8_0)), 64));
    for (int64_t b = 0; b < nb; ++b)
        for (int l = 0; l < 8; ++l) {
            int sum = 0;
            for (int i = 0; i < 4; ++i)
                sum += blocks[b].qs[4 * l + i];
            corr[8 * b + l] = -128 * sum;
        }
}

constexpr size_t kPackedQ8_0BlockBytes = kStripRows * sizeof(BlockQ8_0);

// T tokens (1 or 2) against one strip, each (row, token) with the floats of the single-token kernel: the
// strip's weight parts are loaded once for both tokens (8 accumulators per token: llama.cpp's 8 lanes).
template <int T>
void packedQ8_0StripTile(const std::byte* strip, int64_t nb, const std::byte* x, size_t xStride, float* y,
                         int64_t yStride) {
    static_assert(T == 1 || T == 2, "8 accumulators per token: two tokens fill the registers");
    const BlockQ8_0* xb[T];
    const int32_t* corr[T];
    for (int t = 0; t < T; ++t) {
        const char* xt = reinterpret_cast<const char*>(x) + static_cast<size_t>(t) * xStride;
        xb[t] = reinterpret_cast<const BlockQ8_0*>(xt);
        corr[t] =
            reinterpret_cast<const int32_t*>(xt + roundUp(nb * static_cast<int64_t>(sizeof(BlockQ8_0)), 64));
    }
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const char* p = reinterpret_cast<const char*>(strip);
    const int64_t stripBytes = nb * static_cast<int64_t>(kPackedQ8_0BlockBytes);
    __m512 acc[T][8];
    for (int t = 0; t < T; ++t)
        for (int l = 0; l < 8; ++l)
            acc[t][l] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, p += kPackedQ8_0BlockBytes) {
        prefetchNextStrip(p, stripBytes, kPackedQ8_0BlockBytes);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        __m512 scale[T];
        for (int t = 0; t < T; ++t)
            scale[t] = _mm512_mul_ps(dw, _mm512_set1_ps(halfToFloat(xb[t][b].d)));
        for (int l = 0; l < 8; ++l) {
            const __m512i w = _mm512_xor_si512(_mm512_loadu_si512(p + 32 + 64 * l), flip);
            for (int t = 0; t < T; ++t) {
                const __m512i sum = _mm512_dpbusd_epi32(_mm512_set1_epi32(corr[t][8 * b + l]), w,
                                                        broadcast4Bytes512(xb[t][b].qs + 4 * l));
                acc[t][l] = _mm512_fmadd_ps(scale[t], _mm512_cvtepi32_ps(sum), acc[t][l]);
            }
        }
    }
    for (int t = 0; t < T; ++t) {
        // hsum_float_8: (high half + low half) lane by lane, then lanes (0 + 2) + (1 + 3).
        const __m512 h0 = _mm512_add_ps(acc[t][4], acc[t][0]);
        const __m512 h1 = _mm512_add_ps(acc[t][5], acc[t][1]);
        const __m512 h2 = _mm512_add_ps(acc[t][6], acc[t][2]);
        const __m512 h3 = _mm512_add_ps(acc[t][7], acc[t][3]);
        _mm512_storeu_ps(y + t * yStride, _mm512_add_ps(_mm512_add_ps(h0, h2), _mm512_add_ps(h1, h3)));
    }
}

// Tokens in pairs (and a last single one) through packedQ8_0StripTile, strip by strip.
void gemmPackedQ8_0Tokens(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x,
                          size_t xStride, int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    const int64_t nb = n / kQK8_0;
    for (int64_t r0 = 0; r0 + kStripRows <= nRows; r0 += kStripRows) {
        const std::byte* strip = w + static_cast<size_t>(r0) * wStride;
        int64_t t = 0;
        for (; t + 2 <= nTokens; t += 2)
            packedQ8_0StripTile<2>(strip, nb, x + static_cast<size_t>(t) * xStride, xStride,
                                   y + t * yStride + r0, yStride);
        if (t < nTokens)
            packedQ8_0StripTile<1>(strip, nb, x + static_cast<size_t>(t) * xStride, xStride,
                                   y + t * yStride + r0, yStride);
    }
}

// A strip kernel's tiles for 1..N tokens (a plain array: no std:: function template compiled with AVX-512).
using PackedTileFn = void (*)(const std::byte*, const std::byte*, size_t, int64_t, float*, int64_t);
template <size_t N>
struct PackedTiles {
    PackedTileFn byTokens[N];
};
template <template <int> class Packed, size_t... I>
constexpr PackedTiles<sizeof...(I)> packedTiles(std::index_sequence<I...>) {
    return {{&Packed<static_cast<int>(I) + 1>::run...}};
}

// GemmKernel::run for WeightLayout::Strips16: nRows a multiple of 16, w at a strip's start; strips outside,
// token tiles of up to MaxTokens inside (each token's floats are the same in any tile).
template <template <int> class Packed, int MaxTokens = kStripTokens>
void gemmPacked(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    static constexpr auto kTiles = packedTiles<Packed>(std::make_index_sequence<MaxTokens>{});
    for (int64_t r0 = 0; r0 + kStripRows <= nRows; r0 += kStripRows) {
        const std::byte* strip = w + static_cast<size_t>(r0) * wStride;
        for (int64_t t0 = 0; t0 < nTokens; t0 += MaxTokens) {
            const int64_t tokens = nTokens - t0 < MaxTokens ? nTokens - t0 : MaxTokens;
            kTiles.byTokens[tokens - 1](strip, x + static_cast<size_t>(t0) * xStride, xStride, n,
                                        y + t0 * yStride + r0, yStride);
        }
    }
}

thread_local ScratchBuffer t_unpackedStrip;

// A row-layout kernel (a prompt's own rounding: GemmKernel::runLlamaBatch) on a packed matrix: runs of up to
// kUnpackedRows rows unpacked into thread scratch first (a copy, small beside a prompt's products; long runs
// because the row kernel prepares its activation layout once per call), so the results are the row
// kernel's. Without scratch memory the strips' run kernel answers instead.
constexpr int64_t kUnpackedRows = 512;

template <typename Block, int Halves, GemmFn RowKernel, GemmFn PackedKernel>
void gemmUnpackedStrips(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                        int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    const int64_t runRows = nRows < kUnpackedRows ? nRows : kUnpackedRows;
    std::byte* rows = t_unpackedStrip.reserve<std::byte>(static_cast<size_t>(runRows) * wStride);
    if (!rows) {
        PackedKernel(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
        return;
    }
    for (int64_t r0 = 0; r0 < nRows; r0 += kUnpackedRows) {
        const int64_t count = nRows - r0 < kUnpackedRows ? nRows - r0 : kUnpackedRows;
        for (int64_t s = 0; s + kStripRows <= count; s += kStripRows)
            unpackStripAvx512<Block, Halves>(w + static_cast<size_t>(r0 + s) * wStride, wStride,
                                             rows + static_cast<size_t>(s) * wStride);
        RowKernel(rows, wStride, count, x, xStride, nTokens, n, y + r0, yStride);
    }
}

// GemmKernel::run for Q8_0 in strips: up to kQ8_0StripTokens tokens (decode, a node's batch of sessions)
// straight from the strips in pairs; larger batches (prompts) through the row layout's tiled kernel on
// unpacked runs, which reads the prepared rows' plain Q8_0 blocks (the same floats). Unpacking every pass
// made 4 sessions' decode cost what 4 single tokens do.
constexpr int kQ8_0StripTokens = 8;

template <GemmFn RowKernel>
void gemmPackedQ8_0(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                    int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    if (nTokens > kQ8_0StripTokens)
        gemmUnpackedStrips<BlockQ8_0, 1, RowKernel, &gemmPackedQ8_0Tokens>(w, wStride, nRows, x, xStride,
                                                                           nTokens, n, y, yStride);
    else
        gemmPackedQ8_0Tokens(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
}

// int16 lanes all `low` in the low 256 bits and all `high` in the high 256 bits.
inline __m512i halves16(int low, int high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(low))),
                              _mm256_set1_epi16(static_cast<short>(high)), 1);
}

// Byte-shuffle control for 8 int16 scales held in every 128-bit lane: int16 scale 2k in the low 128-bit
// lane of each 256-bit half, 2k + 1 in the high one (Q6_K's and Q3_K's 16-value scale groups).
inline __m512i scalePairPick(int k) {
    const __m128i low = _mm_set1_epi16(static_cast<short>(((4 * k + 1) << 8) | (4 * k)));
    const __m128i high = _mm_set1_epi16(static_cast<short>(((4 * k + 3) << 8) | (4 * k + 2)));
    const __m256i half = _mm256_set_m128i(high, low);
    return _mm512_inserti64x4(_mm512_castsi256_si512(half), half, 1);
}

// ---- Q5_K dot products on 512-bit registers -------------------------------------------------------------
//
// dotQ5_KTile's arithmetic with one 32-byte part per register, its low nibbles (sub-block 2j) in the low
// 256 bits and its high nibbles (sub-block 2j + 1) in the high, so that the part's 64 activations are one
// plain load and the fifth bit is a byte mask (vptestmb) and a masked add of 16. Each int32 lane's sum is
// the same exact integer as dotQ5_KTile's (sums of four byte products times a sub-block scale, added in
// another order), and the two halves are added before the block's float steps, so the 8 float lanes, the
// mins chain and the final sum are dotQ5_KTile's: bit-identical, in about half the instructions per block
// (one-token decode of Q5_K_M files spends most of its time here).
inline __m512i halves8(int low, int high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8(static_cast<char>(low))),
                              _mm256_set1_epi8(static_cast<char>(high)), 1);
}

template <int NT>
void dotQ5_KWide(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
    const auto* w = static_cast<const BlockQ5_K*>(weightRow);
    const BlockQ8_K* xs[NT];
    __m256 acc[NT];
    FmaChain summs[NT];
    for (int t = 0; t < NT; ++t) {
        xs[t] = activationBlocks<BlockQ8_K>(x, xStride, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i sixteen = _mm512_set1_epi8(16);
    const __m512i nibbleShift = halves16(0, 4);
    // Byte-shuffle controls picking int16 scale s (bytes 2s, 2s + 1 of every 128-bit lane).
    const auto pick = [](int s) { return ((2 * s + 1) << 8) | (2 * s); };
    __m512i fifthBit[4]; // part j: the qh bit of its low nibbles is bit 2j, of its high nibbles bit 2j + 1
    __m512i scalePick[4];
    for (int j = 0; j < 4; ++j) {
        fifthBit[j] = halves8(1 << (2 * j), 1 << (2 * j + 1));
        scalePick[j] = halves16(pick(2 * j), pick(2 * j + 1));
    }
    const int64_t blocks = n / kQKK;
    for (int64_t b = 0; b < blocks; ++b) {
        for (int line = 0; line < static_cast<int>(sizeof(BlockQ5_K)); line += 64)
            _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes + line, _MM_HINT_T0);
        __m256i scales16;
        __m256i mins16;
        q4KScaleVectors(w[b].scales, scales16, mins16);
        float dw;
        float dminw;
        blockScalePairToFloat(&w[b].d, dw, dminw);
        __m512i sums[NT];
        for (int t = 0; t < NT; ++t) {
            const int sumMins = hsumInt(_mm256_madd_epi16(mins16, loadBytes(xs[t][b].bsums)));
            summs[t].add(-xs[t][b].d * dminw, static_cast<float>(sumMins));
            sums[t] = _mm512_setzero_si512();
        }
        const __m512i scales = _mm512_broadcast_i64x4(scales16);
        const __m512i hbits = _mm512_broadcast_i64x4(loadBytes(w[b].qh));
        for (int j = 0; j < 4; ++j) {
            const __m512i bits = _mm512_broadcast_i64x4(loadBytes(w[b].qs + 32 * j));
            const __m512i nibbles = _mm512_and_si512(_mm512_srlv_epi16(bits, nibbleShift), lowMask);
            const __m512i q =
                _mm512_mask_add_epi8(nibbles, _mm512_test_epi8_mask(hbits, fifthBit[j]), nibbles, sixteen);
            const __m512i scale = _mm512_shuffle_epi8(scales, scalePick[j]);
            for (int t = 0; t < NT; ++t) {
                const __m512i xq = _mm512_loadu_si512(xs[t][b].qs + 64 * j);
                sums[t] = _mm512_dpwssd_epi32(sums[t], _mm512_maddubs_epi16(q, xq), scale);
            }
        }
        for (int t = 0; t < NT; ++t) {
            const __m256i sum8 =
                _mm256_add_epi32(_mm512_castsi512_si256(sums[t]), _mm512_extracti64x4_epi64(sums[t], 1));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xs[t][b].d * dw), _mm256_cvtepi32_ps(sum8), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t)
        out[t] = hsumGgml(acc[t]) + summs[t].value();
}

template <int NT>
struct Q5_KWideKernel {
    static void run(const void* w, const std::byte* x, size_t s, int64_t n, float* o) {
        dotQ5_KWide<NT>(w, x, s, n, o);
    }
};

// ---- Q6_K dot products on 512-bit registers -------------------------------------------------------------
//
// dotQ6_KTile's arithmetic with the block's two halves side by side: part k of half 0 in the low 256 bits,
// of half 1 in the high. The int32 lanes (exact sums) are added across the halves before the -32 offset and
// the float step, which stay dotQ6_KTile's: bit-identical, in about half the instructions. Besides Q6_K
// layers, this is the output head of most K-quant files (the gateway's vocabulary-sized product).
template <int NT>
void dotQ6_KWide(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
    const auto* w = static_cast<const BlockQ6_K*>(weightRow);
    const BlockQ8_K* xs[NT];
    __m256 sums[NT];
    for (int t = 0; t < NT; ++t) {
        xs[t] = activationBlocks<BlockQ8_K>(x, xStride, t);
        sums[t] = _mm256_setzero_ps();
    }
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i bits01 = _mm512_set1_epi8(0x03);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    // Part k takes int16 scale 2k in the low 128-bit lane of each half and 2k + 1 in the high one.
    const __m512i scalePick[4] = {scalePairPick(0), scalePairPick(1), scalePairPick(2), scalePairPick(3)};
    const int64_t blocks = n / kQKK;
    for (int64_t b = 0; b < blocks; ++b) {
        for (int line = 0; line < static_cast<int>(sizeof(BlockQ6_K)); line += 64)
            _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes + line, _MM_HINT_T0);
        const BlockQ6_K& blk = w[b];
        const float dw = blockScaleToFloat(blk.d);
        const __m512i ql0 = _mm512_loadu_si512(blk.ql);      // half 0: parts' low bytes, then high
        const __m512i ql1 = _mm512_loadu_si512(blk.ql + 64); // half 1
        const __m512i qlA = _mm512_shuffle_i64x2(ql0, ql1, 0x44);
        const __m512i qlB = _mm512_shuffle_i64x2(ql0, ql1, 0xEE);
        const __m512i qh = _mm512_loadu_si512(blk.qh);
        const __m512i qh2 = _mm512_srli_epi16(qh, 2);
        __m512i q[4];
        q[0] = _mm512_or_si512(_mm512_and_si512(qlA, lowMask),
                               _mm512_slli_epi16(_mm512_and_si512(qh, bits01), 4));
        q[1] = _mm512_or_si512(_mm512_and_si512(qlB, lowMask),
                               _mm512_slli_epi16(_mm512_and_si512(qh2, bits01), 4));
        q[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qlA, 4), lowMask),
                               _mm512_and_si512(qh, bits45));
        q[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qlB, 4), lowMask),
                               _mm512_and_si512(qh2, bits45));
        // Half 0's 8 scales in the two low 128-bit lanes, half 1's in the two high ones.
        const __m256i scales16 = q6_KScales16(blk);
        const __m512i scalesByHalf =
            _mm512_shuffle_i64x2(_mm512_castsi256_si512(scales16), _mm512_castsi256_si512(scales16), 0x50);
        __m512i scale[4];
        for (int k = 0; k < 4; ++k)
            scale[k] = _mm512_shuffle_epi8(scalesByHalf, scalePick[k]);
        for (int t = 0; t < NT; ++t) {
            const int8_t* q8 = xs[t][b].qs;
            const __m512i x01 = _mm512_loadu_si512(q8);       // half 0, parts 0 and 1
            const __m512i x23 = _mm512_loadu_si512(q8 + 64);  // half 0, parts 2 and 3
            const __m512i y01 = _mm512_loadu_si512(q8 + 128); // half 1
            const __m512i y23 = _mm512_loadu_si512(q8 + 192);
            const __m512i xk[4] = {_mm512_shuffle_i64x2(x01, y01, 0x44), _mm512_shuffle_i64x2(x01, y01, 0xEE),
                                   _mm512_shuffle_i64x2(x23, y23, 0x44),
                                   _mm512_shuffle_i64x2(x23, y23, 0xEE)};
            __m512i acc = _mm512_setzero_si512();
            for (int k = 0; k < 4; ++k)
                acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q[k], xk[k]), scale[k]);
            __m256i acc8 = _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
            acc8 = q6_KRemoveOffset(acc8, xs[t][b], scales16);
            sums[t] = _mm256_fmadd_ps(_mm256_set1_ps(xs[t][b].d * dw), _mm256_cvtepi32_ps(acc8), sums[t]);
        }
    }
    for (int t = 0; t < NT; ++t)
        out[t] = hsumGgml(sums[t]);
}

template <int NT>
struct Q6_KWideKernel {
    static void run(const void* w, const std::byte* x, size_t s, int64_t n, float* o) {
        dotQ6_KWide<NT>(w, x, s, n, o);
    }
};

// ---- Q3_K dot products on 512-bit registers -------------------------------------------------------------
//
// dotQ3_KTile's arithmetic with part (0, k) in the low 256 bits and part (1, k) in the high ones (the two
// 32-byte halves of qs side by side). AVX-512 has no vpsignb, so signedPairs' |q| * (x signed by q) is formed
// with an absolute value and a masked negation, which give the same bytes (x = -128 stays -128 as with
// vpsignb). The int32 lanes are the same exact sums, added across halves before the float step:
// bit-identical to dotQ3_KTile.
template <int NT>
void dotQ3_KWide(const void* weightRow, const std::byte* x, size_t xStride, int64_t n, float* out) {
    const auto* w = static_cast<const BlockQ3_K*>(weightRow);
    const BlockQ8_K* xs[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        xs[t] = activationBlocks<BlockQ8_K>(x, xStride, t);
        acc[t] = _mm256_setzero_ps();
    }
    // Part (j, k)'s high bit is hmask bit 4j + k; these shifts move it to bit 2 of the same byte (16-bit
    // shifts of at most 5: what crosses from the neighbouring byte is masked off, as in q3KValues).
    __m512i shiftLeft[4];
    __m512i shiftRight[4];
    __m512i scalePick[4];
    for (int k = 0; k < 4; ++k) {
        shiftLeft[k] = halves16(k < 2 ? 2 - k : 0, 0);
        shiftRight[k] = halves16(k < 2 ? 0 : k - 2, 2 + k);
        scalePick[k] = scalePairPick(k);
    }
    const __m512i three = _mm512_set1_epi8(3);
    const __m512i four = _mm512_set1_epi8(4);
    const __m512i zero = _mm512_setzero_si512();
    const int64_t blocks = n / kQKK;
    for (int64_t b = 0; b < blocks; ++b) {
        for (int line = 0; line < static_cast<int>(sizeof(BlockQ3_K)); line += 64)
            _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes + line, _MM_HINT_T0);
        const __m256i scales16 = q3KScales(w[b]);
        const __m512i scalesByHalf =
            _mm512_shuffle_i64x2(_mm512_castsi256_si512(scales16), _mm512_castsi256_si512(scales16), 0x50);
        const __m512i bits = _mm512_loadu_si512(w[b].qs);
        const __m512i hbits = _mm512_broadcast_i64x4(loadBytes(w[b].hmask));
        __m512i sums[NT];
        for (int t = 0; t < NT; ++t)
            sums[t] = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            const __m512i low = _mm512_and_si512(k == 0 ? bits : _mm512_srli_epi16(bits, 2 * k), three);
            const __m512i atBit2 = _mm512_srlv_epi16(_mm512_sllv_epi16(hbits, shiftLeft[k]), shiftRight[k]);
            const __m512i q = _mm512_sub_epi8(low, _mm512_andnot_si512(atBit2, four));
            const __m512i magnitude = _mm512_abs_epi8(q);
            const __mmask64 negative = _mm512_movepi8_mask(q);
            const __m512i scale = _mm512_shuffle_epi8(scalesByHalf, scalePick[k]);
            for (int t = 0; t < NT; ++t) {
                const int8_t* q8 = xs[t][b].qs + 32 * k;
                const __m512i xv =
                    _mm512_inserti64x4(_mm512_castsi256_si512(loadBytes(q8)), loadBytes(q8 + 128), 1);
                const __m512i signedX = _mm512_mask_sub_epi8(xv, negative, zero, xv);
                sums[t] = _mm512_dpwssd_epi32(sums[t], _mm512_maddubs_epi16(magnitude, signedX), scale);
            }
        }
        const float dw = blockScaleToFloat(w[b].d);
        for (int t = 0; t < NT; ++t) {
            const __m256i sum8 =
                _mm256_add_epi32(_mm512_castsi512_si256(sums[t]), _mm512_extracti64x4_epi64(sums[t], 1));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xs[t][b].d * dw), _mm256_cvtepi32_ps(sum8), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t)
        out[t] = hsumGgml(acc[t]);
}

template <int NT>
struct Q3_KWideKernel {
    static void run(const void* w, const std::byte* x, size_t s, int64_t n, float* o) {
        dotQ3_KWide<NT>(w, x, s, n, o);
    }
};

KernelTable makeAvx512Table() {
    KernelTable t = avx512BaseKernelTable();
    t.dotF32Ggml = &dotF32GgmlTile;
    t.llamaSgemmF32Lanes = 16;
    t.name = "avx512";
    t.swiGlu = &swiGluAvx512;
    t.expSumGgml = &expSumAvx512;
    // F16, Q8_0 and Q6_K keep llama.cpp's own per-(row, token) arithmetic in batches too (parity at long
    // generations needs the same floats): F16 prompt batches (BatchRounding::LlamaCpp) its tinyBLAS order
    // through the base table's gemmF16Sgemm (16 lanes here), Q8_0 and Q6_K batches of 2+ tokens the dot
    // product's order, two tokens a register.
    t.gemmQ8_0 = {&gemmSignedBlockPairs<Q8_0Weights>, &quantizeQ8_0Avx2, &q8_0RowBytes, 2};
    t.stripsQ8_0 = {&gemmPackedQ8_0<&gemmSignedBlockPairs<Q8_0Weights>>, &prepareQ8_0Strip,
                    &q8_0StripPreparedBytes, 1};
    t.gemmQ5_0 = {&gemmSignedBlockPairs<Q5_0Weights>, &quantizeQ8_0Avx2, &q8_0RowBytes, 2};
    t.gemmQ6_K = {&gemmQ6_KPairs, &quantizeQ8_KAvx2, &q8KRowBytes, 2};
    t.gemmQ4_0 = {&gemmStrip<true>, &prepareStrip<true>, &stripPreparedBytes<true>, 1};
    t.stripsQ4_0 = {&gemmPacked<PackedQ4_0, kQ4_0StripTokens>, &prepareStrip<true>, &stripPreparedBytes<true>,
                    1};
    // LlamaCpp batches: the full groups of 4 tokens through the int8 lane gemm (12+ such tokens; the strips'
    // pair order below that), the rest in the strips' gemv order.
    t.gemmQ4_K = {&gemmStrips<Q4_KStripGemv>, &prepareQ4KStrip, &q4KStripPreparedBytes, 1, &gemmQ4_KLanes};
    // IQ4_XS: the AVX2 (or AVX-VNNI) table's int16 panel gemm, not gemmK16, for decode rounding (both give
    // the dot product's bits). Under BatchRounding::LlamaCpp (the product's) a batch of 8+ tokens takes
    // llama.cpp's IQ panel order: gemmIQ4_XSLanes (int8, 16 tokens a register; small batches through
    // laneFallbackIQ4_XS), 2x the int16 panel's prefill speed here.
    t.gemmIQ4_XS = cpuFeatures().avxVnni ? avxVnniKernelTableUnchecked().gemmIQ4_XS
                                         : avx2KernelTableUnchecked().gemmIQ4_XS;
    t.gemmIQ4_XS.runLlamaBatch = &gemmIQ4_XSLanes;
    t.dotQ5_K = &dispatchTile<Q5_KWideKernel>;
    t.dotQ6_K = &dispatchTile<Q6_KWideKernel>;
    t.dotQ3_K = &dispatchTile<Q3_KWideKernel>;
    t.gemmQ5_K = {&gemmK16<Q5_KPanel>, &prepareK16, &k16PreparedBytes, kK16MinTokens};
    t.gemmQ2_KGroups = &gemmQ2_KLanes;
    t.gemmIQ4_NL.run = &gemmIQ4_NLAvx512;
    return t;
}

// ---- AMX int8 tiles for Q4_0 batches ----------------------------------------------------------------------
//
// With 16 or more tokens, full 16-row x 16-token tiles go through the AMX tile unit: one TDPBSSD per block
// gives the 256 exact block sums, and the float step per block is the strip kernels' (fma of the sum with
// dw * dx onto the running value), so the results are bit-identical to the strips and to decode. Q4_0
// weights in the row layout are unpacked to signed bytes once per strip. Tokens and rows outside full tiles
// use the strip kernels. (Q8_0 batches keep llama.cpp's dot-product order for parity, not the tiles.)

struct AmxTileConfig {
    uint8_t palette;
    uint8_t startRow;
    uint8_t reserved[14];
    uint16_t colsBytes[16];
    uint8_t rows[16];
};
constexpr int kAmxTokens = 16;

// GCC 12's tile intrinsics are asm statements that do not tell the compiler which memory they read
// (_tile_loadconfig names 8 bytes of the configuration, _tile_loadd none of the tile data), so stores
// feeding them may be dropped or moved past them (seen here: all-zero products). These two read through
// a "memory" clobber; all tile loads and configurations go through them.
#define DECLAI_TILE_LOAD(tile, base, stride)                                                                 \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #tile ::"r"(static_cast<const void*>(base)),               \
                     "r"(static_cast<long>(stride))                                                          \
                     : "memory")
inline void loadTileConfig(const void* config) {
    __asm__ volatile("ldtilecfg (%0)" ::"r"(config) : "memory");
}
// The functions that fill tile buffers and those that tile-load them are also kept out of interprocedural
// analysis: with them inlined or summarised, GCC 12 dropped the packing of the activation tiles entirely
// (its summaries do not see the tile loads as reads), which the tests caught as all-zero products.
#if defined(__clang__) // clang has no noipa (the GCC 12 problem above is GCC's); keep them out of line
#define DECLAI_TILE_FUNCTION __attribute__((noinline))
#else
#define DECLAI_TILE_FUNCTION __attribute__((noipa))
#endif
constexpr int64_t kAmxBTileBytes = 8 * 64; // one block: 8 rows (4 values each) x 16 tokens

// Tiles 0-3: C, 16 x 16 int32; tiles 4 and 6: A, 16 weight rows x 32 bytes (one block); tiles 5 and 7: B, one
// block of 16 tokens in the 4-byte interleaved layout TDPBSSD expects.
void configureAmxTiles() {
    AmxTileConfig config;
    std::memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int i = 0; i < 4; ++i) { // C: 16 x 16 int32
        config.colsBytes[i] = 64;
        config.rows[i] = 16;
    }
    for (int i = 4; i < 8; i += 2) {
        config.colsBytes[i] = 32; // A: 16 weight rows x one block
        config.rows[i] = 16;
        config.colsBytes[i + 1] = 64; // B: one block of 16 tokens, 4 values a row
        config.rows[i + 1] = 8;
    }
    loadTileConfig(&config);
}

struct AmxScratch {
    ScratchBuffer bTiles;  // groups x nb x kAmxBTileBytes
    ScratchBuffer dx;      // groups x nb x 16 floats
    ScratchBuffer weights; // one strip unpacked, 16 x n bytes
    ScratchBuffer dw;      // nb x 16 floats
};
thread_local AmxScratch t_amxScratch;

struct AmxViews {
    int8_t* bTiles = nullptr;
    float* dx = nullptr;
    int8_t* weights = nullptr;
    float* dw = nullptr;
    bool ok() const { return bTiles && dx && weights && dw; }
};

// B tiles of one 16-token group: tile row j holds values 4j..4j+3 of each token, token after token.
DECLAI_TILE_FUNCTION void packAmxGroup(const std::byte* x, size_t xStride, int64_t nb, int8_t* bTiles,
                                       float* dx) {
    for (int t = 0; t < kAmxTokens; ++t) {
        const StripActivation act = stripActivation<true>(x + static_cast<size_t>(t) * xStride, nb);
        for (int64_t b = 0; b < nb; ++b) {
            uint32_t words[8];
            std::memcpy(words, act.qs + 32 * b, 32);
            auto* tile = reinterpret_cast<uint32_t*>(bTiles + kAmxBTileBytes * b);
            for (int j = 0; j < 8; ++j)
                tile[kAmxTokens * j + t] = words[j];
            dx[kAmxTokens * b + t] = act.dx[b];
        }
    }
}

// Q4_0 strip unpacked to signed bytes (value - 8), 16 rows of n bytes.
void unpackQ4_0Strip(const std::byte* w, size_t wStride, int64_t nb, int8_t* out, int64_t n) {
    const __m128i lowMask = _mm_set1_epi8(0x0F);
    const __m256i eight = _mm256_set1_epi8(8);
    for (int r = 0; r < kStripRows; ++r) {
        const auto* blocks = reinterpret_cast<const BlockQ4_0*>(w + static_cast<size_t>(r) * wStride);
        int8_t* dst = out + r * n;
        for (int64_t b = 0; b < nb; ++b) {
            const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[b].qs));
            const __m256i v =
                _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), lowMask), _mm_and_si128(raw, lowMask));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * b), _mm256_sub_epi8(v, eight));
        }
    }
}

// The 16 x 16 accumulators of a tile (lanes = tokens) into y (tokens x rows).
DECLAI_INLINE void storeTileTransposed(const __m512 (&acc)[kStripRows], float* y, int64_t yStride) {
    alignas(64) float out[kStripRows][kAmxTokens];
    for (int r = 0; r < kStripRows; ++r)
        _mm512_store_ps(out[r], acc[r]);
    for (int t = 0; t < kAmxTokens; ++t)
        for (int r = 0; r < kStripRows; ++r)
            y[t * yStride + r] = out[r][t];
}

// acc[r] (lanes = tokens) = fma(float(block sum), dw[r] * dx, acc[r]): the strips' float step.
template <int Rows>
DECLAI_INLINE void scaleAmxSums(const int32_t (*sums)[kAmxTokens], const float* dx, const float* dw,
                                __m512 (&acc)[Rows]) {
    const __m512 dxv = _mm512_loadu_ps(dx);
    for (int r = 0; r < Rows; ++r) {
        const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(dw[r]), dxv);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums[r])), scale, acc[r]);
    }
}

// A tile load whose tile number is a template argument, for the block driver below.
template <int Tile>
DECLAI_INLINE void tileLoad(const void* base, size_t stride) {
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(base), "r"(static_cast<long>(stride)), "i"(Tile)
                     : "memory");
}

// The block loop of the Q4_0 tile drivers (rows, strips): four blocks in flight (C tiles 0-3; A/B pairs 4/5
// and 6/7 each used twice), so the tile unit works on the next blocks while earlier sums are stored and
// scaled, in block order. bTiles: one B tile per block; loadA(tile, block) tile-loads block's A operand into
// `tile` (std::integral_constant 4 or 6); scale(sums, block) takes the block's 16 x 16 int32 sums.
template <typename LoadA, typename Scale>
DECLAI_INLINE void amxBlocks(int64_t nb, const int8_t* bTiles, const NextStripPrefetch& prefetch,
                             int64_t firstStep, LoadA&& loadA, Scale&& scale) {
    const std::integral_constant<int, 4> a0;
    const std::integral_constant<int, 6> a1;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        prefetch.step(firstStep + b / 4);
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        loadA(a0, b);
        DECLAI_TILE_LOAD(5, bTiles + kAmxBTileBytes * b, 64);
        _tile_dpbssd(0, 4, 5);
        loadA(a1, b + 1);
        DECLAI_TILE_LOAD(7, bTiles + kAmxBTileBytes * (b + 1), 64);
        _tile_dpbssd(1, 6, 7);
        loadA(a0, b + 2);
        DECLAI_TILE_LOAD(5, bTiles + kAmxBTileBytes * (b + 2), 64);
        _tile_dpbssd(2, 4, 5);
        loadA(a1, b + 3);
        DECLAI_TILE_LOAD(7, bTiles + kAmxBTileBytes * (b + 3), 64);
        _tile_dpbssd(3, 6, 7);
        alignas(64) int32_t sums[4][16][16];
        _tile_stored(0, sums[0], 64);
        scale(sums[0], b);
        _tile_stored(1, sums[1], 64);
        scale(sums[1], b + 1);
        _tile_stored(2, sums[2], 64);
        scale(sums[2], b + 2);
        _tile_stored(3, sums[3], 64);
        scale(sums[3], b + 3);
    }
    for (; b < nb; ++b) {
        _tile_zero(0);
        loadA(a0, b);
        DECLAI_TILE_LOAD(5, bTiles + kAmxBTileBytes * b, 64);
        _tile_dpbssd(0, 4, 5);
        alignas(64) int32_t sums[16][16];
        _tile_stored(0, sums, 64);
        scale(sums, b);
    }
}

DECLAI_TILE_FUNCTION void amxStrip(const std::byte* wStrip, size_t wStride, int64_t nb, int64_t n,
                                   int64_t groups, const AmxViews& s, float* y, int64_t yStride) {
    constexpr size_t blockBytes = sizeof(BlockQ4_0);
    alignas(64) int offsets[kStripRows];
    for (int i = 0; i < kStripRows; ++i)
        offsets[i] = static_cast<int>(static_cast<size_t>(i) * wStride);
    const __m512i gatherIdx = _mm512_load_si512(offsets);
    for (int64_t b = 0; b < nb; ++b) {
        const __m512i dBits =
            _mm512_i32gather_epi32(gatherIdx, wStrip + blockBytes * static_cast<size_t>(b), 1);
        _mm512_store_ps(s.dw + kStripRows * b, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dBits)));
    }
    unpackQ4_0Strip(wStrip, wStride, nb, s.weights, n);
    // The next strip's weights come in from memory while this one is in the tile unit.
    const int64_t stepsPerGroup = nb / 4 > 0 ? nb / 4 : 1;
    const NextStripPrefetch prefetch(wStrip, wStride, groups * stepsPerGroup);
    for (int64_t g = 0; g < groups; ++g) {
        __m512 acc[kStripRows];
        for (int r = 0; r < kStripRows; ++r)
            acc[r] = _mm512_setzero_ps();
        const int8_t* bTiles = s.bTiles + kAmxBTileBytes * nb * g;
        const float* dx = s.dx + kAmxTokens * nb * g;
        amxBlocks(
            nb, bTiles, prefetch, g * stepsPerGroup,
            [&](auto tile, int64_t block) DECLAI_INLINE_LAMBDA {
                tileLoad<decltype(tile)::value>(s.weights + 32 * block, static_cast<size_t>(n));
            },
            [&](const int32_t(*sums)[kAmxTokens], int64_t block) DECLAI_INLINE_LAMBDA {
                scaleAmxSums<kStripRows>(sums, dx + kAmxTokens * block, s.dw + kStripRows * block, acc);
            });
        storeTileTransposed(acc, y + g * kAmxTokens * yStride, yStride);
    }
}

// What the 16 x 16 tiles leave of a matmul (rows past the last full strip, tokens past the last full
// group) goes through the strip kernels, which give the same bits.
void stripEdges(GemmFn strips, const std::byte* w, size_t wStride, int64_t nRows, int64_t fullRows,
                const std::byte* x, size_t xStride, int64_t nTokens, int64_t tiledTokens, int64_t n, float* y,
                int64_t yStride) {
    if (fullRows < nRows)
        strips(w + static_cast<size_t>(fullRows) * wStride, wStride, nRows - fullRows, x, xStride, nTokens, n,
               y + fullRows, yStride);
    if (tiledTokens < nTokens)
        strips(w, wStride, fullRows, x + static_cast<size_t>(tiledTokens) * xStride, xStride,
               nTokens - tiledTokens, n, y + tiledTokens * yStride, yStride);
}

void gemmAmxQ4_0(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                 int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    const int64_t groups = nTokens / kAmxTokens;
    const int64_t fullRows = nRows / kStripRows * kStripRows;
    const int64_t nb = n / kQK8_0;
    AmxViews s;
    if (groups > 0 && fullRows > 0) {
        AmxScratch& scratch = t_amxScratch;
        s.bTiles = scratch.bTiles.reserve<int8_t>(static_cast<size_t>(groups * nb * kAmxBTileBytes));
        s.dx = scratch.dx.reserve<float>(static_cast<size_t>(groups * nb * kAmxTokens) * sizeof(float));
        s.weights = scratch.weights.reserve<int8_t>(static_cast<size_t>(kStripRows * n));
        s.dw = scratch.dw.reserve<float>(static_cast<size_t>(nb * kStripRows) * sizeof(float));
    }
    if (!s.ok()) { // nothing for the tiles (or no memory for them): the strips do it all
        gemmStrip<true>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
        return;
    }
    for (int64_t g = 0; g < groups; ++g)
        packAmxGroup(x + static_cast<size_t>(g * kAmxTokens) * xStride, xStride, nb,
                     s.bTiles + kAmxBTileBytes * nb * g, s.dx + kAmxTokens * nb * g);
    configureAmxTiles();
    for (int64_t r0 = 0; r0 < fullRows; r0 += kStripRows)
        amxStrip(w + static_cast<size_t>(r0) * wStride, wStride, nb, n, groups, s, y + r0, yStride);
    _tile_release();
    stripEdges(&gemmStrip<true>, w, wStride, nRows, fullRows, x, xStride, nTokens, groups * kAmxTokens, n, y,
               yStride);
}

// ---- AMX for Q4_0 matrices in strips ----------------------------------------------------------------------
//
// WeightLayout::Strips16 keeps 4 bytes of each of a strip's 16 rows side by side, which is the layout of
// TDPBSSD's B operand (tile row j: 4 bytes of each of 16 columns). So here the weights are B, a strip's 16
// rows as its columns (rows 0-3 of a block's tile: the low nibbles of parts 0-3 minus 8, rows 4-7 the high
// nibbles), unpacked once per strip without a transpose, and 16 tokens' activation blocks are A, tile-loaded
// straight from the prepared rows. C holds token x row block sums (exact integers); the float step per (row,
// token) is the strips' (fma of the sum with dw * dx onto the running value), so the results are
// bit-identical to decode from the same strips.
struct AmxPackedScratch {
    ScratchBuffer bTiles; // nb x kAmxBTileBytes: one strip's weights
    ScratchBuffer dw;     // nb x 16 floats
};
thread_local AmxPackedScratch t_amxPackedScratch;

DECLAI_TILE_FUNCTION void unpackPackedQ4_0Strip(const std::byte* strip, int64_t nb, int8_t* bTiles,
                                                float* dw) {
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i eight = _mm512_set1_epi8(8);
    for (int64_t b = 0; b < nb; ++b) {
        const char* block =
            reinterpret_cast<const char*>(strip) + kPackedQ4_0BlockBytes * static_cast<size_t>(b);
        _mm512_storeu_ps(dw + kStripRows * b,
                         _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block))));
        int8_t* tile = bTiles + kAmxBTileBytes * b;
        for (int k = 0; k < 4; ++k) {
            const __m512i part = _mm512_loadu_si512(block + 32 + 64 * k);
            _mm512_storeu_si512(tile + 64 * k, _mm512_sub_epi8(_mm512_and_si512(part, lowMask), eight));
            _mm512_storeu_si512(
                tile + 64 * (4 + k),
                _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(part, 4), lowMask), eight));
        }
    }
}

// acc[t] (lanes = rows) = fma(float(block sum), dw * dx[t], acc[t]).
DECLAI_INLINE void scaleAmxTokenSums(const int32_t (*sums)[kStripRows], const float* dw,
                                     const float* const* dx, int64_t b, __m512 (&acc)[kAmxTokens]) {
    const __m512 dwv = _mm512_loadu_ps(dw);
    for (int t = 0; t < kAmxTokens; ++t) {
        const __m512 scale = _mm512_mul_ps(dwv, _mm512_set1_ps(dx[t][b]));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums[t])), scale, acc[t]);
    }
}

DECLAI_TILE_FUNCTION void amxPackedQ4_0Strip(const std::byte* strip, size_t wStride, const int8_t* bTiles,
                                             const float* dw, int64_t nb, const std::byte* x, size_t xStride,
                                             int64_t groups, float* y, int64_t yStride) {
    const int64_t stepsPerGroup = nb / 4 > 0 ? nb / 4 : 1;
    const NextStripPrefetch prefetch(strip, wStride, groups * stepsPerGroup);
    for (int64_t g = 0; g < groups; ++g) {
        const std::byte* xg = x + static_cast<size_t>(g * kAmxTokens) * xStride;
        const float* dx[kAmxTokens];
        for (int t = 0; t < kAmxTokens; ++t)
            dx[t] = stripActivation<true>(xg + static_cast<size_t>(t) * xStride, nb).dx;
        const int8_t* a = stripActivation<true>(xg, nb).qs; // token t's block b at a + t * xStride + 32 * b
        __m512 acc[kAmxTokens];
        for (int t = 0; t < kAmxTokens; ++t)
            acc[t] = _mm512_setzero_ps();
        amxBlocks(
            nb, bTiles, prefetch, g * stepsPerGroup,
            [&](auto tile, int64_t block)
                DECLAI_INLINE_LAMBDA { tileLoad<decltype(tile)::value>(a + 32 * block, xStride); },
            [&](const int32_t(*sums)[kStripRows], int64_t block)
                DECLAI_INLINE_LAMBDA { scaleAmxTokenSums(sums, dw + kStripRows * block, dx, block, acc); });
        for (int t = 0; t < kAmxTokens; ++t)
            _mm512_storeu_ps(y + (g * kAmxTokens + t) * yStride, acc[t]);
    }
}

// GemmKernel::run for Q4_0 strips on the AMX table: full groups of 16 tokens through the tiles, the tokens
// after them (and batches without scratch memory) through the strips' own kernel.
void gemmAmxPackedQ4_0(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                       int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    const int64_t groups = nTokens / kAmxTokens;
    const int64_t nb = n / kQK8_0;
    int8_t* bTiles = nullptr;
    float* dw = nullptr;
    if (groups > 0) {
        bTiles = t_amxPackedScratch.bTiles.reserve<int8_t>(static_cast<size_t>(nb * kAmxBTileBytes));
        dw = t_amxPackedScratch.dw.reserve<float>(static_cast<size_t>(nb * kStripRows) * sizeof(float));
    }
    constexpr GemmFn strips = &gemmPacked<PackedQ4_0, kQ4_0StripTokens>;
    if (!bTiles || !dw) {
        strips(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
        return;
    }
    configureAmxTiles();
    for (int64_t r0 = 0; r0 + kStripRows <= nRows; r0 += kStripRows) {
        const std::byte* strip = w + static_cast<size_t>(r0) * wStride;
        unpackPackedQ4_0Strip(strip, nb, bTiles, dw);
        amxPackedQ4_0Strip(strip, wStride, bTiles, dw, nb, x, xStride, groups, y + r0, yStride);
    }
    _tile_release();
    const int64_t tiled = groups * kAmxTokens;
    if (tiled < nTokens)
        strips(w, wStride, nRows, x + static_cast<size_t>(tiled) * xStride, xStride, nTokens - tiled, n,
               y + tiled * yStride, yStride);
}

// ---- AMX for Q4_K batches
// -----------------------------------------------------------------------------------
//
// The strip kernel's per-super-block integers, from three tile products over the 256 values (K = 4 x 64):
//   scaled = sum_i (q_i * (sc & 7)) x_i + 8 * sum_i (q_i * (sc >> 3)) x_i     (= sum_j sc_j * S_j, exact)
//   minSum = sum_i m_j(i) x_i                                                 (= sum_j m_j * sum(x in j))
// Each weight byte product stays below 128 (q <= 15, the scale pieces <= 7, m <= 63), so all three are
// signed-byte tiles. One 16-bit multiply forms two byte products at once: with q <= 15 and s <= 7 the low
// byte's product cannot carry into the high byte. The float step per super-block is the strip's.

constexpr int64_t kAmxChunkValues = 64;
constexpr int64_t kAmxChunkTileBytes = 16 * 64; // B tile of one chunk: 16 rows (4 values x 16 tokens)

// Seven 16 x 64-byte tiles. Q4_K: 0-2 C (scaled low, scaled high, mins), 3-5 the matching A tiles, 6 B;
// Q6_K: 0-1 C (low, high parts), 3-4 A, 6 B.
void configureAmxTiles64() {
    AmxTileConfig config;
    std::memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int i = 0; i < 7; ++i) {
        config.colsBytes[i] = 64;
        config.rows[i] = 16;
    }
    loadTileConfig(&config);
}

struct Q4KAmxScratch {
    ScratchBuffer bTiles;   // groups x (n / 64) x kAmxChunkTileBytes
    ScratchBuffer xd;       // groups x nb x 16 floats
    ScratchBuffer aWeights; // 3 x 16 x n bytes: low scale pieces, high pieces, mins
    ScratchBuffer dScales;  // 2 x nb x 16 floats: d, dmin
};
thread_local Q4KAmxScratch t_q4KAmxScratch;

DECLAI_TILE_FUNCTION void packAmxGroupQ4K(const std::byte* x, size_t xStride, int64_t nb, int8_t* bTiles,
                                          float* xd) {
    for (int t = 0; t < kAmxTokens; ++t) {
        const Q4KActivation act = q4KActivation(x + static_cast<size_t>(t) * xStride, nb);
        for (int64_t c = 0; c < nb * kQKK / kAmxChunkValues; ++c) {
            uint32_t words[16];
            std::memcpy(words, act.qs + kAmxChunkValues * c, sizeof words);
            auto* tile = reinterpret_cast<uint32_t*>(bTiles + kAmxChunkTileBytes * c);
            for (int j = 0; j < 16; ++j)
                tile[kAmxTokens * j + t] = words[j];
        }
        for (int64_t b = 0; b < nb; ++b)
            xd[kAmxTokens * b + t] = act.d[b];
    }
}

// One strip's weights as the three byte matrices (in the activations' sub-block order) and its scales.
DECLAI_TILE_FUNCTION void unpackQ4KStripForAmx(const std::byte* wStrip, size_t wStride, int64_t nb, int64_t n,
                                               int8_t* aLow, int8_t* aHigh, int8_t* aMin, float* dw,
                                               float* dminw) {
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i seven = _mm512_set1_epi16(7);
    const __m512i byteOnes = _mm512_set1_epi16(0x0101);
    const __m512i scaleIdx[4] = {q4KScalePairIndex(0, 2), q4KScalePairIndex(1, 3), q4KScalePairIndex(4, 6),
                                 q4KScalePairIndex(5, 7)};
    for (int r = 0; r < kStripRows; ++r) {
        const auto* blocks = reinterpret_cast<const BlockQ4_K*>(wStrip + static_cast<size_t>(r) * wStride);
        for (int64_t b = 0; b < nb; ++b) {
            const BlockQ4_K& blk = blocks[b];
            uint64_t s64 = 0;
            uint64_t m64 = 0;
            unpackQ4KScaleBytes(blk.scales, s64, m64);
            const __m512i scales16 =
                _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(s64))));
            const __m512i mins16 =
                _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(m64))));
            for (int k = 0; k < 2; ++k) {
                const __m512i raw = _mm512_loadu_si512(blk.qs + 64 * k);
                const __m512i nibbles[2] = {_mm512_and_si512(raw, lowMask),
                                            _mm512_and_si512(_mm512_srli_epi16(raw, 4), lowMask)};
                for (int half = 0; half < 2; ++half) {
                    const __m512i sc = _mm512_permutexvar_epi16(scaleIdx[2 * k + half], scales16);
                    const __m512i m = _mm512_permutexvar_epi16(scaleIdx[2 * k + half], mins16);
                    const int64_t offset = r * n + b * kQKK + 128 * k + 64 * half;
                    _mm512_storeu_si512(aLow + offset,
                                        _mm512_mullo_epi16(nibbles[half], _mm512_and_si512(sc, seven)));
                    _mm512_storeu_si512(aHigh + offset,
                                        _mm512_mullo_epi16(nibbles[half], _mm512_srli_epi16(sc, 3)));
                    _mm512_storeu_si512(aMin + offset, _mm512_mullo_epi16(byteOnes, m));
                }
            }
            dw[kStripRows * b + r] = halfToFloat(blk.d);
            dminw[kStripRows * b + r] = halfToFloat(blk.dmin);
        }
    }
}

DECLAI_TILE_FUNCTION void amxStripQ4K(int64_t nb, int64_t n, int64_t groups, const int8_t* bTilesAll,
                                      const float* xdAll, const int8_t* aLow, const int8_t* aHigh,
                                      const int8_t* aMin, const float* dw, const float* dminw, float* y,
                                      int64_t yStride) {
    const int64_t chunks = nb * kQKK / kAmxChunkValues;
    for (int64_t g = 0; g < groups; ++g) {
        const int8_t* bTiles = bTilesAll + kAmxChunkTileBytes * chunks * g;
        const float* xd = xdAll + kAmxTokens * nb * g;
        __m512 sums[kStripRows];
        __m512 minAcc[kStripRows];
        for (int r = 0; r < kStripRows; ++r) {
            sums[r] = _mm512_setzero_ps();
            minAcc[r] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < nb; ++b) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            for (int64_t c = 4 * b; c < 4 * b + 4; ++c) {
                DECLAI_TILE_LOAD(6, bTiles + kAmxChunkTileBytes * c, 64);
                DECLAI_TILE_LOAD(3, aLow + kAmxChunkValues * c, n);
                _tile_dpbssd(0, 3, 6);
                DECLAI_TILE_LOAD(4, aHigh + kAmxChunkValues * c, n);
                _tile_dpbssd(1, 4, 6);
                DECLAI_TILE_LOAD(5, aMin + kAmxChunkValues * c, n);
                _tile_dpbssd(2, 5, 6);
            }
            alignas(64) int32_t low[kStripRows][kAmxTokens];
            alignas(64) int32_t high[kStripRows][kAmxTokens];
            alignas(64) int32_t mins[kStripRows][kAmxTokens];
            _tile_stored(0, low, 64);
            _tile_stored(1, high, 64);
            _tile_stored(2, mins, 64);
            const __m512 xdv = _mm512_loadu_ps(xd + kAmxTokens * b);
            for (int r = 0; r < kStripRows; ++r) {
                const __m512i scaled = _mm512_add_epi32(_mm512_load_si512(low[r]),
                                                        _mm512_slli_epi32(_mm512_load_si512(high[r]), 3));
                const __m512 d = _mm512_mul_ps(_mm512_set1_ps(dw[kStripRows * b + r]), xdv);
                const __m512 dmin = _mm512_mul_ps(_mm512_set1_ps(dminw[kStripRows * b + r]), xdv);
                sums[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(scaled), d, sums[r]);
                minAcc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(mins[r])), dmin, minAcc[r]);
            }
        }
        for (int r = 0; r < kStripRows; ++r)
            sums[r] = _mm512_sub_ps(sums[r], minAcc[r]);
        storeTileTransposed(sums, y + g * kAmxTokens * yStride, yStride);
    }
}

// ---- AMX for Q6_K batches
// -----------------------------------------------------------------------------------
//
// The strip kernel's exact isum = sum_i sc_j(i) * (q_i - 32) * x_i from two tile products: each product
// v = sc * (q - 32) (|v| <= 4096) is split as v = 128 * (v >> 7) + (v & 127), both parts signed bytes.

struct Q6KAmxScratch {
    ScratchBuffer bTiles;   // groups x (n / 64) x kAmxChunkTileBytes
    ScratchBuffer xd;       // groups x nb x 16 floats
    ScratchBuffer aWeights; // 2 x 16 x n bytes: low and high parts
    ScratchBuffer dScales;  // nb x 16 floats
};
thread_local Q6KAmxScratch t_q6KAmxScratch;

// B tiles and scales of 16 tokens whose activations are plain Q8_K rows.
DECLAI_TILE_FUNCTION void packAmxGroupQ8K(const std::byte* x, size_t xStride, int64_t nb, int8_t* bTiles,
                                          float* xd) {
    for (int t = 0; t < kAmxTokens; ++t) {
        const auto* blocks = reinterpret_cast<const BlockQ8_K*>(x + static_cast<size_t>(t) * xStride);
        for (int64_t b = 0; b < nb; ++b) {
            for (int c = 0; c < kQKK / kAmxChunkValues; ++c) {
                uint32_t words[16];
                std::memcpy(words, blocks[b].qs + kAmxChunkValues * c, sizeof words);
                auto* tile = reinterpret_cast<uint32_t*>(bTiles + kAmxChunkTileBytes * (4 * b + c));
                for (int j = 0; j < 16; ++j)
                    tile[kAmxTokens * j + t] = words[j];
            }
            xd[kAmxTokens * b + t] = blocks[b].d;
        }
    }
}

// 64 six-bit values (bytes, natural order, four 16-value sub-blocks starting at sub-block `firstSub`) times
// their scales minus the offset, split into the low and high byte parts.
DECLAI_INLINE void splitQ6KProducts(__m512i q, __m512i scales16, int firstSub, int8_t* low, int8_t* high) {
    const __m512i offset = _mm512_set1_epi16(32);
    const __m512i low7 = _mm512_set1_epi16(127);
    const __m512i packOrder = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
    __m512i lows[2];
    __m512i highs[2];
    for (int part = 0; part < 2; ++part) {
        const __m256i bytes = part == 0 ? _mm512_castsi512_si256(q) : _mm512_extracti64x4_epi64(q, 1);
        const int sub = firstSub + 2 * part;
        const __m512i idx = _mm512_mask_blend_epi16(static_cast<__mmask32>(0xFFFF0000u),
                                                    _mm512_set1_epi16(static_cast<short>(sub)),
                                                    _mm512_set1_epi16(static_cast<short>(sub + 1)));
        const __m512i v = _mm512_mullo_epi16(_mm512_sub_epi16(_mm512_cvtepu8_epi16(bytes), offset),
                                             _mm512_permutexvar_epi16(idx, scales16));
        lows[part] = _mm512_and_si512(v, low7);
        highs[part] = _mm512_srai_epi16(v, 7);
    }
    // packs works per 128-bit lane; the qword permute puts the two halves back in value order.
    _mm512_storeu_si512(low, _mm512_permutexvar_epi64(packOrder, _mm512_packs_epi16(lows[0], lows[1])));
    _mm512_storeu_si512(high, _mm512_permutexvar_epi64(packOrder, _mm512_packs_epi16(highs[0], highs[1])));
}

DECLAI_TILE_FUNCTION void unpackQ6KStripForAmx(const std::byte* wStrip, size_t wStride, int64_t nb, int64_t n,
                                               int8_t* aLow, int8_t* aHigh, float* dw) {
    const __m512i lowMask = _mm512_set1_epi8(0x0F);
    const __m512i bits01 = _mm512_set1_epi8(0x03);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    for (int r = 0; r < kStripRows; ++r) {
        const auto* blocks = reinterpret_cast<const BlockQ6_K*>(wStrip + static_cast<size_t>(r) * wStride);
        for (int64_t b = 0; b < nb; ++b) {
            const BlockQ6_K& blk = blocks[b];
            const __m512i scales16 = _mm512_castsi256_si512(
                _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales))));
            for (int h = 0; h < 2; ++h) {
                const __m512i l = _mm512_loadu_si512(blk.ql + 64 * h);
                const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
                const __m512i hb =
                    _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                // Values 0-63 and 64-127 of this half, in order (see stripQ6_K).
                const __m512i q0 = _mm512_or_si512(_mm512_and_si512(l, lowMask),
                                                   _mm512_slli_epi16(_mm512_and_si512(hb, bits01), 4));
                const __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), lowMask),
                                                   _mm512_and_si512(hb, bits45));
                const int64_t offset = r * n + b * kQKK + 128 * h;
                splitQ6KProducts(q0, scales16, 8 * h, aLow + offset, aHigh + offset);
                splitQ6KProducts(q1, scales16, 8 * h + 4, aLow + offset + 64, aHigh + offset + 64);
            }
            dw[kStripRows * b + r] = halfToFloat(blk.d);
        }
    }
}

DECLAI_TILE_FUNCTION void amxStripQ6K(int64_t nb, int64_t n, int64_t groups, const int8_t* bTilesAll,
                                      const float* xdAll, const int8_t* aLow, const int8_t* aHigh,
                                      const float* dw, float* y, int64_t yStride) {
    const int64_t chunks = nb * kQKK / kAmxChunkValues;
    for (int64_t g = 0; g < groups; ++g) {
        const int8_t* bTiles = bTilesAll + kAmxChunkTileBytes * chunks * g;
        const float* xd = xdAll + kAmxTokens * nb * g;
        __m512 sums[kStripRows];
        for (int r = 0; r < kStripRows; ++r)
            sums[r] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            _tile_zero(0);
            _tile_zero(1);
            for (int64_t c = 4 * b; c < 4 * b + 4; ++c) {
                DECLAI_TILE_LOAD(6, bTiles + kAmxChunkTileBytes * c, 64);
                DECLAI_TILE_LOAD(3, aLow + kAmxChunkValues * c, n);
                _tile_dpbssd(0, 3, 6);
                DECLAI_TILE_LOAD(4, aHigh + kAmxChunkValues * c, n);
                _tile_dpbssd(1, 4, 6);
            }
            alignas(64) int32_t low[kStripRows][kAmxTokens];
            alignas(64) int32_t high[kStripRows][kAmxTokens];
            _tile_stored(0, low, 64);
            _tile_stored(1, high, 64);
            const __m512 xdv = _mm512_loadu_ps(xd + kAmxTokens * b);
            for (int r = 0; r < kStripRows; ++r) {
                const __m512i isum = _mm512_add_epi32(_mm512_load_si512(low[r]),
                                                      _mm512_slli_epi32(_mm512_load_si512(high[r]), 7));
                const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(dw[kStripRows * b + r]), xdv);
                sums[r] = _mm512_add_ps(sums[r], _mm512_mul_ps(scale, _mm512_cvtepi32_ps(isum)));
            }
        }
        storeTileTransposed(sums, y + g * kAmxTokens * yStride, yStride);
    }
}

// The K-quant tile GEMM around a format's pieces: pack the activations of each 16-token group, then per full
// strip unpack the weights into byte matrices and run the tiles; strips do the edges.
struct Q4KTiles {
    static constexpr int kWeightParts = 3; // low scale part, high scale part, mins
    static constexpr int kScaleParts = 2;  // d, dmin
    static Q4KAmxScratch& scratch() { return t_q4KAmxScratch; }
    static void pack(const std::byte* x, size_t xStride, int64_t nb, int8_t* bTiles, float* xd) {
        packAmxGroupQ4K(x, xStride, nb, bTiles, xd);
    }
    static void unpack(const std::byte* wStrip, size_t wStride, int64_t nb, int64_t n, int8_t* a,
                       float* scales) {
        unpackQ4KStripForAmx(wStrip, wStride, nb, n, a, a + kStripRows * n, a + 2 * kStripRows * n, scales,
                             scales + nb * kStripRows);
    }
    static void tiles(int64_t nb, int64_t n, int64_t groups, const int8_t* bTiles, const float* xd,
                      const int8_t* a, const float* scales, float* y, int64_t yStride) {
        amxStripQ4K(nb, n, groups, bTiles, xd, a, a + kStripRows * n, a + 2 * kStripRows * n, scales,
                    scales + nb * kStripRows, y, yStride);
    }
    static void strips(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                       int64_t nTokens, int64_t n, float* y, int64_t yStride) {
        gemmStrips<Q4_KStripGemv>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
    }
};

struct Q6KTiles {
    [[maybe_unused]] static constexpr int kWeightParts = 2; // low and high byte parts of sc * (q - 32)
    [[maybe_unused]] static constexpr int kScaleParts = 1;  // d
    static Q6KAmxScratch& scratch() { return t_q6KAmxScratch; }
    static void pack(const std::byte* x, size_t xStride, int64_t nb, int8_t* bTiles, float* xd) {
        packAmxGroupQ8K(x, xStride, nb, bTiles, xd);
    }
    static void unpack(const std::byte* wStrip, size_t wStride, int64_t nb, int64_t n, int8_t* a,
                       float* scales) {
        unpackQ6KStripForAmx(wStrip, wStride, nb, n, a, a + kStripRows * n, scales);
    }
    static void tiles(int64_t nb, int64_t n, int64_t groups, const int8_t* bTiles, const float* xd,
                      const int8_t* a, const float* scales, float* y, int64_t yStride) {
        amxStripQ6K(nb, n, groups, bTiles, xd, a, a + kStripRows * n, scales, y, yStride);
    }
    static void strips(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
                       int64_t nTokens, int64_t n, float* y, int64_t yStride) {
        gemmStrips<Q6_KStrip>(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
    }
};

template <typename Format>
void gemmAmxK(const std::byte* w, size_t wStride, int64_t nRows, const std::byte* x, size_t xStride,
              int64_t nTokens, int64_t n, float* y, int64_t yStride) {
    const int64_t groups = nTokens / kAmxTokens;
    const int64_t fullRows = nRows / kStripRows * kStripRows;
    const int64_t nb = n / kQKK;
    const int64_t chunks = nb * kQKK / kAmxChunkValues;
    int8_t* bTiles = nullptr;
    float* xd = nullptr;
    int8_t* aWeights = nullptr;
    float* scales = nullptr;
    if (groups > 0 && fullRows > 0) {
        auto& scratch = Format::scratch();
        bTiles = scratch.bTiles.template reserve<int8_t>(
            static_cast<size_t>(groups * chunks * kAmxChunkTileBytes));
        xd =
            scratch.xd.template reserve<float>(static_cast<size_t>(groups * nb * kAmxTokens) * sizeof(float));
        aWeights = scratch.aWeights.template reserve<int8_t>(
            static_cast<size_t>(Format::kWeightParts * kStripRows * n));
        scales = scratch.dScales.template reserve<float>(
            static_cast<size_t>(Format::kScaleParts * nb * kStripRows) * sizeof(float));
    }
    if (!bTiles || !xd || !aWeights || !scales) {
        Format::strips(w, wStride, nRows, x, xStride, nTokens, n, y, yStride);
        return;
    }
    for (int64_t g = 0; g < groups; ++g)
        Format::pack(x + static_cast<size_t>(g * kAmxTokens) * xStride, xStride, nb,
                     bTiles + kAmxChunkTileBytes * chunks * g, xd + kAmxTokens * nb * g);
    configureAmxTiles64();
    for (int64_t r0 = 0; r0 < fullRows; r0 += kStripRows) {
        Format::unpack(w + static_cast<size_t>(r0) * wStride, wStride, nb, n, aWeights, scales);
        Format::tiles(nb, n, groups, bTiles, xd, aWeights, scales, y + r0, yStride);
    }
    _tile_release();
    stripEdges(&Format::strips, w, wStride, nRows, fullRows, x, xStride, nTokens, groups * kAmxTokens, n, y,
               yStride);
}

KernelTable makeAmxTable() {
    KernelTable t = makeAvx512Table();
    t.name = "avx512-amx";
    t.gemmQ4_0.run = &gemmAmxQ4_0;
    t.gemmQ4_K.run = &gemmAmxK<Q4KTiles>;
    // Q4_0 and Q8_0 stay in strips as on the AVX-512 table: one-token decode from them was 1.2x the row
    // layout's on an Intel Xeon VM with AMX (docs/benchmarks.md, session 35); Q4_0 batches take the tiles
    // from the strips (gemmAmxPackedQ4_0). Q4_K keeps rows, as on the AVX-512 table.
    t.stripsQ4_0.run = &gemmAmxPackedQ4_0;
    return t;
}

} // namespace

const KernelTable& avx512KernelTableUnchecked() {
    static const KernelTable table = makeAvx512Table();
    return table;
}

const KernelTable& amxKernelTableUnchecked() {
    static const KernelTable table = makeAmxTable();
    return table;
}

} // namespace declai::cpu
