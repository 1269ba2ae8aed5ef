// Per-tensor content manifest of one GGUF file. The server computes it once per model; a node that is
// assigned layers [a, b) fetches it, checks its digest against the one the coordinator gave it, and then
// downloads and verifies only the header and the tensors of those layers. The digest is the SHA-256 of the
// canonical JSON of every other field, so it names the exact model content (header and every tensor).
// Pure value type: no threads, no I/O except computeCached's cache file.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"
#include "declai/core/TensorType.h"

#include <QJsonObject>
#include <QString>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace declai {

// Lower-case hex SHA-256 of `bytes`, fed to the hash in bounded pieces straight from the caller's memory
// (a memory map): nothing is copied, so hashing a 1 GB tensor costs no extra memory.
std::string sha256Hex(std::span<const std::byte> bytes);

// The whole mapped file behind `file` (GgufFile maps all of it but hands out spans only for tensors);
// empty when the file has no non-empty tensor to anchor the walk back to the start of the mapping.
std::span<const std::byte> mappedFileBytes(const GgufFile& file);

// Layer index of a llama tensor name ("blk.12.attn_q.weight" -> 12); -1 for non-layer tensors
// (token_embd, output, output_norm, rope factors) and for names that do not parse.
int64_t layerOfTensorName(const std::string& name);

struct ShardManifest {
    static constexpr const char* kFormat = "declai-shard-manifest";
    static constexpr int kVersion = 1;

    struct Tensor {
        std::string name;
        TensorType type = TensorType::F32;
        std::vector<uint64_t> shape;
        uint64_t offset = 0; // absolute byte offset in the file (not relative to the data section)
        uint64_t sizeBytes = 0;
        std::string sha256; // 64 lower-case hex digits
        int64_t layer = -1; // -1 for non-layer tensors

        bool operator==(const Tensor&) const = default;
    };

    std::string modelName; // file name without ".gguf"
    uint64_t fileSizeBytes = 0;
    uint64_t dataOffset = 0; // bytes [0, dataOffset) are the header (metadata + tensor table + padding)
    std::string headerSha256;
    int64_t layerCount = 0;      // from ModelConfig when it parses, else 0
    std::vector<Tensor> tensors; // in file order
    std::string digest;          // SHA-256 of the canonical JSON of everything above

    bool operator==(const ShardManifest&) const = default;

    // Hashes the header and every tensor of `file` (streamed from its memory map).
    static Expected<ShardManifest> compute(const GgufFile& file);
    // Like compute(), but keeps the result in `cacheDir` keyed by the file's absolute path, size and
    // modification time, so a restart does not rehash unchanged files. A missing, stale or invalid cache
    // entry is silently recomputed; failing to write the cache is not an error (it is only a cache).
    static Expected<ShardManifest> computeCached(const GgufFile& file, const QString& cacheDir);

    // Full validation: types, ranges (every tensor inside the data section, no overlaps, size consistent
    // with type and shape), hex lengths, layer numbers and finally the digest. Errors name the field, e.g.
    // "manifest field 'tensors[3].offset': ...".
    static Expected<ShardManifest> fromJson(const QJsonObject& json);
    QJsonObject toJson() const;

    // SHA-256 of the canonical (compact, key-sorted) JSON of every field except `digest`.
    std::string computeDigest() const;

    const Tensor* findTensor(const std::string& name) const;
    // Tensors of layers [layerBegin, layerEnd), in file order; with includeNonLayer also the tensors that
    // belong to no layer (embedding, output head, norms).
    std::vector<const Tensor*> tensorsForLayers(int64_t layerBegin, int64_t layerEnd,
                                                bool includeNonLayer = false) const;
    // Sum of sizeBytes over tensorsForLayers(...).
    uint64_t bytesForLayers(int64_t layerBegin, int64_t layerEnd, bool includeNonLayer = false) const;
};

} // namespace declai
