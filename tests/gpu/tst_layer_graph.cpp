// The one layer graph (LayerGraph.h) as a sequence of ops, per architecture: the steps and their order are
// llama.cpp's llm_build_llama / qwen2 / qwen3 / gemma2_iswa / phi3 graphs (numerics are tst_parity's and
// tst_device_parity's business). Also: a failing op stops the layer and its error comes back unchanged.
#include "declai/gpu/LayerGraph.h"

#include <QTest>
#include <string>
#include <vector>

using namespace declai;

namespace {

const char* bufferName(LayerBuffer b) {
    static const char* const kNames[] = {"hidden", "normed", "q", "k", "v", "attnOut", "proj", "gate", "up"};
    return kNames[static_cast<size_t>(b)];
}

const char* tensorName(LayerTensor t) {
    switch (t) {
    case LayerTensor::AttnNorm:
        return "attnNorm";
    case LayerTensor::FfnNorm:
        return "ffnNorm";
    case LayerTensor::PostAttnNorm:
        return "postAttnNorm";
    case LayerTensor::PostFfnNorm:
        return "postFfnNorm";
    case LayerTensor::Wq:
        return "wq";
    case LayerTensor::Wk:
        return "wk";
    case LayerTensor::Wv:
        return "wv";
    case LayerTensor::Wqkv:
        return "wqkv";
    case LayerTensor::Wo:
        return "wo";
    case LayerTensor::Gate:
        return "gate";
    case LayerTensor::Up:
        return "up";
    case LayerTensor::Down:
        return "down";
    case LayerTensor::Bq:
        return "bq";
    case LayerTensor::Bk:
        return "bk";
    case LayerTensor::Bv:
        return "bv";
    case LayerTensor::QNorm:
        return "qNorm";
    case LayerTensor::KNorm:
        return "kNorm";
    default:
        return "?";
    }
}

// Writes each op as one line; fails the op numbered `failAt` (0 = none).
class RecordingOps final : public LayerOps {
public:
    std::vector<std::string> steps;
    size_t failAt = 0;

    Expected<void> beginLayer(int64_t layer) override { return record("layer " + std::to_string(layer)); }
    Expected<void> rmsNorm(LayerBuffer x, LayerTensor weight, LayerBuffer out) override {
        return record(std::string("rmsNorm ") + bufferName(x) + " " + tensorName(weight) + " -> " +
                      bufferName(out));
    }
    Expected<void> project(LayerBuffer input, std::span<const LayerProduct> products) override {
        std::string line = std::string("project ") + bufferName(input) + ":";
        for (const LayerProduct& p : products)
            line.append(" ").append(tensorName(p.matrix)).append("->").append(bufferName(p.out));
        return record(line);
    }
    Expected<void> projectSplit(LayerBuffer input, LayerTensor matrix,
                                std::span<const LayerBuffer> outs) override {
        std::string line =
            std::string("projectSplit ") + bufferName(input) + " " + tensorName(matrix) + " ->";
        for (const LayerBuffer out : outs)
            line.append(" ").append(bufferName(out));
        return record(line);
    }
    Expected<void> addBias(LayerBuffer x, LayerTensor bias) override {
        return record(std::string("addBias ") + bufferName(x) + " " + tensorName(bias));
    }
    Expected<void> headNorm(LayerBuffer x, LayerTensor weight) override {
        return record(std::string("headNorm ") + bufferName(x) + " " + tensorName(weight));
    }
    Expected<void> rope(RopeMode mode) override {
        return record(mode == RopeMode::NeoX ? "rope neox" : "rope normal");
    }
    Expected<void> scaleQueries() override { return record("scale q by position"); }
    Expected<void> attention(const AttentionMode& mode) override {
        std::string line = "attention scale " + std::to_string(mode.scale);
        if (mode.queryPreScaled)
            line += " prescaled";
        if (mode.softCap > 0.0f)
            line += " cap " + std::to_string(mode.softCap);
        if (mode.window > 0)
            line += " window " + std::to_string(mode.window);
        return record(line);
    }
    Expected<void> gatedActivation(FfnActivation activation) override {
        return record(activation == FfnActivation::SiLU ? "gated silu" : "gated gelu");
    }
    Expected<void> add(LayerBuffer x, LayerBuffer y) override {
        return record(std::string("add ") + bufferName(x) + " += " + bufferName(y));
    }
    Expected<void> addScaled(LayerBuffer x, LayerBuffer y, float yScale) override {
        return record(std::string("add ") + bufferName(x) + " += " + bufferName(y) + " x " +
                      std::to_string(yScale));
    }
    Expected<void> experts(FfnActivation activation) override {
        return record(activation == FfnActivation::SiLU ? "experts silu" : "experts gelu");
    }

private:
    Expected<void> record(std::string line) {
        steps.push_back(std::move(line));
        if (steps.size() == failAt)
            return makeError(ErrorCode::DeviceLost, "op " + std::to_string(failAt) + " failed");
        return {};
    }
};

// A config of `architecture` with the modes its tests need.
ModelConfig configFor(const char* architecture) {
    ModelConfig c;
    c.spec = findArchitecture(architecture);
    c.attentionScale = 0.125f;
    return c;
}

// Stands in for a present matrix; the graph only asks whether it is there.
const std::byte kSomeBytes[1] = {};

std::vector<std::string> run(const ModelConfig& c, const LayerWeights& w, int64_t layer) {
    RecordingOps ops;
    const Expected<void> result = runLayerGraph(ops, c, w, layer);
    if (!result)
        return {"failed: " + result.error().message};
    return ops.steps;
}

const std::vector<std::string> kLlamaFfn = {
    "rmsNorm hidden ffnNorm -> normed",
    "project normed: gate->gate up->up",
    "gated silu",
    "project up: down->proj",
    "add hidden += proj",
};

std::vector<std::string> joined(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace

class TestLayerGraph : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void llama() {
        const ModelConfig c = configFor("llama");
        QVERIFY(c.spec);
        const LayerWeights w;
        const std::vector<std::string> expected = joined(
            {"layer 3", "rmsNorm hidden attnNorm -> normed", "project normed: wq->q wk->k wv->v",
             "rope normal", "attention scale 0.125000", "project attnOut: wo->proj", "add hidden += proj"},
            kLlamaFfn);
        QCOMPARE(run(c, w, 3), expected);
    }

    void mixtureOfExperts() {
        ModelConfig c = configFor("llama");
        c.expertCount = 8;
        c.expertUsedCount = 2;
        const std::vector<std::string> steps = run(c, LayerWeights{}, 0);
        QVERIFY(steps.size() >= 3);
        QCOMPARE(steps[steps.size() - 3], std::string("rmsNorm hidden ffnNorm -> normed"));
        QCOMPARE(steps[steps.size() - 2], std::string("experts silu"));
        QCOMPARE(steps.back(), std::string("add hidden += proj"));
    }

    // Biases after the Q/K/V products, before RoPE (NeoX pairs).
    void qwen2() {
        const ModelConfig c = configFor("qwen2");
        QVERIFY(c.spec);
        LayerWeights w;
        w.bq = w.bk = w.bv = {1.0f};
        const std::vector<std::string> expected =
            joined({"layer 0", "rmsNorm hidden attnNorm -> normed", "project normed: wq->q wk->k wv->v",
                    "addBias q bq", "addBias k bk", "addBias v bv", "rope neox", "attention scale 0.125000",
                    "project attnOut: wo->proj", "add hidden += proj"},
                   kLlamaFfn);
        QCOMPARE(run(c, w, 0), expected);
    }

    // Per-head Q/K norms before RoPE.
    void qwen3() {
        const ModelConfig c = configFor("qwen3");
        QVERIFY(c.spec);
        LayerWeights w;
        w.qNorm = w.kNorm = {1.0f};
        const std::vector<std::string> expected =
            joined({"layer 0", "rmsNorm hidden attnNorm -> normed", "project normed: wq->q wk->k wv->v",
                    "headNorm q qNorm", "headNorm k kNorm", "rope neox", "attention scale 0.125000",
                    "project attnOut: wo->proj", "add hidden += proj"},
                   kLlamaFfn);
        QCOMPARE(run(c, w, 0), expected);
    }

    // Granite: both blocks' outputs scaled into the residual; rope.scaling.finetuned false turns RoPE off.
    void granite() {
        ModelConfig c = configFor("granite");
        QVERIFY(c.spec);
        c.residualScale = 0.25f;
        const std::vector<std::string> expected = {"layer 1",
                                                   "rmsNorm hidden attnNorm -> normed",
                                                   "project normed: wq->q wk->k wv->v",
                                                   "rope normal",
                                                   "attention scale 0.125000",
                                                   "project attnOut: wo->proj",
                                                   "add hidden += proj x 0.250000",
                                                   "rmsNorm hidden ffnNorm -> normed",
                                                   "project normed: gate->gate up->up",
                                                   "gated silu",
                                                   "project up: down->proj",
                                                   "add hidden += proj x 0.250000"};
        QCOMPARE(run(c, LayerWeights{}, 1), expected);
        c.ropeEnabled = false;
        std::vector<std::string> withoutRope = expected;
        withoutRope.erase(withoutRope.begin() + 3);
        QCOMPARE(run(c, LayerWeights{}, 1), withoutRope);
    }

    // Mistral 3: llama's layer; with a temperature scale, the queries are scaled after RoPE.
    void mistral3() {
        ModelConfig c = configFor("mistral3");
        QVERIFY(c.spec);
        std::vector<std::string> expected = {"layer 0",
                                             "rmsNorm hidden attnNorm -> normed",
                                             "project normed: wq->q wk->k wv->v",
                                             "rope normal",
                                             "attention scale 0.125000",
                                             "project attnOut: wo->proj",
                                             "add hidden += proj",
                                             "rmsNorm hidden ffnNorm -> normed",
                                             "project normed: gate->gate up->up",
                                             "gated silu",
                                             "project up: down->proj",
                                             "add hidden += proj"};
        QCOMPARE(run(c, LayerWeights{}, 0), expected);
        c.attentionTemperatureScale = 0.1f;
        expected.insert(expected.begin() + 4, "scale q by position");
        QCOMPARE(run(c, LayerWeights{}, 0), expected);
    }

    // OLMo 2: no pre-norms (the hidden state goes straight into the products), Q/K norms, post-norms.
    void olmo2() {
        ModelConfig c = configFor("olmo2");
        QVERIFY(c.spec);
        LayerWeights w;
        w.qNorm = w.kNorm = w.postAttnNorm = w.postFfnNorm = {1.0f};
        const std::vector<std::string> expected = {"layer 0",
                                                   "project hidden: wq->q wk->k wv->v",
                                                   "headNorm q qNorm",
                                                   "headNorm k kNorm",
                                                   "rope neox",
                                                   "attention scale 0.125000",
                                                   "project attnOut: wo->proj",
                                                   "rmsNorm proj postAttnNorm -> normed",
                                                   "add hidden += normed",
                                                   "project hidden: gate->gate up->up",
                                                   "gated silu",
                                                   "project up: down->proj",
                                                   "rmsNorm proj postFfnNorm -> normed",
                                                   "add hidden += normed"};
        QCOMPARE(run(c, w, 0), expected);
    }

    // Post-norms before each residual add, GeGLU, pre-scaled queries, soft-cap, a window on even layers only.
    void gemma2() {
        ModelConfig c = configFor("gemma2");
        QVERIFY(c.spec);
        c.attentionSoftCap = 50.0f;
        c.slidingWindow = 4096;
        c.slidingWindowPeriod = 2;
        LayerWeights w;
        w.postAttnNorm = w.postFfnNorm = {1.0f};
        const auto expected = [](int64_t layer, const std::string& attention) {
            return std::vector<std::string>{"layer " + std::to_string(layer),
                                            "rmsNorm hidden attnNorm -> normed",
                                            "project normed: wq->q wk->k wv->v",
                                            "rope neox",
                                            attention,
                                            "project attnOut: wo->proj",
                                            "rmsNorm proj postAttnNorm -> normed",
                                            "add hidden += normed",
                                            "rmsNorm hidden ffnNorm -> normed",
                                            "project normed: gate->gate up->up",
                                            "gated gelu",
                                            "project up: down->proj",
                                            "rmsNorm proj postFfnNorm -> normed",
                                            "add hidden += normed"};
        };
        QCOMPARE(run(c, w, 0), expected(0, "attention scale 0.125000 prescaled cap 50.000000 window 4096"));
        QCOMPARE(run(c, w, 1), expected(1, "attention scale 0.125000 prescaled cap 50.000000"));
    }

    // Fused [q | k | v] and [gate | up] products, split.
    void phi3() {
        const ModelConfig c = configFor("phi3");
        QVERIFY(c.spec);
        LayerWeights w;
        w.wqkv.data = kSomeBytes;
        const std::vector<std::string> expected = {"layer 0",
                                                   "rmsNorm hidden attnNorm -> normed",
                                                   "projectSplit normed wqkv -> q k v",
                                                   "rope neox",
                                                   "attention scale 0.125000 prescaled",
                                                   "project attnOut: wo->proj",
                                                   "add hidden += proj",
                                                   "rmsNorm hidden ffnNorm -> normed",
                                                   "projectSplit normed up -> gate up",
                                                   "gated silu",
                                                   "project up: down->proj",
                                                   "add hidden += proj"};
        QCOMPARE(run(c, w, 0), expected);
    }

    // A device op that fails ends the layer there, with its error.
    void failingOpStopsTheLayer() {
        const ModelConfig c = configFor("llama");
        RecordingOps ops;
        ops.failAt = 4; // rope
        const Expected<void> result = runLayerGraph(ops, c, LayerWeights{}, 0);
        QVERIFY(!result);
        QCOMPARE(result.error().code, ErrorCode::DeviceLost);
        QCOMPARE(result.error().message, std::string("op 4 failed"));
        QCOMPARE(ops.steps.size(), size_t(4));
        QCOMPARE(ops.steps.back(), std::string("rope normal"));
    }
};

QTEST_GUILESS_MAIN(TestLayerGraph)
#include "tst_layer_graph.moc"
