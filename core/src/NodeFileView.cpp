#include "declai/core/NodeFileView.h"

#include "declai/core/GgufSerialize.h"

#include <algorithm>
#include <cstring>

namespace declai {

bool NodeFileView::isWithheldTensor(std::string_view name) {
    return name == "token_embd.weight" || name == "output.weight" || name == "output_norm.weight";
}

bool NodeFileView::isSharedMetadataKey(std::string_view key, std::string_view architecture) {
    if (key == "general.architecture" || key == "general.alignment")
        return true;
    return !architecture.empty() && key.size() > architecture.size() + 1 &&
           key.substr(0, architecture.size()) == architecture && key[architecture.size()] == '.';
}

Expected<NodeFileView> NodeFileView::create(const GgufFile& file, const ShardManifest& fileManifest) {
    auto architecture = file.getString("general.architecture");
    if (!architecture)
        return architecture.error();
    NodeFileView view;
    std::vector<std::byte> kv;
    uint64_t kvCount = 0;
    for (const std::string& key : file.metadataKeys()) {
        if (!isSharedMetadataKey(key, *architecture))
            continue;
        const GgufValue* value = file.find(key);
        if (!value || !appendGgufKeyValue(kv, key, *value))
            return makeError(ErrorCode::Unsupported,
                             "model '" + file.path() + "': metadata '" + key + "' cannot be rewritten");
        ++kvCount;
    }
    std::vector<std::byte>& h = view.m_header;
    appendGgufBytes(h, "GGUF", 4);
    appendGgufPod<uint32_t>(h, 3);
    appendGgufPod<uint64_t>(h, file.tensors().size());
    appendGgufPod<uint64_t>(h, kvCount);
    h.insert(h.end(), kv.begin(), kv.end());
    // The whole tensor table, withheld tensors included (their shapes tell the node the model's layout,
    // not its vocabulary), at their original data-relative offsets.
    for (const GgufTensorInfo& t : file.tensors()) {
        appendGgufString(h, t.name);
        appendGgufPod<uint32_t>(h, static_cast<uint32_t>(t.shape.size()));
        for (uint64_t d : t.shape)
            appendGgufPod<uint64_t>(h, d);
        appendGgufPod<uint32_t>(h, static_cast<uint32_t>(t.type));
        appendGgufPod<uint64_t>(h, t.offset);
    }
    const uint64_t alignment = std::max<uint64_t>(1, file.alignment());
    h.resize((h.size() + alignment - 1) / alignment * alignment, std::byte{0});

    const uint64_t headerBytes = h.size();
    view.m_originalDataOffset = file.dataOffset();
    if (file.dataOffset() > file.fileSize())
        return makeError(ErrorCode::Format, "model '" + file.path() + "': data offset past the end");
    view.m_size = headerBytes + (file.fileSize() - file.dataOffset());
    for (const GgufTensorInfo& t : file.tensors())
        if (isWithheldTensor(t.name))
            view.m_withheld.push_back(
                Withheld{t.name, headerBytes + t.offset, headerBytes + t.offset + t.sizeBytes});

    ShardManifest& m = view.m_manifest;
    m.modelName = fileManifest.modelName;
    m.fileSizeBytes = view.m_size;
    m.dataOffset = headerBytes;
    m.headerSha256 = sha256Hex(h);
    m.layerCount = fileManifest.layerCount;
    for (const ShardManifest::Tensor& t : fileManifest.tensors) {
        if (isWithheldTensor(t.name))
            continue;
        if (t.offset < fileManifest.dataOffset)
            return makeError(ErrorCode::Format, "manifest tensor '" + t.name + "' lies in the header");
        ShardManifest::Tensor moved = t;
        moved.offset = headerBytes + (t.offset - fileManifest.dataOffset);
        m.tensors.push_back(std::move(moved));
    }
    m.digest = m.computeDigest();
    return view;
}

std::optional<std::string> NodeFileView::withheldIn(uint64_t first, uint64_t length) const {
    if (length == 0)
        return std::nullopt;
    const uint64_t end = first + length;
    for (const Withheld& w : m_withheld)
        if (first < w.end && w.begin < end)
            return w.name;
    return std::nullopt;
}

Expected<void> NodeFileView::read(const GgufFile& file, uint64_t first, uint64_t length,
                                  std::byte* out) const {
    if (first > m_size || length > m_size - first)
        return makeError(ErrorCode::InvalidArgument, "bytes [" + std::to_string(first) + ", +" +
                                                         std::to_string(length) + ") are outside the " +
                                                         std::to_string(m_size) + "-byte file");
    if (auto name = withheldIn(first, length))
        return makeError(ErrorCode::InvalidArgument, "bytes [" + std::to_string(first) + ", +" +
                                                         std::to_string(length) + ") cover tensor '" + *name +
                                                         "', which the gateway keeps to itself");
    const std::span<const std::byte> whole = mappedFileBytes(file);
    if (whole.size() != file.fileSize())
        return makeError(ErrorCode::Internal, "model file '" + file.path() + "' is not mapped");
    uint64_t done = 0;
    if (first < m_header.size()) {
        const uint64_t n = std::min<uint64_t>(length, m_header.size() - first);
        std::memcpy(out, m_header.data() + first, static_cast<size_t>(n));
        done = n;
    }
    if (done < length) {
        const uint64_t source = m_originalDataOffset + (first + done - m_header.size());
        std::memcpy(out + done, whole.data() + source, static_cast<size_t>(length - done));
    }
    return {};
}

std::optional<std::span<const std::byte>> NodeFileView::mappedRange(const GgufFile& file, uint64_t first,
                                                                    uint64_t length) const {
    if (first < m_header.size() || first > m_size || length > m_size - first || withheldIn(first, length))
        return std::nullopt;
    const std::span<const std::byte> whole = mappedFileBytes(file);
    const uint64_t source = m_originalDataOffset + (first - m_header.size());
    if (whole.size() != file.fileSize() || source > whole.size() || length > whole.size() - source)
        return std::nullopt;
    return whole.subspan(static_cast<size_t>(source), static_cast<size_t>(length));
}

} // namespace declai
