#include "declai/server/NodeJoinLimiter.h"

#include <QDateTime>
#include <QHostAddress>
#include <algorithm>
#include <cmath>

namespace declai::server {
namespace {
constexpr size_t kMaxTrackedAddresses = 100000; // full buckets are forgotten beyond this
constexpr double kMsPerHour = 3600.0 * 1000.0;
} // namespace

NodeJoinLimiter::NodeJoinLimiter(JoinLimitPolicy policy, Clock clock)
    : m_policy(policy), m_clock(std::move(clock)) {
    if (!m_clock)
        m_clock = [] { return QDateTime::currentMSecsSinceEpoch(); };
}

double NodeJoinLimiter::tokensNow(const Bucket& b) const {
    const double elapsedMs = static_cast<double>(std::max<int64_t>(0, m_clock() - b.updatedMs));
    return std::min(m_policy.burst, b.tokens + elapsedMs * m_policy.perHour / kMsPerHour);
}

QString NodeJoinLimiter::addressKey(const QString& peer) {
    // Channel::peerAddress gives "host:port" ("::1:5678" for IPv6): strip the port first.
    QHostAddress address;
    QString host = peer.left(peer.lastIndexOf(QLatin1Char(':')));
    if (host.startsWith(QLatin1Char('[')) && host.endsWith(QLatin1Char(']')))
        host = host.mid(1, host.size() - 2);
    if (!address.setAddress(host) && !address.setAddress(peer))
        return peer; // not an address: count it as given
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4); // also unwraps ::ffff:a.b.c.d
    if (isV4)
        return QHostAddress(v4).toString();
    Q_IPV6ADDR prefix = address.toIPv6Address();
    for (int i = 8; i < 16; ++i)
        prefix[i] = 0;
    return QHostAddress(prefix).toString() + QStringLiteral("/64");
}

bool NodeJoinLimiter::admit(const QString& peer) {
    const QString address = addressKey(peer);
    auto it = m_buckets.find(address);
    if (it == m_buckets.end()) {
        if (m_buckets.size() >= kMaxTrackedAddresses)
            std::erase_if(m_buckets,
                          [this](const auto& entry) { return tokensNow(entry.second) >= m_policy.burst; });
        it = m_buckets.emplace(address, Bucket{m_policy.burst, m_clock()}).first;
    }
    Bucket& b = it->second;
    b.tokens = tokensNow(b);
    b.updatedMs = m_clock();
    if (b.tokens < 1.0)
        return false;
    b.tokens -= 1.0;
    return true;
}

int64_t NodeJoinLimiter::waitMs(const QString& peer) const {
    auto it = m_buckets.find(addressKey(peer));
    if (it == m_buckets.end())
        return 0;
    const double missing = 1.0 - tokensNow(it->second);
    if (missing <= 0)
        return 0;
    if (m_policy.perHour <= 0)
        return -1; // never
    return static_cast<int64_t>(std::ceil(missing * kMsPerHour / m_policy.perHour));
}

} // namespace declai::server
