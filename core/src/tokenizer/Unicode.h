// Code point helpers shared by the SentencePiece and BPE tokenizers. The UTF-8 decoder deliberately mirrors
// llama.cpp's lenient one (no overlong or surrogate checks; a byte that cannot start a sequence becomes
// U+FFFD) because token ids must match llama.cpp's even on odd input.
#pragma once

#include "tokenizer/UnicodeTables.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace declai::tokenizer::detail {

constexpr uint32_t kReplacementChar = 0xFFFD;

// Flags of one code point (0 for unassigned and anything outside the tables).
uint8_t codepointFlags(uint32_t cp);

// Byte length of the UTF-8 sequence a lead byte announces, 1 for continuation bytes (llama.cpp's
// unicode_len_utf8), used to cut text into "characters" without validating it.
inline size_t utf8SequenceLength(unsigned char lead) {
    static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLengths[lead >> 4];
}

// Lenient decode of the whole text; invalid bytes become U+FFFD, one per byte.
std::vector<uint32_t> decodeUtf8Lenient(std::string_view text);

// Appends the UTF-8 encoding of cp (cp must be <= 0x10FFFF; larger values append U+FFFD).
void appendUtf8(std::string& out, uint32_t cp);

// GPT-2 byte-level mapping: every byte to a printable code point, and back (-1 when cp is not in the map).
uint32_t byteToUnicode(uint8_t byte);
int unicodeToByte(uint32_t cp);

// Length of a complete, strictly valid UTF-8 sequence at the start of `bytes`: >0 valid sequence length,
// 0 when `bytes` is a valid but incomplete prefix (more bytes could complete it), -1 when invalid.
int strictUtf8SequenceLength(std::string_view bytes);

} // namespace declai::tokenizer::detail
