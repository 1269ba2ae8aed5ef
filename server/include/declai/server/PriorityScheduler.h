// Which waiting request runs next when the swarm is full. Policy (docs/ledger.md, "Priority"):
//  - three classes, HIGH > NORMAL > LOW, served in that order;
//  - a reserve share of the session slots is kept free for HIGH: NORMAL and LOW start only while the
//    active sessions leave the reserve untouched;
//  - within a class, credit-weighted fair queuing: each account has a virtual finish tag that advances by
//    cost / weight per request, weight = 1 + log2(1 + balance / 1000 credits); the smallest tag runs first,
//    so richer accounts get a larger share but every account keeps moving;
//  - starvation protection: a request that waited longer than agingMs moves up one class (LOW -> NORMAL ->
//    HIGH), once per agingMs.
// Pure logic on the main thread; time is passed in so tests are deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace declai::server {

enum class Priority { Low = 0, Normal = 1, High = 2 };
const char* priorityName(Priority p);
std::optional<Priority> priorityFromName(const std::string& name);

struct QueuedRequest {
    uint64_t id = 0;
    std::string account;
    Priority priority = Priority::Normal;
    int64_t balance = 0; // the account's available credit when it asked (weights the share)
    double cost = 1.0;   // expected work (e.g. prompt + max tokens)
    int64_t enqueuedMs = 0;
};

struct SchedulerConfig {
    int capacity = 8; // concurrent sessions the swarm can run
    double highReserveShare = 0.25;
    int64_t agingMs = 30000;
    size_t maxQueued = 10000; // beyond this, new requests are refused (overload)
};

class PriorityScheduler {
public:
    explicit PriorityScheduler(SchedulerConfig config);

    // False when the queue is full.
    bool enqueue(QueuedRequest request, int64_t nowMs);
    bool remove(uint64_t id);
    // The next request allowed to start given `active` running sessions, removed from the queue.
    std::optional<QueuedRequest> next(int active, int64_t nowMs);
    size_t size() const;
    size_t size(Priority p) const;
    void setCapacity(int capacity) { m_config.capacity = capacity; }
    const SchedulerConfig& config() const { return m_config; }
    // 0-based position of a request in the order next() would pick (for "queued, position N" messages).
    std::optional<size_t> position(uint64_t id, int64_t nowMs);

private:
    struct Entry {
        QueuedRequest request;
        Priority effective;
        double tag = 0;
        int64_t lastPromotionMs = 0;
    };
    void age(int64_t nowMs);
    std::optional<size_t> pick(int active) const;

    SchedulerConfig m_config;
    std::vector<Entry> m_queue;
    std::map<std::string, double> m_lastTag; // per account: virtual finish tag
    double m_virtualTime = 0;
};

} // namespace declai::server
