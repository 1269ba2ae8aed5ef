#include "declai/gpu/ShardExecutor.h"

#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/LayerGraph.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

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
    const BatchPart part{session, startPos, hidden, nTokens};
    return std::move(forwardBatch(std::span<const BatchPart>(&part, 1)).front());
}

std::vector<Expected<void>> ShardExecutor::forwardBatch(std::span<const BatchPart> parts) {
    std::vector<Expected<void>> results(parts.size());
    // Rows that round as decode (every row under AsDecode) run together in one pass; under LlamaCpp each
    // part's prompt rows run first, on their own, in chunks of one llama.cpp batch each.
    struct PromptChunk {
        size_t part;
        int64_t firstRow; // within the part
        int64_t nTokens;
        int64_t batchTokens;
    };
    std::vector<PromptChunk> promptChunks;
    std::vector<Segment> decodeSegments;
    std::vector<size_t> decodePartOf; // decode segment -> part
    std::vector<int64_t> decodeFirstRowInPart;
    std::vector<SessionId> seen;
    int64_t decodeRows = 0;
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
        int64_t row = 0;
        if (m_rounding == cpu::BatchRounding::LlamaCpp) {
            // The llama.cpp batch these rows came from: the session's prompt, or this part alone.
            const int64_t batchBegin = part.promptTokens > 0 ? 0 : part.startPos;
            const int64_t batchEnd = part.promptTokens > 0 ? part.promptTokens : part.startPos + part.nTokens;
            while (row < part.nTokens && part.startPos + row < batchEnd) {
                const int64_t pos = part.startPos + row;
                const int64_t ubatchBegin =
                    batchBegin + (pos - batchBegin) / kLlamaUbatchTokens * kLlamaUbatchTokens;
                const int64_t ubatchEnd = std::min(batchEnd, ubatchBegin + kLlamaUbatchTokens);
                if (ubatchEnd - ubatchBegin == 1)
                    break; // a batch of one token is decode
                int64_t pieceEnd = ubatchEnd;
                if (part.promptTokens > 0 && part.promptChunkTokens > 0)
                    pieceEnd =
                        std::min(pieceEnd, (pos / part.promptChunkTokens + 1) * part.promptChunkTokens);
                const int64_t n = std::min(part.nTokens - row, pieceEnd - pos);
                promptChunks.push_back(PromptChunk{i, row, n, ubatchEnd - ubatchBegin});
                row += n;
            }
        }
        if (row < part.nTokens) {
            decodeSegments.push_back(Segment{nullptr, part.startPos + row, decodeRows, part.nTokens - row});
            decodePartOf.push_back(i);
            decodeFirstRowInPart.push_back(row);
            decodeRows += part.nTokens - row;
        }
    }
    const int64_t dim = m_config.embeddingLength;
    for (const PromptChunk& chunk : promptChunks) {
        const BatchPart& part = parts[chunk.part];
        const Segment alone{&m_sessions[part.session], part.startPos + chunk.firstRow, 0, chunk.nTokens};
        run(std::span<const Segment>(&alone, 1), part.hidden.data() + chunk.firstRow * dim, chunk.nTokens,
            cpu::BatchRounding::LlamaCpp, chunk.batchTokens);
    }
    if (decodeSegments.empty())
        return results;
    // Caches are looked up after every insertion (std::map keeps references stable anyway).
    for (size_t s = 0; s < decodeSegments.size(); ++s)
        decodeSegments[s].cache = &m_sessions[parts[decodePartOf[s]].session];
    const auto rowsOf = [&](size_t s) {
        return parts[decodePartOf[s]].hidden.data() + decodeFirstRowInPart[s] * dim;
    };
    if (decodeSegments.size() == 1) { // nothing to gather
        run(decodeSegments, rowsOf(0), decodeRows, cpu::BatchRounding::AsDecode, 0);
        return results;
    }
    m_batchHidden.resize(static_cast<size_t>(decodeRows * dim));
    for (size_t s = 0; s < decodeSegments.size(); ++s)
        std::copy(rowsOf(s), rowsOf(s) + decodeSegments[s].nTokens * dim,
                  m_batchHidden.begin() + decodeSegments[s].firstRow * dim);
    run(decodeSegments, m_batchHidden.data(), decodeRows, cpu::BatchRounding::AsDecode, 0);
    for (size_t s = 0; s < decodeSegments.size(); ++s) {
        const auto from = m_batchHidden.begin() + decodeSegments[s].firstRow * dim;
        std::copy(from, from + decodeSegments[s].nTokens * dim, rowsOf(s));
    }
    return results;
}

// LayerOps over host buffers: the rows of a pass are segments of several sessions' tokens, every product runs
// once over all rows, per-row steps and attention follow each row's own session and position.
class ShardExecutor::CpuLayerOps final : public LayerOps {
public:
    CpuLayerOps(ShardExecutor& executor, std::span<const Segment> segments, float* hidden, int64_t nTokens,
                cpu::BatchRounding rounding, int64_t batchTokens)
        : m_e(executor), m_c(executor.m_config), m_segments(segments), m_hidden(hidden), m_nTokens(nTokens),
          m_rounding(rounding), m_batchTokens(batchTokens) {}

    Expected<void> beginLayer(int64_t layer) override {
        m_layer = layer;
        m_w = &m_e.m_weights->layer(layer);
        // llama.cpp's graph keeps only the rows whose logits are wanted (inp_out_ids: the last of the batch)
        // after the model's last attention, so that layer's feed-forward products run on one row, in its
        // one-token arithmetic. Under LlamaCpp the last row takes them alone, as a batch of one (the other
        // rows' results go nowhere; in a chunk that does not end the prompt, neither do the last row's);
        // under AsDecode every row already has the one-token arithmetic.
        m_lastRowAlone = m_rounding == cpu::BatchRounding::LlamaCpp && layer == m_c.layerCount - 1;
        const int64_t qDim = m_c.qDim();
        const int64_t kvDim = m_c.kvDim();
        const auto n = static_cast<size_t>(m_nTokens);
        m_e.m_normed.resize(n * static_cast<size_t>(m_c.embeddingLength));
        m_e.m_q.resize(n * static_cast<size_t>(qDim));
        m_e.m_k.resize(n * static_cast<size_t>(kvDim));
        m_e.m_v.resize(n * static_cast<size_t>(kvDim));
        m_e.m_attnOut.resize(n * static_cast<size_t>(qDim));
        m_e.m_proj.resize(n * static_cast<size_t>(m_c.embeddingLength));
        m_e.m_gate.resize(n * static_cast<size_t>(m_c.feedForwardLength));
        m_e.m_up.resize(n * static_cast<size_t>(m_c.feedForwardLength));
        return {};
    }

    Expected<void> rmsNorm(LayerBuffer x, LayerTensor weight, LayerBuffer out) override {
        const int64_t dim = m_c.embeddingLength;
        const float* in = buffer(x);
        float* to = buffer(out);
        const float* wv = m_w->vector(weight)->data();
        forEachToken([&](int64_t t) { cpu::rmsNorm(in + t * dim, wv, dim, m_c.rmsNormEps, to + t * dim); });
        return {};
    }

    Expected<void> project(LayerBuffer input, std::span<const LayerProduct> products) override {
        const bool feedForward = products[0].matrix == LayerTensor::Gate ||
                                 products[0].matrix == LayerTensor::Up ||
                                 products[0].matrix == LayerTensor::Down;
        forRowRanges(feedForward, [&](int64_t first, int64_t rows, int64_t batchTokens) {
            const float* in = buffer(input) + first * width(input);
            if (products.size() == 1) {
                const WeightMatrix& w = *m_w->matrix(products[0].matrix);
                cpu::matmul(w, in, rows, buffer(products[0].out) + first * w.rows, m_e.m_pool,
                            m_e.m_actScratch, m_rounding, batchTokens);
                return;
            }
            std::array<cpu::MatmulJob, cpu::kMaxSharedJobs> jobs;
            const size_t count = std::min(products.size(), jobs.size());
            for (size_t i = 0; i < count; ++i) {
                const WeightMatrix* w = m_w->matrix(products[i].matrix);
                jobs[i] = {w, buffer(products[i].out) + first * w->rows};
            }
            cpu::matmulShared(std::span(jobs.data(), count), in, rows, m_e.m_pool, m_e.m_actScratch,
                              m_rounding, batchTokens);
        });
        return {};
    }

    Expected<void> projectSplit(LayerBuffer input, LayerTensor matrix,
                                std::span<const LayerBuffer> outs) override {
        // One product of all rows, then each token's row is cut into the outputs.
        const WeightMatrix& fused = *m_w->matrix(matrix);
        const int64_t fusedRows = fused.rows;
        m_e.m_fused.resize(static_cast<size_t>(m_nTokens * fusedRows));
        forRowRanges(matrix == LayerTensor::Up, [&](int64_t first, int64_t rows, int64_t batchTokens) {
            cpu::matmul(fused, buffer(input) + first * width(input), rows,
                        m_e.m_fused.data() + first * fusedRows, m_e.m_pool, m_e.m_actScratch, m_rounding,
                        batchTokens);
        });
        forEachToken([&](int64_t t) {
            const float* row = m_e.m_fused.data() + t * fusedRows;
            for (const LayerBuffer out : outs) {
                const int64_t n = width(out);
                std::copy(row, row + n, buffer(out) + t * n);
                row += n;
            }
        });
        return {};
    }

    Expected<void> addBias(LayerBuffer x, LayerTensor bias) override {
        const std::vector<float>& b = *m_w->vector(bias);
        const int64_t n = width(x);
        float* values = buffer(x);
        forEachToken([&](int64_t t) {
            float* row = values + t * n;
            for (int64_t i = 0; i < n; ++i)
                row[i] += b[static_cast<size_t>(i)];
        });
        return {};
    }

    Expected<void> headNorm(LayerBuffer x, LayerTensor weight) override {
        const int64_t n = width(x);
        const std::vector<float>& w = *m_w->vector(weight);
        const auto group = static_cast<int64_t>(w.size()); // headDim, or the whole row (ModelConfig checks)
        float* values = buffer(x);
        forEachToken([&](int64_t t) {
            float* row = values + t * n;
            for (int64_t h = 0; h < n / group; ++h)
                cpu::rmsNorm(row + h * group, w.data(), group, m_c.rmsNormEps, row + h * group);
        });
        return {};
    }

    Expected<void> rope(RopeMode mode) override {
        const ModelConfig& c = m_c;
        forEachToken([&](int64_t t) {
            float* q = m_e.m_q.data() + t * c.qDim();
            float* k = m_e.m_k.data() + t * c.kvDim();
            // The row's cos/sin table (its session's position), built once per pass by ShardExecutor::run.
            // Gemma 3's window layers have a table of their own.
            const std::vector<float>& tables =
                c.usesWindowRope(m_layer) ? m_e.m_windowRopeTable : m_e.m_ropeTable;
            const float* table = tables.data() + t * c.ropeDimensions;
            if (mode == RopeMode::NeoX) {
                cpu::applyRopeNeox(q, c.headCount, c.headDim, c.ropeDimensions, table);
                cpu::applyRopeNeox(k, c.kvHeadCount, c.headDim, c.ropeDimensions, table);
            } else {
                cpu::applyRope(q, c.headCount, c.headDim, c.ropeDimensions, table);
                cpu::applyRope(k, c.kvHeadCount, c.headDim, c.ropeDimensions, table);
            }
        });
        return {};
    }

    Expected<void> scaleQueries() override {
        const ModelConfig& c = m_c;
        forEachToken([&](int64_t t) {
            const Segment& segment =
                m_segments[static_cast<size_t>(m_e.m_rowSegment[static_cast<size_t>(t)])];
            const float scale = c.queryTemperature(segment.startPos + (t - segment.firstRow));
            float* q = m_e.m_q.data() + t * c.qDim();
            for (int64_t i = 0; i < c.qDim(); ++i)
                q[i] *= scale;
        });
        return {};
    }

    Expected<void> attention(const AttentionMode& mode) override;

    Expected<void> gatedActivation(FfnActivation activation) override {
        gate(activation, m_e.m_gate.data(), m_e.m_up.data(), m_nTokens);
        return {};
    }

    Expected<void> add(LayerBuffer x, LayerBuffer y) override {
        cpu::addInPlace(buffer(x), buffer(y), m_nTokens * width(x));
        return {};
    }

    Expected<void> addScaled(LayerBuffer x, LayerBuffer y, float yScale) override {
        float* out = buffer(x);
        const float* in = buffer(y);
        // Two roundings (the build's -ffp-contract=off keeps them): ggml_scale's product, then ggml_add.
        for (int64_t i = 0, n = m_nTokens * width(x); i < n; ++i)
            out[i] += in[i] * yScale;
        return {};
    }

    Expected<void> experts(FfnActivation activation) override;

private:
    float* buffer(LayerBuffer b) const {
        switch (b) {
        case LayerBuffer::Hidden:
            return m_hidden;
        case LayerBuffer::Normed:
            return m_e.m_normed.data();
        case LayerBuffer::Q:
            return m_e.m_q.data();
        case LayerBuffer::K:
            return m_e.m_k.data();
        case LayerBuffer::V:
            return m_e.m_v.data();
        case LayerBuffer::AttnOut:
            return m_e.m_attnOut.data();
        case LayerBuffer::Proj:
            return m_e.m_proj.data();
        case LayerBuffer::Gate:
            return m_e.m_gate.data();
        case LayerBuffer::Up:
            return m_e.m_up.data();
        }
        return nullptr;
    }
    int64_t width(LayerBuffer b) const { return layerBufferWidth(m_c, b); }
    // Calls product(firstRow, rows, batchTokens) over all rows at once, or, for the last layer's
    // feed-forward products under LlamaCpp (m_lastRowAlone), over all rows but the last and then the last
    // alone as a batch of one.
    template <typename Product>
    void forRowRanges(bool feedForward, Product&& product) {
        if (feedForward && m_lastRowAlone) {
            if (m_nTokens > 1)
                product(int64_t{0}, m_nTokens - 1, m_batchTokens);
            product(m_nTokens - 1, int64_t{1}, int64_t{1});
        } else {
            product(int64_t{0}, m_nTokens, m_batchTokens);
        }
    }
    // Per-token steps of a batch run on the pool too (each token's values do not depend on the split).
    template <typename Step>
    void forEachToken(Step&& step) {
        m_e.m_pool.parallelFor(m_nTokens, 4, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t)
                step(t);
        });
    }
    // up[i] = act(gate[i]) * up[i] over `rows` rows of the feed-forward length.
    void gate(FfnActivation activation, const float* gateValues, float* up, int64_t rows) {
        const int64_t ff = m_c.feedForwardLength;
        if (activation == FfnActivation::SiLU)
            cpu::swiGluRows(gateValues, up, ff, rows, m_e.m_pool);
        else
            cpu::geluGlu(gateValues, up, rows * ff, m_e.m_pool);
    }

    ShardExecutor& m_e;
    const ModelConfig& m_c;
    std::span<const Segment> m_segments;
    float* m_hidden;
    int64_t m_nTokens;
    cpu::BatchRounding m_rounding;
    int64_t m_batchTokens; // under LlamaCpp: the llama.cpp batch these rows are a chunk of
    int64_t m_layer = 0;
    bool m_lastRowAlone = false; // see beginLayer
    const LayerWeights* m_w = nullptr;
};

void ShardExecutor::run(std::span<const Segment> segments, float* hidden, int64_t rows,
                        cpu::BatchRounding rounding, int64_t batchTokens) {
    const int64_t kvDim = m_config.kvDim();
    const int64_t ropeDims = m_config.ropeDimensions;
    const std::vector<float>& ropeFactors = m_weights->ropeFactors(m_maxContext);
    const float* factors = ropeFactors.empty() ? nullptr : ropeFactors.data();
    // One cos/sin table per row (its session's position), shared by every head and layer of this call.
    m_ropeTable.resize(static_cast<size_t>(rows * ropeDims));
    m_windowRopeTable.resize(m_config.separateWindowRope ? static_cast<size_t>(rows * ropeDims) : 0);
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
                           factors, m_config.ropeYarn, m_config.ropeAttnFactor,
                           m_ropeTable.data() + row * ropeDims);
            if (m_config.separateWindowRope) // never with YaRN (ModelConfig refuses the pair)
                cpu::ropeTable(segment.startPos + t, ropeDims, m_config.ropeFreqBaseWindow,
                               m_config.ropeFreqScaleWindow, factors, RopeYarn{}, m_config.ropeAttnFactor,
                               m_windowRopeTable.data() + row * ropeDims);
        }
    }
    CpuLayerOps ops(*this, segments, hidden, rows, rounding, batchTokens);
    for (int64_t layer = m_layers.begin; layer < m_layers.end; ++layer)
        (void)runLayerGraph(ops, m_config, m_weights->layer(layer), layer); // the CPU ops never fail
    for (const Segment& segment : segments)
        segment.cache->length = segment.startPos + segment.nTokens;
}

// Mixture of experts as llama.cpp's build_moe_ffn runs Mixtral: router logits, softmax over all experts, the
// top expert_used_count by probability, their probabilities renormalised to sum 1 (the sum clamped below
// as llama.cpp does), each chosen expert's SwiGLU FFN scaled by its weight, and the weighted outputs added
// in rank order. Tokens are grouped per expert so each expert's matrices are read once per batch.
Expected<void> ShardExecutor::CpuLayerOps::experts(FfnActivation activation) {
    ShardExecutor& x = m_e;
    const LayerWeights& w = *m_w;
    const int64_t nTokens = m_nTokens;
    const int64_t dim = m_c.embeddingLength;
    const int64_t ff = m_c.feedForwardLength;
    const int64_t experts = m_c.expertCount;
    const int64_t used = m_c.expertUsedCount;
    const auto n = static_cast<size_t>(nTokens);
    x.m_router.resize(n * static_cast<size_t>(experts));
    forRowRanges(true, [&](int64_t first, int64_t rows, int64_t batchTokens) {
        cpu::matmul(w.gateInp, x.m_normed.data() + first * dim, rows, x.m_router.data() + first * experts,
                    x.m_pool, x.m_actScratch, m_rounding, batchTokens);
    });
    x.m_slotExpert.resize(n * static_cast<size_t>(used));
    x.m_slotWeight.resize(n * static_cast<size_t>(used));
    x.m_slotOut.resize(n * static_cast<size_t>(used * dim));
    cpu::routeExperts(x.m_router.data(), nTokens, experts, used, x.m_slotExpert.data(),
                      x.m_slotWeight.data());
    // The experts' products run per row range of forRowRanges: in the model's last layer under LlamaCpp the
    // last row is an expert's only routed token, as in llama.cpp's one-row graph there (an IQ4_XS expert
    // with 8 or more routed tokens rounds otherwise).
    std::vector<int64_t> members; // (token, slot) pairs routed to the current expert, as t * used + s
    forRowRanges(true, [&](int64_t firstRow, int64_t rows, int64_t) {
        for (int64_t e = 0; e < experts; ++e) {
            members.clear();
            for (int64_t i = firstRow * used; i < (firstRow + rows) * used; ++i)
                if (x.m_slotExpert[static_cast<size_t>(i)] == e)
                    members.push_back(i);
            if (members.empty())
                continue;
            const auto count = static_cast<int64_t>(members.size());
            x.m_expertIn.resize(static_cast<size_t>(count * dim));
            for (int64_t m = 0; m < count; ++m) {
                const float* src = x.m_normed.data() + (members[static_cast<size_t>(m)] / used) * dim;
                std::copy(src, src + dim, x.m_expertIn.data() + m * dim);
            }
            const WeightMatrix gateMatrix = expertSlice(w.gateExps, e, experts);
            const WeightMatrix up = expertSlice(w.upExps, e, experts);
            const WeightMatrix down = expertSlice(w.downExps, e, experts);
            x.m_gate.resize(static_cast<size_t>(std::max(count, nTokens) * ff));
            x.m_up.resize(x.m_gate.size());
            const cpu::MatmulJob gateUp[] = {{&gateMatrix, x.m_gate.data()}, {&up, x.m_up.data()}};
            // llama.cpp's MUL_MAT_ID multiplies each routed token on its own (the repacked gemv for Q4_K),
            // never through its batch gemm, except that an IQ4_XS expert with 8 or more routed tokens takes
            // its IQ panel (LlamaCppExperts). AsDecode keeps decode's arithmetic throughout.
            const cpu::BatchRounding expertRounding = m_rounding == cpu::BatchRounding::LlamaCpp
                                                          ? cpu::BatchRounding::LlamaCppExperts
                                                          : cpu::BatchRounding::AsDecode;
            cpu::matmulShared(gateUp, x.m_expertIn.data(), count, x.m_pool, x.m_actScratch, expertRounding);
            gate(activation, x.m_gate.data(), x.m_up.data(), count);
            x.m_expertOut.resize(static_cast<size_t>(count * dim));
            cpu::matmul(down, x.m_up.data(), count, x.m_expertOut.data(), x.m_pool, x.m_actScratch,
                        expertRounding);
            for (int64_t m = 0; m < count; ++m) {
                const int64_t i = members[static_cast<size_t>(m)];
                const float weight = x.m_slotWeight[static_cast<size_t>(i)];
                const float* src = x.m_expertOut.data() + m * dim;
                float* dst = x.m_slotOut.data() + i * dim;
                for (int64_t d = 0; d < dim; ++d)
                    dst[d] = src[d] * weight;
            }
        }
    });
    for (int64_t t = 0; t < nTokens; ++t) {
        float* out = x.m_proj.data() + t * dim;
        const float* first = x.m_slotOut.data() + t * used * dim;
        std::copy(first, first + dim, out);
        for (int64_t s = 1; s < used; ++s)
            cpu::addInPlace(out, first + s * dim, dim);
    }
    return {};
}

namespace {

// llama.cpp's flash-attention tile (GGML_FA_TILE_Q and _KV): batches of this many queries or more take its
// tiled path, which steps the keys in tiles of this many positions.
constexpr int64_t kLlamaAttentionTile = 64;
// From this many (padded) cache cells llama.cpp splits a one-token attention across its threads.
constexpr int64_t kLlamaSplitKvMinCells = 512;

// One (token, head) of llama.cpp's tiled flash attention (CpuLayerOps::attention says when it runs): keys
// and values point at the head's part of cache row 0, rows kvStride values apart; the row sees positions
// [first, visible). scratch holds headDim + kLlamaAttentionTile floats. The score chains and the value
// sums come from the kernel table.
void tiledAttentionRow(const cpu::KernelTable& kernels, const float* query, const uint16_t* keys,
                       const uint16_t* values, int64_t kvStride, int64_t first, int64_t visible,
                       int64_t headDim, float scale, float softCap, float* scratch, float* out) {
    float* accumulator = scratch;
    float* scores = scratch + headDim;
    std::fill(accumulator, accumulator + headDim, 0.0f);
    float maxScore = -INFINITY;
    float sum = 0.0f;
    for (int64_t tile = first / kLlamaAttentionTile * kLlamaAttentionTile; tile < visible;
         tile += kLlamaAttentionTile) {
        // The tile's visible keys are one run [low, high); the rest are masked.
        const int64_t low = std::max<int64_t>(first - tile, 0);
        const int64_t high = std::min<int64_t>(visible - tile, kLlamaAttentionTile);
        if (low >= high)
            continue;
        std::fill(scores, scores + low, -INFINITY);
        std::fill(scores + high, scores + kLlamaAttentionTile, -INFINITY);
        kernels.fmaChainScoresF16(query, keys + (tile + low) * kvStride, kvStride, high - low, headDim,
                                  scores + low);
        float tileMax = -INFINITY;
        for (int64_t i = low; i < high; ++i) {
            float score = scores[i] * scale;
            if (softCap > 0.0f)
                score = std::tanh(score) * softCap;
            scores[i] = score;
            tileMax = std::max(tileMax, score);
        }
        if (tileMax == -INFINITY)
            continue;
        const float newMax = std::fmax(maxScore, tileMax);
        if (newMax > maxScore) {
            const float rescale = std::exp(maxScore - newMax);
            for (int64_t d = 0; d < headDim; ++d)
                accumulator[d] *= rescale;
            sum *= rescale;
        }
        maxScore = newMax;
        sum = static_cast<float>(static_cast<double>(sum) +
                                 cpu::expSumGgml(scores, scores, kLlamaAttentionTile, newMax));
        // Masked keys have weight 0 and add nothing: only the visible run is summed.
        kernels.fmaAccumulateRowsF16(accumulator, scores + low, values + (tile + low) * kvStride, kvStride,
                                     high - low, headDim);
    }
    const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int64_t d = 0; d < headDim; ++d)
        out[d] = accumulator[d] * inverse;
}

} // namespace

Expected<void> ShardExecutor::CpuLayerOps::attention(const AttentionMode& mode) {
    ShardExecutor& x = m_e;
    const ModelConfig& c = m_c;
    const int64_t nTokens = m_nTokens;
    const std::span<const Segment> segments = m_segments;
    const auto layerSlot = static_cast<size_t>(m_layer - x.m_layers.begin);
    const int64_t headDim = c.headDim;
    const int64_t qDim = c.qDim();
    const int64_t kvDim = c.kvDim();
    const int64_t group = c.headCount / c.kvHeadCount;
    const cpu::KernelTable& kernels = cpu::activeKernels();

    // Pre-scaled queries (gemma2) are multiplied in F32 before anything rounds them.
    if (mode.queryPreScaled)
        forEachToken([&](int64_t t) {
            float* q = x.m_q.data() + t * qDim;
            for (int64_t i = 0; i < qDim; ++i)
                q[i] *= mode.scale;
        });
    // The new keys and values go into each session's F16 cache at its positions.
    for (const Segment& segment : segments) {
        const int64_t offset = segment.firstRow * kvDim;
        const int64_t count = segment.nTokens * kvDim;
        kernels.toF16(x.m_k.data() + offset, segment.cache->keys[layerSlot].data() + segment.startPos * kvDim,
                      count);
        kernels.toF16(x.m_v.data() + offset,
                      segment.cache->values[layerSlot].data() + segment.startPos * kvDim, count);
    }

    // Queries pre-scaled by the graph are scored with scale 1. With soft-capping, as in llama.cpp's flash
    // attention, the scale is divided by the cap and the score becomes cap * tanh(score).
    const float softCap = mode.softCap;
    const float kqScale = mode.queryPreScaled ? 1.0f : mode.scale;
    const float scale = softCap > 0.0f ? kqScale / softCap : kqScale;
    // A sliding-window layer sees the last `window` positions, its own included.
    const int64_t window = mode.window;
    // Per thread: the tiled path's accumulator and tile scores, or the one-query path's query, accumulator
    // and combined chunks.
    const int64_t scratchPerThread = headDim * 3 + kLlamaAttentionTile;
    x.m_scores.resize(static_cast<size_t>(x.m_pool.threadCount() * scratchPerThread));
    // Each row attends to its own session's cache for this layer, up to its own position (and, with a
    // sliding window, from `window` positions back).
    struct RowView {
        const uint16_t* keys;
        const uint16_t* values;
        int64_t first;
        int64_t visible;
    };
    const auto rowView = [&](int64_t t) {
        const Segment& segment = segments[static_cast<size_t>(x.m_rowSegment[static_cast<size_t>(t)])];
        const int64_t visible = segment.startPos + (t - segment.firstRow) + 1;
        return RowView{segment.cache->keys[layerSlot].data(), segment.cache->values[layerSlot].data(),
                       window > 0 ? std::max<int64_t>(0, visible - window) : 0, visible};
    };

    // llama.cpp evaluates a batch of 64 or more queries with its tiled flash attention
    // (ggml_compute_forward_flash_attn_ext_tiled) when the head size is a multiple of its F32 vector width;
    // under LlamaCpp such a batch takes those floats: the query in F32, each score one FMA chain over the
    // head's values, times the scale (soft-capping: tanh, times the cap), keys in tiles of 64 positions from
    // position 0, per tile the running maximum and sum (ggml_vec_soft_max_f32: the table's exp and sums) and
    // the values added to an F32 accumulator in one FMA chain per dimension, divided by the sum at the end.
    if (m_rounding == cpu::BatchRounding::LlamaCpp && m_batchTokens >= kLlamaAttentionTile &&
        headDim % kernels.llamaSgemmF32Lanes == 0) {
        x.m_pool.parallelFor(nTokens * c.headCount, 1, [&](int64_t begin, int64_t end, int thread) {
            float* scratch = x.m_scores.data() + thread * scratchPerThread;
            for (int64_t item = begin; item < end; ++item) {
                const int64_t t = item / c.headCount;
                const int64_t h = item % c.headCount;
                const int64_t kvHead = h / group;
                const RowView row = rowView(t);
                tiledAttentionRow(kernels, x.m_q.data() + t * qDim + h * headDim, row.keys + kvHead * headDim,
                                  row.values + kvHead * headDim, kvDim, row.first, row.visible, headDim,
                                  scale, softCap, scratch, x.m_attnOut.data() + t * qDim + h * headDim);
            }
        });
        return {};
    }

    // Single-pass ("flash") attention with an online softmax, parallel over (token, head) pairs; each
    // pair attends causally to positions [0, startPos + t]. The numerics are llama.cpp's CPU path
    // (ggml_compute_forward_flash_attn_ext_f16_one_chunk): the query is rounded to F16 to meet the F16
    // keys, the weighted sum of F16 values is kept in F16 (acc + v * w in one FMA, then rounded) and
    // rescaled whenever a new maximum score appears; the running sum S * ms + vs is one FMA, as GCC
    // contracts it in a -march=native build of llama.cpp (node-llama-cpp's prebuilt CPU variants do not,
    // and differ from it there by an ulp). With the AVX-512 kernel table this gives that build's floats
    // exactly (tests/gpu/tst_parity.cpp, long generations). The per-row pieces come from the active table.
    //
    // A decode row (one token, as llama.cpp decodes it) whose padded cache length n_kv reaches 512 takes
    // llama.cpp's split-KV path instead: the n_kv cells in kLlamaReferenceThreads equal chunks, each
    // chunk's maximum, sum and F16 accumulator as above, then combined in chunk order (V = V * so + Vc * sn
    // and S = S * so + Sc * sn, each one FMA over the second product as that build compiles it) and
    // divided by the sum. Cell i holds position i (one sequence, written in order).
    const bool decodeRows = m_rounding == cpu::BatchRounding::AsDecode;
    x.m_pool.parallelFor(nTokens * c.headCount, 1, [&](int64_t begin, int64_t end, int thread) {
        float* q = x.m_scores.data() + thread * scratchPerThread;
        float* accumulator = q + headDim;
        float* combined = accumulator + headDim;
        for (int64_t item = begin; item < end; ++item) {
            const int64_t t = item / c.headCount;
            const int64_t h = item % c.headCount;
            const int64_t kvHead = h / group;
            const RowView row = rowView(t);
            const float* query = x.m_q.data() + t * qDim + h * headDim;
            kernels.roundF16(query, q, headDim);
            // Positions [from, to) into `accumulator`, with their maximum score and sum.
            const auto attend = [&](int64_t from, int64_t to, float& maxScore, float& sum) {
                std::fill(accumulator, accumulator + headDim, 0.0f);
                maxScore = -INFINITY;
                sum = 0.0f;
                for (int64_t j = from; j < to; ++j) {
                    const uint16_t* k = row.keys + j * kvDim + kvHead * headDim;
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
                    const uint16_t* v = row.values + j * kvDim + kvHead * headDim;
                    kernels.accumulateF16(accumulator, v, weight, headDim);
                    sum = std::fma(sum, oldScale, weight);
                }
            };
            float* out = x.m_attnOut.data() + t * qDim + h * headDim;
            const int64_t paddedCells = std::max(kLlamaKvPadding, (row.visible + kLlamaKvPadding - 1) /
                                                                      kLlamaKvPadding * kLlamaKvPadding);
            if (!decodeRows || paddedCells < kLlamaSplitKvMinCells) {
                float maxScore = 0.0f;
                float sum = 0.0f;
                attend(row.first, row.visible, maxScore, sum);
                const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
                for (int64_t d = 0; d < headDim; ++d)
                    out[d] = accumulator[d] * inverse;
                continue;
            }
            const int64_t chunk = (paddedCells + kLlamaReferenceThreads - 1) / kLlamaReferenceThreads;
            std::fill(combined, combined + headDim, 0.0f);
            float combinedMax = -INFINITY;
            float combinedSum = 0.0f;
            for (int64_t chunkBegin = 0; chunkBegin < paddedCells; chunkBegin += chunk) {
                const int64_t from = std::max(chunkBegin, row.first);
                const int64_t to = std::min(chunkBegin + chunk, row.visible);
                if (from >= to)
                    continue; // every cell masked: a sum of 0, which the combination skips
                float chunkMax = 0.0f;
                float chunkSum = 0.0f;
                attend(from, to, chunkMax, chunkSum);
                if (chunkSum == 0.0f)
                    continue;
                const float newMax = std::fmax(combinedMax, chunkMax);
                const float oldScale = std::exp(combinedMax - newMax);
                const float newScale = std::exp(chunkMax - newMax);
                for (int64_t d = 0; d < headDim; ++d)
                    combined[d] = std::fma(combined[d], oldScale, accumulator[d] * newScale);
                combinedSum = std::fma(combinedSum, oldScale, chunkSum * newScale);
                combinedMax = newMax;
            }
            const float inverse = combinedSum != 0.0f ? 1.0f / combinedSum : 1.0f;
            for (int64_t d = 0; d < headDim; ++d)
                out[d] = combined[d] * inverse;
        }
    });
    return {};
}

} // namespace declai
