// Reference generator for DeCLAI's parity tests (tools/parity/README.md). Not built with DeCLAI: it links
// against a llama.cpp build.
// Loads a GGUF with llama.cpp (CPU backend unless PARITY_REF_GPU_LAYERS is set), tokenizes the prompt with
// BOS, evaluates it in one batch, writes the last prompt position's logits (raw little-endian float32) and
// then greedily generates n_predict tokens one at a time (argmax, lowest id on ties, as llama.cpp's greedy
// sampler), writing a JSON file in the format of ../shared/reference/parity/*.json.
//
//   parity_ref MODEL.gguf "PROMPT" N_PREDICT OUT_PREFIX [THREADS]
//
// Context settings are llama.cpp's defaults (llama_context_default_params: F16 K/V cache, flash attention
// chosen automatically) with n_threads = n_threads_batch = THREADS (default 2).
// DUMP_TENSORS=name1,name2 prints the named graph tensors (e.g. "kqv_out-0,ffn_out-1") of every evaluation
// to stderr as "TENSOR name ne0 ne1 v0 v1 ..." (debugging aid).
#include "ggml-backend.h"
#include "llama.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <vector>

static std::set<std::string> g_dump;

static int g_eval = 0;      // index of the current llama_decode call (0 = the prompt)
static int g_dumpEval = -1; // DUMP_EVAL: dump only during this call (-1: every call)

static bool dumpCallback(struct ggml_tensor* t, bool ask, void*) {
    const bool wanted =
        (g_dumpEval < 0 || g_dumpEval == g_eval) && (g_dump.count("*") > 0 || g_dump.count(t->name) > 0);
    if (ask)
        return wanted;
    if (!wanted || t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t))
        return true;
    std::vector<float> data(ggml_nelements(t));
    ggml_backend_tensor_get(t, data.data(), 0, data.size() * sizeof(float));
    std::fprintf(stderr, "TENSOR %s %lld %lld", t->name, (long long)t->ne[0],
                 (long long)(ggml_nelements(t) / t->ne[0]));
    for (float v : data)
        std::fprintf(stderr, " %.9g", v);
    std::fprintf(stderr, "\n");
    return true;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid (RFC 3629: no overlong
// forms, no surrogates, nothing past U+10FFFF; strict JSON readers refuse those).
static size_t utf8Length(const std::string& s, size_t i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80                   ? 1
                     : (c >= 0xC2 && c <= 0xDF) ? 2
                     : (c >> 4) == 0xE          ? 3
                     : (c >= 0xF0 && c <= 0xF4) ? 4
                                                : 0;
    if (n == 0 || i + n > s.size())
        return 0;
    for (size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2)
            return 0;
    // The second byte's allowed range narrows after E0, ED, F0 and F4.
    const unsigned char second = n > 1 ? static_cast<unsigned char>(s[i + 1]) : 0x80;
    if ((c == 0xE0 && second < 0xA0) || (c == 0xED && second >= 0xA0) || (c == 0xF0 && second < 0x90) ||
        (c == 0xF4 && second >= 0x90))
        return 0;
    return n;
}

// JSON string body; invalid UTF-8 bytes become U+FFFD (random-weight models emit partial sequences).
static std::string jsonEscape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8Length(s, i);
        if (n == 0) {
            out += "\ufffd";
            ++i;
            continue;
        }
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (n > 1) {
            out.append(s, i, n);
        } else if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += char(c);
        }
        i += n;
    }
    return out;
}

static std::string joinIds(const std::vector<llama_token>& ids) {
    std::ostringstream s;
    for (size_t i = 0; i < ids.size(); ++i)
        s << (i ? ", " : "") << ids[i];
    return s.str();
}

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s MODEL.gguf PROMPT N_PREDICT OUT_PREFIX [THREADS] [N_CTX]\n", argv[0]);
        return 2;
    }
    const std::string modelPath = argv[1], prompt = argv[2], outPrefix = argv[4];
    const int nPredict = std::atoi(argv[3]);
    const int threads = argc > 5 ? std::atoi(argv[5]) : 2;
    // 0: llama.cpp's default context; generations past it need a larger one (the cache's numerics depend
    // on the cells in use, not on the context size).
    const int contextTokens = argc > 6 ? std::atoi(argv[6]) : 0;
    if (const char* d = std::getenv("DUMP_TENSORS")) {
        std::stringstream ss(d);
        std::string item;
        while (std::getline(ss, item, ','))
            g_dump.insert(item);
    }
    if (const char* e = std::getenv("DUMP_EVAL"))
        g_dumpEval = std::atoi(e);

    ggml_backend_load_all();
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    // PARITY_REF_GPU_LAYERS=N puts N layers (and the output layer when N covers them all) on the build's own
    // GPU backend (Vulkan, CUDA, ...), to measure how far llama.cpp's devices are from its CPU.
    const char* gpuLayersText = std::getenv("PARITY_REF_GPU_LAYERS");
    const int gpuLayers = gpuLayersText ? std::atoi(gpuLayersText) : 0;
    mp.n_gpu_layers = gpuLayers;
    llama_model* model = llama_model_load_from_file(modelPath.c_str(), mp);
    if (!model)
        return 1;
    const llama_vocab* vocab = llama_model_get_vocab(model);
    llama_context_params cp = llama_context_default_params();
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    if (contextTokens > 0)
        cp.n_ctx = static_cast<uint32_t>(contextTokens);
    if (!g_dump.empty()) {
        cp.cb_eval = dumpCallback;
        cp.cb_eval_user_data = nullptr;
    }
    llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx)
        return 1;

    const int nPromptMax = int(prompt.size()) + 8;
    std::vector<llama_token> promptIds(nPromptMax);
    const int nPrompt =
        llama_tokenize(vocab, prompt.c_str(), int(prompt.size()), promptIds.data(), nPromptMax, true, false);
    if (nPrompt < 0)
        return 1;
    promptIds.resize(nPrompt);
    const int nVocab = llama_vocab_n_tokens(vocab);

    // PROMPT_ONE_BY_ONE=1 evaluates the prompt a token at a time (every matrix product then takes the
    // single-row vec_dot path instead of llamafile's batched sgemm; debugging aid).
    if (std::getenv("PROMPT_ONE_BY_ONE")) {
        for (size_t i = 0; i < promptIds.size(); ++i) {
            llama_batch one = llama_batch_get_one(&promptIds[i], 1);
            if (llama_decode(ctx, one) != 0)
                return 1;
        }
    } else {
        llama_batch batch = llama_batch_get_one(promptIds.data(), int(promptIds.size()));
        if (llama_decode(ctx, batch) != 0)
            return 1;
    }
    const float* logits = llama_get_logits_ith(ctx, -1);
    {
        FILE* f = std::fopen((outPrefix + ".logits.f32").c_str(), "wb");
        if (!f || std::fwrite(logits, sizeof(float), size_t(nVocab), f) != size_t(nVocab))
            return 1;
        std::fclose(f);
    }
    std::vector<llama_token> generated;
    std::string text;
    for (int i = 0; i < nPredict; ++i) {
        llama_token best = 0;
        for (llama_token t = 1; t < nVocab; ++t)
            if (logits[t] > logits[best])
                best = t;
        if (llama_vocab_is_eog(vocab, best))
            break;
        generated.push_back(best);
        char piece[256];
        const int n = llama_token_to_piece(vocab, best, piece, sizeof piece, 0, false);
        if (n > 0)
            text.append(piece, size_t(n));
        llama_batch one = llama_batch_get_one(&generated.back(), 1);
        ++g_eval;
        if (llama_decode(ctx, one) != 0)
            return 1;
        logits = llama_get_logits_ith(ctx, -1);
        if (std::getenv("DUMP_STEP_LOGITS")) { // every step's logits, appended (debugging aid)
            FILE* all = std::fopen((outPrefix + ".steps.f32").c_str(), i == 0 ? "wb" : "ab");
            if (all) {
                std::fwrite(logits, sizeof(float), size_t(nVocab), all);
                std::fclose(all);
            }
        }
    }
    const std::string base = outPrefix.substr(outPrefix.find_last_of('/') + 1);
    const std::string modelName = modelPath.substr(modelPath.find_last_of('/') + 1);
    FILE* f = std::fopen((outPrefix + ".json").c_str(), "w");
    if (!f)
        return 1;
    std::fprintf(
        f,
        "{\n  \"model\": \"%s\",\n  \"prompt\": \"%s\",\n  \"add_bos\": true,\n  \"prompt_tokens\": [%s],\n"
        "  \"greedy_tokens\": [%s],\n  \"greedy_text\": \"%s\",\n  \"n_vocab\": %d,\n"
        "  \"last_logits_file\": \"%s.logits.f32\",\n"
        "  \"generator\": \"tools/parity/parity_ref.cpp with llama.cpp (%s, %d threads, %s)\"\n}\n",
        jsonEscape(modelName).c_str(), jsonEscape(prompt).c_str(), joinIds(promptIds).c_str(),
        joinIds(generated).c_str(), jsonEscape(text).c_str(), nVocab, base.c_str(),
        gpuLayers > 0 ? ("GPU backend, " + std::to_string(gpuLayers) + " layers").c_str() : "CPU", threads,
        contextTokens > 0 ? ("n_ctx " + std::to_string(contextTokens)).c_str() : "default context");
    std::fclose(f);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
