// What a volunteer node may download of a model file. The gateway keeps the embedding table, the output
// head, the final norm and the tokenizer (vocabulary) to itself: with them a node could map the hidden
// states it receives back to tokens by a nearest-neighbour lookup. Nodes get a *view* of the GGUF instead:
// a rewritten header that keeps only the architecture's hyper-parameters (no tokenizer.* or other
// metadata) and the tensor table (names, types, shapes, offsets), followed by the original data section
// byte for byte. Every tensor keeps its data-relative offset, so the file manifest's tensor hashes stay
// valid and a node's sparse copy of the view opens like any GGUF; the withheld tensors are holes (zeros)
// in it that the node never reads. Byte ranges that touch a withheld tensor are refused.
// Pure value type: immutable once built, safe to read from any thread.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"
#include "declai/core/ShardManifest.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace declai {

class NodeFileView {
public:
    // `fileManifest` is the manifest of the whole file (ShardManifest::compute): its tensor hashes are
    // reused.
    static Expected<NodeFileView> create(const GgufFile& file, const ShardManifest& fileManifest);

    // Tensors nodes never receive: embedding rows, output head, final norm.
    static bool isWithheldTensor(std::string_view name);
    // Metadata nodes receive: general.architecture, general.alignment and "<architecture>.*".
    static bool isSharedMetadataKey(std::string_view key, std::string_view architecture);

    // What nodes see: header and every tensor they may fetch (layer tensors and rope factors), with the
    // view's offsets; its digest names the view and is what AssignLayers announces.
    const ShardManifest& manifest() const { return m_manifest; }
    uint64_t size() const { return m_size; }
    uint64_t headerBytes() const { return m_header.size(); }
    // The withheld tensor that bytes [first, first + length) of the view touch, if any.
    std::optional<std::string> withheldIn(uint64_t first, uint64_t length) const;
    // Copies view bytes [first, first + length) to `out` (room for `length` bytes). Errors: outside the
    // view, or touching a withheld tensor (the message names it). `file` is the file the view was made from.
    Expected<void> read(const GgufFile& file, uint64_t first, uint64_t length, std::byte* out) const;
    // View bytes [first, first + length) straight from the file's memory map, without a copy, when they
    // lie wholly in the data section and touch no withheld tensor (shard downloads always do); nullopt
    // otherwise (use read()). The span is valid while `file` stays mapped.
    std::optional<std::span<const std::byte>> mappedRange(const GgufFile& file, uint64_t first,
                                                          uint64_t length) const;

private:
    struct Withheld {
        std::string name;
        uint64_t begin = 0; // view offsets, [begin, end)
        uint64_t end = 0;
    };
    std::vector<std::byte> m_header; // padded to the file's alignment
    uint64_t m_originalDataOffset = 0;
    uint64_t m_size = 0;
    std::vector<Withheld> m_withheld;
    ShardManifest m_manifest;
};

} // namespace declai
