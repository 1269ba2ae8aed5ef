// Tensor element formats (ggml numbering) and their block layouts. Weights are read in place from the
// memory map; these structs describe the bytes exactly as llama.cpp writes them (little-endian).
#pragma once

#include "declai/core/Error.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace declai {

enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    // From here on only IQ4_NL and IQ4_XS are computed; the others are readable (the block layout is known,
    // so sizes are checked) but a model using them is refused with the type's name instead of failing to
    // parse.
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
};

struct TensorTypeTraits {
    std::string_view name;
    uint32_t blockElements = 0;    // values per block (1 for plain types)
    uint32_t blockBytes = 0;       // bytes per block
    bool computeSupported = false; // the engine can multiply with it
};

// Traits of a raw type id from a file; nullopt for ids ggml does not define.
std::optional<TensorTypeTraits> tensorTypeTraits(uint32_t rawType);
TensorTypeTraits tensorTypeTraits(TensorType type);
std::string_view tensorTypeName(TensorType type);
// Parses "f32", "q8_0", "Q4_K" ... (case-insensitive).
std::optional<TensorType> tensorTypeFromName(std::string_view name);

// Bytes used by `elements` values of `type`; nullopt when `elements` is not a whole number of blocks or
// the product overflows.
std::optional<uint64_t> tensorBytes(TensorType type, uint64_t elements);

constexpr int kQK8_0 = 32;
constexpr int kQK4_0 = 32;
constexpr int kQK8_1 = 32;
constexpr int kQK4_1 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK5_1 = 32;
constexpr int kQK4_NL = 32;
constexpr int kQKK = 256; // K-quant super-block
constexpr int kKScaleBytes = 12;

using f16_bits = uint16_t;
using bf16_bits = uint16_t;

struct BlockQ8_0 {
    f16_bits d;
    int8_t qs[kQK8_0];
};
struct BlockQ4_0 {
    f16_bits d;
    uint8_t qs[kQK4_0 / 2]; // low nibbles: values 0..15, high nibbles: values 16..31
};
struct BlockQ4_K {
    f16_bits d;
    f16_bits dmin;
    uint8_t scales[kKScaleBytes]; // 8 six-bit scales and 8 six-bit mins, packed
    uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
    uint8_t ql[kQKK / 2];
    uint8_t qh[kQKK / 4];
    int8_t scales[kQKK / 16];
    f16_bits d;
};
struct BlockQ4_1 {
    f16_bits d;
    f16_bits m;             // value = d * q + m, q in 0..15
    uint8_t qs[kQK4_1 / 2]; // low nibbles: values 0..15, high nibbles: values 16..31
};
struct BlockQ5_0 {
    f16_bits d;
    uint8_t qh[4];          // bit j: the fifth bit of value j
    uint8_t qs[kQK5_0 / 2]; // value = d * ((nibble | bit << 4) - 16)
};
struct BlockQ5_1 {
    f16_bits d;
    f16_bits m;
    uint8_t qh[4];
    uint8_t qs[kQK5_1 / 2]; // value = d * (nibble | bit << 4) + m
};
// Activation block for Q4_1 / Q5_1 dot products: s = d * sum(qs) carries the block sum for the weights' m.
struct BlockQ8_1 {
    f16_bits d;
    f16_bits s;
    int8_t qs[kQK8_1];
};
struct BlockQ2_K {
    uint8_t scales[kQKK / 16]; // per 16 values: low nibble scale, high nibble min
    uint8_t qs[kQKK / 4];      // 2-bit values, four per byte
    f16_bits d;
    f16_bits dmin;
};
struct BlockQ3_K {
    uint8_t hmask[kQKK / 8]; // the third bit (set: no -4 offset)
    uint8_t qs[kQKK / 4];    // low 2 bits
    uint8_t scales[12];      // 16 six-bit scales (offset by 32), packed
    f16_bits d;
};
struct BlockQ5_K {
    f16_bits d;
    f16_bits dmin;
    uint8_t scales[kKScaleBytes]; // as Q4_K
    uint8_t qh[kQKK / 8];         // fifth bits
    uint8_t qs[kQKK / 2];         // low 4 bits, as Q4_K
};
struct BlockIQ4_NL {
    f16_bits d;
    uint8_t qs[kQK4_NL / 2]; // nibbles index the non-linear table kIQ4NLValues
};
struct BlockIQ4_XS {
    f16_bits d;
    uint16_t scalesHigh;          // 2 high bits of each of the 8 six-bit sub-block scales
    uint8_t scalesLow[kQKK / 64]; // 4 low bits of each scale, two per byte
    uint8_t qs[kQKK / 2];         // per 32 values: 16 bytes, low nibbles first 16, high nibbles next 16
};
// The 16 values an IQ4_NL / IQ4_XS nibble stands for (ggml's kvalues_iq4nl).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// Activation block for K-quant dot products (never stored in files we read).
struct BlockQ8_K {
    float d;
    int8_t qs[kQKK];
    int16_t bsums[kQKK / 16];
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);

} // namespace declai
