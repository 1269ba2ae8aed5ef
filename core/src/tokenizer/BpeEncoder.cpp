// Byte-level BPE as llama.cpp does it for "gpt2" vocabularies: pre-tokenize, map each word's bytes through
// the GPT-2 byte table, then inside each word repeatedly merge the adjacent pair with the lowest merge rank
// (leftmost on ties) and look the resulting pieces up in the vocabulary.
#include "tokenizer/PreTokenizer.h"
#include "tokenizer/Unicode.h"
#include "tokenizer/Vocab.h"

#include <algorithm>
#include <queue>

namespace declai::tokenizer::detail {
namespace {

struct Symbol {
    int prev;
    int next;
    size_t offset; // into the word
    size_t length; // 0 once merged into its left neighbour
};

struct Bigram {
    int left;
    int right;
    int32_t rank;
    std::string text; // left + right when queued; a mismatch later means the entry is stale
};

struct BigramOrder {
    // priority_queue pops the "largest": lowest rank, then the smallest left index.
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

std::string byteEncode(std::string_view word) {
    std::string out;
    out.reserve(word.size() * 2);
    for (char c : word)
        appendUtf8(out, byteToUnicode(static_cast<uint8_t>(c)));
    return out;
}

} // namespace

std::string mergeKey(std::string_view left, std::string_view right) {
    std::string key;
    key.reserve(left.size() + right.size() + 8);
    key += std::to_string(left.size());
    key += ':';
    key += left;
    key += right;
    return key;
}

void bpeEncode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
    std::vector<Symbol> symbols;
    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    std::string key;

    for (const std::string& rawWord : preTokenizeToWords(vocab.pre, text)) {
        const std::string word = byteEncode(rawWord);
        symbols.clear();
        queue = {};
        const auto view = [&](const Symbol& s) { return std::string_view(word).substr(s.offset, s.length); };

        if (vocab.ignoreMerges && vocab.find(word) >= 0) {
            symbols.push_back({-1, -1, 0, word.size()});
        } else {
            for (size_t offset = 0; offset < word.size();) {
                const size_t length = std::min(utf8SequenceLength(static_cast<unsigned char>(word[offset])),
                                               word.size() - offset);
                const int index = static_cast<int>(symbols.size());
                symbols.push_back(
                    {index - 1, offset + length == word.size() ? -1 : index + 1, offset, length});
                offset += length;
            }
        }

        const auto addBigram = [&](int left, int right) {
            if (left < 0 || right < 0)
                return;
            const std::string_view l = view(symbols[size_t(left)]);
            const std::string_view r = view(symbols[size_t(right)]);
            key = mergeKey(l, r);
            const auto it = vocab.mergeRanks.find(key);
            if (it == vocab.mergeRanks.end())
                return;
            std::string joined;
            joined.reserve(l.size() + r.size());
            joined.append(l).append(r);
            queue.push({left, right, it->second, std::move(joined)});
        };
        for (int i = 1; i < static_cast<int>(symbols.size()); ++i)
            addBigram(i - 1, i);

        while (!queue.empty()) {
            const Bigram bigram = queue.top();
            queue.pop();
            Symbol& left = symbols[size_t(bigram.left)];
            Symbol& right = symbols[size_t(bigram.right)];
            if (left.length == 0 || right.length == 0)
                continue;
            if (bigram.text.size() != left.length + right.length ||
                std::string_view(bigram.text) !=
                    std::string_view(word).substr(left.offset, left.length + right.length))
                continue;
            left.length += right.length;
            right.length = 0;
            left.next = right.next;
            if (right.next >= 0)
                symbols[size_t(right.next)].prev = bigram.left;
            addBigram(left.prev, bigram.left);
            addBigram(bigram.left, left.next);
        }

        for (const Symbol& symbol : symbols) {
            if (symbol.length == 0)
                continue;
            const std::string_view piece = view(symbol);
            const int32_t id = vocab.find(piece);
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            // Not in the vocabulary (a broken merge list): fall back to single-byte entries where they exist.
            for (char c : piece) {
                const int32_t byteId = vocab.find(std::string_view(&c, 1));
                if (byteId >= 0)
                    out.push_back(byteId);
            }
        }
    }
}

} // namespace declai::tokenizer::detail
