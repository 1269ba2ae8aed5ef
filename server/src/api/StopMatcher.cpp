#include "StopMatcher.h"

#include <algorithm>

namespace declai::server::api {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
    for (std::string& s : stops)
        if (!s.empty())
            m_stops.push_back(std::move(s));
}

StopMatcher::Step StopMatcher::push(const std::string& text) {
    if (m_stopped)
        return {{}, true};
    m_held += text;
    if (m_stops.empty()) {
        Step out{std::move(m_held), false};
        m_held.clear();
        return out;
    }
    // The earliest match of any stop string ends the text there.
    size_t first = std::string::npos;
    for (const std::string& stop : m_stops)
        first = std::min(first, m_held.find(stop));
    if (first != std::string::npos) {
        m_stopped = true;
        Step out{m_held.substr(0, first), true};
        m_held.clear();
        return out;
    }
    // Hold back the longest tail that is a proper prefix of some stop string.
    size_t keep = 0;
    for (const std::string& stop : m_stops)
        for (size_t n = std::min(stop.size() - 1, m_held.size()); n > keep; --n)
            if (m_held.compare(m_held.size() - n, n, stop, 0, n) == 0) {
                keep = n;
                break;
            }
    Step out{m_held.substr(0, m_held.size() - keep), false};
    m_held.erase(0, m_held.size() - keep);
    return out;
}

std::string StopMatcher::flush() {
    std::string out = m_stopped ? std::string() : std::move(m_held);
    m_held.clear();
    return out;
}

} // namespace declai::server::api
