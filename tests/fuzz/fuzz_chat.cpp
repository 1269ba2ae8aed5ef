// libFuzzer target: chat templates as the HTTP API meets them. Arbitrary template text through detection;
// arbitrary messages (any roles, any bytes) through every renderer; renderChat() and renderChatWithMarkup()
// must agree and the markup ranges must be sorted, disjoint and inside the text; the rendered prompt, and
// arbitrary text with arbitrary ranges, through Tokenizer::encodeWithMarkup() on the reference vocabularies
// (DECLAI_REFERENCE_DIR). Any disagreement aborts (a finding), as a crash would.
#include "FuzzInput.h"
#include "declai/core/ChatTemplate.h"
#include "declai/core/GgufFile.h"
#include "declai/core/Tokenizer.h"

#include <algorithm>
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
        std::fprintf(stderr, "fuzz_chat: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    using namespace declai;
    const char* dir = std::getenv("DECLAI_REFERENCE_DIR");
    if (!dir) {
        std::fprintf(stderr, "fuzz_chat: DECLAI_REFERENCE_DIR is not set\n");
        std::exit(1);
    }
    g_vocabs = new std::vector<Vocab>();
    for (const char* name : {"llama-spm", "llama-bpe", "gpt-2"}) {
        auto file = GgufFile::open(std::string(dir) + "/tokenizer/ggml-vocab-" + name + ".gguf");
        if (!file) {
            std::fprintf(stderr, "fuzz_chat: %s\n", file.error().message.c_str());
            std::exit(1);
        }
        Vocab vocab;
        vocab.file = std::make_unique<GgufFile>(std::move(*file));
        auto tokenizer = Tokenizer::fromGguf(*vocab.file);
        if (!tokenizer) {
            std::fprintf(stderr, "fuzz_chat: %s\n", tokenizer.error().message.c_str());
            std::exit(1);
        }
        vocab.tokenizer = std::move(*tokenizer);
        g_vocabs->push_back(std::move(vocab));
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai;
    fuzz::FuzzInput input(data, size);
    const uint8_t mode = input.byte();
    const Tokenizer& tokenizer = *(*g_vocabs)[mode % g_vocabs->size()].tokenizer;

    if (mode & 0x80) {
        // Arbitrary text and ranges (clamped, sorted, disjoint, as the API promises callers).
        std::vector<TextRange> ranges;
        const size_t rangeCount = input.byte() % 8;
        const std::string text(input.bytes(size_t(input.byte()) * 8));
        size_t at = 0;
        for (size_t i = 0; i < rangeCount && at < text.size(); ++i) {
            const size_t begin = at + input.byte() % 16;
            const size_t end = std::min(text.size(), begin + 1 + input.byte() % 32);
            if (begin >= end)
                break;
            ranges.push_back({begin, end});
            at = end + 1;
        }
        (void)tokenizer.encodeWithMarkup(text, (mode & 0x40) != 0, ranges);
        return 0;
    }

    const std::string templateText(input.bytes(input.byte()));
    const ChatFamily detected = detectChatFamily(templateText);
    check(detectChatFamily(familyName(detected)) == detected, "familyName does not round-trip");

    static const char* const kRoles[] = {"system", "user", "assistant", "tool", ""};
    std::vector<ChatMessage> messages;
    const size_t messageCount = input.byte() % 6;
    for (size_t i = 0; i < messageCount && !input.empty(); ++i) {
        ChatMessage m;
        m.role = kRoles[input.byte() % 5];
        m.content = std::string(input.bytes(input.byte()));
        messages.push_back(std::move(m));
    }
    const bool prompt = (mode & 0x40) != 0;
    const auto plain = renderChat(detected, messages, prompt);
    const auto marked = renderChatWithMarkup(detected, messages, prompt);
    check(bool(plain) == bool(marked), "renderChat and renderChatWithMarkup disagree on success");
    if (!plain)
        return 0;
    check(*plain == marked->text, "renderChat and renderChatWithMarkup disagree on text");
    size_t previousEnd = 0;
    for (const TextRange& r : marked->markup) {
        check(r.begin < r.end && r.end <= marked->text.size(), "markup range out of the text or empty");
        check(r.begin >= previousEnd, "markup ranges overlap or are unsorted");
        previousEnd = r.end;
    }
    (void)tokenizer.encodeWithMarkup(marked->text, true, marked->markup);
    return 0;
}
