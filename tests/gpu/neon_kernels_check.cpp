// The ARM64 NEON kernel table (gpu/src/cpu/simd/KernelsNeon.cpp) against the scalar reference table. Qt has
// no arm64 build here, so this is a plain program: tests/gpu/CMakeLists.txt cross-compiles it with the few
// Qt-free sources it needs and runs it under qemu-aarch64 (tst_neon_kernels). It exits 0 only when every
// check passed and prints the mismatches (what, size, token / index, both values; at most 5 per check).
//
// Rules, as for the x86 tables in tst_cpu_kernels.cpp: the quantised dot products (Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS), the activation converters (F16, BF16, Q8_0, Q8_1, Q8_K) and the F16
// rounding helpers must give the reference's bits; F32 / F16 / BF16 / F32 x F16 dot products may differ by
// float summation order only (1e-5 of sum |w * x|). The dot products run on quantised random data with edge
// rows and on random block bytes, for 1..9 tokens; every token must also give the same bits whether it is
// computed alone or inside a tile (one float sequence per (row, token)). Entries the NEON table has no
// version of must be the scalar table's.
#include "RandomValues.h"
#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace declai;

namespace {

using testdata::randomValues;

int gChecks = 0;
int gFailures = 0;

// Prints at most this many mismatches per check so one broken kernel does not flood the log.
constexpr int kMaxReportsPerCheck = 5;

bool sameBits(float a, float b) {
    uint32_t ua;
    uint32_t ub;
    std::memcpy(&ua, &a, sizeof ua);
    std::memcpy(&ub, &b, sizeof ub);
    return ua == ub;
}

void fail(const std::string& what) {
    ++gFailures;
    std::printf("MISMATCH %s\n", what.c_str());
}

// Token counts checked: 1..kTokens, i.e. whole tiles of kMaxTileTokens plus every remainder.
constexpr int kTokens = 9;

// Where a case's data comes from: quantised random floats (with edge rows, see activationValues), or
// random block bytes for the weight row or the activation rows (every bit pattern of the packed scales,
// high-bit masks and quants, and int8 -128, which no quantiser writes), with finite scales.
enum class Data { Quantised, RandomWeightBytes, RandomActivationBytes };

const char* dataName(Data data) {
    switch (data) {
    case Data::Quantised:
        return "quantised";
    case Data::RandomWeightBytes:
        return "random weight bytes";
    default:
        return "random activation bytes";
    }
}

// One weight row in `type` (quant::quantizeRow) and kTokens activation rows in its partner format.
struct DotCase {
    std::vector<std::byte> w;
    std::vector<std::byte> x;
    size_t xStride = 0;
    std::vector<float> wDequant;
    std::vector<float> xDequant; // token-major
};

// Random bytes for a row of `type` blocks, with each block's F16 scale fields (or Q8_K's float d) set to a
// small finite value. Formats without a quantiser (Q4_1, Q5_0, Q5_1, IQ4_NL; the engine only reads them)
// always use this; the others get it as an extra case.
void randomBlocks(TensorType type, std::vector<std::byte>& row, uint32_t seed) {
    size_t blockBytes = 0;
    std::vector<size_t> halfOffsets;
    size_t floatOffset = SIZE_MAX;
    switch (type) {
    case TensorType::Q8_0:
        blockBytes = sizeof(BlockQ8_0);
        halfOffsets = {offsetof(BlockQ8_0, d)};
        break;
    case TensorType::Q8_1:
        blockBytes = sizeof(BlockQ8_1);
        halfOffsets = {offsetof(BlockQ8_1, d), offsetof(BlockQ8_1, s)};
        break;
    case TensorType::Q8_K:
        blockBytes = sizeof(BlockQ8_K);
        floatOffset = offsetof(BlockQ8_K, d);
        break;
    case TensorType::Q4_0:
        blockBytes = sizeof(BlockQ4_0);
        halfOffsets = {offsetof(BlockQ4_0, d)};
        break;
    case TensorType::Q4_1:
        blockBytes = sizeof(BlockQ4_1);
        halfOffsets = {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
        break;
    case TensorType::Q5_0:
        blockBytes = sizeof(BlockQ5_0);
        halfOffsets = {offsetof(BlockQ5_0, d)};
        break;
    case TensorType::Q5_1:
        blockBytes = sizeof(BlockQ5_1);
        halfOffsets = {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
        break;
    case TensorType::IQ4_NL:
        blockBytes = sizeof(BlockIQ4_NL);
        halfOffsets = {offsetof(BlockIQ4_NL, d)};
        break;
    case TensorType::Q2_K:
        blockBytes = sizeof(BlockQ2_K);
        halfOffsets = {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
        break;
    case TensorType::Q3_K:
        blockBytes = sizeof(BlockQ3_K);
        halfOffsets = {offsetof(BlockQ3_K, d)};
        break;
    case TensorType::Q4_K:
        blockBytes = sizeof(BlockQ4_K);
        halfOffsets = {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
        break;
    case TensorType::Q5_K:
        blockBytes = sizeof(BlockQ5_K);
        halfOffsets = {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
        break;
    case TensorType::Q6_K:
        blockBytes = sizeof(BlockQ6_K);
        halfOffsets = {offsetof(BlockQ6_K, d)};
        break;
    case TensorType::IQ4_XS:
        blockBytes = sizeof(BlockIQ4_XS);
        halfOffsets = {offsetof(BlockIQ4_XS, d)};
        break;
    default:
        fail(std::string("no block layout for ") + std::string(tensorTypeName(type)));
        return;
    }
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
    for (std::byte& b : row)
        b = std::byte(byte(rng));
    for (size_t block = 0; block + blockBytes <= row.size(); block += blockBytes) {
        for (size_t offset : halfOffsets) {
            const f16_bits h = quant::fp32ToFp16(scale(rng));
            std::memcpy(row.data() + block + offset, &h, sizeof h);
        }
        if (floatOffset != SIZE_MAX) {
            const float d = scale(rng);
            std::memcpy(row.data() + block + floatOffset, &d, sizeof d);
        }
    }
}

// kTokens activation rows of n floats: normal values, with edge rows where n allows. Token 1 is tiny and
// token 2 large (scales 1e-6 and 1e4); token 3 starts with a 256-value (or shorter) all-zero stretch (zero
// scale); token 5 starts with values k + 0.5 whose largest magnitude 127 comes first as -127 at index 7 and
// again as +127 at index 200 (so the quantisers' multiplier is exactly 1: rounding ties, and the sign of the
// first largest value decides Q8_K's scale).
std::vector<float> activationValues(int64_t n, uint32_t seed) {
    std::vector<float> v = randomValues(kTokens * n, seed, 1.0f);
    const auto row = [&](int t) { return v.data() + static_cast<size_t>(t) * static_cast<size_t>(n); };
    for (int64_t i = 0; i < n; ++i) {
        row(1)[i] *= 1e-6f;
        row(2)[i] *= 1e4f;
    }
    const int64_t edge = n < 256 ? n : 256;
    for (int64_t i = 0; i < edge; ++i) {
        row(3)[i] = 0.0f;
        row(5)[i] = static_cast<float>(i % 17 - 8) + 0.5f;
    }
    if (edge > 7)
        row(5)[7] = -127.0f;
    if (edge > 200)
        row(5)[200] = 127.0f;
    return v;
}

DotCase makeCase(TensorType type, int64_t n, uint32_t seed, Data data) {
    DotCase c;
    const auto wValues = randomValues(n, 1234u + seed, 0.05f);
    const auto xValues = activationValues(n, 99u + seed);
    c.w.resize(static_cast<size_t>(*tensorBytes(type, static_cast<uint64_t>(n))));
    if (data == Data::RandomWeightBytes || !quant::quantizeRow(type, wValues.data(), c.w.data(), n))
        randomBlocks(type, c.w, seed);
    c.xStride = quant::activationRowBytes(type, n);
    c.x.resize(c.xStride * kTokens);
    for (int t = 0; t < kTokens; ++t)
        quant::quantizeActivationRow(type, xValues.data() + t * n,
                                     c.x.data() + c.xStride * static_cast<size_t>(t), n);
    if (data == Data::RandomActivationBytes) {
        randomBlocks(quant::activationTypeFor(type), c.x, seed ^ 0x5bd1e995u);
        // Q8_K's block sums are part of the format: keep them the sums of the (random) quants.
        if (quant::activationTypeFor(type) == TensorType::Q8_K) {
            auto* blocks = reinterpret_cast<BlockQ8_K*>(c.x.data());
            for (size_t b = 0; b < c.x.size() / sizeof(BlockQ8_K); ++b)
                for (int g = 0; g < kQKK / 16; ++g) {
                    int sum = 0;
                    for (int j = 0; j < 16; ++j)
                        sum += blocks[b].qs[16 * g + j];
                    blocks[b].bsums[g] = static_cast<int16_t>(sum);
                }
        }
    }
    c.wDequant.resize(static_cast<size_t>(n));
    quant::dequantizeRow(type, c.w.data(), c.wDequant.data(), n);
    c.xDequant.resize(static_cast<size_t>(n) * kTokens);
    for (int t = 0; t < kTokens; ++t) {
        float* out = c.xDequant.data() + static_cast<size_t>(t * n);
        const std::byte* row = c.x.data() + c.xStride * static_cast<size_t>(t);
        if (quant::activationTypeFor(type) == TensorType::Q8_K) { // dequantizeRow has no Q8_K: d * q
            const auto* blocks = reinterpret_cast<const BlockQ8_K*>(row);
            for (int64_t i = 0; i < n; ++i)
                out[i] = blocks[i / kQKK].d * static_cast<float>(blocks[i / kQKK].qs[i % kQKK]);
        } else {
            quant::dequantizeRow(quant::activationTypeFor(type), row, out, n);
        }
    }
    return c;
}

// Sum of |w_i * x_i| for token t: what float rounding differences are measured against.
double magnitude(const DotCase& c, int t, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += std::fabs(static_cast<double>(c.wDequant[static_cast<size_t>(i)]) *
                         c.xDequant[static_cast<size_t>(t * n + i)]);
    return sum;
}

// The NEON entry against the scalar table and quant::dotRow for every token count 1..kTokens (the NEON entry
// splits them into tiles of kMaxTileTokens), and each token's result against the same token computed alone.
void checkDot(const char* name, TensorType type, cpu::DotFn neon, cpu::DotFn scalar, int64_t n, bool exact,
              Data data = Data::Quantised) {
    const DotCase c = makeCase(type, n, static_cast<uint32_t>(n), data);
    float alone[kTokens] = {};
    for (int t = 0; t < kTokens; ++t)
        neon(c.w.data(), c.x.data() + c.xStride * static_cast<size_t>(t), c.xStride, 1, n, &alone[t]);
    int reports = 0;
    for (int tokens = 1; tokens <= kTokens; ++tokens) {
        float fast[kTokens] = {};
        float reference[kTokens] = {};
        neon(c.w.data(), c.x.data(), c.xStride, tokens, n, fast);
        scalar(c.w.data(), c.x.data(), c.xStride, tokens, n, reference);
        for (int t = 0; t < tokens; ++t) {
            ++gChecks;
            const float expected =
                quant::dotRow(type, c.w.data(), c.x.data() + c.xStride * static_cast<size_t>(t), n);
            const double bound = exact ? 0.0 : 1e-5 * magnitude(c, t, n) + 1e-30;
            const bool valueOk = exact ? sameBits(fast[t], expected)
                                       : std::fabs(static_cast<double>(fast[t]) - expected) <= bound;
            const bool ok = sameBits(reference[t], expected) && valueOk && sameBits(fast[t], alone[t]);
            if (!ok && reports++ < kMaxReportsPerCheck) {
                char line[400];
                std::snprintf(
                    line, sizeof line,
                    "%s (%s) n=%lld tokens=%d token=%d: neon %.9g scalar %.9g dotRow %.9g alone %.9g "
                    "(%s, bound %.3g)",
                    name, dataName(data), static_cast<long long>(n), tokens, t, static_cast<double>(fast[t]),
                    static_cast<double>(reference[t]), static_cast<double>(expected),
                    static_cast<double>(alone[t]), exact ? "bit-exact" : "tolerance", bound);
                fail(line);
            }
        }
    }
}

// Inputs for the converters: random values over several magnitudes, then the edge cases of half rounding
// (ties at both parities, the subnormal range and its halfway points, the overflow threshold, zeros,
// infinities and NaN).
std::vector<float> converterInputs(int64_t n, uint32_t seed) {
    std::vector<float> v = randomValues(n, seed, 3.0f);
    std::mt19937 rng(seed ^ 0x9e3779b9u);
    std::uniform_int_distribution<int> exponent(-30, 17);
    for (size_t i = 0; i < v.size(); i += 3)
        v[i] = std::ldexp(v[i], exponent(rng));
    const float special[] = {0.0f,
                             -0.0f,
                             1.0f + 1.0f / 2048.0f, // tie, rounds down to even
                             1.0f + 3.0f / 2048.0f, // tie, rounds up to even
                             std::ldexp(1.0f, -24),
                             std::ldexp(1.0f, -25), // tie between 0 and the smallest subnormal
                             std::ldexp(1.5f, -25),
                             std::ldexp(3.0f, -25), // subnormal tie
                             std::ldexp(1.0f, -14) * (1.0f - 1.0f / 4096.0f),
                             65504.0f,
                             65519.99f,
                             65520.0f, // rounds to infinity
                             -70000.0f,
                             std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(),
                             std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::denorm_min(),
                             -std::numeric_limits<float>::min()};
    for (size_t i = 0; i < std::size(special) && i < v.size(); ++i)
        v[v.size() - 1 - i * 7 % v.size()] = special[i];
    return v;
}

bool sameFloats(const std::vector<float>& a, const std::vector<float>& b, const char* what, int64_t n) {
    for (size_t i = 0; i < a.size(); ++i) {
        if (!sameBits(a[i], b[i])) {
            char line[200];
            std::snprintf(line, sizeof line, "%s n=%lld index %zu: neon %.9g scalar %.9g", what,
                          static_cast<long long>(n), i, static_cast<double>(a[i]), static_cast<double>(b[i]));
            fail(line);
            return false;
        }
    }
    return true;
}

// Compares two activation rows byte for byte; reports the first differing byte.
void sameBytes(const std::vector<std::byte>& fast, const std::vector<std::byte>& slow, size_t blockBytes,
               const char* what, int64_t n, float scale) {
    for (size_t i = 0; i < fast.size(); ++i) {
        if (fast[i] != slow[i]) {
            char line[200];
            std::snprintf(line, sizeof line,
                          "%s n=%lld scale %g: block %zu byte %zu: neon 0x%02x scalar 0x%02x", what,
                          static_cast<long long>(n), static_cast<double>(scale), i / blockBytes,
                          i % blockBytes, static_cast<unsigned>(fast[i]), static_cast<unsigned>(slow[i]));
            fail(line);
            return;
        }
    }
}

void checkConverters(const cpu::KernelTable& neon, const cpu::KernelTable& ref) {
    for (int64_t n : {1, 3, 8, 15, 64, 67, 1000, 5632}) {
        const auto x = converterInputs(n, 7u + static_cast<uint32_t>(n));
        ++gChecks;
        std::vector<f16_bits> fast(static_cast<size_t>(n));
        std::vector<f16_bits> slow(static_cast<size_t>(n));
        neon.toF16(x.data(), fast.data(), n);
        ref.toF16(x.data(), slow.data(), n);
        for (size_t i = 0; i < fast.size(); ++i) {
            if (fast[i] != slow[i]) {
                char line[200];
                std::snprintf(line, sizeof line, "toF16 n=%lld index %zu (x=%.9g): neon 0x%04x scalar 0x%04x",
                              static_cast<long long>(n), i, static_cast<double>(x[i]), fast[i], slow[i]);
                fail(line);
                break;
            }
        }
        ++gChecks;
        std::vector<float> a(static_cast<size_t>(n));
        std::vector<float> b(static_cast<size_t>(n));
        neon.roundF16(x.data(), a.data(), n);
        ref.roundF16(x.data(), b.data(), n);
        sameFloats(a, b, "roundF16", n);
        // BF16 (its ties, 1 + 2^-8 and 1 + 3 * 2^-8, replace the first two random values; the converter
        // inputs already hold infinities, a quiet NaN and subnormals), plus a signalling and a negative NaN.
        std::vector<float> xb(x);
        const uint32_t extraBits[] = {0x3F808000u, 0x3F818000u, 0x7F800001u, 0xFFC12345u};
        for (size_t i = 0; i < std::size(extraBits) && i < xb.size(); ++i)
            std::memcpy(&xb[i * 2 % xb.size()], &extraBits[i], sizeof(float));
        ++gChecks;
        std::vector<bf16_bits> fastB(static_cast<size_t>(n));
        std::vector<bf16_bits> slowB(static_cast<size_t>(n));
        neon.toBF16(xb.data(), fastB.data(), n);
        ref.toBF16(xb.data(), slowB.data(), n);
        for (size_t i = 0; i < fastB.size(); ++i) {
            if (fastB[i] != slowB[i]) {
                char line[200];
                std::snprintf(line, sizeof line,
                              "toBF16 n=%lld index %zu (x=%.9g): neon 0x%04x scalar 0x%04x",
                              static_cast<long long>(n), i, static_cast<double>(xb[i]), fastB[i], slowB[i]);
                fail(line);
                break;
            }
        }
    }
    // Q8_0 activations: random rows at several scales, plus an all-zero block and two blocks whose largest
    // value is 127 (scale exactly 1): one of integers and one of k + 0.5, where x * id is a rounding tie.
    for (int64_t n : {32, 96, 2048 + 32, 5632}) {
        for (float scale : {1.0f, 1e-3f, 300.0f}) {
            std::vector<float> x = randomValues(n, 41u + static_cast<uint32_t>(n), scale);
            if (n >= 96) {
                for (int j = 0; j < 32; ++j) {
                    x[static_cast<size_t>(j)] = 0.0f;
                    x[static_cast<size_t>(32 + j)] = static_cast<float>(j * 8 - 127);
                    x[static_cast<size_t>(64 + j)] = j == 31 ? 127.0f : static_cast<float>(j - 16) + 0.5f;
                }
            }
            ++gChecks;
            std::vector<std::byte> fast(quant::activationRowBytes(TensorType::Q8_0, n));
            std::vector<std::byte> slow(fast.size());
            neon.quantizeQ8_0(x.data(), fast.data(), n);
            ref.quantizeQ8_0(x.data(), slow.data(), n);
            sameBytes(fast, slow, sizeof(BlockQ8_0), "quantizeQ8_0", n, scale);
            ++gChecks;
            fast.assign(quant::activationRowBytes(TensorType::Q4_1, n), std::byte{0});
            slow.assign(fast.size(), std::byte{0});
            neon.quantizeQ8_1(x.data(), fast.data(), n);
            ref.quantizeQ8_1(x.data(), slow.data(), n);
            sameBytes(fast, slow, sizeof(BlockQ8_1), "quantizeQ8_1", n, scale);
        }
    }
}

// Q8_K activations: random rows at several scales, plus (where the row has the blocks) an all-zero block,
// blocks whose largest magnitude 127 occurs as both -127 and +127 (in either order: the first one's sign sets
// the scale, exactly -1 or +1, so the values k + 0.5 are rounding ties), and a block with one large value
// among tiny ones.
void checkQ8_K(const cpu::KernelTable& neon, const cpu::KernelTable& ref) {
    for (int64_t n : {256, 768, 1024 + 256, 5632}) {
        for (float scale : {1.0f, 1e-3f, 300.0f, 1e-20f}) {
            std::vector<float> x = randomValues(n, 43u + static_cast<uint32_t>(n), scale);
            if (n >= 4 * kQKK) {
                for (int j = 0; j < kQKK; ++j) {
                    x[static_cast<size_t>(j)] = 0.0f;
                    x[static_cast<size_t>(kQKK + j)] = static_cast<float>(j % 19 - 9) + 0.5f;
                    x[static_cast<size_t>(2 * kQKK + j)] = static_cast<float>(j % 23 - 11) + 0.5f;
                    x[static_cast<size_t>(3 * kQKK + j)] *= 1e-6f;
                }
                x[static_cast<size_t>(kQKK + 9)] = -127.0f;
                x[static_cast<size_t>(kQKK + 130)] = 127.0f;
                x[static_cast<size_t>(2 * kQKK + 3)] = 127.0f;
                x[static_cast<size_t>(2 * kQKK + 255)] = -127.0f;
                x[static_cast<size_t>(3 * kQKK + 77)] = 5.0f * scale;
            }
            ++gChecks;
            const size_t bytes = quant::activationRowBytes(TensorType::Q4_K, n);
            std::vector<std::byte> fast(bytes);
            std::vector<std::byte> slow(bytes);
            neon.quantizeQ8_K(x.data(), fast.data(), n);
            ref.quantizeQ8_K(x.data(), slow.data(), n);
            sameBytes(fast, slow, sizeof(BlockQ8_K), "quantizeQ8_K", n, scale);
        }
    }
}

void checkAttention(const cpu::KernelTable& neon, const cpu::KernelTable& ref) {
    for (int64_t n : {1, 7, 64, 67, 128, 5632}) {
        const auto a = randomValues(n, 11u + static_cast<uint32_t>(n), 2.0f);
        const auto vf = randomValues(n, 12u + static_cast<uint32_t>(n), 1.0f);
        std::vector<f16_bits> v(static_cast<size_t>(n));
        double mag = 0.0;
        for (size_t i = 0; i < v.size(); ++i) {
            v[i] = quant::fp32ToFp16(vf[i]);
            mag += std::fabs(static_cast<double>(a[i]) * quant::fp16ToFp32(v[i]));
        }
        ++gChecks;
        const float fastDot = neon.dotF32F16(a.data(), v.data(), n);
        const float slowDot = ref.dotF32F16(a.data(), v.data(), n);
        if (std::fabs(static_cast<double>(fastDot) - slowDot) > 1e-5 * mag + 1e-30) {
            char line[200];
            std::snprintf(line, sizeof line, "dotF32F16 n=%lld: neon %.9g scalar %.9g (bound %.3g)",
                          static_cast<long long>(n), static_cast<double>(fastDot),
                          static_cast<double>(slowDot), 1e-5 * mag);
            fail(line);
        }
        std::vector<float> fast(a);
        std::vector<float> slow(a);
        ++gChecks;
        neon.accumulateF16(fast.data(), v.data(), 0.37f, n);
        ref.accumulateF16(slow.data(), v.data(), 0.37f, n);
        sameFloats(fast, slow, "accumulateF16", n);
        ++gChecks;
        neon.scaleF16(fast.data(), 0.61f, n);
        ref.scaleF16(slow.data(), 0.61f, n);
        sameFloats(fast, slow, "scaleF16", n);
    }
}

} // namespace

int main() {
    const cpu::KernelTable* neon = cpu::neonKernels();
    if (!neon) {
        std::printf("FAIL: cpu::neonKernels() is nullptr (not an AArch64 build?)\n");
        return 1;
    }
    const cpu::KernelTable& ref = cpu::scalarKernels();
    std::printf("table \"%s\" vs \"%s\"; cpu features: %s\n", neon->name, ref.name,
                cpu::cpuFeatures().toString().c_str());

    // activeKernels() picks NEON on AArch64 unless DECLAI_CPU_KERNELS=scalar forces the reference.
    const char* forced = std::getenv("DECLAI_CPU_KERNELS");
    const bool forceScalar = forced && std::strcmp(forced, "scalar") == 0;
    const cpu::KernelTable* expectedActive = forceScalar ? &ref : neon;
    ++gChecks;
    if (&cpu::activeKernels() != expectedActive)
        fail(std::string("activeKernels() is \"") + cpu::activeKernels().name + "\", expected \"" +
             expectedActive->name + "\"");
    std::printf("activeKernels(): %s%s\n", cpu::activeKernels().name,
                forceScalar ? " (DECLAI_CPU_KERNELS=scalar)" : "");

    // Odd block counts (3, 7, 33, 65, 177) and the sizes of the x86 tests.
    const int64_t blockSizes[] = {32, 96, 224, 1056, 2048 + 32, 5632};
    // The float formats also get lengths that leave a scalar tail after the 16-wide loop.
    const int64_t floatSizes[] = {1, 7, 32, 67, 96, 224, 1000 + 3, 2048 + 32, 5632};
    for (int64_t n : floatSizes)
        checkDot("dotF32", TensorType::F32, neon->dotF32, ref.dotF32, n, false);
    for (int64_t n : floatSizes)
        checkDot("dotF16", TensorType::F16, neon->dotF16, ref.dotF16, n, false);
    for (int64_t n : floatSizes)
        checkDot("dotBF16", TensorType::BF16, neon->dotBF16, ref.dotBF16, n, false);
    for (Data data : {Data::Quantised, Data::RandomWeightBytes, Data::RandomActivationBytes}) {
        for (int64_t n : blockSizes) {
            checkDot("dotQ8_0", TensorType::Q8_0, neon->dotQ8_0, ref.dotQ8_0, n, true, data);
            checkDot("dotQ4_0", TensorType::Q4_0, neon->dotQ4_0, ref.dotQ4_0, n, true, data);
            checkDot("dotQ4_1", TensorType::Q4_1, neon->dotQ4_1, ref.dotQ4_1, n, true, data);
            checkDot("dotQ5_0", TensorType::Q5_0, neon->dotQ5_0, ref.dotQ5_0, n, true, data);
            checkDot("dotQ5_1", TensorType::Q5_1, neon->dotQ5_1, ref.dotQ5_1, n, true, data);
            checkDot("dotIQ4_NL", TensorType::IQ4_NL, neon->dotIQ4_NL, ref.dotIQ4_NL, n, true, data);
        }
        // Super-block counts 1, 3, 7, 17 and 22.
        for (int64_t n : {256, 768, 1792, 4352, 5632}) {
            checkDot("dotQ2_K", TensorType::Q2_K, neon->dotQ2_K, ref.dotQ2_K, n, true, data);
            checkDot("dotQ3_K", TensorType::Q3_K, neon->dotQ3_K, ref.dotQ3_K, n, true, data);
            checkDot("dotQ4_K", TensorType::Q4_K, neon->dotQ4_K, ref.dotQ4_K, n, true, data);
            checkDot("dotQ5_K", TensorType::Q5_K, neon->dotQ5_K, ref.dotQ5_K, n, true, data);
            checkDot("dotQ6_K", TensorType::Q6_K, neon->dotQ6_K, ref.dotQ6_K, n, true, data);
            checkDot("dotIQ4_XS", TensorType::IQ4_XS, neon->dotIQ4_XS, ref.dotIQ4_XS, n, true, data);
        }
    }
    // Entries the NEON table leaves to the reference must still be the reference's (SwiGLU and F32's
    // llama.cpp order: null, i.e. the libm loop and dotF32; no tiled GEMMs, so every matmul uses the dots).
    ++gChecks;
    if (neon->swiGlu != ref.swiGlu || neon->dotF32Ggml != ref.dotF32Ggml || neon->gemmF16.run ||
        neon->gemmQ8_0.run || neon->gemmQ4_0.run || neon->gemmQ4_K.run || neon->gemmQ6_K.run ||
        neon->gemmQ5_K.run || neon->gemmIQ4_XS.run || neon->gemmQ3_K.run)
        fail("an entry without a NEON version is not the scalar reference's");
    std::printf(
        "dot products: F32, F16 and BF16 (n = 1 .. 5632, within 1e-5 of sum |w*x|); Q8_0, Q4_0, Q4_1, Q5_0, "
        "Q5_1, IQ4_NL (n = 32 .. 5632), Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS (n = 256 .. 5632): "
        "bit-exact, quantised and random block bytes; 1..%d tokens (tiles of %d)\n",
        kTokens, cpu::kMaxTileTokens);

    checkConverters(*neon, ref);
    checkQ8_K(*neon, ref);
    std::printf(
        "converters: toF16, toBF16, roundF16 (incl. ties, subnormals, overflow, inf, NaN), quantizeQ8_0, "
        "quantizeQ8_1, quantizeQ8_K: bit-exact\n");
    checkAttention(*neon, ref);
    std::printf("attention: dotF32F16 (tolerance), accumulateF16, scaleF16 (bit-exact)\n");

    std::printf("%d checks, %d mismatches: %s\n", gChecks, gFailures, gFailures == 0 ? "PASS" : "FAIL");
    return gFailures == 0 ? 0 : 1;
}
