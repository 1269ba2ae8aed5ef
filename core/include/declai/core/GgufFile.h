// Memory-mapped GGUF (v2, v3) reader. Every count, length, offset and shape is validated against the file
// size with overflow-checked arithmetic; a bad file gives an Error naming the file, the byte offset and the
// problem. The mapping lives as long as the GgufFile object; tensor spans point into it (no copies).
#pragma once

#include "declai/core/Error.h"
#include "declai/core/TensorType.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace declai {

// GGUF metadata value types, numbered as in the file format.
enum class GgufValueType : uint32_t {
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
};

const char* ggufValueTypeName(GgufValueType type);

// An array value: element type plus the elements, widened to one of three vectors.
struct GgufArray {
    GgufValueType elementType = GgufValueType::UInt8;
    std::vector<std::string> strings; // elementType == String
    std::vector<int64_t> integers;    // any integer or bool element type
    std::vector<double> floats;       // Float32 / Float64
    uint64_t size() const;
};

struct GgufValue {
    GgufValueType type = GgufValueType::UInt8;
    // Integers (signed and unsigned, bool) are stored in `integer` (uint64 values above INT64_MAX keep their
    // bits).
    int64_t integer = 0;
    double floating = 0.0;
    std::string string;
    std::shared_ptr<const GgufArray> array;
};

struct GgufTensorInfo {
    std::string name;
    TensorType type = TensorType::F32;
    std::vector<uint64_t> shape; // ne[0] is the row length (fastest-varying), as in ggml
    uint64_t offset = 0;         // relative to the data section
    uint64_t sizeBytes = 0;

    uint64_t elementCount() const;
    uint64_t rowLength() const { return shape.empty() ? 0 : shape[0]; }
    uint64_t rowCount() const; // product of shape[1..]
};

class GgufFile {
public:
    // Maps and parses the whole header; the tensor data is validated for bounds and alignment only.
    static Expected<GgufFile> open(const std::string& path);
    // Parses an in-memory image (used by fuzzers and tests); `bytes` must outlive the GgufFile.
    static Expected<GgufFile> fromMemory(std::span<const std::byte> bytes, std::string displayName);

    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    ~GgufFile();

    const std::string& path() const;
    // True for a file opened with open() (its bytes are a read-only mapping of the file), false for an
    // in-memory image.
    bool isFileMapping() const;
    uint32_t version() const;
    uint64_t alignment() const;
    uint64_t fileSize() const;
    uint64_t dataOffset() const; // absolute byte offset of the tensor data section

    // Metadata, in file order and by key.
    const std::vector<std::string>& metadataKeys() const;
    const GgufValue* find(const std::string& key) const;
    bool contains(const std::string& key) const { return find(key) != nullptr; }

    // Typed accessors: a missing key or a value of an incompatible type is an Error naming the key.
    Expected<std::string> getString(const std::string& key) const;
    Expected<int64_t> getInt(const std::string& key) const;  // any integer type (or bool)
    Expected<double> getFloat(const std::string& key) const; // float or integer types
    Expected<bool> getBool(const std::string& key) const;
    Expected<std::shared_ptr<const GgufArray>> getArray(const std::string& key) const;
    // Optional-with-default variants; an existing key of the wrong type is still an error.
    Expected<int64_t> getIntOr(const std::string& key, int64_t fallback) const;
    Expected<double> getFloatOr(const std::string& key, double fallback) const;
    Expected<bool> getBoolOr(const std::string& key, bool fallback) const;
    Expected<std::string> getStringOr(const std::string& key, const std::string& fallback) const;

    // Renders a value for `inspect` (arrays abbreviated).
    std::string valueToString(const GgufValue& value, size_t maxArrayItems = 8) const;

    const std::vector<GgufTensorInfo>& tensors() const;
    const GgufTensorInfo* findTensor(const std::string& name) const;
    // Bytes of one tensor inside the mapping; bounds were checked at open().
    std::span<const std::byte> tensorData(const GgufTensorInfo& tensor) const;

private:
    struct Impl;
    explicit GgufFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace declai
