// OpenAI's `stop`: generation ends where any stop string first appears in the output text, even when it is
// split across tokens, and the stop string itself is never returned. Text that could be the start of a stop
// string is held back until the next token settles it. Pure value type; no threads.
#pragma once

#include <string>
#include <vector>

namespace declai::server::api {

class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops = {});

    struct Step {
        std::string text;     // safe to send now
        bool stopped = false; // a stop string matched: end the generation, send nothing after `text`
    };
    // Feeds the next piece of decoded text.
    Step push(const std::string& text);
    // The end of generation without a match: what was held back.
    std::string flush();

private:
    std::vector<std::string> m_stops;
    std::string m_held;
    bool m_stopped = false;
};

} // namespace declai::server::api
