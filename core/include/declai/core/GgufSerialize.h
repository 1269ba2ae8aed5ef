// Writing GGUF: the byte appenders and the one serialiser of a metadata entry, shared by the model
// synthesiser and the gateway's NodeFileView header. Pure functions.
#pragma once

#include "declai/core/GgufFile.h"

#include <cstddef>
#include <string>
#include <vector>

namespace declai {

// Raw bytes, a little-endian scalar (GGUF is little-endian; so are the hosts we build for), and a GGUF
// string (u64 length, then the bytes).
inline void appendGgufBytes(std::vector<std::byte>& out, const void* data, size_t bytes) {
    const auto* p = static_cast<const std::byte*>(data);
    out.insert(out.end(), p, p + bytes);
}
template <typename T>
void appendGgufPod(std::vector<std::byte>& out, T value) {
    appendGgufBytes(out, &value, sizeof value);
}
inline void appendGgufString(std::vector<std::byte>& out, const std::string& s) {
    appendGgufPod<uint64_t>(out, s.size());
    appendGgufBytes(out, s.data(), s.size());
}

// Appends one metadata entry (key, type, value) as GGUF stores it; false (and nothing appended) for nested
// arrays and values whose type cannot be written.
bool appendGgufKeyValue(std::vector<std::byte>& out, const std::string& key, const GgufValue& value);

} // namespace declai
