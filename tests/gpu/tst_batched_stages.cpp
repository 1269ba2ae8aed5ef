// Batched stages (ShardExecutor::forwardBatch): several sessions' prefill chunks and decode tokens in one
// pass must give every session the floats it gets when run alone, bit for bit (failover replays and
// verification compare them), whatever the other sessions in the batch, and whenever a session joins or
// leaves.
#include "DerivedModels.h"
#include "TestData.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/Head.h"
#include "declai/gpu/ShardExecutor.h"

#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <cstring>
#include <map>
#include <vector>

using namespace declai;

namespace {

// One session's work: the tokens of each call (a prompt's chunks, then decode steps), from `firstStep`.
struct Plan {
    SessionId session = 0;
    int firstStep = 0;
    std::vector<int64_t> callTokens;
    std::vector<int32_t> tokenIds; // the inputs, embedded
};

// The data row's model: null with `skip` set when it is not on DECLAI_MODEL_PATH, null with `error` set
// when it does not load.
std::shared_ptr<const ModelWeights> rowModel(const QString& model, QString& skip, QString& error) {
    const QString path = testdata::modelPath(model);
    if (path.isEmpty()) {
        skip = model + QStringLiteral(" not found on DECLAI_MODEL_PATH");
        return nullptr;
    }
    auto weights = ModelWeights::load(path.toStdString());
    if (!weights) {
        error = QString::fromStdString(weights.error().message);
        return nullptr;
    }
    return *weights;
}

std::vector<int32_t> idsFor(SessionId session, int64_t count, int64_t vocab) {
    std::vector<int32_t> ids(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
        ids[size_t(i)] = static_cast<int32_t>((session * 977 + uint64_t(i) * 131 + 7) % uint64_t(vocab));
    return ids;
}

} // namespace

class TestBatchedStages : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void batchEqualsSolo_data() {
        QTest::addColumn<QString>("model");
        QTest::newRow("stories260K F32") << QStringLiteral("stories260K.gguf");
        QTest::newRow("synth-20m Q4_0") << QStringLiteral("synth-20m-Q4_0.gguf");
        QTest::newRow("synth-20m Q4_K_M") << QStringLiteral("synth-20m-Q4_K_M.gguf");
        QTest::newRow("synth-20m Q8_0") << QStringLiteral("synth-20m-Q8_0.gguf");
        QTest::newRow("synth-20m f16") << QStringLiteral("synth-20m-f16.gguf");
    }

    void batchEqualsSolo() {
        QFETCH(QString, model);
        QString skip, error;
        const auto weights = rowModel(model, skip, error);
        if (!skip.isEmpty())
            QSKIP(qPrintable(skip));
        QVERIFY2(weights, qPrintable(error));
        const int64_t layerCount = weights->config().layerCount;
        const LayerRange layers{0, std::min<int64_t>(layerCount, 2)};
        Embedder embedder(weights);
        const int64_t dim = embedder.hiddenSize();
        const int64_t vocab = weights->config().vocabSize;

        // Mixed prompt lengths (one over two 16-row tiles, one tiny), prefill chunks next to decode
        // tokens, a session joining mid-batch with a chunked prompt, one leaving early, one alone at the end.
        std::vector<Plan> plans = {
            {1, 0, {37, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {}},
            {2, 0, {5, 1, 1, 1}, {}},
            {3, 2, {12, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {}},
            {4, 3, {1, 1, 1, 1, 1}, {}},
        };
        for (Plan& p : plans) {
            int64_t total = 0;
            for (int64_t n : p.callTokens)
                total += n;
            p.tokenIds = idsFor(p.session, total, vocab);
        }
        auto inputOf = [&](const Plan& p, int64_t startPos, int64_t n) {
            std::vector<float> hidden(size_t(n * dim));
            const std::span<const int32_t> ids(p.tokenIds.data() + startPos, size_t(n));
            if (!embedder.embed(ids, hidden))
                hidden.clear();
            return hidden;
        };

        for (int threads : {1, 2}) {
            ThreadPool pool(threads);
            // Alone: each session on its own, call after call.
            std::map<SessionId, std::vector<std::vector<float>>> solo;
            {
                auto executor = ShardExecutor::create(weights, layers, pool);
                QVERIFY(executor);
                for (const Plan& p : plans) {
                    int64_t pos = 0;
                    for (int64_t n : p.callTokens) {
                        auto hidden = inputOf(p, pos, n);
                        QVERIFY(!hidden.empty());
                        QVERIFY((*executor)->forward(p.session, pos, hidden, n));
                        solo[p.session].push_back(std::move(hidden));
                        pos += n;
                    }
                    (*executor)->endSession(p.session);
                }
            }
            // Together: at each step, every session with a call left contributes it to one batch.
            auto executor = ShardExecutor::create(weights, layers, pool);
            QVERIFY(executor);
            std::map<SessionId, size_t> call;
            std::map<SessionId, int64_t> pos;
            int compared = 0;
            for (int step = 0; step < 16; ++step) {
                std::vector<std::vector<float>> inputs;
                std::vector<const Plan*> members;
                for (const Plan& p : plans) {
                    if (step < p.firstStep || call[p.session] >= p.callTokens.size())
                        continue;
                    const int64_t n = p.callTokens[call[p.session]];
                    inputs.push_back(inputOf(p, pos[p.session], n));
                    members.push_back(&p);
                }
                if (members.empty())
                    break;
                std::vector<BatchPart> parts;
                for (size_t i = 0; i < members.size(); ++i)
                    parts.push_back(BatchPart{members[i]->session, pos[members[i]->session], inputs[i],
                                              members[i]->callTokens[call[members[i]->session]]});
                const auto results = (*executor)->forwardBatch(parts);
                QCOMPARE(results.size(), parts.size());
                for (size_t i = 0; i < members.size(); ++i) {
                    const SessionId s = members[i]->session;
                    QVERIFY2(results[i], results[i] ? "" : results[i].error().message.c_str());
                    const std::vector<float>& expected = solo[s][call[s]];
                    QCOMPARE(inputs[i].size(), expected.size());
                    QVERIFY2(
                        std::memcmp(inputs[i].data(), expected.data(), expected.size() * sizeof(float)) == 0,
                        qPrintable(QStringLiteral("session %1 call %2 (%3 threads, batch of %4) differs "
                                                  "from its solo run")
                                       .arg(s)
                                       .arg(call[s])
                                       .arg(threads)
                                       .arg(parts.size())));
                    ++compared;
                    pos[s] += parts[i].nTokens;
                    if (++call[s] == members[i]->callTokens.size())
                        (*executor)->endSession(s); // leaves while the others go on
                }
            }
            QCOMPARE(compared, 10 + 4 + 12 + 5);
            QCOMPARE((*executor)->sessionCount(), size_t(0));
        }
    }

    // A failover replay sends a stage the session's whole history in one request; the node must round
    // every prompt row as the first pass did, when the gateway sent the prompt in chunks. Dense products
    // round by the prompt's length (BatchPart::promptTokens), but llama.cpp picks an IQ4_XS expert's rounding
    // by its routed tokens in the batch, so the replay runs its prompt rows in the first pass's chunks
    // (BatchPart::promptChunkTokens). synth-arch-mixtral with IQ4_XS experts (tests/DerivedModels.h), a
    // 40-token prompt in chunks of 8, then two decode steps.
    void replayRoundsLikeTheChunkedPrompt() {
        if (!cpu::activeKernels().llamaIqPanelBatches)
            QSKIP("the active kernel table rounds IQ4_XS batches as decode (no llama.cpp IQ panel order)");
        const QString source = testdata::modelPath(QStringLiteral("synth-arch-mixtral-f16.gguf"));
        if (source.isEmpty())
            QSKIP("synth-arch-mixtral-f16.gguf not found on DECLAI_MODEL_PATH");
        QTemporaryDir tmp;
        const QString path = tmp.filePath(QStringLiteral("iq4xs-experts.gguf"));
        testdata::Derivation derivation;
        derivation.requantized = {{"_exps.weight", "IQ4_XS"}};
        const QString written = testdata::writeDerived(source, path, derivation);
        QVERIFY2(written.isEmpty(), qPrintable(written));
        auto loaded = ModelWeights::load(path.toStdString());
        QVERIFY2(loaded, loaded ? "" : loaded.error().message.c_str());
        const std::shared_ptr<const ModelWeights> weights = *loaded;
        QCOMPARE(weights->layer(0).upExps.type, TensorType::IQ4_XS);
        Embedder embedder(weights);
        const int64_t dim = embedder.hiddenSize();
        constexpr int64_t promptTokens = 40, chunkTokens = 8, decodeTokens = 2;
        const std::vector<int32_t> ids = idsFor(5, promptTokens + decodeTokens, weights->config().vocabSize);
        std::vector<float> input(size_t((promptTokens + decodeTokens) * dim));
        QVERIFY(embedder.embed(ids, input));
        const LayerRange layers{0, weights->config().layerCount};
        ThreadPool pool(2);
        auto executor = ShardExecutor::create(weights, layers, pool);
        QVERIFY(executor);

        // The first pass: the prompt in chunks, then decode steps, one request each.
        std::vector<float> first = input;
        for (int64_t pos = 0; pos < promptTokens + decodeTokens;) {
            const int64_t n = pos < promptTokens ? chunkTokens : 1;
            const std::span<float> rows(first.data() + pos * dim, size_t(n * dim));
            const BatchPart part{1, pos, rows, n, promptTokens, chunkTokens};
            auto done = std::move((*executor)->forwardBatch(std::span<const BatchPart>(&part, 1)).front());
            QVERIFY2(done, done ? "" : done.error().message.c_str());
            pos += n;
        }
        // Replays: every row in one request, with and without the chunk.
        const auto replay = [&](SessionId session, int64_t chunk) {
            std::vector<float> rows = input;
            const BatchPart part{session, 0, rows, promptTokens + decodeTokens, promptTokens, chunk};
            auto done = std::move((*executor)->forwardBatch(std::span<const BatchPart>(&part, 1)).front());
            return done ? rows : std::vector<float>();
        };
        const std::vector<float> cut = replay(2, chunkTokens);
        const std::vector<float> whole = replay(3, 0);
        QCOMPARE(cut.size(), first.size());
        QCOMPARE(whole.size(), first.size());
        const auto firstDifferingRow = [&](const std::vector<float>& other) {
            for (int64_t row = 0; row < promptTokens + decodeTokens; ++row)
                if (std::memcmp(other.data() + row * dim, first.data() + row * dim,
                                size_t(dim) * sizeof(float)))
                    return row;
            return int64_t{-1};
        };
        QCOMPARE(firstDifferingRow(cut), int64_t{-1});
        // The case is real: the whole prompt as one piece gives its experts more routed tokens and some
        // rows other floats (and so the replayed cache, and the steps after it).
        QVERIFY2(firstDifferingRow(whole) >= 0, "this prompt's experts round alike in chunks and whole; the "
                                                "test does not exercise the chunk");
    }

    // The gateway's head runs the last rows of several sessions in one product: each row's logits must be
    // those of a solo call (the sampled token, and so the text, must not depend on who else was waiting).
    void headBatchEqualsSoloRows_data() { batchEqualsSolo_data(); }

    void headBatchEqualsSoloRows() {
        QFETCH(QString, model);
        QString skip, error;
        const auto weights = rowModel(model, skip, error);
        if (!skip.isEmpty())
            QSKIP(qPrintable(skip));
        QVERIFY2(weights, qPrintable(error));
        const auto dim = static_cast<size_t>(weights->config().embeddingLength);
        ThreadPool pool(2);
        Head head(weights, pool);
        const auto vocab = static_cast<size_t>(head.vocabSize());
        for (int64_t rows : {1, 2, 5, 16}) {
            std::vector<float> hidden(size_t(rows) * dim);
            for (size_t i = 0; i < hidden.size(); ++i)
                hidden[i] = std::sin(0.37f * float(i) + float(rows)) * (1.0f + float(i % 7));
            std::vector<float> batched(size_t(rows) * vocab);
            QVERIFY(head.logitsBatch(hidden, rows, batched));
            for (int64_t r = 0; r < rows; ++r) {
                std::vector<float> solo(vocab);
                QVERIFY(head.logits(std::span<const float>(hidden.data() + size_t(r) * dim, dim), solo));
                QVERIFY2(
                    std::memcmp(solo.data(), batched.data() + size_t(r) * vocab, vocab * sizeof(float)) == 0,
                    qPrintable(QStringLiteral("row %1 of %2 differs from its solo logits").arg(r).arg(rows)));
            }
        }
        std::vector<float> out(vocab);
        QVERIFY(!head.logitsBatch(std::span<const float>(), 0, out)); // no rows: refused, not a crash
        std::vector<float> ragged(dim + 1);
        QVERIFY(!head.logitsBatch(ragged, 1, out)); // a row of the wrong width: refused
    }

    // A part that fails its checks is refused alone; the rest of the batch runs, and a session may not
    // appear twice in one pass.
    void aBadPartDoesNotSinkTheBatch() {
        const QString path = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (path.isEmpty())
            QSKIP("stories260K.gguf not found on DECLAI_MODEL_PATH");
        auto weights = ModelWeights::load(path.toStdString());
        QVERIFY(weights);
        ThreadPool pool(1);
        auto executor = ShardExecutor::create(*weights, {0, 1}, pool);
        QVERIFY(executor);
        const auto dim = static_cast<size_t>((*executor)->hiddenSize());
        std::vector<float> a(dim, 0.1f), b(dim, 0.2f), c(dim, 0.3f), alone(dim, 0.1f);
        const BatchPart parts[] = {{1, 0, a, 1}, {2, 5, b, 1}, {1, 0, c, 1}};
        const auto results = (*executor)->forwardBatch(parts);
        QCOMPARE(results.size(), size_t(3));
        QVERIFY(results[0]);
        QVERIFY(!results[1]); // session 2 is at position 0, not 5
        QVERIFY(!results[2]); // session 1 twice
        QCOMPARE((*executor)->sessionLength(1), int64_t(1));
        QCOMPARE((*executor)->sessionLength(2), int64_t(0));
        QVERIFY((*executor)->forward(9, 0, alone, 1));
        QVERIFY(std::memcmp(a.data(), alone.data(), dim * sizeof(float)) == 0);
    }
};

QTEST_GUILESS_MAIN(TestBatchedStages)
#include "tst_batched_stages.moc"
