// SIMD CPU kernels against the scalar reference (declai::quant): every dot-product format, every
// activation quantiser, odd sizes and token tiles, and cpu::matmul with 1 and 2 threads. Quantisers and
// K-quant dot products must match bit for bit (their integer parts and per-block float steps are the
// same); the others may only differ by float summation order.
#include "RandomValues.h"
#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/ThreadPool.h"

#include <QtTest>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

using namespace declai;

namespace {

using testdata::randomValues;

// The thread-pool tests' caller chunk: yields until `done` holds or 10 s passed (the test then reports
// that the worker never took its chunk).
template <typename Done>
void waitUpTo10s(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
}

// Byte offsets of the F16 scale fields in one block of the formats without a weight quantiser here.
std::vector<size_t> halfFields(TensorType type) {
    switch (type) {
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q5_K:
        return {0, 2};
    case TensorType::Q2_K:
        return {80, 82};
    case TensorType::Q3_K:
        return {108};
    default:
        return {0}; // Q5_0, IQ4_NL, IQ4_XS: d first
    }
}

// Weights of a format the engine only reads (no quantiser): random block bytes, so every bit pattern of the
// quants and scales occurs, with the F16 scales set to small finite values.
std::vector<std::byte> randomBlocks(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
    const TensorTypeTraits traits = tensorTypeTraits(type);
    const size_t rowBytes = static_cast<size_t>(*tensorBytes(type, static_cast<uint64_t>(cols)));
    std::vector<std::byte> out(rowBytes * static_cast<size_t>(rows));
    std::mt19937 rng(seed);
    for (std::byte& b : out)
        b = static_cast<std::byte>(rng() & 0xFF);
    std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
    const size_t blocks = out.size() / traits.blockBytes;
    for (size_t blk = 0; blk < blocks; ++blk) {
        for (size_t offset : halfFields(type)) {
            const f16_bits h = quant::fp32ToFp16(scale(rng));
            std::memcpy(out.data() + blk * traits.blockBytes + offset, &h, sizeof h);
        }
    }
    return out;
}

std::vector<std::byte> quantized(TensorType type, const std::vector<float>& values, int64_t rows,
                                 int64_t cols) {
    const size_t rowBytes = static_cast<size_t>(*tensorBytes(type, static_cast<uint64_t>(cols)));
    std::vector<std::byte> out(rowBytes * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        if (!quant::quantizeRow(type, values.data() + r * cols,
                                out.data() + rowBytes * static_cast<size_t>(r), cols))
            return randomBlocks(type, rows, cols, static_cast<uint32_t>(values.size()));
    }
    return out;
}

// A row-layout view of `data`: rows x cols values of `type`.
WeightMatrix matrixView(TensorType type, int64_t rows, int64_t cols, const std::vector<std::byte>& data) {
    WeightMatrix w;
    w.type = type;
    w.rows = rows;
    w.cols = cols;
    w.data = data.data();
    w.rowBytes = static_cast<size_t>(*tensorBytes(type, static_cast<uint64_t>(cols)));
    return w;
}

// The formats added for issue 15: read from llama.cpp's files, not written by our quantiser.
constexpr TensorType kReadOnlyFormats[] = {TensorType::Q4_1,   TensorType::Q5_0,  TensorType::Q5_1,
                                           TensorType::Q2_K,   TensorType::Q3_K,  TensorType::Q5_K,
                                           TensorType::IQ4_NL, TensorType::IQ4_XS};

std::vector<std::byte> activations(TensorType weightType, const std::vector<float>& values, int64_t rows,
                                   int64_t cols) {
    const size_t rowBytes = quant::activationRowBytes(weightType, cols);
    std::vector<std::byte> out(rowBytes * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
        quant::quantizeActivationRow(weightType, values.data() + r * cols,
                                     out.data() + rowBytes * static_cast<size_t>(r), cols);
    return out;
}

// Sum of |w_i * x_i| over the dequantised rows: the scale float rounding differences are measured against.
double magnitude(TensorType type, const std::byte* w, const std::byte* x, int64_t n) {
    std::vector<float> wf(static_cast<size_t>(n));
    std::vector<float> xf(static_cast<size_t>(n));
    quant::dequantizeRow(type, w, wf.data(), n);
    const TensorType actType = quant::activationTypeFor(type);
    if (actType == TensorType::Q8_1) {
        const auto* blocks = reinterpret_cast<const BlockQ8_1*>(x);
        for (int64_t i = 0; i < n; ++i)
            xf[static_cast<size_t>(i)] =
                quant::fp16ToFp32(blocks[i / kQK8_1].d) * blocks[i / kQK8_1].qs[i % kQK8_1];
    } else if (actType == TensorType::Q8_K) {
        const auto* blocks = reinterpret_cast<const BlockQ8_K*>(x);
        for (int64_t i = 0; i < n; ++i)
            xf[static_cast<size_t>(i)] = blocks[i / kQKK].d * blocks[i / kQKK].qs[i % kQKK];
    } else {
        quant::dequantizeRow(actType, x, xf.data(), n);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += std::fabs(static_cast<double>(wf[static_cast<size_t>(i)]) * xf[static_cast<size_t>(i)]);
    return sum;
}

// QCOMPARE on floats is fuzzy (qFuzzyCompare); the kernels' contract is the same bits.
#define COMPARE_BITS(actual, expected)                                                                       \
    do {                                                                                                     \
        const float actualValue = (actual);                                                                  \
        const float expectedValue = (expected);                                                              \
        QVERIFY2(std::memcmp(&actualValue, &expectedValue, sizeof(float)) == 0,                              \
                 qPrintable(QStringLiteral("%1 is %2, expected %3 (%4)")                                     \
                                .arg(QStringLiteral(#actual))                                                \
                                .arg(double(actualValue), 0, 'g', 9)                                         \
                                .arg(double(expectedValue), 0, 'g', 9)                                       \
                                .arg(QStringLiteral(#expected))));                                           \
    } while (false)

bool exactFormat(TensorType type) {
    return type == TensorType::Q4_K || type == TensorType::Q6_K ||
           std::find(std::begin(kReadOnlyFormats), std::end(kReadOnlyFormats), type) !=
               std::end(kReadOnlyFormats);
}

// Every SIMD table this CPU can run (each is checked against the scalar reference).
std::vector<const cpu::KernelTable*> simdTables() {
    std::vector<const cpu::KernelTable*> tables;
    for (const cpu::KernelTable* t : {cpu::avx2Kernels(), cpu::avxVnniKernels(), cpu::avx512Kernels(),
                                      cpu::amxKernels(), cpu::neonKernels()}) {
        if (t)
            tables.push_back(t);
    }
    return tables;
}

} // namespace

class TestCpuKernels : public QObject {
    Q_OBJECT

    void checkDot(const cpu::KernelTable& table, TensorType weightType, int n) {
        const cpu::KernelTable* simd = &table;
        const int64_t cols = n;
        const int64_t tokens = cpu::kMaxTileTokens;
        const auto wValues = randomValues(cols, 1234u + static_cast<uint32_t>(n), 0.05f);
        const auto xValues = randomValues(tokens * cols, 99u + static_cast<uint32_t>(n), 1.0f);
        const auto w = quantized(weightType, wValues, 1, cols);
        const auto x = activations(weightType, xValues, tokens, cols);
        const size_t xStride = quant::activationRowBytes(weightType, cols);
        const cpu::DotFn simdDot = simd->dotFor(weightType);
        const cpu::DotFn scalarDot = cpu::scalarKernels().dotFor(weightType);
        QVERIFY(simdDot && scalarDot);
        for (int tile = 1; tile <= cpu::kMaxTileTokens; ++tile) {
            float fast[cpu::kMaxTileTokens] = {};
            float reference[cpu::kMaxTileTokens] = {};
            simdDot(w.data(), x.data(), xStride, tile, cols, fast);
            scalarDot(w.data(), x.data(), xStride, tile, cols, reference);
            for (int t = 0; t < tile; ++t) {
                const std::byte* xt = x.data() + xStride * static_cast<size_t>(t);
                COMPARE_BITS(reference[t], quant::dotRow(weightType, w.data(), xt, cols));
                // The AVX-512 tables follow llama.cpp's AVX-512 build, which repacks Q2_K (q2_K_8x8).
                const bool repackedQ2K =
                    weightType == TensorType::Q2_K && QByteArray(simd->name).startsWith("avx512");
                const float expected =
                    repackedQ2K ? quant::dotQ2_KRepacked(reinterpret_cast<const BlockQ2_K*>(w.data()),
                                                         reinterpret_cast<const BlockQ8_K*>(xt), cols)
                                : reference[t];
                if (exactFormat(weightType)) {
                    COMPARE_BITS(fast[t], expected);
                } else {
                    const double bound = 1e-5 * magnitude(weightType, w.data(),
                                                          x.data() + xStride * static_cast<size_t>(t), cols) +
                                         1e-30;
                    if (std::fabs(static_cast<double>(fast[t]) - expected) > bound)
                        QFAIL(qPrintable(QStringLiteral("tile %1 token %2: simd %3 vs scalar %4 (bound %5)")
                                             .arg(tile)
                                             .arg(t)
                                             .arg(static_cast<double>(fast[t]), 0, 'g', 9)
                                             .arg(static_cast<double>(expected), 0, 'g', 9)
                                             .arg(bound)));
                }
            }
        }
    }

private Q_SLOTS:
    void featuresAreConsistent() {
        const cpu::CpuFeatures& f = cpu::cpuFeatures();
        QVERIFY(!f.toString().empty());
        // The active table is the SIMD one exactly when the CPU supports it (unless forced to scalar).
        if (!qEnvironmentVariableIsSet("DECLAI_CPU_KERNELS")) {
            const cpu::KernelTable* best = cpu::amxKernels()       ? cpu::amxKernels()
                                           : cpu::avx512Kernels()  ? cpu::avx512Kernels()
                                           : cpu::avxVnniKernels() ? cpu::avxVnniKernels()
                                           : cpu::avx2Kernels()    ? cpu::avx2Kernels()
                                                                   : cpu::neonKernels();
            QCOMPARE(&cpu::activeKernels(), best ? best : &cpu::scalarKernels());
            QCOMPARE(cpu::avx2Kernels() != nullptr, f.hasAvx2Set());
            QCOMPARE(cpu::avxVnniKernels() != nullptr, f.hasAvx2Set() && f.avxVnni);
            QCOMPARE(cpu::avx512Kernels() != nullptr, f.hasAvx512Set());
            QCOMPARE(cpu::amxKernels() != nullptr, f.hasAmxSet());
        }
        QVERIFY(cpu::scalarKernels().dotQ4_K != nullptr);
    }

    void dotProducts_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("n");
        for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
            for (int n : {1, 7, 8, 15, 16, 17, 33, 100, 2048, 2051}) {
                const QByteArray name = QByteArray(tensorTypeName(t).data()) + " n=" + QByteArray::number(n);
                QTest::newRow(name.constData()) << static_cast<int>(t) << n;
            }
        }
        for (TensorType t : {TensorType::Q8_0, TensorType::Q4_0}) {
            for (int n : {32, 64, 96, 2048 + 32, 5632}) {
                const QByteArray name = QByteArray(tensorTypeName(t).data()) + " n=" + QByteArray::number(n);
                QTest::newRow(name.constData()) << static_cast<int>(t) << n;
            }
        }
        for (TensorType t : {TensorType::Q4_K, TensorType::Q6_K}) {
            for (int n : {256, 512, 768, 5632}) {
                const QByteArray name = QByteArray(tensorTypeName(t).data()) + " n=" + QByteArray::number(n);
                QTest::newRow(name.constData()) << static_cast<int>(t) << n;
            }
        }
        // The newer formats: bit-exact to the scalar reference (the same lanes and float steps as llama.cpp's
        // x86 kernels); 32-value formats also with an odd block count (IQ4_NL's unpaired last block).
        for (TensorType t : kReadOnlyFormats) {
            static const std::vector<int> kSmall = {32, 96, 256, 2048 + 32, 5632};
            static const std::vector<int> kSuper = {256, 512, 768, 5632};
            for (int n : tensorTypeTraits(t).blockElements == 32 ? kSmall : kSuper) {
                const QByteArray name = QByteArray(tensorTypeName(t).data()) + " n=" + QByteArray::number(n);
                QTest::newRow(name.constData()) << static_cast<int>(t) << n;
            }
        }
    }

    // The reference dot product of each newer format against the dequantised weights and activations: equal
    // up to float rounding, so the dot product reads the same block layout as the dequantiser (which
    // embedding rows use) and as llama.cpp writes it.
    void referenceDotMatchesDequantized_data() {
        QTest::addColumn<int>("type");
        for (TensorType t : kReadOnlyFormats)
            QTest::newRow(tensorTypeName(t).data()) << static_cast<int>(t);
    }

    void referenceDotMatchesDequantized() {
        QFETCH(int, type);
        const auto weightType = static_cast<TensorType>(type);
        const int64_t n = 768;
        const auto w = randomBlocks(weightType, 1, n, 4242u);
        const auto xValues = randomValues(n, 77u, 1.0f);
        const auto x = activations(weightType, xValues, 1, n);
        std::vector<float> wf(static_cast<size_t>(n));
        quant::dequantizeRow(weightType, w.data(), wf.data(), n);
        // The activation side as the dot product sees it (quantised), dequantised the same way `magnitude`
        // does.
        double expected = 0.0;
        const double mag = magnitude(weightType, w.data(), x.data(), n);
        const TensorType actType = quant::activationTypeFor(weightType);
        for (int64_t i = 0; i < n; ++i) {
            float v = 0.0f;
            if (actType == TensorType::Q8_K) {
                const auto* blocks = reinterpret_cast<const BlockQ8_K*>(x.data());
                v = blocks[i / kQKK].d * blocks[i / kQKK].qs[i % kQKK];
            } else if (actType == TensorType::Q8_1) {
                const auto* blocks = reinterpret_cast<const BlockQ8_1*>(x.data());
                v = quant::fp16ToFp32(blocks[i / kQK8_1].d) * blocks[i / kQK8_1].qs[i % kQK8_1];
            } else {
                const auto* blocks = reinterpret_cast<const BlockQ8_0*>(x.data());
                v = quant::fp16ToFp32(blocks[i / kQK8_0].d) * blocks[i / kQK8_0].qs[i % kQK8_0];
            }
            expected += static_cast<double>(wf[static_cast<size_t>(i)]) * v;
        }
        const float got = quant::dotRow(weightType, w.data(), x.data(), n);
        // Q4_1 / Q5_1 use the F16-rounded block sum s for the offset m: allow its rounding (2^-11 relative).
        const double bound = (actType == TensorType::Q8_1 ? 2e-3 : 1e-5) * mag + 1e-12;
        QVERIFY2(std::fabs(static_cast<double>(got) - expected) <= bound,
                 qPrintable(QStringLiteral("dot %1, dequantised %2, bound %3")
                                .arg(double(got))
                                .arg(expected)
                                .arg(bound)));
    }

    void dotProducts() {
        QFETCH(int, type);
        QFETCH(int, n);
        if (simdTables().empty())
            QSKIP("this CPU has no AVX2/FMA/F16C or NEON; only the scalar kernels run");
        for (const cpu::KernelTable* simd : simdTables())
            checkDot(*simd, static_cast<TensorType>(type), n);
    }

    void activationQuantizers_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("pattern");
        const struct {
            TensorType type;
            std::initializer_list<int> sizes;
        } cases[] = {{TensorType::F16, {1, 7, 8, 13, 64, 2051}},
                     {TensorType::BF16, {1, 9, 64}},
                     {TensorType::Q8_0, {32, 96, 2048}},
                     {TensorType::Q4_K, {256, 768, 5632}}};
        for (const auto& c : cases) {
            for (int n : c.sizes) {
                for (int pattern = 0; pattern < 4; ++pattern) {
                    const QByteArray name =
                        QByteArray(tensorTypeName(quant::activationTypeFor(c.type)).data()) +
                        " n=" + QByteArray::number(n) + " pattern " + QByteArray::number(pattern);
                    QTest::newRow(name.constData()) << static_cast<int>(c.type) << n << pattern;
                }
            }
        }
    }

    // Patterns: 0 normal values, 1 all zero, 2 exact ties after scaling (x.5 steps), 3 a repeated maximum
    // with both signs (the K quantiser keeps the first one's sign).
    void activationQuantizers() {
        QFETCH(int, type);
        QFETCH(int, n);
        QFETCH(int, pattern);
        if (simdTables().empty())
            QSKIP("this CPU has no AVX2/FMA/F16C or NEON; only the scalar kernels run");
        const auto weightType = static_cast<TensorType>(type);
        std::vector<float> x = randomValues(n, 7u + static_cast<uint32_t>(n), 3.0f);
        if (pattern == 1)
            std::fill(x.begin(), x.end(), 0.0f);
        if (pattern == 2) {
            for (int i = 0; i < n; ++i)
                x[static_cast<size_t>(i)] = static_cast<float>((i % 255) - 127) * 0.5f;
        }
        if (pattern == 3) {
            for (int i = 0; i < n; i += 5)
                x[static_cast<size_t>(i)] = (i / 5) % 2 ? 10.0f : -10.0f;
        }
        const size_t bytes = quant::activationRowBytes(weightType, n);
        std::vector<std::byte> reference(bytes, std::byte{0x55});
        quant::quantizeActivationRow(weightType, x.data(), reference.data(), n);
        for (const cpu::KernelTable* simd : simdTables()) {
            std::vector<std::byte> fast(bytes, std::byte{0x55});
            const cpu::QuantizeFn quantize = simd->activationQuantizerFor(weightType);
            QVERIFY(quantize);
            quantize(x.data(), fast.data(), n);
            QVERIFY2(std::memcmp(fast.data(), reference.data(), bytes) == 0, simd->name);
        }
    }

    // Attention pieces: the F16 rounding steps must match bit for bit, the query.key dot to float rounding.
    // SIMD SwiGLU (own exp) against the libm formula: within 4e-7 relative, including both tails, zero, odd
    // lengths; like llama.cpp, the tail after the last whole group of 16 (8 on the AVX2 tables) is the libm
    // formula exactly.
    void swiGluKernels() {
        int tested = 0;
        for (const cpu::KernelTable* table : simdTables()) {
            if (!table->swiGlu)
                continue;
            ++tested;
            for (int n : {1, 15, 16, 17, 1000}) {
                std::vector<float> gate(static_cast<size_t>(n));
                std::vector<float> x(static_cast<size_t>(n));
                for (int i = 0; i < n; ++i) {
                    gate[size_t(i)] = -120.0f + 240.0f * float(i) / float(std::max(1, n - 1));
                    x[size_t(i)] = 0.5f + 0.001f * float(i);
                }
                if (n > 3) {
                    gate[1] = 0.0f;
                    gate[2] = -0.0f;
                    gate[3] = 1e-30f;
                }
                std::vector<float> got = x;
                table->swiGlu(gate.data(), got.data(), n);
                for (int i = 0; i < n; ++i) {
                    const float g = gate[size_t(i)];
                    const float expected = (g / (1.0f + std::exp(-g))) * x[size_t(i)];
                    const double bound = 4e-7 * std::fabs(double(expected)) + 1e-37;
                    if (!(std::fabs(double(got[size_t(i)]) - double(expected)) <= bound))
                        QFAIL(qPrintable(QStringLiteral("%1 n=%2 i=%3 gate %4: %5 vs %6")
                                             .arg(QString::fromLatin1(table->name))
                                             .arg(n)
                                             .arg(i)
                                             .arg(double(g))
                                             .arg(double(got[size_t(i)]), 0, 'g', 9)
                                             .arg(double(expected), 0, 'g', 9)));
                }
                // Groups of 16 on the AVX-512 tables, of 8 on the AVX2 ones (the builds they follow).
                const int group = QByteArray(table->name).startsWith("avx512") ? 16 : 8;
                for (int i = n - n % group; i < n; ++i) {
                    const float g = gate[size_t(i)];
                    COMPARE_BITS(got[size_t(i)], (g / (1.0f + ::expf(-g))) * x[size_t(i)]);
                }
            }
        }
        if (tested == 0)
            QSKIP("no SIMD table with its own SwiGLU on this CPU");
    }

    void attentionKernels() {
        if (simdTables().empty())
            QSKIP("this CPU has no AVX2/FMA/F16C or NEON; only the scalar kernels run");
        const cpu::KernelTable& ref = cpu::scalarKernels();
        for (int n : {1, 7, 64, 67, 128}) {
            const auto a = randomValues(n, 11u, 2.0f);
            const auto vf = randomValues(n, 12u, 1.0f);
            std::vector<f16_bits> v(static_cast<size_t>(n));
            for (int i = 0; i < n; ++i)
                v[static_cast<size_t>(i)] = quant::fp32ToFp16(vf[static_cast<size_t>(i)]);
            for (const cpu::KernelTable* simd : simdTables()) {
                double mag = 0.0;
                for (int i = 0; i < n; ++i)
                    mag +=
                        std::fabs(a[static_cast<size_t>(i)] * quant::fp16ToFp32(v[static_cast<size_t>(i)]));
                QVERIFY(std::fabs(simd->dotF32F16(a.data(), v.data(), n) -
                                  ref.dotF32F16(a.data(), v.data(), n)) <= 1e-5 * mag + 1e-30);
                std::vector<float> fast(a);
                std::vector<float> slow(a);
                simd->roundF16(a.data(), fast.data(), n);
                ref.roundF16(a.data(), slow.data(), n);
                QVERIFY(fast == slow);
                simd->accumulateF16(fast.data(), v.data(), 0.37f, n);
                ref.accumulateF16(slow.data(), v.data(), 0.37f, n);
                QVERIFY(fast == slow);
                simd->scaleF16(fast.data(), 0.61f, n);
                ref.scaleF16(slow.data(), 0.61f, n);
                QVERIFY(fast == slow);
            }
        }
    }

    // llama.cpp's tiled flash-attention pieces: every table's score chains and value sums give the scalar
    // reference's floats bit for bit (memcmp), for key counts around the kernels' groups of 8 and 16,
    // head sizes with and without a tail of 8, and keys strided as in the cache (several heads a row).
    void tiledAttentionKernels() {
        if (simdTables().empty())
            QSKIP("this CPU has no AVX2/FMA/F16C or NEON; only the scalar kernels run");
        const cpu::KernelTable& ref = cpu::scalarKernels();
        for (const int64_t headDim : {int64_t(64), int64_t(128), int64_t(80), int64_t(40), int64_t(13)}) {
            const int64_t stride = headDim * 3 + 8; // three heads and padding between rows
            const int64_t keys = 64;
            const auto q = randomValues(int(headDim), 21u, 1.5f);
            const auto kf = randomValues(int(keys * stride), 22u, 2.0f);
            std::vector<f16_bits> cache(kf.size());
            for (size_t i = 0; i < kf.size(); ++i)
                cache[i] = quant::fp32ToFp16(kf[i]);
            const auto weights = randomValues(int(keys), 23u, 1.0f);
            for (const cpu::KernelTable* simd : simdTables()) {
                QVERIFY(simd->fmaChainScoresF16 && simd->fmaAccumulateRowsF16);
                for (const int64_t count : {int64_t(1), int64_t(7), int64_t(8), int64_t(15), int64_t(16),
                                            int64_t(17), int64_t(33), int64_t(64)}) {
                    const f16_bits* base = cache.data() + headDim; // the second head of each row
                    std::vector<float> fast(size_t(count), -1.0f), slow(size_t(count), -2.0f);
                    simd->fmaChainScoresF16(q.data(), base, stride, count, headDim, fast.data());
                    ref.fmaChainScoresF16(q.data(), base, stride, count, headDim, slow.data());
                    QVERIFY2(std::memcmp(fast.data(), slow.data(), fast.size() * sizeof(float)) == 0,
                             qPrintable(QStringLiteral("%1 scores, headDim %2, %3 keys")
                                            .arg(QLatin1String(simd->name))
                                            .arg(headDim)
                                            .arg(count)));
                    std::vector<float> accFast(q.begin(), q.end()), accSlow(q.begin(), q.end());
                    simd->fmaAccumulateRowsF16(accFast.data(), weights.data(), base, stride, count, headDim);
                    ref.fmaAccumulateRowsF16(accSlow.data(), weights.data(), base, stride, count, headDim);
                    QVERIFY2(std::memcmp(accFast.data(), accSlow.data(), accFast.size() * sizeof(float)) == 0,
                             qPrintable(QStringLiteral("%1 values, headDim %2, %3 keys")
                                            .arg(QLatin1String(simd->name))
                                            .arg(headDim)
                                            .arg(count)));
                }
            }
        }
    }

    // Rows for the weight types some table on this CPU has a tiled kernel for (F16 and Q8_0 have none at
    // present: their products follow llama.cpp's dot products), so that no row can only ever skip; one
    // row that skips with the reason where no table has any.
    void gemmKernels_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("cols");
        auto tiled = [](TensorType t) {
            for (const cpu::KernelTable* table : simdTables())
                if (table->gemmFor(t))
                    return true;
            return false;
        };
        int added = 0;
        auto add = [&](TensorType t, int cols) {
            if (!tiled(t))
                return;
            const QByteArray name = QByteArray(tensorTypeName(t).data()) + " n=" + QByteArray::number(cols);
            QTest::newRow(name.constData()) << static_cast<int>(t) << cols;
            ++added;
        };
        for (TensorType t : {TensorType::F16, TensorType::Q8_0, TensorType::Q4_0, TensorType::IQ4_NL,
                             TensorType::Q5_0, TensorType::Q4_1, TensorType::Q5_1})
            for (int cols : {32, 96, 2048 + 32, 5632})
                add(t, cols);
        for (int cols : {1, 7, 17, 100})
            add(TensorType::F16, cols);
        for (TensorType t :
             {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q5_K, TensorType::IQ4_XS, TensorType::Q3_K})
            for (int cols : {256, 768, 2048})
                add(t, cols);
        if (added == 0)
            QTest::newRow("no tiled kernels") << -1 << 0;
    }

    // Tiled GEMM kernels: against the scalar reference (exact for K-quants), and every (row, token) result
    // identical whatever the batch size and row split (batched prefill must equal token-by-token decode);
    // where the matmul switches to the dot product for few tokens, the two must agree bit for bit.
    void gemmKernels() {
        QFETCH(int, type);
        QFETCH(int, cols);
        if (type < 0)
            QSKIP("no kernel table on this CPU has a tiled (gemm) kernel for any weight type");
        const auto weightType = static_cast<TensorType>(type);
        int tested = 0;
        for (const cpu::KernelTable* table : simdTables()) {
            const cpu::GemmKernel* gemm = table->gemmFor(weightType);
            if (!gemm)
                continue;
            ++tested;
            // Two full 16 x 16 tiles each way plus odd edges, so tiled (AMX) and strip paths both run.
            const int rows = 37;
            const int tokens = 35;
            const auto wValues = randomValues(int64_t(rows) * cols, 21u + uint32_t(cols), 0.05f);
            const auto xValues = randomValues(int64_t(tokens) * cols, 22u + uint32_t(cols), 1.0f);
            const auto w = quantized(weightType, wValues, rows, cols);
            const size_t wStride = w.size() / rows;
            const size_t pStride = gemm->preparedBytes(cols);
            std::vector<std::byte> prepared(pStride * tokens);
            for (int t = 0; t < tokens; ++t)
                gemm->prepare(xValues.data() + int64_t(t) * cols, prepared.data() + pStride * size_t(t),
                              cols);
            std::vector<float> batch(size_t(rows) * tokens, NAN);
            gemm->run(w.data(), wStride, rows, prepared.data(), pStride, tokens, cols, batch.data(), rows);
            // One token at a time, and rows in odd-sized pieces.
            std::vector<float> single(size_t(rows) * tokens, NAN);
            for (int t = 0; t < tokens; ++t) {
                for (int r0 = 0; r0 < rows; r0 += 5) {
                    const int nRows = std::min(5, rows - r0);
                    gemm->run(w.data() + wStride * size_t(r0), wStride, nRows,
                              prepared.data() + pStride * size_t(t), pStride, 1, cols,
                              single.data() + size_t(t) * rows + size_t(r0), rows);
                }
            }
            QVERIFY2(std::memcmp(batch.data(), single.data(), batch.size() * sizeof(float)) == 0,
                     table->name);
            // Small batches (every remainder tile shape, with and without a full tile) give the same floats.
            for (int small : {2, 3, 4, 5, 6, 7}) {
                std::vector<float> part(size_t(rows) * small, NAN);
                gemm->run(w.data(), wStride, rows, prepared.data(), pStride, small, cols, part.data(), rows);
                QVERIFY2(
                    std::memcmp(part.data(), batch.data(), part.size() * sizeof(float)) == 0,
                    qPrintable(
                        QStringLiteral("%1, %2 tokens").arg(QString::fromLatin1(table->name)).arg(small)));
            }
            const auto x = activations(weightType, xValues, tokens, cols);
            const size_t xStride = quant::activationRowBytes(weightType, cols);
            if (gemm->runLlamaBatch) {
                // llama.cpp's batch rounding. Q4_K: its gemm for the 32 tokens in full groups of 4, its gemv
                // (the decode floats above) for the last 3. IQ4_XS: its IQ panel gemm for every token. Also
                // in small batches (the few-token path and every tile shape).
                QVERIFY(weightType == TensorType::Q4_K || weightType == TensorType::IQ4_XS);
                for (int count : {tokens, 2, 3, 5, 7, 12, 16, 32}) {
                    std::vector<float> llama(size_t(rows) * count, NAN);
                    gemm->runLlamaBatch(w.data(), wStride, rows, prepared.data(), pStride, count, cols,
                                        llama.data(), rows);
                    const int grouped = count - count % 4;
                    for (int t = 0; t < count; ++t)
                        for (int r = 0; r < rows; ++r) {
                            const std::byte* xt = x.data() + xStride * size_t(t);
                            const std::byte* wr = w.data() + wStride * size_t(r);
                            const auto* xq = reinterpret_cast<const BlockQ8_K*>(xt);
                            float expected = batch[size_t(t) * rows + size_t(r)];
                            if (weightType == TensorType::IQ4_XS)
                                expected =
                                    quant::dotIQ4_XSPanel(reinterpret_cast<const BlockIQ4_XS*>(wr), xq, cols);
                            else if (t < grouped)
                                expected =
                                    quant::dotQ4_KGemm(reinterpret_cast<const BlockQ4_K*>(wr), xq, cols);
                            if (llama[size_t(t) * rows + size_t(r)] != expected)
                                QFAIL(qPrintable(
                                    QStringLiteral("%1 LlamaCpp batch of %2, row %3 token %4: %5 vs %6")
                                        .arg(QString::fromLatin1(table->name))
                                        .arg(count)
                                        .arg(r)
                                        .arg(t)
                                        .arg(double(llama[size_t(t) * rows + size_t(r)]), 0, 'g', 9)
                                        .arg(double(expected), 0, 'g', 9)));
                        }
                }
            }
            // Every token gets the dot product's bits where the matmul switches to it for few tokens
            // (minTokens > 1), and in every gemm of the AVX2-family tables but Q4_0's: their dot products are
            // llama.cpp's AVX2 decode arithmetic, which that build keeps for a batch
            // (BatchRounding::LlamaCpp's Q4_K groups of 4 aside, checked above). Their Q4_0 strip has its own
            // float order, used in decode too (minTokens 1).
            const bool avx2Family =
                std::strcmp(table->name, "avx2") == 0 || std::strcmp(table->name, "avx-vnni") == 0;
            // IQ4_NL's eight-row kernel keeps the dot's chain per (row, token) on every table.
            const bool sameAsDot = gemm->minTokens > 1 || (avx2Family && weightType != TensorType::Q4_0) ||
                                   weightType == TensorType::IQ4_NL;
            // "<table> row R token T: [what ]got vs <other> value", for either check below.
            auto mismatch = [&](int r, int t, const QString& what, float got, const char* other,
                                double value) {
                return QStringLiteral("%1 row %2 token %3: %4%5 vs %6 %7")
                    .arg(QString::fromLatin1(table->name))
                    .arg(r)
                    .arg(t)
                    .arg(what.isEmpty() ? QString() : what + QLatin1Char(' '))
                    .arg(double(got), 0, 'g', 9)
                    .arg(QString::fromLatin1(other))
                    .arg(value, 0, 'g', 9);
            };
            for (int t = 0; t < tokens; ++t) {
                const std::byte* xt = x.data() + xStride * size_t(t);
                for (int r = 0; r < rows; ++r) {
                    const std::byte* wr = w.data() + wStride * size_t(r);
                    const float got = batch[size_t(t) * rows + size_t(r)];
                    if (sameAsDot) {
                        float viaDot = NAN;
                        table->dotFor(weightType)(wr, xt, xStride, 1, cols, &viaDot);
                        if (std::memcmp(&got, &viaDot, sizeof got) != 0)
                            QFAIL(qPrintable(mismatch(r, t, QStringLiteral("gemm"), got, "dot", viaDot)));
                    }
                    const float expected = quant::dotRow(weightType, wr, xt, cols);
                    const double bound =
                        exactFormat(weightType) ? 0.0 : 1e-5 * magnitude(weightType, wr, xt, cols);
                    if (std::fabs(double(got) - expected) > bound)
                        QFAIL(qPrintable(mismatch(r, t, QString(), got, "reference", expected)));
                }
            }
        }
        if (tested == 0)
            QSKIP("no SIMD table with tiled kernels on this CPU");
    }

    // dotF32Ggml against ggml_vec_dot_f32 as llama.cpp's AVX-512 (16 lanes) and AVX2 (8 lanes) builds run it,
    // written out in scalar steps, bit for bit (the table's llamaSgemmF32Lanes says which build it follows):
    // four chains of L lanes over steps of 4L (element i on chain (i / L) % 4, lane i % L), chains (0 + 2) +
    // (1 + 3), then the build's horizontal sum (16 lanes: GCC's _mm512_reduce_add_ps, lane l + lane l + 8,
    // then + 4, + 2, then the last two; 8 lanes: lane l + lane l + 4, then (0 + 1) + (2 + 3)); the tail as
    // GCC vectorised `sumf += x[i] * y[i]`: products of L, then one group of L / 2, each rounded and added in
    // order, the rest with an FMA.
    void f32GgmlOrder() {
        int tested = 0;
        for (const cpu::KernelTable* table : simdTables()) {
            if (!table->dotF32Ggml)
                continue;
            ++tested;
            const int64_t lanes = table->llamaSgemmF32Lanes;
            QVERIFY(lanes == 8 || lanes == 16);
            for (int64_t n : {8, 16, 24, 40, 64, 100, 172, 256, 300})
                for (uint32_t seed = 0; seed < 3; ++seed) {
                    const auto w = randomValues(n, 7u + uint32_t(n) + 100u * seed, 0.05f);
                    const auto x = randomValues(n, 8u + uint32_t(n) + 100u * seed, 1.0f);
                    float chains[4][16] = {};
                    const int64_t steps = n / (4 * lanes) * (4 * lanes);
                    for (int64_t i = 0; i < steps; ++i)
                        chains[(i / lanes) % 4][i % lanes] =
                            std::fma(w[size_t(i)], x[size_t(i)], chains[(i / lanes) % 4][i % lanes]);
                    float v[16];
                    for (int l = 0; l < lanes; ++l)
                        v[l] = (chains[0][l] + chains[2][l]) + (chains[1][l] + chains[3][l]);
                    float expected = 0.0f;
                    if (lanes == 16) {
                        for (int width = 8; width >= 2; width /= 2)
                            for (int l = 0; l < width; ++l)
                                v[l] = v[l + width] + v[l];
                        expected = v[0] + v[1];
                    } else {
                        for (int l = 0; l < 4; ++l)
                            v[l] = v[l] + v[l + 4];
                        expected = (v[0] + v[1]) + (v[2] + v[3]);
                    }
                    int64_t i = steps;
                    for (; i + lanes <= n; i += lanes)
                        for (int64_t k = i; k < i + lanes; ++k)
                            expected += w[size_t(k)] * x[size_t(k)]; // two roundings (-ffp-contract=off)
                    if (i + lanes / 2 <= n)
                        for (const int64_t end = i + lanes / 2; i < end; ++i)
                            expected += w[size_t(i)] * x[size_t(i)];
                    for (; i < n; ++i)
                        expected = std::fma(w[size_t(i)], x[size_t(i)], expected);
                    float got = NAN;
                    table->dotF32Ggml(w.data(), reinterpret_cast<const std::byte*>(x.data()), 0, 1, n, &got);
                    QVERIFY2(std::memcmp(&got, &expected, sizeof got) == 0,
                             qPrintable(QStringLiteral("%1, n = %2, seed %3: %4 vs %5")
                                            .arg(QString::fromLatin1(table->name))
                                            .arg(n)
                                            .arg(seed)
                                            .arg(double(got), 0, 'g', 9)
                                            .arg(double(expected), 0, 'g', 9)));
                }
        }
        if (tested == 0)
            QSKIP("no SIMD table with llama.cpp's F32 decode order on this CPU");
    }

    // The tiled F16 tinyBLAS product (KernelTable::gemmF16Sgemm, every row range and token count, any tile
    // edge) gives dotF16Sgemm's floats bit for bit: both are llama.cpp's one chain per (row, token).
    void f16SgemmTiles() {
        int tested = 0;
        for (const cpu::KernelTable* table : simdTables()) {
            if (!table->gemmF16Sgemm)
                continue;
            QVERIFY(table->dotF16Sgemm);
            ++tested;
            for (int cols : {16, 64, 272}) {
                constexpr int kRows = 11;
                constexpr int kTokens = 15;
                const auto w =
                    quantized(TensorType::F16, randomValues(int64_t(kRows) * cols, 41u, 0.05f), kRows, cols);
                const auto x = activations(TensorType::F16, randomValues(int64_t(kTokens) * cols, 42u, 1.0f),
                                           kTokens, cols);
                const size_t wStride = w.size() / kRows;
                const size_t xStride = quant::activationRowBytes(TensorType::F16, cols);
                for (int rows = 1; rows <= kRows; rows += 2)
                    for (int tokens = 1; tokens <= kTokens; ++tokens) {
                        std::vector<float> tiled(size_t(tokens) * rows, NAN);
                        table->gemmF16Sgemm(w.data(), wStride, rows, x.data(), xStride, tokens, cols,
                                            tiled.data(), rows);
                        for (int r = 0; r < rows; ++r) {
                            std::vector<float> dot(size_t(tokens), NAN);
                            for (int t0 = 0; t0 < tokens; t0 += cpu::kMaxTileTokens) {
                                const int tile = std::min(cpu::kMaxTileTokens, tokens - t0);
                                table->dotF16Sgemm(w.data() + wStride * size_t(r),
                                                   x.data() + xStride * size_t(t0), xStride, tile, cols,
                                                   dot.data() + t0);
                            }
                            for (int t = 0; t < tokens; ++t)
                                COMPARE_BITS(tiled[size_t(t) * rows + size_t(r)], dot[size_t(t)]);
                        }
                    }
            }
        }
        if (tested == 0)
            QSKIP("no SIMD table with the tiled F16 tinyBLAS product on this CPU (AVX2 or later)");
    }

    // llama.cpp's IQ panel rounding one weight row at a time (KernelTable::dotIQ4_XSPanel: LlamaCpp batches
    // on tables without the panel gemm, e.g. AVX-512, and single-row chunks): quant::dotIQ4_XSPanel's floats
    // for every tile size.
    void iq4XsPanelOrder() {
        int tested = 0;
        for (const cpu::KernelTable* table : simdTables()) {
            if (!table->dotIQ4_XSPanel)
                continue;
            ++tested;
            for (int cols : {256, 768, 2048}) {
                constexpr int kRows = 5;
                constexpr int kTokens = 7;
                const auto w = quantized(TensorType::IQ4_XS, randomValues(int64_t(kRows) * cols, 31u, 0.05f),
                                         kRows, cols);
                const auto x = activations(TensorType::IQ4_XS,
                                           randomValues(int64_t(kTokens) * cols, 32u, 1.0f), kTokens, cols);
                const size_t wStride = w.size() / kRows;
                const size_t xStride = quant::activationRowBytes(TensorType::IQ4_XS, cols);
                for (int r = 0; r < kRows; ++r)
                    for (int tile = 1; tile <= 4; ++tile) {
                        float got[4] = {NAN, NAN, NAN, NAN};
                        table->dotIQ4_XSPanel(w.data() + wStride * size_t(r), x.data() + xStride, xStride,
                                              tile, cols, got);
                        for (int t = 0; t < tile; ++t)
                            COMPARE_BITS(
                                got[t],
                                quant::dotIQ4_XSPanel(
                                    reinterpret_cast<const BlockIQ4_XS*>(w.data() + wStride * size_t(r)),
                                    reinterpret_cast<const BlockQ8_K*>(x.data() + xStride * size_t(1 + t)),
                                    cols));
                    }
            }
        }
        if (tested == 0)
            QSKIP("no SIMD table with llama.cpp's IQ panel rounding on this CPU");
    }

    // llama.cpp's AVX-512 builds multiply Q2_K through their repacked kernels: the gemv (decode, and the
    // last tokens % 4 of a batch) one FMA per super-block (quant::dotQ2_KRepacked), the gemm (full groups of
    // 4 batch tokens) one per half super-block (quant::dotQ2_KGemm). Rows of one super-block hide the
    // difference; llama.cpp's own outputs on multi-block files are compared outside the repository
    // (docs/architecture.md, "Repacked formats").
    void q2KGemmOrder() {
        int tested = 0;
        int differing = 0; // (row, token) pairs where the two orders give other floats: the check can fail
        for (const cpu::KernelTable* table : simdTables()) {
            if (!table->dotQ2_KGemm)
                continue;
            ++tested;
            for (int cols : {256, 768, 2048}) {
                constexpr int kRows = 5;
                constexpr int kTokens = 7;
                const auto w =
                    quantized(TensorType::Q2_K, randomValues(int64_t(kRows) * cols, 41u, 0.05f), kRows, cols);
                const auto x = activations(TensorType::Q2_K, randomValues(int64_t(kTokens) * cols, 42u, 1.0f),
                                           kTokens, cols);
                const size_t wStride = w.size() / kRows;
                const size_t xStride = quant::activationRowBytes(TensorType::Q2_K, cols);
                for (int r = 0; r < kRows; ++r) {
                    const auto* wr = reinterpret_cast<const BlockQ2_K*>(w.data() + wStride * size_t(r));
                    for (int tile = 1; tile <= 4; ++tile) {
                        float got[4] = {NAN, NAN, NAN, NAN};
                        table->dotQ2_KGemm(w.data() + wStride * size_t(r), x.data() + xStride, xStride, tile,
                                           cols, got);
                        for (int t = 0; t < tile; ++t) {
                            const auto* xt =
                                reinterpret_cast<const BlockQ8_K*>(x.data() + xStride * size_t(1 + t));
                            const float expected = quant::dotQ2_KGemm(wr, xt, cols);
                            QVERIFY2(std::memcmp(&got[t], &expected, sizeof expected) == 0, table->name);
                            differing +=
                                quant::dotQ2_KGemm(wr, xt, cols) != quant::dotQ2_KRepacked(wr, xt, cols);
                        }
                    }
                }
            }
        }
        if (tested == 0)
            QSKIP("no SIMD table with llama.cpp's repacked Q2_K gemm order on this CPU (AVX2 or later)");
        QVERIFY2(differing > 0,
                 "the gemm and gemv orders never differed: the test data cannot tell them apart");

        // The matmul under BatchRounding::LlamaCpp: the gemm order for full groups of 4 tokens of matrices
        // llama.cpp repacks (8k rows), decode's order for the other tokens and for other row counts. 19 and
        // 37 tokens take the lane gemm (KernelTable::gemmQ2_KGroups) for 16 and 36 of them, 7 the rows.
        if (!cpu::activeKernels().dotQ2_KGemm)
            return;
        for (const auto& [rows, kTokens] :
             {std::pair{16, 7}, std::pair{12, 7}, std::pair{24, 19}, std::pair{40, 37}, std::pair{36, 19}}) {
            constexpr int kCols = 768;
            const auto wValues = randomValues(int64_t(rows) * kCols, 43u, 0.05f);
            const auto xValues = randomValues(int64_t(kTokens) * kCols, 44u, 1.0f);
            const auto data = quantized(TensorType::Q2_K, wValues, rows, kCols);
            const WeightMatrix w = matrixView(TensorType::Q2_K, rows, kCols, data);
            const auto x = activations(TensorType::Q2_K, xValues, kTokens, kCols);
            const size_t xStride = quant::activationRowBytes(TensorType::Q2_K, kCols);
            ThreadPool pool(2);
            std::vector<std::byte> scratch;
            std::vector<float> y(size_t(rows) * kTokens, NAN);
            cpu::matmul(w, xValues.data(), kTokens, y.data(), pool, scratch, cpu::BatchRounding::LlamaCpp);
            for (int t = 0; t < kTokens; ++t)
                for (int r = 0; r < rows; ++r) {
                    const auto* wr = reinterpret_cast<const BlockQ2_K*>(w.row(r));
                    const auto* xt = reinterpret_cast<const BlockQ8_K*>(x.data() + xStride * size_t(t));
                    const float expected = rows % 8 == 0 && t < kTokens - kTokens % 4
                                               ? quant::dotQ2_KGemm(wr, xt, kCols)
                                               : quant::dotQ2_KRepacked(wr, xt, kCols);
                    QVERIFY2(std::memcmp(&y[size_t(t) * rows + size_t(r)], &expected, sizeof expected) == 0,
                             qPrintable(QStringLiteral("%1 rows x %2 tokens, row %3 token %4")
                                            .arg(rows)
                                            .arg(kTokens)
                                            .arg(r)
                                            .arg(t)));
                }
        }
    }

    // BatchRounding::LlamaCppExperts (one expert's routed tokens, as llama.cpp's MUL_MAT_ID): decode's
    // floats for every format (Q4_K's groups of 4 included), except IQ4_XS with 8+ tokens on 8k rows, which
    // takes the IQ panel's.
    void expertRoundingIsDecodeButTheIqPanel() {
        const cpu::KernelTable& kernels = cpu::activeKernels();
        if (!kernels.llamaIqPanelBatches)
            QSKIP("the active kernel table follows no llama.cpp build with the IQ panel (x86 only)");
        constexpr int kCols = 512;
        for (TensorType type : {TensorType::IQ4_XS, TensorType::Q4_K}) {
            for (int rows : {16, 12}) {
                for (int tokens : {7, 9}) {
                    const auto wValues = randomValues(int64_t(rows) * kCols, 51u, 0.05f);
                    const auto xValues = randomValues(int64_t(tokens) * kCols, 52u, 1.0f);
                    const auto data = quantized(type, wValues, rows, kCols);
                    const WeightMatrix w = matrixView(type, rows, kCols, data);
                    const auto x = activations(type, xValues, tokens, kCols);
                    const size_t xStride = quant::activationRowBytes(type, kCols);
                    ThreadPool pool(2);
                    std::vector<std::byte> scratch;
                    std::vector<float> y(size_t(rows) * tokens, NAN);
                    cpu::matmul(w, xValues.data(), tokens, y.data(), pool, scratch,
                                cpu::BatchRounding::LlamaCppExperts);
                    const bool panel = type == TensorType::IQ4_XS && tokens >= 8 && rows % 8 == 0;
                    for (int t = 0; t < tokens; ++t)
                        for (int r = 0; r < rows; ++r) {
                            const std::byte* xt = x.data() + xStride * size_t(t);
                            const float expected =
                                panel ? quant::dotIQ4_XSPanel(reinterpret_cast<const BlockIQ4_XS*>(w.row(r)),
                                                              reinterpret_cast<const BlockQ8_K*>(xt), kCols)
                                      : quant::dotRow(type, w.row(r), xt, kCols);
                            const float got = y[size_t(t) * rows + size_t(r)];
                            QVERIFY2(std::memcmp(&got, &expected, sizeof got) == 0,
                                     qPrintable(QStringLiteral("%1 %2 rows %3 tokens, row %4 token %5")
                                                    .arg(QString::fromLatin1(tensorTypeName(type).data()))
                                                    .arg(rows)
                                                    .arg(tokens)
                                                    .arg(r)
                                                    .arg(t)));
                        }
                }
            }
        }
    }

    // Q4_0 and Q8_0 in 16-row strips (WeightLayout::Strips16): the layout is the one described (checked byte
    // by byte here, independently of the packer); each table's strip kernels give its row kernels' bits for
    // every token count (run, and runLlamaBatch: a prompt's own rounding); and cpu::matmul on a packed
    // matrix (after a row-layout job in the same pass, 2 threads, both roundings) gives the row layout's
    // bits.
    void stripLayoutMatchesRows_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("rows");
        for (int cols : {32, 96, 2048 + 32, 5632})
            QTest::newRow(qPrintable(QStringLiteral("Q4_0 n=%1").arg(cols)))
                << int(TensorType::Q4_0) << cols << 48;
        for (int cols : {32, 96, 2048 + 32, 5632})
            QTest::newRow(qPrintable(QStringLiteral("Q8_0 n=%1").arg(cols)))
                << int(TensorType::Q8_0) << cols << 48;
        // More rows than one unpacked run of a prompt's kernel (512).
        QTest::newRow("Q8_0 n=64, 544 rows") << int(TensorType::Q8_0) << 64 << 544;
    }

    void stripLayoutMatchesRows() {
        QFETCH(int, type);
        QFETCH(int, cols);
        QFETCH(int, rows);
        const auto weightType = static_cast<TensorType>(type);
        const int maxTokens = 35;
        const auto wValues = randomValues(int64_t(rows) * cols, 71u + uint32_t(cols), 0.05f);
        const auto xValues = randomValues(int64_t(maxTokens) * cols, 72u + uint32_t(cols), 1.0f);
        const auto data = quantized(weightType, wValues, rows, cols);
        const WeightMatrix w = matrixView(weightType, rows, cols, data);
        std::vector<std::byte> packedBytes(data.size());
        cpu::packStrips(w, packedBytes.data());
        // The layout: per strip and block, the F16 fields of the 16 rows, then the 4-byte parts.
        const TensorTypeTraits traits = tensorTypeTraits(weightType);
        const size_t halves = 1;
        QCOMPARE(cpu::stripHeaderHalves(weightType), int(halves));
        const size_t parts = (traits.blockBytes - 2 * halves) / 4;
        for (int r = 0; r < rows; ++r)
            for (size_t b = 0; b < w.rowBytes / traits.blockBytes; ++b) {
                const std::byte* block = w.row(r) + b * traits.blockBytes;
                const std::byte* at =
                    packedBytes.data() + w.rowBytes * size_t(r / 16 * 16) + b * 16 * traits.blockBytes;
                const auto lane = size_t(r % 16);
                for (size_t h = 0; h < halves; ++h)
                    QVERIFY(std::memcmp(at + 32 * h + 2 * lane, block + 2 * h, 2) == 0);
                for (size_t k = 0; k < parts; ++k)
                    QVERIFY(std::memcmp(at + 32 * halves + 64 * k + 4 * lane, block + 2 * halves + 4 * k,
                                        4) == 0);
            }

        int tested = 0;
        for (const cpu::KernelTable* table : simdTables()) {
            const cpu::GemmKernel* packed = table->stripsGemmFor(weightType);
            if (!packed)
                continue;
            ++tested;
            const cpu::GemmKernel& plain = *table->gemmFor(weightType);
            QCOMPARE(bool(packed->runLlamaBatch), bool(plain.runLlamaBatch));
            const size_t pStride = plain.preparedBytes(cols);
            std::vector<std::byte> prepared(pStride * maxTokens);
            for (int t = 0; t < maxTokens; ++t)
                plain.prepare(xValues.data() + int64_t(t) * cols, prepared.data() + pStride * size_t(t),
                              cols);
            // The strips' own prepared rows (Q8_0's add per-block sums after the row kernels' blocks).
            const size_t sStride = packed->preparedBytes(cols);
            std::vector<std::byte> stripPrepared(sStride * maxTokens);
            for (int t = 0; t < maxTokens; ++t)
                packed->prepare(xValues.data() + int64_t(t) * cols,
                                stripPrepared.data() + sStride * size_t(t), cols);
            for (int tokens : {1, 2, 3, 4, 5, 7, 9, 12, 16, 35}) {
                for (bool llama : {false, true}) {
                    if (llama && !plain.runLlamaBatch)
                        continue;
                    std::vector<float> expected(size_t(rows) * tokens, NAN);
                    std::vector<float> got(size_t(rows) * tokens, NAN);
                    (llama ? plain.runLlamaBatch : plain.run)(data.data(), w.rowBytes, rows, prepared.data(),
                                                              pStride, tokens, cols, expected.data(), rows);
                    (llama ? packed->runLlamaBatch : packed->run)(packedBytes.data(), w.rowBytes, rows,
                                                                  stripPrepared.data(), sStride, tokens, cols,
                                                                  got.data(), rows);
                    size_t first = 0;
                    while (first < got.size() &&
                           std::memcmp(&got[first], &expected[first], sizeof(float)) == 0)
                        ++first;
                    QVERIFY2(first == got.size(),
                             qPrintable(QStringLiteral("%1, %2 tokens%3: token %4 row %5 gives %6, rows %7")
                                            .arg(QString::fromLatin1(table->name))
                                            .arg(tokens)
                                            .arg(llama ? QStringLiteral(", LlamaCpp batch") : QString())
                                            .arg(first / rows)
                                            .arg(first % rows)
                                            .arg(double(got[first % got.size()]), 0, 'g', 9)
                                            .arg(double(expected[first % got.size()]), 0, 'g', 9)));
                }
            }
        }
        if (!cpu::canPackStrips(w)) {
            if (tested == 0)
                QSKIP("no kernel table on this CPU multiplies this format in 16-row strips (AVX-512 without "
                      "AMX)");
            return;
        }
        WeightMatrix packedMatrix = w;
        packedMatrix.data = packedBytes.data();
        packedMatrix.layout = WeightLayout::Strips16;
        QVERIFY(!cpu::canPackStrips(packedMatrix)); // packed once only
        // A row-layout job of 37 rows first, so the packed matrix starts mid-grain in the shared pass.
        const auto otherData = quantized(weightType, randomValues(int64_t(37) * cols, 73u, 0.05f), 37, cols);
        const WeightMatrix other = matrixView(weightType, 37, cols, otherData);
        for (auto rounding : {cpu::BatchRounding::AsDecode, cpu::BatchRounding::LlamaCpp})
            for (int tokens : {1, 3, 9, 16}) {
                ThreadPool pool(2);
                std::vector<std::byte> scratch;
                std::vector<float> expected(size_t(rows) * tokens, NAN);
                std::vector<float> otherY(size_t(37) * tokens, NAN);
                std::vector<float> got(size_t(rows) * tokens, NAN);
                cpu::matmul(w, xValues.data(), tokens, expected.data(), pool, scratch, rounding);
                const cpu::MatmulJob jobs[2] = {{&other, otherY.data()}, {&packedMatrix, got.data()}};
                cpu::matmulShared(jobs, xValues.data(), tokens, pool, scratch, rounding);
                QVERIFY2(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0,
                         qPrintable(QStringLiteral("matmul, %1 tokens").arg(tokens)));
            }
    }

    void matmulMatchesReference_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("tokens");
        for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0,
                             TensorType::Q4_0, TensorType::Q4_K, TensorType::Q6_K}) {
            const int cols = (t == TensorType::Q4_K || t == TensorType::Q6_K) ? 512 : 96;
            for (int rows : {1, 17, 37}) {
                for (int tokens : {1, 3, 4, 5, 9}) {
                    const QByteArray name = QByteArray(tensorTypeName(t).data()) + " " +
                                            QByteArray::number(rows) + "x" + QByteArray::number(cols) +
                                            " tokens " + QByteArray::number(tokens);
                    QTest::newRow(name.constData()) << static_cast<int>(t) << rows << cols << tokens;
                }
            }
        }
    }

    void matmulMatchesReference() {
        QFETCH(int, type);
        QFETCH(int, rows);
        QFETCH(int, cols);
        QFETCH(int, tokens);
        const auto weightType = static_cast<TensorType>(type);
        const auto wValues = randomValues(static_cast<int64_t>(rows) * cols, 5u, 0.05f);
        const auto xValues = randomValues(static_cast<int64_t>(tokens) * cols, 6u, 1.0f);
        const auto data = quantized(weightType, wValues, rows, cols);
        const WeightMatrix w = matrixView(weightType, rows, cols, data);
        const auto x = activations(weightType, xValues, tokens, cols);
        const size_t xStride = quant::activationRowBytes(weightType, cols);

        std::vector<float> results[2];
        for (int threads = 1; threads <= 2; ++threads) {
            ThreadPool pool(threads);
            std::vector<std::byte> scratch;
            std::vector<float>& y = results[threads - 1];
            y.assign(static_cast<size_t>(rows) * static_cast<size_t>(tokens), NAN);
            cpu::matmul(w, xValues.data(), tokens, y.data(), pool, scratch);
        }
        // Thread count only changes which thread computes a row, never the arithmetic.
        QVERIFY(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)) == 0);
        for (int t = 0; t < tokens; ++t) {
            for (int r = 0; r < rows; ++r) {
                const std::byte* xt = x.data() + xStride * static_cast<size_t>(t);
                const float expected = quant::dotRow(weightType, w.row(r), xt, cols);
                const float got = results[0][static_cast<size_t>(t) * rows + r];
                const double bound =
                    exactFormat(weightType) ? 0.0 : 1e-5 * magnitude(weightType, w.row(r), xt, cols);
                if (std::fabs(static_cast<double>(got) - expected) > bound)
                    QFAIL(qPrintable(QStringLiteral("row %1 token %2: %3 vs reference %4")
                                         .arg(r)
                                         .arg(t)
                                         .arg(static_cast<double>(got), 0, 'g', 9)
                                         .arg(static_cast<double>(expected), 0, 'g', 9)));
            }
        }
    }

    // Every item runs exactly once, in chunks of at least minChunk items (but the last) that do not
    // depend on which thread takes them, with thread indices that no two running threads share.
    void threadPoolSplitsIntoFixedChunks() {
        for (int threads : {2, 3}) {
            ThreadPool pool(threads);
            for (int64_t count : {1, 7, 64, 1000}) {
                for (int64_t minChunk : {1, 4, 16}) {
                    std::set<std::pair<int64_t, int64_t>> firstSplit;
                    for (int round = 0; round < 50; ++round) {
                        std::vector<std::atomic<int>> seen(static_cast<size_t>(count));
                        std::vector<std::atomic<int>> inUse(static_cast<size_t>(threads));
                        std::mutex splitMutex;
                        std::set<std::pair<int64_t, int64_t>> split;
                        std::atomic<bool> sharedIndex{false};
                        pool.parallelFor(count, minChunk, [&](int64_t begin, int64_t end, int thread) {
                            if (thread < 0 || thread >= threads || inUse[thread].fetch_add(1) != 0)
                                sharedIndex = true;
                            for (int64_t i = begin; i < end; ++i)
                                seen[static_cast<size_t>(i)].fetch_add(1);
                            {
                                std::lock_guard lock(splitMutex);
                                split.emplace(begin, end);
                            }
                            if (thread >= 0 && thread < threads)
                                inUse[thread].fetch_sub(1);
                        });
                        QVERIFY2(!sharedIndex, "two chunks ran at once with the same thread index");
                        for (int64_t i = 0; i < count; ++i)
                            QCOMPARE(seen[static_cast<size_t>(i)].load(), 1);
                        for (const auto& [begin, end] : split)
                            QVERIFY(end - begin >= minChunk || end == count);
                        if (round == 0)
                            firstSplit = split;
                        else
                            QVERIFY(split == firstSplit);
                    }
                }
            }
        }
    }

    // A job's worker may not run on the CPU its caller runs on while another CPU is allowed (a worker woken
    // there took the CPU from its caller while the other stood idle: ThreadPool.cpp). The caller is pinned
    // to each CPU in turn; the worker reads its own affinity and CPU inside its chunk.
    void threadPoolKeepsWorkersOffCallerCpu() {
#if defined(__linux__)
        cpu_set_t original;
        CPU_ZERO(&original);
        QCOMPARE(::sched_getaffinity(0, sizeof original, &original), 0);
        std::vector<int> cpus;
        for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < 4; ++cpu) {
            if (CPU_ISSET(cpu, &original))
                cpus.push_back(cpu);
        }
        if (cpus.size() < 2)
            QSKIP("needs two CPUs allowed to this process");
        ThreadPool pool(2);
        QString failure;
        for (int round = 0; round < 3 && failure.isEmpty(); ++round) {
            for (int callerCpu : cpus) {
                cpu_set_t pinned;
                CPU_ZERO(&pinned);
                CPU_SET(callerCpu, &pinned);
                QCOMPARE(::sched_setaffinity(0, sizeof pinned, &pinned), 0);
                std::atomic<bool> workerRan{false};
                std::atomic<int> workerCpu{-1};
                std::atomic<bool> workerMayUseCallerCpu{true};
                pool.parallelFor(2, 1, [&](int64_t, int64_t, int thread) {
                    if (thread != 0) {
                        cpu_set_t mine;
                        CPU_ZERO(&mine);
                        if (::sched_getaffinity(0, sizeof mine, &mine) == 0)
                            workerMayUseCallerCpu = CPU_ISSET(callerCpu, &mine);
                        workerCpu = ::sched_getcpu();
                        workerRan = true;
                        return;
                    }
                    // The caller's chunk waits for the worker to take the other one.
                    waitUpTo10s([&] { return workerRan.load(); });
                });
                if (!workerRan)
                    failure =
                        QStringLiteral("the worker took no chunk in 10 s (caller on CPU %1)").arg(callerCpu);
                else if (workerMayUseCallerCpu || workerCpu == callerCpu)
                    failure =
                        QStringLiteral("caller on CPU %1: the worker ran on CPU %2, its affinity %3 the "
                                       "caller's CPU")
                            .arg(callerCpu)
                            .arg(workerCpu.load())
                            .arg(workerMayUseCallerCpu ? QStringLiteral("includes")
                                                       : QStringLiteral("excludes"));
                if (!failure.isEmpty())
                    break;
            }
        }
        QCOMPARE(::sched_setaffinity(0, sizeof original, &original), 0);
        QVERIFY2(failure.isEmpty(), qPrintable(failure));

        // A pool with more threads than CPUs leaves placement to the kernel: its workers keep every CPU.
        ThreadPool crowded(CPU_COUNT(&original) + 1);
        const int callerCpu = ::sched_getcpu();
        std::atomic<int> workersRan{0};
        std::atomic<bool> workerKeptOff{false};
        crowded.parallelFor(crowded.threadCount(), 1, [&](int64_t, int64_t, int thread) {
            if (thread != 0) {
                cpu_set_t mine;
                CPU_ZERO(&mine);
                if (::sched_getaffinity(0, sizeof mine, &mine) == 0 && !CPU_ISSET(callerCpu, &mine))
                    workerKeptOff = true;
                ++workersRan;
                return;
            }
            waitUpTo10s([&] { return workersRan > 0; });
        });
        QVERIFY2(workersRan > 0, "no worker of the crowded pool took a chunk in 10 s");
        QVERIFY2(!workerKeptOff,
                 "a worker of a pool with more threads than CPUs was kept off the caller's CPU");
#else
        QSKIP("worker placement is only managed on Linux");
#endif
    }

    // After sleepWorkers() a worker that polls for the next job goes to sleep at once instead of polling
    // out its 2 ms budget: its CPU time (/proc/self/task/TID/schedstat) grows by well under a millisecond
    // in the 50 ms after it.
    void threadPoolSleepWorkersStopsPolling() {
#if defined(__linux__)
        ThreadPool pool(2);
        const auto cpuTimeNs = [](long threadId) -> long long {
            QFile file(QStringLiteral("/proc/self/task/%1/schedstat").arg(threadId));
            if (!file.open(QIODevice::ReadOnly))
                return -1;
            return file.readAll().split(' ').value(0).toLongLong();
        };
        for (int round = 0; round < 5; ++round) {
            std::atomic<long> workerThreadId{0};
            pool.parallelFor(2, 1, [&](int64_t, int64_t, int thread) {
                if (thread != 0) {
                    workerThreadId = static_cast<long>(::syscall(SYS_gettid));
                    return;
                }
                waitUpTo10s([&] { return workerThreadId != 0; });
            });
            QVERIFY2(workerThreadId != 0, "the worker took no chunk in 10 s");
            pool.sleepWorkers();
            const long long before = cpuTimeNs(workerThreadId);
            QVERIFY2(before >= 0, "no schedstat for the worker thread");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            const long long grewNs = cpuTimeNs(workerThreadId) - before;
            QVERIFY2(grewNs < 1'000'000,
                     qPrintable(QStringLiteral("round %1: the worker ran %2 us after sleepWorkers()")
                                    .arg(round)
                                    .arg(grewNs / 1000)));
        }
#else
        QSKIP("reads the worker's CPU time from /proc (Linux)");
#endif
    }
};

QTEST_GUILESS_MAIN(TestCpuKernels)
#include "tst_cpu_kernels.moc"
