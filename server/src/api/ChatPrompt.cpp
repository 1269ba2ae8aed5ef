#include "ChatPrompt.h"

namespace declai::server::api {

RenderedChat renderChat(const std::vector<ChatMessage>& messages, const std::string& templateSource) {
    (void)templateSource; // every template renders generically until the template renderer lands
    RenderedChat out;
    out.family = QStringLiteral("generic");
    for (const ChatMessage& m : messages)
        out.prompt += m.role + ": " + m.content + "\n";
    out.prompt += "assistant:";
    return out;
}

} // namespace declai::server::api
