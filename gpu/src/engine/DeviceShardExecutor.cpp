#include "declai/gpu/DeviceShardExecutor.h"

#include "declai/core/Quant.h"
#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/LayerGraph.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <tuple>

namespace declai {
namespace {

// KV caches grow in steps of at least this many tokens (and by doubling), so a long decode reallocates
// O(log n) times while a short session does not reserve the whole context.
constexpr int64_t kCacheGrowTokens = 256;

std::string layerRangeText(LayerRange layers) {
    return std::string("[")
        .append(std::to_string(layers.begin))
        .append(", ")
        .append(std::to_string(layers.end))
        .append(")");
}

// The CPU reference engine behind the ShardBackend interface (numerics untouched).
class CpuShardBackend final : public ShardBackend {
public:
    explicit CpuShardBackend(std::unique_ptr<ShardExecutor> executor) : m_executor(std::move(executor)) {}
    LayerRange layers() const override { return m_executor->layers(); }
    int64_t hiddenSize() const override { return m_executor->hiddenSize(); }
    int64_t maxContext() const override { return m_executor->maxContext(); }
    std::string deviceName() const override { return "cpu:0"; }
    Expected<void> forward(SessionId session, int64_t startPos, std::span<float> hidden,
                           int64_t nTokens) override {
        return m_executor->forward(session, startPos, hidden, nTokens);
    }
    std::vector<Expected<void>> forwardBatch(std::span<const BatchPart> parts) override {
        return m_executor->forwardBatch(parts);
    }
    void setBatchRounding(cpu::BatchRounding rounding) override { m_executor->setBatchRounding(rounding); }
    int64_t sessionLength(SessionId session) const override { return m_executor->sessionLength(session); }
    void truncateSession(SessionId session, int64_t length) override {
        m_executor->truncateSession(session, length);
    }
    void endSession(SessionId session) override { m_executor->endSession(session); }
    size_t sessionCount() const override { return m_executor->sessionCount(); }
    uint64_t kvBytesPerToken() const override { return m_executor->kvBytesPerToken(); }

private:
    std::unique_ptr<ShardExecutor> m_executor;
};

} // namespace

// ---- DeviceShardExecutor ----

Expected<std::unique_ptr<DeviceShardExecutor>>
DeviceShardExecutor::create(std::shared_ptr<const ModelWeights> weights, LayerRange layers,
                            std::unique_ptr<gpu::Device> device, int64_t maxContext) {
    if (!weights || !device)
        return makeError(ErrorCode::InvalidArgument, "DeviceShardExecutor needs weights and a device");
    const ModelConfig& c = weights->config();
    if (layers.begin < 0 || layers.end > c.layerCount || layers.begin >= layers.end)
        return makeError(ErrorCode::InvalidArgument, std::string("layer range ")
                                                         .append(layerRangeText(layers))
                                                         .append(" is not within the model's ")
                                                         .append(std::to_string(c.layerCount))
                                                         .append(" layers"));
    // The ops an architecture's options need beyond the llama layer; a backend without them refuses the
    // model by name.
    const auto needs = [&](gpu::OpKind op, TensorType type, const char* feature) -> Expected<void> {
        if (auto r = device->supportsOp(op, type); !r)
            return makeError(ErrorCode::Unsupported, std::string("device ")
                                                         .append(device->id().toString())
                                                         .append(": architecture '")
                                                         .append(c.architecture)
                                                         .append("' needs ")
                                                         .append(feature)
                                                         .append(", which runs on the CPU only here (")
                                                         .append(r.error().message)
                                                         .append(")"));
        return {};
    };
    const std::tuple<bool, gpu::OpKind, TensorType, const char*> requirements[] = {
        {c.spec && c.spec->rope == RopeMode::NeoX, gpu::OpKind::RopeNeox, TensorType::F32, "NeoX RoPE"},
        {c.has(LayerTensor::Bq) || c.has(LayerTensor::Bk) || c.has(LayerTensor::Bv), gpu::OpKind::AddBias,
         TensorType::F32, "Q/K/V biases"},
        {c.spec && c.spec->activation == FfnActivation::GeluTanh, gpu::OpKind::GeluGlu, TensorType::F32,
         "a GELU-gated FFN"},
        {c.attentionSoftCap > 0.0f || c.slidingWindow > 0, gpu::OpKind::AttentionCapWindow, TensorType::F32,
         "attention soft-capping or a sliding window"},
        // Routed tokens are gathered from the normed activations with getRows on a float table; the
        // weighted expert outputs are combined on the device (scatter into slots, then a sum per token).
        {c.expertCount > 0, gpu::OpKind::GetRows, TensorType::F32, "experts"},
        {c.expertCount > 0, gpu::OpKind::ScatterScaledRows, TensorType::F32, "experts"},
        {c.expertCount > 0, gpu::OpKind::SumRowGroups, TensorType::F32, "experts"},
    };
    for (const auto& [required, op, type, feature] : requirements)
        if (required)
            if (auto r = needs(op, type, feature); !r)
                return r.error();
    if (c.ropeDimensions % 2 != 0 || c.ropeDimensions > c.headDim || c.headCount % c.kvHeadCount != 0)
        return makeError(ErrorCode::Unsupported, "the model's attention shape is not supported on devices");
    if (maxContext <= 0)
        maxContext = c.contextLength;
    std::unique_ptr<DeviceShardExecutor> executor(
        new DeviceShardExecutor(std::move(weights), layers, std::move(device), maxContext));
    if (auto r = executor->uploadWeights(); !r)
        return r.error();
    return executor;
}

DeviceShardExecutor::DeviceShardExecutor(std::shared_ptr<const ModelWeights> weights, LayerRange layers,
                                         std::unique_ptr<gpu::Device> device, int64_t maxContext)
    : m_weights(std::move(weights)), m_config(m_weights->config()), m_layers(layers),
      m_maxContext(maxContext), m_device(std::move(device)) {}

DeviceShardExecutor::~DeviceShardExecutor() {
    // Buffers must go before their device; wait for queued work first so nothing still reads them.
    (void)m_device->synchronize();
    m_sessions.clear();
    m_act = Activations{};
    m_deviceLayers.clear();
}

Expected<std::unique_ptr<gpu::DeviceBuffer>>
DeviceShardExecutor::uploadFloats(const std::vector<float>& values) {
    const uint64_t bytes = values.size() * sizeof(float);
    auto buffer = m_device->allocate(bytes);
    if (!buffer)
        return buffer.error();
    if (auto r = m_device->upload(**buffer, 0, values.data(), bytes); !r)
        return r.error();
    m_weightBytes += bytes;
    return buffer;
}

Expected<DeviceShardExecutor::DeviceMatrix> DeviceShardExecutor::uploadMatrix(const WeightMatrix& matrix) {
    // Devices read the file's row layout; a copy re-laid for the CPU kernels (ModelWeights::makeResident)
    // would upload as other values.
    if (matrix.layout != WeightLayout::Rows)
        return makeError(
            ErrorCode::InvalidArgument,
            std::string("device ")
                .append(m_device->id().toString())
                .append(": the weights were re-laid for the CPU kernels; load them afresh for a device"));
    if (auto r = m_device->supportsOp(gpu::OpKind::MatMul, matrix.type); !r)
        return makeError(
            ErrorCode::Unsupported,
            std::string("device ").append(m_device->id().toString()).append(": ").append(r.error().message));
    DeviceMatrix result;
    result.desc = gpu::MatrixDesc{matrix.type, matrix.rows, matrix.cols};
    const uint64_t bytes = static_cast<uint64_t>(matrix.rows) * matrix.rowBytes;
    auto buffer = m_device->allocate(bytes);
    if (!buffer)
        return buffer.error();
    if (auto r = m_device->upload(**buffer, 0, matrix.data, bytes); !r)
        return r.error();
    m_weightBytes += bytes;
    result.buffer = std::move(*buffer);
    return result;
}

Expected<void> DeviceShardExecutor::uploadWeights() {
    const ModelConfig& c = m_config;
    std::vector<float> ropeFactors = m_weights->ropeFactors(m_maxContext);
    if (c.ropeYarn.enabled())
        ropeFactors = c.ropeYarn.foldIntoFactors(ropeFactors, c.ropeDimensions / 2, c.ropeFreqScale);
    if (!ropeFactors.empty()) {
        auto factors = uploadFloats(ropeFactors);
        if (!factors)
            return factors.error();
        m_ropeFactors = std::move(*factors);
    }
    m_deviceLayers.resize(static_cast<size_t>(m_layers.size()));
    for (int64_t layer = m_layers.begin; layer < m_layers.end; ++layer) {
        const LayerWeights& w = m_weights->layer(layer);
        DeviceLayer& d = m_deviceLayers[static_cast<size_t>(layer - m_layers.begin)];
        const std::pair<std::unique_ptr<gpu::DeviceBuffer>*, const std::vector<float>*> vectors[] = {
            {&d.attnNorm, &w.attnNorm},
            {&d.ffnNorm, &w.ffnNorm},
            {&d.bq, &w.bq},
            {&d.bk, &w.bk},
            {&d.bv, &w.bv},
            {&d.qNorm, &w.qNorm},
            {&d.kNorm, &w.kNorm},
            {&d.postAttnNorm, &w.postAttnNorm},
            {&d.postFfnNorm, &w.postFfnNorm}};
        for (const auto& [dst, src] : vectors) {
            if (src->empty())
                continue;
            auto b = uploadFloats(*src);
            if (!b)
                return b.error();
            *dst = std::move(*b);
        }
        std::vector<std::pair<DeviceMatrix*, WeightMatrix>> matrices;
        const auto add = [&](DeviceMatrix* dst, const WeightMatrix& src) { matrices.emplace_back(dst, src); };
        add(&d.wo, w.wo);
        if (w.wqkv.data) {
            const int64_t qDim = c.qDim();
            const int64_t kvDim = c.kvDim();
            add(&d.wq, rowSlice(w.wqkv, 0, qDim));
            add(&d.wk, rowSlice(w.wqkv, qDim, kvDim));
            add(&d.wv, rowSlice(w.wqkv, qDim + kvDim, kvDim));
        } else {
            add(&d.wq, w.wq);
            add(&d.wk, w.wk);
            add(&d.wv, w.wv);
        }
        if (c.expertCount > 0) {
            add(&d.router, w.gateInp);
            d.experts.resize(static_cast<size_t>(c.expertCount));
            for (int64_t e = 0; e < c.expertCount; ++e) {
                Expert& x = d.experts[static_cast<size_t>(e)];
                add(&x.gate, expertSlice(w.gateExps, e, c.expertCount));
                add(&x.up, expertSlice(w.upExps, e, c.expertCount));
                add(&x.down, expertSlice(w.downExps, e, c.expertCount));
            }
        } else if (c.spec && c.spec->fusedGateUp) { // ffn_up holds [gate | up] rows
            const int64_t ff = c.feedForwardLength;
            add(&d.wGate, rowSlice(w.wUp, 0, ff));
            add(&d.wUp, rowSlice(w.wUp, ff, ff));
            add(&d.wDown, w.wDown);
        } else {
            add(&d.wGate, w.wGate);
            add(&d.wUp, w.wUp);
            add(&d.wDown, w.wDown);
        }
        for (const auto& [dst, src] : matrices) {
            auto m = uploadMatrix(src);
            if (!m)
                return m.error();
            *dst = std::move(*m);
        }
    }
    // Uploads are blocking, but a device may still be copying from a staging area: make sure the shard is
    // resident before the first forward is timed or fails late.
    return m_device->synchronize();
}

Expected<void> DeviceShardExecutor::reserveActivations(int64_t nTokens) {
    if (nTokens <= m_act.capacityTokens)
        return {};
    const ModelConfig& c = m_config;
    const auto floats = [&](int64_t perToken) {
        return static_cast<uint64_t>(perToken * nTokens) * sizeof(float);
    };
    Activations next;
    next.capacityTokens = nTokens;
    const std::pair<std::unique_ptr<gpu::DeviceBuffer>*, int64_t> buffers[] = {
        {&next.hidden, c.embeddingLength},
        {&next.normed, c.embeddingLength},
        {&next.q, c.qDim()},
        {&next.k, c.kvDim()},
        {&next.v, c.kvDim()},
        {&next.attnOut, c.qDim()},
        {&next.proj, c.embeddingLength},
        {&next.gate, c.feedForwardLength},
        {&next.up, c.feedForwardLength},
        // Q8_1's layout (the values, then their block sums) is the largest roundActivations writes.
        {&next.rounded,
         gpu::roundedActivationFloats(TensorType::Q4_1,
                                      std::max({c.embeddingLength, c.qDim(), c.feedForwardLength}), 1)},
        {&next.qNormed, c.has(LayerTensor::QNorm) ? c.qDim() : 0},
        {&next.kNormed, c.has(LayerTensor::KNorm) ? c.kvDim() : 0},
        {&next.router, c.expertCount},
        {&next.expertIn, c.expertCount > 0 ? c.embeddingLength : 0},
        {&next.expertOut, c.expertCount > 0 ? c.embeddingLength : 0},
        {&next.slots, c.expertCount > 0 ? c.expertUsedCount * c.embeddingLength : 0},
        // Per (token, slot): the routing weight (a float), then the slot's place in expert order (an int32).
        {&next.routing, c.expertCount > 0 ? 2 * c.expertUsedCount : 0},
        {&next.scaled, c.residualScale != 1.0f ? c.embeddingLength : 0},
        {&next.residualScales, c.residualScale != 1.0f ? 2 : 0},
        {&next.qScaled, c.attentionTemperatureScale != 0.0f ? c.qDim() : 0},
        {&next.queryScales, c.attentionTemperatureScale != 0.0f ? 2 : 0}};
    // Old buffers may still be read by queued work on some backends; finish it before dropping them.
    if (auto r = m_device->synchronize(); !r)
        return r;
    m_act = Activations{};
    m_roundedFrom = nullptr;
    for (const auto& [dst, perToken] : buffers) {
        if (perToken == 0)
            continue; // not used by this model
        auto b = m_device->allocate(floats(perToken));
        if (!b)
            return b.error();
        *dst = std::move(*b);
    }
    if (next.residualScales) {
        std::vector<float> table(static_cast<size_t>(2 * nTokens), c.residualScale);
        for (int64_t row = 0; row < nTokens; ++row) {
            const auto index = static_cast<int32_t>(row);
            std::memcpy(&table[static_cast<size_t>(nTokens + row)], &index, sizeof index);
        }
        if (auto r = m_device->upload(*next.residualScales, 0, table.data(), table.size() * sizeof(float));
            !r)
            return r;
    }
    if (next.queryScales) { // the rows' own indices; the temperatures come with each pass
        std::vector<int32_t> rows(static_cast<size_t>(nTokens));
        std::iota(rows.begin(), rows.end(), 0);
        if (auto r = m_device->upload(*next.queryScales, static_cast<uint64_t>(nTokens) * sizeof(float),
                                      rows.data(), rows.size() * sizeof(int32_t));
            !r)
            return r;
    }
    m_act = std::move(next);
    return {};
}

Expected<void> DeviceShardExecutor::reserveCache(KvCache& cache, int64_t tokens) {
    if (tokens <= cache.capacityTokens && !cache.keys.empty())
        return {};
    const int64_t capacity =
        std::min(m_maxContext, std::max({tokens, kCacheGrowTokens, cache.capacityTokens * 2}));
    const uint64_t rowBytes = static_cast<uint64_t>(m_config.kvDim()) * sizeof(uint16_t);
    const uint64_t keptBytes = static_cast<uint64_t>(cache.length) * rowBytes;
    const size_t layerCount = static_cast<size_t>(m_layers.size());
    cache.keys.resize(layerCount);
    cache.values.resize(layerCount);
    // Growing copies the filled rows through the host: DeviceOps has no device-to-device copy, and this
    // happens O(log context) times per session.
    std::vector<std::byte> staging(static_cast<size_t>(keptBytes));
    for (size_t slot = 0; slot < layerCount; ++slot) {
        for (auto* side : {&cache.keys[slot], &cache.values[slot]}) {
            auto grown = m_device->allocate(static_cast<uint64_t>(capacity) * rowBytes);
            if (!grown)
                return grown.error();
            if (keptBytes > 0 && *side) {
                if (auto r = m_device->download(**side, 0, staging.data(), keptBytes); !r)
                    return r;
                if (auto r = m_device->upload(**grown, 0, staging.data(), keptBytes); !r)
                    return r;
            }
            *side = std::move(*grown);
        }
    }
    cache.capacityTokens = capacity;
    return {};
}

int64_t DeviceShardExecutor::sessionLength(SessionId session) const {
    auto it = m_sessions.find(session);
    return it == m_sessions.end() ? 0 : it->second.length;
}

void DeviceShardExecutor::truncateSession(SessionId session, int64_t length) {
    auto it = m_sessions.find(session);
    if (it == m_sessions.end() || length >= it->second.length)
        return;
    // Rows past the new length are simply overwritten by the next forward.
    it->second.length = std::max<int64_t>(0, length);
}

void DeviceShardExecutor::endSession(SessionId session) {
    auto it = m_sessions.find(session);
    if (it == m_sessions.end())
        return;
    // Queued attention may still read this cache on asynchronous backends.
    (void)m_device->synchronize();
    m_sessions.erase(it);
}

uint64_t DeviceShardExecutor::kvBytesPerToken() const {
    return static_cast<uint64_t>(m_layers.size()) * 2u * static_cast<uint64_t>(m_config.kvDim()) *
           sizeof(uint16_t);
}

// LayerOps on the device: one session's rows, activations in device buffers, each product's input rounded
// as the CPU engine rounds it (matMul).
class DeviceShardExecutor::DeviceLayerOps final : public LayerOps {
public:
    DeviceLayerOps(DeviceShardExecutor& executor, KvCache& cache, int64_t startPos, int64_t nTokens)
        : m_e(executor), m_c(executor.m_config), m_d(*executor.m_device), m_a(executor.m_act), m_cache(cache),
          m_startPos(startPos), m_nTokens(nTokens) {}

    Expected<void> beginLayer(int64_t layer) override {
        m_slot = static_cast<size_t>(layer - m_e.m_layers.begin);
        m_layer = layer;
        m_w = &m_e.m_deviceLayers[m_slot];
        m_q = m_a.q.get();
        m_k = m_a.k.get();
        return {};
    }

    Expected<void> rmsNorm(LayerBuffer x, LayerTensor weight, LayerBuffer out) override {
        return m_d.rmsNorm(buffer(x), *vector(weight), buffer(out), m_c.embeddingLength, m_nTokens,
                           m_c.rmsNormEps);
    }

    Expected<void> project(LayerBuffer input, std::span<const LayerProduct> products) override {
        m_e.m_roundedFrom = nullptr; // the input may have been rewritten since the last product
        for (const LayerProduct& product : products)
            if (auto r = m_e.matMul(matrix(product.matrix), buffer(input), m_nTokens, buffer(product.out));
                !r)
                return r;
        return {};
    }

    Expected<void> projectSplit(LayerBuffer input, LayerTensor matrix,
                                std::span<const LayerBuffer> outs) override {
        // Fused matrices were uploaded as their row slices (uploadWeights): one product per slice.
        const DeviceMatrix* slices[3] = {};
        size_t count = 0;
        if (matrix == LayerTensor::Wqkv) {
            slices[0] = &m_w->wq;
            slices[1] = &m_w->wk;
            slices[2] = &m_w->wv;
            count = 3;
        } else if (matrix == LayerTensor::Up) {
            slices[0] = &m_w->wGate;
            slices[1] = &m_w->wUp;
            count = 2;
        }
        if (count != outs.size())
            return makeError(ErrorCode::Internal, "a fused product's outputs do not match its slices");
        m_e.m_roundedFrom = nullptr;
        for (size_t i = 0; i < count; ++i)
            if (auto r = m_e.matMul(*slices[i], buffer(input), m_nTokens, buffer(outs[i])); !r)
                return r;
        return {};
    }

    Expected<void> addBias(LayerBuffer x, LayerTensor bias) override {
        return m_d.addBias(buffer(x), *vector(bias), m_nTokens, width(x));
    }

    Expected<void> headNorm(LayerBuffer x, LayerTensor weight) override {
        // Written to a second buffer (the op does not run in place), which stands for Q or K from here on.
        const bool isQ = x == LayerBuffer::Q;
        gpu::DeviceBuffer*& current = isQ ? m_q : m_k;
        gpu::DeviceBuffer* normed = isQ ? m_a.qNormed.get() : m_a.kNormed.get();
        // Groups as wide as the weight: each head (qwen3) or the whole row (olmo2).
        const auto group = static_cast<int64_t>(m_e.m_weights->layer(m_layer).vector(weight)->size());
        const int64_t rowWidth = isQ ? m_c.qDim() : m_c.kvDim();
        if (auto r = m_d.rmsNorm(*current, *vector(weight), *normed, group, m_nTokens * (rowWidth / group),
                                 m_c.rmsNormEps);
            !r)
            return r;
        current = normed;
        return {};
    }

    Expected<void> rope(RopeMode mode) override {
        gpu::RopeParams rope{m_nTokens,
                             m_c.headCount,
                             m_c.headDim,
                             m_c.ropeDimensions,
                             m_startPos,
                             m_c.ropeBaseOf(m_layer),
                             m_c.ropeYarn.enabled() ? 1.0f : m_c.ropeScaleOf(m_layer), // YaRN: in the factors
                             mode == RopeMode::NeoX,
                             m_e.m_ropeFactors.get(),
                             m_c.ropeAttnFactor};
        if (auto r = m_d.rope(*m_q, rope); !r)
            return r;
        rope.heads = m_c.kvHeadCount;
        return m_d.rope(*m_k, rope);
    }

    Expected<void> attention(const AttentionMode& mode) override {
        // The CPU engine multiplies pre-scaled queries (gemma2) by the scale before scoring them with scale
        // 1; here the scale is folded into the scores (the query's F16 rounding then sees unscaled values, a
        // difference well inside the device bar). Soft-capping divides the scale by the cap, as llama.cpp.
        gpu::AttentionParams params{m_nTokens,       m_startPos,  m_c.headCount,
                                    m_c.kvHeadCount, m_c.headDim, m_cache.capacityTokens,
                                    mode.scale,      true};
        if (mode.softCap > 0.0f) {
            params.softCap = mode.softCap;
            params.scale = mode.scale / mode.softCap;
        }
        params.window = mode.window;
        return m_d.attention(*m_q, *m_k, *m_a.v, *m_cache.keys[m_slot], *m_cache.values[m_slot], *m_a.attnOut,
                             params);
    }

    Expected<void> gatedActivation(FfnActivation activation) override {
        return m_e.gatedActivation(activation, *m_a.gate, *m_a.up, m_nTokens * m_c.feedForwardLength);
    }

    Expected<void> add(LayerBuffer x, LayerBuffer y) override {
        return m_d.add(buffer(x), buffer(y), m_nTokens * width(x));
    }

    // y's rows times the scale into `scaled` (one float multiply per value, ggml_scale), then the add.
    Expected<void> addScaled(LayerBuffer x, LayerBuffer y, float yScale) override {
        if (!m_a.scaled || yScale != m_c.residualScale)
            return makeError(ErrorCode::Internal, "addScaled: only the model's residual scale is prepared");
        if (auto r = m_d.scatterScaledRows(buffer(y), *m_a.residualScales, m_a.capacityTokens, m_nTokens,
                                           *m_a.residualScales, *m_a.scaled, m_nTokens, width(y));
            !r)
            return r;
        return m_d.add(buffer(x), *m_a.scaled, m_nTokens * width(x));
    }

    Expected<void> experts(FfnActivation activation) override {
        return m_e.expertFfn(*m_w, activation, m_nTokens);
    }

    // Q's rows times their temperatures (uploaded by forward) into qScaled, which then stands for Q.
    Expected<void> scaleQueries() override {
        if (!m_a.qScaled)
            return makeError(ErrorCode::Internal, "scaleQueries: the model has no query temperature");
        if (auto r = m_d.scatterScaledRows(*m_q, *m_a.queryScales, m_a.capacityTokens, m_nTokens,
                                           *m_a.queryScales, *m_a.qScaled, m_nTokens, m_c.qDim());
            !r)
            return r;
        m_q = m_a.qScaled.get();
        return {};
    }

private:
    gpu::DeviceBuffer& buffer(LayerBuffer b) const {
        switch (b) {
        case LayerBuffer::Hidden:
            return *m_a.hidden;
        case LayerBuffer::Normed:
            return *m_a.normed;
        case LayerBuffer::Q:
            return *m_q;
        case LayerBuffer::K:
            return *m_k;
        case LayerBuffer::V:
            return *m_a.v;
        case LayerBuffer::AttnOut:
            return *m_a.attnOut;
        case LayerBuffer::Proj:
            return *m_a.proj;
        case LayerBuffer::Gate:
            return *m_a.gate;
        case LayerBuffer::Up:
            break;
        }
        return *m_a.up;
    }
    int64_t width(LayerBuffer b) const { return layerBufferWidth(m_c, b); }
    const gpu::DeviceBuffer* vector(LayerTensor role) const {
        switch (role) {
        case LayerTensor::AttnNorm:
            return m_w->attnNorm.get();
        case LayerTensor::FfnNorm:
            return m_w->ffnNorm.get();
        case LayerTensor::Bq:
            return m_w->bq.get();
        case LayerTensor::Bk:
            return m_w->bk.get();
        case LayerTensor::Bv:
            return m_w->bv.get();
        case LayerTensor::QNorm:
            return m_w->qNorm.get();
        case LayerTensor::KNorm:
            return m_w->kNorm.get();
        case LayerTensor::PostAttnNorm:
            return m_w->postAttnNorm.get();
        case LayerTensor::PostFfnNorm:
            return m_w->postFfnNorm.get();
        default:
            return nullptr;
        }
    }
    const DeviceMatrix& matrix(LayerTensor role) const {
        switch (role) {
        case LayerTensor::Wq:
            return m_w->wq;
        case LayerTensor::Wk:
            return m_w->wk;
        case LayerTensor::Wv:
            return m_w->wv;
        case LayerTensor::Wo:
            return m_w->wo;
        case LayerTensor::Gate:
            return m_w->wGate;
        case LayerTensor::Up:
            return m_w->wUp;
        default:
            return m_w->wDown;
        }
    }

    DeviceShardExecutor& m_e;
    const ModelConfig& m_c;
    gpu::Device& m_d;
    Activations& m_a;
    KvCache& m_cache;
    int64_t m_startPos;
    int64_t m_nTokens;
    size_t m_slot = 0;
    int64_t m_layer = 0;
    const DeviceLayer* m_w = nullptr;
    gpu::DeviceBuffer* m_q = nullptr; // Q or its per-head norm
    gpu::DeviceBuffer* m_k = nullptr;
};

Expected<void> DeviceShardExecutor::forward(SessionId session, int64_t startPos, std::span<float> hidden,
                                            int64_t nTokens) {
    const int64_t dim = m_config.embeddingLength;
    if (nTokens <= 0)
        return makeError(ErrorCode::InvalidArgument, "forward needs at least one token");
    if (hidden.size() != static_cast<size_t>(nTokens * dim))
        return makeError(ErrorCode::InvalidArgument, std::string("hidden states hold ")
                                                         .append(std::to_string(hidden.size()))
                                                         .append(" values, expected ")
                                                         .append(std::to_string(nTokens))
                                                         .append(" x ")
                                                         .append(std::to_string(dim)));
    const int64_t cached = sessionLength(session);
    if (startPos != cached)
        return makeError(ErrorCode::InvalidArgument, std::string("session ")
                                                         .append(std::to_string(session))
                                                         .append(" is at position ")
                                                         .append(std::to_string(cached))
                                                         .append(", not ")
                                                         .append(std::to_string(startPos)));
    if (startPos + nTokens > m_maxContext)
        return makeError(ErrorCode::InvalidArgument, std::string("context length ")
                                                         .append(std::to_string(m_maxContext))
                                                         .append(" exceeded (")
                                                         .append(std::to_string(startPos + nTokens))
                                                         .append(" tokens)"));
    if (auto r = reserveActivations(nTokens); !r)
        return r;
    const bool isNew = m_sessions.find(session) == m_sessions.end();
    KvCache& cache = m_sessions[session];
    auto fail = [&](Error error) -> Expected<void> {
        if (isNew)
            m_sessions.erase(session);
        return error;
    };
    if (auto r = reserveCache(cache, startPos + nTokens); !r)
        return fail(r.error());
    const uint64_t bytes = hidden.size() * sizeof(float);
    if (auto r = m_device->upload(*m_act.hidden, 0, hidden.data(), bytes); !r)
        return fail(r.error());
    if (m_act.queryScales) {
        std::vector<float> temperatures(static_cast<size_t>(nTokens));
        for (int64_t t = 0; t < nTokens; ++t)
            temperatures[static_cast<size_t>(t)] = m_config.queryTemperature(startPos + t);
        if (auto r = m_device->upload(*m_act.queryScales, 0, temperatures.data(),
                                      temperatures.size() * sizeof(float));
            !r)
            return fail(r.error());
    }
    DeviceLayerOps ops(*this, cache, startPos, nTokens);
    for (int64_t layer = m_layers.begin; layer < m_layers.end; ++layer) {
        if (auto r = runLayerGraph(ops, m_config, m_weights->layer(layer), layer); !r)
            return fail(r.error());
    }
    if (auto r = m_device->download(*m_act.hidden, 0, hidden.data(), bytes); !r)
        return fail(r.error());
    cache.length = startPos + nTokens;
    return {};
}

Expected<void> DeviceShardExecutor::matMul(const DeviceMatrix& m, const gpu::DeviceBuffer& x, int64_t nTokens,
                                           gpu::DeviceBuffer& y) {
    // Every matmul multiplies the activations rounded the way the CPU reference rounds them for that
    // weight format (roundActivations; skipped for F32 weights). Matrices fed by the same input share one
    // rounding when their formats pair with the same activation format (Q4_K and Q6_K both use Q8_K).
    gpu::Device& d = *m_device;
    const TensorType actType = quant::activationTypeFor(m.desc.type);
    if (actType == TensorType::F32)
        return d.matMul(*m.buffer, m.desc, x, nTokens, y);
    if (m_roundedFrom != &x || m_roundedAs != actType) {
        if (auto r = d.roundActivations(x, *m_act.rounded, m.desc.cols, nTokens, m.desc.type); !r)
            return r;
        m_roundedFrom = &x;
        m_roundedAs = actType;
    }
    return d.matMul(*m.buffer, m.desc, *m_act.rounded, nTokens, y);
}

Expected<void> DeviceShardExecutor::gatedActivation(FfnActivation activation, const gpu::DeviceBuffer& gate,
                                                    gpu::DeviceBuffer& x, int64_t n) {
    if (activation == FfnActivation::GeluTanh)
        return m_device->geluGlu(gate, x, n);
    return m_device->swiGlu(gate, x, n);
}

Expected<void> DeviceShardExecutor::expertFfn(const DeviceLayer& w, FfnActivation activation,
                                              int64_t nTokens) {
    const ModelConfig& c = m_config;
    const int64_t dim = c.embeddingLength;
    const int64_t experts = c.expertCount;
    const int64_t used = c.expertUsedCount;
    gpu::Device& d = *m_device;
    Activations& a = m_act;
    ExpertScratch& x = m_expertScratch;
    const auto n = static_cast<size_t>(nTokens);
    // Router logits come down; routing is cpu::routeExperts, the CPU engine's own. The experts' outputs
    // stay on the device: one upload of the routing per layer, no download per expert.
    if (auto r = matMul(w.router, *a.normed, nTokens, *a.router); !r)
        return r;
    x.routerLogits.resize(n * static_cast<size_t>(experts));
    if (auto r = d.download(*a.router, 0, x.routerLogits.data(), x.routerLogits.size() * sizeof(float)); !r)
        return r;
    const int64_t slotCount = nTokens * used;
    x.slotExpert.resize(static_cast<size_t>(slotCount));
    x.routing.resize(static_cast<size_t>(2 * slotCount));
    float* slotWeight = x.routing.data();
    cpu::routeExperts(x.routerLogits.data(), nTokens, experts, used, x.slotExpert.data(), slotWeight);
    // The slots (t * used + s) grouped by expert; they travel as int32 bit patterns after the weights, so
    // one upload carries the layer's routing and expert e scatters its outputs through its run of the list.
    x.slotOrder.clear();
    x.expertFirst.assign(static_cast<size_t>(experts) + 1, 0);
    for (int64_t e = 0; e < experts; ++e) {
        x.expertFirst[static_cast<size_t>(e)] = static_cast<int64_t>(x.slotOrder.size());
        for (int64_t i = 0; i < slotCount; ++i)
            if (x.slotExpert[static_cast<size_t>(i)] == e)
                x.slotOrder.push_back(static_cast<int32_t>(i));
    }
    x.expertFirst[static_cast<size_t>(experts)] = static_cast<int64_t>(x.slotOrder.size());
    std::memcpy(x.routing.data() + slotCount, x.slotOrder.data(), x.slotOrder.size() * sizeof(int32_t));
    if (auto r = d.upload(*a.routing, 0, x.routing.data(), x.routing.size() * sizeof(float)); !r)
        return r;
    const gpu::MatrixDesc normedTable{TensorType::F32, nTokens, dim};
    for (int64_t e = 0; e < experts; ++e) {
        const int64_t first = x.expertFirst[static_cast<size_t>(e)];
        const int64_t count = x.expertFirst[static_cast<size_t>(e) + 1] - first; // <= nTokens
        if (count == 0)
            continue;
        x.tokens.clear();
        for (int64_t m = first; m < first + count; ++m)
            x.tokens.push_back(static_cast<int32_t>(x.slotOrder[static_cast<size_t>(m)] / used));
        const Expert& expert = w.experts[static_cast<size_t>(e)];
        if (auto r = d.getRows(*a.normed, normedTable, x.tokens, *a.expertIn); !r)
            return r;
        m_roundedFrom = nullptr;
        if (auto r = matMul(expert.gate, *a.expertIn, count, *a.gate); !r)
            return r;
        if (auto r = matMul(expert.up, *a.expertIn, count, *a.up); !r)
            return r;
        if (auto r = gatedActivation(activation, *a.gate, *a.up, count * c.feedForwardLength); !r)
            return r;
        m_roundedFrom = nullptr;
        if (auto r = matMul(expert.down, *a.up, count, *a.expertOut); !r)
            return r;
        // Each output row times its slot's weight, into the slot's row: the CPU engine's one multiply.
        if (auto r = d.scatterScaledRows(*a.expertOut, *a.routing, slotCount + first, count, *a.routing,
                                         *a.slots, slotCount, dim);
            !r)
            return r;
    }
    m_roundedFrom = nullptr;
    // Every slot row was written by its expert; they are added in rank order, as the CPU engine does.
    return d.sumRowGroups(*a.slots, *a.proj, nTokens, used, dim);
}

// ---- factory ----

bool isCpuDevice(std::string_view deviceId) {
    auto id = gpu::parseDeviceId(deviceId.empty() ? std::string_view("cpu") : deviceId);
    return id && id->backend == "cpu";
}

Expected<std::unique_ptr<ShardBackend>> makeShardBackend(std::shared_ptr<const ModelWeights> weights,
                                                         LayerRange layers, std::string_view deviceId,
                                                         ThreadPool& pool, int64_t maxContext) {
    auto id = gpu::parseDeviceId(deviceId.empty() ? std::string_view("cpu") : deviceId);
    if (!id)
        return id.error();
    if (id->backend == "cpu") {
        if (id->index != 0)
            return makeError(ErrorCode::NotFound,
                             std::string("device '")
                                 .append(id->toString())
                                 .append("' does not exist (the CPU backend has cpu:0)"));
        auto executor = ShardExecutor::create(std::move(weights), layers, pool, maxContext);
        if (!executor)
            return executor.error();
        return std::unique_ptr<ShardBackend>(std::make_unique<CpuShardBackend>(std::move(*executor)));
    }
    // The registry only probes drivers and opens devices; an opened device does not depend on it.
    gpu::BackendRegistry registry(1);
    auto device = registry.openDevice(*id);
    if (!device)
        return device.error();
    auto executor = DeviceShardExecutor::create(std::move(weights), layers, std::move(*device), maxContext);
    if (!executor)
        return executor.error();
    return std::unique_ptr<ShardBackend>(std::move(*executor));
}

} // namespace declai
