// Unit tests of declai::Sampler and validate(SamplerConfig).
#include "declai/core/Sampler.h"

#include <QTest>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

using declai::Sampler;
using declai::SamplerConfig;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// A config with every filter switched off, so each test turns on only what it checks.
SamplerConfig plainConfig(float temperature, uint64_t seed = 1) {
    SamplerConfig config;
    config.temperature = temperature;
    config.topK = 0;
    config.topP = 1.0f;
    config.minP = 0.0f;
    config.repeatPenalty = 1.0f;
    config.seed = seed;
    return config;
}

std::vector<float> logitsFromProbabilities(const std::vector<double>& probabilities) {
    std::vector<float> logits;
    for (double p : probabilities) {
        logits.push_back(p > 0.0 ? static_cast<float>(std::log(p)) : -kInf);
    }
    return logits;
}

std::vector<int> drawCounts(Sampler& sampler, const std::vector<float>& logits, int draws) {
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < draws; ++i) {
        const int32_t id = sampler.sample(logits);
        if (id < 0 || static_cast<size_t>(id) >= logits.size()) {
            return {};
        }
        ++counts[static_cast<size_t>(id)];
    }
    return counts;
}

// Pearson statistic over the entries with expected probability > 0.
double chiSquare(const std::vector<int>& counts, const std::vector<double>& expected, int draws) {
    double statistic = 0.0;
    for (size_t i = 0; i < counts.size(); ++i) {
        if (expected[i] > 0.0) {
            const double e = expected[i] * draws;
            statistic += (counts[i] - e) * (counts[i] - e) / e;
        }
    }
    return statistic;
}

std::vector<float> randomLogits(size_t vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> logits(vocab);
    for (float& logit : logits) {
        // Own mapping to [-8, 8) so the data does not depend on the library's distributions.
        logit = static_cast<float>(static_cast<double>(rng() >> 11) * 0x1.0p-53 * 16.0 - 8.0);
    }
    return logits;
}

int32_t argmax(const std::vector<float>& logits) {
    int32_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
        if (logits[i] > logits[static_cast<size_t>(best)]) {
            best = static_cast<int32_t>(i);
        }
    }
    return best;
}

} // namespace

class TestSampler : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void greedyPicksArgmax();
    void greedyEdgeCases();
    void inputIsNotModified();
    void sameSeedSameSequence();
    void resetReplaysSequence();
    void topKOneEqualsGreedy();
    void topKRestrictsToBestK();
    void filterPathsAgree();
    void temperatureFollowsSoftmax();
    void topPKeepsSmallestSetReachingP();
    void minPExcludesLowTokens();
    void repetitionPenaltyFormula();
    void repetitionPenaltyWindowAndReset();
    void validConfigsAccepted();
    void invalidConfigsRejected_data();
    void invalidConfigsRejected();
    void nanLogitsNeverChosen();
    void infiniteLogits();
    void largeVocab();
};

void TestSampler::greedyPicksArgmax() {
    Sampler sampler(plainConfig(0.0f));
    QCOMPARE(sampler.sample(std::vector<float>{0.1f, 2.5f, -1.0f, 2.4f}), 1);
    QCOMPARE(sampler.sample(std::vector<float>{-3.0f, -2.0f, -2.5f}), 1);
    QCOMPARE(sampler.sample(std::vector<float>{1.0f, 3.0f, 7.0f, 3.0f, 7.0f}), 2); // lowest id on ties

    // Greedy ignores the other filters' settings and agrees with a plain argmax on random data.
    SamplerConfig config = plainConfig(0.0f);
    config.topK = 5;
    config.topP = 0.5f;
    config.minP = 0.3f;
    Sampler filtered(config);
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        const std::vector<float> logits = randomLogits(1000, seed);
        QCOMPARE(filtered.sample(logits), argmax(logits));
    }
}

void TestSampler::greedyEdgeCases() {
    for (float temperature : {0.0f, 1.0f}) {
        Sampler sampler(plainConfig(temperature));
        QCOMPARE(sampler.sample(std::vector<float>{42.0f}), 0); // vocab size 1
        QCOMPARE(sampler.sample(std::vector<float>{-7.0f}), 0);
        QCOMPARE(sampler.sample(std::span<const float>()), Sampler::kNoToken);
    }
    Sampler greedy(plainConfig(0.0f));
    QCOMPARE(greedy.sample(std::vector<float>(50, 0.25f)), 0); // all equal

    // All equal with sampling: every token reachable, roughly uniform.
    Sampler uniform(plainConfig(1.0f, 7));
    const std::vector<float> flat(4, 3.0f);
    const int draws = 8000;
    const std::vector<int> counts = drawCounts(uniform, flat, draws);
    QCOMPARE(counts.size(), size_t(4));
    const double stat = chiSquare(counts, {0.25, 0.25, 0.25, 0.25}, draws);
    QVERIFY2(stat < 25.0, std::to_string(stat).c_str()); // 3 dof; p < 1e-4 at 21.1
}

void TestSampler::inputIsNotModified() {
    SamplerConfig config = plainConfig(0.8f);
    config.repeatPenalty = 1.5f;
    config.topK = 3;
    config.topP = 0.9f;
    Sampler sampler(config);
    sampler.accept(0);
    const std::vector<float> original{3.0f, -2.0f, kNaN, 1.0f, 0.5f};
    std::vector<float> logits = original;
    for (int i = 0; i < 10; ++i) {
        sampler.sample(logits);
    }
    QCOMPARE(logits[0], original[0]);
    QCOMPARE(logits[1], original[1]);
    QVERIFY(std::isnan(logits[2]));
    QCOMPARE(logits[3], original[3]);
    QCOMPARE(logits[4], original[4]);
}

void TestSampler::sameSeedSameSequence() {
    SamplerConfig config = plainConfig(1.0f, 1234);
    config.topK = 40;
    config.topP = 0.95f;
    config.minP = 0.01f;
    std::vector<std::vector<float>> steps;
    for (uint64_t i = 0; i < 200; ++i) {
        steps.push_back(randomLogits(500, 100 + i));
    }

    const auto run = [&](uint64_t seed) {
        SamplerConfig c = config;
        c.seed = seed;
        Sampler sampler(c);
        std::vector<int32_t> out;
        for (const auto& logits : steps) {
            out.push_back(sampler.sample(logits));
        }
        return out;
    };
    const std::vector<int32_t> first = run(1234);
    QCOMPARE(first.size(), size_t(200));
    QCOMPARE(run(1234), first);

    const std::vector<int32_t> other = run(1235);
    int differing = 0;
    for (size_t i = 0; i < first.size(); ++i) {
        differing += first[i] != other[i] ? 1 : 0;
    }
    QVERIFY2(differing > 20, std::to_string(differing).c_str());
}

void TestSampler::resetReplaysSequence() {
    SamplerConfig config = plainConfig(1.5f, 99);
    config.repeatPenalty = 1.3f;
    Sampler sampler(config);
    const std::vector<float> logits = randomLogits(64, 5);
    const auto generate = [&] {
        std::vector<int32_t> out;
        for (int i = 0; i < 50; ++i) {
            const int32_t id = sampler.sample(logits);
            sampler.accept(id);
            out.push_back(id);
        }
        return out;
    };
    const std::vector<int32_t> first = generate();
    const std::vector<int32_t> continued = generate();
    QVERIFY(first != continued);
    sampler.reset();
    QCOMPARE(generate(), first);
}

void TestSampler::topKOneEqualsGreedy() {
    SamplerConfig config = plainConfig(2.0f, 3);
    config.topK = 1;
    Sampler sampler(config);
    Sampler greedy(plainConfig(0.0f));
    for (uint64_t i = 0; i < 200; ++i) {
        const std::vector<float> logits = randomLogits(300, i);
        QCOMPARE(sampler.sample(logits), greedy.sample(logits));
    }
    // Tie at the top: top-k keeps the lowest id, as greedy does.
    QCOMPARE(sampler.sample(std::vector<float>{1.0f, 5.0f, 2.0f, 5.0f}), 1);
}

void TestSampler::topKRestrictsToBestK() {
    SamplerConfig config = plainConfig(1.0f, 11);
    config.topK = 3;
    Sampler sampler(config);
    // Nearly flat so that without top-k every token would show up often.
    const std::vector<float> logits{0.0f, 0.3f, 0.1f, 0.25f, 0.2f, 0.05f, 0.28f};
    const std::vector<int> counts = drawCounts(sampler, logits, 5000);
    QCOMPARE(counts.size(), logits.size());
    // Best three: ids 1 (0.3), 6 (0.28), 3 (0.25).
    for (size_t id : {0u, 2u, 4u, 5u}) {
        QCOMPARE(counts[id], 0);
    }
    for (size_t id : {1u, 3u, 6u}) {
        QVERIFY(counts[id] > 1000);
    }
}

void TestSampler::filterPathsAgree() {
    // The sampler picks different strategies (bounded heap or nth_element for top-k, bucketed or fully sorted
    // top-p); whichever it picks, the kept set and so the draws must be the same.
    const size_t vocab = 5000;
    SamplerConfig bucketed = plainConfig(1.0f, 55);
    bucketed.topP = 0.9f;
    SamplerConfig exact = bucketed;
    exact.topK =
        static_cast<int32_t>(vocab - 1); // only drops the single worst token, which top-p cuts anyway
    Sampler a(bucketed);
    Sampler b(exact);
    for (uint64_t i = 0; i < 300; ++i) {
        std::vector<float> logits = randomLogits(vocab, 900 + i);
        for (float& logit : logits) {
            logit *= 0.5f; // flatter, so top-p keeps hundreds of tokens
        }
        QCOMPARE(a.sample(logits), b.sample(logits));
    }

    // Heap path (k small against the vocab): every draw is among the k best by a full sort.
    SamplerConfig heap = plainConfig(3.0f, 56);
    heap.topK = 50;
    Sampler c(heap);
    for (uint64_t i = 0; i < 100; ++i) {
        const std::vector<float> logits = randomLogits(vocab, 2000 + i);
        std::vector<float> sorted = logits;
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        const int32_t id = c.sample(logits);
        QVERIFY(id >= 0 && static_cast<size_t>(id) < vocab);
        QVERIFY(logits[static_cast<size_t>(id)] >= sorted[49]);
    }
}

void TestSampler::temperatureFollowsSoftmax() {
    const std::vector<float> logits{1.0f, 0.0f, 2.0f, -1.0f};
    for (float temperature : {0.5f, 1.0f, 2.0f}) {
        Sampler sampler(plainConfig(temperature, 21));
        std::vector<double> expected;
        double total = 0.0;
        for (float logit : logits) {
            expected.push_back(std::exp(logit / temperature));
            total += expected.back();
        }
        for (double& p : expected) {
            p /= total;
        }
        const int draws = 20000;
        const std::vector<int> counts = drawCounts(sampler, logits, draws);
        QCOMPARE(counts.size(), logits.size());
        const double stat = chiSquare(counts, expected, draws);
        QVERIFY2(stat < 25.0, (std::to_string(temperature) + ": " + std::to_string(stat)).c_str());
    }
}

void TestSampler::topPKeepsSmallestSetReachingP() {
    // Tokens deliberately not in probability order, so the test covers the sort.
    // Sorted: 0.40 (id 3), 0.30 (id 0), 0.15 (id 4), 0.10 (id 1), 0.05 (id 2).
    const std::vector<double> probabilities{0.30, 0.10, 0.05, 0.40, 0.15};
    const std::vector<float> logits = logitsFromProbabilities(probabilities);

    struct Case {
        float topP;
        std::vector<double> expected; // renormalised over the kept set
    };
    const std::vector<Case> cases{
        // 0.40 + 0.30 = 0.70 < 0.8 -> the 0.15 token is needed too; 0.85 renormalises the rest.
        {0.8f, {0.30 / 0.85, 0.0, 0.0, 0.40 / 0.85, 0.15 / 0.85}},
        // 0.40 alone < 0.5 -> two tokens.
        {0.5f, {0.30 / 0.70, 0.0, 0.0, 0.40 / 0.70, 0.0}},
        // Below the top token's mass -> only the top token.
        {0.3f, {0.0, 0.0, 0.0, 1.0, 0.0}},
        // 0.95 needs everything but the 0.05 token (0.95 cumulative after four tokens, within rounding
        // of the boundary, so use 0.93).
        {0.93f, {0.30 / 0.95, 0.10 / 0.95, 0.0, 0.40 / 0.95, 0.15 / 0.95}},
    };
    // topK 0 takes the bucketed path; topK 4 (drops only the 0.05 token) takes the fully sorted one.
    for (const Case& c : cases) {
        for (int32_t topK : {0, 4}) {
            SamplerConfig config = plainConfig(1.0f, 77);
            config.topP = c.topP;
            config.topK = topK;
            Sampler sampler(config);
            const int draws = 30000;
            const std::vector<int> counts = drawCounts(sampler, logits, draws);
            QCOMPARE(counts.size(), logits.size());
            for (size_t id = 0; id < counts.size(); ++id) {
                if (c.expected[id] == 0.0) {
                    QVERIFY2(counts[id] == 0,
                             ("topP " + std::to_string(c.topP) + " drew excluded id " + std::to_string(id))
                                 .c_str());
                }
            }
            // At most 3 degrees of freedom; p < 1e-4 is 21.1.
            const double stat = chiSquare(counts, c.expected, draws);
            QVERIFY2(stat < 25.0,
                     ("topP " + std::to_string(c.topP) + " chi2 " + std::to_string(stat)).c_str());
        }
    }

    // Large vocab with a long flat tail: the bucketed path must still cut at the right place.
    std::vector<double> big(20000, 0.5 / 19990.0);
    for (size_t i = 0; i < 10; ++i) {
        big[i * 1999] = 0.05; // ten heavy tokens carry half of the mass
    }
    const std::vector<float> bigLogits = logitsFromProbabilities(big);
    SamplerConfig config = plainConfig(1.0f, 5);
    config.topP = 0.45f;
    Sampler sampler(config);
    for (int i = 0; i < 500; ++i) {
        const int32_t id = sampler.sample(bigLogits);
        QVERIFY2(id % 1999 == 0 && id < 19990, std::to_string(id).c_str());
    }
}

void TestSampler::minPExcludesLowTokens() {
    // p_max = 0.5; minP 0.2 -> keep p >= 0.1: ids 0, 1, 2.
    const std::vector<double> probabilities{0.5, 0.3, 0.12, 0.05, 0.03};
    const std::vector<float> logits = logitsFromProbabilities(probabilities);
    SamplerConfig config = plainConfig(1.0f, 13);
    config.minP = 0.2f;
    Sampler sampler(config);
    const int draws = 30000;
    const std::vector<int> counts = drawCounts(sampler, logits, draws);
    QCOMPARE(counts.size(), logits.size());
    QCOMPARE(counts[3], 0);
    QCOMPARE(counts[4], 0);
    const double stat = chiSquare(counts, {0.5 / 0.92, 0.3 / 0.92, 0.12 / 0.92, 0.0, 0.0}, draws);
    QVERIFY2(stat < 25.0, std::to_string(stat).c_str());

    // Min-p is relative to p_max, so it also prunes a long tail on a big vocab; temperature is applied
    // afterwards and cannot bring pruned tokens back.
    std::vector<float> tail(10000, -10.0f);
    tail[123] = 0.0f;
    tail[4567] = -0.5f;
    SamplerConfig hot = plainConfig(5.0f, 17);
    hot.minP = 0.05f;
    Sampler hotSampler(hot);
    for (int i = 0; i < 2000; ++i) {
        const int32_t id = hotSampler.sample(tail);
        QVERIFY2(id == 123 || id == 4567, std::to_string(id).c_str());
    }
}

void TestSampler::repetitionPenaltyFormula() {
    SamplerConfig config = plainConfig(0.0f);
    config.repeatPenalty = 1.25f;
    config.repeatLastN = 64;

    // Positive logit divided: 2.0 / 1.25 = 1.6.
    {
        Sampler sampler(config);
        QCOMPARE(sampler.sample(std::vector<float>{2.0f, 1.59f}), 0);
        sampler.accept(0);
        QCOMPARE(sampler.sample(std::vector<float>{2.0f, 1.59f}), 0); // 1.6 > 1.59
        QCOMPARE(sampler.sample(std::vector<float>{2.0f, 1.61f}), 1); // 1.6 < 1.61
        // Counted once however often it repeats (2.0 / 1.25^3 would be 1.024).
        sampler.accept(0);
        sampler.accept(0);
        QCOMPARE(sampler.sample(std::vector<float>{2.0f, 1.59f}), 0);
    }
    // Negative logit multiplied: -1.0 * 1.25 = -1.25.
    {
        Sampler sampler(config);
        sampler.accept(0);
        QCOMPARE(sampler.sample(std::vector<float>{-1.0f, -1.24f}), 1);
        QCOMPARE(sampler.sample(std::vector<float>{-1.0f, -1.26f}), 0);
    }
    // A penalty below 1 favours repeats, by the same formula: 1.0 / 0.5 = 2.0.
    {
        SamplerConfig favour = config;
        favour.repeatPenalty = 0.5f;
        Sampler sampler(favour);
        sampler.accept(1);
        QCOMPARE(sampler.sample(std::vector<float>{1.9f, 1.0f}), 1);
        QCOMPARE(sampler.sample(std::vector<float>{2.1f, 1.0f}), 0);
    }
    // Out-of-range history ids are ignored, not a crash.
    {
        Sampler sampler(config);
        sampler.accept(-5);
        sampler.accept(1000);
        QCOMPARE(sampler.sample(std::vector<float>{2.0f, 1.9f}), 0);
    }
}

void TestSampler::repetitionPenaltyWindowAndReset() {
    SamplerConfig config = plainConfig(0.0f);
    config.repeatPenalty = 2.0f;
    config.repeatLastN = 2;
    Sampler sampler(config);
    const std::vector<float> logits{3.0f, 2.0f, 0.5f, 0.4f};
    sampler.accept(0);
    QCOMPARE(sampler.sample(logits), 1); // 3.0 / 2 = 1.5 < 2.0
    sampler.accept(2);
    QCOMPARE(sampler.sample(logits), 1); // 0 still within the last 2
    sampler.accept(3);
    QCOMPARE(sampler.sample(logits), 0); // 0 left the window
    sampler.accept(0);
    QCOMPARE(sampler.sample(logits), 1);
    sampler.reset();
    QCOMPARE(sampler.sample(logits), 0);

    // repeatLastN = 0 disables the penalty.
    config.repeatLastN = 0;
    Sampler off(config);
    off.accept(0);
    QCOMPARE(off.sample(logits), 0);
}

void TestSampler::validConfigsAccepted() {
    QVERIFY(declai::validate(SamplerConfig{}).hasValue());
    SamplerConfig config;
    config.temperature = 0.7f;
    config.topK = -1;
    config.topP = 1.0f;
    config.minP = 0.0f;
    config.repeatPenalty = 1.1f;
    config.repeatLastN = 0;
    QVERIFY(declai::validate(config).hasValue());
    config.minP = -1.0f; // <= 0 disables
    config.topP = 0.01f;
    QVERIFY(declai::validate(config).hasValue());
}

void TestSampler::invalidConfigsRejected_data() {
    QTest::addColumn<float>("temperature");
    QTest::addColumn<float>("topP");
    QTest::addColumn<float>("minP");
    QTest::addColumn<float>("repeatPenalty");
    QTest::addColumn<int>("repeatLastN");
    QTest::addColumn<QString>("field");

    QTest::newRow("temperature NaN") << kNaN << 0.9f << 0.05f << 1.0f << 64 << QStringLiteral("temperature");
    QTest::newRow("temperature negative")
        << -0.1f << 0.9f << 0.05f << 1.0f << 64 << QStringLiteral("temperature");
    QTest::newRow("temperature inf") << kInf << 0.9f << 0.05f << 1.0f << 64 << QStringLiteral("temperature");
    QTest::newRow("topP zero") << 0.5f << 0.0f << 0.05f << 1.0f << 64 << QStringLiteral("topP");
    QTest::newRow("topP negative") << 0.5f << -0.5f << 0.05f << 1.0f << 64 << QStringLiteral("topP");
    QTest::newRow("topP above one") << 0.5f << 1.5f << 0.05f << 1.0f << 64 << QStringLiteral("topP");
    QTest::newRow("topP NaN") << 0.5f << kNaN << 0.05f << 1.0f << 64 << QStringLiteral("topP");
    QTest::newRow("minP NaN") << 0.5f << 0.9f << kNaN << 1.0f << 64 << QStringLiteral("minP");
    QTest::newRow("minP above one") << 0.5f << 0.9f << 1.5f << 1.0f << 64 << QStringLiteral("minP");
    QTest::newRow("penalty zero") << 0.5f << 0.9f << 0.05f << 0.0f << 64 << QStringLiteral("repeatPenalty");
    QTest::newRow("penalty negative")
        << 0.5f << 0.9f << 0.05f << -1.1f << 64 << QStringLiteral("repeatPenalty");
    QTest::newRow("penalty NaN") << 0.5f << 0.9f << 0.05f << kNaN << 64 << QStringLiteral("repeatPenalty");
    QTest::newRow("lastN negative") << 0.5f << 0.9f << 0.05f << 1.1f << -1 << QStringLiteral("repeatLastN");
}

void TestSampler::invalidConfigsRejected() {
    QFETCH(float, temperature);
    QFETCH(float, topP);
    QFETCH(float, minP);
    QFETCH(float, repeatPenalty);
    QFETCH(int, repeatLastN);
    QFETCH(QString, field);

    SamplerConfig config;
    config.temperature = temperature;
    config.topP = topP;
    config.minP = minP;
    config.repeatPenalty = repeatPenalty;
    config.repeatLastN = repeatLastN;
    const declai::Expected<void> result = declai::validate(config);
    QVERIFY(!result.hasValue());
    QCOMPARE(result.error().code, declai::ErrorCode::InvalidArgument);
    const QString message = QString::fromStdString(result.error().message);
    QVERIFY2(message.contains(QStringLiteral("SamplerConfig.") + field), qPrintable(message));

    // The sampler still behaves on such a config: it returns a valid id, never crashes.
    Sampler sampler(config);
    sampler.accept(0);
    const int32_t id = sampler.sample(std::vector<float>{0.5f, 1.0f, -0.5f});
    QVERIFY(id >= 0 && id < 3);
}

void TestSampler::nanLogitsNeverChosen() {
    const std::vector<float> logits{kNaN, 0.0f, kNaN, -1.0f, kNaN, 0.5f, kNaN};
    Sampler greedy(plainConfig(0.0f));
    QCOMPARE(greedy.sample(logits), 5);
    QCOMPARE(greedy.sample(std::vector<float>{kNaN, -3.0f}), 1);

    // Sampling at a high temperature with every filter: the NaN slots never come out.
    for (const SamplerConfig& base : {plainConfig(10.0f, 3), SamplerConfig{}}) {
        SamplerConfig config = base;
        config.temperature = 10.0f;
        config.repeatPenalty = 1.3f;
        Sampler sampler(config);
        sampler.accept(0); // penalising a NaN keeps it NaN; still never chosen
        std::vector<int> counts(logits.size(), 0);
        for (int i = 0; i < 5000; ++i) {
            const int32_t id = sampler.sample(logits);
            QVERIFY(id >= 0 && static_cast<size_t>(id) < logits.size());
            ++counts[static_cast<size_t>(id)];
        }
        for (size_t id : {0u, 2u, 4u, 6u}) {
            QCOMPARE(counts[id], 0);
        }
        QVERIFY(counts[1] > 0 && counts[3] > 0 && counts[5] > 0);
    }

    // Nothing selectable.
    for (float temperature : {0.0f, 1.0f}) {
        Sampler sampler(plainConfig(temperature));
        QCOMPARE(sampler.sample(std::vector<float>{kNaN, kNaN}), Sampler::kNoToken);
        QCOMPARE(sampler.sample(std::vector<float>{-kInf, kNaN, -kInf}), Sampler::kNoToken);
    }
}

void TestSampler::infiniteLogits() {
    // -inf is a mask: never drawn.
    const std::vector<float> masked{-kInf, 0.0f, -kInf, 0.0f};
    Sampler sampler(plainConfig(1.0f, 8));
    const std::vector<int> counts = drawCounts(sampler, masked, 4000);
    QCOMPARE(counts.size(), masked.size());
    QCOMPARE(counts[0], 0);
    QCOMPARE(counts[2], 0);
    QVERIFY(counts[1] > 1500 && counts[3] > 1500);

    // +inf dominates: choice restricted to the +inf entries.
    const std::vector<float> forced{1.0f, kInf, 3.0f, kNaN, kInf};
    Sampler greedy(plainConfig(0.0f));
    QCOMPARE(greedy.sample(forced), 1);
    SamplerConfig config = plainConfig(1.0f, 9);
    config.topK = 40;
    config.topP = 0.9f;
    config.minP = 0.05f;
    Sampler random(config);
    const std::vector<int> forcedCounts = drawCounts(random, forced, 4000);
    QCOMPARE(forcedCounts.size(), forced.size());
    QCOMPARE(forcedCounts[0] + forcedCounts[2] + forcedCounts[3], 0);
    QVERIFY(forcedCounts[1] > 1500 && forcedCounts[4] > 1500);
}

void TestSampler::largeVocab() {
    const size_t vocab = 150000;
    std::vector<float> logits = randomLogits(vocab, 4242);
    logits[98765] = 30.0f;
    Sampler greedy(plainConfig(0.0f));
    QCOMPARE(greedy.sample(logits), 98765);

    // Default-ish chain (top-k 40, top-p 0.95, min-p 0.05) at temperature 1: only the spike survives min-p.
    SamplerConfig config = SamplerConfig{};
    config.temperature = 1.0f;
    Sampler sampler(config);
    for (int i = 0; i < 20; ++i) {
        QCOMPARE(sampler.sample(logits), 98765);
    }

    // Only top-p on a nearly flat vocab: many tokens kept, every draw in range and in the top-p set.
    logits[98765] = 0.0f;
    SamplerConfig flat = plainConfig(1.0f, 31);
    flat.topP = 0.5f;
    Sampler flatSampler(flat);
    std::vector<float> sorted = logits;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    // The kept set carries about half of the mass, so its lowest logit lies well above the median logit.
    const float median = sorted[vocab / 2];
    for (int i = 0; i < 40; ++i) {
        const int32_t id = flatSampler.sample(logits);
        QVERIFY(id >= 0 && static_cast<size_t>(id) < vocab);
        QVERIFY2(logits[static_cast<size_t>(id)] > median, std::to_string(id).c_str());
    }
}

QTEST_APPLESS_MAIN(TestSampler)
#include "tst_sampler.moc"
