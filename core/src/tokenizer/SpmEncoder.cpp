// SentencePiece-style encoding as llama.cpp does it for "llama" vocabularies: start from UTF-8 characters,
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring vocabulary entry (leftmost on
// ties), then emit each remaining piece as its token or, failing that, as <0xNN> byte tokens.
#include "tokenizer/Unicode.h"
#include "tokenizer/Vocab.h"

#include <algorithm>
#include <queue>

namespace declai::tokenizer::detail {
namespace {

struct Symbol {
    int prev;
    int next;
    size_t offset; // into the text
    size_t length; // 0 once merged into its left neighbour
};

struct Bigram {
    int left;
    int right;
    float score;
    size_t length;
};

struct BigramOrder {
    // priority_queue pops the "largest": highest score, then the smallest left index.
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

int32_t byteToken(const Vocab& vocab, uint8_t byte) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const char name[6] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
    int32_t id = vocab.find(std::string_view(name, 6));
    if (id < 0)
        id = vocab.find(std::string_view(reinterpret_cast<const char*>(&byte), 1));
    return id;
}

} // namespace

void spmEncode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t offset = 0; offset < text.size();) {
        const size_t length =
            std::min(utf8SequenceLength(static_cast<unsigned char>(text[offset])), text.size() - offset);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, offset + length == text.size() ? -1 : index + 1, offset, length});
        offset += length;
    }
    if (symbols.empty())
        return;

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    const auto tryAddBigram = [&](int left, int right) {
        if (left < 0 || right < 0)
            return;
        const std::string_view pair = text.substr(
            symbols[size_t(left)].offset, symbols[size_t(left)].length + symbols[size_t(right)].length);
        const int32_t id = vocab.find(pair);
        if (id < 0)
            return;
        queue.push({left, right, vocab.scores[size_t(id)], pair.size()});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i)
        tryAddBigram(i - 1, i);

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[size_t(bigram.left)];
        Symbol& right = symbols[size_t(bigram.right)];
        // Stale entry: one side was merged away since the pair was queued.
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length)
            continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0)
            symbols[size_t(right.next)].prev = bigram.left;
        tryAddBigram(left.prev, bigram.left);
        tryAddBigram(bigram.left, left.next);
    }

    for (int i = 0; i != -1; i = symbols[size_t(i)].next) {
        const Symbol& symbol = symbols[size_t(i)];
        const std::string_view piece = text.substr(symbol.offset, symbol.length);
        const int32_t id = vocab.find(piece);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        // Byte fallback. (A merged piece is always a vocabulary entry, so only single characters get here.)
        for (char c : piece) {
            const int32_t byteId = byteToken(vocab, static_cast<uint8_t>(c));
            if (byteId >= 0)
                out.push_back(byteId);
            else if (vocab.unk >= 0)
                out.push_back(
                    vocab.unk); // llama.cpp would throw; a vocabulary without byte tokens gets <unk>
        }
    }
}

} // namespace declai::tokenizer::detail
