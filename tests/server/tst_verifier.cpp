// The verifier's numbers: honest recomputation is never flagged (10,000 checks), cheats are, and the
// adaptive rate finds a node that is wrong on 5% of its stages within the bound the policy predicts.
#include "TestData.h"
#include "declai/core/Tokenizer.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/ShardBackend.h"
#include "declai/server/Verifier.h"

#include <QSignalSpy>
#include <QTest>
#include <cmath>
#include <random>

using namespace declai;
using namespace declai::server;

class TestVerifier : public QObject {
    Q_OBJECT

    std::shared_ptr<const ModelWeights> m_weights;

private Q_SLOTS:
    void initTestCase() {
        const QString path = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (path.isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf not in DECLAI_MODEL_PATH"));
        auto weights = ModelWeights::load(path.toStdString());
        QVERIFY(weights);
        m_weights = *weights;
    }

    void honestStagesAreNeverFlagged_data() {
        QTest::addColumn<QString>("device");
        QTest::newRow("cpu") << QStringLiteral("cpu");
        QTest::newRow("opencl") << QStringLiteral("opencl:0");
        QTest::newRow("vulkan") << QStringLiteral("vulkan:0");
    }

    void honestStagesAreNeverFlagged() {
        // 10,000 stage computations by an honest node on each device (decoding step by step, as a node does)
        // checked by the verifier's CPU replay: none may fail. An absent device is a visible skip (a failure
        // in CI, which has PoCL and lavapipe, so all three run there).
        QFETCH(QString, device);
        VerificationPolicy policy;
        VerifierWorker worker(2, policy);
        QSignalSpy done(&worker, &VerifierWorker::done);
        ThreadPool pool(2);
        std::mt19937 rng(7);
        std::normal_distribution<float> noise(0.0f, 1.0f);
        const int64_t dim = m_weights->config().embeddingLength;
        const LayerRange ranges[] = {{0, 2}, {2, 5}, {1, 4}, {0, 5}};
        int checks = 0, failures = 0;
        double worstCosine = 1.0;
        // One shard per range, reused by every session (as on a real node); each session decodes 12 steps
        // and every step is checked.
        std::vector<std::unique_ptr<ShardBackend>> nodes;
        for (const LayerRange& layers : ranges) {
            auto node = makeShardBackend(m_weights, layers, device.toStdString(), pool);
            if (!node && device != QStringLiteral("cpu"))
                DECLAI_SKIP_MISSING(device.section(QLatin1Char(':'), 0, 0),
                                    device + QStringLiteral(" is not available here: ") +
                                        QString::fromStdString(node.error().message));
            QVERIFY2(node, node ? "" : node.error().message.c_str());
            nodes.push_back(std::move(*node));
        }
        for (SessionId session = 1; checks < 10000; ++session) {
            const size_t which = session % 4;
            const LayerRange layers = ranges[which];
            ShardBackend& node = *nodes[which];
            std::vector<float> history;
            for (int64_t pos = 0; pos < 12 && checks < 10000; ++pos) {
                std::vector<float> row(static_cast<size_t>(dim));
                for (float& v : row)
                    v = noise(rng) * 0.1f;
                history.insert(history.end(), row.begin(), row.end());
                QVERIFY(node.forward(session, pos, row, 1));
                auto job = std::make_shared<VerificationJob>();
                job->nodeId = "honest";
                job->weights = m_weights;
                job->layers = layers;
                job->history = history;
                job->rows = pos + 1;
                job->claimed = row;
                worker.run(job);
                const auto result = done.takeFirst().at(0).value<VerificationResult>();
                QVERIFY2(result.error.empty(), result.error.c_str());
                failures += result.valid ? 0 : 1;
                worstCosine = std::min(worstCosine, result.cosine);
                ++checks;
            }
            node.endSession(session);
        }
        qInfo("%s: %d honest checks, %d flagged, worst cosine %.9f", qPrintable(device), checks, failures,
              worstCosine);
        QCOMPARE(failures, 0);
    }

    void toleranceSeparatesHonestRoundingFromCheats() {
        VerificationPolicy policy;
        std::mt19937 rng(3);
        std::normal_distribution<float> values(0.0f, 1.0f);
        std::vector<float> reference(4096);
        for (float& v : reference)
            v = values(rng);
        // A different backend: relative noise of 1e-3 (far more than OpenCL/Vulkan rounding, measured at
        // ~5e-3 normalised on quantised matmuls before accumulation) still passes...
        std::vector<float> rounded = reference;
        for (float& v : rounded)
            v *= 1.0f + 1e-3f * values(rng);
        QVERIFY(compareRows(reference, rounded, policy).valid);
        // ...while any of the cheats fails.
        std::vector<float> random(reference.size());
        for (float& v : random)
            v = values(rng);
        QVERIFY(!compareRows(reference, random, policy).valid);
        std::vector<float> scaled = reference;
        for (float& v : scaled)
            v *= 1.2f;
        QVERIFY(!compareRows(reference, scaled, policy).valid); // cosine 1 but the error is 20%
        std::vector<float> oneWrong = reference;
        oneWrong[100] += 3.0f;
        QVERIFY(!compareRows(reference, oneWrong, policy).valid);
    }

    void adaptiveRateCatchesAFivePercentCheaterWithinItsBound() {
        // Simulates the policy: a node wrong on 5% of stages, checked at the node's current rate; passing
        // checks lower the rate towards the floor. The bound: even at the floor rate p, the chance of
        // escaping n stages is (1 - 0.05 p)^n; 99% of cheaters must be caught by that n.
        VerificationPolicy policy;
        const double floorPerStage = 0.05 * policy.floorRate;
        const int bound99 = static_cast<int>(std::ceil(std::log(0.01) / std::log(1.0 - floorPerStage)));
        std::vector<int> caughtAfter;
        for (uint64_t trial = 0; trial < 1000; ++trial) {
            Verifier verifier(policy, 1, trial);
            std::mt19937_64 cheat(trial * 977 + 1);
            int stage = 0;
            for (; stage < 100000; ++stage) {
                const bool wrong = (cheat() % 100) < 5;
                if (!verifier.shouldCheck("cheater"))
                    continue;
                VerificationResult r;
                r.nodeId = "cheater";
                r.valid = !wrong;
                if (verifier.record(r))
                    break;
            }
            caughtAfter.push_back(stage + 1);
        }
        std::sort(caughtAfter.begin(), caughtAfter.end());
        const int p99 = caughtAfter[989];
        double mean = 0;
        for (int v : caughtAfter)
            mean += v;
        mean /= caughtAfter.size();
        qInfo(
            "5%% cheater: caught after %.0f stages on average, 99%% within %d (bound at the floor rate: %d)",
            mean, p99, bound99);
        QVERIFY(p99 <= bound99);
        QCOMPARE(caughtAfter.back() <= 100000, true);
    }
};

QTEST_GUILESS_MAIN(TestVerifier)
#include "tst_verifier.moc"
