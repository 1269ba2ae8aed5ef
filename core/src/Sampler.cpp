#include "declai/core/Sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace declai {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kPosInf = std::numeric_limits<float>::infinity();

// Strict total order (logit desc, id asc), so every partial sort or heap gives the same result everywhere.
template <class C>
bool higher(const C& a, const C& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

std::string fieldError(const char* field, float value, const char* requirement) {
    // %g rather than std::to_string, which prints 1e-9 as "0.000000".
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(value));
    return std::string("SamplerConfig.") + field + " = " + text + ": " + requirement;
}

} // namespace

Expected<void> validate(const SamplerConfig& config) {
    if (!std::isfinite(config.temperature) || config.temperature < 0.0f) {
        return makeError(ErrorCode::InvalidArgument,
                         fieldError("temperature", config.temperature,
                                    "must be a finite number >= 0 (0 selects greedy decoding)"));
    }
    // The negated comparison also rejects NaN.
    if (!(config.topP > 0.0f && config.topP <= 1.0f)) {
        return makeError(ErrorCode::InvalidArgument,
                         fieldError("topP", config.topP, "must be in (0, 1] (1 disables top-p)"));
    }
    if (!std::isfinite(config.minP) || config.minP > 1.0f) {
        return makeError(
            ErrorCode::InvalidArgument,
            fieldError("minP", config.minP, "must be a finite number <= 1 (<= 0 disables min-p)"));
    }
    if (!std::isfinite(config.repeatPenalty) || config.repeatPenalty <= 0.0f) {
        return makeError(ErrorCode::InvalidArgument,
                         fieldError("repeatPenalty", config.repeatPenalty,
                                    "must be a finite number > 0 (1 disables the penalty)"));
    }
    if (config.repeatLastN < 0) {
        return makeError(ErrorCode::InvalidArgument,
                         "SamplerConfig.repeatLastN = " + std::to_string(config.repeatLastN) +
                             ": must be >= 0 (0 disables the penalty)");
    }
    return {};
}

Sampler::Sampler(SamplerConfig config) : m_config(config), m_rng(config.seed) {}

void Sampler::accept(int32_t tokenId) {
    const auto window = static_cast<size_t>(std::max(m_config.repeatLastN, 0));
    if (window == 0) {
        return;
    }
    m_history.push_back(tokenId);
    while (m_history.size() > window) {
        m_history.pop_front();
    }
}

void Sampler::reset() {
    m_history.clear();
    m_rng.seed(m_config.seed);
}

double Sampler::nextUniform() {
    // Top 53 bits -> [0, 1): independent of the standard library's distribution implementations.
    return static_cast<double>(m_rng() >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(std::span<const float> logits) {
    if (logits.empty()) {
        return kNoToken;
    }
    m_work.assign(logits.begin(), logits.end());
    applyRepetitionPenalty();
    // `temperature > 0` is false for NaN too, which then degrades to greedy.
    if (!(m_config.temperature > 0.0f)) {
        return pickGreedy();
    }
    return pickRandom();
}

void Sampler::applyRepetitionPenalty() {
    const float penalty = m_config.repeatPenalty;
    if (penalty == 1.0f || !std::isfinite(penalty) || penalty <= 0.0f || m_history.empty()) {
        return;
    }
    // Each distinct token is penalised once, however often it occurs in the window (llama.cpp semantics).
    m_penalised.assign(m_history.begin(), m_history.end());
    std::sort(m_penalised.begin(), m_penalised.end());
    m_penalised.erase(std::unique(m_penalised.begin(), m_penalised.end()), m_penalised.end());
    const auto vocab = static_cast<int64_t>(m_work.size());
    for (int32_t id : m_penalised) {
        if (id < 0 || id >= vocab) {
            continue;
        }
        float& logit = m_work[static_cast<size_t>(id)];
        logit = logit > 0.0f ? logit / penalty : logit * penalty;
    }
}

int32_t Sampler::pickGreedy() const {
    int32_t best = kNoToken;
    float bestLogit = kNegInf;
    // Strict '>' keeps the lowest id on ties and never selects NaN or -inf.
    for (size_t i = 0; i < m_work.size(); ++i) {
        if (m_work[i] > bestLogit) {
            bestLogit = m_work[i];
            best = static_cast<int32_t>(i);
        }
    }
    return best;
}

int32_t Sampler::pickRandom() {
    // One draw per non-greedy call whatever the outcome, so the generator position depends only on the calls.
    const double u = nextUniform();

    const bool sorted = collectCandidates();
    if (m_candidates.empty()) {
        return kNoToken;
    }
    applyTopPAndMinP(sorted);

    // Temperature, softmax and the draw. Candidates are either in id order or fully sorted by higher(),
    // both platform-independent, so the same u always maps to the same token.
    auto& cands = m_candidates;
    const auto temperature = static_cast<float>(m_config.temperature);
    float maxLogit = kNegInf;
    for (const Candidate& c : cands) {
        maxLogit = std::max(maxLogit, c.logit);
    }
    double total = 0.0;
    for (Candidate& c : cands) {
        // Reuse the logit slot for the unnormalised weight (in [0, 1]). Summing the stored values makes the
        // walk below add exactly the same numbers, so it ends at `total`.
        c.logit = std::exp((c.logit - maxLogit) / temperature);
        total += c.logit;
    }
    const double target = u * total;
    double cumulative = 0.0;
    int32_t lastPositive = cands.front().id;
    for (const Candidate& c : cands) {
        if (c.logit <= 0.0f) {
            continue;
        }
        lastPositive = c.id;
        cumulative += c.logit;
        if (target < cumulative) {
            return c.id;
        }
    }
    // Rounding left u * total at or beyond the last partial sum.
    return lastPositive;
}

bool Sampler::collectCandidates() {
    auto& cands = m_candidates;
    cands.clear();
    const size_t vocab = m_work.size();

    if (std::find(m_work.begin(), m_work.end(), kPosInf) != m_work.end()) {
        // exp() of inf - inf is NaN; +inf entries dominate every finite one, so choose uniformly among them.
        for (size_t i = 0; i < vocab; ++i) {
            if (m_work[i] == kPosInf) {
                cands.push_back({static_cast<int32_t>(i), 0.0f});
            }
        }
    } else if (m_config.topK > 0 && static_cast<size_t>(m_config.topK) < vocab) {
        keepTopK(static_cast<size_t>(m_config.topK));
        return true;
    } else {
        for (size_t i = 0; i < vocab; ++i) {
            if (m_work[i] > kNegInf) { // drops NaN and -inf
                cands.push_back({static_cast<int32_t>(i), m_work[i]});
            }
        }
    }
    return false;
}

void Sampler::keepTopK(size_t k) {
    auto& cands = m_candidates;
    const size_t vocab = m_work.size();
    if (k <= vocab / 16) {
        // Bounded heap whose front is the worst kept entry: after the first few thousand entries almost every
        // logit fails the single comparison with the front, far cheaper than nth_element over 150k.
        for (size_t i = 0; i < vocab; ++i) {
            const float logit = m_work[i];
            if (!(logit > kNegInf)) {
                continue;
            }
            const Candidate c{static_cast<int32_t>(i), logit};
            if (cands.size() < k) {
                cands.push_back(c);
                std::push_heap(cands.begin(), cands.end(), higher<Candidate>);
            } else if (higher(c, cands.front())) {
                std::pop_heap(cands.begin(), cands.end(), higher<Candidate>);
                cands.back() = c;
                std::push_heap(cands.begin(), cands.end(), higher<Candidate>);
            }
        }
        std::sort_heap(cands.begin(), cands.end(), higher<Candidate>); // best first
        return;
    }
    for (size_t i = 0; i < vocab; ++i) {
        if (m_work[i] > kNegInf) {
            cands.push_back({static_cast<int32_t>(i), m_work[i]});
        }
    }
    if (k < cands.size()) {
        std::nth_element(cands.begin(), cands.begin() + static_cast<ptrdiff_t>(k), cands.end(),
                         higher<Candidate>);
        cands.resize(k);
    }
    std::sort(cands.begin(), cands.end(), higher<Candidate>);
}

void Sampler::applyTopPAndMinP(bool sorted) {
    const bool topPOn = m_config.topP > 0.0f && m_config.topP < 1.0f;
    const bool minPOn = m_config.minP > 0.0f;
    if (!topPOn && !minPOn) {
        return;
    }
    auto& cands = m_candidates;
    // Probabilities at temperature 1: llama.cpp applies top-p and min-p before temperature.
    float maxLogit = kNegInf;
    for (const Candidate& c : cands) {
        maxLogit = std::max(maxLogit, c.logit);
    }

    // Unsorted (no top-k): bucket the mass by distance below the max logit so that only the buckets top-p can
    // reach get sorted, instead of the whole vocab.
    constexpr int kBuckets = 1024;
    constexpr float kBucketRange = 64.0f; // exp(-64) ~ 1e-28: anything further down shares the last bucket
    const auto bucketOf = [maxLogit](float logit) {
        const float scaled = (maxLogit - logit) * (kBuckets / kBucketRange);
        return scaled < static_cast<float>(kBuckets - 1) ? static_cast<int>(scaled) : kBuckets - 1;
    };
    const double topP = m_config.topP;
    double total = 0.0;
    int lastBucket = kBuckets - 1;
    if (topPOn) {
        if (sorted) {
            for (const Candidate& c : cands) {
                total += std::exp(c.logit - maxLogit);
            }
        } else {
            std::array<double, kBuckets> mass{};
            for (const Candidate& c : cands) {
                const double weight = std::exp(c.logit - maxLogit);
                mass[static_cast<size_t>(bucketOf(c.logit))] += weight;
                total += weight;
            }
            double cumulative = 0.0;
            for (int b = 0; b < kBuckets; ++b) {
                cumulative += mass[static_cast<size_t>(b)];
                if (cumulative >= topP * total) {
                    // One bucket of margin absorbs the different summation order of the exact walk below.
                    lastBucket = std::min(b + 1, kBuckets - 1);
                    break;
                }
            }
        }
    }

    // Min-p keeps a prefix of the sorted order defined by p / p_max, which renormalisation does not change;
    // top-p keeps a prefix too, so "top-p then min-p" is the shorter of the two and min-p may run first to
    // shrink what top-p sorts. Top-p still uses the mass computed above, before min-p.
    if (minPOn) {
        const float logMinP = std::log(std::min(m_config.minP, 1.0f));
        std::erase_if(cands, [&](const Candidate& c) { return c.logit - maxLogit < logMinP; });
    }
    if (!topPOn) {
        return;
    }
    if (!sorted) {
        std::erase_if(cands, [&](const Candidate& c) { return bucketOf(c.logit) > lastBucket; });
        std::sort(cands.begin(), cands.end(), higher<Candidate>);
    }
    // Smallest prefix whose mass reaches topP (keeping at least one).
    size_t kept = 0;
    double cumulative = 0.0;
    while (kept < cands.size()) {
        cumulative += std::exp(cands[kept].logit - maxLogit) / total;
        ++kept;
        if (cumulative >= topP) {
            break;
        }
    }
    cands.resize(kept);
}

} // namespace declai
