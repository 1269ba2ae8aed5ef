#include "declai/core/ReplayWindow.h"

#include <algorithm>

namespace declai {

ReplayWindow::ReplayWindow(size_t windowSize)
    : m_windowSize(std::clamp(windowSize, kMinSize, kMaxSize)), m_bits((m_windowSize + 63) / 64, 0) {}

bool ReplayWindow::testBit(uint64_t seq) const {
    const uint64_t slot = seq % (m_bits.size() * 64);
    return (m_bits[slot / 64] >> (slot % 64)) & 1u;
}

void ReplayWindow::setBit(uint64_t seq) {
    const uint64_t slot = seq % (m_bits.size() * 64);
    m_bits[slot / 64] |= uint64_t{1} << (slot % 64);
}

void ReplayWindow::clearBit(uint64_t seq) {
    const uint64_t slot = seq % (m_bits.size() * 64);
    m_bits[slot / 64] &= ~(uint64_t{1} << (slot % 64));
}

bool ReplayWindow::accept(uint64_t seq) {
    if (seq == 0)
        return false;
    if (seq > m_highest) {
        // Slide forward. The slots of m_highest+1 .. seq still hold numbers that are now out of the window
        // (bitCount >= windowSize), so clear them; a jump of a whole bitmap or more clears everything.
        const uint64_t bitCount = m_bits.size() * 64;
        const uint64_t advance = seq - m_highest;
        if (advance >= bitCount) {
            std::fill(m_bits.begin(), m_bits.end(), 0);
        } else {
            for (uint64_t s = m_highest + 1; s < seq; ++s)
                clearBit(s);
        }
        // seq's own slot is set below either way, so the loop above stops short of it.
        m_highest = seq;
        setBit(seq);
        return true;
    }
    if (m_highest - seq >= m_windowSize)
        return false; // too old: we can no longer tell whether it was seen
    if (testBit(seq))
        return false; // replay
    setBit(seq);
    return true;
}

} // namespace declai
