#include "declai/core/GgufFile.h"

#include <QFile>
#include <cstring>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace declai {
namespace {

constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;               // ggml's GGML_MAX_DIMS
constexpr uint64_t kMaxStringBytes = 1u << 30; // no key, name or value is legitimately 1 GiB
constexpr uint32_t kMaxArrayNesting = 2;

std::optional<uint32_t> scalarSize(GgufValueType type) {
    switch (type) {
    case GgufValueType::UInt8:
    case GgufValueType::Int8:
    case GgufValueType::Bool:
        return 1;
    case GgufValueType::UInt16:
    case GgufValueType::Int16:
        return 2;
    case GgufValueType::UInt32:
    case GgufValueType::Int32:
    case GgufValueType::Float32:
        return 4;
    case GgufValueType::UInt64:
    case GgufValueType::Int64:
    case GgufValueType::Float64:
        return 8;
    case GgufValueType::String:
    case GgufValueType::Array:
        return std::nullopt;
    }
    return std::nullopt;
}

bool isKnownValueType(uint32_t raw) {
    return raw <= static_cast<uint32_t>(GgufValueType::Float64);
}

bool isIntegerType(GgufValueType type) {
    switch (type) {
    case GgufValueType::UInt8:
    case GgufValueType::Int8:
    case GgufValueType::UInt16:
    case GgufValueType::Int16:
    case GgufValueType::UInt32:
    case GgufValueType::Int32:
    case GgufValueType::UInt64:
    case GgufValueType::Int64:
    case GgufValueType::Bool:
        return true;
    default:
        return false;
    }
}

// Bounds-checked little-endian cursor over the mapped bytes. Every read reports where it failed.
class Cursor {
public:
    Cursor(std::span<const std::byte> bytes, const std::string& name) : m_bytes(bytes), m_name(name) {}

    uint64_t offset() const { return m_offset; }
    uint64_t remaining() const { return m_bytes.size() - m_offset; }

    Error fail(const std::string& what) const { return failAt(m_offset, what); }
    Error failAt(uint64_t offset, const std::string& what) const {
        return makeError(ErrorCode::Format,
                         "GGUF file '" + m_name + "' at byte " + std::to_string(offset) + ": " + what);
    }

    template <class T>
    Expected<T> read(const char* what) {
        if (remaining() < sizeof(T))
            return fail(std::string("file ends inside ") + what + " (needs " + std::to_string(sizeof(T)) +
                        " bytes, " + std::to_string(remaining()) + " left)");
        T value;
        std::memcpy(&value, m_bytes.data() + m_offset, sizeof(T));
        m_offset += sizeof(T);
        return value;
    }

    Expected<std::string> readString(const char* what) {
        const uint64_t start = m_offset;
        auto length = read<uint64_t>(what);
        if (!length)
            return length.error();
        if (*length > remaining() || *length > kMaxStringBytes)
            return failAt(start, std::string(what) + " claims " + std::to_string(*length) +
                                     " bytes but only " + std::to_string(remaining()) + " remain");
        std::string text(reinterpret_cast<const char*>(m_bytes.data() + m_offset), *length);
        m_offset += *length;
        return text;
    }

    Expected<void> skip(uint64_t count, const char* what) {
        if (count > remaining())
            return fail(std::string("file ends inside ") + what);
        m_offset += count;
        return {};
    }

private:
    std::span<const std::byte> m_bytes;
    const std::string& m_name;
    uint64_t m_offset = 0;
};

} // namespace

const char* ggufValueTypeName(GgufValueType type) {
    switch (type) {
    case GgufValueType::UInt8:
        return "u8";
    case GgufValueType::Int8:
        return "i8";
    case GgufValueType::UInt16:
        return "u16";
    case GgufValueType::Int16:
        return "i16";
    case GgufValueType::UInt32:
        return "u32";
    case GgufValueType::Int32:
        return "i32";
    case GgufValueType::Float32:
        return "f32";
    case GgufValueType::Bool:
        return "bool";
    case GgufValueType::String:
        return "str";
    case GgufValueType::Array:
        return "arr";
    case GgufValueType::UInt64:
        return "u64";
    case GgufValueType::Int64:
        return "i64";
    case GgufValueType::Float64:
        return "f64";
    }
    return "?";
}

uint64_t GgufArray::size() const {
    if (elementType == GgufValueType::String)
        return strings.size();
    if (elementType == GgufValueType::Float32 || elementType == GgufValueType::Float64)
        return floats.size();
    return integers.size();
}

uint64_t GgufTensorInfo::elementCount() const {
    uint64_t count = 1;
    for (uint64_t dim : shape)
        count *= dim; // overflow was ruled out when the file was opened
    return count;
}

uint64_t GgufTensorInfo::rowCount() const {
    uint64_t count = 1;
    for (size_t i = 1; i < shape.size(); ++i)
        count *= shape[i];
    return count;
}

struct GgufFile::Impl {
    std::string path;
    std::unique_ptr<QFile> file; // null for in-memory images
    std::span<const std::byte> bytes;
    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    uint64_t dataOffset = 0;
    std::vector<std::string> keys;
    std::unordered_map<std::string, GgufValue> values;
    std::vector<GgufTensorInfo> tensors;
    std::unordered_map<std::string, size_t> tensorIndex;

    ~Impl() {
        if (file && !bytes.empty())
            file->unmap(reinterpret_cast<uchar*>(const_cast<std::byte*>(bytes.data())));
    }

    Expected<void> parse();
    Expected<GgufValue> readValue(Cursor& cursor, GgufValueType type, uint32_t depth, const std::string& key);
};

Expected<GgufValue> GgufFile::Impl::readValue(Cursor& cursor, GgufValueType type, uint32_t depth,
                                              const std::string& key) {
    GgufValue value;
    value.type = type;
    const std::string where = "value of '" + key + "'";
    switch (type) {
    case GgufValueType::UInt8: {
        auto v = cursor.read<uint8_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = *v;
        break;
    }
    case GgufValueType::Int8: {
        auto v = cursor.read<int8_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = *v;
        break;
    }
    case GgufValueType::UInt16: {
        auto v = cursor.read<uint16_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = *v;
        break;
    }
    case GgufValueType::Int16: {
        auto v = cursor.read<int16_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = *v;
        break;
    }
    case GgufValueType::UInt32: {
        auto v = cursor.read<uint32_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = *v;
        break;
    }
    case GgufValueType::Int32: {
        auto v = cursor.read<int32_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = *v;
        break;
    }
    case GgufValueType::UInt64: {
        auto v = cursor.read<uint64_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = static_cast<int64_t>(*v);
        break;
    }
    case GgufValueType::Int64: {
        auto v = cursor.read<int64_t>(where.c_str());
        if (!v)
            return v.error();
        value.integer = *v;
        break;
    }
    case GgufValueType::Bool: {
        const uint64_t at = cursor.offset();
        auto v = cursor.read<uint8_t>(where.c_str());
        if (!v)
            return v.error();
        if (*v > 1)
            return cursor.failAt(at, "bool " + where + " is " + std::to_string(*v) + " (must be 0 or 1)");
        value.integer = *v;
        break;
    }
    case GgufValueType::Float32: {
        auto v = cursor.read<float>(where.c_str());
        if (!v)
            return v.error();
        value.floating = *v;
        break;
    }
    case GgufValueType::Float64: {
        auto v = cursor.read<double>(where.c_str());
        if (!v)
            return v.error();
        value.floating = *v;
        break;
    }
    case GgufValueType::String: {
        auto v = cursor.readString(where.c_str());
        if (!v)
            return v.error();
        value.string = std::move(*v);
        break;
    }
    case GgufValueType::Array: {
        const uint64_t at = cursor.offset();
        if (depth >= kMaxArrayNesting)
            return cursor.failAt(at, "arrays nested too deeply in '" + key + "'");
        auto rawElement = cursor.read<uint32_t>("array element type");
        if (!rawElement)
            return rawElement.error();
        if (!isKnownValueType(*rawElement))
            return cursor.failAt(at, "unknown array element type " + std::to_string(*rawElement) + " in '" +
                                         key + "'");
        auto count = cursor.read<uint64_t>("array length");
        if (!count)
            return count.error();
        const auto elementType = static_cast<GgufValueType>(*rawElement);
        if (elementType == GgufValueType::Array)
            return cursor.failAt(at, "nested arrays are not supported ('" + key + "')");
        // Each element needs at least its fixed size (8 bytes for a string's length), so a count larger
        // than the rest of the file is rejected before anything is allocated.
        const uint64_t minElementBytes = scalarSize(elementType).value_or(8);
        if (*count > cursor.remaining() / minElementBytes)
            return cursor.failAt(at + 4, "array '" + key + "' claims " + std::to_string(*count) +
                                             " elements, more than the " +
                                             std::to_string(cursor.remaining()) + " bytes left can hold");
        auto array = std::make_shared<GgufArray>();
        array->elementType = elementType;
        if (elementType == GgufValueType::String)
            array->strings.reserve(*count);
        else if (elementType == GgufValueType::Float32 || elementType == GgufValueType::Float64)
            array->floats.reserve(*count);
        else
            array->integers.reserve(*count);
        for (uint64_t i = 0; i < *count; ++i) {
            auto element = readValue(cursor, elementType, depth + 1, key);
            if (!element)
                return element.error();
            if (elementType == GgufValueType::String)
                array->strings.push_back(std::move(element->string));
            else if (elementType == GgufValueType::Float32 || elementType == GgufValueType::Float64)
                array->floats.push_back(element->floating);
            else
                array->integers.push_back(element->integer);
        }
        value.array = std::move(array);
        break;
    }
    }
    return value;
}

Expected<void> GgufFile::Impl::parse() {
    Cursor cursor(bytes, path);
    auto magic = cursor.read<uint32_t>("magic");
    if (!magic)
        return magic.error();
    if (std::memcmp(bytes.data(), "GGUF", 4) != 0)
        return cursor.failAt(0, "bad magic (not a GGUF file)");
    auto fileVersion = cursor.read<uint32_t>("version");
    if (!fileVersion)
        return fileVersion.error();
    if (*fileVersion != 2 && *fileVersion != 3)
        return cursor.failAt(4, "unsupported GGUF version " + std::to_string(*fileVersion) +
                                    " (supported: 2, 3)");
    version = *fileVersion;
    auto tensorCount = cursor.read<uint64_t>("tensor count");
    if (!tensorCount)
        return tensorCount.error();
    auto kvCount = cursor.read<uint64_t>("metadata count");
    if (!kvCount)
        return kvCount.error();
    // A key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 8+4+4+8.
    if (*kvCount > cursor.remaining() / 13)
        return cursor.failAt(16, "metadata count " + std::to_string(*kvCount) + " cannot fit in the file");
    if (*tensorCount > cursor.remaining() / 24)
        return cursor.failAt(8, "tensor count " + std::to_string(*tensorCount) + " cannot fit in the file");

    for (uint64_t i = 0; i < *kvCount; ++i) {
        const uint64_t at = cursor.offset();
        auto key = cursor.readString("metadata key");
        if (!key)
            return key.error();
        if (key->empty())
            return cursor.failAt(at, "empty metadata key");
        if (values.count(*key))
            return cursor.failAt(at, "duplicate metadata key '" + *key + "'");
        const uint64_t typeAt = cursor.offset();
        auto rawType = cursor.read<uint32_t>("metadata value type");
        if (!rawType)
            return rawType.error();
        if (!isKnownValueType(*rawType))
            return cursor.failAt(typeAt, "unknown value type " + std::to_string(*rawType) + " for key '" +
                                             *key + "'");
        auto value = readValue(cursor, static_cast<GgufValueType>(*rawType), 0, *key);
        if (!value)
            return value.error();
        keys.push_back(*key);
        values.emplace(*key, std::move(*value));
    }

    if (auto it = values.find("general.alignment"); it != values.end()) {
        const GgufValue& v = it->second;
        if (!isIntegerType(v.type) || v.type == GgufValueType::Bool)
            return makeError(ErrorCode::Format,
                             "GGUF file '" + path + "': general.alignment is not an integer");
        const auto a = static_cast<uint64_t>(v.integer);
        if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 20))
            return makeError(ErrorCode::Format, "GGUF file '" + path + "': general.alignment " +
                                                    std::to_string(v.integer) +
                                                    " is not a power of two <= 1 MiB");
        alignment = a;
    }

    tensors.reserve(*tensorCount);
    for (uint64_t i = 0; i < *tensorCount; ++i) {
        const uint64_t at = cursor.offset();
        GgufTensorInfo info;
        auto name = cursor.readString("tensor name");
        if (!name)
            return name.error();
        info.name = std::move(*name);
        if (tensorIndex.count(info.name))
            return cursor.failAt(at, "duplicate tensor name '" + info.name + "'");
        const uint64_t dimsAt = cursor.offset();
        auto dims = cursor.read<uint32_t>("tensor dimension count");
        if (!dims)
            return dims.error();
        if (*dims == 0 || *dims > kMaxDims)
            return cursor.failAt(dimsAt, "tensor '" + info.name + "' has " + std::to_string(*dims) +
                                             " dimensions (1 to 4 allowed)");
        uint64_t elements = 1;
        for (uint32_t d = 0; d < *dims; ++d) {
            const uint64_t dimAt = cursor.offset();
            auto extent = cursor.read<uint64_t>("tensor shape");
            if (!extent)
                return extent.error();
            if (*extent == 0 || *extent > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                return cursor.failAt(dimAt, "tensor '" + info.name + "' has invalid extent " +
                                                std::to_string(*extent) + " in dimension " +
                                                std::to_string(d));
            if (__builtin_mul_overflow(elements, *extent, &elements))
                return cursor.failAt(dimAt, "tensor '" + info.name + "' element count overflows");
            info.shape.push_back(*extent);
        }
        const uint64_t typeAt = cursor.offset();
        auto rawType = cursor.read<uint32_t>("tensor type");
        if (!rawType)
            return rawType.error();
        const auto traits = tensorTypeTraits(*rawType);
        if (!traits)
            return cursor.failAt(typeAt,
                                 "tensor '" + info.name + "' has unknown type " + std::to_string(*rawType));
        info.type = static_cast<TensorType>(*rawType);
        if (info.shape[0] % traits->blockElements != 0)
            return cursor.failAt(dimsAt, "tensor '" + info.name + "' row length " +
                                             std::to_string(info.shape[0]) + " is not a multiple of the " +
                                             std::string(traits->name) + " block size " +
                                             std::to_string(traits->blockElements));
        const auto size = tensorBytes(info.type, elements);
        if (!size)
            return cursor.failAt(dimsAt, "tensor '" + info.name + "' byte size overflows");
        info.sizeBytes = *size;
        auto offset = cursor.read<uint64_t>("tensor offset");
        if (!offset)
            return offset.error();
        info.offset = *offset;
        tensorIndex.emplace(info.name, tensors.size());
        tensors.push_back(std::move(info));
    }

    // The data section starts at the next multiple of the alignment after the header.
    const uint64_t headerEnd = cursor.offset();
    const uint64_t padding = (alignment - headerEnd % alignment) % alignment;
    dataOffset = headerEnd + padding;
    if (!tensors.empty() && dataOffset > bytes.size())
        return cursor.failAt(headerEnd, "file ends before the tensor data section");
    const uint64_t dataSize = bytes.size() - std::min<uint64_t>(dataOffset, bytes.size());
    for (const GgufTensorInfo& t : tensors) {
        if (t.offset % alignment != 0)
            return makeError(ErrorCode::Format, "GGUF file '" + path + "': tensor '" + t.name +
                                                    "' data offset " + std::to_string(t.offset) +
                                                    " is not aligned to " + std::to_string(alignment) +
                                                    " bytes");
        uint64_t end = 0;
        if (__builtin_add_overflow(t.offset, t.sizeBytes, &end) || end > dataSize)
            return makeError(ErrorCode::Format, "GGUF file '" + path + "': tensor '" + t.name + "' data [" +
                                                    std::to_string(dataOffset + t.offset) + ", +" +
                                                    std::to_string(t.sizeBytes) +
                                                    ") runs past the end of the file (" +
                                                    std::to_string(bytes.size()) + " bytes)");
    }
    return {};
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

Expected<GgufFile> GgufFile::open(const std::string& path) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->file = std::make_unique<QFile>(QString::fromStdString(path));
    if (!impl->file->open(QIODevice::ReadOnly))
        return makeError(ErrorCode::Io,
                         "cannot open '" + path + "': " + impl->file->errorString().toStdString());
    const qint64 size = impl->file->size();
    if (size < 24)
        return makeError(ErrorCode::Format, "GGUF file '" + path + "' at byte 0: file is " +
                                                std::to_string(size) + " bytes, too short for a GGUF header");
    uchar* mapped = impl->file->map(0, size);
    if (!mapped)
        return makeError(ErrorCode::Io,
                         "cannot memory-map '" + path + "': " + impl->file->errorString().toStdString());
    impl->bytes =
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(mapped), static_cast<size_t>(size));
    if (auto parsed = impl->parse(); !parsed)
        return parsed.error();
    return GgufFile(std::move(impl));
}

Expected<GgufFile> GgufFile::fromMemory(std::span<const std::byte> bytes, std::string displayName) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(displayName);
    impl->bytes = bytes;
    if (bytes.size() < 24)
        return makeError(ErrorCode::Format, "GGUF file '" + impl->path + "' at byte 0: file is " +
                                                std::to_string(bytes.size()) +
                                                " bytes, too short for a GGUF header");
    if (auto parsed = impl->parse(); !parsed)
        return parsed.error();
    return GgufFile(std::move(impl));
}

const std::string& GgufFile::path() const {
    return m_impl->path;
}
bool GgufFile::isFileMapping() const {
    return m_impl->file != nullptr;
}
uint32_t GgufFile::version() const {
    return m_impl->version;
}
uint64_t GgufFile::alignment() const {
    return m_impl->alignment;
}
uint64_t GgufFile::fileSize() const {
    return m_impl->bytes.size();
}
uint64_t GgufFile::dataOffset() const {
    return m_impl->dataOffset;
}
const std::vector<std::string>& GgufFile::metadataKeys() const {
    return m_impl->keys;
}
const std::vector<GgufTensorInfo>& GgufFile::tensors() const {
    return m_impl->tensors;
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = m_impl->values.find(key);
    return it == m_impl->values.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::findTensor(const std::string& name) const {
    auto it = m_impl->tensorIndex.find(name);
    return it == m_impl->tensorIndex.end() ? nullptr : &m_impl->tensors[it->second];
}

std::span<const std::byte> GgufFile::tensorData(const GgufTensorInfo& tensor) const {
    return m_impl->bytes.subspan(m_impl->dataOffset + tensor.offset, tensor.sizeBytes);
}

namespace {
Error missingKey(const std::string& path, const std::string& key) {
    return makeError(ErrorCode::NotFound, "GGUF file '" + path + "': metadata key '" + key + "' is missing");
}
Error wrongType(const std::string& path, const std::string& key, GgufValueType type, const char* wanted) {
    return makeError(ErrorCode::Format, "GGUF file '" + path + "': metadata key '" + key + "' is " +
                                            ggufValueTypeName(type) + ", expected " + wanted);
}
} // namespace

Expected<std::string> GgufFile::getString(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v)
        return missingKey(path(), key);
    if (v->type != GgufValueType::String)
        return wrongType(path(), key, v->type, "a string");
    return v->string;
}

Expected<int64_t> GgufFile::getInt(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v)
        return missingKey(path(), key);
    if (!isIntegerType(v->type))
        return wrongType(path(), key, v->type, "an integer");
    return v->integer;
}

Expected<double> GgufFile::getFloat(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v)
        return missingKey(path(), key);
    if (v->type == GgufValueType::Float32 || v->type == GgufValueType::Float64)
        return v->floating;
    if (isIntegerType(v->type) && v->type != GgufValueType::Bool)
        return static_cast<double>(v->integer);
    return wrongType(path(), key, v->type, "a number");
}

Expected<bool> GgufFile::getBool(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v)
        return missingKey(path(), key);
    if (v->type != GgufValueType::Bool)
        return wrongType(path(), key, v->type, "a bool");
    return v->integer != 0;
}

Expected<std::shared_ptr<const GgufArray>> GgufFile::getArray(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v)
        return missingKey(path(), key);
    if (v->type != GgufValueType::Array)
        return wrongType(path(), key, v->type, "an array");
    return v->array;
}

Expected<int64_t> GgufFile::getIntOr(const std::string& key, int64_t fallback) const {
    return contains(key) ? getInt(key) : Expected<int64_t>(fallback);
}
Expected<double> GgufFile::getFloatOr(const std::string& key, double fallback) const {
    return contains(key) ? getFloat(key) : Expected<double>(fallback);
}
Expected<bool> GgufFile::getBoolOr(const std::string& key, bool fallback) const {
    return contains(key) ? getBool(key) : Expected<bool>(fallback);
}
Expected<std::string> GgufFile::getStringOr(const std::string& key, const std::string& fallback) const {
    return contains(key) ? getString(key) : Expected<std::string>(fallback);
}

std::string GgufFile::valueToString(const GgufValue& value, size_t maxArrayItems) const {
    std::ostringstream out;
    switch (value.type) {
    case GgufValueType::String:
        out << '"' << value.string << '"';
        break;
    case GgufValueType::Float32:
    case GgufValueType::Float64:
        out << value.floating;
        break;
    case GgufValueType::Bool:
        out << (value.integer ? "true" : "false");
        break;
    case GgufValueType::UInt64:
        out << static_cast<uint64_t>(value.integer);
        break;
    case GgufValueType::Array: {
        const GgufArray& a = *value.array;
        out << ggufValueTypeName(a.elementType) << '[' << a.size() << "] [";
        const size_t shown = std::min<uint64_t>(a.size(), maxArrayItems);
        for (size_t i = 0; i < shown; ++i) {
            if (i)
                out << ", ";
            if (a.elementType == GgufValueType::String)
                out << '"' << a.strings[i] << '"';
            else if (a.elementType == GgufValueType::Float32 || a.elementType == GgufValueType::Float64)
                out << a.floats[i];
            else
                out << a.integers[i];
        }
        if (shown < a.size())
            out << ", ...";
        out << ']';
        break;
    }
    default:
        out << value.integer;
        break;
    }
    return out.str();
}

} // namespace declai
