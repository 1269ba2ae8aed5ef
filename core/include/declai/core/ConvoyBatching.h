// When a stage (a node's shard, the gateway's layers or head) that is idle should start its next pass.
// Sessions that ran a pass together reach the next stage microseconds to milliseconds apart: each answer is
// its own network frame, handled one by one. A stage that started on the first arrival would run it alone and
// then the others, and the group would stay split at every later stage (each pass serving one session, each
// reading all the weights again). So an idle stage waits briefly for the rest of a group ("convoy") when part
// of it has arrived: groups formed while a stage was busy stay together, and decode passes keep serving them
// all. A lone session, or a group that has fully arrived, never waits. Plain C++: callers own the clock and
// timer.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>

namespace declai {

class ConvoyBatching {
public:
    // How long to wait at most for a group: a quarter of its last pass, within [minWaitUs, maxWaitUs].
    explicit ConvoyBatching(int64_t minWaitUs = 500, int64_t maxWaitUs = 5000)
        : m_minWaitUs(minWaitUs), m_maxWaitUs(maxWaitUs) {}

    // `queued`: the sessions with a request waiting for this stage now. Returns 0 to run now, else how many
    // microseconds more to wait (call again when another request arrives or the time is up).
    int64_t waitUs(std::span<const uint64_t> queued, int64_t nowUs);
    // A pass ran these sessions together in passUs: they form a group from now on.
    void ran(std::span<const uint64_t> sessions, int64_t passUs);
    // The session ended: nobody waits for it any more.
    void ended(uint64_t session);
    size_t sessionsKnown() const { return m_groupOf.size(); }

private:
    int64_t m_minWaitUs, m_maxWaitUs;
    std::unordered_map<uint64_t, uint64_t> m_groupOf;    // session -> the pass it last ran in
    std::unordered_map<uint64_t, int64_t> m_groupPassUs; // pass -> its duration
    uint64_t m_nextGroup = 1;
    int64_t m_waitStartedUs = -1; // when the current wait began; -1 while not waiting
};

} // namespace declai
