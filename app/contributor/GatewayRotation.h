// Which gateway of a network a node talks to. A node may be given several gateways that share one ledger
// (docs/operations.md, "Several gateways"); each connection round it measures the round-trip time to every
// one of them, tries them from the lowest to the highest (unreachable ones last; times are compared in 5 ms
// steps, and equal ones keep the configured order), and a round ends when one welcomes it or all refused.
// Pure bookkeeping, no I/O: NodeAgent probes and connects.
#pragma once

#include <QList>
#include <QUrl>
#include <cstdint>
#include <vector>

namespace declai::node {

class GatewayRotation {
public:
    explicit GatewayRotation(QList<QUrl> gateways = {});

    const QList<QUrl>& gateways() const { return m_gateways; }
    // Starts a round ordered by rttMs (one per gateway, in configured order; a negative value is
    // unreachable). Missing or extra values count as unreachable / are ignored.
    void startRound(const std::vector<int64_t>& rttMs);
    // The gateway to try now (an empty URL when there is none).
    QUrl current() const;
    // Its measured round-trip time in ms, -1 when unknown or unreachable.
    int64_t currentRttMs() const;
    // Moves on to the next gateway of this round; false when every one was tried.
    bool advance();
    // Position in the round (0 = the preferred gateway).
    int position() const { return m_position; }

private:
    QList<QUrl> m_gateways;
    std::vector<int> m_order; // indices into m_gateways, best first
    std::vector<int64_t> m_rttMs;
    int m_position = 0;
};

} // namespace declai::node
