// Reference vectors for DeCLAI's chat-template renderer (core/src/ChatTemplate.cpp), produced by llama.cpp
// itself: for every template and conversation, llama_chat_apply_template() with add_ass false and true; for
// a few vocabularies, llama_tokenize() of rendered prompts with add_special and parse_special set (what
// llama.cpp's server does with a rendered chat). The family llama.cpp detects is recorded too
// (llm_chat_detect_template(), an internal function of libllama, declared in src/llama-chat.h).
//
// Built and run by generate.sh (outside DeCLAI's build; needs a built libllama and libllama-common):
//   chat_vectors --llama-commit SHA --node-llama-cpp-tag TAG --vocab-dir DIR --vocab a.gguf ... \
//                --jinja FILE ... > chat_templates.json
#include "llama-chat.h"
#include "llama.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

// From llama.cpp's common library (common/build-info.h): the commit and build the binary was made from.
const char * llama_commit(void);
int llama_build_number(void);

#define U8C(x) (const char *) (u8##x)

namespace {

struct NamedTemplate {
    std::string name;
    std::string text;
};

// Verbatim .template_str literals of llama.cpp's tests/test-chat-template.cpp (see extract_test_templates.py).
const std::vector<NamedTemplate> kTestTemplates = {
#include "test_templates.inc"
};

// Template names llama.cpp accepts instead of a template text (the only way to reach some renderers).
// Every name of a renderer DeCLAI implements, so each renderer is covered whatever the texts above select.
const char * kNamedOnly[] = { "chatml",     "llama2",     "llama2-sys",        "llama2-sys-bos", "llama2-sys-strip",
                              "llama3",     "mistral-v1", "mistral-v3",        "mistral-v3-tekken", "mistral-v7",
                              "mistral-v7-tekken", "phi3", "phi4", "falcon3", "glmedge", "zephyr", "gemma",
                              "command-r", "deepseek3", "granite", "llama4", "gpt-oss" };

// HuggingFaceH4/zephyr-7b-beta tokenizer_config.json "chat_template" (the template of the Zephyr model card;
// llama.cpp classifies it as GLMEdge because it has both <|user|> and <|assistant|>).
const char * kZephyrBeta =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

struct Conversation {
    std::string name;
    std::vector<std::pair<std::string, std::string>> messages;
};

const std::vector<Conversation> kConversations = {
    { "user-only", { { "user", "Hello" } } },
    { "system-user", { { "system", "You are a helpful assistant" }, { "user", "Hello" } } },
    // The conversation of llama.cpp's own test (spaces around one answer on purpose).
    { "llama-cpp-test",
      { { "system", "You are a helpful assistant" },
        { "user", "Hello" },
        { "assistant", "Hi there" },
        { "user", "Who are you" },
        { "assistant", "   I am an assistant   " },
        { "user", "Another question" } } },
    { "trailing-assistant", { { "user", "Write a haiku" }, { "assistant", "Autumn moonlight -" } } },
    { "unicode",
      { { "system", U8C("Réponds en français, s'il te plaît. 日本語も可。") },
        { "user", U8C("Grüß dich! Что это? 你好 🙂 — \"quotes\" and \\backslash\\") },
        { "assistant", U8C("Ça va ✓ ünïcödé") },
        { "user", U8C("Emoji: 👩‍💻🚀, RTL: שלום") } } },
    { "empty-content", { { "system", "" }, { "user", "" }, { "assistant", "" }, { "user", "" } } },
    { "whitespace", { { "system", "\n  Be brief.\t\n" }, { "user", "  Hi\n\n" }, { "assistant", "\tHello!  " }, { "user", " \r\nBye \v\f" } } },
    { "two-systems", { { "system", "Rule one." }, { "system", "Rule two." }, { "user", "Go" } } },
    { "system-last", { { "user", "Hello" }, { "assistant", "Hi" }, { "system", "Be terse from now on." } } },
    { "assistant-first", { { "assistant", "How can I help?" }, { "user", "Tell me a joke" } } },
    { "special-text-in-content",
      { { "user", "What does <|im_end|> or </s> or [INST] or <|eot_id|> mean?" } } },
};

std::string jsonString(const std::string & s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += char(c);
                }
        }
    }
    return out + "\"";
}

std::string familyName(llm_chat_template t) {
    static std::map<int, std::string> names;
    if (names.empty()) {
        std::vector<const char *> all(llama_chat_builtin_templates(nullptr, 0));
        llama_chat_builtin_templates(all.data(), all.size());
        for (const char * n : all) {
            names[llm_chat_template_from_str(n)] = n;
        }
    }
    if (t == LLM_CHAT_TEMPLATE_UNKNOWN) {
        return "";
    }
    auto it = names.find(t);
    return it == names.end() ? "unnamed-" + std::to_string(int(t)) : it->second;
}

// -1 when llama.cpp refuses the template.
bool render(const std::string & tmpl, const Conversation & conv, bool addAss, std::string & out) {
    std::vector<llama_chat_message> msgs;
    for (const auto & m : conv.messages) {
        msgs.push_back({ m.first.c_str(), m.second.c_str() });
    }
    std::vector<char> buf(4096);
    int32_t n = llama_chat_apply_template(tmpl.c_str(), msgs.data(), msgs.size(), addAss, buf.data(), buf.size());
    if (n < 0) {
        return false;
    }
    if (size_t(n) > buf.size()) {
        buf.resize(n);
        n = llama_chat_apply_template(tmpl.c_str(), msgs.data(), msgs.size(), addAss, buf.data(), buf.size());
    }
    out.assign(buf.data(), size_t(n));
    return true;
}

std::string readFile(const std::string & path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string baseName(const std::string & path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int main(int argc, char ** argv) {
    std::string commit, tag, vocabDir;
    std::vector<std::string> vocabs, jinjaFiles;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--llama-commit") commit = v;
        else if (k == "--node-llama-cpp-tag") tag = v;
        else if (k == "--vocab-dir") vocabDir = v;
        else if (k == "--vocab") vocabs.push_back(v);
        else if (k == "--jinja") jinjaFiles.push_back(v);
        else { fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
    }

    struct Source {
        std::string name, origin, text;
    };
    std::vector<Source> templates;
    for (const auto & t : kTestTemplates) {
        templates.push_back({ t.name, "llama.cpp tests/test-chat-template.cpp", t.text });
    }
    templates.push_back({ "HuggingFaceH4/zephyr-7b-beta", "HuggingFaceH4/zephyr-7b-beta tokenizer_config.json chat_template", kZephyrBeta });
    for (const auto & f : jinjaFiles) {
        templates.push_back({ baseName(f), "llama.cpp models/templates/" + baseName(f), readFile(f) });
    }
    for (const char * n : kNamedOnly) {
        templates.push_back({ std::string("name:") + n, "llama.cpp built-in template name", n });
    }

    llama_backend_init();
    std::printf("{\n  \"generator\": \"tools/chat_vectors/chat_vectors.cpp\",\n");
    std::printf("  \"llama_cpp_commit\": %s,\n  \"node_llama_cpp_tag\": %s,\n", jsonString(commit).c_str(), jsonString(tag).c_str());
    std::printf("  \"libllama_build\": {\"commit\": %s, \"build_number\": %d},\n", jsonString(llama_commit()).c_str(),
                llama_build_number());

    std::printf("  \"conversations\": [\n");
    for (size_t c = 0; c < kConversations.size(); ++c) {
        const auto & conv = kConversations[c];
        std::printf("    {\"name\": %s, \"messages\": [", jsonString(conv.name).c_str());
        for (size_t m = 0; m < conv.messages.size(); ++m) {
            std::printf("%s{\"role\": %s, \"content\": %s}", m ? ", " : "", jsonString(conv.messages[m].first).c_str(),
                        jsonString(conv.messages[m].second).c_str());
        }
        std::printf("]}%s\n", c + 1 < kConversations.size() ? "," : "");
    }
    std::printf("  ],\n");

    // "llama_cpp_family" is "" where llama.cpp refuses the template.
    std::map<std::string, std::string> rendered;  // "template|conversation|addAss" -> text, for tokens below
    std::printf("  \"templates\": [\n");
    for (size_t t = 0; t < templates.size(); ++t) {
        const auto & tp = templates[t];
        const std::string family = familyName(llm_chat_detect_template(tp.text));
        fprintf(stderr, "%-100s %s\n", tp.name.c_str(), family.empty() ? "(unknown)" : family.c_str());
        std::printf("    {\"name\": %s, \"source\": %s, \"llama_cpp_family\": %s,\n     \"template\": %s,\n     \"renders\": [",
                    jsonString(tp.name).c_str(), jsonString(tp.origin).c_str(), jsonString(family).c_str(),
                    jsonString(tp.text).c_str());
        // Renders only for the renderers DeCLAI implements (kNamedOnly); for the others the detection is the test.
        bool ours = false;
        for (const char * n : kNamedOnly) {
            ours = ours || family == n;
        }
        bool first = true;
        for (const auto & conv : kConversations) {
            if (!ours) {
                break;
            }
            // Texts render like their family's name entry: one conversation each keeps the file small.
            if (tp.origin != "llama.cpp built-in template name" && conv.name != "llama-cpp-test") {
                continue;
            }
            for (bool addAss : { false, true }) {
                std::string out;
                if (!render(tp.text, conv, addAss, out)) {
                    continue;
                }
                rendered[tp.name + "|" + conv.name + "|" + (addAss ? "1" : "0")] = out;
                std::printf("%s\n       {\"conversation\": %s, \"add_generation_prompt\": %s, \"output\": %s}", first ? "" : ",",
                            jsonString(conv.name).c_str(), addAss ? "true" : "false", jsonString(out).c_str());
                first = false;
            }
        }
        std::printf("]}%s\n", t + 1 < templates.size() ? "," : "");
    }
    std::printf("  ],\n");

    // Token ids of rendered prompts (add_generation_prompt true), tokenised as llama.cpp's server does.
    std::printf("  \"tokens\": [");
    bool firstTok = true;
    for (const auto & v : vocabs) {
        llama_model_params mp = llama_model_default_params();
        mp.vocab_only = true;
        llama_model * model = llama_model_load_from_file((vocabDir + "/" + v).c_str(), mp);
        if (!model) {
            fprintf(stderr, "cannot load %s\n", v.c_str());
            return 1;
        }
        const llama_vocab * vocab = llama_model_get_vocab(model);
        for (const char * name : kNamedOnly) {
            // Three conversations on the Llama 3 vocabulary, the long one on the others (keeps the file small).
            for (const char * convName : { "llama-cpp-test", "unicode", "special-text-in-content" }) {
                if (v != "ggml-vocab-llama-bpe.gguf" && std::string(convName) != "llama-cpp-test") {
                    continue;
                }
                const std::string key = std::string("name:") + name + "|" + convName + "|1";
                const std::string & text = rendered[key];
                std::vector<llama_token> ids(text.size() + 8);
                const int n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), true, true);
                if (n < 0) {
                    fprintf(stderr, "tokenize failed\n");
                    return 1;
                }
                std::printf("%s\n    {\"vocab\": %s, \"template\": %s, \"conversation\": %s, \"add_generation_prompt\": true, "
                            "\"add_special\": true, \"parse_special\": true, \"ids\": [",
                            firstTok ? "" : ",", jsonString(v).c_str(), jsonString(std::string("name:") + name).c_str(),
                            jsonString(convName).c_str());
                for (int i = 0; i < n; ++i) {
                    std::printf("%s%d", i ? "," : "", ids[i]);
                }
                std::printf("]}");
                firstTok = false;
            }
        }
        llama_model_free(model);
    }
    std::printf("\n  ]\n}\n");
    llama_backend_free();
    return 0;
}
