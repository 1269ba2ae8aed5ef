// Delay before the next reconnect attempt: exponential growth with full jitter, capped, reset after a
// successful connection. Jitter spreads the reconnects of many nodes after a gateway restart.
#pragma once

#include <cstdint>
#include <random>

namespace declai::net {

class ReconnectBackoff {
public:
    ReconnectBackoff(int initialDelayMs = 500, int maxDelayMs = 30000, double jitterFraction = 0.3,
                     uint64_t seed = std::random_device{}());

    // Delay for the next attempt; each call doubles the base delay up to maxDelayMs.
    int nextDelayMs();
    void reset();
    int attempts() const { return m_attempts; }

private:
    int m_initialDelayMs;
    int m_maxDelayMs;
    double m_jitterFraction;
    int m_attempts = 0;
    std::mt19937_64 m_rng;
};

} // namespace declai::net
