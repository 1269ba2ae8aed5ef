// Hyper-parameters of a llama-architecture model (Llama 1/2/3, TinyLlama, Mistral-style GQA, SmolLM),
// read from GGUF metadata and checked against the tensor table.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"

#include <cstdint>
#include <string>

namespace declai {

struct ModelConfig {
    std::string architecture;    // "llama"
    std::string name;            // general.name, if any
    int64_t embeddingLength = 0; // model dimension
    int64_t layerCount = 0;
    int64_t headCount = 0;
    int64_t kvHeadCount = 0;
    int64_t headDim = 0;
    int64_t feedForwardLength = 0;
    int64_t vocabSize = 0;
    int64_t contextLength = 0;
    float rmsNormEps = 1e-5f;
    float ropeFreqBase = 10000.0f;
    float ropeFreqScale = 1.0f;  // 1 / linear scaling factor
    int64_t ropeDimensions = 0;  // rotated dimensions per head (usually headDim)
    bool tiedEmbeddings = false; // no output.weight: the head reuses token_embd.weight
    bool hasRopeFactors = false; // Llama 3.1 style rope_freqs.weight

    int64_t qDim() const { return headCount * headDim; }
    int64_t kvDim() const { return kvHeadCount * headDim; }

    // Reads and validates: every required tensor present with the expected shape and a supported type.
    static Expected<ModelConfig> fromGguf(const GgufFile& file);
};

// Tensor names of the llama layout, as llama.cpp writes them.
std::string layerTensorName(int64_t layer, const char* suffix);

} // namespace declai
