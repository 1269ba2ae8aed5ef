// Joins pieces into one std::string with append(). GCC 12 at -O3 warns falsely (-Wrestrict) about
// `"literal" + std::string` chains; this avoids them and allocates once.
#pragma once

#include <string>
#include <string_view>

namespace declai {

template <class... Pieces>
std::string strCat(const Pieces&... pieces) {
    std::string out;
    out.reserve((std::string_view(pieces).size() + ... + 0));
    (out.append(std::string_view(pieces)), ...);
    return out;
}

} // namespace declai
