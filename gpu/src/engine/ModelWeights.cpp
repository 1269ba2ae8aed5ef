#include "declai/gpu/ModelWeights.h"

#include "declai/core/Quant.h"
#include "declai/gpu/CpuKernels.h"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

namespace declai {
namespace {

uintptr_t systemPageBytes() {
    const long bytes = sysconf(_SC_PAGESIZE);
    return bytes > 0 ? static_cast<uintptr_t>(bytes) : 4096;
}

size_t alignUp(size_t value, size_t alignment) { // alignment: a power of two
    return (value + alignment - 1) & ~(alignment - 1);
}

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

std::vector<WeightMatrix*> LayerWeights::matrices() {
    std::vector<WeightMatrix*> present;
    for (WeightMatrix* m :
         {&wq, &wk, &wv, &wqkv, &wo, &wGate, &wUp, &wDown, &gateInp, &gateExps, &upExps, &downExps})
        if (m->data)
            present.push_back(m);
    return present;
}

std::vector<const WeightMatrix*> LayerWeights::matrices() const {
    const auto present = const_cast<LayerWeights*>(this)->matrices(); // the lookup only, nothing is written
    return {present.begin(), present.end()};
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
    if (config->hasLongRopeFactors) {
        if (auto r = assign(weights->m_ropeFactors, vectorCopy(f, "rope_factors_short.weight")); !r)
            return r.error();
        if (auto r = assign(weights->m_ropeFactorsLong, vectorCopy(f, "rope_factors_long.weight")); !r)
            return r.error();
    }
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
    const uintptr_t pageBytes = systemPageBytes();
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

namespace {

constexpr size_t kHugePageBytes = size_t(2) << 20;
constexpr size_t kMatrixAlignBytes = 64; // a cache line: the kernels' widest load

// Why huge pages cannot back an anonymous copy here; empty when they can ("always" or "madvise").
std::string hugePagesUnavailable() {
#if defined(__linux__)
    const int fd = ::open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "this kernel has no transparent huge pages";
    char mode[128] = {};
    const ssize_t got = ::read(fd, mode, sizeof(mode) - 1);
    ::close(fd);
    const std::string_view text(mode, got > 0 ? static_cast<size_t>(got) : 0);
    if (text.find("[always]") != std::string_view::npos || text.find("[madvise]") != std::string_view::npos)
        return {};
    return "transparent huge pages are off (/sys/kernel/mm/transparent_hugepage/enabled)";
#else
    return "huge-page weights are for Linux only";
#endif
}

// `bytes` of anonymous memory starting on a 2 MiB boundary, advised to be backed by huge pages; unmapped
// when the last owner lets go. Null when the memory cannot be had.
std::shared_ptr<std::byte> hugePageMemory(size_t bytes) {
    const size_t rounded = alignUp(bytes, kHugePageBytes);
    const size_t mapped = rounded + kHugePageBytes; // room to start on a boundary
    void* base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return nullptr;
    const auto aligned = alignUp(reinterpret_cast<uintptr_t>(base), kHugePageBytes);
    auto* start = reinterpret_cast<std::byte*>(aligned);
    // Advice only: without it the copy still works, on 4 KiB pages.
    ::madvise(start, rounded, MADV_HUGEPAGE);
    return std::shared_ptr<std::byte>(start, [base, mapped](std::byte*) { ::munmap(base, mapped); });
}

// Unmaps the whole pages of [data, data + bytes) from this process's file mapping (advice only; a later
// read of a view still into the mapping faults them in again).
void unmapFilePages(const std::byte* data, size_t bytes) {
    const uintptr_t pageBytes = systemPageBytes();
    const auto begin = alignUp(reinterpret_cast<uintptr_t>(data), pageBytes);
    const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(pageBytes - 1);
    if (end > begin)
        ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

} // namespace

bool ModelWeights::isResident(int64_t layer) const {
    return layer >= 0 && static_cast<size_t>(layer) < m_residentLayers.size() &&
           m_residentLayers[static_cast<size_t>(layer)];
}

ResidentWeights ModelWeights::makeResident(std::shared_ptr<const ModelWeights> weights, LayerRange layers,
                                           bool output, const ModelWeights* donor) {
    ResidentWeights result;
    if (!weights)
        return result;
    const std::string noHugePages = hugePagesUnavailable();
    auto copy = std::make_shared<ModelWeights>(*weights);
    const int64_t layerCount = copy->m_config.layerCount;
    copy->m_residentLayers.resize(static_cast<size_t>(layerCount), false);
    layers = {std::max<int64_t>(0, layers.begin), std::min(layers.end, layerCount)};
    // Layers the donor holds resident: its views and memory, shared.
    if (donor && donor->m_config.layerCount == layerCount && donor->m_file->path() == copy->m_file->path()) {
        bool shared = false;
        for (int64_t l = layers.begin; l < layers.end; ++l) {
            if (!donor->isResident(l))
                continue;
            copy->m_layers[static_cast<size_t>(l)] = donor->m_layers[static_cast<size_t>(l)];
            copy->m_residentLayers[static_cast<size_t>(l)] = true;
            shared = true;
        }
        if (shared)
            copy->m_residentMemory.insert(copy->m_residentMemory.end(), donor->m_residentMemory.begin(),
                                          donor->m_residentMemory.end());
    }
    std::vector<WeightMatrix*> targets;
    std::vector<bool> packTarget; // re-laid in strips for the CPU kernels (WeightLayout::Strips16)
    for (int64_t l = layers.begin; l < layers.end; ++l) {
        if (copy->isResident(l))
            continue;
        LayerWeights& layer = copy->m_layers[static_cast<size_t>(l)];
        for (WeightMatrix* m : layer.matrices()) {
            targets.push_back(m);
            // Not the expert stacks: their expert slices need not fall on strip boundaries.
            const bool stacked = m == &layer.gateExps || m == &layer.upExps || m == &layer.downExps;
            packTarget.push_back(!stacked && cpu::canPackStrips(*m));
        }
    }
    if (output && !copy->m_outputResident && copy->m_output.data) {
        targets.push_back(&copy->m_output);
        packTarget.push_back(false); // the embedder reads a tied output's rows
    }
    // Without huge pages a plain copy would only cost memory; one that re-lays matrices for the kernels
    // still pays (on 4 KiB pages).
    if (!noHugePages.empty() && std::find(packTarget.begin(), packTarget.end(), true) == packTarget.end()) {
        result.weights = std::move(weights);
        result.skipped = noHugePages;
        return result;
    }
    size_t total = 0;
    for (const WeightMatrix* m : targets)
        total = alignUp(total, kMatrixAlignBytes) + m->rowBytes * static_cast<size_t>(m->rows);
    if (total == 0) {
        result.weights = std::move(copy);
        return result;
    }
    std::shared_ptr<std::byte> memory = hugePageMemory(total);
    if (!memory) {
        result.weights = std::move(weights);
        result.skipped = "no memory for a " + std::to_string(total >> 20) + " MiB copy of the weights";
        return result;
    }
    size_t offset = 0;
    const std::byte* tokenEmbedding = copy->m_tokenEmbedding.data;
    for (size_t i = 0; i < targets.size(); ++i) {
        WeightMatrix* m = targets[i];
        offset = alignUp(offset, kMatrixAlignBytes);
        const size_t bytes = m->rowBytes * static_cast<size_t>(m->rows);
        if (packTarget[i])
            cpu::packStrips(*m, memory.get() + offset);
        else
            std::memcpy(memory.get() + offset, m->data, bytes);
        // One matrix at a time, so the process never holds the file pages and the copy of all at once.
        // Never for an in-memory image: there MADV_DONTNEED would discard the bytes themselves.
        if (copy->m_file->isFileMapping())
            unmapFilePages(m->data, bytes);
        if (m == &copy->m_output && copy->m_output.data == tokenEmbedding) // tied: the embedder reads it too
            copy->m_tokenEmbedding.data = memory.get() + offset;
        m->data = memory.get() + offset;
        if (packTarget[i])
            m->layout = WeightLayout::Strips16;
        offset += bytes;
    }
    // Read-only from here: the weights are never written.
    ::mprotect(memory.get(), alignUp(total, kHugePageBytes), PROT_READ);
    copy->m_residentMemory.push_back(std::move(memory));
    for (int64_t l = layers.begin; l < layers.end; ++l)
        copy->m_residentLayers[static_cast<size_t>(l)] = true;
    copy->m_outputResident = copy->m_outputResident || output;
    result.weights = std::move(copy);
    result.copiedBytes = total;
    return result;
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
            if (!m->data || m->rows <= 0 || isResident(l)) // a resident copy is not in the file mapping
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
