// Which settled requests each node's still-pending earnings came from, so that when verification voids a
// node's work the users who paid for it can be refunded. A charge is remembered for the verification window
// (the time a node's earnings stay pending and can be voided), then forgotten. Threading: main thread only.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace declai::server {

struct SettledCharge {
    std::string user;
    std::string holdId; // identifies the request; refunds use it as their idempotency key
    int64_t costMicrocredits = 0;
    int64_t settledMs = 0;
    std::set<std::string> nodes; // every node whose work the output depended on
};

class ChargeBook {
public:
    explicit ChargeBook(int64_t windowMs) : m_windowMs(windowMs) {}

    void record(SettledCharge charge);
    // Removes and returns every remembered charge that depended on `nodeId`'s work (each charge once, even
    // if several of its nodes are voided later).
    std::vector<SettledCharge> takeChargesOf(const std::string& nodeId, int64_t nowMs);
    size_t size() const { return m_charges.size(); }

private:
    void forgetOlderThan(int64_t cutoffMs);

    int64_t m_windowMs;
    std::vector<SettledCharge> m_charges; // in settlement order
};

} // namespace declai::server
