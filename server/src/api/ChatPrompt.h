// Turns OpenAI chat messages into the prompt text a model continues. One function, so the renderer that
// follows each model's own chat template (declai/core/ChatTemplate.h, when it lands) replaces the generic
// format in one place.
//
// The generic format (docs/api.md, "Chat prompts"): each message as "<role>: <content>\n" in order, then
// "assistant:" for the reply. It is used for every model until the template renderer lands, and for
// templates it does not recognise; the family used is reported in the X-DeCLAI-Chat-Template header.
#pragma once

#include <QString>
#include <string>
#include <vector>

namespace declai::server::api {

struct ChatMessage {
    std::string role; // system, user, assistant (tool and developer are passed as their role name)
    std::string content;
};

struct RenderedChat {
    std::string prompt;
    QString family; // "generic", or the recognised template family
};

// templateSource: the model's tokenizer.chat_template ("" when it has none).
RenderedChat renderChat(const std::vector<ChatMessage>& messages, const std::string& templateSource);

} // namespace declai::server::api
