#include "declai/gpu/ModelWeights.h"

#include "declai/core/Quant.h"

#include <algorithm>
#include <sys/mman.h>
#include <unistd.h>

namespace declai {
namespace {

// The tensor's presence, type and shape were checked by ModelConfig::fromGguf; a miss here is still an error
// value, never an exception from dereferencing an empty Expected.
Expected<const GgufTensorInfo*> findChecked(const GgufFile& file, const std::string& name) {
    const GgufTensorInfo* t = file.findTensor(name);
    if (!t)
        return makeError(ErrorCode::Format, "tensor '" + name + "' is missing");
    return t;
}

Expected<WeightMatrix> matrixView(const GgufFile& file, const std::string& name) {
    auto t = findChecked(file, name);
    if (!t)
        return t.error();
    auto rowBytes = tensorBytes((*t)->type, (*t)->shape[0]);
    if (!rowBytes)
        return makeError(ErrorCode::Format, "tensor '" + name + "': its row of " +
                                                std::to_string((*t)->shape[0]) +
                                                " values is not a whole number of blocks of its type");
    WeightMatrix m;
    m.type = (*t)->type;
    m.cols = static_cast<int64_t>((*t)->shape[0]);
    m.rows = static_cast<int64_t>((*t)->rowCount());
    m.data = file.tensorData(**t).data();
    m.rowBytes = *rowBytes;
    return m;
}

Expected<std::vector<float>> vectorCopy(const GgufFile& file, const std::string& name) {
    auto t = findChecked(file, name);
    if (!t)
        return t.error();
    std::vector<float> v((*t)->elementCount());
    quant::dequantizeRow((*t)->type, file.tensorData(**t).data(), v.data(), static_cast<int64_t>(v.size()));
    return v;
}

// Assigns a checked view or copy to `out`; returns the error otherwise.
template <class T>
Expected<void> assign(T& out, Expected<T> value) {
    if (!value)
        return value.error();
    out = std::move(*value);
    return {};
}

} // namespace

Expected<std::shared_ptr<const ModelWeights>> ModelWeights::load(const std::string& path) {
    auto file = GgufFile::open(path);
    if (!file)
        return file.error();
    return fromFile(std::make_shared<const GgufFile>(std::move(*file)));
}

Expected<std::shared_ptr<const ModelWeights>> ModelWeights::fromFile(std::shared_ptr<const GgufFile> file) {
    auto config = ModelConfig::fromGguf(*file);
    if (!config)
        return config.error();
    auto weights = std::make_shared<ModelWeights>();
    weights->m_file = std::move(file);
    weights->m_config = *config;
    const GgufFile& f = *weights->m_file;
    if (auto r = assign(weights->m_tokenEmbedding, matrixView(f, "token_embd.weight")); !r)
        return r.error();
    if (config->tiedEmbeddings)
        weights->m_output = weights->m_tokenEmbedding;
    else if (auto r = assign(weights->m_output, matrixView(f, "output.weight")); !r)
        return r.error();
    if (auto r = assign(weights->m_outputNorm, vectorCopy(f, "output_norm.weight")); !r)
        return r.error();
    if (config->hasRopeFactors)
        if (auto r = assign(weights->m_ropeFactors, vectorCopy(f, "rope_freqs.weight")); !r)
            return r.error();
    weights->m_layers.resize(static_cast<size_t>(config->layerCount));
    for (int64_t l = 0; l < config->layerCount; ++l) {
        LayerWeights& lw = weights->m_layers[static_cast<size_t>(l)];
        for (auto [dst, name] :
             {std::pair{&lw.attnNorm, "attn_norm.weight"}, {&lw.ffnNorm, "ffn_norm.weight"}})
            if (auto r = assign(*dst, vectorCopy(f, layerTensorName(l, name))); !r)
                return r.error();
        const std::pair<WeightMatrix*, const char*> matrices[] = {
            {&lw.wq, "attn_q.weight"},      {&lw.wk, "attn_k.weight"},      {&lw.wv, "attn_v.weight"},
            {&lw.wo, "attn_output.weight"}, {&lw.wGate, "ffn_gate.weight"}, {&lw.wUp, "ffn_up.weight"},
            {&lw.wDown, "ffn_down.weight"}};
        for (const auto& [dst, name] : matrices)
            if (auto r = assign(*dst, matrixView(f, layerTensorName(l, name))); !r)
                return r.error();
    }
    return std::shared_ptr<const ModelWeights>(std::move(weights));
}

uint64_t ModelWeights::layerBytes(LayerRange layers) const {
    uint64_t total = 0;
    for (int64_t l = layers.begin; l < layers.end; ++l) {
        const LayerWeights& lw = layer(l);
        for (const WeightMatrix* m : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.wGate, &lw.wUp, &lw.wDown})
            total += m->rowBytes * static_cast<uint64_t>(m->rows);
    }
    return total;
}

uint64_t ModelWeights::prefault(LayerRange layers, bool embeddingAndOutput) const {
    std::vector<const WeightMatrix*> matrices;
    for (int64_t l = std::max<int64_t>(0, layers.begin);
         l < std::min<int64_t>(layers.end, m_config.layerCount); ++l) {
        const LayerWeights& w = m_layers[static_cast<size_t>(l)];
        for (const WeightMatrix* m : {&w.wq, &w.wk, &w.wv, &w.wo, &w.wGate, &w.wUp, &w.wDown})
            matrices.push_back(m);
    }
    if (embeddingAndOutput) {
        matrices.push_back(&m_tokenEmbedding);
        matrices.push_back(&m_output);
    }
    const auto pageBytes = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096);
    uint64_t covered = 0;
    uint8_t sink = 0;
    for (const WeightMatrix* m : matrices) {
        if (!m->data || m->rows <= 0)
            continue;
        const size_t bytes = m->rowBytes * static_cast<size_t>(m->rows);
        const auto begin = reinterpret_cast<uintptr_t>(m->data);
        const uintptr_t pageBegin = begin & ~(pageBytes - 1);
        // Advice only: an error (e.g. an in-memory image) changes nothing but the speed.
        madvise(reinterpret_cast<void*>(pageBegin), bytes + (begin - pageBegin), MADV_WILLNEED);
        const auto* p = reinterpret_cast<const volatile uint8_t*>(m->data);
        for (size_t offset = 0; offset < bytes; offset += pageBytes)
            sink = static_cast<uint8_t>(sink ^ p[offset]);
        covered += bytes;
    }
    static_cast<void>(sink);
    return covered;
}

} // namespace declai
