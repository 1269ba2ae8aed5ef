// Generated code point range tables (see tools/gen_unicode_tables.py) and the flags they carry.
#pragma once

#include <cstddef>
#include <cstdint>

namespace declai::tokenizer::detail {

enum CodepointFlag : uint8_t {
    kLetter = 1,      // \p{L}
    kNumber = 2,      // \p{N}
    kWhitespace = 4,  // \s (Unicode White_Space)
    kPunctuation = 8, // \p{P}
};

struct UnicodeRange {
    uint32_t first;
    uint32_t last;
    uint8_t flags;
};

extern const UnicodeRange kUnicodeRanges[];
extern const std::size_t kUnicodeRangeCount;

} // namespace declai::tokenizer::detail
