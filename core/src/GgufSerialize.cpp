#include "declai/core/GgufSerialize.h"

namespace declai {
namespace {

void appendBytes(std::vector<std::byte>& out, const void* data, size_t bytes) {
    const auto* p = static_cast<const std::byte*>(data);
    out.insert(out.end(), p, p + bytes);
}

template <typename T>
void appendPod(std::vector<std::byte>& out, T value) {
    appendBytes(out, &value, sizeof value);
}

void appendString(std::vector<std::byte>& out, const std::string& s) {
    appendPod<uint64_t>(out, s.size());
    appendBytes(out, s.data(), s.size());
}

bool appendScalar(std::vector<std::byte>& out, GgufValueType type, int64_t integer, double floating,
                  const std::string* text) {
    switch (type) {
    case GgufValueType::UInt8:
        appendPod<uint8_t>(out, static_cast<uint8_t>(integer));
        return true;
    case GgufValueType::Int8:
        appendPod<int8_t>(out, static_cast<int8_t>(integer));
        return true;
    case GgufValueType::UInt16:
        appendPod<uint16_t>(out, static_cast<uint16_t>(integer));
        return true;
    case GgufValueType::Int16:
        appendPod<int16_t>(out, static_cast<int16_t>(integer));
        return true;
    case GgufValueType::UInt32:
        appendPod<uint32_t>(out, static_cast<uint32_t>(integer));
        return true;
    case GgufValueType::Int32:
        appendPod<int32_t>(out, static_cast<int32_t>(integer));
        return true;
    case GgufValueType::UInt64:
        appendPod<uint64_t>(out, static_cast<uint64_t>(integer));
        return true;
    case GgufValueType::Int64:
        appendPod<int64_t>(out, integer);
        return true;
    case GgufValueType::Bool:
        appendPod<uint8_t>(out, integer ? 1 : 0);
        return true;
    case GgufValueType::Float32:
        appendPod<float>(out, static_cast<float>(floating));
        return true;
    case GgufValueType::Float64:
        appendPod<double>(out, floating);
        return true;
    case GgufValueType::String:
        if (!text)
            return false;
        appendString(out, *text);
        return true;
    case GgufValueType::Array:
        return false;
    }
    return false;
}

} // namespace

bool appendGgufKeyValue(std::vector<std::byte>& out, const std::string& key, const GgufValue& value) {
    std::vector<std::byte> entry;
    appendString(entry, key);
    appendPod<uint32_t>(entry, static_cast<uint32_t>(value.type));
    if (value.type == GgufValueType::Array) {
        if (!value.array)
            return false;
        const GgufArray& a = *value.array;
        appendPod<uint32_t>(entry, static_cast<uint32_t>(a.elementType));
        appendPod<uint64_t>(entry, a.size());
        for (uint64_t i = 0; i < a.size(); ++i) {
            const int64_t integer = i < a.integers.size() ? a.integers[i] : 0;
            const double floating = i < a.floats.size() ? a.floats[i] : 0.0;
            const std::string* text = i < a.strings.size() ? &a.strings[i] : nullptr;
            if (!appendScalar(entry, a.elementType, integer, floating, text))
                return false;
        }
    } else if (!appendScalar(entry, value.type, value.integer, value.floating, &value.string)) {
        return false;
    }
    out.insert(out.end(), entry.begin(), entry.end());
    return true;
}

} // namespace declai
