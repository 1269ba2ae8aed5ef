// Weights of a model (any architecture of core/Architecture.h) as views into the GGUF memory map (no copies):
// matrices stay in their file format; the small norm vectors are widened to float once at load.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"
#include "declai/core/ModelConfig.h"

#include <cstddef>
#include <memory>
#include <vector>

namespace declai {

// Half-open range of transformer layers [begin, end).
struct LayerRange {
    int64_t begin = 0;
    int64_t end = 0;
    int64_t size() const { return end - begin; }
    bool contains(int64_t layer) const { return layer >= begin && layer < end; }
};

// A row-major matrix of `rows` rows, each `cols` values in `type`, as llama.cpp stores a linear layer
// (ggml shape [cols, rows]).
struct WeightMatrix {
    TensorType type = TensorType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    const std::byte* data = nullptr;
    size_t rowBytes = 0;
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
};

// Rows [firstRow, firstRow + rows) of a matrix (a view: a part of a fused or stacked matrix).
WeightMatrix rowSlice(const WeightMatrix& matrix, int64_t firstRow, int64_t rows);
// Rows [e * rows / experts, (e + 1) * rows / experts) of a stacked expert matrix.
WeightMatrix expertSlice(const WeightMatrix& stacked, int64_t expert, int64_t experts);

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
    const std::vector<float>& ropeFactors() const { return m_ropeFactors; } // empty when absent

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

private:
    std::shared_ptr<const GgufFile> m_file;
    ModelConfig m_config;
    std::vector<LayerWeights> m_layers;
    WeightMatrix m_tokenEmbedding;
    WeightMatrix m_output;
    std::vector<float> m_outputNorm;
    std::vector<float> m_ropeFactors;
};

} // namespace declai
