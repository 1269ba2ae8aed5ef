// How fast new node identities may join from one address. Keys are free to make, so without this one
// machine could bring a fresh identity (and a fresh probation) every second. A token bucket per peer
// address: `burst` new identities at once, then one more every hour / perHour. Returning identities (a key
// the gateway already has a record of) are not counted. Threading: main thread only; injected clock.
#pragma once

#include <QString>
#include <cstdint>
#include <functional>
#include <map>

namespace declai::server {

struct JoinLimitPolicy {
    double burst = 10;   // new identities one address may bring at once
    double perHour = 10; // then this many per hour; 0 with burst 0 = no new identities
};

class NodeJoinLimiter {
public:
    using Clock = std::function<int64_t()>;
    explicit NodeJoinLimiter(JoinLimitPolicy policy, Clock clock = {});

    // The bucket key of a peer ("1.2.3.4:5678", "[::1]:5678" or a bare address): the IPv4 address, or the
    // /64 prefix of an IPv6 one (one subscriber usually holds a whole /64).
    static QString addressKey(const QString& peer);
    // Takes one join from the bucket of `peer`'s address; false (nothing taken) when the address is over its
    // rate.
    bool admit(const QString& peer);
    // Milliseconds until `peer`'s address may bring its next new identity (0 = now).
    int64_t waitMs(const QString& peer) const;
    const JoinLimitPolicy& policy() const { return m_policy; }

private:
    struct Bucket {
        double tokens = 0;
        int64_t updatedMs = 0;
    };
    double tokensNow(const Bucket& b) const;

    JoinLimitPolicy m_policy;
    Clock m_clock;
    std::map<QString, Bucket> m_buckets;
};

} // namespace declai::server
