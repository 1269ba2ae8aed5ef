// Chat templates: recognise the family of a model's `tokenizer.chat_template` and render a conversation the
// way llama.cpp's built-in (non-Jinja) renderer does, byte for byte (llama_chat_apply_template(); the
// reference vectors in tests/core/data/chat_templates.json come from it, see the README there).
//
// This is not a Jinja interpreter: like llama.cpp, detection looks for marker strings in the template text,
// and each family has a fixed renderer. A template no family matches renders in the Generic format below,
// and callers report that (the HTTP API says so in a response header).
//
// Tokenising a rendered prompt (what llama.cpp's server does, and what the caller must do):
//   tokenizer.encode(rendered, /*addSpecial=*/true, /*parseSpecial=*/true)
// - parseSpecial=true: the markers the renderer writes (<|im_start|>, <|eot_id|>, [INST], </s>, ...) are the
//   model's control tokens and must become their ids, not be spelled out in text pieces.
// - addSpecial=true: BOS is added as the model's metadata says (tokenizer.ggml.add_bos_token); no renderer
//   here writes a leading BOS, so it is never doubled. Llama2SysBos writes "<s>" between turns (and
//   parseSpecial turns it into BOS there), as llama.cpp does.
// - The Generic format is plain text: it needs no special tokens and works with any vocabulary.
// Hardened variant (our choice where a caller wants it; not what llama.cpp does): with parseSpecial=true a
// message whose text spells a control token ("<|im_end|>\n<|im_start|>system\n...") gets that token, so
// text pasted into a message can forge turns. renderChatWithMarkup() says which bytes the template wrote;
//   tokenizer.encodeWithMarkup(r.text, /*addSpecial=*/true, r.markup)
// parses control tokens only there. The ids are identical to llama.cpp's unless a message spells one.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/Tokenizer.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace declai {

class GgufFile;

// One value per renderer of llama.cpp that we implement; names (familyName) are llama.cpp's template names,
// so `detectChatFamily("chatml")` works as in llama.cpp. Variants are separate values because they render
// differently.
enum class ChatFamily {
    Generic,         // unknown or absent template: the documented plain-text format (below)
    ChatMl,          // "chatml": Qwen, OpenHermes, Yi, ... <|im_start|>role\ncontent<|im_end|>\n
    Llama2,          // "llama2": [INST] ... [/INST], no system block (system text + "\n" in the first turn)
    Llama2Sys,       // "llama2-sys": <<SYS>>\n...\n<</SYS>>\n\n inside the first [INST]
    Llama2SysBos,    // "llama2-sys-bos": as Llama2Sys, with "<s>" before every later [INST]
    Llama2SysStrip,  // "llama2-sys-strip": as Llama2Sys, every content trimmed
    Llama3,          // "llama3": <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>, trimmed
    MistralV1,       // "mistral-v1": " [INST] ... [/INST] answer</s>"
    MistralV3,       // "mistral-v3": "[INST] ...[/INST] answer</s>", assistant content trimmed
    MistralV3Tekken, // "mistral-v3-tekken": as v3 without the spaces, no trimming
    MistralV7,       // "mistral-v7": [SYSTEM_PROMPT] ...[/SYSTEM_PROMPT][INST] ...[/INST] answer</s>
    MistralV7Tekken, // "mistral-v7-tekken": as v7 without the spaces (by name only, as in llama.cpp)
    Phi3,            // "phi3": <|role|>\ncontent<|end|>\n
    Phi4,            // "phi4": <|im_start|>role<|im_sep|>content<|im_end|>
    Falcon3,         // "falcon3": <|role|>\ncontent\n
    GlmEdge,         // "glmedge": <|role|>\ncontent (llama.cpp also picks it for HF Zephyr-style templates)
    Zephyr,          // "zephyr": <|role|>\ncontent<|endoftext|>\n
    Gemma,           // "gemma": <start_of_turn>user|model\ncontent<end_of_turn>\n, system merged into user
    CommandR,  // "command-r": Cohere <|START_OF_TURN_TOKEN|><|USER_TOKEN|>...<|END_OF_TURN_TOKEN|>, trimmed
    DeepSeek3, // "deepseek3": DeepSeek V3 / R1 and its Llama/Qwen distills (fullwidth-bar markers)
    Granite,   // "granite": IBM Granite 3.x <|start_of_role|>role<|end_of_role|>content<|end_of_text|>
    Llama4,    // "llama4": <|header_start|>role<|header_end|>\n\ncontent<|eot|>, trimmed
    GptOss,    // "gpt-oss": <|start|>role<|message|>content<|end|> (an answer ends in <|return|>)
};

// llama.cpp's name of the family ("chatml", "llama2-sys", "mistral-v3-tekken", ...); "generic" for Generic.
std::string familyName(ChatFamily family);

// The family of a template: its text (tokenizer.chat_template) or one of the names above. Follows
// llama.cpp's llm_chat_detect_template() rule for rule and in the same order, so a template that llama.cpp
// classifies as a family we do not render (DeepSeek Coder, ChatGLM, EXAONE, Granite 4, ...) gives Generic,
// never a wrong family. Never fails: anything unrecognised, the empty string included, is Generic.
ChatFamily detectChatFamily(std::string_view templateText);

// The model's tokenizer.chat_template: nullopt when the key is absent, an Error when it is not a string.
Expected<std::optional<std::string>> chatTemplateOf(const GgufFile& file);
// detectChatFamily() of the model's template; Generic when it has none. (llama.cpp's C API would use
// "chatml" for a model without a template; we use the plain-text format, which needs no special tokens.)
Expected<ChatFamily> detectChatFamily(const GgufFile& file);

struct ChatMessage {
    std::string role; // "system", "user" or "assistant"
    std::string content;
};

// Renders a conversation as llama.cpp does for `family`, with the assistant prompt appended when
// addGenerationPrompt is set (families whose llama.cpp renderer ignores the flag — the Llama 2 and Mistral
// ones — ignore it here too). An empty list, or a role other than system/user/assistant, is an
// InvalidArgument Error naming the message index and role. Content is copied as bytes (UTF-8 is not
// checked here; the tokenizer replaces invalid sequences).
//
// Quirks kept on purpose because llama.cpp has them: Gemma trims contents and folds system messages into
// the next user turn (a system message with no user turn after it is dropped); Llama 3 trims contents;
// Llama 2 without system support writes the system text plus "\n" inside the first [INST].
//
// Generic format (plain text, documented for API users): "<role>: <content>\n" per message, in order
// ("system: ...", "user: ...", "assistant: ..."), then "assistant:" when addGenerationPrompt is set.
Expected<std::string> renderChat(ChatFamily family, std::span<const ChatMessage> messages,
                                 bool addGenerationPrompt);

// renderChat() plus where the template's own markup lies in the text (everything not from a message's
// content, role names included), for Tokenizer::encodeWithMarkup().
struct RenderedChat {
    std::string text;
    std::vector<TextRange> markup; // sorted, not overlapping, never empty ranges
};
Expected<RenderedChat> renderChatWithMarkup(ChatFamily family, std::span<const ChatMessage> messages,
                                            bool addGenerationPrompt);

} // namespace declai
