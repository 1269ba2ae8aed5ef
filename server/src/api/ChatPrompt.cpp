#include "ChatPrompt.h"

namespace declai::server::api {

Expected<RenderedChatPrompt> renderChatPrompt(const std::vector<ChatMessage>& messages,
                                              const std::string& templateSource) {
    std::vector<ChatMessage> normalized = messages;
    for (ChatMessage& m : normalized)
        if (m.role == "developer")
            m.role = "system"; // OpenAI's newer name for the system role
    const ChatFamily family = detectChatFamily(templateSource);
    auto rendered = renderChatWithMarkup(family, normalized, true);
    if (!rendered)
        return rendered.error();
    return RenderedChatPrompt{std::move(rendered->text), std::move(rendered->markup),
                              QString::fromStdString(familyName(family))};
}

} // namespace declai::server::api
