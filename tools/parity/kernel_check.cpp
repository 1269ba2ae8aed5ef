// kernel_check: the engine's dot-product kernels against the llama.cpp build they mirror (not part of the
// DeCLAI build; see README.md). `kernel_check exact` compares, on random blocks, our activation quantisers,
// dequantisers and dot products (scalar reference, AVX2 and AVX-512 tables) with ggml's from_float, to_float
// and vec_dot, and IQ4_NL with ggml's repacked gemv, bit for bit. `kernel_check speed` times one thread of
// our AVX-512 dot products against ggml's vec_dot on a TinyLlama ffn_up-shaped matrix (5632 x 2048),
// alternating, best of 5: decode (1 token) and prefill (64 tokens; ours in the engine's 4-token tiles).
// `kernel_check orders` (below) checks the AVX2 table's copies of ggml's F32 and soft_max orders.
#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"
#include "ggml-cpu.h"
#include "ggml.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace declai::cpu {
const KernelTable& avx2KernelTableUnchecked();
const KernelTable& avx512KernelTableUnchecked();
} // namespace declai::cpu

extern "C" void ggml_vec_dot_f32(int n, float* s, size_t bs, const float* x, size_t bx, const float* y,
                                 size_t by, int nrc);
extern "C" double ggml_vec_soft_max_f32(int n, float* y, const float* x, float max);
extern "C" void ggml_gemv_iq4_nl_8x8_q8_0(int n, float* s, size_t bs, const void* vx, const void* vy, int nr,
                                          int nc);

using namespace declai;

namespace {

struct Format {
    TensorType type;
    ggml_type ggmlType;
    std::vector<size_t> halfFields; // byte offsets of the F16 scales in a block
};

const std::vector<Format> kFormats = {
    {TensorType::Q4_1, GGML_TYPE_Q4_1, {0, 2}},  {TensorType::Q5_0, GGML_TYPE_Q5_0, {0}},
    {TensorType::Q5_1, GGML_TYPE_Q5_1, {0, 2}},  {TensorType::Q2_K, GGML_TYPE_Q2_K, {80, 82}},
    {TensorType::Q3_K, GGML_TYPE_Q3_K, {108}},   {TensorType::Q5_K, GGML_TYPE_Q5_K, {0, 2}},
    {TensorType::IQ4_NL, GGML_TYPE_IQ4_NL, {0}}, {TensorType::IQ4_XS, GGML_TYPE_IQ4_XS, {0}},
    {TensorType::Q4_K, GGML_TYPE_Q4_K, {0, 2}},  {TensorType::Q6_K, GGML_TYPE_Q6_K, {208}}};

std::mt19937 rng(1);

std::vector<uint8_t> randomRows(const Format& f, int64_t rows, int64_t n) {
    const TensorTypeTraits traits = tensorTypeTraits(f.type);
    std::vector<uint8_t> w(*tensorBytes(f.type, static_cast<uint64_t>(n)) * static_cast<size_t>(rows));
    for (uint8_t& b : w)
        b = static_cast<uint8_t>(rng() & 0xFF);
    std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
    for (size_t blk = 0; blk < w.size() / traits.blockBytes; ++blk) {
        for (size_t offset : f.halfFields) {
            const f16_bits h = quant::fp32ToFp16(scale(rng));
            std::memcpy(&w[blk * traits.blockBytes + offset], &h, sizeof h);
        }
    }
    return w;
}

int exact() {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    int differing = 0;
    for (const Format& f : kFormats) {
        // ggml's x86 vec_dot is llama.cpp's kernel unless it repacks the format (then its gemv, below).
        const bool repacked = f.type == TensorType::IQ4_NL || f.type == TensorType::Q4_K;
        int formatDiffs = 0;
        for (int n : {256, 768, 2048, 5632}) {
            for (int rep = 0; rep < 20; ++rep) {
                const auto w = randomRows(f, 1, n);
                std::vector<float> x(static_cast<size_t>(n));
                for (float& v : x)
                    v = normal(rng) * (rep % 3 == 0 ? 10.0f : 1.0f);
                const auto* traits = ggml_get_type_traits_cpu(f.ggmlType);
                std::vector<uint8_t> xg(ggml_row_size(traits->vec_dot_type, n));
                std::vector<uint8_t> xo(quant::activationRowBytes(f.type, n));
                ggml_get_type_traits_cpu(traits->vec_dot_type)->from_float(x.data(), xg.data(), n);
                quant::quantizeActivationRow(f.type, x.data(), xo.data(), n);
                const bool sameActivations = xg == xo;
                float theirs = 0.0f;
                traits->vec_dot(n, &theirs, 0, w.data(), 0, xg.data(), 0, 1);
                const float scalar = quant::dotRow(f.type, w.data(), xg.data(), n);
                float avx2 = 0.0f;
                float avx512 = 0.0f;
                const auto* xb = reinterpret_cast<const std::byte*>(xg.data());
                cpu::avx2KernelTableUnchecked().dotFor(f.type)(w.data(), xb, 0, 1, n, &avx2);
                cpu::avx512KernelTableUnchecked().dotFor(f.type)(w.data(), xb, 0, 1, n, &avx512);
                // The AVX-512 table follows llama.cpp's AVX-512 build, which repacks Q2_K (q2_K_8x8).
                const float expected512 =
                    f.type == TensorType::Q2_K
                        ? quant::dotQ2_KRepacked(reinterpret_cast<const BlockQ2_K*>(w.data()),
                                                 reinterpret_cast<const BlockQ8_K*>(xg.data()), n)
                        : scalar;
                std::vector<float> dg(static_cast<size_t>(n));
                std::vector<float> dq(static_cast<size_t>(n));
                ggml_get_type_traits(f.ggmlType)->to_float(w.data(), dg.data(), n);
                quant::dequantizeRow(f.type, w.data(), dq.data(), n);
                const bool dotsEqual = repacked || (theirs == scalar && theirs == avx2);
                if (!sameActivations || !dotsEqual || dg != dq || scalar != avx2 || avx512 != expected512)
                    ++formatDiffs;
            }
        }
        std::printf("%-7s %s\n", ggml_type_name(f.ggmlType),
                    formatDiffs == 0 ? (repacked ? "same bits (dequantisation, activations, our tables)"
                                                 : "same bits (vec_dot, dequantisation, activations, tables)")
                                     : "DIFFERENT");
        differing += formatDiffs;
    }
    // IQ4_NL against the repacked kernel llama.cpp runs on AVX2 machines (8 rows interleaved, 8-byte groups).
    int iq4Diffs = 0;
    for (int n : {256, 768, 2048}) {
        for (int rep = 0; rep < 20; ++rep) {
            const int nb = n / 32;
            const auto w = randomRows(kFormats[6], 8, n);
            const auto* blocks = reinterpret_cast<const BlockIQ4_NL*>(w.data());
            std::vector<uint8_t> packed(static_cast<size_t>(nb) * 144);
            for (int b = 0; b < nb; ++b) {
                uint8_t* o = packed.data() + b * 144;
                for (int r = 0; r < 8; ++r)
                    std::memcpy(o + 2 * r, &blocks[b + r * nb].d, 2);
                for (int i = 0; i < 16; ++i)
                    std::memcpy(o + 16 + i * 8, &blocks[(i % 8) * nb + b].qs[(i / 8) * 8], 8);
            }
            std::vector<float> x(static_cast<size_t>(n));
            for (float& v : x)
                v = std::normal_distribution<float>(0.0f, 1.0f)(rng);
            std::vector<BlockQ8_0> xq(static_cast<size_t>(nb));
            quant::quantizeRowQ8_0(x.data(), xq.data(), n);
            float theirs[8];
            ggml_gemv_iq4_nl_8x8_q8_0(n, theirs, 8, packed.data(), xq.data(), 1, 8);
            for (int r = 0; r < 8; ++r)
                iq4Diffs += quant::dotIQ4_NL(blocks + r * nb, xq.data(), n) != theirs[r];
        }
    }
    std::printf("IQ4_NL against ggml_gemv_iq4_nl_8x8_q8_0: %s\n", iq4Diffs == 0 ? "same bits" : "DIFFERENT");
    return differing + iq4Diffs == 0 ? 0 : 1;
}

// `kernel_check orders` (runs on any AVX2 machine, against an AVX2 build): the AVX2 table's copies of
// llama.cpp's F32 one-token product (ggml_vec_dot_f32, with GCC's vectorised tail) and of its soft_max row
// (ggml_vec_soft_max_f32: the build's exp and sums), bit for bit.
int orders() {
    const cpu::KernelTable& avx2 = cpu::avx2KernelTableUnchecked();
    std::normal_distribution<float> normal(0.0f, 1.0f);
    int dotDiffs = 0;
    int dots = 0;
    for (int n = 1; n <= 140; ++n) {
        for (int rep = 0; rep < 200; ++rep, ++dots) {
            std::vector<float> w(static_cast<size_t>(n));
            std::vector<float> a(static_cast<size_t>(n));
            for (size_t i = 0; i < w.size(); ++i) {
                w[i] = normal(rng);
                a[i] = normal(rng);
            }
            float theirs = 0.0f;
            float ours = 0.0f;
            ggml_vec_dot_f32(n, &theirs, 0, w.data(), 0, a.data(), 0, 1);
            avx2.dotF32Ggml(w.data(), reinterpret_cast<const std::byte*>(a.data()), 0, 1, n, &ours);
            dotDiffs += std::memcmp(&theirs, &ours, sizeof ours) != 0;
        }
    }
    std::printf("F32 one-token product (ggml_vec_dot_f32), %d products: %s\n", dots,
                dotDiffs == 0 ? "same bits" : "DIFFERENT");
    int softmaxDiffs = 0;
    int rows = 0;
    for (int n : {4, 8, 9, 16, 30, 64}) {
        for (int rep = 0; rep < 5000; ++rep, ++rows) {
            std::vector<float> x(static_cast<size_t>(n));
            for (float& v : x)
                v = normal(rng) * (rep % 3 == 0 ? 0.5f : 3.0f);
            const float max = *std::max_element(x.begin(), x.end());
            std::vector<float> theirs(x.size());
            std::vector<float> ours(x.size());
            const double theirSum = ggml_vec_soft_max_f32(n, theirs.data(), x.data(), max);
            const double ourSum = avx2.expSumGgml(ours.data(), x.data(), n, max);
            softmaxDiffs += theirSum != ourSum || std::memcmp(theirs.data(), ours.data(), 4 * x.size()) != 0;
        }
    }
    std::printf("soft_max row (ggml_vec_soft_max_f32), %d rows: %s\n", rows,
                softmaxDiffs == 0 ? "same bits" : "DIFFERENT");
    return dotDiffs + softmaxDiffs == 0 ? 0 : 1;
}

int speed() {
    using Clock = std::chrono::steady_clock;
    const int rows = 5632, n = 2048, tokens = 64;
    const cpu::KernelTable& table = cpu::avx512KernelTableUnchecked();
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const Format& f : kFormats) {
        if (f.type != TensorType::Q5_K && f.type != TensorType::Q3_K && f.type != TensorType::IQ4_XS &&
            f.type != TensorType::Q6_K)
            continue;
        const size_t rowBytes = *tensorBytes(f.type, n);
        const auto w = randomRows(f, rows, n);
        const size_t xBytes = quant::activationRowBytes(f.type, n);
        std::vector<uint8_t> xq(xBytes * tokens);
        std::vector<float> x(static_cast<size_t>(n));
        for (int t = 0; t < tokens; ++t) {
            for (float& v : x)
                v = normal(rng);
            quant::quantizeActivationRow(f.type, x.data(), &xq[t * xBytes], n);
        }
        const auto vecDot = ggml_get_type_traits_cpu(f.ggmlType)->vec_dot;
        const cpu::DotFn dot = table.dotFor(f.type);
        const auto* xb = reinterpret_cast<const std::byte*>(xq.data());
        std::vector<float> out(static_cast<size_t>(rows) * tokens);
        double best[4] = {1e9, 1e9, 1e9, 1e9};
        for (int round = 0; round < 5; ++round) {
            const auto t0 = Clock::now();
            for (int r = 0; r < rows; ++r)
                vecDot(n, &out[r], 0, &w[r * rowBytes], 0, xq.data(), 0, 1);
            const auto t1 = Clock::now();
            for (int r = 0; r < rows; ++r)
                dot(&w[r * rowBytes], xb, xBytes, 1, n, &out[r]);
            const auto t2 = Clock::now();
            for (int r = 0; r < rows; ++r)
                for (int t = 0; t < tokens; ++t)
                    vecDot(n, &out[size_t(t) * rows + r], 0, &w[r * rowBytes], 0, &xq[t * xBytes], 0, 1);
            const auto t3 = Clock::now();
            float tile[4];
            for (int r0 = 0; r0 < rows; r0 += 16)
                for (int t = 0; t < tokens; t += 4)
                    for (int r = r0; r < r0 + 16; ++r) {
                        dot(&w[r * rowBytes], xb + t * xBytes, xBytes, 4, n, tile);
                        for (int i = 0; i < 4; ++i)
                            out[size_t(t + i) * rows + r] = tile[i];
                    }
            const auto t4 = Clock::now();
            const double s[4] = {std::chrono::duration<double>(t1 - t0).count(),
                                 std::chrono::duration<double>(t2 - t1).count(),
                                 std::chrono::duration<double>(t3 - t2).count(),
                                 std::chrono::duration<double>(t4 - t3).count()};
            for (int i = 0; i < 4; ++i)
                best[i] = std::min(best[i], s[i]);
        }
        std::printf("%-7s decode: llama.cpp %.2f ms, DeCLAI %.2f ms (%.2fx) | prefill 64: llama.cpp %.1f ms, "
                    "DeCLAI %.1f ms (%.2fx)\n",
                    ggml_type_name(f.ggmlType), best[0] * 1e3, best[1] * 1e3, best[0] / best[1],
                    best[2] * 1e3, best[3] * 1e3, best[2] / best[3]);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    ggml_cpu_init();
    const std::string mode = argc > 1 ? argv[1] : "exact";
    if (mode == "orders")
        return orders();
    return mode == "speed" ? speed() : exact();
}
