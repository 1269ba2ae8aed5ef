// What a request costs and how its cost is split between the nodes that computed it. Prices are per 1,000
// tokens for a reference model size and scale linearly with the model's parameter count; prompt and
// generated tokens are priced separately. Every charge rounds up to a whole microcredit, once.
#pragma once

#include "declai/credit/LedgerTypes.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace declai::credit {

struct PriceSchedule {
    Microcredits promptPer1kTokens = 100'000;     // 0.1 credit per 1k prompt tokens at referenceParams
    Microcredits generatedPer1kTokens = 300'000;  // 0.3 credit per 1k generated tokens at referenceParams
    std::int64_t referenceParams = 1'000'000'000; // the model size those prices are for (1B parameters)
    int nodeShareBasisPoints = 9'000;             // 90% of a request's cost goes to its nodes, 10% is the fee
};

struct Quote {
    Microcredits promptCost = 0;
    Microcredits generationCost = 0;
    Microcredits total = 0;
};

// Worst-case price of a request (what a hold is placed for): promptTokens in, at most maxTokens out.
// Refuses negative counts and amounts that would not fit in int64.
Expected<Quote> quote(const PriceSchedule& schedule, std::int64_t modelParams, std::int64_t promptTokens,
                      std::int64_t maxTokens);
// The same formula with the tokens actually generated: the cost a hold is settled for.
inline Expected<Quote> actualCost(const PriceSchedule& schedule, std::int64_t modelParams,
                                  std::int64_t promptTokens, std::int64_t generatedTokens) {
    return quote(schedule, modelParams, promptTokens, generatedTokens);
}

// The part of cost that goes to nodes (rounded down; the rest is the fee).
Microcredits nodePool(const PriceSchedule& schedule, Microcredits cost);

struct NodeWork {
    std::string nodeAccount;
    std::int64_t layerTokens = 0; // layers served x tokens processed
};
// Splits pool in proportion to layer-tokens; largest remainders get the leftover microcredits, so the
// shares sum to exactly pool. Nodes with no work get nothing (and no entry).
Expected<std::vector<NodeShare>> splitByLayerTokens(Microcredits pool, std::span<const NodeWork> work);

} // namespace declai::credit
