#include "declai/gpu/ShardExecutor.h"

#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/CpuKernels.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace declai {
namespace {

void addBias(float* x, const std::vector<float>& bias, int64_t n) {
    if (bias.empty())
        return;
    for (int64_t i = 0; i < n; ++i)
        x[i] += bias[static_cast<size_t>(i)];
}

// up[i] = act(gate[i]) * up[i] over `rows` rows of rowLength values.
void gatedActivation(FfnActivation activation, const float* gate, float* up, int64_t rowLength, int64_t rows,
                     ThreadPool& pool) {
    if (activation == FfnActivation::SiLU) {
        cpu::swiGluRows(gate, up, rowLength, rows, pool);
        return;
    }
    cpu::geluGlu(gate, up, rows * rowLength, pool);
}

} // namespace

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
    if (m_rounding == cpu::BatchRounding::LlamaCpp) {
        // llama.cpp evaluates each sequence's batch on its own; rows of other sessions in the same product
        // would move its groups of 4 tokens.
        for (size_t s = 0; s < segments.size(); ++s) {
            Segment alone = segments[s];
            alone.firstRow = 0;
            run(std::span<const Segment>(&alone, 1), parts[partOf[s]].hidden.data(), alone.nTokens);
        }
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
    const ArchitectureSpec& arch = *c.spec;
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
    if (w.wqkv.data) {
        // Fused: one product of qDim + 2 kvDim rows, split into Q, K, V.
        const int64_t fusedRows = qDim + 2 * kvDim;
        m_fused.resize(n * static_cast<size_t>(fusedRows));
        cpu::matmul(w.wqkv, m_normed.data(), nTokens, m_fused.data(), m_pool, m_actScratch, m_rounding);
        forEachToken([&](int64_t t) {
            const float* row = m_fused.data() + t * fusedRows;
            std::copy(row, row + qDim, m_q.data() + t * qDim);
            std::copy(row + qDim, row + qDim + kvDim, m_k.data() + t * kvDim);
            std::copy(row + qDim + kvDim, row + fusedRows, m_v.data() + t * kvDim);
        });
    } else {
        const cpu::MatmulJob qkv[] = {{&w.wq, m_q.data()}, {&w.wk, m_k.data()}, {&w.wv, m_v.data()}};
        cpu::matmulShared(qkv, m_normed.data(), nTokens, m_pool, m_actScratch, m_rounding);
    }
    const bool neox = arch.rope == RopeMode::NeoX;
    forEachToken([&](int64_t t) {
        float* q = m_q.data() + t * qDim;
        float* k = m_k.data() + t * kvDim;
        float* v = m_v.data() + t * kvDim;
        addBias(q, w.bq, qDim);
        addBias(k, w.bk, kvDim);
        addBias(v, w.bv, kvDim);
        if (!w.qNorm.empty())
            for (int64_t h = 0; h < c.headCount; ++h)
                cpu::rmsNorm(q + h * c.headDim, w.qNorm.data(), c.headDim, c.rmsNormEps, q + h * c.headDim);
        if (!w.kNorm.empty())
            for (int64_t h = 0; h < c.kvHeadCount; ++h)
                cpu::rmsNorm(k + h * c.headDim, w.kNorm.data(), c.headDim, c.rmsNormEps, k + h * c.headDim);
        const float* table = m_ropeTable.data() + t * c.ropeDimensions;
        if (neox) {
            cpu::applyRopeNeox(q, c.headCount, c.headDim, c.ropeDimensions, table);
            cpu::applyRopeNeox(k, c.kvHeadCount, c.headDim, c.ropeDimensions, table);
        } else {
            cpu::applyRope(q, c.headCount, c.headDim, c.ropeDimensions, table);
            cpu::applyRope(k, c.kvHeadCount, c.headDim, c.ropeDimensions, table);
        }
        if (arch.queryPreScaled)
            for (int64_t i = 0; i < qDim; ++i)
                q[i] *= c.attentionScale;
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
    attention(segments, layer, nTokens);
    cpu::matmul(w.wo, m_attnOut.data(), nTokens, m_proj.data(), m_pool, m_actScratch, m_rounding);
    if (!w.postAttnNorm.empty())
        forEachToken([&](int64_t t) {
            float* row = m_proj.data() + t * dim;
            cpu::rmsNorm(row, w.postAttnNorm.data(), dim, c.rmsNormEps, row);
        });
    cpu::addInPlace(hidden, m_proj.data(), nTokens * dim);

    // Feed-forward block: a gated FFN (SwiGLU or GeGLU) or a mixture of such experts.
    forEachToken([&](int64_t t) {
        cpu::rmsNorm(hidden + t * dim, w.ffnNorm.data(), dim, c.rmsNormEps, m_normed.data() + t * dim);
    });
    if (c.expertCount > 0)
        expertFfn(w, nTokens);
    else
        denseFfn(w, nTokens);
    if (!w.postFfnNorm.empty())
        forEachToken([&](int64_t t) {
            float* row = m_proj.data() + t * dim;
            cpu::rmsNorm(row, w.postFfnNorm.data(), dim, c.rmsNormEps, row);
        });
    cpu::addInPlace(hidden, m_proj.data(), nTokens * dim);
}

// m_normed (nTokens rows) -> m_proj.
void ShardExecutor::denseFfn(const LayerWeights& w, int64_t nTokens) {
    const ModelConfig& c = m_config;
    const int64_t ff = c.feedForwardLength;
    if (c.spec->fusedGateUp) {
        // One product of 2 x ff rows per token: [gate | up].
        m_fused.resize(static_cast<size_t>(nTokens * 2 * ff));
        cpu::matmul(w.wUp, m_normed.data(), nTokens, m_fused.data(), m_pool, m_actScratch, m_rounding);
        m_pool.parallelFor(nTokens, 4, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                const float* row = m_fused.data() + t * 2 * ff;
                std::copy(row, row + ff, m_gate.data() + t * ff);
                std::copy(row + ff, row + 2 * ff, m_up.data() + t * ff);
            }
        });
    } else {
        const cpu::MatmulJob gateUp[] = {{&w.wGate, m_gate.data()}, {&w.wUp, m_up.data()}};
        cpu::matmulShared(gateUp, m_normed.data(), nTokens, m_pool, m_actScratch, m_rounding);
    }
    gatedActivation(c.spec->activation, m_gate.data(), m_up.data(), ff, nTokens, m_pool);
    cpu::matmul(w.wDown, m_up.data(), nTokens, m_proj.data(), m_pool, m_actScratch, m_rounding);
}

// Mixture of experts as llama.cpp's build_moe_ffn runs Mixtral: router logits, softmax over all experts, the
// top expert_used_count by probability, their probabilities renormalised to sum 1 (the sum clamped below
// as llama.cpp does), each chosen expert's SwiGLU FFN scaled by its weight, and the weighted outputs added
// in rank order. Tokens are grouped per expert so each expert's matrices are read once per batch.
void ShardExecutor::expertFfn(const LayerWeights& w, int64_t nTokens) {
    const ModelConfig& c = m_config;
    const int64_t dim = c.embeddingLength;
    const int64_t ff = c.feedForwardLength;
    const int64_t experts = c.expertCount;
    const int64_t used = c.expertUsedCount;
    const auto n = static_cast<size_t>(nTokens);
    m_router.resize(n * static_cast<size_t>(experts));
    cpu::matmul(w.gateInp, m_normed.data(), nTokens, m_router.data(), m_pool, m_actScratch, m_rounding);
    m_slotExpert.resize(n * static_cast<size_t>(used));
    m_slotWeight.resize(n * static_cast<size_t>(used));
    m_slotOut.resize(n * static_cast<size_t>(used * dim));
    cpu::routeExperts(m_router.data(), nTokens, experts, used, m_slotExpert.data(), m_slotWeight.data());
    std::vector<int64_t> members; // (token, slot) pairs routed to the current expert, as t * used + s
    for (int64_t e = 0; e < experts; ++e) {
        members.clear();
        for (int64_t i = 0; i < nTokens * used; ++i)
            if (m_slotExpert[static_cast<size_t>(i)] == e)
                members.push_back(i);
        if (members.empty())
            continue;
        const auto count = static_cast<int64_t>(members.size());
        m_expertIn.resize(static_cast<size_t>(count * dim));
        for (int64_t m = 0; m < count; ++m) {
            const float* src = m_normed.data() + (members[static_cast<size_t>(m)] / used) * dim;
            std::copy(src, src + dim, m_expertIn.data() + m * dim);
        }
        const WeightMatrix gate = expertSlice(w.gateExps, e, experts);
        const WeightMatrix up = expertSlice(w.upExps, e, experts);
        const WeightMatrix down = expertSlice(w.downExps, e, experts);
        m_gate.resize(static_cast<size_t>(std::max(count, nTokens) * ff));
        m_up.resize(m_gate.size());
        const cpu::MatmulJob gateUp[] = {{&gate, m_gate.data()}, {&up, m_up.data()}};
        // Rounded as decode in either mode: llama.cpp's MUL_MAT_ID multiplies each routed token on its own
        // (the repacked gemv for Q4_K), never through its batch gemm.
        cpu::matmulShared(gateUp, m_expertIn.data(), count, m_pool, m_actScratch);
        gatedActivation(c.spec->activation, m_gate.data(), m_up.data(), ff, count, m_pool);
        m_expertOut.resize(static_cast<size_t>(count * dim));
        cpu::matmul(down, m_up.data(), count, m_expertOut.data(), m_pool, m_actScratch);
        for (int64_t m = 0; m < count; ++m) {
            const int64_t i = members[static_cast<size_t>(m)];
            const float weight = m_slotWeight[static_cast<size_t>(i)];
            const float* src = m_expertOut.data() + m * dim;
            float* dst = m_slotOut.data() + i * dim;
            for (int64_t d = 0; d < dim; ++d)
                dst[d] = src[d] * weight;
        }
    }
    for (int64_t t = 0; t < nTokens; ++t) {
        float* out = m_proj.data() + t * dim;
        const float* first = m_slotOut.data() + t * used * dim;
        std::copy(first, first + dim, out);
        for (int64_t s = 1; s < used; ++s)
            cpu::addInPlace(out, first + s * dim, dim);
    }
}

void ShardExecutor::attention(std::span<const Segment> segments, int64_t layer, int64_t nTokens) {
    const ModelConfig& c = m_config;
    const auto layerSlot = static_cast<size_t>(layer - m_layers.begin);
    const int64_t headDim = c.headDim;
    const int64_t qDim = c.qDim();
    const int64_t kvDim = c.kvDim();
    const int64_t group = c.headCount / c.kvHeadCount;
    // Queries pre-scaled by the graph are scored with scale 1. With soft-capping, as in llama.cpp's flash
    // attention, the scale is divided by the cap and the score becomes cap * tanh(score).
    const float softCap = c.attentionSoftCap;
    const float kqScale = c.spec->queryPreScaled ? 1.0f : c.attentionScale;
    const float scale = softCap > 0.0f ? kqScale / softCap : kqScale;
    // A sliding-window layer sees the last `window` positions, its own included.
    const int64_t window = c.usesSlidingWindow(layer) ? c.slidingWindow : 0;
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
            const int64_t first = window > 0 ? std::max<int64_t>(0, visible - window) : 0;
            const float* query = m_q.data() + t * qDim + h * headDim;
            kernels.roundF16(query, q, headDim);
            std::fill(accumulator, accumulator + headDim, 0.0f);
            float maxScore = -INFINITY;
            float sum = 0.0f;
            for (int64_t j = first; j < visible; ++j) {
                const uint16_t* k = keys + j * kvDim + kvHead * headDim;
                float score = kernels.dotF32F16(q, k, headDim) * scale;
                if (softCap > 0.0f)
                    score = softCap * std::tanh(score);
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
