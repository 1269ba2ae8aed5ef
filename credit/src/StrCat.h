// String concatenation by append(): GCC 12 gives false -Wrestrict warnings for `"a" + std::string + ...`
// chains at -O3, and CI builds with -Werror.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace declai::credit {

inline void strAppend(std::string& out, std::string_view part) {
    out.append(part);
}
inline void strAppend(std::string& out, const char* part) {
    out.append(part);
}
inline void strAppend(std::string& out, const std::string& part) {
    out.append(part);
}
template <class Int>
requires std::is_integral_v<Int>
void strAppend(std::string& out, Int value) {
    out.append(std::to_string(value));
}

template <class... Parts>
std::string strCat(const Parts&... parts) {
    std::string out;
    (strAppend(out, parts), ...);
    return out;
}

} // namespace declai::credit
