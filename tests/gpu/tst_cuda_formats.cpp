// The CUDA/HIP kernels' block decoders and per-element op math (gpu/src/cuda/CudaFormats.h), compiled for
// the host: every format's unit and gather decoders against core's reference dequantisation, on rows that
// quantizeRow writes and on random bytes (every bit pattern of scales, high bits and masks), and the GeGLU
// value against the CPU engine's over every F16 input. This runs on any machine; the kernels around these
// functions are checked on a GPU by tst_backend_ops and tst_device_parity.
#include "RandomValues.h"
#include "cuda/CudaFormats.h"
#include "declai/core/Quant.h"
#include "declai/core/TensorType.h"
#include "declai/gpu/CpuKernels.h"

#include <QTest>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace declai;
using gpu::cuda::Fmt;
using gpu::cuda::Format;

namespace {

constexpr int64_t kCols = 1024; // four K-quant super-blocks, 32 small blocks

struct Case {
    TensorType type;
    Format format;
};

const Case kCases[] = {
    {TensorType::F16, Format::F16},       {TensorType::Q8_0, Format::Q8_0},
    {TensorType::Q4_0, Format::Q4_0},     {TensorType::Q4_K, Format::Q4_K},
    {TensorType::Q6_K, Format::Q6_K},     {TensorType::Q4_1, Format::Q4_1},
    {TensorType::Q5_0, Format::Q5_0},     {TensorType::Q5_1, Format::Q5_1},
    {TensorType::Q2_K, Format::Q2_K},     {TensorType::Q3_K, Format::Q3_K},
    {TensorType::Q5_K, Format::Q5_K},     {TensorType::IQ4_NL, Format::IQ4_NL},
    {TensorType::IQ4_XS, Format::IQ4_XS},
};

template <Format F>
void decode(const uint8_t* row, std::vector<float>& units, std::vector<float>& gathered) {
    constexpr int kUnit = Fmt<F>::kUnit;
    units.assign(kCols, 0.0f);
    gathered.assign(kCols, 0.0f);
    for (int64_t u = 0; u < kCols / kUnit; ++u)
        Fmt<F>::unit(row, u, units.data() + u * kUnit);
    for (int64_t i = 0; i < kCols; ++i)
        gathered[static_cast<size_t>(i)] = Fmt<F>::value(row, i);
}

void decodeAs(Format f, const uint8_t* row, std::vector<float>& units, std::vector<float>& gathered) {
    gpu::cuda::withFormat(f, [&](auto tag) { decode<decltype(tag)::kFormat>(row, units, gathered); });
}

// Puts a finite F16 scale into every block's F16 fields, so random bytes cannot make NaN or infinity (which
// the reference and the decoder would both produce, comparing nothing).
void tameHalfFields(TensorType type, std::vector<uint8_t>& row, std::mt19937& rng) {
    std::vector<int> offsets; // F16 fields inside one block
    switch (type) {
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL:
    case TensorType::IQ4_XS:
        offsets = {0};
        break;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
        offsets = {0, 2};
        break;
    case TensorType::Q2_K:
        offsets = {80, 82};
        break;
    case TensorType::Q3_K:
        offsets = {108};
        break;
    case TensorType::Q6_K:
        offsets = {208};
        break;
    default:
        break;
    }
    const TensorTypeTraits traits = tensorTypeTraits(type);
    std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
    for (size_t block = 0; block + traits.blockBytes <= row.size(); block += traits.blockBytes)
        for (int offset : offsets) {
            const uint16_t h = quant::fp32ToFp16(scale(rng));
            std::memcpy(row.data() + block + static_cast<size_t>(offset), &h, 2);
        }
    if (type == TensorType::F16) // every value an F16 field
        for (size_t i = 0; i + 1 < row.size(); i += 2) {
            const uint16_t h = quant::fp32ToFp16(scale(rng) * 40.0f);
            std::memcpy(row.data() + i, &h, 2);
        }
}

// The decoders compute as quant.cl does; the reference may associate a multiply-add differently (or fuse
// it), so values agree to a few float ulps of the row's scale, not bit for bit. A layout error (a wrong
// nibble, scale or high bit) is off by at least a quantisation step, thousands of ulps.
void expectClose(const std::vector<float>& got, const std::vector<float>& want, const char* what,
                 const char* type) {
    float magnitude = 0.0f;
    for (float v : want)
        magnitude = std::max(magnitude, std::fabs(v));
    const float tolerance = 4e-6f * std::max(magnitude, 1e-6f);
    for (size_t i = 0; i < want.size(); ++i)
        if (!(std::fabs(got[i] - want[i]) <= tolerance))
            QFAIL(qPrintable(QStringLiteral("%1 %2: value %3 is %4, the reference says %5")
                                 .arg(QLatin1String(type), QLatin1String(what))
                                 .arg(i)
                                 .arg(double(got[i]), 0, 'g', 9)
                                 .arg(double(want[i]), 0, 'g', 9)));
}

} // namespace

class TestCudaFormats : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void decodersMatchReference_data() {
        QTest::addColumn<int>("index");
        QTest::addColumn<bool>("randomBytes");
        for (size_t i = 0; i < std::size(kCases); ++i) {
            const auto name = std::string(tensorTypeName(kCases[i].type));
            // quantizeRow has no Q4_1 or Q2_K quantiser (no model synth type uses them); random bytes
            // cover every layout.
            std::vector<uint8_t> probe(*tensorBytes(kCases[i].type, kCols));
            const std::vector<float> zeros(kCols, 0.0f);
            if (quant::quantizeRow(kCases[i].type, zeros.data(), probe.data(), kCols))
                QTest::newRow((name + " quantised").c_str()) << int(i) << false;
            QTest::newRow((name + " random bytes").c_str()) << int(i) << true;
        }
    }

    void decodersMatchReference() {
        QFETCH(int, index);
        QFETCH(bool, randomBytes);
        const Case c = kCases[index];
        const auto bytes = tensorBytes(c.type, kCols);
        QVERIFY(bytes);
        std::vector<uint8_t> row(*bytes);
        for (uint32_t seed = 1; seed <= 8; ++seed) {
            if (randomBytes) {
                std::mt19937 rng(seed * 7919u + static_cast<uint32_t>(index));
                for (uint8_t& b : row)
                    b = static_cast<uint8_t>(rng());
                tameHalfFields(c.type, row, rng);
            } else {
                const std::vector<float> values = testdata::randomValues(kCols, seed, 0.5f);
                QVERIFY(quant::quantizeRow(c.type, values.data(), row.data(), kCols));
            }
            std::vector<float> want(kCols);
            quant::dequantizeRow(c.type, row.data(), want.data(), kCols);
            std::vector<float> units, gathered;
            decodeAs(c.format, row.data(), units, gathered);
            const std::string type(tensorTypeName(c.type));
            expectClose(units, want, "unit decoder", type.c_str());
            expectClose(gathered, want, "gather", type.c_str());
        }
    }

    // Q4_1/Q5_1's MatMul decoder leaves the block minimum out and returns it (the kernel adds it once per
    // block times the activations' block sum): the values plus m must be the unit decoder's, and m the
    // block's own F16 minimum (bytes 2-3), not 0 with m folded into the values.
    void blockMinsSplitOff() {
        const auto check = [](auto tag, TensorType type) {
            constexpr Format F = decltype(tag)::kFormat;
            static_assert(gpu::cuda::kHasBlockMins<F>);
            const TensorTypeTraits traits = tensorTypeTraits(type);
            std::mt19937 rng(11);
            std::vector<uint8_t> row(*tensorBytes(type, kCols));
            for (uint8_t& b : row)
                b = static_cast<uint8_t>(rng());
            tameHalfFields(type, row, rng);
            for (int64_t u = 0; u < kCols / 32; ++u) {
                float scaled[32], whole[32];
                const float m = Fmt<F>::unitScaled(row.data(), u, scaled);
                Fmt<F>::unit(row.data(), u, whole);
                uint16_t field;
                std::memcpy(&field, row.data() + static_cast<size_t>(u) * traits.blockBytes + 2, 2);
                QCOMPARE(m, quant::fp16ToFp32(field));
                for (int l = 0; l < 32; ++l)
                    QCOMPARE(scaled[l] + m, whole[l]);
            }
        };
        check(gpu::cuda::FormatTag<Format::Q4_1>{}, TensorType::Q4_1);
        check(gpu::cuda::FormatTag<Format::Q5_1>{}, TensorType::Q5_1);
        static_assert(!gpu::cuda::kHasBlockMins<Format::Q5_0> && !gpu::cuda::kHasBlockMins<Format::Q4_K>);
    }

    void geluMatchesCpuEngine() {
        // Every F16 input (the function rounds its input to F16 first), and the saturated ends.
        for (uint32_t bits = 0; bits < 65536; ++bits) {
            const float g = quant::fp16ToFp32(static_cast<uint16_t>(bits));
            if (std::isnan(g))
                continue;
            const float got = gpu::cuda::geluTanhF16(g);
            const float want = cpu::geluF16(g);
            if (std::memcmp(&got, &want, sizeof(float)) != 0)
                QFAIL(qPrintable(QStringLiteral("gelu(%1): %2, the CPU engine says %3")
                                     .arg(double(g), 0, 'g', 9)
                                     .arg(double(got), 0, 'g', 9)
                                     .arg(double(want), 0, 'g', 9)));
        }
    }

    void ropePairsAndWindows() {
        // Normal RoPE rotates adjacent pairs, NeoX the two halves of the rotated dimensions.
        QCOMPARE(gpu::cuda::ropePairFirst(3, false), int64_t(6));
        QCOMPARE(gpu::cuda::ropePairSecond(3, 64, false), int64_t(7));
        QCOMPARE(gpu::cuda::ropePairFirst(3, true), int64_t(3));
        QCOMPARE(gpu::cuda::ropePairSecond(3, 64, true), int64_t(35));
        // A 32-row window: position 40 (41 rows visible) starts at row 9; no window starts at 0.
        QCOMPARE(gpu::cuda::attentionFirstRow(41, 32), int64_t(9));
        QCOMPARE(gpu::cuda::attentionFirstRow(20, 32), int64_t(0));
        QCOMPARE(gpu::cuda::attentionFirstRow(41, 0), int64_t(0));
        // Soft-capping: cap * tanh(score / cap-free scale), off when the cap is 0.
        QCOMPARE(gpu::cuda::cappedScore(2.0f, 0.5f, 0.0f), 1.0f);
        QCOMPARE(gpu::cuda::cappedScore(2.0f, 0.5f, 50.0f), 50.0f * std::tanh(1.0f));
    }
};

QTEST_GUILESS_MAIN(TestCudaFormats)
#include "tst_cuda_formats.moc"
