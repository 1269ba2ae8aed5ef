#include "GatewayRotation.h"

#include <algorithm>
#include <numeric>

namespace declai::node {
namespace {

// Round-trip times are compared in steps of this size: measurement noise (a loopback or LAN gateway reads
// 0 or 1 ms) must not reorder gateways the operator listed in a deliberate order.
constexpr int64_t kRttStepMs = 5;

} // namespace

GatewayRotation::GatewayRotation(QList<QUrl> gateways) : m_gateways(std::move(gateways)) {
    startRound({});
}

void GatewayRotation::startRound(const std::vector<int64_t>& rttMs) {
    const int count = static_cast<int>(m_gateways.size());
    m_rttMs.assign(count, -1);
    for (int i = 0; i < count && i < static_cast<int>(rttMs.size()); ++i)
        m_rttMs[i] = rttMs[i] < 0 ? -1 : rttMs[i];
    m_order.resize(count);
    std::iota(m_order.begin(), m_order.end(), 0);
    // Stable: equal times (within a step, and every unreachable gateway) keep the operator's order.
    std::stable_sort(m_order.begin(), m_order.end(), [this](int a, int b) {
        const bool aUp = m_rttMs[a] >= 0, bUp = m_rttMs[b] >= 0;
        if (aUp != bUp)
            return aUp;
        return aUp && m_rttMs[a] / kRttStepMs < m_rttMs[b] / kRttStepMs;
    });
    m_position = 0;
}

QUrl GatewayRotation::current() const {
    if (m_order.empty())
        return {};
    return m_gateways[m_order[m_position]];
}

int64_t GatewayRotation::currentRttMs() const {
    return m_order.empty() ? -1 : m_rttMs[m_order[m_position]];
}

bool GatewayRotation::advance() {
    if (m_position + 1 >= static_cast<int>(m_order.size()))
        return false;
    ++m_position;
    return true;
}

} // namespace declai::node
