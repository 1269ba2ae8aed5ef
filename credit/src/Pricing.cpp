#include "declai/credit/Pricing.h"

#include "declai/core/StrCat.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace declai::credit {

namespace {

// 128-bit intermediates: tokens x price x parameters overflows int64 long before any real request does.
__extension__ using Int128 = __int128;

constexpr Int128 kInt64Max = std::numeric_limits<std::int64_t>::max();

Int128 ceilDiv(Int128 numerator, Int128 denominator) {
    return (numerator + denominator - 1) / denominator;
}

Expected<Microcredits> priceOf(std::int64_t tokens, Microcredits per1k, std::int64_t modelParams,
                               std::int64_t referenceParams) {
    // tokens <= 2^63, per1k <= 2^63 would overflow 128 bits once multiplied by parameters too; cap inputs at
    // values no request reaches (1e12 tokens, 1e15 parameters) so the product stays below 2^127.
    if (tokens > 1'000'000'000'000 || modelParams > 1'000'000'000'000'000)
        return makeError(ErrorCode::InvalidArgument, "token count or model size out of range");
    // per1k is not capped: an operator's price may be anything up to 2^63, so the product is checked.
    Int128 numerator = 0;
    if (__builtin_mul_overflow(Int128(tokens) * Int128(per1k), Int128(modelParams), &numerator))
        return makeError(ErrorCode::InvalidArgument, "price does not fit in 64 bits");
    const Int128 denominator = Int128(1000) * Int128(referenceParams);
    const Int128 cost = ceilDiv(numerator, denominator);
    if (cost > kInt64Max)
        return makeError(ErrorCode::InvalidArgument, "price does not fit in 64 bits");
    return static_cast<Microcredits>(cost);
}

} // namespace

Expected<Quote> quote(const PriceSchedule& schedule, std::int64_t modelParams, std::int64_t promptTokens,
                      std::int64_t maxTokens) {
    if (modelParams <= 0 || promptTokens < 0 || maxTokens < 0)
        return makeError(ErrorCode::InvalidArgument,
                         "model size must be positive and token counts non-negative");
    if (schedule.referenceParams <= 0 || schedule.promptPer1kTokens < 0 || schedule.generatedPer1kTokens < 0)
        return makeError(ErrorCode::InvalidArgument, "invalid price schedule");
    auto prompt = priceOf(promptTokens, schedule.promptPer1kTokens, modelParams, schedule.referenceParams);
    if (!prompt)
        return prompt.error();
    auto generated = priceOf(maxTokens, schedule.generatedPer1kTokens, modelParams, schedule.referenceParams);
    if (!generated)
        return generated.error();
    if (*prompt > std::numeric_limits<Microcredits>::max() - *generated)
        return makeError(ErrorCode::InvalidArgument, "price does not fit in 64 bits");
    return Quote{*prompt, *generated, *prompt + *generated};
}

Microcredits nodePool(const PriceSchedule& schedule, Microcredits cost) {
    const int bps = std::clamp(schedule.nodeShareBasisPoints, 0, 10'000);
    return static_cast<Microcredits>(Int128(std::max<Microcredits>(cost, 0)) * bps / 10'000);
}

Expected<std::vector<NodeShare>> splitByLayerTokens(Microcredits pool, std::span<const NodeWork> work) {
    if (pool < 0)
        return makeError(ErrorCode::InvalidArgument, "negative pool");
    Int128 totalWork = 0;
    for (const NodeWork& item : work) {
        if (item.layerTokens < 0)
            return makeError(ErrorCode::InvalidArgument,
                             strCat("negative layer-tokens for ", item.nodeAccount));
        totalWork += item.layerTokens;
    }
    std::vector<NodeShare> shares;
    if (totalWork == 0 || pool == 0)
        return shares;
    struct Part {
        size_t index;
        Int128 remainder;
    };
    std::vector<Part> parts;
    Microcredits assigned = 0;
    for (size_t i = 0; i < work.size(); ++i) {
        if (work[i].layerTokens == 0)
            continue;
        const Int128 exact = Int128(pool) * work[i].layerTokens;
        const auto floorShare = static_cast<Microcredits>(exact / totalWork);
        shares.push_back({work[i].nodeAccount, floorShare});
        parts.push_back({shares.size() - 1, exact % totalWork});
        assigned += floorShare;
    }
    // Largest remainder first; ties go to the earlier node so the split is deterministic.
    std::stable_sort(parts.begin(), parts.end(),
                     [](const Part& a, const Part& b) { return a.remainder > b.remainder; });
    for (size_t i = 0; assigned < pool && i < parts.size(); ++i, ++assigned)
        shares[parts[i].index].amount += 1;
    return shares;
}

} // namespace declai::credit
