// Joins pieces into one std::string with append(). GCC 12 at -O3 warns falsely (-Wrestrict) about
// `"literal" + std::string` chains; this avoids them and allocates once. Pieces are anything that converts
// to std::string_view, and integers (written in decimal, as std::to_string does).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace declai {

namespace strcat_detail {

inline std::string_view piece(std::string_view text) {
    return text;
}
template <class Int>
requires std::is_integral_v<Int> std::string piece(Int value) {
    return std::to_string(value);
}

inline std::string join(std::initializer_list<std::string_view> pieces) {
    size_t size = 0;
    for (std::string_view p : pieces)
        size += p.size();
    std::string out;
    out.reserve(size);
    for (std::string_view p : pieces)
        out.append(p);
    return out;
}

} // namespace strcat_detail

// The temporaries made for integers live until the end of the full expression, after join() returns.
template <class... Pieces>
std::string strCat(const Pieces&... pieces) {
    return strcat_detail::join({std::string_view(strcat_detail::piece(pieces))...});
}

} // namespace declai
