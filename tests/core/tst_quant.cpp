// Tensor formats: conversions, quantise/dequantise round trips, and every dot product against the
// straightforward computation (dequantise both sides, multiply in double).
#include "RandomValues.h"
#include "declai/core/Quant.h"

#include <QTest>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace declai;
using namespace declai::quant;

namespace {

using testdata::randomValues;

// Weight row in `type` quantised from random values.
std::vector<std::byte> weightRow(TensorType type, const std::vector<float>& values) {
    std::vector<std::byte> row(*tensorBytes(type, values.size()));
    if (!quantizeRow(type, values.data(), row.data(), static_cast<int64_t>(values.size())))
        qFatal("quantizeRow refused a supported type");
    return row;
}

// The activation as the dot product sees it, dequantised back to floats.
std::vector<float> activationAsSeen(TensorType weightType, const std::vector<float>& x) {
    const auto n = static_cast<int64_t>(x.size());
    std::vector<std::byte> act(activationRowBytes(weightType, n));
    quantizeActivationRow(weightType, x.data(), act.data(), n);
    std::vector<float> out(x.size());
    switch (activationTypeFor(weightType)) {
    case TensorType::Q8_K: {
        const auto* blocks = reinterpret_cast<const BlockQ8_K*>(act.data());
        for (int64_t i = 0; i < n; ++i)
            out[size_t(i)] = blocks[i / kQKK].d * blocks[i / kQKK].qs[i % kQKK];
        break;
    }
    default:
        dequantizeRow(activationTypeFor(weightType), act.data(), out.data(), n);
        break;
    }
    return out;
}

} // namespace

class TestQuant : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void fp16RoundTripsEveryHalf() {
        for (uint32_t bits = 0; bits < 0x10000; ++bits) {
            const auto h = static_cast<f16_bits>(bits);
            const float f = fp16ToFp32(h);
            if (std::isnan(f)) {
                QVERIFY(std::isnan(fp16ToFp32(fp32ToFp16(f))));
                continue;
            }
            if (fp32ToFp16(f) != h)
                QFAIL(qPrintable(
                    QStringLiteral("half 0x%1 does not round-trip").arg(bits, 4, 16, QLatin1Char('0'))));
        }
    }

    void fp16RoundsToNearestEven() {
        QCOMPARE(fp16ToFp32(fp32ToFp16(1.0f)), 1.0f);
        QCOMPARE(fp16ToFp32(fp32ToFp16(65504.0f)), 65504.0f);
        QVERIFY(std::isinf(fp16ToFp32(fp32ToFp16(65520.0f)))); // ties away from max go to infinity
        QCOMPARE(fp16ToFp32(fp32ToFp16(65519.0f)), 65504.0f);
        QCOMPARE(fp32ToFp16(1.0f + 1.0f / 2048.0f), f16_bits(0x3C00));  // tie -> even (down)
        QCOMPARE(fp32ToFp16(1.0f + 3.0f / 2048.0f), f16_bits(0x3C02));  // tie -> even (up)
        QCOMPARE(fp16ToFp32(fp32ToFp16(5.9604645e-8f)), 5.9604645e-8f); // smallest subnormal
        QCOMPARE(fp32ToFp16(2.9802322e-8f), f16_bits(0));               // half of it: tie to zero
        QCOMPARE(fp32ToFp16(-0.0f), f16_bits(0x8000));
    }

    void bf16Conversion() {
        QCOMPARE(bf16ToFp32(fp32ToBf16(1.5f)), 1.5f);
        QCOMPARE(fp32ToBf16(1.0f + 1.0f / 256.0f), bf16_bits(0x3F80)); // tie -> even
        QVERIFY(std::isnan(bf16ToFp32(fp32ToBf16(NAN))));
    }

    void quantiseDequantiseErrorIsBounded_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<double>("maxRelativeRms");
        QTest::newRow("F16") << int(TensorType::F16) << 1e-3;
        QTest::newRow("BF16") << int(TensorType::BF16) << 5e-3;
        QTest::newRow("Q8_0") << int(TensorType::Q8_0) << 0.01;
        QTest::newRow("Q6_K") << int(TensorType::Q6_K) << 0.04;
        QTest::newRow("Q4_K") << int(TensorType::Q4_K) << 0.12;
        QTest::newRow("Q4_0") << int(TensorType::Q4_0) << 0.12;
        // The model synthesiser's other types (llama-quantize's mixes and their fallbacks).
        QTest::newRow("Q4_1") << int(TensorType::Q4_1) << 0.12;
        QTest::newRow("Q2_K") << int(TensorType::Q2_K) << 0.5;
        QTest::newRow("Q5_0") << int(TensorType::Q5_0) << 0.06;
        QTest::newRow("Q5_1") << int(TensorType::Q5_1) << 0.06;
        QTest::newRow("Q5_K") << int(TensorType::Q5_K) << 0.06;
        QTest::newRow("Q3_K") << int(TensorType::Q3_K) << 0.25;
        QTest::newRow("IQ4_NL") << int(TensorType::IQ4_NL) << 0.12;
        QTest::newRow("IQ4_XS") << int(TensorType::IQ4_XS) << 0.12;
    }

    void quantiseDequantiseErrorIsBounded() {
        QFETCH(int, type);
        QFETCH(double, maxRelativeRms);
        const auto t = static_cast<TensorType>(type);
        const auto x = randomValues(1024, 7, 0.02f);
        const auto row = weightRow(t, x);
        std::vector<float> back(x.size());
        dequantizeRow(t, row.data(), back.data(), int64_t(x.size()));
        double err = 0, norm = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            err += double(back[i] - x[i]) * (back[i] - x[i]);
            norm += double(x[i]) * x[i];
        }
        const double rel = std::sqrt(err / norm);
        qInfo("%s relative RMS error %.4f", tensorTypeName(t).data(), rel);
        QVERIFY2(rel < maxRelativeRms, qPrintable(QString::number(rel)));
    }

    void dotMatchesDequantisedProduct_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("n");
        for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0,
                             TensorType::Q4_0, TensorType::Q4_K, TensorType::Q6_K}) {
            const int block = int(tensorTypeTraits(t).blockElements);
            for (int blocks : {1, 3, 8}) {
                // Plain types get odd lengths too (not a multiple of any SIMD width).
                const int n = block == 1 ? blocks * 33 : block * blocks;
                QTest::addRow("%s n=%d", tensorTypeName(t).data(), n) << int(t) << n;
            }
        }
    }

    // The format's dot product equals dequant(weight) . dequant(activation) summed in double, up to float
    // rounding: integer parts are exact, so the tolerance is tight.
    void dotMatchesDequantisedProduct() {
        QFETCH(int, type);
        QFETCH(int, n);
        const auto t = static_cast<TensorType>(type);
        for (uint32_t seed = 1; seed <= 20; ++seed) {
            const auto w = randomValues(n, seed, 0.05f);
            const auto x = randomValues(n, seed + 1000, 1.0f);
            const auto row = weightRow(t, w);
            std::vector<float> wDeq(static_cast<size_t>(n));
            dequantizeRow(t, row.data(), wDeq.data(), n);
            const auto xSeen = activationAsSeen(t, x);
            double expected = 0, magnitude = 0;
            for (int i = 0; i < n; ++i) {
                expected += double(wDeq[size_t(i)]) * xSeen[size_t(i)];
                magnitude += std::fabs(double(wDeq[size_t(i)]) * xSeen[size_t(i)]);
            }
            std::vector<std::byte> act(activationRowBytes(t, n));
            quantizeActivationRow(t, x.data(), act.data(), n);
            const float got = dotRow(t, row.data(), act.data(), n);
            const double tolerance = 2e-6 * magnitude + 1e-12;
            if (std::fabs(got - expected) > tolerance)
                QFAIL(qPrintable(QStringLiteral("seed %1: dot %2, expected %3 (tolerance %4)")
                                     .arg(seed)
                                     .arg(double(got))
                                     .arg(expected)
                                     .arg(tolerance)));
        }
    }

    // Hand-made blocks whose values are known exactly check the bit layouts (not just self-consistency).
    void knownBlockLayouts() {
        BlockQ4_0 q4{};
        q4.d = fp32ToFp16(0.5f);
        for (int j = 0; j < 16; ++j)
            q4.qs[j] = uint8_t(j | ((15 - j) << 4));
        float out[32];
        dequantizeRowQ4_0(&q4, out, 32);
        QCOMPARE(out[0], -4.0f); // (0 - 8) * 0.5
        QCOMPARE(out[15], 3.5f); // (15 - 8) * 0.5
        QCOMPARE(out[16], 3.5f); // high nibble of byte 0 is element 16
        QCOMPARE(out[31], -4.0f);

        BlockQ8_0 q8{};
        q8.d = fp32ToFp16(0.25f);
        for (int j = 0; j < 32; ++j)
            q8.qs[j] = int8_t(j - 16);
        dequantizeRowQ8_0(&q8, out, 32);
        QCOMPARE(out[0], -4.0f);
        QCOMPARE(out[31], 3.75f);

        // Q4_K: sub-block 0 scale 1, min 0; sub-block 4 uses the packed high bits.
        BlockQ4_K k4{};
        k4.d = fp32ToFp16(1.0f);
        k4.dmin = fp32ToFp16(1.0f);
        k4.scales[0] = 1;                     // scale of sub-block 0
        k4.scales[4] = 2;                     // min of sub-block 0
        k4.scales[8] = uint8_t(3 | (5 << 4)); // sub-block 4: low bits of scale 3, min 5
        k4.scales[0] |= uint8_t(1 << 6);      // sub-block 4 scale high bits = 1 -> scale 3 + 16 = 19
        for (int l = 0; l < 128; ++l)
            k4.qs[l] = 0x21; // low nibble 1, high nibble 2
        std::vector<float> k4out(256);
        dequantizeRowQ4_K(&k4, k4out.data(), 256);
        QCOMPARE(k4out[0], 1.0f * 1 * 1 - 2.0f); // d*scale*q - dmin*min
        QCOMPARE(k4out[128], 19.0f * 1 - 5.0f);  // sub-block 4, low nibble 1
    }
};

QTEST_APPLESS_MAIN(TestQuant)
#include "tst_quant.moc"
