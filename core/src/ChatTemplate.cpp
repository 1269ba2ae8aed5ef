#include "declai/core/ChatTemplate.h"

#include "declai/core/GgufFile.h"

#include <array>
#include <initializer_list>
#include <utility>
#include <vector>

namespace declai {

namespace {

// DeepSeek V3 / R1 markers use U+FF5C (fullwidth vertical line) and U+2581 (lower one eighth block).
#define DECLAI_FW_BAR "\xEF\xBD\x9C"
constexpr std::string_view kDeepSeekUser = "<" DECLAI_FW_BAR "User" DECLAI_FW_BAR ">";
constexpr std::string_view kDeepSeekAssistant = "<" DECLAI_FW_BAR "Assistant" DECLAI_FW_BAR ">";
constexpr std::string_view kDeepSeekEnd =
    "<" DECLAI_FW_BAR "end\xE2\x96\x81of\xE2\x96\x81sentence" DECLAI_FW_BAR ">";
#undef DECLAI_FW_BAR

struct NamedFamily {
    std::string_view name;
    ChatFamily family;
};

// llama.cpp's names of the renderers we implement (a template string equal to one selects it).
constexpr std::array kFamilyNames{
    NamedFamily{"chatml", ChatFamily::ChatMl},
    NamedFamily{"llama2", ChatFamily::Llama2},
    NamedFamily{"llama2-sys", ChatFamily::Llama2Sys},
    NamedFamily{"llama2-sys-bos", ChatFamily::Llama2SysBos},
    NamedFamily{"llama2-sys-strip", ChatFamily::Llama2SysStrip},
    NamedFamily{"llama3", ChatFamily::Llama3},
    NamedFamily{"mistral-v1", ChatFamily::MistralV1},
    NamedFamily{"mistral-v3", ChatFamily::MistralV3},
    NamedFamily{"mistral-v3-tekken", ChatFamily::MistralV3Tekken},
    NamedFamily{"mistral-v7", ChatFamily::MistralV7},
    NamedFamily{"mistral-v7-tekken", ChatFamily::MistralV7Tekken},
    NamedFamily{"phi3", ChatFamily::Phi3},
    NamedFamily{"phi4", ChatFamily::Phi4},
    NamedFamily{"falcon3", ChatFamily::Falcon3},
    NamedFamily{"glmedge", ChatFamily::GlmEdge},
    NamedFamily{"zephyr", ChatFamily::Zephyr},
    NamedFamily{"gemma", ChatFamily::Gemma},
    NamedFamily{"command-r", ChatFamily::CommandR},
    NamedFamily{"deepseek3", ChatFamily::DeepSeek3},
    NamedFamily{"granite", ChatFamily::Granite},
    NamedFamily{"llama4", ChatFamily::Llama4},
    NamedFamily{"gpt-oss", ChatFamily::GptOss},
};

// llama.cpp's other template names: a template equal to one of them is a family we do not render, so it
// must not fall through to the marker search (which could pick a wrong family, e.g. "mistral..." below).
constexpr std::string_view kOtherNames[] = {
    "monarch",        "orion",         "openchat",   "vicuna",        "vicuna-orca", "deepseek",
    "deepseek2",      "deepseek-ocr",  "chatglm3",   "chatglm4",      "minicpm",     "exaone3",
    "exaone4",        "exaone-moe",    "rwkv-world", "granite-4.0",   "granite-4.1", "gigachat",
    "megrez",         "yandex",        "bailing",    "bailing-think", "bailing2",    "smolvlm",
    "hunyuan-moe",    "hunyuan-dense", "hunyuan-vl", "kimi-k2",       "seed_oss",    "grok-2",
    "pangu-embedded", "solar-open",
};

class Markers {
public:
    explicit Markers(std::string_view text) : m_text(text) {}
    bool has(std::string_view marker) const { return m_text.find(marker) != std::string_view::npos; }
    bool hasAll(std::initializer_list<std::string_view> markers) const {
        for (auto m : markers)
            if (!has(m))
                return false;
        return true;
    }
    bool startsWith(std::string_view prefix) const { return m_text.substr(0, prefix.size()) == prefix; }

private:
    std::string_view m_text;
};

// Official Mistral templates ("v1", "v3", "v3-tekken", "v7") and the Llama 2 family share [INST].
ChatFamily detectInstFamily(const Markers& t) {
    if (t.has("[SYSTEM_PROMPT]"))
        return ChatFamily::MistralV7;
    // Mistral's own v1 template spells "' [INST] ' + system_message"; v3 and v3-tekken list tools.
    if (t.has("' [INST] ' + system_message") || t.has("[AVAILABLE_TOOLS]")) {
        if (t.has(" [INST]"))
            return ChatFamily::MistralV1;
        if (t.has("\"[INST]\""))
            return ChatFamily::MistralV3Tekken;
        return ChatFamily::MistralV3;
    }
    // Llama 2 and its community variants; the most specific marker wins.
    if (t.has("content.strip()"))
        return ChatFamily::Llama2SysStrip;
    if (t.has("bos_token + '[INST]"))
        return ChatFamily::Llama2SysBos;
    if (t.has("<<SYS>>"))
        return ChatFamily::Llama2Sys;
    return ChatFamily::Llama2;
}

// Templates of two-role-marker families (<|user|>, <|assistant|>, ...), checked in llama.cpp's order.
std::optional<ChatFamily> detectPipeRoleFamily(const Markers& t) {
    if (t.hasAll({"<|assistant|>", "<|end|>"}))
        return ChatFamily::Phi3;
    if (t.has("[gMASK]<sop>"))
        return ChatFamily::Generic; // ChatGLM 4
    if (t.hasAll({"<|assistant|>", "<|user|>"})) {
        if (t.has("<|tool_declare|>"))
            return ChatFamily::Generic; // EXAONE MoE
        return t.has("</s>") ? ChatFamily::Falcon3 : ChatFamily::GlmEdge;
    }
    if (t.hasAll({"<|{{ item['role'] }}|>", "<|begin_of_image|>"}))
        return ChatFamily::GlmEdge;
    if (t.hasAll({"<|user|>", "<|endoftext|>"}))
        return ChatFamily::Zephyr;
    return std::nullopt;
}

// The rules llama.cpp applies after Llama 3's, in its order; families we do not render give Generic.
ChatFamily detectLaterFamily(const Markers& t) {
    if (t.has("[gMASK]sop") || t.has("<\xE7\x94\xA8\xE6\x88\xB7>") || // ChatGLM 3, MiniCPM ("<用户>")
        t.has("'Assistant: ' + message['content'] + eos_token"))      // DeepSeek V2
        return ChatFamily::Generic;
    if (t.hasAll({kDeepSeekAssistant, kDeepSeekUser, kDeepSeekEnd}))
        return ChatFamily::DeepSeek3;
    if (t.hasAll({"[|system|]", "[|assistant|]", "[|endofturn|]"}) || // EXAONE 3 and 4
        t.has("rwkv-world") || t.has("{{- 'User: ' + message['content']|trim + '\\n\\n' -}}"))
        return ChatFamily::Generic;
    if (t.has("<|start_of_role|>")) // Granite 3.x; with tool markers Granite 4.x
        return t.has("<tool_call>") || t.has("<tools>") ? ChatFamily::Generic : ChatFamily::Granite;
    if (t.has("message['role'] + additional_special_tokens[0] + message['content'] + "
              "additional_special_tokens[1]") ||                                             // GigaChat
        t.has("<|role_start|>") ||                                                           // Megrez
        t.has(" \xD0\x90\xD1\x81\xD1\x81\xD0\xB8\xD1\x81\xD1\x82\xD0\xB5\xD0\xBD\xD1\x82:")) // YandexGPT: "
                                                                                             // Ассистент:"
        return ChatFamily::Generic;
    if (t.has("<role>ASSISTANT</role>") && // Bailing (Ling) variants
        (t.has("'HUMAN'") || t.hasAll({"\"HUMAN\"", "<think>"}) ||
         t.hasAll({"<role>HUMAN</role>", "<|role_end|>"})))
        return ChatFamily::Generic;
    if (t.hasAll({"<|header_start|>", "<|header_end|>"}))
        return ChatFamily::Llama4;
    if (t.has("<|endofuserprompt|>") || t.hasAll({"<|extra_0|>", "<|extra_4|>"})) // dots.llm1, Hunyuan MoE
        return ChatFamily::Generic;
    if (t.hasAll({"<|start|>", "<|channel|>"}))
        return ChatFamily::GptOss;
    return ChatFamily::Generic;
}

// Trims the bytes std::isspace() accepts in the C locale, as llama.cpp's trim() does.
std::string_view trimmed(std::string_view s) {
    constexpr std::string_view kSpace = " \t\n\v\f\r";
    const size_t first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos)
        return {};
    return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

enum class Role { System, User, Assistant };

struct Turn {
    Role role;
    std::string_view roleName; // one of the three names above: template markup, not message text
    std::string_view content;
};

// Builds the prompt and remembers which bytes the template wrote (markup) and which came from messages.
class Writer {
public:
    Writer& markup(std::string_view s) {
        if (s.empty())
            return *this;
        if (!m_out.markup.empty() && m_out.markup.back().end == m_out.text.size())
            m_out.markup.back().end += s.size();
        else
            m_out.markup.push_back(TextRange{m_out.text.size(), m_out.text.size() + s.size()});
        m_out.text.append(s);
        return *this;
    }
    Writer& content(std::string_view s) {
        m_out.text.append(s);
        return *this;
    }
    RenderedChat take() { return std::move(m_out); }

private:
    RenderedChat m_out;
};

void renderChatMl(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup("<|im_start|>").markup(m.roleName).markup("\n").content(m.content).markup("<|im_end|>\n");
    if (addPrompt)
        out.markup("<|im_start|>assistant\n");
}

// "<|role|>" + separator + content + terminator per turn, then the assistant header (Phi-3, Falcon 3,
// GLM-Edge, Zephyr).
void renderPipeRoles(const std::vector<Turn>& turns, bool addPrompt, std::string_view terminator,
                     std::string_view prompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup("<|").markup(m.roleName).markup("|>\n").content(m.content).markup(terminator);
    if (addPrompt)
        out.markup(prompt);
}

void renderPhi4(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup("<|im_start|>")
            .markup(m.roleName)
            .markup("<|im_sep|>")
            .content(m.content)
            .markup("<|im_end|>");
    if (addPrompt)
        out.markup("<|im_start|>assistant<|im_sep|>");
}

void renderLlama3(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup("<|start_header_id|>")
            .markup(m.roleName)
            .markup("<|end_header_id|>\n\n")
            .content(trimmed(m.content))
            .markup("<|eot_id|>");
    if (addPrompt)
        out.markup("<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Llama 2: one [INST] block per user turn, closed by the answer and </s>. The first "[INST] " is written
// before anything else (BOS comes from the tokenizer); the generation prompt is implicit.
void renderLlama2(ChatFamily family, const std::vector<Turn>& turns, Writer& out) {
    const bool systemBlock = family != ChatFamily::Llama2;
    const bool bosBetweenTurns = family == ChatFamily::Llama2SysBos;
    const bool trimContent = family == ChatFamily::Llama2SysStrip;
    bool inTurn = true;
    out.markup("[INST] ");
    for (const Turn& m : turns) {
        const std::string_view content = trimContent ? trimmed(m.content) : m.content;
        if (!inTurn) {
            out.markup(bosBetweenTurns ? "<s>[INST] " : "[INST] ");
            inTurn = true;
        }
        switch (m.role) {
        case Role::System:
            if (systemBlock)
                out.markup("<<SYS>>\n").content(content).markup("\n<</SYS>>\n\n");
            else
                out.content(content).markup("\n");
            break;
        case Role::User:
            out.content(content).markup(" [/INST]");
            break;
        case Role::Assistant:
            out.content(content).markup("</s>");
            inTurn = false;
            break;
        }
    }
}

// Mistral v1 / v3 / v3-tekken: like Llama 2 but the system text opens the turn without a block, and the
// spacing differs per version. No generation prompt.
void renderMistralInst(ChatFamily family, const std::vector<Turn>& turns, Writer& out) {
    const std::string_view lead = family == ChatFamily::MistralV1 ? " " : "";
    const std::string_view gap = family == ChatFamily::MistralV3Tekken ? "" : " ";
    const bool trimAnswer = family == ChatFamily::MistralV3;
    bool inTurn = false;
    for (const Turn& m : turns) {
        if (!inTurn) {
            out.markup(lead).markup("[INST]").markup(gap);
            inTurn = true;
        }
        switch (m.role) {
        case Role::System:
            out.content(m.content).markup("\n\n");
            break;
        case Role::User:
            out.content(m.content).markup(lead).markup("[/INST]");
            break;
        case Role::Assistant:
            out.markup(gap).content(trimAnswer ? trimmed(m.content) : m.content).markup("</s>");
            inTurn = false;
            break;
        }
    }
}

// Mistral v7 (and v7-tekken without the spaces): tagged system prompt, no generation prompt.
void renderMistralV7(ChatFamily family, const std::vector<Turn>& turns, Writer& out) {
    const std::string_view gap = family == ChatFamily::MistralV7 ? " " : "";
    for (const Turn& m : turns) {
        switch (m.role) {
        case Role::System:
            out.markup("[SYSTEM_PROMPT]").markup(gap).content(m.content).markup("[/SYSTEM_PROMPT]");
            break;
        case Role::User:
            out.markup("[INST]").markup(gap).content(m.content).markup("[/INST]");
            break;
        case Role::Assistant:
            out.markup(gap).content(m.content).markup("</s>");
            break;
        }
    }
}

// Gemma has no system role: system text (trimmed, concatenated) is held until the next user turn, which it
// opens followed by a blank line. "assistant" is called "model".
void renderGemma(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    std::string pendingSystem;
    for (const Turn& m : turns) {
        if (m.role == Role::System) {
            pendingSystem.append(trimmed(m.content));
            continue;
        }
        const bool isModel = m.role == Role::Assistant;
        out.markup("<start_of_turn>").markup(isModel ? "model" : m.roleName).markup("\n");
        if (!isModel && !pendingSystem.empty()) {
            out.content(pendingSystem).markup("\n\n");
            pendingSystem.clear();
        }
        out.content(trimmed(m.content)).markup("<end_of_turn>\n");
    }
    if (addPrompt)
        out.markup("<start_of_turn>model\n");
}

void renderCommandR(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns) {
        const char* tag = m.role == Role::System ? "<|SYSTEM_TOKEN|>"
                          : m.role == Role::User ? "<|USER_TOKEN|>"
                                                 : "<|CHATBOT_TOKEN|>";
        out.markup("<|START_OF_TURN_TOKEN|>")
            .markup(tag)
            .content(trimmed(m.content))
            .markup("<|END_OF_TURN_TOKEN|>");
    }
    if (addPrompt)
        out.markup("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
}

// DeepSeek V3 and the R1 distills: system text bare, then user/assistant markers.
void renderDeepSeek3(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns) {
        switch (m.role) {
        case Role::System:
            out.content(m.content).markup("\n\n");
            break;
        case Role::User:
            out.markup(kDeepSeekUser).content(m.content);
            break;
        case Role::Assistant:
            out.markup(kDeepSeekAssistant).content(m.content).markup(kDeepSeekEnd);
            break;
        }
    }
    if (addPrompt)
        out.markup(kDeepSeekAssistant);
}

void renderGranite(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup("<|start_of_role|>")
            .markup(m.roleName)
            .markup("<|end_of_role|>")
            .content(m.content)
            .markup("<|end_of_text|>\n");
    if (addPrompt)
        out.markup("<|start_of_role|>assistant<|end_of_role|>");
}

void renderLlama4(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup("<|header_start|>")
            .markup(m.roleName)
            .markup("<|header_end|>\n\n")
            .content(trimmed(m.content))
            .markup("<|eot|>");
    if (addPrompt)
        out.markup("<|header_start|>assistant<|header_end|>\n\n");
}

// gpt-oss (OpenAI's Harmony format, as llama.cpp's simple renderer writes it: no channels).
void renderGptOss(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup("<|start|>")
            .markup(m.roleName)
            .markup("<|message|>")
            .content(m.content)
            .markup(m.role == Role::Assistant ? "<|return|>" : "<|end|>");
    if (addPrompt)
        out.markup("<|start|>assistant");
}

// "<role>: <content>\n" per message, then "assistant:" (the format the HTTP API documented first).
void renderGeneric(const std::vector<Turn>& turns, bool addPrompt, Writer& out) {
    for (const Turn& m : turns)
        out.markup(m.roleName).markup(": ").content(m.content).markup("\n");
    if (addPrompt)
        out.markup("assistant:");
}

} // namespace

std::string familyName(ChatFamily family) {
    for (const NamedFamily& n : kFamilyNames)
        if (n.family == family)
            return std::string(n.name);
    return "generic";
}

ChatFamily detectChatFamily(std::string_view templateText) {
    for (const NamedFamily& n : kFamilyNames)
        if (templateText == n.name)
            return n.family;
    for (std::string_view other : kOtherNames)
        if (templateText == other)
            return ChatFamily::Generic;

    const Markers t(templateText);
    if (t.has("<|im_start|>")) {
        if (t.has("<|im_sep|>"))
            return ChatFamily::Phi4;
        if (t.has("<end_of_utterance>"))
            return ChatFamily::Generic; // SmolVLM: <|im_start|> is its BOS, the format is not ChatML
        return ChatFamily::ChatMl;
    }
    if (t.startsWith("mistral") || t.has("[INST]"))
        return detectInstFamily(t);
    if (const auto pipe = detectPipeRoleFamily(t))
        return *pipe;
    // Families llama.cpp checks before Gemma and Llama 3: a template that matches them is not ours.
    if (t.has("bos_token + message['role']")) // AlphaMonarch
        return ChatFamily::Generic;
    if (t.has("<start_of_turn>"))
        return ChatFamily::Gemma;
    if (t.has("'\\n\\nAssistant: ' + eos_token") || t.has("GPT4 Correct ") ||
        t.hasAll({"USER: ", "ASSISTANT: "}) || t.hasAll({"### Instruction:", "<|EOT|>"}))
        return ChatFamily::Generic; // Orion, OpenChat, Vicuna, DeepSeek Coder
    if (t.hasAll({"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"}))
        return ChatFamily::CommandR;
    if (t.hasAll({"<|start_header_id|>", "<|end_header_id|>"}))
        return ChatFamily::Llama3;
    return detectLaterFamily(t);
}

Expected<std::optional<std::string>> chatTemplateOf(const GgufFile& file) {
    const std::string key = "tokenizer.chat_template";
    if (!file.contains(key))
        return std::optional<std::string>{};
    auto text = file.getString(key);
    if (!text)
        return text.error();
    return std::optional<std::string>(std::move(text.value()));
}

Expected<ChatFamily> detectChatFamily(const GgufFile& file) {
    auto text = chatTemplateOf(file);
    if (!text)
        return text.error();
    return text->has_value() ? detectChatFamily(**text) : ChatFamily::Generic;
}

Expected<RenderedChat> renderChatWithMarkup(ChatFamily family, std::span<const ChatMessage> messages,
                                            bool addGenerationPrompt) {
    if (messages.empty())
        return makeError(ErrorCode::InvalidArgument,
                         "chat: messages is empty (at least one message is needed)");
    std::vector<Turn> turns;
    turns.reserve(messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
        const std::string& role = messages[i].role;
        Role r;
        if (role == "system")
            r = Role::System;
        else if (role == "user")
            r = Role::User;
        else if (role == "assistant")
            r = Role::Assistant;
        else
            return makeError(ErrorCode::InvalidArgument,
                             "chat: messages[" + std::to_string(i) + "].role is \"" + role +
                                 "\" (expected \"system\", \"user\" or \"assistant\")");
        turns.push_back(Turn{r, role, messages[i].content});
    }

    Writer out;
    switch (family) {
    case ChatFamily::Generic:
        renderGeneric(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::ChatMl:
        renderChatMl(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::Llama2:
    case ChatFamily::Llama2Sys:
    case ChatFamily::Llama2SysBos:
    case ChatFamily::Llama2SysStrip:
        renderLlama2(family, turns, out);
        break;
    case ChatFamily::Llama3:
        renderLlama3(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::MistralV1:
    case ChatFamily::MistralV3:
    case ChatFamily::MistralV3Tekken:
        renderMistralInst(family, turns, out);
        break;
    case ChatFamily::MistralV7:
    case ChatFamily::MistralV7Tekken:
        renderMistralV7(family, turns, out);
        break;
    case ChatFamily::Phi3:
        renderPipeRoles(turns, addGenerationPrompt, "<|end|>\n", "<|assistant|>\n", out);
        break;
    case ChatFamily::Phi4:
        renderPhi4(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::Falcon3:
        renderPipeRoles(turns, addGenerationPrompt, "\n", "<|assistant|>\n", out);
        break;
    case ChatFamily::GlmEdge:
        renderPipeRoles(turns, addGenerationPrompt, "", "<|assistant|>", out);
        break;
    case ChatFamily::Zephyr:
        renderPipeRoles(turns, addGenerationPrompt, "<|endoftext|>\n", "<|assistant|>\n", out);
        break;
    case ChatFamily::Gemma:
        renderGemma(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::CommandR:
        renderCommandR(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::DeepSeek3:
        renderDeepSeek3(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::Granite:
        renderGranite(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::Llama4:
        renderLlama4(turns, addGenerationPrompt, out);
        break;
    case ChatFamily::GptOss:
        renderGptOss(turns, addGenerationPrompt, out);
        break;
    }
    return out.take();
}

Expected<std::string> renderChat(ChatFamily family, std::span<const ChatMessage> messages,
                                 bool addGenerationPrompt) {
    auto rendered = renderChatWithMarkup(family, messages, addGenerationPrompt);
    if (!rendered)
        return rendered.error();
    return std::move(rendered->text);
}

} // namespace declai
