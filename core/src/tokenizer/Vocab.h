// Internal vocabulary data shared by the SentencePiece and BPE encoders (Tokenizer::Impl derives from it).
#pragma once

#include "declai/core/Tokenizer.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace declai::tokenizer::detail {

// Heterogeneous lookup so encoders can probe with string_views without allocating.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TextToId = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
    VocabKind kind = VocabKind::SentencePiece;
    PreTokenizerKind pre = PreTokenizerKind::Default;
    std::string preName;

    std::vector<std::string> texts;
    std::vector<float> scores;
    std::vector<TokenType> types;
    TextToId textToId;   // on duplicate texts the highest id wins, as in llama.cpp
    TextToId mergeRanks; // key: mergeKey(left, right); on duplicates the first (lowest) rank wins

    int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1, eom = -1;
    bool addBos = false;
    bool addEos = false;
    bool addSpacePrefix = false;
    bool ignoreMerges = false; // Llama 3: a pre-token that is itself in the vocabulary is emitted whole
    bool cleanSpaces = false;  // decode: HF clean_up_tokenization_spaces

    std::vector<int32_t> specialTokens; // control, user-defined, unknown; longest text first
    // Per token, llama.cpp's RSTRIP attribute: a parsed special token swallows the whitespace after it.
    // Empty when no token has it.
    std::vector<bool> stripAfter;
    std::unordered_set<int32_t> endOfGeneration;
    std::vector<std::string> warnings;

    int32_t find(std::string_view text) const {
        const auto it = textToId.find(text);
        return it == textToId.end() ? -1 : it->second;
    }
    int32_t size() const { return static_cast<int32_t>(texts.size()); }
};

// Unambiguous key for a (left, right) merge pair, even if the halves contain spaces.
std::string mergeKey(std::string_view left, std::string_view right);

void spmEncode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);
void bpeEncode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

} // namespace declai::tokenizer::detail
