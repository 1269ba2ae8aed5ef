#include "declai/gpu/ShardExecutor.h"

#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/CpuKernels.h"

#include <algorithm>
#include <cmath>

namespace declai {

Expected<std::unique_ptr<ShardExecutor>> ShardExecutor::create(std::shared_ptr<const ModelWeights> weights,
                                                               LayerRange layers, ThreadPool& pool,
                                                               int64_t maxContext) {
    const ModelConfig& c = weights->config();
    if (layers.begin < 0 || layers.end > c.layerCount || layers.begin >= layers.end)
        return makeError(ErrorCode::InvalidArgument,
                         "layer range [" + std::to_string(layers.begin) + ", " + std::to_string(layers.end) +
                             ") is not within the model's " + std::to_string(c.layerCount) + " layers");
    if (maxContext <= 0)
        maxContext = c.contextLength;
    return std::unique_ptr<ShardExecutor>(new ShardExecutor(std::move(weights), layers, pool, maxContext));
}

ShardExecutor::ShardExecutor(std::shared_ptr<const ModelWeights> weights, LayerRange layers, ThreadPool& pool,
                             int64_t maxContext)
    : m_weights(std::move(weights)), m_config(m_weights->config()), m_layers(layers), m_pool(pool),
      m_maxContext(maxContext) {}

int64_t ShardExecutor::sessionLength(SessionId session) const {
    auto it = m_sessions.find(session);
    return it == m_sessions.end() ? 0 : it->second.length;
}

void ShardExecutor::truncateSession(SessionId session, int64_t length) {
    auto it = m_sessions.find(session);
    if (it == m_sessions.end() || length >= it->second.length)
        return;
    KvCache& cache = it->second;
    cache.length = std::max<int64_t>(0, length);
    for (auto& k : cache.keys)
        k.resize(static_cast<size_t>(cache.length * m_config.kvDim()));
    for (auto& v : cache.values)
        v.resize(static_cast<size_t>(cache.length * m_config.kvDim()));
}

void ShardExecutor::endSession(SessionId session) {
    m_sessions.erase(session);
}

uint64_t ShardExecutor::kvBytesPerToken() const {
    return static_cast<uint64_t>(m_layers.size()) * 2u * static_cast<uint64_t>(m_config.kvDim()) *
           sizeof(uint16_t);
}

Expected<void> ShardExecutor::check(SessionId session, int64_t startPos, std::span<const float> hidden,
                                    int64_t nTokens) const {
    const int64_t dim = m_config.embeddingLength;
    if (nTokens <= 0)
        return makeError(ErrorCode::InvalidArgument, "forward needs at least one token");
    if (hidden.size() != static_cast<size_t>(nTokens * dim))
        return makeError(ErrorCode::InvalidArgument, "hidden states hold " + std::to_string(hidden.size()) +
                                                         " values, expected " + std::to_string(nTokens) +
                                                         " x " + std::to_string(dim));
    const int64_t cached = sessionLength(session);
    if (startPos != cached)
        return makeError(ErrorCode::InvalidArgument, "session " + std::to_string(session) +
                                                         " is at position " + std::to_string(cached) +
                                                         ", not " + std::to_string(startPos));
    if (startPos + nTokens > m_maxContext)
        return makeError(ErrorCode::InvalidArgument, "context length " + std::to_string(m_maxContext) +
                                                         " exceeded (" + std::to_string(startPos + nTokens) +
                                                         " tokens)");
    return {};
}

Expected<void> ShardExecutor::forward(SessionId session, int64_t startPos, std::span<float> hidden,
                                      int64_t nTokens) {
    if (auto valid = check(session, startPos, hidden, nTokens); !valid)
        return valid;
    const Segment segment{&m_sessions[session], startPos, 0, nTokens};
    run(std::span<const Segment>(&segment, 1), hidden.data(), nTokens);
    return {};
}

std::vector<Expected<void>> ShardExecutor::forwardBatch(std::span<const BatchPart> parts) {
    std::vector<Expected<void>> results(parts.size());
    std::vector<Segment> segments;
    std::vector<size_t> partOf; // segment -> part
    std::vector<SessionId> seen;
    int64_t rows = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
        const BatchPart& part = parts[i];
        if (std::find(seen.begin(), seen.end(), part.session) != seen.end()) {
            results[i] = makeError(ErrorCode::InvalidArgument,
                                   "session " + std::to_string(part.session) + " appears twice in a batch");
            continue;
        }
        if (auto valid = check(part.session, part.startPos, part.hidden, part.nTokens); !valid) {
            results[i] = valid;
            continue;
        }
        seen.push_back(part.session);
        segments.push_back(Segment{nullptr, part.startPos, rows, part.nTokens});
        partOf.push_back(i);
        rows += part.nTokens;
    }
    if (segments.empty())
        return results;
    // Caches are looked up after every insertion (std::map keeps references stable anyway).
    for (size_t s = 0; s < segments.size(); ++s)
        segments[s].cache = &m_sessions[parts[partOf[s]].session];
    const int64_t dim = m_config.embeddingLength;
    if (segments.size() == 1) { // nothing to gather
        run(segments, parts[partOf[0]].hidden.data(), rows);
        return results;
    }
    m_batchHidden.resize(static_cast<size_t>(rows * dim));
    for (size_t s = 0; s < segments.size(); ++s)
        std::copy(parts[partOf[s]].hidden.begin(), parts[partOf[s]].hidden.end(),
                  m_batchHidden.begin() + segments[s].firstRow * dim);
    run(segments, m_batchHidden.data(), rows);
    for (size_t s = 0; s < segments.size(); ++s) {
        const auto from = m_batchHidden.begin() + segments[s].firstRow * dim;
        std::copy(from, from + segments[s].nTokens * dim, parts[partOf[s]].hidden.begin());
    }
    return results;
}

void ShardExecutor::run(std::span<const Segment> segments, float* hidden, int64_t rows) {
    const int64_t kvDim = m_config.kvDim();
    const int64_t ropeDims = m_config.ropeDimensions;
    const float* factors = m_weights->ropeFactors().empty() ? nullptr : m_weights->ropeFactors().data();
    // One cos/sin table per row (its session's position), shared by every head and layer of this call.
    m_ropeTable.resize(static_cast<size_t>(rows * ropeDims));
    m_rowSegment.resize(static_cast<size_t>(rows));
    for (size_t s = 0; s < segments.size(); ++s) {
        const Segment& segment = segments[s];
        KvCache& cache = *segment.cache;
        if (cache.keys.empty()) {
            cache.keys.resize(static_cast<size_t>(m_layers.size()));
            cache.values.resize(static_cast<size_t>(m_layers.size()));
        }
        const auto length = static_cast<size_t>((segment.startPos + segment.nTokens) * kvDim);
        for (size_t slot = 0; slot < cache.keys.size(); ++slot) {
            cache.keys[slot].resize(length);
            cache.values[slot].resize(length);
        }
        for (int64_t t = 0; t < segment.nTokens; ++t) {
            const int64_t row = segment.firstRow + t;
            m_rowSegment[static_cast<size_t>(row)] = static_cast<int64_t>(s);
            cpu::ropeTable(segment.startPos + t, ropeDims, m_config.ropeFreqBase, m_config.ropeFreqScale,
                           factors, m_ropeTable.data() + row * ropeDims);
        }
    }
    for (int64_t layer = m_layers.begin; layer < m_layers.end; ++layer)
        runLayer(layer, segments, hidden, rows);
    for (const Segment& segment : segments)
        segment.cache->length = segment.startPos + segment.nTokens;
}

void ShardExecutor::runLayer(int64_t layer, std::span<const Segment> segments, float* hidden,
                             int64_t nTokens) {
    const LayerWeights& w = m_weights->layer(layer);
    const ModelConfig& c = m_config;
    const int64_t dim = c.embeddingLength;
    const int64_t qDim = c.qDim();
    const int64_t kvDim = c.kvDim();
    const int64_t ff = c.feedForwardLength;
    const auto n = static_cast<size_t>(nTokens);
    m_normed.resize(n * static_cast<size_t>(dim));
    m_q.resize(n * static_cast<size_t>(qDim));
    m_k.resize(n * static_cast<size_t>(kvDim));
    m_v.resize(n * static_cast<size_t>(kvDim));
    m_attnOut.resize(n * static_cast<size_t>(qDim));
    m_proj.resize(n * static_cast<size_t>(dim));
    m_gate.resize(n * static_cast<size_t>(ff));
    m_up.resize(n * static_cast<size_t>(ff));

    // Per-token steps of a batch run on the pool too (each token's values do not depend on the split).
    auto forEachToken = [&](auto&& step) {
        m_pool.parallelFor(nTokens, 4, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t)
                step(t);
        });
    };

    // Attention block.
    forEachToken([&](int64_t t) {
        cpu::rmsNorm(hidden + t * dim, w.attnNorm.data(), dim, c.rmsNormEps, m_normed.data() + t * dim);
    });
    const cpu::MatmulJob qkv[] = {{&w.wq, m_q.data()}, {&w.wk, m_k.data()}, {&w.wv, m_v.data()}};
    cpu::matmulShared(qkv, m_normed.data(), nTokens, m_pool, m_actScratch);
    forEachToken([&](int64_t t) {
        const float* table = m_ropeTable.data() + t * c.ropeDimensions;
        cpu::applyRope(m_q.data() + t * qDim, c.headCount, c.headDim, c.ropeDimensions, table);
        cpu::applyRope(m_k.data() + t * kvDim, c.kvHeadCount, c.headDim, c.ropeDimensions, table);
    });
    const auto slot = static_cast<size_t>(layer - m_layers.begin);
    const cpu::KernelTable& kernels = cpu::activeKernels();
    for (const Segment& segment : segments) {
        const int64_t offset = segment.firstRow * kvDim;
        const int64_t count = segment.nTokens * kvDim;
        kernels.toF16(m_k.data() + offset, segment.cache->keys[slot].data() + segment.startPos * kvDim,
                      count);
        kernels.toF16(m_v.data() + offset, segment.cache->values[slot].data() + segment.startPos * kvDim,
                      count);
    }
    attention(segments, slot, nTokens);
    cpu::matmul(w.wo, m_attnOut.data(), nTokens, m_proj.data(), m_pool, m_actScratch);
    cpu::addInPlace(hidden, m_proj.data(), nTokens * dim);

    // Feed-forward block (SwiGLU).
    forEachToken([&](int64_t t) {
        cpu::rmsNorm(hidden + t * dim, w.ffnNorm.data(), dim, c.rmsNormEps, m_normed.data() + t * dim);
    });
    const cpu::MatmulJob gateUp[] = {{&w.wGate, m_gate.data()}, {&w.wUp, m_up.data()}};
    cpu::matmulShared(gateUp, m_normed.data(), nTokens, m_pool, m_actScratch);
    cpu::swiGluRows(m_gate.data(), m_up.data(), ff, nTokens, m_pool);
    cpu::matmul(w.wDown, m_up.data(), nTokens, m_proj.data(), m_pool, m_actScratch);
    cpu::addInPlace(hidden, m_proj.data(), nTokens * dim);
}

void ShardExecutor::attention(std::span<const Segment> segments, size_t layerSlot, int64_t nTokens) {
    const ModelConfig& c = m_config;
    const int64_t headDim = c.headDim;
    const int64_t qDim = c.qDim();
    const int64_t kvDim = c.kvDim();
    const int64_t group = c.headCount / c.kvHeadCount;
    const float scale = 1.0f / std::sqrt(static_cast<float>(headDim));
    m_scores.resize(static_cast<size_t>(m_pool.threadCount() * headDim * 2));

    // Single-pass ("flash") attention with an online softmax, parallel over (token, head) pairs; each
    // pair attends causally to positions [0, startPos + t]. The numerics are llama.cpp's CPU path
    // (ggml_compute_forward_flash_attn_ext_f16_one_chunk): the query is rounded to F16 to meet the F16
    // keys, the weighted sum of F16 values is kept in F16 (acc + v * w in one FMA, then rounded) and
    // rescaled whenever a new maximum score appears; the running sum S * ms + vs is one FMA, as GCC
    // contracts it in a -march=native build of llama.cpp (node-llama-cpp's prebuilt CPU variants do not,
    // and differ from it there by an ulp). With the AVX-512 kernel table this gives that build's floats
    // exactly (tests/gpu/tst_parity.cpp, long generations). The per-row pieces come from the active table.
    const cpu::KernelTable& kernels = cpu::activeKernels();
    m_pool.parallelFor(nTokens * c.headCount, 1, [&](int64_t begin, int64_t end, int thread) {
        float* q = m_scores.data() + thread * headDim * 2;
        float* accumulator = q + headDim;
        for (int64_t item = begin; item < end; ++item) {
            const int64_t t = item / c.headCount;
            const int64_t h = item % c.headCount;
            const int64_t kvHead = h / group;
            // Each row attends to its own session's cache, up to its own position.
            const Segment& segment = segments[static_cast<size_t>(m_rowSegment[static_cast<size_t>(t)])];
            const uint16_t* keys = segment.cache->keys[layerSlot].data();
            const uint16_t* values = segment.cache->values[layerSlot].data();
            const int64_t visible = segment.startPos + (t - segment.firstRow) + 1;
            const float* query = m_q.data() + t * qDim + h * headDim;
            kernels.roundF16(query, q, headDim);
            std::fill(accumulator, accumulator + headDim, 0.0f);
            float maxScore = -INFINITY;
            float sum = 0.0f;
            for (int64_t j = 0; j < visible; ++j) {
                const uint16_t* k = keys + j * kvDim + kvHead * headDim;
                const float score = kernels.dotF32F16(q, k, headDim) * scale;
                float oldScale = 1.0f;
                float weight = 1.0f;
                if (score > maxScore) {
                    oldScale = std::exp(maxScore - score);
                    maxScore = score;
                    kernels.scaleF16(accumulator, oldScale, headDim);
                } else {
                    weight = std::exp(score - maxScore);
                }
                const uint16_t* v = values + j * kvDim + kvHead * headDim;
                kernels.accumulateF16(accumulator, v, weight, headDim);
                sum = std::fma(sum, oldScale, weight);
            }
            const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
            float* out = m_attnOut.data() + t * qDim + h * headDim;
            for (int64_t d = 0; d < headDim; ++d)
                out[d] = accumulator[d] * inverse;
        }
    });
}

} // namespace declai
