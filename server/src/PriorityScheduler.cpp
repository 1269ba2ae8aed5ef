#include "declai/server/PriorityScheduler.h"

#include <algorithm>
#include <cmath>

namespace declai::server {

const char* priorityName(Priority p) {
    switch (p) {
    case Priority::Low:
        return "low";
    case Priority::Normal:
        return "normal";
    case Priority::High:
        return "high";
    }
    return "normal";
}

std::optional<Priority> priorityFromName(const std::string& name) {
    if (name == "low" || name == "LOW")
        return Priority::Low;
    if (name == "normal" || name == "NORMAL" || name.empty())
        return Priority::Normal;
    if (name == "high" || name == "HIGH")
        return Priority::High;
    return std::nullopt;
}

PriorityScheduler::PriorityScheduler(SchedulerConfig config) : m_config(config) {}

bool PriorityScheduler::enqueue(QueuedRequest request, int64_t nowMs) {
    if (m_queue.size() >= m_config.maxQueued)
        return false;
    const double credits = std::max<int64_t>(0, request.balance) / 1000.0;
    const double weight = 1.0 + std::log2(1.0 + credits);
    // Start no earlier than "now" in virtual time, so an idle account cannot bank unlimited priority.
    const double start = std::max(m_virtualTime, m_lastTag[request.account]);
    const double tag = start + std::max(request.cost, 1e-9) / weight;
    m_lastTag[request.account] = tag;
    request.enqueuedMs = nowMs;
    m_queue.push_back(Entry{request, request.priority, tag, nowMs});
    return true;
}

bool PriorityScheduler::remove(uint64_t id) {
    const auto it =
        std::find_if(m_queue.begin(), m_queue.end(), [&](const Entry& e) { return e.request.id == id; });
    if (it == m_queue.end())
        return false;
    m_queue.erase(it);
    return true;
}

void PriorityScheduler::age(int64_t nowMs) {
    for (Entry& e : m_queue) {
        if (e.effective != Priority::High && nowMs - e.lastPromotionMs >= m_config.agingMs) {
            e.effective = static_cast<Priority>(static_cast<int>(e.effective) + 1);
            e.lastPromotionMs = nowMs;
        }
    }
}

std::optional<size_t> PriorityScheduler::pick(int active) const {
    const int reserve = static_cast<int>(std::ceil(m_config.capacity * m_config.highReserveShare));
    std::optional<size_t> best;
    for (size_t i = 0; i < m_queue.size(); ++i) {
        const Entry& e = m_queue[i];
        const int limit = e.effective == Priority::High ? m_config.capacity : m_config.capacity - reserve;
        if (active >= limit)
            continue;
        if (!best) {
            best = i;
            continue;
        }
        const Entry& b = m_queue[*best];
        if (e.effective != b.effective) {
            if (e.effective > b.effective)
                best = i;
        } else if (e.tag < b.tag || (e.tag == b.tag && e.request.id < b.request.id)) {
            best = i;
        }
    }
    return best;
}

std::optional<QueuedRequest> PriorityScheduler::next(int active, int64_t nowMs) {
    age(nowMs);
    const auto index = pick(active);
    if (!index)
        return std::nullopt;
    Entry chosen = m_queue[*index];
    m_queue.erase(m_queue.begin() + static_cast<std::ptrdiff_t>(*index));
    m_virtualTime =
        std::max(m_virtualTime, chosen.tag - chosen.request.cost); // advance virtual time to its start
    return chosen.request;
}

size_t PriorityScheduler::size() const {
    return m_queue.size();
}

size_t PriorityScheduler::size(Priority p) const {
    return static_cast<size_t>(
        std::count_if(m_queue.begin(), m_queue.end(), [&](const Entry& e) { return e.effective == p; }));
}

std::optional<size_t> PriorityScheduler::position(uint64_t id, int64_t nowMs) {
    age(nowMs);
    std::vector<const Entry*> order;
    for (const Entry& e : m_queue)
        order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
        if (a->effective != b->effective)
            return a->effective > b->effective;
        return a->tag < b->tag || (a->tag == b->tag && a->request.id < b->request.id);
    });
    for (size_t i = 0; i < order.size(); ++i)
        if (order[i]->request.id == id)
            return i;
    return std::nullopt;
}

} // namespace declai::server
