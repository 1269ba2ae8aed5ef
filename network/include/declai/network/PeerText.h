// Text that came from a peer (a node's error message, a close reason) before it reaches a log, the status
// page or a client: bounded in length and stripped of control characters, so a node cannot flood the log,
// forge log lines with newlines or send terminal escapes.
#pragma once

#include <QString>
#include <string>
#include <string_view>

namespace declai::net {

// At most maxBytes bytes of text (cut at a UTF-8 character boundary), control characters replaced by
// spaces, and " [... N bytes]" appended when something was cut.
std::string boundedPeerText(std::string_view text, size_t maxBytes = 256);
inline QString boundedPeerQString(std::string_view text, size_t maxBytes = 256) {
    return QString::fromStdString(boundedPeerText(text, maxBytes));
}

} // namespace declai::net
