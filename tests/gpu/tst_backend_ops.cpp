// Every op on every available device against the CPU device (the reference), ggml test-backend-ops
// style. Inputs are random with a fixed seed; shapes are deliberately odd (rows that are not multiples
// of work-group sizes, head dims 64 and 48, grouped-query attention, batches of 1 and 5). The error is
// normalised: max|device - cpu| / max|cpu|, compared with a tolerance per op and format (kTolerance*).
// Devices that are absent are skipped with the registry's reason.
#include "RequiredDevices.h"
#include "declai/core/Quant.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <QTest>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <optional>
#include <random>

using namespace declai;
using namespace declai::gpu;

namespace {

// Tolerances (normalised error), and why each is what it is:
// Elementwise ops and gathers compute the same float expression on both sides; only exp()/sqrt()
// implementations and summation order differ.
constexpr double kToleranceExact = 1e-6;       // Add, GetRows (dequantisation is exact in float)
constexpr double kToleranceElementwise = 1e-5; // SwiGlu, RmsNorm
// RoPE: devices compute base^(-2i/d) with pow(), the CPU by repeated multiplication, so the angle
// differs by a few float ulps times the position.
constexpr double kToleranceRope = 1e-4;
// Attention reads the same F16 cache on both sides; float summation order differs.
constexpr double kToleranceAttention = 1e-4;
// MatMul: the CPU reference rounds activations to the weight's partner format (F16 for F16 weights,
// Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants and IQ4_XS) as llama.cpp does;
// devices keep F32 activations. The error is therefore the activation rounding error: ~2^-11 relative for
// F16, ~1/254 per value for 8-bit. Devices are also checked against the exact (double) product of the
// dequantised weights and the F32 activations, which is what their kernels compute; only float summation
// order differs.
constexpr double kToleranceExactDot = 1e-5;
double matMulTolerance(TensorType type) {
    switch (type) {
    case TensorType::F32:
        return 1e-5;
    case TensorType::F16:
        return 2e-3;
    default:
        return 2e-2; // 8-bit activations (Q8_0, Q8_1, Q8_K)
    }
}

constexpr TensorType kFormats[] = {TensorType::F32,    TensorType::F16,   TensorType::Q8_0, TensorType::Q4_0,
                                   TensorType::Q4_K,   TensorType::Q6_K,  TensorType::Q4_1, TensorType::Q5_0,
                                   TensorType::Q5_1,   TensorType::Q2_K,  TensorType::Q3_K, TensorType::Q5_K,
                                   TensorType::IQ4_NL, TensorType::IQ4_XS};

// Odd column counts that are still whole blocks of each format.
int64_t oddCols(TensorType type) {
    switch (type) {
    case TensorType::F32:
    case TensorType::F16:
        return 75;
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::IQ4_NL:
        return 96;
    default:
        return 512;
    }
}

std::vector<float> randomFloats(std::mt19937& rng, size_t count, float scale = 1.0f) {
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(count);
    for (float& x : v)
        x = dist(rng);
    return v;
}

// The F16 scale fields (byte offsets in a block, and the block's size) of the formats our quantisers do not
// write: their blocks are random bytes with these fields set to sane scales.
struct ScaleFields {
    size_t blockBytes;
    std::vector<size_t> offsets;
};
std::optional<ScaleFields> scaleFieldsOf(TensorType type) {
    switch (type) {
    case TensorType::Q4_1:
        return ScaleFields{sizeof(BlockQ4_1), {0, 2}};
    case TensorType::Q5_0:
        return ScaleFields{sizeof(BlockQ5_0), {0}};
    case TensorType::Q5_1:
        return ScaleFields{sizeof(BlockQ5_1), {0, 2}};
    case TensorType::Q2_K:
        return ScaleFields{sizeof(BlockQ2_K), {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}};
    case TensorType::IQ4_NL:
        return ScaleFields{sizeof(BlockIQ4_NL), {0}};
    default:
        return std::nullopt;
    }
}

// Quantised bytes of a rows x cols matrix of random values.
std::vector<std::byte> randomMatrix(std::mt19937& rng, TensorType type, int64_t rows, int64_t cols) {
    const size_t rowBytes = static_cast<size_t>(*tensorBytes(type, static_cast<uint64_t>(cols)));
    std::vector<std::byte> bytes(rowBytes * static_cast<size_t>(rows));
    if (const auto fields = scaleFieldsOf(type)) {
        std::uniform_int_distribution<int> byte(0, 255);
        std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
        for (std::byte& b : bytes)
            b = std::byte(byte(rng));
        for (size_t block = 0; block < bytes.size(); block += fields->blockBytes)
            for (size_t offset : fields->offsets) {
                const f16_bits h = quant::fp32ToFp16(scale(rng));
                std::memcpy(bytes.data() + block + offset, &h, sizeof h);
            }
        return bytes;
    }
    for (int64_t r = 0; r < rows; ++r) {
        const auto values = randomFloats(rng, static_cast<size_t>(cols));
        if (!quant::quantizeRow(type, values.data(), bytes.data() + rowBytes * static_cast<size_t>(r), cols))
            qFatal("no quantiser and no scale fields for %s", std::string(tensorTypeName(type)).c_str());
    }
    return bytes;
}

// Normalised error; infinite when sizes differ or the device produced NaN/inf.
double normalisedError(const std::vector<float>& ref, const std::vector<float>& got) {
    if (ref.size() != got.size())
        return INFINITY;
    double maxDiff = 0.0;
    double maxRef = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(got[i]))
            return INFINITY;
        maxDiff = std::max(maxDiff, std::fabs(static_cast<double>(ref[i]) - got[i]));
        maxRef = std::max(maxRef, std::fabs(static_cast<double>(ref[i])));
    }
    return maxRef > 0.0 ? maxDiff / maxRef : maxDiff;
}

// Allocates a buffer and fills it with `bytes` bytes from `data` (left uninitialised when data is null).
Expected<std::unique_ptr<DeviceBuffer>> bufferWith(Device& device, const void* data, uint64_t bytes) {
    auto buffer = device.allocate(bytes);
    if (!buffer || !data)
        return buffer;
    if (auto r = device.upload(**buffer, 0, data, bytes); !r)
        return r.error();
    return buffer;
}

template <class T>
Expected<std::unique_ptr<DeviceBuffer>> bufferWith(Device& device, const std::vector<T>& values) {
    return bufferWith(device, values.data(), values.size() * sizeof(T));
}

Expected<std::vector<float>> fetch(Device& device, const DeviceBuffer& buffer, size_t count) {
    std::vector<float> out(count);
    if (auto r = device.download(buffer, 0, out.data(), count * sizeof(float)); !r)
        return r.error();
    return out;
}

#define TRY_ASSIGN(var, expr)                                                                                \
    auto var##Result = (expr);                                                                               \
    if (!var##Result)                                                                                        \
        return var##Result.error();                                                                          \
    auto var = std::move(*var##Result)

#define TRY(expr)                                                                                            \
    if (auto tryResult = (expr); !tryResult)                                                                 \
    return tryResult.error()

// Runs one op on a device and returns its output (downloaded).
using OpRun = std::function<Expected<std::vector<float>>(Device&)>;

struct Target {
    std::string id;
    std::string skipReason; // set when the device is absent
    std::unique_ptr<Device> device;
};

} // namespace

class TestBackendOps : public QObject {
    Q_OBJECT

public:
    TestBackendOps() : m_registry(2) {}

private:
    BackendRegistry m_registry;
    std::unique_ptr<Device> m_cpu;
    std::vector<Target> m_targets;
    std::vector<std::string> m_openErrors;

    // One row per opened device. Absent backends get no row of their own (their reasons are logged in
    // initTestCase): CTest marks a whole test "skipped" on any SKIP line, which would hide the devices
    // that did run. With no device at all, one row skips with every reason.
    void addTargetRows() {
        QTest::addColumn<int>("target");
        bool any = false;
        for (size_t i = 0; i < m_targets.size(); ++i) {
            if (m_targets[i].device) {
                QTest::newRow(m_targets[i].id.c_str()) << static_cast<int>(i);
                any = true;
            }
        }
        if (!any)
            QTest::newRow("no-device") << -1;
    }

    std::string absentReasons() const {
        std::string reasons = "no device besides the CPU:";
        for (const Target& t : m_targets)
            reasons.append(" ").append(t.id).append(": ").append(t.skipReason).append(";");
        return reasons;
    }

    // The device of the current data row; null (after QSKIP) when absent.
    Device* currentDevice() {
        const int index = *static_cast<int*>(QTest::qData("target", qMetaTypeId<int>()));
        return index < 0 ? nullptr : m_targets[static_cast<size_t>(index)].device.get();
    }

    std::string currentSkipReason() { return absentReasons(); }

    // Runs `run` on the CPU and on `device`, compares, and reports; returns false (after QFAIL-style
    // logging) on failure.
    bool check(Device& device, const char* op, const std::string& label, const OpRun& run, double tolerance) {
        auto ref = run(*m_cpu);
        if (!ref) {
            qWarning("%s %s: CPU failed: %s", op, label.c_str(), ref.error().toString().c_str());
            return false;
        }
        auto got = run(device);
        if (!got) {
            qWarning("%s %s on %s failed: %s", op, label.c_str(), device.id().toString().c_str(),
                     got.error().toString().c_str());
            return false;
        }
        const double error = normalisedError(*ref, *got);
        qInfo("%-10s %-34s %-10s normalised error %.3g (tolerance %.1g)", op, label.c_str(),
              device.id().toString().c_str(), error, tolerance);
        if (!(error <= tolerance)) {
            qWarning("%s %s: error %.3g exceeds %.3g", op, label.c_str(), error, tolerance);
            return false;
        }
        return true;
    }

private Q_SLOTS:
    void initTestCase() {
        auto cpu = m_registry.openDevice("cpu");
        QVERIFY2(cpu.hasValue(), cpu ? "" : cpu.error().toString().c_str());
        m_cpu = std::move(*cpu);
        DECLAI_REQUIRE_DEVICES(m_registry.backends());
        for (const BackendStatus& status : m_registry.backends()) {
            if (status.name == "cpu")
                continue;
            if (!status.available) {
                qInfo("absent %s: %s", status.name.c_str(), status.reason.c_str());
                m_targets.push_back(Target{status.name, status.reason, nullptr});
                continue;
            }
            for (const DeviceInfo& info : status.devices) {
                auto device = m_registry.openDevice(info.id);
                // An available backend whose device does not open is a failure, not a skip.
                QVERIFY2(device.hasValue(), device ? "" : device.error().toString().c_str());
                qInfo("testing %s: %s (%s)", info.id.toString().c_str(), info.name.c_str(),
                      info.vendor.c_str());
                m_targets.push_back(Target{info.id.toString(), {}, std::move(*device)});
            }
        }
    }

    void deviceIds() {
        auto cpu = parseDeviceId("cpu");
        QVERIFY(cpu.hasValue());
        QCOMPARE(cpu->toString(), std::string("cpu:0"));
        auto cl = parseDeviceId("OpenCL:2");
        QVERIFY(cl.hasValue());
        QCOMPARE(cl->backend, std::string("opencl"));
        QCOMPARE(cl->index, 2);
        for (const char* bad : {"", "metal:0", "cuda:", "cuda:x", "cuda:-1", "hip:1x"})
            QVERIFY2(!parseDeviceId(bad).hasValue(), bad);
        QVERIFY(parseDeviceId("vulkan:0").hasValue());
        QVERIFY(parseDeviceId("hip:0").hasValue());
    }

    void registryListsEveryBackend() {
        const auto backends = m_registry.backends();
        QCOMPARE(backends.size(), std::size(kBackendNames));
        for (size_t i = 0; i < backends.size(); ++i) {
            QCOMPARE(backends[i].name, std::string(kBackendNames[i]));
            // Unavailable backends always say why.
            QVERIFY(backends[i].available || !backends[i].reason.empty());
        }
        QVERIFY(backends[0].available);
        QCOMPARE(backends[0].devices.size(), size_t(1));
        QVERIFY(backends[0].devices[0].memoryTotalBytes > 0);
        auto missing = m_registry.openDevice("opencl:99");
        QVERIFY(!missing.hasValue());
    }

    void argumentErrors() {
        // Wrong sizes and foreign buffers are refused before anything runs, on every device.
        auto small = m_cpu->allocate(16);
        QVERIFY(small.hasValue());
        auto weight = m_cpu->allocate(64 * sizeof(float));
        QVERIFY(weight.hasValue());
        auto r = m_cpu->rmsNorm(**small, **weight, **small, 64, 1, 1e-5f);
        QVERIFY(!r.hasValue());
        QCOMPARE(r.error().code, ErrorCode::InvalidArgument);
        const std::vector<int32_t> ids = {3};
        auto g = m_cpu->getRows(**weight, MatrixDesc{TensorType::F32, 2, 8}, ids, **small);
        QVERIFY(!g.hasValue());
        auto q =
            m_cpu->getRows(**weight, MatrixDesc{TensorType::Q4_K, 1, 100}, std::vector<int32_t>{0}, **small);
        QVERIFY(!q.hasValue());
        // A negative window or a NaN cap is refused, not read as "off".
        for (const auto& [softCap, window] : {std::pair{0.0f, int64_t{-1}}, std::pair{NAN, int64_t{0}}}) {
            AttentionParams p{1, 0, 1, 1, 4, 1, 0.0f, false};
            p.softCap = softCap;
            p.window = window;
            auto a = m_cpu->attention(**weight, **weight, **weight, **weight, **weight, **weight, p);
            QVERIFY(!a.hasValue());
            QCOMPARE(a.error().code, ErrorCode::InvalidArgument);
        }
        QVERIFY(!m_cpu->supportsOp(OpKind::MatMul, TensorType::BF16).hasValue());
        QVERIFY(m_cpu->supportsOp(OpKind::MatMul, TensorType::Q6_K).hasValue());
        for (const Target& t : m_targets) {
            if (!t.device)
                continue;
            auto r2 = t.device->rmsNorm(**small, **weight, **small, 4, 1, 1e-5f);
            QVERIFY2(!r2.hasValue(), "a CPU buffer was accepted by another device");
            auto big = t.device->allocate(uint64_t(1) << 62);
            QVERIFY(!big.hasValue());
            QCOMPARE(big.error().code, ErrorCode::OutOfMemory);
        }
    }

    void rmsNorm_data() { addTargetRows(); }
    void rmsNorm() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(1);
        for (int64_t n : {75, 1000, 4096}) {
            for (int64_t tokens : {1, 5}) {
                const auto x = randomFloats(rng, static_cast<size_t>(n * tokens), 3.0f);
                const auto w = randomFloats(rng, static_cast<size_t>(n));
                const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                    TRY_ASSIGN(bx, bufferWith(d, x));
                    TRY_ASSIGN(bw, bufferWith(d, w));
                    TRY_ASSIGN(out, bufferWith(d, nullptr, x.size() * sizeof(float)));
                    TRY(d.rmsNorm(*bx, *bw, *out, n, tokens, 1e-5f));
                    return fetch(d, *out, x.size());
                };
                const std::string label = "n=" + std::to_string(n) + " batch=" + std::to_string(tokens);
                QVERIFY(check(*device, "rms_norm", label, run, kToleranceElementwise));
            }
        }
    }

    void matMul_data() { addTargetRows(); }
    void matMul() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(2);
        for (TensorType type : kFormats) {
            QVERIFY(device->supportsOp(OpKind::MatMul, type).hasValue());
            for (int64_t rows : {67, 131}) {
                const int64_t cols = rows == 67 ? oddCols(type) : 2 * oddCols(type);
                const auto weights = randomMatrix(rng, type, rows, cols);
                // 11 tokens span two of the OpenCL kernel's 8-token groups.
                for (int64_t tokens : {1, 5, 11}) {
                    auto x = randomFloats(rng, static_cast<size_t>(cols * tokens));
                    // Q4_1/Q5_1 read Q8_1 block sums after the values (DeviceOps::matMul) and add m * s
                    // per block. The sums given are the blocks' sums of x moved by a random amount, so a
                    // kernel that summed the activations itself (or skipped m) would fail the exact check.
                    const bool blockSums = quant::activationTypeFor(type) == TensorType::Q8_1;
                    const int64_t blocks = cols / kQK8_1;
                    if (blockSums) {
                        std::normal_distribution<float> shift(0.0f, 1.0f);
                        for (int64_t b = 0; b < tokens * blocks; ++b) {
                            double sum = 0.0;
                            for (int64_t l = 0; l < kQK8_1; ++l)
                                sum += x[static_cast<size_t>(b * kQK8_1 + l)];
                            x.push_back(
                                quant::fp16ToFp32(quant::fp32ToFp16(static_cast<float>(sum) + shift(rng))));
                        }
                    }
                    QCOMPARE(static_cast<int64_t>(x.size()), roundedActivationFloats(type, cols, tokens));
                    const MatrixDesc desc{type, rows, cols};
                    const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                        TRY_ASSIGN(bw, bufferWith(d, weights));
                        TRY_ASSIGN(bx, bufferWith(d, x));
                        TRY_ASSIGN(
                            by, bufferWith(d, nullptr, static_cast<uint64_t>(rows * tokens) * sizeof(float)));
                        TRY(d.matMul(*bw, desc, *bx, tokens, *by));
                        return fetch(d, *by, static_cast<size_t>(rows * tokens));
                    };
                    std::string label(tensorTypeName(type));
                    label.append(" ").append(std::to_string(rows)).append("x").append(std::to_string(cols));
                    label.append(" batch=").append(std::to_string(tokens));
                    QVERIFY(check(*device, "mat_mul", label, run, matMulTolerance(type)));
                    // Against the exact product of the dequantised weights with the F32 activations, which
                    // is what the device kernels compute: only summation order may differ.
                    std::vector<float> exact(static_cast<size_t>(rows * tokens));
                    std::vector<float> row(static_cast<size_t>(cols));
                    const size_t rowBytes = weights.size() / static_cast<size_t>(rows);
                    for (int64_t r = 0; r < rows; ++r) {
                        const std::byte* weightRow = weights.data() + rowBytes * static_cast<size_t>(r);
                        quant::dequantizeRow(type, weightRow, row.data(), cols);
                        for (int64_t t = 0; t < tokens; ++t) {
                            double sum = 0.0;
                            for (int64_t c = 0; c < cols; ++c)
                                sum += static_cast<double>(row[static_cast<size_t>(c)]) *
                                       x[static_cast<size_t>(t * cols + c)];
                            // sum(m * x) becomes m * s: the block's minimum (bytes 2-3 of its block)
                            // times the given sum instead of the values' own.
                            for (int64_t b = 0; blockSums && b < blocks; ++b) {
                                f16_bits minBits;
                                std::memcpy(&minBits,
                                            weightRow + static_cast<size_t>(b) * (rowBytes / blocks) + 2,
                                            sizeof minBits);
                                double valuesSum = 0.0;
                                for (int64_t l = 0; l < kQK8_1; ++l)
                                    valuesSum += x[static_cast<size_t>(t * cols + b * kQK8_1 + l)];
                                sum += quant::fp16ToFp32(minBits) *
                                       (x[static_cast<size_t>(tokens * cols + t * blocks + b)] - valuesSum);
                            }
                            exact[static_cast<size_t>(t * rows + r)] = static_cast<float>(sum);
                        }
                    }
                    auto got = run(*device);
                    QVERIFY(got.hasValue());
                    const double exactError = normalisedError(exact, *got);
                    qInfo("%-10s %-34s %-10s normalised error vs exact F32 product %.3g (tolerance %.1g)",
                          "mat_mul", label.c_str(), device->id().toString().c_str(), exactError,
                          kToleranceExactDot);
                    QVERIFY(exactError <= kToleranceExactDot);
                }
            }
        }
    }

    void rope_data() { addTargetRows(); }
    void rope() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(3);
        struct Case {
            int64_t headDim, ropeDims, heads, tokens, startPos;
            float base;
        };
        for (const bool neox : {false, true}) {
            QVERIFY(device->supportsOp(neox ? OpKind::RopeNeox : OpKind::Rope, TensorType::F32).hasValue());
            for (const Case& c : {Case{64, 64, 3, 1, 0, 10000.0f}, Case{64, 64, 5, 5, 37, 10000.0f},
                                  Case{48, 48, 3, 5, 11, 500000.0f}, Case{48, 32, 2, 1, 90, 10000.0f}}) {
                const auto x = randomFloats(rng, static_cast<size_t>(c.tokens * c.heads * c.headDim));
                // Llama 3.1-style frequency factors: 1 for the fast pairs, up to 8 for the slow ones.
                std::vector<float> factors(static_cast<size_t>(c.ropeDims / 2));
                for (size_t i = 0; i < factors.size(); ++i)
                    factors[i] = 1.0f + 7.0f * static_cast<float>(i) / static_cast<float>(factors.size() - 1);
                const auto runWith = [&](bool withFactors, float attnFactor = 1.0f) {
                    return [&, withFactors, attnFactor](Device& d) -> Expected<std::vector<float>> {
                        TRY_ASSIGN(bx, bufferWith(d, x));
                        TRY_ASSIGN(bf, bufferWith(d, factors));
                        RopeParams p{c.tokens,   c.heads, c.headDim, c.ropeDims,
                                     c.startPos, c.base,  1.0f,      neox};
                        p.freqFactors = withFactors ? bf.get() : nullptr;
                        p.attnFactor = attnFactor;
                        TRY(d.rope(*bx, p));
                        return fetch(d, *bx, x.size());
                    };
                };
                std::string label = "dim=" + std::to_string(c.headDim) + "/" + std::to_string(c.ropeDims);
                label.append(" pos=")
                    .append(std::to_string(c.startPos))
                    .append(" batch=")
                    .append(std::to_string(c.tokens));
                QVERIFY(check(*device, neox ? "rope_neox" : "rope", label, runWith(false), kToleranceRope));
                // With factors, where they turn the rotation measurably (position 0 does not rotate).
                if (c.startPos + c.tokens > 1) {
                    auto plain = runWith(false)(*m_cpu);
                    auto factored = runWith(true)(*m_cpu);
                    QVERIFY(plain && factored);
                    QVERIFY(normalisedError(*plain, *factored) > 100 * kToleranceRope);
                    QVERIFY(check(*device, neox ? "rope_neox" : "rope", label + " factors", runWith(true),
                                  kToleranceRope));
                }
                // LongRoPE's attn_factor (Phi-3.5: sqrt(1 + ln 32 / ln 4096)) scales the rotated values
                // (cos and sin are multiplied by it) and leaves the others as they are.
                const float attnFactor = 1.1902380f;
                auto plain = runWith(true)(*m_cpu);
                auto scaled = runWith(true, attnFactor)(*m_cpu);
                QVERIFY(plain && scaled);
                std::vector<float> expected = *plain;
                for (size_t i = 0; i < expected.size(); ++i)
                    if (static_cast<int64_t>(i) % c.headDim < c.ropeDims)
                        expected[i] *= attnFactor;
                QVERIFY(normalisedError(expected, *scaled) < kToleranceRope);
                QVERIFY(check(*device, neox ? "rope_neox" : "rope", label + " factors attn_factor",
                              runWith(true, attnFactor), kToleranceRope));
            }
        }
    }

    void attention_data() { addTargetRows(); }
    void attention() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        // halfAccumulator (llama.cpp's F16 running sum) is checked with a tolerance of a few F16 ulps of
        // the accumulator: exp() differs by float ulps between devices and may flip an F16 rounding.
        // Each case also runs with Gemma 2's soft-capping and with sliding windows shorter and longer
        // than the visible rows.
        struct Mode {
            float softCap;
            int64_t window;
        };
        for (const Mode mode : {Mode{0.0f, 0}, Mode{30.0f, 0}, Mode{0.0f, 8}, Mode{20.0f, 3}})
            for (bool halfAccumulator : {false, true}) {
                std::mt19937 rng(4);
                struct Case {
                    int64_t heads, kvHeads, headDim, tokens, startPos;
                };
                const int64_t capacity = 45;
                for (const Case& c : {Case{4, 4, 64, 1, 20}, Case{4, 4, 64, 5, 0}, Case{6, 2, 48, 5, 7},
                                      Case{6, 2, 48, 1, 33}, Case{8, 1, 64, 5, 40}, Case{3, 1, 48, 1, 0}}) {
                    const int64_t kvDim = c.kvHeads * c.headDim;
                    const auto q =
                        randomFloats(rng, static_cast<size_t>(c.tokens * c.heads * c.headDim), 2.0f);
                    const auto k = randomFloats(rng, static_cast<size_t>(c.tokens * kvDim), 2.0f);
                    const auto v = randomFloats(rng, static_cast<size_t>(c.tokens * kvDim));
                    // Earlier positions already in the cache (F16), identical on both devices.
                    std::vector<f16_bits> keyCache(static_cast<size_t>(capacity * kvDim));
                    std::vector<f16_bits> valueCache(keyCache.size());
                    const auto earlierK = randomFloats(rng, keyCache.size(), 2.0f);
                    const auto earlierV = randomFloats(rng, keyCache.size());
                    for (size_t i = 0; i < keyCache.size(); ++i) {
                        keyCache[i] = quant::fp32ToFp16(earlierK[i]);
                        valueCache[i] = quant::fp32ToFp16(earlierV[i]);
                    }
                    AttentionParams p{c.tokens,  c.startPos, c.heads, c.kvHeads,
                                      c.headDim, capacity,   0.0f,    halfAccumulator};
                    p.softCap = mode.softCap;
                    p.window = mode.window;
                    if (mode.softCap > 0.0f) // as the engine passes it: the score scale divided by the cap
                        p.scale = 1.0f / std::sqrt(static_cast<float>(c.headDim)) / mode.softCap;
                    // The output, followed by the new cache rows (as floats) so the F16 store is checked too.
                    const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                        TRY_ASSIGN(bq, bufferWith(d, q));
                        TRY_ASSIGN(bk, bufferWith(d, k));
                        TRY_ASSIGN(bv, bufferWith(d, v));
                        TRY_ASSIGN(kc, bufferWith(d, keyCache));
                        TRY_ASSIGN(vc, bufferWith(d, valueCache));
                        TRY_ASSIGN(out, bufferWith(d, nullptr, q.size() * sizeof(float)));
                        TRY(d.attention(*bq, *bk, *bv, *kc, *vc, *out, p));
                        TRY_ASSIGN(result, fetch(d, *out, q.size()));
                        for (DeviceBuffer* cache : {kc.get(), vc.get()}) {
                            std::vector<f16_bits> rows(static_cast<size_t>(c.tokens * kvDim));
                            TRY(d.download(*cache, static_cast<uint64_t>(c.startPos * kvDim) * 2u,
                                           rows.data(), rows.size() * 2u));
                            for (f16_bits h : rows)
                                result.push_back(quant::fp16ToFp32(h));
                        }
                        return result;
                    };
                    std::string label = "heads=" + std::to_string(c.heads) + "/" + std::to_string(c.kvHeads);
                    label.append(" dim=")
                        .append(std::to_string(c.headDim))
                        .append(" pos=")
                        .append(std::to_string(c.startPos));
                    label.append(" batch=").append(std::to_string(c.tokens));
                    label.append(halfAccumulator ? " f16-acc" : "");
                    if (mode.softCap > 0.0f)
                        label.append(" cap=").append(std::to_string(static_cast<int>(mode.softCap)));
                    if (mode.window > 0)
                        label.append(" window=").append(std::to_string(mode.window));
                    QVERIFY(check(*device, "attention", label, run,
                                  halfAccumulator ? 4e-3 : kToleranceAttention));
                }
            }
    }

    void swiGlu_data() { addTargetRows(); }
    void swiGlu() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(5);
        for (int64_t n : {1007, 5 * 75}) {
            const auto gate = randomFloats(rng, static_cast<size_t>(n), 6.0f);
            const auto x = randomFloats(rng, static_cast<size_t>(n), 2.0f);
            const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                TRY_ASSIGN(bg, bufferWith(d, gate));
                TRY_ASSIGN(bx, bufferWith(d, x));
                TRY(d.swiGlu(*bg, *bx, n));
                return fetch(d, *bx, x.size());
            };
            QVERIFY(check(*device, "swiglu", "n=" + std::to_string(n), run, kToleranceElementwise));
        }
    }

    void geluGlu_data() { addTargetRows(); }
    void geluGlu() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(15);
        for (int64_t n : {1007, 5 * 75}) {
            // Gates up to +-12 cover both saturated ends of the F16 table (|x| >= 10).
            const auto gate = randomFloats(rng, static_cast<size_t>(n), 12.0f);
            const auto x = randomFloats(rng, static_cast<size_t>(n), 2.0f);
            const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                TRY_ASSIGN(bg, bufferWith(d, gate));
                TRY_ASSIGN(bx, bufferWith(d, x));
                TRY(d.geluGlu(*bg, *bx, n));
                return fetch(d, *bx, x.size());
            };
            // The GELU value is rounded to F16 (llama.cpp's table): a device's tanh an ulp away may round
            // to the neighbouring half, 2^-11 of the value.
            QVERIFY(check(*device, "gelu_glu", "n=" + std::to_string(n), run, 1e-3));
        }
    }

    void add_data() { addTargetRows(); }
    void add() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(6);
        for (int64_t n : {1007, 5 * 75}) {
            const auto x = randomFloats(rng, static_cast<size_t>(n));
            const auto y = randomFloats(rng, static_cast<size_t>(n));
            const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                TRY_ASSIGN(bx, bufferWith(d, x));
                TRY_ASSIGN(by, bufferWith(d, y));
                TRY(d.add(*bx, *by, n));
                return fetch(d, *bx, x.size());
            };
            QVERIFY(check(*device, "add", "n=" + std::to_string(n), run, kToleranceExact));
        }
    }

    void addBias_data() { addTargetRows(); }
    void addBias() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(9);
        QVERIFY(device->supportsOp(OpKind::AddBias, TensorType::F32).hasValue());
        for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{1, 896}, {7, 128}, {11, 75}}) {
            const auto x = randomFloats(rng, static_cast<size_t>(rows * cols));
            const auto bias = randomFloats(rng, static_cast<size_t>(cols));
            const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                TRY_ASSIGN(bx, bufferWith(d, x));
                TRY_ASSIGN(bb, bufferWith(d, bias));
                TRY(d.addBias(*bx, *bb, rows, cols));
                return fetch(d, *bx, x.size());
            };
            QVERIFY(check(*device, "add_bias", std::to_string(rows) + "x" + std::to_string(cols), run,
                          kToleranceExact));
        }
        // The reference itself: every row gains the bias.
        auto bx = m_cpu->allocate(sizeof(float) * 6);
        auto bb = m_cpu->allocate(sizeof(float) * 3);
        QVERIFY(bx && bb);
        const float xs[6] = {1, 2, 3, 4, 5, 6}, bs[3] = {10, 20, 30};
        QVERIFY(m_cpu->upload(**bx, 0, xs, sizeof xs));
        QVERIFY(m_cpu->upload(**bb, 0, bs, sizeof bs));
        QVERIFY(m_cpu->addBias(**bx, **bb, 2, 3));
        auto got = fetch(*m_cpu, **bx, 6);
        QVERIFY(got);
        QCOMPARE(*got, (std::vector<float>{11, 22, 33, 14, 25, 36}));
        QVERIFY(!m_cpu->addBias(**bx, **bb, 3, 3)); // 9 values do not fit in x
    }

    void roundActivations_data() { addTargetRows(); }
    // Activation rounding must reproduce the CPU's quantisers value for value (same float expressions,
    // round-half-even); a single flipped quantum would show as ~1/127 of the block maximum.
    void roundActivations() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(8);
        for (TensorType type : kFormats) {
            const int64_t cols = 512;
            for (int64_t tokens : {1, 5}) {
                auto x = randomFloats(rng, static_cast<size_t>(cols * tokens), 4.0f);
                std::fill(x.begin(), x.begin() + 32, 0.0f); // an all-zero block
                // Q8_1 (Q4_1/Q5_1 weights) also writes each block's sum s after the values.
                const auto outFloats = static_cast<size_t>(roundedActivationFloats(type, cols, tokens));
                const bool q8_1 = quant::activationTypeFor(type) == TensorType::Q8_1;
                QCOMPARE(outFloats, x.size() + (q8_1 ? x.size() / kQK8_1 : 0));
                const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                    TRY_ASSIGN(bx, bufferWith(d, x));
                    TRY_ASSIGN(out, bufferWith(d, nullptr, outFloats * sizeof(float)));
                    TRY(d.roundActivations(*bx, *out, cols, tokens, type));
                    return fetch(d, *out, outFloats);
                };
                std::string label(tensorTypeName(type));
                label.append(" batch=").append(std::to_string(tokens));
                QVERIFY(check(*device, "round_act", label, run, kToleranceExact));
            }
        }
    }

    void getRows_data() { addTargetRows(); }
    void getRows() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(7);
        const int64_t rows = 53;
        for (TensorType type : kFormats) {
            const int64_t cols = oddCols(type);
            const auto table = randomMatrix(rng, type, rows, cols);
            for (const std::vector<int32_t>& ids :
                 {std::vector<int32_t>{52}, std::vector<int32_t>{0, 52, 7, 7, 23}}) {
                const MatrixDesc desc{type, rows, cols};
                const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                    TRY_ASSIGN(bt, bufferWith(d, table));
                    const size_t count = ids.size() * static_cast<size_t>(cols);
                    TRY_ASSIGN(out, bufferWith(d, nullptr, count * sizeof(float)));
                    TRY(d.getRows(*bt, desc, ids, *out));
                    return fetch(d, *out, count);
                };
                std::string label(tensorTypeName(type));
                label.append(" cols=")
                    .append(std::to_string(cols))
                    .append(" ids=")
                    .append(std::to_string(ids.size()));
                QVERIFY(check(*device, "get_rows", label, run, kToleranceExact));
            }
        }
    }

    void moeCombine_data() { addTargetRows(); }
    // The mixture-of-experts combine (scatterScaledRows per expert, then sumRowGroups) must give the CPU
    // engine's bits: each value times its slot's weight, slots added in rank order. Routing as the engine
    // lays it out: nTokens * used weights, then the slots grouped by expert as int32, one buffer read as
    // both `scales` and `slots`. Checked against a host computation on the CPU device and bit for bit
    // (tolerance 0) on every device.
    void moeCombine() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        std::mt19937 rng(10);
        struct Case {
            int64_t tokens, used, experts, cols;
        };
        // 1 token with used 1 and 2; several tokens sharing experts (pigeonhole: more tokens than routed
        // experts) with used 1 and 2 (Mixtral's), and 4 so the order of the adds matters; the last expert of
        // every case gets no token.
        for (const Case& k : {Case{1, 1, 4, 75}, Case{1, 2, 4, 96}, Case{5, 2, 4, 75}, Case{7, 1, 3, 1000},
                              Case{9, 2, 8, 128}, Case{6, 4, 6, 64}}) {
            const int64_t slotCount = k.tokens * k.used;
            std::vector<int32_t> slotExpert(static_cast<size_t>(slotCount));
            for (int64_t t = 0; t < k.tokens; ++t) {
                std::vector<int32_t> pool(static_cast<size_t>(k.experts - 1));
                for (size_t e = 0; e < pool.size(); ++e)
                    pool[e] = static_cast<int32_t>(e);
                std::shuffle(pool.begin(), pool.end(), rng);
                for (int64_t s = 0; s < k.used; ++s)
                    slotExpert[static_cast<size_t>(t * k.used + s)] = pool[static_cast<size_t>(s)];
            }
            std::vector<float> routing = randomFloats(rng, static_cast<size_t>(slotCount));
            std::vector<int32_t> order;
            std::vector<int64_t> first(static_cast<size_t>(k.experts) + 1, 0);
            for (int64_t e = 0; e < k.experts; ++e) {
                first[static_cast<size_t>(e)] = static_cast<int64_t>(order.size());
                for (int64_t i = 0; i < slotCount; ++i)
                    if (slotExpert[static_cast<size_t>(i)] == e)
                        order.push_back(static_cast<int32_t>(i));
            }
            first[static_cast<size_t>(k.experts)] = slotCount;
            QCOMPARE(first[static_cast<size_t>(k.experts) - 1], slotCount); // the last expert is idle
            routing.resize(static_cast<size_t>(2 * slotCount));
            std::memcpy(routing.data() + slotCount, order.data(), order.size() * sizeof(int32_t));
            // Each expert's output rows, in its run's order.
            std::vector<std::vector<float>> outputs(static_cast<size_t>(k.experts));
            for (int64_t e = 0; e < k.experts; ++e)
                outputs[static_cast<size_t>(e)] = randomFloats(
                    rng,
                    static_cast<size_t>((first[static_cast<size_t>(e) + 1] - first[static_cast<size_t>(e)]) *
                                        k.cols),
                    4.0f);
            const size_t slotValues = static_cast<size_t>(slotCount * k.cols);
            const size_t projValues = static_cast<size_t>(k.tokens * k.cols);
            // Returns the slot rows followed by the per-token sums.
            const OpRun run = [&](Device& d) -> Expected<std::vector<float>> {
                TRY_ASSIGN(br, bufferWith(d, routing));
                TRY_ASSIGN(slots, bufferWith(d, std::vector<float>(slotValues, 0.0f)));
                TRY_ASSIGN(proj, bufferWith(d, nullptr, projValues * sizeof(float)));
                std::vector<std::unique_ptr<DeviceBuffer>> keep; // expert outputs stay alive until fetched
                for (int64_t e = 0; e < k.experts; ++e) {
                    const int64_t count = first[static_cast<size_t>(e) + 1] - first[static_cast<size_t>(e)];
                    if (count == 0)
                        continue;
                    TRY_ASSIGN(src, bufferWith(d, outputs[static_cast<size_t>(e)]));
                    TRY(d.scatterScaledRows(*src, *br, slotCount + first[static_cast<size_t>(e)], count, *br,
                                            *slots, slotCount, k.cols));
                    keep.push_back(std::move(src));
                }
                TRY(d.sumRowGroups(*slots, *proj, k.tokens, k.used, k.cols));
                TRY_ASSIGN(slotRows, fetch(d, *slots, slotValues));
                TRY_ASSIGN(sums, fetch(d, *proj, projValues));
                slotRows.insert(slotRows.end(), sums.begin(), sums.end());
                return slotRows;
            };
            // The host computation: one multiply per value into its slot, then slot 0 + slot 1 + ...
            std::vector<float> expected(slotValues + projValues);
            for (int64_t e = 0; e < k.experts; ++e)
                for (int64_t m = first[static_cast<size_t>(e)]; m < first[static_cast<size_t>(e) + 1]; ++m) {
                    const int32_t slot = order[static_cast<size_t>(m)];
                    const float* src =
                        outputs[static_cast<size_t>(e)].data() + (m - first[static_cast<size_t>(e)]) * k.cols;
                    for (int64_t c = 0; c < k.cols; ++c)
                        expected[static_cast<size_t>(slot * k.cols + c)] =
                            src[c] * routing[static_cast<size_t>(slot)];
                }
            for (int64_t t = 0; t < k.tokens; ++t)
                for (int64_t c = 0; c < k.cols; ++c) {
                    float sum = expected[static_cast<size_t>(t * k.used * k.cols + c)];
                    for (int64_t s = 1; s < k.used; ++s)
                        sum += expected[static_cast<size_t>((t * k.used + s) * k.cols + c)];
                    expected[slotValues + static_cast<size_t>(t * k.cols + c)] = sum;
                }
            auto ref = run(*m_cpu);
            QVERIFY2(ref, ref ? "" : ref.error().toString().c_str());
            QVERIFY(std::memcmp(ref->data(), expected.data(), expected.size() * sizeof(float)) == 0);
            const std::string label = std::to_string(k.tokens) + " tokens used=" + std::to_string(k.used) +
                                      " experts=" + std::to_string(k.experts) +
                                      " cols=" + std::to_string(k.cols);
            QVERIFY(check(*device, "moe", label, run, 0.0));
            auto got = run(*device);
            QVERIFY2(got, got ? "" : got.error().toString().c_str());
            QVERIFY2(std::memcmp(got->data(), expected.data(), expected.size() * sizeof(float)) == 0,
                     "not bit-identical to the CPU engine's combine");
        }
    }

    void moeCombineArguments_data() { addTargetRows(); }
    // Device-side slot indices outside [0, dstRows) are skipped (their rows keep what they held), and the
    // shapes the checks refuse are refused on every device.
    void moeCombineArguments() {
        Device* device = currentDevice();
        if (!device)
            QSKIP(currentSkipReason().c_str());
        const int64_t cols = 3, dstRows = 3;
        const std::vector<int32_t> slots = {0, 99, -1, 2};
        const std::vector<float> scales = {2.0f, 3.0f, 0.5f};
        const std::vector<float> src = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        const std::vector<float> held(static_cast<size_t>(dstRows * cols), 7.0f);
        std::vector<float> expected = held;
        for (size_t i = 0; i < slots.size(); ++i) {
            const int32_t j = slots[i];
            if (j < 0 || j >= dstRows)
                continue;
            for (int64_t c = 0; c < cols; ++c)
                expected[static_cast<size_t>(j * cols + c)] =
                    src[i * static_cast<size_t>(cols) + static_cast<size_t>(c)] *
                    scales[static_cast<size_t>(j)];
        }
        QVERIFY(expected[3] == 7.0f && expected[0] != 7.0f); // row 1 untouched, row 0 written
        for (Device* d : {m_cpu.get(), device}) {
            auto bs = bufferWith(*d, src);
            auto bslots = bufferWith(*d, slots);
            auto bscales = bufferWith(*d, scales);
            auto dst = bufferWith(*d, held);
            QVERIFY(bs && bslots && bscales && dst);
            QVERIFY(d->scatterScaledRows(**bs, **bslots, 0, 4, **bscales, **dst, dstRows, cols));
            auto got = fetch(*d, **dst, held.size());
            QVERIFY(got);
            QCOMPARE(*got, expected);
            // Refused: no rows, slots past the buffer, writing the source, too few scales, a short output.
            QVERIFY(!d->scatterScaledRows(**bs, **bslots, 0, 0, **bscales, **dst, dstRows, cols));
            QVERIFY(!d->scatterScaledRows(**bs, **bslots, 1, 4, **bscales, **dst, dstRows, cols));
            QVERIFY(!d->scatterScaledRows(**bs, **bslots, 0, 4, **bscales, **bs, dstRows, cols));
            QVERIFY(!d->scatterScaledRows(**bs, **bslots, 0, 4, **bscales, **dst, 4, cols));
            QVERIFY(!d->sumRowGroups(**bs, **dst, 3, 2, cols)); // 18 values read from a buffer of 12
            QVERIFY(!d->sumRowGroups(**dst, **dst, 1, 1, cols));
            QVERIFY(!d->sumRowGroups(**dst, **bs, 1, 0, cols));
        }
    }
};

QTEST_GUILESS_MAIN(TestBackendOps)
#include "tst_backend_ops.moc"
