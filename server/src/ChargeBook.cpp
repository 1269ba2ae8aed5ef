#include "declai/server/ChargeBook.h"

#include <algorithm>

namespace declai::server {

void ChargeBook::forgetOlderThan(int64_t cutoffMs) {
    std::erase_if(m_charges, [cutoffMs](const SettledCharge& c) { return c.settledMs < cutoffMs; });
}

void ChargeBook::record(SettledCharge charge) {
    if (charge.costMicrocredits <= 0 || charge.nodes.empty())
        return;
    forgetOlderThan(charge.settledMs - m_windowMs);
    m_charges.push_back(std::move(charge));
}

std::vector<SettledCharge> ChargeBook::takeChargesOf(const std::string& nodeId, int64_t nowMs) {
    forgetOlderThan(nowMs - m_windowMs);
    std::vector<SettledCharge> taken;
    auto depends = [&nodeId](const SettledCharge& c) { return c.nodes.count(nodeId) > 0; };
    std::copy_if(m_charges.begin(), m_charges.end(), std::back_inserter(taken), depends);
    std::erase_if(m_charges, depends);
    return taken;
}

} // namespace declai::server
