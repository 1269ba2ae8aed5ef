// Text <-> token ids for GGUF models, matching llama.cpp's llama-vocab.cpp id for id: SentencePiece-style
// ("llama": score-driven bigram merges with byte fallback) and byte-level BPE ("gpt2": regex pre-tokenizer,
// GPT-2 byte mapping, merges by rank). A tokenizer is immutable after construction and safe to share
// between threads; StreamingDecoder is per stream.
#pragma once

#include "declai/core/Error.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace declai {

class GgufFile;

// Token kinds as stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

enum class VocabKind {
    SentencePiece, // tokenizer.ggml.model == "llama"
    BytePairGpt2,  // tokenizer.ggml.model == "gpt2"
};

// BPE pre-tokenizers (tokenizer.ggml.pre). Default is llama.cpp's fallback chain for "default" and for
// vocabularies without the key: [\p{P}$+<=>^~|]+, then the GPT-2 regex, then \p{N}+, then [0-9]{3}.
enum class PreTokenizerKind {
    Default,
    Gpt2,          // "gpt-2", "phi-2", "olmo", "mpt", "exaone4", "a.x-4.0", "mellum"
    LlamaBpe,      // "llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral", "midm-2.0"
    Dbrx,          // "dbrx", "smaug-bpe": Llama 3's split, merges even for whole-word tokens
    Qwen2,         // "qwen2", "deepseek-r1-qwen", "f2llmv2", "kormo"
    SmolLm,        // "smollm": every digit alone, then GPT-2's split
    Starcoder,     // "starcoder", "refact" (Granite 3.x): SmolLM's split, decoding cleans spaces
    Tekken,        // "tekken" (Mistral Nemo, Mistral Small 3, Ministral): words split at case changes
    DeepSeekCoder, // "deepseek-coder" (DeepSeek Coder 1.3B-33B, llama architecture)
    DeepSeekLlm,   // "deepseek-llm" (DeepSeek LLM 7B/67B, llama architecture): code point ranges
    Viking,        // "viking" (Viking 7B-33B, llama architecture): words end at spaces, .,!?()|
    Gpt4o,         // "gpt-4o" (Phi-4-mini): Tekken's case split with contractions and 3-digit numbers
    ChatGlm4,      // "glm4", "chatglm-bpe" (GLM-4): DBRX's split and merges, no default BOS
    // (tests/fuzz/fuzz_tokenizer.cpp walks Default..ChatGlm4: a new kind goes before ChatGlm4)
};

// Everything the tokenizer reads from the model, so that tests and tools can build one without a file.
struct VocabSpec {
    std::string model; // "llama" or "gpt2"
    std::string pre;   // empty when the key is absent
    // general.name: llama.cpp gives some models' special tokens whitespace-stripping attributes by name
    // (a "phi3" / "phi-3" name: spaces after special tokens are dropped when they are parsed).
    std::string modelName;
    std::vector<std::string> tokens;
    std::vector<float> scores;       // empty (all 0) or one per token
    std::vector<int32_t> tokenTypes; // empty (all Normal) or one per token, TokenType values
    std::vector<std::string> merges; // "left right", BPE only
    std::optional<int64_t> bosId, eosId, unknownId, paddingId, eotId, eomId;
    // Fill-in-the-middle tokens (prefix, suffix, middle, pad, repository, file separator; FimKind order):
    // llama.cpp finds the ones a file does not name by text, and ends generation at the last three.
    std::array<std::optional<int64_t>, 6> fimIds;
    std::optional<bool> addBos, addEos, addSpacePrefix;

    // The tokenizer.ggml.* keys of a file; missing or mistyped vocabulary data is an Error.
    static Expected<VocabSpec> fromGguf(const GgufFile& file);
};

// A byte range [begin, end) of a text.
struct TextRange {
    size_t begin = 0;
    size_t end = 0;
};

class Tokenizer {
public:
    // Reads the tokenizer.ggml.* keys. Missing or inconsistent vocabulary data is an Error; an unknown
    // pre-tokenizer name falls back to Default and is reported by warnings().
    static Expected<std::unique_ptr<Tokenizer>> fromGguf(const GgufFile& file);
    static Expected<std::unique_ptr<Tokenizer>> fromSpec(VocabSpec spec);

    virtual ~Tokenizer();
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // addSpecial: add BOS/EOS as the metadata says; parseSpecial: control tokens written in the text (e.g.
    // "<|eot_id|>") become their ids. User-defined tokens are always matched, as in llama.cpp.
    std::vector<int32_t> encode(std::string_view text, bool addSpecial, bool parseSpecial = false) const;
    // encode(text, addSpecial, true), except that control and unknown tokens are recognised only where they
    // lie entirely inside one of `markup` (byte ranges of text, sorted, not overlapping): the markup of a
    // rendered chat (RenderedChat::markup), so that message text spelling "<|im_end|>" stays text. Text
    // with no special-token spelling outside markup encodes exactly as encode(text, addSpecial, true).
    std::vector<int32_t> encodeWithMarkup(std::string_view text, bool addSpecial,
                                          std::span<const TextRange> markup) const;

    // Bytes of one token. Control and unknown tokens give "" unless renderSpecial; SentencePiece byte tokens
    // give their byte and U+2581 becomes a space; BPE pieces are mapped back through the GPT-2 byte table.
    std::string tokenToPiece(int32_t id, bool renderSpecial = false) const;

    // llama_detokenize(): the first piece loses one leading space when the vocabulary adds a space prefix
    // (unless removeSpecial strips a leading BOS, in which case llama.cpp keeps it), and BPE vocabularies
    // that clean up spaces drop the space before . , ! ? and some contractions.
    std::string decode(std::span<const int32_t> ids, bool removeSpecial = false,
                       bool renderSpecial = false) const;

    int32_t vocabSize() const;
    int32_t bosId() const;     // -1 when the vocabulary has none
    int32_t eosId() const;     // -1 when the vocabulary has none
    int32_t unknownId() const; // -1 when the vocabulary has none
    int32_t paddingId() const; // -1 when the vocabulary has none
    bool addBosDefault() const;
    bool addEosDefault() const;
    bool addSpacePrefix() const;
    bool
    isEndOfGeneration(int32_t id) const; // EOS, EOT, EOM and eot-like texts (<|eot_id|>, <|im_end|>, ...)
    bool isControl(int32_t id) const;

    VocabKind kind() const;
    PreTokenizerKind preTokenizer() const;
    const std::string& preTokenizerName() const;    // as stored in the file
    TokenType tokenType(int32_t id) const;          // Undefined for ids out of range
    std::string_view tokenText(int32_t id) const;   // raw vocabulary entry; empty for ids out of range
    int32_t findToken(std::string_view text) const; // -1 when absent
    // Non-fatal load problems (unknown pre-tokenizer, out-of-range special ids, ...), one line each.
    const std::vector<std::string>& warnings() const;

private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Turns a stream of generated ids into text without ever splitting a UTF-8 character: bytes of an incomplete
// multi-byte sequence are held back until the sequence completes. Bytes that can never form valid UTF-8 are
// replaced by U+FFFD, so every returned string is valid UTF-8.
class StreamingDecoder {
public:
    explicit StreamingDecoder(const Tokenizer& tokenizer, bool renderSpecial = false);

    std::string push(int32_t id);
    std::string pushBytes(std::string_view bytes);
    // Returns what is still held back (an incomplete sequence becomes U+FFFD) and resets the decoder.
    std::string flush();
    size_t pendingBytes() const { return m_pending.size(); }

private:
    const Tokenizer& m_tokenizer;
    bool m_renderSpecial;
    std::string m_pending;
};

namespace tokenizer {

// Maps a tokenizer.ggml.pre value; `known` (optional) reports whether the name was recognised.
PreTokenizerKind preTokenizerFromName(std::string_view name, bool* known = nullptr);

// Splits text the way the given BPE pre-tokenizer does, returning UTF-8 words before the byte mapping.
// Invalid UTF-8 bytes become U+FFFD (as in llama.cpp).
std::vector<std::string> preTokenize(PreTokenizerKind kind, std::string_view text);

// Replaces every byte sequence that is not valid UTF-8 by U+FFFD.
std::string sanitizeUtf8(std::string_view bytes);

} // namespace tokenizer

} // namespace declai
