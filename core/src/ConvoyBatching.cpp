#include "declai/core/ConvoyBatching.h"

#include <algorithm>
#include <unordered_set>

namespace declai {

int64_t ConvoyBatching::waitUs(std::span<const uint64_t> queued, int64_t nowUs) {
    if (queued.empty()) {
        m_waitStartedUs = -1;
        return 0;
    }
    const std::unordered_set<uint64_t> here(queued.begin(), queued.end());
    std::unordered_set<uint64_t> groups;
    for (uint64_t s : queued)
        if (auto it = m_groupOf.find(s); it != m_groupOf.end())
            groups.insert(it->second);
    int64_t budgetUs = -1;
    for (const auto& [session, group] : m_groupOf) {
        if (!groups.count(group) || here.count(session))
            continue;
        // A companion of a waiting session has not arrived yet.
        const auto pass = m_groupPassUs.find(group);
        const int64_t passUs = pass == m_groupPassUs.end() ? 0 : pass->second;
        budgetUs = std::max(budgetUs, std::clamp(passUs / 4, m_minWaitUs, m_maxWaitUs));
    }
    if (budgetUs < 0) {
        m_waitStartedUs = -1;
        return 0;
    }
    if (m_waitStartedUs < 0)
        m_waitStartedUs = nowUs;
    const int64_t remaining = m_waitStartedUs + budgetUs - nowUs;
    if (remaining <= 0) {
        m_waitStartedUs = -1;
        return 0;
    }
    return remaining;
}

void ConvoyBatching::ran(std::span<const uint64_t> sessions, int64_t passUs) {
    m_waitStartedUs = -1;
    const uint64_t group = m_nextGroup++;
    for (uint64_t s : sessions)
        m_groupOf[s] = group;
    m_groupPassUs[group] = passUs;
    // Forget passes no session belongs to any more (bounded by the live sessions).
    if (m_groupPassUs.size() > 2 * m_groupOf.size() + 8) {
        std::unordered_set<uint64_t> live;
        for (const auto& [session, g] : m_groupOf)
            live.insert(g);
        std::erase_if(m_groupPassUs, [&](const auto& entry) { return !live.count(entry.first); });
    }
}

void ConvoyBatching::ended(uint64_t session) {
    m_groupOf.erase(session);
}

} // namespace declai
