// Anti-replay check for sequence-numbered messages (the IPsec sliding window, RFC 4303 §3.4.3): every
// sequence number is accepted at most once, numbers that fall behind the window are refused, and messages
// may still arrive out of order within the window. Sequence number 0 is never valid, so a zero-initialised
// field can never pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace declai {

class ReplayWindow {
public:
    static constexpr size_t kDefaultSize = 64;
    static constexpr size_t kMinSize = 32;
    static constexpr size_t kMaxSize = 1024;

    // windowSize is clamped to [kMinSize, kMaxSize]: it comes from configuration, and a window too small
    // to cover normal reordering or too large to stay cheap is a mistake, not something to fail on.
    explicit ReplayWindow(size_t windowSize = kDefaultSize);

    // True if seq is new and recent enough; records it so that the same seq is refused from then on.
    bool accept(uint64_t seq);
    // Highest sequence number accepted so far (0 before the first).
    uint64_t highest() const { return m_highest; }
    size_t windowSize() const { return m_windowSize; }

private:
    bool testBit(uint64_t seq) const;
    void setBit(uint64_t seq);
    void clearBit(uint64_t seq);

    size_t m_windowSize;
    uint64_t m_highest = 0;
    // Circular bitmap (RFC 6479 style): the bit of seq lives at seq % bitCount, so sliding the window
    // forward clears only the slots of the new numbers instead of shifting the whole map.
    std::vector<uint64_t> m_bits;
};

} // namespace declai
