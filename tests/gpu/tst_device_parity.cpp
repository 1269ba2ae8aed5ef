// The engine on every available non-CPU device (DeviceShardExecutor through LocalGenerator) against
// the CPU engine and llama.cpp's references in ../shared/reference/parity: greedy tokens of the F32 models
// identical to the CPU engine's, last-prompt logits of the synth-20m formats within cosine 0.999 with the
// same top-1 and >= 4 of the top-5, and the session contract (prefill == stepwise decode up to float
// rounding, truncate, end, wrong positions refused, shard split == whole model).
// Skips as a whole (initTestCase) when the data is missing or no device besides the CPU exists.
#include "DerivedModels.h"
#include "ParityReference.h"
#include "RequiredDevices.h"
#include "TestData.h"
#include "declai/core/Tokenizer.h"
#include "declai/gpu/DeviceShardExecutor.h"
#include "declai/gpu/LocalGenerator.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

using namespace declai;

namespace {

using testdata::topK;
using Reference = testdata::ParityReference;

inline Reference loadReference(const QString& jsonName) {
    return testdata::loadParityReference(jsonName);
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        dot += double(a[i]) * b[i];
        na += double(a[i]) * a[i];
        nb += double(b[i]) * b[i];
    }
    return dot / std::sqrt(na * nb);
}

// max |a - b| / max |b|
double normalisedError(const std::vector<float>& a, const std::vector<float>& b) {
    double maxDiff = 0, maxRef = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        if (!std::isfinite(a[i]))
            return INFINITY;
        maxDiff = std::max(maxDiff, std::fabs(double(a[i]) - b[i]));
        maxRef = std::max(maxRef, std::fabs(double(b[i])));
    }
    return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

// How a device's last-prompt logits agree with llama.cpp's.
struct LogitsAgreement {
    double cosine = 0;
    double normalisedError = 0;
    bool sameTop1 = false;
    int top5Overlap = 0;
    std::string text(const char* against = "llama.cpp") const {
        char line[200];
        std::snprintf(line, sizeof line, "cosine %.7f vs %s, max error/max %.2e, top-1 %s, top-5 overlap %d",
                      cosine, against, normalisedError, sameTop1 ? "same" : "different", top5Overlap);
        return line;
    }
};

LogitsAgreement compareLogits(const std::vector<float>& got, const std::vector<float>& ref) {
    LogitsAgreement a;
    a.cosine = cosine(got, ref);
    a.normalisedError = normalisedError(got, ref);
    const auto mine = topK(got, 5), theirs = topK(ref, 5);
    a.sameTop1 = mine[0] == theirs[0];
    for (int32_t id : mine)
        a.top5Overlap += static_cast<int>(std::count(theirs.begin(), theirs.end(), id));
    return a;
}

struct Loaded {
    std::shared_ptr<const ModelWeights> weights;
    std::unique_ptr<Tokenizer> tokenizer;
};

Loaded load(const QString& model) {
    Loaded l;
    const QString path = testdata::modelPath(model);
    if (path.isEmpty())
        return l;
    auto weights = ModelWeights::load(path.toStdString());
    if (!weights)
        return l;
    auto tokenizer = Tokenizer::fromGguf((*weights)->file());
    if (!tokenizer)
        return l;
    l.weights = *weights;
    l.tokenizer = std::move(*tokenizer);
    return l;
}

// A device that forwards everything to `inner` but says it lacks one op: stands in for a backend
// without kernels for an architecture's options.
class OpWithholdingDevice final : public gpu::Device {
public:
    OpWithholdingDevice(std::unique_ptr<gpu::Device> inner, gpu::OpKind withheld)
        : m_inner(std::move(inner)), m_withheld(withheld) {}
    const gpu::DeviceInfo& info() const override { return m_inner->info(); }
    Expected<void> supportsOp(gpu::OpKind op, TensorType type) const override {
        if (op == m_withheld)
            return makeError(ErrorCode::Unsupported, std::string(gpu::opKindName(op)).append(" withheld"));
        return m_inner->supportsOp(op, type);
    }
    Expected<std::unique_ptr<gpu::DeviceBuffer>> allocate(uint64_t sizeBytes) override {
        return m_inner->allocate(sizeBytes);
    }
    Expected<void> upload(gpu::DeviceBuffer& b, uint64_t offset, const void* data, uint64_t size) override {
        return m_inner->upload(b, offset, data, size);
    }
    Expected<void> download(const gpu::DeviceBuffer& b, uint64_t offset, void* data, uint64_t size) override {
        return m_inner->download(b, offset, data, size);
    }
    Expected<void> synchronize() override { return m_inner->synchronize(); }
    Expected<void> rmsNorm(const gpu::DeviceBuffer& x, const gpu::DeviceBuffer& w, gpu::DeviceBuffer& out,
                           int64_t n, int64_t nTokens, float eps) override {
        return m_inner->rmsNorm(x, w, out, n, nTokens, eps);
    }
    Expected<void> matMul(const gpu::DeviceBuffer& w, const gpu::MatrixDesc& desc, const gpu::DeviceBuffer& x,
                          int64_t nTokens, gpu::DeviceBuffer& y) override {
        return m_inner->matMul(w, desc, x, nTokens, y);
    }
    Expected<void> rope(gpu::DeviceBuffer& x, const gpu::RopeParams& p) override {
        return m_inner->rope(x, p);
    }
    Expected<void> attention(const gpu::DeviceBuffer& q, const gpu::DeviceBuffer& k,
                             const gpu::DeviceBuffer& v, gpu::DeviceBuffer& kc, gpu::DeviceBuffer& vc,
                             gpu::DeviceBuffer& out, const gpu::AttentionParams& p) override {
        return m_inner->attention(q, k, v, kc, vc, out, p);
    }
    Expected<void> swiGlu(const gpu::DeviceBuffer& gate, gpu::DeviceBuffer& x, int64_t n) override {
        return m_inner->swiGlu(gate, x, n);
    }
    Expected<void> geluGlu(const gpu::DeviceBuffer& gate, gpu::DeviceBuffer& x, int64_t n) override {
        return m_inner->geluGlu(gate, x, n);
    }
    Expected<void> add(gpu::DeviceBuffer& x, const gpu::DeviceBuffer& y, int64_t n) override {
        return m_inner->add(x, y, n);
    }
    Expected<void> addBias(gpu::DeviceBuffer& x, const gpu::DeviceBuffer& b, int64_t rows,
                           int64_t cols) override {
        return m_inner->addBias(x, b, rows, cols);
    }
    Expected<void> getRows(const gpu::DeviceBuffer& table, const gpu::MatrixDesc& desc,
                           std::span<const int32_t> ids, gpu::DeviceBuffer& out) override {
        return m_inner->getRows(table, desc, ids, out);
    }
    Expected<void> roundActivations(const gpu::DeviceBuffer& x, gpu::DeviceBuffer& out, int64_t cols,
                                    int64_t nTokens, TensorType weightType) override {
        return m_inner->roundActivations(x, out, cols, nTokens, weightType);
    }
    Expected<void> scatterScaledRows(const gpu::DeviceBuffer& src, const gpu::DeviceBuffer& slots,
                                     int64_t first, int64_t count, const gpu::DeviceBuffer& scales,
                                     gpu::DeviceBuffer& dst, int64_t dstRows, int64_t cols) override {
        return m_inner->scatterScaledRows(src, slots, first, count, scales, dst, dstRows, cols);
    }
    Expected<void> sumRowGroups(const gpu::DeviceBuffer& in, gpu::DeviceBuffer& out, int64_t groups,
                                int64_t groupSize, int64_t cols) override {
        return m_inner->sumRowGroups(in, out, groups, groupSize, cols);
    }

private:
    std::unique_ptr<gpu::Device> m_inner;
    gpu::OpKind m_withheld;
};

} // namespace

class TestDeviceParity : public QObject {
    Q_OBJECT

    std::vector<std::string> m_devices; // every openable non-CPU device, "opencl:0", ...

    void addDeviceColumn() { QTest::addColumn<QString>("device"); }
    template <class F>
    void forEachDevice(F&& addRow) {
        for (const std::string& d : m_devices)
            addRow(QString::fromStdString(d));
    }

private Q_SLOTS:
    void initTestCase() {
        if (testdata::referenceDir().isEmpty() || qEnvironmentVariable("DECLAI_MODEL_PATH").isEmpty())
            DECLAI_SKIP_MISSING(
                "models",
                QStringLiteral("DECLAI_MODEL_PATH and DECLAI_REFERENCE_DIR must point at ../shared"));
        gpu::BackendRegistry registry(1);
        DECLAI_REQUIRE_DEVICES(registry.backends());
        std::string absent;
        for (const gpu::BackendStatus& status : registry.backends()) {
            if (status.name == "cpu")
                continue;
            if (!status.available) {
                qInfo("absent %s: %s", status.name.c_str(), status.reason.c_str());
                absent.append(status.name).append(": ").append(status.reason).append("; ");
                continue;
            }
            for (const gpu::DeviceInfo& info : status.devices) {
                qInfo("testing %s: %s", info.id.toString().c_str(), info.name.c_str());
                m_devices.push_back(info.id.toString());
            }
        }
        if (m_devices.empty())
            QSKIP(qPrintable(QString::fromStdString("no device besides the CPU: " + absent)));
    }

    void greedyTokensMatchCpu_data() {
        QTest::addColumn<QString>("device");
        QTest::addColumn<QString>("reference");
        forEachDevice([](const QString& d) {
            for (const char* ref :
                 {"stories260K-p1.json", "stories260K-p2.json", "stories260K-p3.json", "tiny-random-p1.json"})
                QTest::newRow(qPrintable(d + QLatin1Char(' ') + QLatin1String(ref)))
                    << d << QString::fromLatin1(ref);
        });
    }

    // Greedy decoding on the device gives exactly the CPU engine's tokens (which equal llama.cpp's).
    void greedyTokensMatchCpu() {
        QFETCH(QString, device);
        QFETCH(QString, reference);
        const Reference ref = loadReference(reference);
        QVERIFY2(!ref.model.isEmpty(), qPrintable(reference + QStringLiteral(" missing")));
        const Loaded model = load(ref.model);
        QVERIFY(model.weights);
        const auto prompt = model.tokenizer->encode(ref.prompt.toStdString(), true);
        ThreadPool pool(2);
        auto cpu = LocalGenerator::create(model.weights, pool);
        auto dev = LocalGenerator::create(model.weights, pool, device.toStdString());
        QVERIFY(cpu);
        QVERIFY2(dev, dev ? "" : dev.error().toString().c_str());
        GenerationOptions options;
        options.maxTokens = static_cast<int32_t>(ref.greedyTokens.size());
        auto expected = (*cpu)->generate(prompt, options);
        auto got = (*dev)->generate(prompt, options);
        QVERIFY(expected);
        QVERIFY2(got, got ? "" : got.error().toString().c_str());
        qInfo("%s %s: %zu tokens, %s", qPrintable(device), qPrintable(reference), got->size(),
              *got == *expected ? "identical to the CPU" : "DIFFERENT");
        QCOMPARE(*got, *expected);
        QCOMPARE(*got, ref.greedyTokens);
    }

    void lastLogits_data() {
        QTest::addColumn<QString>("device");
        QTest::addColumn<QString>("reference");
        forEachDevice([](const QString& d) {
            for (const char* ref : {"stories260K-p1.json", "synth-20m-f16-p1.json", "synth-20m-Q8_0-p1.json",
                                    "synth-20m-Q4_0-p1.json", "synth-20m-Q4_K_M-p1.json"})
                QTest::newRow(qPrintable(d + QLatin1Char(' ') + QLatin1String(ref)))
                    << d << QString::fromLatin1(ref);
        });
    }

    void lastLogits() {
        QFETCH(QString, device);
        QFETCH(QString, reference);
        const Reference ref = loadReference(reference);
        QVERIFY2(!ref.model.isEmpty(), qPrintable(reference + QStringLiteral(" missing")));
        const Loaded model = load(ref.model);
        QVERIFY(model.weights);
        const auto prompt = model.tokenizer->encode(ref.prompt.toStdString(), true);
        ThreadPool pool(2);
        auto dev = LocalGenerator::create(model.weights, pool, device.toStdString());
        QVERIFY2(dev, dev ? "" : dev.error().toString().c_str());
        auto logits = (*dev)->promptLogits(prompt);
        QVERIFY2(logits, logits ? "" : logits.error().toString().c_str());
        QCOMPARE(logits->size(), ref.logits.size());
        const LogitsAgreement agree = compareLogits(*logits, ref.logits);
        qInfo("%s %s: %s", qPrintable(device), qPrintable(reference), agree.text().c_str());
        QVERIFY2(agree.cosine >= 0.999, agree.text().c_str());
        QVERIFY2(agree.sameTop1, agree.text().c_str());
        QVERIFY2(agree.top5Overlap >= 4, agree.text().c_str());
    }

    void sessions_data() {
        QTest::addColumn<QString>("device");
        forEachDevice([](const QString& d) { QTest::newRow(qPrintable(d)) << d; });
    }

    // The ShardExecutor contract on the device: batched prefill equals token-by-token decode (up to float
    // summation order), truncate + replay reproduces the same states, a split shard equals the whole one,
    // wrong positions are refused, endSession forgets.
    void sessions() {
        QFETCH(QString, device);
        const Loaded model = load(QStringLiteral("synth-20m-Q4_K_M.gguf"));
        QVERIFY(model.weights);
        const auto tokens = model.tokenizer->encode("Once upon a time there was a big dog named Max", true);
        const auto n = static_cast<int64_t>(tokens.size());
        ThreadPool pool(2);
        Embedder embedder(model.weights);
        const int64_t dim = embedder.hiddenSize();
        const int64_t layerCount = model.weights->config().layerCount;
        auto whole = makeShardBackend(model.weights, {0, layerCount}, device.toStdString(), pool, 300);
        QVERIFY2(whole, whole ? "" : whole.error().toString().c_str());
        ShardBackend& shard = **whole;
        QCOMPARE(shard.deviceName(), device.toStdString());
        std::vector<float> input(size_t(n * dim));
        QVERIFY(embedder.embed(tokens, input));

        std::vector<float> batched = input;
        QVERIFY(shard.forward(1, 0, batched, n));
        QCOMPARE(shard.sessionLength(1), n);
        std::vector<float> stepwise;
        for (int64_t t = 0; t < n; ++t) {
            std::vector<float> row(input.begin() + t * dim, input.begin() + (t + 1) * dim);
            QVERIFY(shard.forward(2, t, row, 1));
            stepwise.insert(stepwise.end(), row.begin(), row.end());
        }
        const double stepError = normalisedError(stepwise, batched);
        qInfo("%s prefill vs stepwise decode: normalised error %.3g", qPrintable(device), stepError);
        QVERIFY(stepError <= 1e-4);

        // Truncate to 3 tokens and replay the rest: same states as before.
        shard.truncateSession(1, 3);
        QCOMPARE(shard.sessionLength(1), int64_t(3));
        std::vector<float> replay(input.begin() + 3 * dim, input.end());
        QVERIFY(shard.forward(1, 3, replay, n - 3));
        const std::vector<float> batchedTail(batched.begin() + 3 * dim, batched.end());
        QVERIFY(normalisedError(replay, batchedTail) <= 1e-4);

        // Wrong position refused; endSession forgets.
        std::vector<float> one(size_t(dim), 0.0f);
        QVERIFY(!shard.forward(1, 0, one, 1));
        QCOMPARE(shard.sessionCount(), size_t(2));
        shard.endSession(1);
        QCOMPARE(shard.sessionLength(1), int64_t(0));
        QCOMPARE(shard.sessionCount(), size_t(1));

        // Split across two device shards (as two nodes would).
        const int64_t cut = layerCount / 2;
        auto first = makeShardBackend(model.weights, {0, cut}, device.toStdString(), pool, 300);
        auto second = makeShardBackend(model.weights, {cut, layerCount}, device.toStdString(), pool, 300);
        QVERIFY(first && second);
        std::vector<float> split = input;
        QVERIFY((*first)->forward(9, 0, split, n));
        QVERIFY((*second)->forward(9, 0, split, n));
        QVERIFY(normalisedError(split, batched) <= 1e-5);

        // A long decode past the first cache growth (256 tokens) keeps working.
        std::vector<float> row(input.begin(), input.begin() + dim);
        for (int64_t t = n; t < 270; ++t) {
            std::vector<float> r = row;
            QVERIFY((*first)->forward(9, t, r, 1));
        }
        QCOMPARE((*first)->sessionLength(9), int64_t(270));
        std::vector<float> tooMany(size_t(31 * dim), 0.0f);
        QVERIFY(!(*first)->forward(9, 270, tooMany, 31)); // 301 > maxContext 300
    }

    // The tensor types of issue 15 on devices (OpenCL, Vulkan, CUDA and HIP kernels) and every architecture's
    // graph, on the llama.cpp-written synth-arch files,
    // two prompts each: the
    // device bar of the other quantised formats (lastLogits), tightened to cosine >= 0.9995, same top-1 and
    // >= 4 of the top-5. Greedy tokens are reported, not required: a device sums in another order, and one
    // activation that lands on the other side of an 8-bit rounding boundary moves the logits by ~1e-2 of
    // their range, which on these random-weight models' near-ties parts the greedy path; llama.cpp's own
    // Vulkan backend parts from its CPU more often (both measured in docs/architecture.md, "Devices and the
    // newer tensor types").
    void synthArchMatchLlamaCpp_data() {
        QTest::addColumn<QString>("device");
        QTest::addColumn<QString>("reference");
        forEachDevice([](const QString& d) {
            QStringList models;
            for (const char* type : {"Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q5_K_M", "IQ4_NL", "IQ4_XS"})
                models << QStringLiteral("llama-%1").arg(QLatin1String(type));
            // Every architecture: NeoX RoPE, Q/K/V biases, Q/K norms (qwen), GELU, post-norms, soft-capping
            // and the 32-token sliding window the 64-token generations cross (gemma2), fused QKV and
            // gate/up (phi3), experts routed on the host (mixtral).
            for (const char* arch : {"qwen2", "qwen3", "gemma2", "phi3", "mixtral"})
                for (const char* type : {"f16", "Q4_K_M"})
                    models << QStringLiteral("%1-%2").arg(QLatin1String(arch), QLatin1String(type));
            for (const QString& model : models)
                for (const char* prompt : {"p1", "p2"}) {
                    const QString ref =
                        QStringLiteral("synth-arch-%1-%2.json").arg(model, QLatin1String(prompt));
                    QTest::newRow(qPrintable(d + QLatin1Char(' ') + ref)) << d << ref;
                }
        });
    }

    void synthArchMatchLlamaCpp() {
        QFETCH(QString, device);
        QFETCH(QString, reference);
        const Reference ref = loadReference(reference);
        QVERIFY2(!ref.model.isEmpty(), qPrintable(reference + QStringLiteral(" missing")));
        const Loaded model = load(ref.model);
        QVERIFY2(model.weights, qPrintable(ref.model + QStringLiteral(" did not load")));
        const auto prompt = model.tokenizer->encode(ref.prompt.toStdString(), true);
        ThreadPool pool(2);
        auto dev = LocalGenerator::create(model.weights, pool, device.toStdString());
        QVERIFY2(dev, dev ? "" : dev.error().toString().c_str());
        auto logits = (*dev)->promptLogits(prompt);
        QVERIFY2(logits, logits ? "" : logits.error().toString().c_str());
        QCOMPARE(logits->size(), ref.logits.size());
        GenerationOptions options;
        options.maxTokens = static_cast<int32_t>(ref.greedyTokens.size());
        auto got = (*dev)->generate(prompt, options);
        QVERIFY2(got, got ? "" : got.error().toString().c_str());
        size_t same = 0;
        while (same < got->size() && same < ref.greedyTokens.size() && (*got)[same] == ref.greedyTokens[same])
            ++same;
        const LogitsAgreement agree = compareLogits(*logits, ref.logits);
        qInfo("%s %s: %s, greedy tokens equal to llama.cpp's for %zu of %zu steps", qPrintable(device),
              qPrintable(reference), agree.text().c_str(), same, ref.greedyTokens.size());
        QVERIFY2(agree.cosine >= 0.9995, agree.text().c_str());
        QVERIFY2(agree.sameTop1, agree.text().c_str());
        QVERIFY2(agree.top5Overlap >= 4, agree.text().c_str());
        QCOMPARE(got->size(), ref.greedyTokens.size());
        QVERIFY(same >= 1); // the first token is the prompt's top-1
    }

    // Derived models on every device (Llama 3.1's rope_freqs; Phi-3.5's LongRoPE, long and short set with its
    // attn_factor; Gemma 3's Q/K norms and per-layer RoPE; Qwen 3 MoE; Granite's residual scale; YaRN, which
    // runs as frequency factors on the devices; Ministral 3's query temperature): a model
    // derived from a shared one (tests/DerivedModels.h, as tst_parity's derivedModelsMatchLlamaCpp), run with
    // the reference's context, against llama.cpp's outputs for it (tests/gpu/parity, its AVX-512 build) with
    // synthArchMatchLlamaCpp's device bar. Prompt positions are too short for RoPE changes to show, so the
    // logits after llama.cpp's first 48 tokens (teacher-forced, no near-tie flips; past gemma3's 32-token
    // window) are compared with the CPU engine's too, where the source model is far off.
    void derivedModelsMatchLlamaCpp_data() {
        QTest::addColumn<QString>("device");
        QTest::addColumn<QString>("file");
        forEachDevice([](const QString& d) {
            QStringList files;
            for (const char* type : {"f16", "Q5_K_M"})
                for (const char* prompt : {"p1", "p2"})
                    files << QStringLiteral("synth-arch-llama-%1-rope-freqs-%2.json")
                                 .arg(QLatin1String(type), QLatin1String(prompt));
            for (const char* type : {"f16", "Q4_K_M"})
                for (const char* set : {"long", "short"})
                    files << QStringLiteral("synth-arch-phi3-%1-longrope-%2-p1.json")
                                 .arg(QLatin1String(type), QLatin1String(set));
            files << QStringLiteral("synth-arch-phi3-f16-partial-longrope-long-p1.json")
                  << QStringLiteral("stories260K-smollm3-p1.json");
            for (const char* type : {"f16", "Q4_K_M"})
                for (const char* arch : {"gemma3", "qwen3moe"})
                    files << QStringLiteral("synth-arch-%1-%2-p1.json")
                                 .arg(QLatin1String(arch), QLatin1String(type));
            files << QStringLiteral("synth-arch-granite-f16-p1.json")
                  << QStringLiteral("synth-arch-granite-Q5_K_M-p1.json")
                  << QStringLiteral("synth-arch-granite-f16-norope-p1.json")
                  << QStringLiteral("synth-arch-granitemoe-Q4_K_M-p1.json")
                  << QStringLiteral("synth-arch-qwen2-f16-yarn-p1.json")
                  << QStringLiteral("synth-arch-qwen2-Q4_K_M-yarn-p2.json")
                  << QStringLiteral("synth-arch-llama-f16-yarn-p1.json")
                  << QStringLiteral("synth-arch-mistral3-f16-p1.json")
                  << QStringLiteral("synth-arch-mistral3-Q5_K_M-p2.json")
                  << QStringLiteral("synth-arch-glm4-f16-p1.json")
                  << QStringLiteral("synth-arch-glm4-Q4_K_M-p2.json")
                  << QStringLiteral("synth-arch-olmo2-f16-p2.json")
                  << QStringLiteral("synth-arch-olmo2-Q5_K_M-p1.json")
                  << QStringLiteral("synth-arch-exaone4-Q4_K_M-p1.json");
            // (EXAONE and ERNIE 4.5 rows compute what their sources do; synthArchMatchLlamaCpp has those.)
            for (const QString& file : files)
                QTest::newRow(qPrintable(d + QLatin1Char(' ') + file)) << d << file;
        });
    }

    void derivedModelsMatchLlamaCpp() {
        QFETCH(QString, device);
        QFETCH(QString, file);
        const QDir dir(QStringLiteral(DECLAI_PARITY_EXPECTED_DIR));
        QFile in(dir.filePath(file));
        QVERIFY2(in.open(QIODevice::ReadOnly), qPrintable(in.fileName()));
        const QJsonObject o = QJsonDocument::fromJson(in.readAll()).object();
        const QString sourceName = o.value(QStringLiteral("model")).toString();
        const int64_t context = o.value(QStringLiteral("n_ctx")).toInteger(512);
        QTemporaryDir tmp;
        const QString path = tmp.filePath(QStringLiteral("derived.gguf"));
        const QString written = testdata::writeDerivedModel(o, path);
        QVERIFY2(written.isEmpty(), qPrintable(written));
        auto weights = ModelWeights::load(path.toStdString());
        QVERIFY2(weights, weights ? "" : weights.error().message.c_str());
        auto tokenizer = Tokenizer::fromGguf((*weights)->file());
        QVERIFY(tokenizer);
        const auto prompt =
            (*tokenizer)->encode(o.value(QStringLiteral("prompt")).toString().toStdString(), true);
        const auto expected = testdata::jsonIds(o.value(QStringLiteral("greedy_tokens")).toArray());
        QCOMPARE(expected.size(), size_t(64));
        QFile stored(dir.filePath(o.value(QStringLiteral("last_logits_file")).toString()));
        QVERIFY2(stored.open(QIODevice::ReadOnly), qPrintable(stored.fileName()));
        const QByteArray raw = stored.readAll();
        std::vector<float> refLogits(static_cast<size_t>(raw.size()) / sizeof(float));
        std::memcpy(refLogits.data(), raw.constData(), refLogits.size() * sizeof(float));
        std::vector<int32_t> longContext = prompt;
        longContext.insert(longContext.end(), expected.begin(), expected.begin() + 48);

        ThreadPool pool(2);
        auto dev = LocalGenerator::create(*weights, pool, device.toStdString(), context);
        QVERIFY2(dev, dev ? "" : dev.error().toString().c_str());
        auto logits = (*dev)->promptLogits(prompt);
        QVERIFY2(logits, logits ? "" : logits.error().toString().c_str());
        const LogitsAgreement agree = compareLogits(*logits, refLogits);
        GenerationOptions options;
        options.maxTokens = static_cast<int32_t>(expected.size());
        auto tokens = (*dev)->generate(prompt, options);
        QVERIFY2(tokens, tokens ? "" : tokens.error().toString().c_str());
        const auto same = static_cast<size_t>(
            std::mismatch(tokens->begin(), tokens->end(), expected.begin(), expected.end()).first -
            tokens->begin());
        qInfo("%s %s: %s, greedy tokens equal to llama.cpp's for %zu of %zu steps", qPrintable(device),
              qPrintable(file), agree.text().c_str(), same, expected.size());
        QVERIFY2(agree.cosine >= 0.9995, agree.text().c_str());
        QVERIFY2(agree.sameTop1, agree.text().c_str());
        QVERIFY2(agree.top5Overlap >= 4, agree.text().c_str());

        auto cpu = LocalGenerator::create(*weights, pool, "cpu", context);
        QVERIFY(cpu);
        const Loaded plain = load(sourceName);
        QVERIFY(plain.weights);
        auto cpuPlain = LocalGenerator::create(plain.weights, pool, "cpu");
        QVERIFY(cpuPlain);
        auto deviceLong = (*dev)->promptLogits(longContext);
        auto cpuLong = (*cpu)->promptLogits(longContext);
        auto plainLong = (*cpuPlain)->promptLogits(longContext);
        QVERIFY(deviceLong && cpuLong && plainLong);
        const LogitsAgreement atLength = compareLogits(*deviceLong, *cpuLong);
        const LogitsAgreement fromSource = compareLogits(*plainLong, *cpuLong);
        qInfo("after 48 tokens: device %s; the source model %s", atLength.text("the CPU engine").c_str(),
              fromSource.text("the CPU engine").c_str());
        QVERIFY2(atLength.cosine >= 0.9995 && atLength.top5Overlap >= 4,
                 atLength.text("the CPU engine").c_str());
        QVERIFY2(fromSource.cosine < 0.999,
                 "the derivation does not change these logits; pick a longer context");
    }

    // Issue 15: a backend without the ops an architecture needs (CUDA and HIP have no GELU, soft-capping,
    // sliding-window or NeoX kernels yet) refuses the model by architecture and feature, and the CPU
    // backend still runs it. No such backend exists on CI machines, so the CPU device stands in for one,
    // with the op withheld.
    void architecturesNeedingMissingOpsAreRefused_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("withheld");
        QTest::addColumn<QString>("feature");
        QTest::newRow("gemma2 without gelu_glu") << QStringLiteral("synth-arch-gemma2-f16.gguf")
                                                 << int(gpu::OpKind::GeluGlu) << QStringLiteral("GELU");
        QTest::newRow("gemma2 without attention_cap_window")
            << QStringLiteral("synth-arch-gemma2-f16.gguf") << int(gpu::OpKind::AttentionCapWindow)
            << QStringLiteral("soft-capping");
        QTest::newRow("phi3 without rope_neox") << QStringLiteral("synth-arch-phi3-f16.gguf")
                                                << int(gpu::OpKind::RopeNeox) << QStringLiteral("NeoX");
        QTest::newRow("mixtral without get_rows") << QStringLiteral("synth-arch-mixtral-f16.gguf")
                                                  << int(gpu::OpKind::GetRows) << QStringLiteral("experts");
        QTest::newRow("mixtral without scatter_scaled_rows")
            << QStringLiteral("synth-arch-mixtral-f16.gguf") << int(gpu::OpKind::ScatterScaledRows)
            << QStringLiteral("experts");
        QTest::newRow("mixtral without sum_row_groups")
            << QStringLiteral("synth-arch-mixtral-f16.gguf") << int(gpu::OpKind::SumRowGroups)
            << QStringLiteral("experts");
    }

    void architecturesNeedingMissingOpsAreRefused() {
        QFETCH(QString, model);
        QFETCH(int, withheld);
        QFETCH(QString, feature);
        const Loaded loaded = load(model);
        QVERIFY2(loaded.weights, qPrintable(model + QStringLiteral(" did not load")));
        gpu::BackendRegistry registry(1);
        auto cpu = registry.openDevice(gpu::DeviceId{"cpu", 0});
        QVERIFY2(cpu, cpu ? "" : cpu.error().message.c_str());
        auto lacking =
            std::make_unique<OpWithholdingDevice>(std::move(*cpu), static_cast<gpu::OpKind>(withheld));
        auto shard = DeviceShardExecutor::create(loaded.weights, {0, 1}, std::move(lacking));
        QVERIFY2(!shard, qPrintable(model));
        QCOMPARE(shard.error().code, ErrorCode::Unsupported);
        const QString message = QString::fromStdString(shard.error().message);
        const QString arch = QString::fromStdString(loaded.weights->config().architecture);
        QVERIFY2(message.contains(QStringLiteral("architecture '%1'").arg(arch)) &&
                     message.contains(feature) && message.contains(QStringLiteral("CPU only")) &&
                     message.contains(QString::fromUtf8(gpu::opKindName(static_cast<gpu::OpKind>(withheld)))),
                 qPrintable(message));
        ThreadPool pool(1);
        auto onCpu = makeShardBackend(loaded.weights, {0, 1}, "cpu", pool);
        QVERIFY2(onCpu, onCpu ? "" : onCpu.error().message.c_str());
        // With nothing withheld the same device takes it.
        auto whole = registry.openDevice(gpu::DeviceId{"cpu", 0});
        QVERIFY(whole);
        auto accepted = DeviceShardExecutor::create(loaded.weights, {0, 1}, std::move(*whole));
        QVERIFY2(accepted, accepted ? "" : accepted.error().message.c_str());
    }

    // Weights re-laid for the CPU kernels (ModelWeights::makeResident, WeightLayout::Strips16) are refused by
    // a device with a reason, never uploaded as other values.
    void reLaidWeightsAreRefused() {
        const Loaded model = load(QStringLiteral("synth-20m-Q4_0.gguf"));
        QVERIFY(model.weights);
        const ResidentWeights resident = ModelWeights::makeResident(model.weights, {0, 1}, false);
        if (resident.weights->layer(0).wq.layout != WeightLayout::Strips16)
            QSKIP("the active CPU kernel table keeps Q4_0 in rows (no strips): nothing re-laid to refuse");
        gpu::BackendRegistry registry(1);
        auto device = registry.openDevice(gpu::DeviceId{"cpu", 0});
        QVERIFY2(device, device ? "" : device.error().message.c_str());
        auto shard = DeviceShardExecutor::create(resident.weights, {0, 1}, std::move(*device));
        QVERIFY(!shard);
        QCOMPARE(shard.error().code, ErrorCode::InvalidArgument);
        QVERIFY2(shard.error().message.find("re-laid for the CPU kernels") != std::string::npos,
                 shard.error().message.c_str());
        // The same layers from the file's mapping are taken.
        auto again = registry.openDevice(gpu::DeviceId{"cpu", 0});
        QVERIFY(again);
        auto accepted = DeviceShardExecutor::create(model.weights, {0, 1}, std::move(*again));
        QVERIFY2(accepted, accepted ? "" : accepted.error().message.c_str());
    }

    // Errors are values: an unknown device or an absent backend is refused with a reason.
    void badDevices() {
        const Loaded model = load(QStringLiteral("stories260K.gguf"));
        QVERIFY(model.weights);
        ThreadPool pool(1);
        for (const char* id : {"metal:0", "opencl:99", "cpu:3"}) {
            auto shard = makeShardBackend(model.weights, {0, 1}, id, pool);
            QVERIFY2(!shard, id);
            qInfo("%s: %s", id, shard.error().toString().c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestDeviceParity)
#include "tst_device_parity.moc"
