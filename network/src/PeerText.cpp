#include "declai/network/PeerText.h"

namespace declai::net {

std::string boundedPeerText(std::string_view text, size_t maxBytes) {
    size_t keep = std::min(text.size(), maxBytes);
    // Do not split a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
    if (keep < text.size())
        while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80)
            --keep;
    std::string out(text.substr(0, keep));
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F)
            c = ' ';
    }
    if (keep < text.size())
        out += " [... " + std::to_string(text.size()) + " bytes]";
    return out;
}

} // namespace declai::net
