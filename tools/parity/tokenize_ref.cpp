// llama.cpp's token ids for each string of a llama.cpp tokenizer test file (.inp: strings each followed by
// "\n__ggml_vocab_test__\n"), one line of space-separated ids per string, the format of its .out files: the
// vocabulary only (vocab_only), no BOS/EOS, no special-token parsing unless --parse-special. Not part of the
// DeCLAI build; compile it against a llama.cpp build as parity_ref.cpp (README.md).
//
//   tokenize_ref VOCAB.gguf TESTS.inp [--parse-special] > TESTS.out
#include "llama.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    const bool parseSpecial = argc == 4 && std::string(argv[3]) == "--parse-special";
    if (argc != 3 && !parseSpecial) {
        std::fprintf(stderr, "usage: %s VOCAB.gguf TESTS.inp [--parse-special]\n", argv[0]);
        return 2;
    }
    llama_backend_init();
    llama_model_params params = llama_model_default_params();
    params.vocab_only = true;
    llama_model* model = llama_model_load_from_file(argv[1], params);
    if (!model) {
        std::fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    const llama_vocab* vocab = llama_model_get_vocab(model);
    std::ifstream in(argv[2], std::ios::binary);
    std::stringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    const std::string separator = "\n__ggml_vocab_test__\n";
    for (size_t pos = 0, hit; (hit = text.find(separator, pos)) != std::string::npos;
         pos = hit + separator.size()) {
        const std::string s = text.substr(pos, hit - pos);
        std::vector<llama_token> ids(s.size() + 16);
        const int n = llama_tokenize(vocab, s.data(), static_cast<int>(s.size()), ids.data(),
                                     static_cast<int>(ids.size()), false, parseSpecial);
        if (n < 0) {
            std::fprintf(stderr, "tokenize failed\n");
            return 1;
        }
        for (int i = 0; i < n; ++i)
            std::printf(i ? " %d" : "%d", ids[i]);
        std::printf("\n");
    }
    llama_model_free(model);
    return 0;
}
