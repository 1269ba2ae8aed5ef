#include "tokenizer/Unicode.h"

#include <algorithm>
#include <array>

namespace declai::tokenizer::detail {

uint8_t codepointFlags(uint32_t cp) {
    const UnicodeRange* begin = kUnicodeRanges;
    const UnicodeRange* end = kUnicodeRanges + kUnicodeRangeCount;
    // First range whose last code point is >= cp; it contains cp only if it also starts at or before it.
    const UnicodeRange* it = std::lower_bound(
        begin, end, cp, [](const UnicodeRange& r, uint32_t value) { return r.last < value; });
    if (it == end || it->first > cp)
        return 0;
    return it->flags;
}

std::vector<uint32_t> decodeUtf8Lenient(std::string_view text) {
    std::vector<uint32_t> out;
    out.reserve(text.size());
    const auto byteAt = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const auto isCont = [&](size_t i) { return i < text.size() && (byteAt(i) & 0xC0) == 0x80; };
    size_t i = 0;
    while (i < text.size()) {
        const uint8_t b0 = byteAt(i);
        if (b0 < 0x80) {
            out.push_back(b0);
            i += 1;
        } else if ((b0 & 0xE0) == 0xC0 && isCont(i + 1)) {
            out.push_back((uint32_t(b0 & 0x1F) << 6) | (byteAt(i + 1) & 0x3F));
            i += 2;
        } else if ((b0 & 0xF0) == 0xE0 && isCont(i + 1) && isCont(i + 2)) {
            out.push_back((uint32_t(b0 & 0x0F) << 12) | (uint32_t(byteAt(i + 1) & 0x3F) << 6) |
                          (byteAt(i + 2) & 0x3F));
            i += 3;
        } else if ((b0 & 0xF8) == 0xF0 && isCont(i + 1) && isCont(i + 2) && isCont(i + 3)) {
            const uint32_t cp = (uint32_t(b0 & 0x07) << 18) | (uint32_t(byteAt(i + 1) & 0x3F) << 12) |
                                (uint32_t(byteAt(i + 2) & 0x3F) << 6) | (byteAt(i + 3) & 0x3F);
            if (cp > 0x10FFFF) {
                // llama.cpp would throw while re-encoding such a value; treat the lead byte as invalid
                // instead.
                out.push_back(kReplacementChar);
                i += 1;
            } else {
                out.push_back(cp);
                i += 4;
            }
        } else {
            out.push_back(kReplacementChar);
            i += 1;
        }
    }
    return out;
}

void appendUtf8(std::string& out, uint32_t cp) {
    if (cp > 0x10FFFF)
        cp = kReplacementChar;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

namespace {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to 256, 257, ...
// in byte order, so that every byte has a visible, non-space stand-in.
struct ByteMap {
    std::array<uint32_t, 256> toUnicode{};
    std::array<int16_t, 324> toByte{};

    ByteMap() {
        toByte.fill(-1);
        const auto printable = [](int b) {
            return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        };
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const uint32_t cp = printable(b) ? uint32_t(b) : next++;
            toUnicode[size_t(b)] = cp;
            toByte[cp] = int16_t(b);
        }
    }
};

const ByteMap& byteMap() {
    static const ByteMap map;
    return map;
}

} // namespace

uint32_t byteToUnicode(uint8_t byte) {
    return byteMap().toUnicode[byte];
}

int unicodeToByte(uint32_t cp) {
    const auto& map = byteMap().toByte;
    return cp < map.size() ? map[cp] : -1;
}

int strictUtf8SequenceLength(std::string_view bytes) {
    if (bytes.empty())
        return 0;
    const uint8_t b0 = static_cast<uint8_t>(bytes[0]);
    if (b0 < 0x80)
        return 1;
    int length = 0;
    uint8_t lo = 0x80, hi = 0xBF; // allowed range of the second byte (excludes overlongs and surrogates)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        length = 3;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        length = 4;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        return -1;
    }
    for (int k = 1; k < length; ++k) {
        if (size_t(k) >= bytes.size())
            return 0;
        const uint8_t b = static_cast<uint8_t>(bytes[size_t(k)]);
        const uint8_t kLo = k == 1 ? lo : 0x80;
        const uint8_t kHi = k == 1 ? hi : 0xBF;
        if (b < kLo || b > kHi)
            return -1;
    }
    return length;
}

} // namespace declai::tokenizer::detail
