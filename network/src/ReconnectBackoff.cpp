#include "declai/network/ReconnectBackoff.h"

#include <algorithm>
#include <cmath>

namespace declai::net {

ReconnectBackoff::ReconnectBackoff(int initialDelayMs, int maxDelayMs, double jitterFraction, uint64_t seed)
    : m_initialDelayMs(std::max(1, initialDelayMs)), m_maxDelayMs(std::max(m_initialDelayMs, maxDelayMs)),
      m_jitterFraction(std::clamp(jitterFraction, 0.0, 1.0)), m_rng(seed) {}

int ReconnectBackoff::nextDelayMs() {
    const double base =
        std::min<double>(m_maxDelayMs, m_initialDelayMs * std::pow(2.0, std::min(m_attempts, 30)));
    ++m_attempts;
    // Uniform in [base * (1 - jitter), base]: never longer than the cap, never all at the same instant.
    const double unit = static_cast<double>(m_rng() >> 11) * 0x1.0p-53;
    return static_cast<int>(base * (1.0 - m_jitterFraction * unit));
}

void ReconnectBackoff::reset() {
    m_attempts = 0;
}

} // namespace declai::net
