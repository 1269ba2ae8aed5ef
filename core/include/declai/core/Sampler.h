// Token sampler: turns one step's logits into a token id. The filter chain follows llama.cpp's common
// sampler order (repetition penalty -> top-k -> top-p -> min-p -> temperature -> softmax -> draw) so that a
// given config means the same thing to users who know llama.cpp.
#pragma once

#include "declai/core/Error.h"

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

namespace declai {

struct SamplerConfig {
    float temperature = 0.0f;   // 0 => greedy (argmax, lowest id on exact ties)
    int32_t topK = 40;          // <= 0 disables
    float topP = 0.95f;         // must be in (0, 1]; 1 disables
    float minP = 0.05f;         // <= 0 disables; keep tokens with p >= minP * p_max
    float repeatPenalty = 1.0f; // 1 disables; logit > 0 ? logit / penalty : logit * penalty
    int32_t repeatLastN = 64;   // window of accepted tokens the penalty looks at; 0 disables
    uint64_t seed = 0;          // same seed + same logits sequence => same output
};

// Rejects values that have no meaning (NaN/inf/negative temperature, topP outside (0, 1], minP above 1,
// non-positive repeatPenalty, negative repeatLastN) with a message naming the field.
Expected<void> validate(const SamplerConfig& config);

class Sampler {
public:
    // Returned by sample() when no token can be chosen: empty logits, or every logit is NaN or -inf.
    static constexpr int32_t kNoToken = -1;

    // The config should have passed validate(); out-of-range values are treated defensively (a NaN
    // temperature means greedy, a topP outside (0, 1) disables top-p, ...) rather than crashing.
    explicit Sampler(SamplerConfig config);

    // logits: one value per vocab entry; the input is never modified. Returns the chosen id, or kNoToken.
    // NaN logits are never chosen; -inf logits are never chosen by sampling; if any logit is +inf the choice
    // is restricted to the +inf entries.
    int32_t sample(std::span<const float> logits);

    // Records an emitted token for the repetition penalty.
    void accept(int32_t tokenId);

    // Clears the history and re-seeds the generator from config().seed.
    void reset();

    const SamplerConfig& config() const { return m_config; }

private:
    struct Candidate {
        int32_t id;
        float logit;
    };

    void applyRepetitionPenalty();
    int32_t pickGreedy() const;
    int32_t pickRandom();
    bool collectCandidates(); // fills m_candidates after top-k; true when they come out sorted
    void applyTopPAndMinP(bool sorted);
    void keepTopK(size_t k);
    double nextUniform();

    SamplerConfig m_config;
    std::mt19937_64 m_rng;         // fully specified by the standard, so sequences match across platforms
    std::deque<int32_t> m_history; // last repeatLastN accepted tokens, oldest first
    // Scratch buffers reused across calls so a 150k vocab does not allocate per token.
    std::vector<float> m_work;
    std::vector<Candidate> m_candidates;
    std::vector<int32_t> m_penalised;
};

} // namespace declai
