#include "declai/gpu/ModelWeights.h"

#include "declai/core/Quant.h"

#include <algorithm>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

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

WeightMatrix* LayerWeights::matrix(LayerTensor role) {
    switch (role) {
    case LayerTensor::Wq:
        return &wq;
    case LayerTensor::Wk:
        return &wk;
    case LayerTensor::Wv:
        return &wv;
    case LayerTensor::Wqkv:
        return &wqkv;
    case LayerTensor::Wo:
        return &wo;
    case LayerTensor::Gate:
        return &wGate;
    case LayerTensor::Up:
        return &wUp;
    case LayerTensor::Down:
        return &wDown;
    case LayerTensor::GateInp:
        return &gateInp;
    case LayerTensor::GateExps:
        return &gateExps;
    case LayerTensor::UpExps:
        return &upExps;
    case LayerTensor::DownExps:
        return &downExps;
    default:
        return nullptr;
    }
}

std::vector<float>* LayerWeights::vector(LayerTensor role) {
    switch (role) {
    case LayerTensor::AttnNorm:
        return &attnNorm;
    case LayerTensor::FfnNorm:
        return &ffnNorm;
    case LayerTensor::Bq:
        return &bq;
    case LayerTensor::Bk:
        return &bk;
    case LayerTensor::Bv:
        return &bv;
    case LayerTensor::QNorm:
        return &qNorm;
    case LayerTensor::KNorm:
        return &kNorm;
    case LayerTensor::PostAttnNorm:
        return &postAttnNorm;
    case LayerTensor::PostFfnNorm:
        return &postFfnNorm;
    default:
        return nullptr;
    }
}

const WeightMatrix* LayerWeights::matrix(LayerTensor role) const {
    return const_cast<LayerWeights*>(this)->matrix(role); // the lookup only, nothing is written
}

const std::vector<float>* LayerWeights::vector(LayerTensor role) const {
    return const_cast<LayerWeights*>(this)->vector(role);
}

std::vector<const WeightMatrix*> LayerWeights::matrices() const {
    std::vector<const WeightMatrix*> present;
    for (const WeightMatrix* m :
         {&wq, &wk, &wv, &wqkv, &wo, &wGate, &wUp, &wDown, &gateInp, &gateExps, &upExps, &downExps})
        if (m->data)
            present.push_back(m);
    return present;
}

WeightMatrix rowSlice(const WeightMatrix& matrix, int64_t firstRow, int64_t rows) {
    WeightMatrix m = matrix;
    m.rows = rows;
    m.data = matrix.row(firstRow);
    return m;
}

WeightMatrix expertSlice(const WeightMatrix& stacked, int64_t expert, int64_t experts) {
    const int64_t rows = stacked.rows / experts;
    return rowSlice(stacked, expert * rows, rows);
}

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
        // The architecture's table says which tensors exist; the config says which optional ones this file
        // has.
        for (const LayerTensorSpec& t : config->spec->layerTensors) {
            if (!config->has(t.role))
                continue;
            const std::string name = layerTensorName(l, t.suffix);
            if (t.isMatrix) {
                WeightMatrix* dst = lw.matrix(t.role);
                if (!dst)
                    return makeError(ErrorCode::Internal, "tensor '" + name + "' has no matrix slot");
                if (auto r = assign(*dst, matrixView(f, name)); !r)
                    return r.error();
            } else {
                std::vector<float>* dst = lw.vector(t.role);
                if (!dst)
                    return makeError(ErrorCode::Internal, "tensor '" + name + "' has no vector slot");
                if (auto r = assign(*dst, vectorCopy(f, name)); !r)
                    return r.error();
            }
        }
    }
    return std::shared_ptr<const ModelWeights>(std::move(weights));
}

uint64_t ModelWeights::layerBytes(LayerRange layers) const {
    uint64_t total = 0;
    for (int64_t l = layers.begin; l < layers.end; ++l) {
        for (const WeightMatrix* m : layer(l).matrices())
            total += m->rowBytes * static_cast<uint64_t>(m->rows);
    }
    return total;
}

uint64_t ModelWeights::prefault(LayerRange layers, bool embeddingAndOutput) const {
    std::vector<const WeightMatrix*> matrices;
    for (int64_t l = std::max<int64_t>(0, layers.begin);
         l < std::min<int64_t>(layers.end, m_config.layerCount); ++l) {
        for (const WeightMatrix* m : m_layers[static_cast<size_t>(l)].matrices())
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

uint64_t ModelWeights::rereadFromDisk(LayerRange layers) const {
    if (!m_file || m_file->tensors().empty())
        return 0;
    const int fd = ::open(m_file->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    // File offsets of the layers' matrices, merged where they touch: the mapping's base is found from any
    // tensor (its data sits at dataOffset + offset in the file).
    const GgufTensorInfo& anchor = m_file->tensors().front();
    const std::byte* base = m_file->tensorData(anchor).data() - (m_file->dataOffset() + anchor.offset);
    std::vector<std::pair<uint64_t, uint64_t>> ranges; // [begin, end)
    for (int64_t l = std::max<int64_t>(0, layers.begin);
         l < std::min<int64_t>(layers.end, m_config.layerCount); ++l)
        for (const WeightMatrix* m : m_layers[static_cast<size_t>(l)].matrices()) {
            if (!m->data || m->rows <= 0)
                continue;
            const auto begin = static_cast<uint64_t>(static_cast<const std::byte*>(m->data) - base);
            ranges.emplace_back(begin, begin + m->rowBytes * static_cast<uint64_t>(m->rows));
        }
    std::sort(ranges.begin(), ranges.end());
    // Written back first: the page cache drops clean pages only.
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    constexpr size_t kChunkBytes = size_t(4) << 20;
    std::vector<std::byte> buffer(kChunkBytes);
    uint64_t read = 0;
    uint64_t position = 0; // past what was read already (overlapping ranges of fused matrices)
    for (const auto& [rangeBegin, rangeEnd] : ranges) {
        for (uint64_t at = std::max(rangeBegin, position); at < rangeEnd;) {
            const auto want = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, rangeEnd - at));
            const ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(at));
            if (got <= 0)
                break;
            at += static_cast<uint64_t>(got);
            read += static_cast<uint64_t>(got);
        }
        position = std::max(position, rangeEnd);
    }
    ::close(fd);
    return read;
}

} // namespace declai
