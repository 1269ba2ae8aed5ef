// libFuzzer target: encode and decode with the reference vocabularies (SentencePiece, llama-bpe, gpt-2)
// that DECLAI_REFERENCE_DIR holds: arbitrary bytes as text (with and without special-token parsing),
// arbitrary ids (out of range too) through decode and the streaming decoder; and every BPE pre-tokenizer's
// split of the text (no empty word, the words add up to the text when it is valid UTF-8).
#include "FuzzInput.h"
#include "declai/core/GgufFile.h"
#include "declai/core/Tokenizer.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Vocab {
    std::unique_ptr<declai::GgufFile> file;
    std::unique_ptr<declai::Tokenizer> tokenizer;
};
std::vector<Vocab>* g_vocabs = nullptr;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_tokenizer: %s\n", what);
        std::abort();
    }
}

void checkPreTokenizers(std::string_view text) {
    using declai::PreTokenizerKind;
    const bool validUtf8 = declai::tokenizer::sanitizeUtf8(text) == text;
    for (int k = int(PreTokenizerKind::Default); k <= int(PreTokenizerKind::ChatGlm4); ++k) {
        const auto words = declai::tokenizer::preTokenize(PreTokenizerKind(k), text);
        std::string joined;
        for (const std::string& word : words) {
            check(!word.empty(), "a pre-tokenizer returned an empty word");
            joined += word;
        }
        check(!validUtf8 || joined == text, "a pre-tokenizer's words do not add up to the text");
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    using namespace declai;
    const char* dir = std::getenv("DECLAI_REFERENCE_DIR");
    if (!dir) {
        std::fprintf(stderr, "fuzz_tokenizer: DECLAI_REFERENCE_DIR is not set\n");
        std::exit(1);
    }
    g_vocabs = new std::vector<Vocab>();
    for (const char* name : {"llama-spm", "llama-bpe", "gpt-2"}) {
        const std::string path = std::string(dir) + "/tokenizer/ggml-vocab-" + name + ".gguf";
        auto file = GgufFile::open(path);
        if (!file) {
            std::fprintf(stderr, "fuzz_tokenizer: %s\n", file.error().message.c_str());
            std::exit(1);
        }
        Vocab vocab;
        vocab.file = std::make_unique<GgufFile>(std::move(*file));
        auto tokenizer = Tokenizer::fromGguf(*vocab.file);
        if (!tokenizer) {
            std::fprintf(stderr, "fuzz_tokenizer: %s\n", tokenizer.error().message.c_str());
            std::exit(1);
        }
        vocab.tokenizer = std::move(*tokenizer);
        g_vocabs->push_back(std::move(vocab));
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    declai::fuzz::FuzzInput input(data, size);
    const uint8_t mode = input.byte();
    const declai::Tokenizer& tokenizer = *(*g_vocabs)[mode % g_vocabs->size()].tokenizer;
    if (mode & 0x80) {
        // Ids: any 32-bit values, including negative and out-of-range ones.
        std::vector<int32_t> ids;
        while (!input.empty() && ids.size() < 256)
            ids.push_back(static_cast<int32_t>(input.u32() % (tokenizer.vocabSize() + 64)) - 32);
        (void)tokenizer.decode(ids, (mode & 0x40) != 0);
        declai::StreamingDecoder stream(tokenizer, (mode & 0x20) != 0);
        for (int32_t id : ids)
            (void)stream.push(id);
        (void)stream.flush();
        return 0;
    }
    const std::string_view text = input.rest();
    if (mode & 0x10)
        checkPreTokenizers(text);
    const auto ids = tokenizer.encode(text, (mode & 0x40) != 0, (mode & 0x20) != 0);
    (void)tokenizer.decode(ids);
    return 0;
}
