#include "declai/core/Tokenizer.h"

#include "declai/core/GgufFile.h"
#include "tokenizer/PreTokenizer.h"
#include "tokenizer/Unicode.h"
#include "tokenizer/Vocab.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <limits>

namespace declai {

using tokenizer::detail::Vocab;

struct Tokenizer::Impl : Vocab {
    struct Fragment {
        int32_t token; // -1: raw text
        size_t offset;
        size_t length;
    };
    // markup: when set, control/unknown tokens count only where they lie inside one of these ranges.
    std::vector<Fragment> partition(std::string_view text, bool parseSpecial,
                                    const std::span<const TextRange>* markup = nullptr) const;
    std::vector<int32_t> encodeFragments(std::string_view text, const std::vector<Fragment>& fragments,
                                         bool addSpecial) const;
};

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81"; // U+2581, SentencePiece's visible space

// Texts llama.cpp treats as end-of-turn / end-of-generation whatever their stored type (llama-vocab.cpp
// detects them by text because converters did not always store the ids); they are forced to Control.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>",
};
// llama-vocab.cpp's list, which also ends generation at these texts in files of other families (a Phi-3
// file's </s>, for one).
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "[e~[",
};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
// Fill-in-the-middle tokens found by text when the file names none (VocabSpec::fimIds order); they become
// control tokens, and the pad, repository and file-separator ones end generation.
constexpr std::string_view kFimPreTexts[] = {"<|fim_prefix|>",
                                             "<fim-prefix>",
                                             "<fim_prefix>",
                                             "<\xEF\xBD\x9C"
                                             "fim\xE2\x96\x81"
                                             "begin\xEF\xBD\x9C>",
                                             "<PRE>",
                                             "\xE2\x96\x81<PRE>",
                                             "<|code_prefix|>",
                                             "<|prefix|>"};
constexpr std::string_view kFimSufTexts[] = {"<|fim_suffix|>",
                                             "<fim-suffix>",
                                             "<fim_suffix>",
                                             "<\xEF\xBD\x9C"
                                             "fim\xE2\x96\x81"
                                             "hole\xEF\xBD\x9C>",
                                             "<SUF>",
                                             "\xE2\x96\x81<SUF>",
                                             "<|code_suffix|>",
                                             "<|suffix|>"};
constexpr std::string_view kFimMidTexts[] = {"<|fim_middle|>",
                                             "<fim-middle>",
                                             "<fim_middle>",
                                             "<\xEF\xBD\x9C"
                                             "fim\xE2\x96\x81"
                                             "end\xEF\xBD\x9C>",
                                             "<MID>",
                                             "\xE2\x96\x81<MID>",
                                             "<|code_middle|>",
                                             "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                             "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};
constexpr const char* kFimKeys[] = {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
                                    "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
                                    "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"};
constexpr std::span<const std::string_view> kFimTexts[] = {kFimPreTexts, kFimSufTexts, kFimMidTexts,
                                                           kFimPadTexts, kFimRepTexts, kFimSepTexts};

template <size_t N>
bool isOneOf(std::string_view text, const std::string_view (&list)[N]) {
    return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

bool isSpaceByte(char c) { // C's isspace in the "C" locale, as llama.cpp's partition uses it
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// llama.cpp's token attributes by model name (llama-vocab.cpp, after its special-token cache): a Phi-3 file
// strips the whitespace after every special token but <unk>, <s> and <|endoftext|> (its tokenizer config
// marks them rstrip). llama.cpp refuses a file missing one of those texts; here the rule skips it. (Its other
// name rules, <mask> / [MASK] lstrip, are for BERT-family files, which this engine does not load.)
void setStripAttributes(Vocab& v, std::string_view modelName) {
    std::string name(modelName);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos)
        return;
    v.stripAfter.assign(v.texts.size(), false);
    for (int32_t id : v.specialTokens)
        v.stripAfter[size_t(id)] = true;
    const auto set = [&](std::string_view text, bool on) {
        if (const int32_t id = v.find(text); id >= 0)
            v.stripAfter[size_t(id)] = on;
    };
    set("</s>", true);
    for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"})
        set(text, false);
}

Error formatError(std::string message) {
    return makeError(ErrorCode::Format, "tokenizer: " + std::move(message));
}

void replaceAll(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
        out.append(s, pos, hit - pos).append(to);
    out.append(s, pos, std::string::npos);
    s = std::move(out);
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

// HF clean_up_tokenization_spaces as llama.cpp applies it after detokenizing: three passes over bytes.
std::string cleanUpSpaces(std::string text) {
    if (text.empty())
        return text;
    std::string out;
    out.reserve(text.size());
    // " ?", " !", " .", " ,"  ->  "?", "!", ".", ","
    out.push_back(text[0]);
    for (size_t i = 1; i < text.size(); ++i) {
        const char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            out.pop_back();
        out.push_back(x);
    }
    // " ' "  ->  "'"  (the space after is dropped and no longer counts as a space for the next character)
    text.swap(out);
    out.clear();
    out.push_back(text[0]);
    for (size_t i = 1; i < text.size(); ++i) {
        const char x = text[i];
        if (x == '\'' && i + 1 < text.size() && text[i - 1] == ' ' && text[i + 1] == ' ') {
            out.pop_back();
            text[++i] = '\0';
        }
        out.push_back(x);
    }
    // " 's", " 'm", " 're", " 've"  ->  without the space (" 't", " 'd", " 'll" are kept, as in llama.cpp)
    text.swap(out);
    out.clear();
    out.push_back(text[0]);
    for (size_t i = 1; i < text.size(); ++i) {
        const char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < text.size()) {
            const char x1 = text[i + 1];
            if (x1 == 's' || x1 == 'm') {
                out.pop_back();
            } else if (x1 != 't' && x1 != 'd' && i + 2 < text.size()) {
                const char x2 = text[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
                    out.pop_back();
            }
        }
        out.push_back(x);
    }
    return out;
}

// Appends the valid UTF-8 prefix of `bytes` to `out` (invalid bytes as U+FFFD) and returns how many bytes
// were consumed; an incomplete sequence at the end is left unconsumed.
size_t appendValidUtf8(std::string& out, std::string_view bytes) {
    size_t i = 0;
    while (i < bytes.size()) {
        const int length = tokenizer::detail::strictUtf8SequenceLength(bytes.substr(i));
        if (length == 0)
            break;
        if (length < 0) {
            tokenizer::detail::appendUtf8(out, tokenizer::detail::kReplacementChar);
            i += 1;
        } else {
            out.append(bytes.substr(i, size_t(length)));
            i += size_t(length);
        }
    }
    return i;
}

} // namespace

namespace {

// Whether [at, at + length) lies inside one range of `ranges` (sorted by begin, not overlapping).
bool insideOneRange(std::span<const TextRange> ranges, size_t at, size_t length) {
    const auto after = std::upper_bound(ranges.begin(), ranges.end(), at,
                                        [](size_t pos, const TextRange& r) { return pos < r.begin; });
    if (after == ranges.begin())
        return false;
    const TextRange& r = *std::prev(after);
    return at >= r.begin && at + length <= r.end;
}

} // namespace

std::vector<Tokenizer::Impl::Fragment>
Tokenizer::Impl::partition(std::string_view text, bool parseSpecial,
                           const std::span<const TextRange>* markup) const {
    std::vector<Fragment> fragments;
    if (text.empty())
        return fragments;
    fragments.push_back({-1, 0, text.size()});
    std::vector<Fragment> next;
    for (int32_t id : specialTokens) {
        const TokenType type = types[size_t(id)];
        // Control and unknown tokens are only recognised on request; user-defined ones always are (HF
        // tokenizers split added tokens before anything else).
        const bool controlLike = type == TokenType::Control || type == TokenType::Unknown;
        if (!parseSpecial && controlLike)
            continue;
        const bool restricted = controlLike && markup != nullptr;
        const std::string& special = texts[size_t(id)];
        if (special.empty() || text.find(special) == std::string_view::npos)
            continue;
        const bool stripSpaceAfter = !stripAfter.empty() && stripAfter[size_t(id)];
        next.clear();
        for (const Fragment& fragment : fragments) {
            if (fragment.token >= 0) {
                next.push_back(fragment);
                continue;
            }
            const size_t end = fragment.offset + fragment.length;
            const std::string_view bounded = text.substr(0, end);
            size_t pos = fragment.offset;  // start of the text not yet emitted
            size_t from = fragment.offset; // where the next search starts
            for (size_t hit; (hit = bounded.find(special, from)) != std::string_view::npos;) {
                if (restricted && !insideOneRange(*markup, hit, special.size())) {
                    from = hit + 1; // spelled inside message text: stays text
                    continue;
                }
                if (hit > pos)
                    next.push_back({-1, pos, hit - pos});
                next.push_back({id, hit, special.size()});
                pos = from = hit + special.size();
                if (stripSpaceAfter)
                    while (pos < end && isSpaceByte(text[pos]))
                        pos = ++from;
            }
            if (pos < end)
                next.push_back({-1, pos, end - pos});
        }
        fragments.swap(next);
    }
    return fragments;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromSpec(VocabSpec spec) {
    auto impl = std::make_unique<Impl>();
    Impl& v = *impl;

    v.preName = spec.pre;
    if (spec.model == "llama") {
        v.kind = VocabKind::SentencePiece;
    } else if (spec.model == "gpt2") {
        v.kind = VocabKind::BytePairGpt2;
    } else {
        return makeError(ErrorCode::Unsupported,
                         "tokenizer: unsupported tokenizer model '" + spec.model + "'");
    }
    if (spec.tokens.empty())
        return formatError("the vocabulary has no tokens");
    if (spec.tokens.size() > size_t(std::numeric_limits<int32_t>::max()))
        return formatError("the vocabulary has too many tokens");
    const size_t n = spec.tokens.size();
    if (!spec.scores.empty() && spec.scores.size() != n)
        return formatError("tokenizer.ggml.scores has " + std::to_string(spec.scores.size()) +
                           " entries for " + std::to_string(n) + " tokens");
    if (!spec.tokenTypes.empty() && spec.tokenTypes.size() != n)
        return formatError("tokenizer.ggml.token_type has " + std::to_string(spec.tokenTypes.size()) +
                           " entries for " + std::to_string(n) + " tokens");

    v.texts = std::move(spec.tokens);
    v.scores = spec.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(spec.scores);
    v.types.resize(n, TokenType::Normal);
    v.textToId.reserve(n);
    size_t duplicates = 0;
    for (size_t i = 0; i < n; ++i) {
        if (v.texts[i].empty()) // as llama.cpp: keeps the id addressable without matching any text
            v.texts[i] = "[EMPTY_" + std::to_string(i) + "]";
        if (!spec.tokenTypes.empty()) {
            const int32_t t = spec.tokenTypes[i];
            v.types[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::Undefined;
        }
        auto [it, inserted] = v.textToId.try_emplace(v.texts[i], int32_t(i));
        if (!inserted) {
            it->second = int32_t(i);
            ++duplicates;
        }
    }
    if (duplicates > 0)
        v.warnings.push_back(std::to_string(duplicates) + " duplicate token texts; the last id of each wins");

    // Defaults as in llama.cpp, then the pre-tokenizer's adjustments, then the file's explicit keys.
    if (v.kind == VocabKind::SentencePiece) {
        v.bos = 1;
        v.eos = 2;
        v.unk = 0;
        v.addSpacePrefix = true;
        v.addBos = true;
    } else {
        v.bos = 11;
        v.eos = 11;
        v.cleanSpaces = true;
        bool known = false;
        v.pre = tokenizer::preTokenizerFromName(spec.pre, &known);
        if (spec.pre.empty())
            v.warnings.push_back("missing tokenizer.ggml.pre; using the 'default' pre-tokenizer");
        else if (!known)
            v.warnings.push_back(
                "unknown pre-tokenizer '" + spec.pre +
                "'; using the 'default' pre-tokenizer, token ids may differ from the model's");
        if (v.pre == PreTokenizerKind::LlamaBpe || v.pre == PreTokenizerKind::Tekken) {
            v.ignoreMerges = true;
            v.addBos = true;
            v.cleanSpaces = v.pre == PreTokenizerKind::LlamaBpe;
        } else if (v.pre == PreTokenizerKind::ChatGlm4) {
            v.bos = -1; // llama.cpp clears the default BOS for GLM-4 (a file's bos_token_id still sets one)
        } else if (v.pre == PreTokenizerKind::Qwen2 || v.pre == PreTokenizerKind::SmolLm ||
                   v.pre == PreTokenizerKind::DeepSeekCoder || v.pre == PreTokenizerKind::DeepSeekLlm ||
                   v.pre == PreTokenizerKind::Viking || v.pre == PreTokenizerKind::Gpt4o) {
            v.cleanSpaces = false;
        }

        v.mergeRanks.reserve(spec.merges.size());
        for (size_t i = 0; i < spec.merges.size(); ++i) {
            const std::string& line = spec.merges[i];
            const size_t space = line.size() > 1 ? line.find(' ', 1) : std::string::npos;
            if (space == std::string::npos)
                return formatError("tokenizer.ggml.merges[" + std::to_string(i) + "] = '" +
                                   line.substr(0, 64) + "' is not a 'left right' pair");
            if (i > size_t(std::numeric_limits<int32_t>::max()))
                return formatError("too many merges");
            // emplace keeps the first rank of a repeated pair, as llama.cpp does
            v.mergeRanks.emplace(tokenizer::detail::mergeKey(std::string_view(line).substr(0, space),
                                                             std::string_view(line).substr(space + 1)),
                                 int32_t(i));
        }
    }
    if (spec.addBos)
        v.addBos = *spec.addBos;
    if (spec.addEos)
        v.addEos = *spec.addEos;
    if (spec.addSpacePrefix)
        v.addSpacePrefix = *spec.addSpacePrefix;

    const auto applyId = [&](int32_t& target, const std::optional<int64_t>& value, const char* key) {
        if (value) {
            if (*value >= 0 && *value < int64_t(n))
                target = int32_t(*value);
            else
                v.warnings.push_back(std::string("bad special token id ") + key + " = " +
                                     std::to_string(*value) + ", keeping the default " +
                                     std::to_string(target));
        }
        if (target >= int32_t(n))
            target = -1;
    };
    applyId(v.bos, spec.bosId, "tokenizer.ggml.bos_token_id");
    applyId(v.eos, spec.eosId, "tokenizer.ggml.eos_token_id");
    applyId(v.unk, spec.unknownId, "tokenizer.ggml.unknown_token_id");
    applyId(v.pad, spec.paddingId, "tokenizer.ggml.padding_token_id");
    applyId(v.eot, spec.eotId, "tokenizer.ggml.eot_token_id");
    applyId(v.eom, spec.eomId, "tokenizer.ggml.eom_token_id");
    std::array<int32_t, 6> fim;
    fim.fill(-1);
    for (size_t k = 0; k < fim.size(); ++k)
        applyId(fim[k], spec.fimIds[k], kFimKeys[k]);

    // End-of-generation detection by text (ids ascending, so the choice of EOT is deterministic).
    for (size_t i = 0; i < n; ++i) {
        const std::string& text = v.texts[i];
        const int32_t id = int32_t(i);
        if (v.textToId.at(text) != id)
            continue;
        if (v.eot < 0 && isOneOf(text, kEotTexts)) {
            v.eot = id;
            v.types[i] = TokenType::Control;
        }
        if (v.eom < 0 && isOneOf(text, kEomTexts))
            v.eom = id;
        for (size_t k = 0; k < fim.size(); ++k) {
            if (fim[k] < 0 &&
                std::find(kFimTexts[k].begin(), kFimTexts[k].end(), text) != kFimTexts[k].end()) {
                fim[k] = id;
                v.types[i] = TokenType::Control;
            }
        }
        if (isOneOf(text, kEogTexts)) {
            v.endOfGeneration.insert(id);
            v.types[i] = TokenType::Control;
        }
    }
    for (int32_t id : {v.eos, v.eot, v.eom, fim[3], fim[4], fim[5]})
        if (id >= 0)
            v.endOfGeneration.insert(id);
    // llama.cpp's two exceptions by vocabulary: with <|return|> and <|call|> (gpt-oss) or <|calls|> and
    // <|flush|> (Solar Open) among them, <|end|> does not end generation and is a user-defined token; with
    // <|tool_response>, </s> does not and is a normal one.
    const auto eogWithText = [&](std::string_view text) {
        for (int32_t id : v.endOfGeneration)
            if (v.texts[size_t(id)] == text)
                return id;
        return int32_t(-1);
    };
    const auto dropEog = [&](int32_t id, TokenType type) {
        v.endOfGeneration.erase(id);
        v.types[size_t(id)] = type;
    };
    const int32_t endId = eogWithText("<|end|>");
    const bool hasCall = eogWithText("<|call|>") >= 0 || eogWithText("<|calls|>") >= 0;
    if (endId >= 0 && hasCall && (eogWithText("<|return|>") >= 0 || eogWithText("<|flush|>") >= 0))
        dropEog(endId, TokenType::UserDefined);
    if (const int32_t sId = eogWithText("</s>"); sId >= 0 && eogWithText("<|tool_response>") >= 0)
        dropEog(sId, TokenType::Normal);

    for (size_t i = 0; i < n; ++i) {
        const TokenType t = v.types[i];
        if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
            v.specialTokens.push_back(int32_t(i));
    }
    // Longest first so that a special token containing another wins; stable for a reproducible order.
    std::stable_sort(v.specialTokens.begin(), v.specialTokens.end(), [&](int32_t a, int32_t b) {
        return v.texts[size_t(a)].size() > v.texts[size_t(b)].size();
    });
    setStripAttributes(v, spec.modelName);

    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromGguf(const GgufFile& file) {
    auto spec = VocabSpec::fromGguf(file);
    if (!spec)
        return spec.error();
    return fromSpec(std::move(*spec));
}

Expected<VocabSpec> VocabSpec::fromGguf(const GgufFile& file) {
    VocabSpec spec;
    auto model = file.getString("tokenizer.ggml.model");
    if (!model)
        return model.error();
    spec.model = std::move(*model);
    auto pre = file.getStringOr("tokenizer.ggml.pre", "");
    if (!pre)
        return pre.error();
    spec.pre = std::move(*pre);
    auto name = file.getStringOr("general.name", "");
    if (!name)
        return name.error();
    spec.modelName = std::move(*name);

    auto tokens = file.getArray("tokenizer.ggml.tokens");
    if (!tokens)
        return tokens.error();
    if ((*tokens)->elementType != GgufValueType::String)
        return formatError("tokenizer.ggml.tokens is not a string array");
    spec.tokens = (*tokens)->strings;

    if (file.contains("tokenizer.ggml.scores")) {
        auto scores = file.getArray("tokenizer.ggml.scores");
        if (!scores)
            return scores.error();
        const GgufValueType t = (*scores)->elementType;
        if (t != GgufValueType::Float32 && t != GgufValueType::Float64)
            return formatError("tokenizer.ggml.scores is not a float array");
        spec.scores.reserve((*scores)->floats.size());
        for (double s : (*scores)->floats)
            spec.scores.push_back(static_cast<float>(s));
        if (spec.scores.empty() && !spec.tokens.empty())
            return formatError("tokenizer.ggml.scores is empty");
    }
    if (file.contains("tokenizer.ggml.token_type")) {
        auto types = file.getArray("tokenizer.ggml.token_type");
        if (!types)
            return types.error();
        const auto& a = **types;
        if (a.elementType == GgufValueType::String || a.elementType == GgufValueType::Float32 ||
            a.elementType == GgufValueType::Float64 || a.elementType == GgufValueType::Array)
            return formatError("tokenizer.ggml.token_type is not an integer array");
        spec.tokenTypes.reserve(a.integers.size());
        for (int64_t t : a.integers)
            spec.tokenTypes.push_back(t >= 0 && t <= 6 ? int32_t(t) : 0);
        if (spec.tokenTypes.empty() && !spec.tokens.empty())
            return formatError("tokenizer.ggml.token_type is empty");
    }
    if (file.contains("tokenizer.ggml.merges")) {
        auto merges = file.getArray("tokenizer.ggml.merges");
        if (!merges)
            return merges.error();
        if ((*merges)->elementType != GgufValueType::String)
            return formatError("tokenizer.ggml.merges is not a string array");
        spec.merges = (*merges)->strings;
    } else if (spec.model == "gpt2") {
        return formatError("a gpt2 (BPE) vocabulary needs tokenizer.ggml.merges");
    }

    const auto readId = [&](const char* key, std::optional<int64_t>& target) -> Expected<void> {
        if (!file.contains(key))
            return {};
        auto value = file.getInt(key);
        if (!value)
            return value.error();
        target = *value;
        return {};
    };
    const auto readBool = [&](const char* key, std::optional<bool>& target) -> Expected<void> {
        if (!file.contains(key))
            return {};
        auto value = file.getBool(key);
        if (!value)
            return value.error();
        target = *value;
        return {};
    };
    for (auto r : {readId("tokenizer.ggml.bos_token_id", spec.bosId),
                   readId("tokenizer.ggml.eos_token_id", spec.eosId),
                   readId("tokenizer.ggml.unknown_token_id", spec.unknownId),
                   readId("tokenizer.ggml.padding_token_id", spec.paddingId),
                   readId("tokenizer.ggml.eot_token_id", spec.eotId),
                   readId("tokenizer.ggml.eom_token_id", spec.eomId),
                   readId("tokenizer.ggml.fim_pre_token_id", spec.fimIds[0]),
                   readId("tokenizer.ggml.fim_suf_token_id", spec.fimIds[1]),
                   readId("tokenizer.ggml.fim_mid_token_id", spec.fimIds[2]),
                   readId("tokenizer.ggml.fim_pad_token_id", spec.fimIds[3]),
                   readId("tokenizer.ggml.fim_rep_token_id", spec.fimIds[4]),
                   readId("tokenizer.ggml.fim_sep_token_id", spec.fimIds[5]),
                   // the pre-2024 names last: llama.cpp reads them after the current ones, so they win
                   readId("tokenizer.ggml.prefix_token_id", spec.fimIds[0]),
                   readId("tokenizer.ggml.suffix_token_id", spec.fimIds[1]),
                   readId("tokenizer.ggml.middle_token_id", spec.fimIds[2]),
                   readBool("tokenizer.ggml.add_bos_token", spec.addBos),
                   readBool("tokenizer.ggml.add_eos_token", spec.addEos),
                   readBool("tokenizer.ggml.add_space_prefix", spec.addSpacePrefix)}) {
        if (!r)
            return r.error();
    }
    return spec;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addSpecial, bool parseSpecial) const {
    return m_impl->encodeFragments(text, m_impl->partition(text, parseSpecial), addSpecial);
}

std::vector<int32_t> Tokenizer::encodeWithMarkup(std::string_view text, bool addSpecial,
                                                 std::span<const TextRange> markup) const {
    return m_impl->encodeFragments(text, m_impl->partition(text, true, &markup), addSpecial);
}

std::vector<int32_t> Tokenizer::Impl::encodeFragments(std::string_view text,
                                                      const std::vector<Fragment>& fragments,
                                                      bool addSpecial) const {
    const Impl& v = *this;
    std::vector<int32_t> out;
    if (addSpecial && v.addBos && v.bos >= 0)
        out.push_back(v.bos);
    if (v.kind == VocabKind::SentencePiece) {
        // The dummy prefix space goes in front of the text and after every special token.
        bool previousWasSpecial = true;
        std::string piece;
        for (const auto& fragment : fragments) {
            if (fragment.token >= 0) {
                out.push_back(fragment.token);
                previousWasSpecial = true;
                continue;
            }
            piece.clear();
            if (v.addSpacePrefix && previousWasSpecial)
                piece.push_back(' ');
            piece.append(text.substr(fragment.offset, fragment.length));
            replaceAll(piece, " ", kSpmSpace);
            tokenizer::detail::spmEncode(v, piece, out);
            previousWasSpecial = false;
        }
    } else {
        for (const auto& fragment : fragments) {
            if (fragment.token >= 0)
                out.push_back(fragment.token);
            else
                tokenizer::detail::bpeEncode(v, text.substr(fragment.offset, fragment.length), out);
        }
    }
    if (addSpecial && v.addEos && v.eos >= 0)
        out.push_back(v.eos);
    return out;
}

std::string Tokenizer::tokenToPiece(int32_t id, bool renderSpecial) const {
    const Impl& v = *m_impl;
    if (id < 0 || id >= v.size())
        return {};
    const TokenType type = v.types[size_t(id)];
    const std::string& text = v.texts[size_t(id)];
    if (type == TokenType::Control || type == TokenType::Unknown)
        return renderSpecial ? text : std::string();
    if (type == TokenType::UserDefined)
        return text;
    if (v.kind == VocabKind::SentencePiece) {
        if (type == TokenType::Normal) {
            std::string piece = text;
            replaceAll(piece, kSpmSpace, " ");
            return piece;
        }
        if (type == TokenType::Byte) {
            if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>') {
                const int hi = hexDigit(text[3]);
                const int lo = hexDigit(text[4]);
                if (hi >= 0 && lo >= 0)
                    return std::string(1, static_cast<char>(hi * 16 + lo));
            }
            return {};
        }
        return {}; // unused / undefined: suppressed like control tokens, as llama.cpp does
    }
    if (type != TokenType::Normal)
        return {};
    std::string piece;
    piece.reserve(text.size());
    for (uint32_t cp : tokenizer::detail::decodeUtf8Lenient(text)) {
        const int byte = tokenizer::detail::unicodeToByte(cp);
        if (byte >= 0)
            piece.push_back(static_cast<char>(byte));
        else
            tokenizer::detail::appendUtf8(piece, cp); // not from the byte table: keep the character itself
    }
    return piece;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool removeSpecial, bool renderSpecial) const {
    const Impl& v = *m_impl;
    bool removeSpace = v.addSpacePrefix;
    if (removeSpecial && v.addBos && !ids.empty() && ids.front() == v.bos) {
        removeSpace = false; // llama.cpp keeps the space when it strips a leading BOS
        ids = ids.subspan(1);
    }
    if (removeSpecial && v.addEos && !ids.empty() && ids.back() == v.eos)
        ids = ids.first(ids.size() - 1);
    std::string text;
    for (int32_t id : ids) {
        std::string piece = tokenToPiece(id, renderSpecial);
        if (removeSpace && !piece.empty() && piece.front() == ' ')
            piece.erase(0, 1);
        removeSpace = false;
        text += piece;
    }
    if (v.cleanSpaces)
        text = cleanUpSpaces(std::move(text));
    return text;
}

int32_t Tokenizer::vocabSize() const {
    return m_impl->size();
}
int32_t Tokenizer::bosId() const {
    return m_impl->bos;
}
int32_t Tokenizer::eosId() const {
    return m_impl->eos;
}
int32_t Tokenizer::unknownId() const {
    return m_impl->unk;
}
int32_t Tokenizer::paddingId() const {
    return m_impl->pad;
}
bool Tokenizer::addBosDefault() const {
    return m_impl->addBos;
}
bool Tokenizer::addEosDefault() const {
    return m_impl->addEos;
}
bool Tokenizer::addSpacePrefix() const {
    return m_impl->addSpacePrefix;
}
bool Tokenizer::isEndOfGeneration(int32_t id) const {
    return m_impl->endOfGeneration.count(id) > 0;
}
bool Tokenizer::isControl(int32_t id) const {
    return tokenType(id) == TokenType::Control;
}
VocabKind Tokenizer::kind() const {
    return m_impl->kind;
}
PreTokenizerKind Tokenizer::preTokenizer() const {
    return m_impl->pre;
}
const std::string& Tokenizer::preTokenizerName() const {
    return m_impl->preName;
}
TokenType Tokenizer::tokenType(int32_t id) const {
    return (id >= 0 && id < m_impl->size()) ? m_impl->types[size_t(id)] : TokenType::Undefined;
}
std::string_view Tokenizer::tokenText(int32_t id) const {
    return (id >= 0 && id < m_impl->size()) ? std::string_view(m_impl->texts[size_t(id)])
                                            : std::string_view();
}
int32_t Tokenizer::findToken(std::string_view text) const {
    return m_impl->find(text);
}
const std::vector<std::string>& Tokenizer::warnings() const {
    return m_impl->warnings;
}

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool renderSpecial)
    : m_tokenizer(tokenizer), m_renderSpecial(renderSpecial) {}

std::string StreamingDecoder::push(int32_t id) {
    return pushBytes(m_tokenizer.tokenToPiece(id, m_renderSpecial));
}

std::string StreamingDecoder::pushBytes(std::string_view bytes) {
    m_pending.append(bytes);
    std::string out;
    m_pending.erase(0, appendValidUtf8(out, m_pending));
    return out;
}

std::string StreamingDecoder::flush() {
    std::string out;
    m_pending.erase(0, appendValidUtf8(out, m_pending));
    if (!m_pending.empty())
        tokenizer::detail::appendUtf8(out, tokenizer::detail::kReplacementChar);
    m_pending.clear();
    return out;
}

namespace tokenizer {

PreTokenizerKind preTokenizerFromName(std::string_view name, bool* known) {
    struct Entry {
        std::string_view name;
        PreTokenizerKind kind;
    };
    static constexpr Entry kNames[] = {
        {"default", PreTokenizerKind::Default},
        {"gpt-2", PreTokenizerKind::Gpt2},
        {"phi-2", PreTokenizerKind::Gpt2},
        {"olmo", PreTokenizerKind::Gpt2}, // llama.cpp's OLMO and MPT types: GPT-2's expression
        {"mpt", PreTokenizerKind::Gpt2},
        {"exaone4", PreTokenizerKind::Gpt2}, // EXAONE 4.0: llama.cpp maps it to GPT-2's type
        // A.X 4.0 (qwen2 architecture) and JetBrains' Mellum (llama): llama.cpp gives them GPT-2's type too
        {"a.x-4.0", PreTokenizerKind::Gpt2},
        {"mellum", PreTokenizerKind::Gpt2},
        {"llama-bpe", PreTokenizerKind::LlamaBpe},
        {"llama3", PreTokenizerKind::LlamaBpe},
        {"llama-v3", PreTokenizerKind::LlamaBpe},
        {"falcon3", PreTokenizerKind::LlamaBpe},
        {"pixtral", PreTokenizerKind::LlamaBpe},
        {"midm-2.0", PreTokenizerKind::LlamaBpe}, // Mi:dm 2.0 (llama architecture)
        {"dbrx", PreTokenizerKind::Dbrx},
        {"smaug-bpe", PreTokenizerKind::Dbrx},
        {"qwen2", PreTokenizerKind::Qwen2},
        {"deepseek-r1-qwen", PreTokenizerKind::Qwen2},
        {"f2llmv2", PreTokenizerKind::Qwen2},
        {"kormo", PreTokenizerKind::Qwen2},
        {"smollm", PreTokenizerKind::SmolLm},
        {"starcoder", PreTokenizerKind::Starcoder},
        {"refact", PreTokenizerKind::Starcoder},
        {"exaone", PreTokenizerKind::Starcoder}, // EXAONE 3.x: the same expressions, spaces cleaned
        {"glm4", PreTokenizerKind::ChatGlm4},
        {"chatglm-bpe", PreTokenizerKind::ChatGlm4},
        {"tekken", PreTokenizerKind::Tekken},
        {"deepseek-coder", PreTokenizerKind::DeepSeekCoder},
        {"deepseek-llm", PreTokenizerKind::DeepSeekLlm},
        {"viking", PreTokenizerKind::Viking},
        {"gpt-4o", PreTokenizerKind::Gpt4o},
    };
    for (const Entry& e : kNames) {
        if (e.name == name) {
            if (known)
                *known = true;
            return e.kind;
        }
    }
    if (known)
        *known = false;
    return PreTokenizerKind::Default;
}

std::vector<std::string> preTokenize(PreTokenizerKind kind, std::string_view text) {
    return detail::preTokenizeToWords(kind, text);
}

std::string sanitizeUtf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    const size_t used = appendValidUtf8(out, bytes);
    if (used < bytes.size())
        detail::appendUtf8(out, detail::kReplacementChar);
    return out;
}

} // namespace tokenizer

} // namespace declai
