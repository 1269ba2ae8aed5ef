// Weights of a model (any architecture of core/Architecture.h) as views into the GGUF memory map (no copies):
// matrices stay in their file format; the small norm vectors are widened to float once at load.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"
#include "declai/core/ModelConfig.h"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace declai {

// Half-open range of transformer layers [begin, end).
struct LayerRange {
    int64_t begin = 0;
    int64_t end = 0;
    int64_t size() const { return end - begin; }
    bool contains(int64_t layer) const { return layer >= begin && layer < end; }
};

// How a matrix's bytes are laid out.
enum class WeightLayout : uint8_t {
    Rows, // as in the file: row after row
    // Re-laid in strips of 16 rows for the CPU decode kernels (cpu::packStrips: Q4_0, Q8_0): strip s holds
    // the same bytes as rows 16s..16s+15, block by block, the 16 rows of a block side by side. Only whole
    // strips (rows % 16 == 0); row(r) is not a row there, but a strip starts where row 16s would, so
    // rowSlice at multiples of 16 rows still gives whole strips. Made by ModelWeights::makeResident only.
    Strips16,
};

// A row-major matrix of `rows` rows, each `cols` values in `type`, as llama.cpp stores a linear layer
// (ggml shape [cols, rows]).
struct WeightMatrix {
    TensorType type = TensorType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    const std::byte* data = nullptr;
    size_t rowBytes = 0;
    WeightLayout layout = WeightLayout::Rows;
    const std::byte* row(int64_t r) const { return data + static_cast<size_t>(r) * rowBytes; }
};

// One layer's tensors, by role (LayerTensor). An absent optional tensor is an empty vector or a matrix with
// data == nullptr. Expert matrices (gateExps, upExps, downExps) hold all experts' rows one after another:
// expert(e) is the slice of one.
struct LayerWeights {
    std::vector<float> attnNorm;
    std::vector<float> ffnNorm;
    WeightMatrix wq, wk, wv, wo;
    WeightMatrix wGate, wUp, wDown;
    std::vector<float> bq, bk, bv;   // Q/K/V biases (qwen2)
    std::vector<float> qNorm, kNorm; // per-head Q/K RMSNorm (qwen3)
    std::vector<float> postAttnNorm; // gemma2
    std::vector<float> postFfnNorm;  // gemma2
    WeightMatrix wqkv;               // fused Q/K/V (phi3)
    WeightMatrix gateInp;            // expert router
    WeightMatrix gateExps, upExps, downExps;

    WeightMatrix* matrix(LayerTensor role);
    std::vector<float>* vector(LayerTensor role);
    const WeightMatrix* matrix(LayerTensor role) const;
    const std::vector<float>* vector(LayerTensor role) const;
    // The present matrices (what a token reads), for sizes and prefault.
    std::vector<const WeightMatrix*> matrices() const;
    std::vector<WeightMatrix*> matrices();
};

// Rows [firstRow, firstRow + rows) of a matrix (a view: a part of a fused or stacked matrix).
WeightMatrix rowSlice(const WeightMatrix& matrix, int64_t firstRow, int64_t rows);
// Rows [e * rows / experts, (e + 1) * rows / experts) of a stacked expert matrix.
WeightMatrix expertSlice(const WeightMatrix& stacked, int64_t expert, int64_t experts);

class ModelWeights;

// What ModelWeights::makeResident did.
struct ResidentWeights {
    std::shared_ptr<const ModelWeights> weights; // the copy's views, or the input unchanged when skipped
    uint64_t copiedBytes = 0;                    // bytes copied by this call (0 when skipped)
    std::string skipped;                         // why nothing was copied; empty when it was
};

class ModelWeights {
public:
    // Opens `path`, validates the config and builds views for every tensor.
    static Expected<std::shared_ptr<const ModelWeights>> load(const std::string& path);
    static Expected<std::shared_ptr<const ModelWeights>> fromFile(std::shared_ptr<const GgufFile> file);

    const GgufFile& file() const { return *m_file; }
    std::shared_ptr<const GgufFile> sharedFile() const { return m_file; }
    const ModelConfig& config() const { return m_config; }
    const LayerWeights& layer(int64_t index) const { return m_layers[static_cast<size_t>(index)]; }
    const WeightMatrix& tokenEmbedding() const { return m_tokenEmbedding; }
    const WeightMatrix& output() const { return m_output; } // token_embd when tied
    const std::vector<float>& outputNorm() const { return m_outputNorm; }
    // The rope frequency factors a run with `contextTokens` of context (an executor's maxContext) divides
    // the angles by: rope_freqs, or LongRoPE's long or short set (ModelConfig::usesLongRopeFactors); empty
    // when the model has none. Every executor of a pipeline must pass the same context, so that all stages
    // rotate alike: the network's nodes, gateway and verifiers all run with the model's context length.
    const std::vector<float>& ropeFactors(int64_t contextTokens) const {
        return m_config.usesLongRopeFactors(contextTokens) ? m_ropeFactorsLong : m_ropeFactors;
    }

    // Bytes of the weights a shard of `layers` reads per token (for placement and bandwidth figures).
    uint64_t layerBytes(LayerRange layers) const;

    // Pre-faults the mapped weights of `layers` (and the embedding and output matrices when asked): asks the
    // kernel to read them ahead (MADV_WILLNEED) and touches every page, so the first tokens do not pay for
    // page faults. The weights stay in the file mapping (no copy). Returns the bytes covered.
    uint64_t prefault(LayerRange layers, bool embeddingAndOutput) const;
    // For a file just written (a node's shard download): writes the file's pages back, drops the unmapped
    // ones from the page cache and reads the weights of `layers` in again in file order. Decode from the
    // pages a download's writes left runs ~20% slower than from pages read ahead (docs/benchmarks.md); this
    // costs one read of the layers. Advice only: an error changes speed, never results. Returns the bytes
    // read (0 when the file cannot be opened, e.g. an in-memory image).
    uint64_t rereadFromDisk(LayerRange layers) const;

    // For the CPU engine: copies the matrices of `layers` (and the output matrix when asked) into anonymous
    // memory the kernel is asked to back with 2 MiB pages (MADV_HUGEPAGE), read-only, and returns new
    // weights whose views point there; `weights` itself is unchanged. Why: decode streams every matrix once
    // per token, and the file's page cache sits on 2 MiB mappings only where readahead built large folios;
    // from huge pages one-thread decode ran 5-25% faster (docs/benchmarks.md, session 19). The bytes are
    // the file's, so results are bit-identical. Where the active CPU kernels multiply a format in 16-row
    // strips (cpu::canPackStrips: Q4_0 on AVX2 and AVX-512, Q8_0 on AVX-512), the layer matrices that allow
    // it are copied re-laid so (WeightLayout::Strips16; faster one-token products, docs/benchmarks.md), with
    // the same floats. Layers `donor` (weights of the same file) already holds resident are shared, not
    // copied again. The copied ranges are unmapped from this process's file mapping (their page cache stays,
    // for the kernel to keep or reclaim), so resident memory does not count them twice. Skipped, returning
    // `weights` unchanged, where transparent huge pages are off or absent and no matrix would be re-laid
    // (a copy would only cost memory), or the memory cannot be had.
    static ResidentWeights makeResident(std::shared_ptr<const ModelWeights> weights, LayerRange layers,
                                        bool output, const ModelWeights* donor = nullptr);
    bool isResident(int64_t layer) const;
    bool isOutputResident() const { return m_outputResident; }

private:
    std::shared_ptr<const GgufFile> m_file;
    ModelConfig m_config;
    std::vector<LayerWeights> m_layers;
    WeightMatrix m_tokenEmbedding;
    WeightMatrix m_output;
    std::vector<float> m_outputNorm;
    std::vector<float> m_ropeFactors; // rope_freqs, or LongRoPE's short factors
    std::vector<float> m_ropeFactorsLong;
    // makeResident's copies: the memory the views of resident layers point into, and which ones they are.
    std::vector<std::shared_ptr<const std::byte>> m_residentMemory;
    std::vector<bool> m_residentLayers;
    bool m_outputResident = false;
};

} // namespace declai
