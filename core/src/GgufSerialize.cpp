#include "declai/core/GgufSerialize.h"

namespace declai {
namespace {

bool appendScalar(std::vector<std::byte>& out, GgufValueType type, int64_t integer, double floating,
                  const std::string* text) {
    switch (type) {
    case GgufValueType::UInt8:
        appendGgufPod<uint8_t>(out, static_cast<uint8_t>(integer));
        return true;
    case GgufValueType::Int8:
        appendGgufPod<int8_t>(out, static_cast<int8_t>(integer));
        return true;
    case GgufValueType::UInt16:
        appendGgufPod<uint16_t>(out, static_cast<uint16_t>(integer));
        return true;
    case GgufValueType::Int16:
        appendGgufPod<int16_t>(out, static_cast<int16_t>(integer));
        return true;
    case GgufValueType::UInt32:
        appendGgufPod<uint32_t>(out, static_cast<uint32_t>(integer));
        return true;
    case GgufValueType::Int32:
        appendGgufPod<int32_t>(out, static_cast<int32_t>(integer));
        return true;
    case GgufValueType::UInt64:
        appendGgufPod<uint64_t>(out, static_cast<uint64_t>(integer));
        return true;
    case GgufValueType::Int64:
        appendGgufPod<int64_t>(out, integer);
        return true;
    case GgufValueType::Bool:
        appendGgufPod<uint8_t>(out, integer ? 1 : 0);
        return true;
    case GgufValueType::Float32:
        appendGgufPod<float>(out, static_cast<float>(floating));
        return true;
    case GgufValueType::Float64:
        appendGgufPod<double>(out, floating);
        return true;
    case GgufValueType::String:
        if (!text)
            return false;
        appendGgufString(out, *text);
        return true;
    case GgufValueType::Array:
        return false;
    }
    return false;
}

} // namespace

bool appendGgufKeyValue(std::vector<std::byte>& out, const std::string& key, const GgufValue& value) {
    std::vector<std::byte> entry;
    appendGgufString(entry, key);
    appendGgufPod<uint32_t>(entry, static_cast<uint32_t>(value.type));
    if (value.type == GgufValueType::Array) {
        if (!value.array)
            return false;
        const GgufArray& a = *value.array;
        appendGgufPod<uint32_t>(entry, static_cast<uint32_t>(a.elementType));
        appendGgufPod<uint64_t>(entry, a.size());
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
