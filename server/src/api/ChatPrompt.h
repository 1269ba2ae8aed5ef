// Turns OpenAI chat messages into the prompt a model continues, with the model's own chat template
// (declai/core/ChatTemplate.h: the family detected from tokenizer.chat_template, rendered as llama.cpp
// does). A template no family matches, or none, renders in the Generic format ("<role>: <content>\n" per
// message, then "assistant:"); the family used goes into the X-DeCLAI-Chat-Template response header.
#pragma once

#include "declai/core/ChatTemplate.h"

#include <QString>
#include <string>
#include <vector>

namespace declai::server::api {

struct RenderedChatPrompt {
    std::string prompt;
    std::vector<TextRange> markup; // where the template wrote (control tokens are parsed only there)
    QString family;                // llama.cpp's name of the template family, or "generic"
};

// templateSource: the model's tokenizer.chat_template ("" when it has none). OpenAI's "developer" role is
// rendered as "system". An Error (InvalidArgument) names the offending message.
Expected<RenderedChatPrompt> renderChatPrompt(const std::vector<ChatMessage>& messages,
                                              const std::string& templateSource);

} // namespace declai::server::api
