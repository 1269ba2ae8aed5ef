#include "tokenizer/PreTokenizer.h"

#include "tokenizer/Unicode.h"

#include <algorithm>
#include <iterator>

namespace declai::tokenizer::detail {
namespace {

constexpr uint32_t kOutOfRange = 0xFFFFFFFF;
// Set for every code point inside the segment, so "no flags at all" means "past the segment end", like the
// non-zero category flag every real code point has in llama.cpp.
constexpr uint8_t kInside = 0x80;

// View of one segment: reads outside [begin, end) give kOutOfRange / 0 flags, so a match stops at the
// segment boundary exactly as a regex run on the segment alone would.
class SegmentView {
public:
    SegmentView(const std::vector<uint32_t>& cpts, size_t begin, size_t end)
        : m_cpts(cpts), m_begin(begin), m_end(end) {}

    uint32_t cpt(size_t pos) const { return inside(pos) ? m_cpts[pos] : kOutOfRange; }
    uint8_t flags(size_t pos) const {
        return inside(pos) ? uint8_t(codepointFlags(m_cpts[pos]) | kInside) : 0;
    }
    size_t end() const { return m_end; }

private:
    bool inside(size_t pos) const { return pos >= m_begin && pos < m_end; }

    const std::vector<uint32_t>& m_cpts;
    size_t m_begin;
    size_t m_end;
};

bool isLetter(uint8_t f) {
    return f & kLetter;
}
bool isNumber(uint8_t f) {
    return f & kNumber;
}
bool isSpace(uint8_t f) {
    return f & kWhitespace;
}
// [^\s\p{L}\p{N}] for a code point inside the segment.
bool isOther(uint8_t f) {
    return (f & kInside) && !(f & (kWhitespace | kLetter | kNumber));
}

uint32_t asciiLower(uint32_t c) {
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

// Length of an English contraction starting at pos ('s 't 'm 'd: 2, 're 've 'll: 3), or 0.
size_t contractionLength(const SegmentView& v, size_t pos, bool caseInsensitive) {
    if (v.cpt(pos) != '\'' || pos + 1 >= v.end())
        return 0;
    const auto fold = [&](uint32_t c) { return caseInsensitive ? asciiLower(c) : c; };
    const uint32_t c1 = fold(v.cpt(pos + 1));
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return 2;
    if (pos + 2 < v.end()) {
        const uint32_t c2 = fold(v.cpt(pos + 2));
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
            return 3;
    }
    return 0;
}

// Collects token lengths while walking one segment.
class Emitter {
public:
    Emitter(Segments& out, size_t start) : m_out(out), m_prevEnd(start) {}
    void emitUpTo(size_t end) {
        if (end > m_prevEnd)
            m_out.push_back(end - m_prevEnd);
        m_prevEnd = end;
    }

private:
    Segments& m_out;
    size_t m_prevEnd;
};

// Splits each segment into alternating unmatched / matched pieces, where `matchAt(view, pos)` returns the
// length of a match starting at pos (0: none); the leftmost match wins, as with a regex iterator.
template <class MatchAt>
Segments splitByMatches(const std::vector<uint32_t>& cpts, const Segments& segments, MatchAt matchAt) {
    Segments out;
    out.reserve(segments.size());
    size_t start = 0;
    for (size_t length : segments) {
        const SegmentView view(cpts, start, start + length);
        Emitter emit(out, start);
        size_t pos = start;
        while (pos < start + length) {
            const size_t n = matchAt(view, pos);
            if (n == 0) {
                ++pos;
                continue;
            }
            emit.emitUpTo(pos);
            pos += n;
            emit.emitUpTo(pos);
        }
        emit.emitUpTo(start + length);
        start += length;
    }
    return out;
}

size_t lineBreakMatch(const SegmentView& v, size_t pos) {
    return v.cpt(pos) == '\r' || v.cpt(pos) == '\n' ? 1 : 0;
}

// \s?X+ at pos, where `inClass(view, p)` says whether the code point at p is in X.
template <class InClass>
size_t optionalSpaceThenRun(const SegmentView& v, size_t pos, InClass inClass) {
    const size_t start = isSpace(v.flags(pos)) && inClass(v, pos + 1) ? pos + 1 : pos;
    size_t end = start;
    while (inClass(v, end))
        ++end;
    return end > start ? end - pos : 0;
}

// [一-龥ࠀ-一가-퟿]+ over code points, with non-ASCII whitespace replaced by U+000B as llama.cpp's
// std::wregex stages see it: U+3000 is not part of a run.
size_t cjkRunMatch(const SegmentView& v, size_t pos) {
    const auto cjk = [&](size_t p) {
        const uint32_t c = v.cpt(p);
        return ((c >= 0x800 && c <= 0x9FA5) || (c >= 0xAC00 && c <= 0xD7FF)) && !isSpace(v.flags(p));
    };
    size_t n = 0;
    while (cjk(pos + n))
        ++n;
    return n;
}

struct CodepointRange {
    uint32_t first;
    uint32_t last;
};

// DeepSeek LLM's letter class, llama.cpp's [A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃] as code point ranges, in
// order.
constexpr CodepointRange kDeepSeekLlmLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},       {0xD8, 0xF6},
    {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},     {0x370, 0x373},
    {0x376, 0x377},     {0x37B, 0x37D},     {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210A, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},   {0xA722, 0xA76F},
    {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

// DeepSeek LLM's punctuation class [!-/:-~！-／：-～‘-‟　-。], in order (note :-~ takes in the ASCII
// letters).
constexpr CodepointRange kDeepSeekLlmPunctuation[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0x2018, 0x201F}, {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};

template <size_t N>
bool inRanges(const CodepointRange (&ranges)[N], uint32_t cp) {
    const CodepointRange* it =
        std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                         [](uint32_t c, const CodepointRange& r) { return c < r.first; });
    return it != std::begin(ranges) && cp <= (it - 1)->last;
}

// llama.cpp's fallback "default" BPE chain runs std::regex over a text where non-ASCII code points are
// collapsed to their category, so ASCII is matched by its literal class and the rest by Unicode category.
bool isDefaultPunctuation(uint32_t cp) {
    if (cp < 0x80) {
        // ASCII \p{P} plus the listed symbols $ + < = > ^ ~ |  (note: not the backtick)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x5E) ||
               cp == 0x5F || (cp >= 0x7B && cp <= 0x7E);
    }
    const uint8_t f = codepointFlags(cp);
    return !(f & kWhitespace) && (f & kPunctuation);
}

// Length of the whitespace alternatives shared by the Llama 3 and Tekken expressions at pos (a whitespace
// code point): \s*[\r\n]+ (up to the run's last line break), else \s+(?!\S) (leaving the last space of a
// run to the word after it), else \s+.
size_t whitespaceMatch(const SegmentView& v, size_t pos) {
    size_t spaces = 0;
    size_t afterLastNewline = 0;
    while (isSpace(v.flags(pos + spaces))) {
        const uint32_t s = v.cpt(pos + spaces);
        if (s == '\r' || s == '\n')
            afterLastNewline = pos + spaces + 1;
        ++spaces;
    }
    if (afterLastNewline > 0)
        return afterLastNewline - pos;
    if (spaces > 1 && v.cpt(pos + spaces) != kOutOfRange)
        return spaces - 1;
    return spaces > 0 ? spaces : 1;
}

std::vector<std::string> toWords(const std::vector<uint32_t>& cpts, const Segments& segments) {
    std::vector<std::string> words;
    words.reserve(segments.size());
    size_t start = 0;
    for (size_t length : segments) {
        std::string word;
        for (size_t i = start; i < start + length; ++i)
            appendUtf8(word, cpts[i]);
        words.push_back(std::move(word));
        start += length;
    }
    return words;
}

} // namespace

Segments splitGpt2(const std::vector<uint32_t>& cpts, const Segments& segments) {
    Segments out;
    out.reserve(segments.size());
    size_t start = 0;
    for (size_t length : segments) {
        const size_t end = start + length;
        const SegmentView v(cpts, start, end);
        Emitter emit(out, start);
        size_t pos = start;
        while (pos < end) {
            const uint32_t c = v.cpt(pos);
            if (const size_t n = contractionLength(v, pos, false)) {
                pos += n;
                emit.emitUpTo(pos);
                continue;
            }
            // " ?X+" classes: an optional single space, then a run of one class.
            const size_t classStart = pos + (c == ' ' ? 1 : 0);
            const uint8_t f = v.flags(classStart);
            if (isLetter(f) || isNumber(f) || isOther(f)) {
                const auto sameClass = [&](uint8_t g) {
                    return isLetter(f) ? isLetter(g) : isNumber(f) ? isNumber(g) : isOther(g);
                };
                pos = classStart;
                while (sameClass(v.flags(pos)))
                    ++pos;
                emit.emitUpTo(pos);
                continue;
            }
            size_t spaces = 0;
            while (isSpace(v.flags(pos + spaces)))
                ++spaces;
            if (spaces > 1 && v.cpt(pos + spaces) != kOutOfRange) {
                // \s+(?!\S): leave the last space to prefix the following word.
                pos += spaces - 1;
                emit.emitUpTo(pos);
                continue;
            }
            pos += spaces > 0 ? spaces : 1;
            emit.emitUpTo(pos);
        }
        start = end;
    }
    return out;
}

Segments splitLlama3Style(const std::vector<uint32_t>& cpts, const Segments& segments, size_t maxDigits) {
    if (maxDigits == 0)
        maxDigits = 1;
    Segments out;
    out.reserve(segments.size());
    size_t start = 0;
    for (size_t length : segments) {
        const size_t end = start + length;
        const SegmentView v(cpts, start, end);
        Emitter emit(out, start);
        size_t pos = start;
        while (pos < end) {
            const uint32_t c = v.cpt(pos);
            const uint8_t f = v.flags(pos);
            if (const size_t n = contractionLength(v, pos, true)) {
                pos += n;
                emit.emitUpTo(pos);
                continue;
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (!(c == '\r' || c == '\n' || isNumber(f)) && (isLetter(f) || isLetter(v.flags(pos + 1)))) {
                ++pos;
                while (isLetter(v.flags(pos)))
                    ++pos;
                emit.emitUpTo(pos);
                continue;
            }
            // \p{N}{1,maxDigits}
            if (isNumber(f)) {
                size_t runStart = pos;
                while (isNumber(v.flags(pos))) {
                    ++pos;
                    if (pos - runStart >= maxDigits) {
                        emit.emitUpTo(pos);
                        runStart = pos;
                    }
                }
                emit.emitUpTo(pos);
                continue;
            }
            // " ?[^\s\p{L}\p{N}]+[\r\n]*"
            const uint8_t f2 = c == ' ' ? v.flags(pos + 1) : f;
            if (isOther(f2)) {
                pos += c == ' ' ? 1 : 0;
                while (isOther(v.flags(pos)))
                    ++pos;
                while (v.cpt(pos) == '\r' || v.cpt(pos) == '\n')
                    ++pos;
                emit.emitUpTo(pos);
                continue;
            }
            pos += whitespaceMatch(v, pos);
            emit.emitUpTo(pos);
        }
        start = end;
    }
    return out;
}

Segments splitCaseAware(const std::vector<uint32_t>& cpts, const Segments& segments, bool contractions,
                        size_t maxDigits) {
    return splitByMatches(cpts, segments, [&](const SegmentView& v, size_t pos) -> size_t {
        const auto letter = [&](size_t p) { return isLetter(v.flags(p)); };
        // ((?=[\p{L}])([^a-z])) and ((?=[\p{L}])([^A-Z])): a non-ASCII letter is both.
        const auto upperish = [&](size_t p) { return letter(p) && !(v.cpt(p) >= 'a' && v.cpt(p) <= 'z'); };
        const auto lowerish = [&](size_t p) { return letter(p) && !(v.cpt(p) >= 'A' && v.cpt(p) <= 'Z'); };
        const auto upperRun = [&](size_t p) {
            size_t n = 0;
            while (upperish(p + n))
                ++n;
            return n;
        };
        // The lower run, then (GPT-4o) an optional contraction: (?:'[sS]|'[tT]|'[rR][eE]|...)?
        const auto lowerRunEnd = [&](size_t p) {
            while (lowerish(p))
                ++p;
            return contractions ? p + contractionLength(v, p, true) : p;
        };
        const uint32_t c = v.cpt(pos);
        const uint8_t f = v.flags(pos);
        // [^\r\n\p{L}\p{N}]? before either letter alternative, tried with the prefix first.
        const bool prefixable = (f & kInside) && c != '\r' && c != '\n' && !isLetter(f) && !isNumber(f);
        // Without the prefix, a prefixable code point cannot start a letter alternative.
        const size_t q = prefixable ? pos + 1 : pos;
        // Upper* lower+: the longest upper run that a lower letter follows (backtracking into the run when
        // it ends at a non-letter: its last non-ASCII letter serves as the lower one), then all lowers.
        const size_t maxUpper = upperRun(q);
        for (size_t k = maxUpper + 1; k-- > 0;) {
            if (lowerish(q + k))
                return lowerRunEnd(q + k) - pos;
        }
        if (maxUpper > 0) // upper+ lower*
            return lowerRunEnd(q + maxUpper) - pos;
        if (isNumber(f)) { // \p{N}{1,maxDigits}
            size_t n = 1;
            while (n < maxDigits && isNumber(v.flags(pos + n)))
                ++n;
            return n;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n/]*
        const size_t otherStart = c == ' ' && isOther(v.flags(pos + 1)) ? pos + 1 : pos;
        if (isOther(v.flags(otherStart))) {
            size_t end = otherStart;
            while (isOther(v.flags(end)))
                ++end;
            while (v.cpt(end) == '\r' || v.cpt(end) == '\n' || v.cpt(end) == '/')
                ++end;
            return end - pos;
        }
        return whitespaceMatch(v, pos);
    });
}

std::vector<std::string> preTokenizeToWords(PreTokenizerKind kind, std::string_view text) {
    const std::vector<uint32_t> cpts = decodeUtf8Lenient(text);
    Segments segments;
    if (!cpts.empty())
        segments.push_back(cpts.size());
    switch (kind) {
    case PreTokenizerKind::Gpt2:
        segments = splitGpt2(cpts, segments);
        break;
    case PreTokenizerKind::LlamaBpe:
    case PreTokenizerKind::Dbrx:
    case PreTokenizerKind::ChatGlm4: // llama.cpp's CHATGLM4 expression is LLAMA3's
        segments = splitLlama3Style(cpts, segments, 3);
        break;
    case PreTokenizerKind::Qwen2:
        segments = splitLlama3Style(cpts, segments, 1);
        break;
    case PreTokenizerKind::Tekken:
        segments = splitCaseAware(cpts, segments, false, 1);
        break;
    case PreTokenizerKind::Gpt4o:
        segments = splitCaseAware(cpts, segments, true, 3);
        break;
    case PreTokenizerKind::DeepSeekCoder:
        // llama.cpp's chain: [\r\n]  then \s?\p{L}+  then \s?\p{P}+  then [一-龥ࠀ-一가-퟿]+  then
        // \p{N} (the category classes over its collapsed text: \p{P} is ASCII punctuation without the symbols
        // $+<=>^`|~, plus non-ASCII punctuation).
        segments = splitByMatches(cpts, segments, lineBreakMatch);
        for (const uint8_t cls : {uint8_t(kLetter), uint8_t(kPunctuation)}) {
            segments = splitByMatches(cpts, segments, [cls](const SegmentView& v, size_t pos) {
                return optionalSpaceThenRun(
                    v, pos, [cls](const SegmentView& w, size_t p) { return (w.flags(p) & cls) != 0; });
            });
        }
        segments = splitByMatches(cpts, segments, cjkRunMatch);
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) -> size_t {
            return isNumber(v.flags(pos)) ? 1 : 0;
        });
        break;
    case PreTokenizerKind::DeepSeekLlm:
        // llama.cpp's chain: [\r\n], \s?[listed letter ranges]+, \s?[!-/:-~！-／：-～‘-‟　-。]+, \s+$,
        // [一-龥ࠀ-一가-퟿]+, \p{N}+. All but the last run as std::wregex over code points with
        // non-ASCII whitespace replaced by U+000B, so \s is any whitespace and U+3000 is never punctuation.
        segments = splitByMatches(cpts, segments, lineBreakMatch);
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) {
            return optionalSpaceThenRun(v, pos, [](const SegmentView& w, size_t p) {
                return inRanges(kDeepSeekLlmLetters, w.cpt(p));
            });
        });
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) {
            return optionalSpaceThenRun(v, pos, [](const SegmentView& w, size_t p) {
                return !isSpace(w.flags(p)) && inRanges(kDeepSeekLlmPunctuation, w.cpt(p));
            });
        });
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) -> size_t {
            // \s+$: only a run that starts here and reaches the segment's end; a later start inside the same
            // run ends where it does, so it is not tried (keeps long whitespace runs linear).
            if (isSpace(v.flags(pos - 1)))
                return 0;
            size_t n = 0;
            while (isSpace(v.flags(pos + n)))
                ++n;
            return n > 0 && pos + n == v.end() ? n : 0;
        });
        segments = splitByMatches(cpts, segments, cjkRunMatch);
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) {
            size_t n = 0;
            while (isNumber(v.flags(pos + n)))
                ++n;
            return n;
        });
        break;
    case PreTokenizerKind::Viking:
        // llama.cpp's chain:  ?[^(\s|.,!?…。，、।۔،)]+  (std::wregex over code points, non-ASCII whitespace
        // seen as U+000B, so \s is any whitespace; the optional prefix is a plain space only)  then \p{N}.
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) {
            const auto inWord = [](const SegmentView& w, size_t p) {
                if (isSpace(w.flags(p)) || w.cpt(p) == kOutOfRange)
                    return false;
                switch (w.cpt(p)) {
                case '(':
                case ')':
                case '|':
                case '.':
                case ',':
                case '!':
                case '?':
                case 0x2026:
                case 0x3002:
                case 0xFF0C:
                case 0x3001:
                case 0x0964:
                case 0x06D4:
                case 0x060C:
                    return false;
                default:
                    return true;
                }
            };
            const size_t start = v.cpt(pos) == ' ' && inWord(v, pos + 1) ? pos + 1 : pos;
            size_t end = start;
            while (inWord(v, end))
                ++end;
            return end > start ? end - pos : 0;
        });
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) -> size_t {
            return isNumber(v.flags(pos)) ? 1 : 0;
        });
        break;
    case PreTokenizerKind::SmolLm:
    case PreTokenizerKind::Starcoder:
        // llama.cpp's chain for SmolLM, StarCoder and Refact: \p{N} (each number code point on its own), then
        // GPT-2's expression.
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) -> size_t {
            return isNumber(v.flags(pos)) ? 1 : 0;
        });
        segments = splitGpt2(cpts, segments);
        break;
    case PreTokenizerKind::Default: {
        // llama.cpp's fallback chain: [\p{P}\$\+<=>\^~\|]+  then GPT-2  then \p{N}+  then [0-9][0-9][0-9]
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) {
            size_t n = 0;
            while (v.cpt(pos + n) != kOutOfRange && isDefaultPunctuation(v.cpt(pos + n)))
                ++n;
            return n;
        });
        segments = splitGpt2(cpts, segments);
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) {
            size_t n = 0;
            while (isNumber(v.flags(pos + n)))
                ++n;
            return n;
        });
        segments = splitByMatches(cpts, segments, [](const SegmentView& v, size_t pos) -> size_t {
            for (size_t k = 0; k < 3; ++k) {
                const uint32_t c = v.cpt(pos + k);
                if (c < '0' || c > '9')
                    return 0;
            }
            return 3;
        });
        break;
    }
    }
    return toWords(cpts, segments);
}

} // namespace declai::tokenizer::detail
