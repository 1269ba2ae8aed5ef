#include "declai/core/TensorType.h"

#include <array>
#include <cctype>
#include <string>

namespace declai {
namespace {

struct TypeRow {
    uint32_t id;
    TensorTypeTraits traits;
};

// Block sizes as ggml defines them; computeSupported marks what the engine can multiply with.
constexpr std::array kTypes = {
    TypeRow{0, {"F32", 1, 4, true}},
    TypeRow{1, {"F16", 1, 2, true}},
    TypeRow{2, {"Q4_0", 32, 18, true}},
    TypeRow{3, {"Q4_1", 32, 20, true}},
    TypeRow{6, {"Q5_0", 32, 22, true}},
    TypeRow{7, {"Q5_1", 32, 24, true}},
    TypeRow{8, {"Q8_0", 32, 34, true}},
    TypeRow{9, {"Q8_1", 32, 36, false}},
    TypeRow{10, {"Q2_K", 256, 84, true}},
    TypeRow{11, {"Q3_K", 256, 110, true}},
    TypeRow{12, {"Q4_K", 256, 144, true}},
    TypeRow{13, {"Q5_K", 256, 176, true}},
    TypeRow{14, {"Q6_K", 256, 210, true}},
    TypeRow{15, {"Q8_K", 256, 292, false}},
    // Block sizes checked against ggml_blck_size()/ggml_type_size() of the llama.cpp node-llama-cpp bundles.
    TypeRow{16, {"IQ2_XXS", 256, 66, false}},
    TypeRow{17, {"IQ2_XS", 256, 74, false}},
    TypeRow{18, {"IQ3_XXS", 256, 98, false}},
    TypeRow{19, {"IQ1_S", 256, 50, false}},
    TypeRow{20, {"IQ4_NL", 32, 18, true}},
    TypeRow{21, {"IQ3_S", 256, 110, false}},
    TypeRow{22, {"IQ2_S", 256, 82, false}},
    TypeRow{23, {"IQ4_XS", 256, 136, true}},
    TypeRow{24, {"I8", 1, 1, false}},
    TypeRow{25, {"I16", 1, 2, false}},
    TypeRow{26, {"I32", 1, 4, false}},
    TypeRow{27, {"I64", 1, 8, false}},
    TypeRow{28, {"F64", 1, 8, false}},
    TypeRow{29, {"IQ1_M", 256, 56, false}},
    TypeRow{30, {"BF16", 1, 2, true}},
    TypeRow{34, {"TQ1_0", 256, 54, false}},
    TypeRow{35, {"TQ2_0", 256, 66, false}},
    TypeRow{39, {"MXFP4", 32, 17, false}},
    TypeRow{40, {"NVFP4", 64, 36, false}},
    TypeRow{41, {"Q1_0", 128, 18, false}},
    TypeRow{42, {"Q2_0", 64, 18, false}},
};

} // namespace

std::optional<TensorTypeTraits> tensorTypeTraits(uint32_t rawType) {
    for (const TypeRow& row : kTypes) {
        if (row.id == rawType)
            return row.traits;
    }
    return std::nullopt;
}

TensorTypeTraits tensorTypeTraits(TensorType type) {
    const auto traits = tensorTypeTraits(static_cast<uint32_t>(type));
    return traits ? *traits : TensorTypeTraits{"?", 1, 1, false};
}

std::string_view tensorTypeName(TensorType type) {
    return tensorTypeTraits(type).name;
}

std::optional<TensorType> tensorTypeFromName(std::string_view name) {
    std::string upper(name);
    for (char& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const TypeRow& row : kTypes) {
        if (row.traits.name == upper)
            return static_cast<TensorType>(row.id);
    }
    return std::nullopt;
}

std::optional<uint64_t> tensorBytes(TensorType type, uint64_t elements) {
    const TensorTypeTraits traits = tensorTypeTraits(type);
    if (elements % traits.blockElements != 0)
        return std::nullopt;
    const uint64_t blocks = elements / traits.blockElements;
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(traits.blockBytes), &bytes))
        return std::nullopt;
    return bytes;
}

} // namespace declai
