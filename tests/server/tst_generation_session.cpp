// GenerationSession on its own, against a fake SessionHost and no network object: the host's "nodes" run
// their layers with the real CPU ShardExecutor on stories260K (the gateway keeps layer 0, nodes hold 1-3 and
// 3-5), so the session's text must be llama.cpp's greedy continuation (DECLAI_REFERENCE_DIR). Covered: a
// normal run, a timeout / node error / lost node on step k followed by failover to another node (or two that
// split its layers) with the same text, chunked prefill with a failure mid-prompt, invalid answers (wrong
// size or shape, NaN, implausible values) refused and never relayed, and cancellation (a late answer after it
// is dropped), and temperature sampling (the sampler's state carried through the gateway's compute thread
// from step to step).
#include "HonestAnswer.h"
#include "ParityReference.h"
#include "declai/core/GgufFile.h"
#include "declai/core/HiddenStates.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/Head.h"
#include "declai/gpu/ShardExecutor.h"
#include "declai/server/GenerationSession.h"

#include <QElapsedTimer>
#include <QTest>
#include <QTimer>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>

using namespace declai;
using namespace declai::server;

namespace {

const std::string kModel = "stories260K";
constexpr int kStageTimeoutMs = 2000; // long enough for a loaded CI machine; the timeout case waits it once

// What a fake node does to its answer at one step.
enum class Fault {
    None,
    Silent,        // no answer: the session's stage timer fires
    Error,         // StageResponse.error set
    Lost,          // the node disconnects instead of answering
    Hold,          // the answer is kept back until releaseHeld() (cancellation while a stage is in flight)
    TruncatedRows, // hidden bytes one row short of n_tokens x hidden_size
    WrongRowCount, // n_tokens says one row more than asked for, bytes to match
    NaN,           // a NaN in the rows
    Implausible,   // a finite value far beyond any real activation
    WrongLayers,   // layer_end off by one
};

struct FakeNode {
    LayerRange layers;
    std::unique_ptr<ShardExecutor> executor;
    bool connected = true;
    Fault fault = Fault::None;
    uint64_t faultStep = 0;
    int requests = 0;
    int replays = 0;
    std::set<uint32_t> promptChunkTokens; // every prompt_chunk_tokens the node's requests carried
    int answered = 0;                     // StageAnswer reports from the session
    int joined = 0;
    int left = 0;
};

// A SessionHost whose nodes live in this object: sendStage answers on the next event-loop turn.
class FakeHost : public SessionHost {
public:
    FakeHost(std::shared_ptr<const ModelWeights> weights, ThreadPool& pool)
        : m_weights(std::move(weights)), m_pool(pool) {}

    QString addNode(const std::string& id, LayerRange layers) {
        auto executor = ShardExecutor::create(m_weights, layers, m_pool);
        if (!executor)
            return QString::fromStdString(executor.error().message);
        FakeNode& node = nodes[id];
        node.layers = layers;
        node.executor = std::move(*executor);
        return {};
    }

    GenerationSession* session = nullptr; // where answers go
    std::vector<std::string> chain;       // what chainFor offers, in order
    std::map<std::string, FakeNode> nodes;
    struct Failure {
        std::string nodeId;
        StageFault fault;
        QString reason;
    };
    std::vector<Failure> failures;
    int coverageRequests = 0;
    bool finished = false;
    std::vector<std::pair<std::string, wire::StageResponse>> held;

    void releaseHeld() {
        auto answers = std::move(held);
        held.clear();
        for (auto& [id, response] : answers)
            if (session)
                session->onStageResponse(id, response);
    }

    std::optional<std::vector<ChainStage>> chainFor(const std::string& model,
                                                    const std::set<std::string>& exclude) override {
        if (model != kModel)
            return std::nullopt;
        std::vector<ChainStage> out;
        for (const std::string& id : chain) {
            if (exclude.count(id) || !nodes.at(id).connected)
                return std::nullopt;
            out.push_back(ChainStage{id, nodes.at(id).layers});
        }
        return out;
    }

    // Contiguous nodes from layers.begin to layers.end, the longest first (one node when one holds them all).
    std::optional<std::vector<ChainStage>> coverOf(const std::string& model, LayerRange layers,
                                                   const std::set<std::string>& exclude) override {
        if (model != kModel)
            return std::nullopt;
        std::vector<ChainStage> out;
        int64_t at = layers.begin;
        while (at < layers.end) {
            const std::string* best = nullptr;
            for (const auto& [id, node] : nodes)
                if (!exclude.count(id) && node.connected && node.layers.begin == at &&
                    node.layers.end <= layers.end && (!best || node.layers.end > nodes.at(*best).layers.end))
                    best = &id;
            if (!best)
                return std::nullopt;
            out.push_back(ChainStage{*best, nodes.at(*best).layers});
            at = nodes.at(*best).layers.end;
        }
        return out;
    }

    bool requestCoverage(const std::string&, LayerRange, const std::set<std::string>&) override {
        ++coverageRequests;
        return false; // no node here loads anything new: a session without a replacement fails at once
    }

    bool nodeConnected(const std::string& nodeId) override {
        auto it = nodes.find(nodeId);
        return it != nodes.end() && it->second.connected;
    }
    void sessionJoined(const std::string& nodeId) override { ++nodes.at(nodeId).joined; }
    void sessionLeft(const std::string& nodeId, uint64_t sessionId) override {
        FakeNode& node = nodes.at(nodeId);
        ++node.left;
        node.executor->endSession(sessionId);
    }
    void sessionFinished(GenerationSession*) override { finished = true; }
    void stageFailed(const std::string& nodeId, StageFault fault, const QString& reason) override {
        failures.push_back(Failure{nodeId, fault, reason});
    }
    void stageAnswered(const std::string& nodeId, const StageAnswer& answer) override {
        QVERIFY(answer.layerTokensComputed > 0);
        ++nodes.at(nodeId).answered;
    }

    void sendStage(const std::string& nodeId, wire::StageRequest request) override {
        QVERIFY2(nodeConnected(nodeId), "sendStage to a node the host says is not connected");
        FakeNode& node = nodes.at(nodeId);
        ++node.requests;
        if (request.replay())
            ++node.replays;
        node.promptChunkTokens.insert(request.prompt_chunk_tokens());
        const bool faulty = node.fault != Fault::None && request.step() == node.faultStep;
        const Fault fault = faulty ? node.fault : Fault::None;
        if (fault == Fault::Silent)
            return;
        wire::StageResponse response = run(node, request);
        // On the next turn of the event loop, as a real answer arrives; dropped if the session is gone.
        QMetaObject::invokeMethod(
            session,
            [this, nodeId, fault, response = std::move(response)]() mutable {
                if (fault == Fault::Lost) {
                    nodes.at(nodeId).connected = false;
                    session->onNodeLost(nodeId, QStringLiteral("the connection closed"));
                    return;
                }
                if (fault == Fault::Hold) {
                    held.emplace_back(nodeId, std::move(response));
                    return;
                }
                spoil(response, fault);
                session->onStageResponse(nodeId, response);
            },
            Qt::QueuedConnection);
    }

private:
    // What an honest node answers (tests/server/HonestAnswer.h, shared with HonestNode.h).
    static wire::StageResponse run(FakeNode& node, const wire::StageRequest& r) {
        return testsupport::honestStageAnswer(node.executor.get(), node.layers, r);
    }

    static void spoil(wire::StageResponse& response, Fault fault) {
        const size_t rowBytes = size_t(response.hidden_size()) * sizeof(float); // F32 on the wire here
        std::string hidden = response.hidden();
        switch (fault) {
        case Fault::Error:
            response.set_error("out of memory");
            return;
        case Fault::TruncatedRows:
            response.set_hidden(hidden.substr(0, hidden.size() - rowBytes));
            return;
        case Fault::WrongRowCount:
            response.set_n_tokens(response.n_tokens() + 1);
            response.set_hidden(hidden + hidden.substr(0, rowBytes));
            return;
        case Fault::NaN:
        case Fault::Implausible: {
            const float bad = fault == Fault::NaN ? std::numeric_limits<float>::quiet_NaN() : 1e30f;
            std::memcpy(hidden.data() + sizeof(float) * 3, &bad, sizeof bad);
            response.set_hidden(hidden);
            return;
        }
        case Fault::WrongLayers:
            response.set_layer_end(response.layer_end() + 1);
            return;
        default:
            return;
        }
    }

    std::shared_ptr<const ModelWeights> m_weights;
    ThreadPool& m_pool;
};

struct Outcome {
    bool done = false;
    bool failed = false;
    std::string reason;
    std::vector<int32_t> ids;
    std::string text;
    SessionStats stats;
};

} // namespace

class TestGenerationSession : public QObject {
    Q_OBJECT

    std::unique_ptr<GatewayModel> m_model;
    testdata::ParityReference m_reference;
    ThreadPool m_pool{1};
    uint64_t m_nextSession = 1;
    int m_prefillChunkTokens = 0;  // > 0: the prompt runs in chunks of this many tokens
    SamplerConfig m_samplerConfig; // greedy unless a test sets it

    // Runs a session of the reference prompt for all its greedy tokens; `onToken` may act mid-run.
    Outcome run(FakeHost& host, GatewayCompute& compute,
                std::function<void(GenerationSession&, const Outcome&)> onToken = {}) {
        Outcome out;
        SessionRequest request;
        request.requestId = m_nextSession;
        request.prompt = m_reference.prompt.toStdString();
        request.maxTokens = static_cast<uint32_t>(m_reference.greedyTokens.size());
        request.account = "alice";
        request.sampler = m_samplerConfig;
        GenerationSession::Sinks sinks;
        GenerationSession* raw = nullptr;
        sinks.token = [&](int32_t id, const std::string& text) {
            out.ids.push_back(id);
            out.text += text;
            if (onToken)
                onToken(*raw, out);
        };
        sinks.finished = [&](const std::string& reason, const std::string& tail, const SessionStats& stats) {
            out.done = true;
            out.reason = reason;
            out.text += tail;
            out.stats = stats;
        };
        sinks.failed = [&](const std::string& reason, const SessionStats& stats) {
            out.done = true;
            out.failed = true;
            out.reason = reason;
            out.stats = stats;
        };
        auto session =
            std::make_unique<GenerationSession>(m_nextSession++, host, *m_model, compute, std::move(request),
                                                std::move(sinks), kStageTimeoutMs, 2000, 2000, wire::F32);
        raw = session.get();
        host.session = raw;
        if (m_prefillChunkTokens > 0)
            session->setPrefillChunkTokens(m_prefillChunkTokens);
        session->start();
        QElapsedTimer clock;
        clock.start();
        while (!out.done && clock.elapsed() < 120000)
            QTest::qWait(5);
        if (!host.held.empty()) // a held answer arriving after the end must change nothing
            host.releaseHeld();
        QTest::qWait(20); // anything still queued for the session runs now (and must be dropped)
        host.session = nullptr;
        return out;
    }

    void compareWithReference(const Outcome& out) {
        QVERIFY2(out.done, "the session did not end within 120 s");
        QVERIFY2(!out.failed, out.reason.c_str());
        QCOMPARE(out.reason, std::string("length"));
        QCOMPARE(out.ids, m_reference.greedyTokens);
        QCOMPARE(QString::fromStdString(out.text), testdata::parityJson(QStringLiteral("stories260K-p1.json"))
                                                       .value(QStringLiteral("greedy_text"))
                                                       .toString());
    }

    // Layers 1-3 and 3-5 on "a" and "b" (the gateway keeps layer 0), with spares for each.
    void addNodes(FakeHost& host) {
        for (const auto& [id, layers] :
             std::vector<std::pair<std::string, LayerRange>>{{"a", LayerRange{1, 3}},
                                                             {"b", LayerRange{3, 5}},
                                                             {"a-spare", LayerRange{1, 3}},
                                                             {"b-spare", LayerRange{3, 5}}}) {
            const QString problem = host.addNode(id, layers);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        host.chain = {"a", "b"};
    }

private Q_SLOTS:
    void initTestCase() {
        const QString path = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (path.isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf is not in DECLAI_MODEL_PATH"));
        m_reference = testdata::loadParityReference(QStringLiteral("stories260K-p1.json"));
        if (m_reference.model.isEmpty() || m_reference.greedyTokens.empty())
            DECLAI_SKIP_MISSING(
                "reference",
                QStringLiteral(
                    "parity/stories260K-p1.json is not in DECLAI_REFERENCE_DIR (../shared/reference)"));
        auto file = GgufFile::open(path.toStdString());
        QVERIFY2(file, file ? "" : file.error().message.c_str());
        auto model = GatewayModel::create(kModel, "test-digest",
                                          std::make_shared<const GgufFile>(std::move(*file)), 1);
        QVERIFY2(model, model ? "" : model.error().message.c_str());
        m_model = std::move(*model);
        QCOMPARE(m_model->config().layerCount, int64_t(5)); // the split below assumes it
        QCOMPARE(m_model->tokenizer().encode(m_reference.prompt.toStdString(), true),
                 m_reference.promptTokens);
    }

    void normalRun() {
        GatewayCompute compute(1);
        FakeHost host(m_model->sharedWeights(), m_pool);
        addNodes(host);
        const Outcome out = run(host, compute);
        compareWithReference(out);
        QVERIFY(host.finished);
        QVERIFY(host.failures.empty());
        QCOMPARE(out.stats.failovers, 0u);
        QCOMPARE(out.stats.generatedTokens, uint32_t(m_reference.greedyTokens.size()));
        QCOMPARE(out.stats.promptTokens, uint32_t(m_reference.promptTokens.size()));
        // One request per step and stage: the prompt, then every token but the last (it is not run again).
        const int steps = int(m_reference.greedyTokens.size());
        for (const char* id : {"a", "b"}) {
            const FakeNode& node = host.nodes.at(id);
            QCOMPARE(node.requests, steps);
            QCOMPARE(node.answered, steps);
            QCOMPARE(node.replays, 0);
            QCOMPARE(node.joined, 1);
            QCOMPARE(node.left, 1); // told to drop the session's cache at the end
            QCOMPARE(node.executor->sessionCount(), size_t(0));
        }
        QCOMPARE(host.nodes.at("a-spare").requests, 0);
        // Credit follows accepted work: layers x rows per node.
        QCOMPARE(out.stats.nodeLayerTokens.at("a"),
                 int64_t(2) * (int64_t(m_reference.promptTokens.size()) + steps - 1));
    }

    // The session's sampler goes to the gateway's compute thread with each decode step and comes back with
    // it (GatewayCompute::nextToken): its random stream and repetition window must go on exactly as one
    // sampler's does in a plain local loop over every layer, the head and the same logits.
    void sampledRunMatchesLocalSampling() {
        SamplerConfig config;
        config.temperature = 0.9f;
        config.topK = 20;
        config.topP = 0.9f;
        config.minP = 0.02f;
        config.repeatPenalty = 1.3f;
        config.repeatLastN = 16;
        config.seed = 1234;
        const auto weights = m_model->sharedWeights();
        auto local = ShardExecutor::create(weights, LayerRange{0, 5}, m_pool);
        QVERIFY2(local, local ? "" : local.error().message.c_str());
        Embedder embedder(weights);
        Head head(weights, m_pool);
        Sampler sampler(config);
        for (int32_t id : m_reference.promptTokens)
            sampler.accept(id);
        const auto dim = static_cast<size_t>(weights->config().embeddingLength);
        const auto promptTokens = static_cast<int64_t>(m_reference.promptTokens.size());
        std::vector<int32_t> tokens = m_reference.promptTokens;
        std::vector<int32_t> expected;
        int64_t position = 0;
        while (expected.size() < m_reference.greedyTokens.size()) {
            std::vector<float> rows(tokens.size() * dim);
            QVERIFY(embedder.embed(tokens, rows));
            const auto count = static_cast<int64_t>(tokens.size());
            const BatchPart part{1, position, rows, count, promptTokens};
            const auto ran = (*local)->forwardBatch(std::span<const BatchPart>(&part, 1));
            QVERIFY2(ran[0], ran[0] ? "" : ran[0].error().message.c_str());
            position += count;
            std::vector<float> logits(static_cast<size_t>(head.vocabSize()));
            QVERIFY(head.logits(std::span<const float>(rows).subspan(rows.size() - dim), logits));
            const int32_t next = sampler.sample(logits);
            if (next < 0 || m_model->stopIds().count(next))
                break;
            sampler.accept(next);
            expected.push_back(next);
            tokens = {next};
        }
        QVERIFY(expected != m_reference.greedyTokens); // the sampling really departs from greedy

        GatewayCompute compute(1);
        FakeHost host(weights, m_pool);
        addNodes(host);
        m_samplerConfig = config;
        const Outcome out = run(host, compute);
        m_samplerConfig = SamplerConfig{};
        QVERIFY2(out.done && !out.failed, out.reason.c_str());
        QCOMPARE(out.ids, expected);
        QCOMPARE(out.reason,
                 std::string(expected.size() == m_reference.greedyTokens.size() ? "length" : "stop"));
    }

    void failoverGivesTheSameText_data() {
        QTest::addColumn<QString>("node");
        QTest::addColumn<int>("fault");
        QTest::addColumn<int>("expected");
        QTest::addColumn<bool>("splitSpare"); // the spare's layers come from two nodes instead of one
        QTest::newRow("timeout on the first stage")
            << QStringLiteral("a") << int(Fault::Silent) << int(SessionHost::StageFault::Timeout) << false;
        QTest::newRow("node error on the last stage")
            << QStringLiteral("b") << int(Fault::Error) << int(SessionHost::StageFault::NodeError) << false;
        QTest::newRow("first node lost")
            << QStringLiteral("a") << int(Fault::Lost) << int(SessionHost::StageFault::Lost) << false;
        QTest::newRow("node error, layers split over two spares")
            << QStringLiteral("a") << int(Fault::Error) << int(SessionHost::StageFault::NodeError) << true;
    }

    void failoverGivesTheSameText() {
        QFETCH(QString, node);
        QFETCH(int, fault);
        QFETCH(int, expected);
        QFETCH(bool, splitSpare);
        const std::string failing = node.toStdString();
        const std::string spare = failing + "-spare";
        GatewayCompute compute(1);
        FakeHost host(m_model->sharedWeights(), m_pool);
        addNodes(host);
        if (splitSpare) {
            host.nodes.erase(spare);
            QVERIFY(host.addNode("a-low", LayerRange{1, 2}).isEmpty());
            QVERIFY(host.addNode("a-high", LayerRange{2, 3}).isEmpty());
        }
        constexpr uint64_t kFaultStep = 7; // a few tokens into decoding
        host.nodes.at(failing).fault = static_cast<Fault>(fault);
        host.nodes.at(failing).faultStep = kFaultStep;
        const Outcome out = run(host, compute);
        compareWithReference(out);
        QCOMPARE(host.failures.size(), size_t(1));
        QCOMPARE(host.failures[0].nodeId, failing);
        QCOMPARE(int(host.failures[0].fault), expected);
        QCOMPARE(host.nodes.at(failing).requests, int(kFaultStep) + 1); // never asked again
        QCOMPARE(host.nodes.at(failing).left, 1);
        const int steps = int(m_reference.greedyTokens.size());
        if (splitSpare) {
            QCOMPARE(out.stats.failovers, 2u);
            // Both rebuild from the stored history at once and then serve every remaining step.
            for (const char* id : {"a-low", "a-high"}) {
                QCOMPARE(host.nodes.at(id).replays, 1);
                QCOMPARE(host.nodes.at(id).requests, steps - int(kFaultStep));
            }
        } else {
            QCOMPARE(out.stats.failovers, 1u);
            QCOMPARE(host.nodes.at(spare).replays, 1);
            QCOMPARE(host.nodes.at(spare).requests, steps - int(kFaultStep));
        }
        // The failed node is paid only for the steps it answered.
        QCOMPARE(out.stats.nodeLayerTokens.at(failing),
                 int64_t(2) * (int64_t(m_reference.promptTokens.size()) + int64_t(kFaultStep) - 1));
    }

    // The 5-token prompt with chunks set to 2 tokens, which run as 4 (chunks keep llama.cpp's groups of 4
    // prompt tokens: steps 0-1), alone and with a node error in the second chunk: the spare rebuilds from
    // the 4 rows stored so far and the text is still the reference. Every request says the chunk, so that
    // a replay runs its prompt rows in the same pieces (BatchPart::promptChunkTokens).
    void chunkedPrefill_data() {
        QTest::addColumn<bool>("fault");
        QTest::newRow("no fault") << false;
        QTest::newRow("node error in the second chunk") << true;
    }

    void chunkedPrefill() {
        QFETCH(bool, fault);
        GatewayCompute compute(1);
        FakeHost host(m_model->sharedWeights(), m_pool);
        addNodes(host);
        if (fault) {
            host.nodes.at("a").fault = Fault::Error;
            host.nodes.at("a").faultStep = 1;
        }
        m_prefillChunkTokens = 2;
        const Outcome out = run(host, compute);
        m_prefillChunkTokens = 0;
        compareWithReference(out);
        const int steps = int(m_reference.greedyTokens.size()) + 1; // one more prompt step than unchunked
        QCOMPARE(host.nodes.at("b").requests, steps);
        for (const char* id : {"a", "b", "a-spare"})
            if (host.nodes.at(id).requests > 0)
                QCOMPARE(host.nodes.at(id).promptChunkTokens, std::set<uint32_t>{4});
        QCOMPARE(out.stats.nodeLayerTokens.at("b"),
                 int64_t(2) * (int64_t(m_reference.promptTokens.size()) +
                               int64_t(m_reference.greedyTokens.size()) - 1));
        if (!fault) {
            QCOMPARE(host.nodes.at("a").requests, steps);
            QVERIFY(host.failures.empty());
            return;
        }
        QCOMPARE(host.failures.size(), size_t(1));
        QCOMPARE(host.failures[0].fault, SessionHost::StageFault::NodeError);
        QCOMPARE(host.nodes.at("a").requests, 2);
        QCOMPARE(host.nodes.at("a-spare").replays, 1);
        QCOMPARE(host.nodes.at("a-spare").requests, steps - 1);
        QCOMPARE(out.stats.nodeLayerTokens.at("a"), int64_t(2) * 4); // only the first chunk was accepted
    }

    void noReplacementFailsClearly() {
        GatewayCompute compute(1);
        FakeHost host(m_model->sharedWeights(), m_pool);
        addNodes(host);
        host.nodes.erase("b-spare");
        host.nodes.at("b").fault = Fault::Error;
        host.nodes.at("b").faultStep = 3;
        const Outcome out = run(host, compute);
        QVERIFY(out.done);
        QVERIFY(out.failed);
        QVERIFY2(QString::fromStdString(out.reason).contains(QStringLiteral("no live node is left to serve")),
                 out.reason.c_str());
        QCOMPARE(host.coverageRequests, 1);
        QVERIFY(!out.stats.cancelled);
        // What was produced before the failure is the reference's beginning.
        // Steps 0-2 answered (three tokens) before the failure at step 3.
        QCOMPARE(out.ids, std::vector<int32_t>(m_reference.greedyTokens.begin(),
                                               m_reference.greedyTokens.begin() + 3));
        QVERIFY(host.finished);
    }

    void invalidAnswerIsRefused_data() {
        QTest::addColumn<QString>("node");
        QTest::addColumn<int>("fault");
        QTest::newRow("rows one short") << QStringLiteral("a") << int(Fault::TruncatedRows);
        QTest::newRow("one row too many") << QStringLiteral("a") << int(Fault::WrongRowCount);
        QTest::newRow("NaN") << QStringLiteral("b") << int(Fault::NaN);
        QTest::newRow("implausible value") << QStringLiteral("a") << int(Fault::Implausible);
        QTest::newRow("wrong layers") << QStringLiteral("b") << int(Fault::WrongLayers);
        QTest::newRow("NaN in the prompt's answer") << QStringLiteral("a") << int(Fault::NaN);
    }

    void invalidAnswerIsRefused() {
        QFETCH(QString, node);
        QFETCH(int, fault);
        const std::string failing = node.toStdString();
        GatewayCompute compute(1);
        FakeHost host(m_model->sharedWeights(), m_pool);
        addNodes(host);
        // The last row is step 0 (the whole prompt) so that a bad prefill answer is covered too.
        const uint64_t step = QByteArray(QTest::currentDataTag()).contains("prompt") ? 0 : 5;
        host.nodes.at(failing).fault = static_cast<Fault>(fault);
        host.nodes.at(failing).faultStep = step;
        const Outcome out = run(host, compute);
        // Refused, never relayed: the spare recomputes it and the text is still the reference.
        compareWithReference(out);
        QCOMPARE(host.failures.size(), size_t(1));
        QCOMPARE(host.failures[0].nodeId, failing);
        QCOMPARE(host.failures[0].fault, SessionHost::StageFault::InvalidAnswer);
        QCOMPARE(host.nodes.at(failing).answered, int(step)); // the bad answer was not accepted
        QCOMPARE(out.stats.failovers, 1u);
        QCOMPARE(host.nodes.at(failing + "-spare").replays, 1);
    }

    void cancelFromTheTokenCallback() {
        GatewayCompute compute(1);
        FakeHost host(m_model->sharedWeights(), m_pool);
        addNodes(host);
        int tokensAfterCancel = 0;
        bool cancelled = false;
        const Outcome out = run(host, compute, [&](GenerationSession& session, const Outcome& sofar) {
            if (cancelled)
                ++tokensAfterCancel;
            else if (sofar.ids.size() == 5) {
                cancelled = true;
                session.cancel(QStringLiteral("the client left"));
            }
        });
        QVERIFY(out.done);
        QVERIFY(out.failed);
        QVERIFY(out.stats.cancelled);
        QCOMPARE(out.reason, std::string("the client left"));
        QCOMPARE(tokensAfterCancel, 0);
        QCOMPARE(out.stats.generatedTokens, 5u);
        QCOMPARE(out.ids, std::vector<int32_t>(m_reference.greedyTokens.begin(),
                                               m_reference.greedyTokens.begin() + 5));
        QVERIFY(host.finished);
        QVERIFY(host.failures.empty()); // a cancel is no node's fault
        for (const char* id : {"a", "b"}) {
            QCOMPARE(host.nodes.at(id).left, 1);
            QCOMPARE(host.nodes.at(id).requests, 5); // the prompt and four tokens: nothing after the cancel
            QCOMPARE(host.nodes.at(id).executor->sessionCount(), size_t(0));
        }
    }

    void cancelWhileAStageIsInFlight() {
        GatewayCompute compute(1);
        FakeHost host(m_model->sharedWeights(), m_pool);
        addNodes(host);
        host.nodes.at("b").fault = Fault::Hold;
        host.nodes.at("b").faultStep = 4;
        Outcome out;
        bool cancelled = false;
        // Cancel as soon as b's answer for step 4 is held; run() releases it after the end.
        QTimer poll;
        connect(&poll, &QTimer::timeout, this, [&] {
            if (!cancelled && !host.held.empty() && host.session) {
                cancelled = true;
                host.session->cancel(QStringLiteral("the client left"));
            }
        });
        poll.start(1);
        out = run(host, compute);
        QVERIFY(cancelled);
        QVERIFY(out.failed);
        QVERIFY(out.stats.cancelled);
        QCOMPARE(out.stats.generatedTokens, 4u); // the held answer was dropped: no fifth token
        QCOMPARE(out.ids, std::vector<int32_t>(m_reference.greedyTokens.begin(),
                                               m_reference.greedyTokens.begin() + 4));
        QCOMPARE(host.nodes.at("b").answered, 4);
        QVERIFY(host.failures.empty());
        QCOMPARE(host.nodes.at("a").left, 1);
        QCOMPARE(host.nodes.at("b").left, 1);
    }
};

QTEST_GUILESS_MAIN(TestGenerationSession)
#include "tst_generation_session.moc"
