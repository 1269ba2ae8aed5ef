#include "declai/server/StageDispatcher.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace declai::server {

StageDispatcher::StageDispatcher(int maxInFlightPerNode, int batchSlotsPerNode)
    : m_maxInFlight(std::max(1, maxInFlightPerNode)), m_batchSlots(std::max(1, batchSlotsPerNode)) {}

void StageDispatcher::submit(const std::string& nodeId, const std::string& account, uint64_t sessionId,
                             Send send) {
    NodeQueue& queue = m_nodes[nodeId];
    // One request per session and node: a new one replaces whatever the session still had there.
    queue.inFlight.erase(sessionId);
    dropWaiting(queue, sessionId);
    auto& waiting = queue.byAccount[account];
    if (waiting.empty())
        queue.rotation.push_back(account);
    waiting.push_back(Waiting{sessionId, std::move(send)});
    pump(nodeId);
}

void StageDispatcher::settle(const std::string& nodeId, uint64_t sessionId) {
    const auto it = m_nodes.find(nodeId);
    if (it == m_nodes.end())
        return;
    const bool freed = it->second.inFlight.erase(sessionId) > 0;
    const bool dropped = dropWaiting(it->second, sessionId);
    if (freed || dropped)
        pump(nodeId);
}

void StageDispatcher::forgetSession(uint64_t sessionId) {
    std::vector<std::string> touched;
    for (auto& [nodeId, queue] : m_nodes) {
        const bool freed = queue.inFlight.erase(sessionId) > 0;
        if (dropWaiting(queue, sessionId) || freed)
            touched.push_back(nodeId);
    }
    for (const std::string& nodeId : touched)
        pump(nodeId);
}

void StageDispatcher::forgetNode(const std::string& nodeId) {
    m_nodes.erase(nodeId);
}

int StageDispatcher::inFlight(const std::string& nodeId) const {
    const auto it = m_nodes.find(nodeId);
    return it == m_nodes.end() ? 0 : static_cast<int>(it->second.inFlight.size());
}

size_t StageDispatcher::waiting(const std::string& nodeId) const {
    const auto it = m_nodes.find(nodeId);
    if (it == m_nodes.end())
        return 0;
    size_t count = 0;
    for (const auto& [account, requests] : it->second.byAccount)
        count += requests.size();
    return count;
}

int StageDispatcher::inFlightTotal() const {
    int total = 0;
    for (const auto& [nodeId, queue] : m_nodes)
        total += static_cast<int>(queue.inFlight.size());
    return total;
}

size_t StageDispatcher::waitingTotal() const {
    size_t total = 0;
    for (const auto& [nodeId, queue] : m_nodes)
        total += waiting(nodeId);
    return total;
}

bool StageDispatcher::dropWaiting(NodeQueue& queue, uint64_t sessionId) {
    for (auto it = queue.byAccount.begin(); it != queue.byAccount.end(); ++it) {
        auto& requests = it->second;
        const auto found = std::find_if(requests.begin(), requests.end(),
                                        [&](const Waiting& w) { return w.sessionId == sessionId; });
        if (found == requests.end())
            continue;
        requests.erase(found);
        if (requests.empty()) {
            queue.rotation.erase(std::remove(queue.rotation.begin(), queue.rotation.end(), it->first),
                                 queue.rotation.end());
            queue.byAccount.erase(it);
        }
        return true; // a session waits at most once per node
    }
    return false;
}

std::pair<int, int> StageDispatcher::capOf(const NodeQueue& queue) const {
    // Shared by several accounts: one request at a time (or, on batching nodes, an equal share of a
    // batch each), so nobody's next step waits behind another account's requests that the node has
    // queued but not started.
    // An account counts while it has work here, and for kContentionWindowSends sends after its last one:
    // a session's next step comes back only after the rest of the pipeline has run it.
    std::set<std::string> accounts;
    for (const auto& [session, account] : queue.inFlight)
        accounts.insert(account);
    for (const auto& [account, requests] : queue.byAccount)
        accounts.insert(account);
    for (const auto& [account, sentAt] : queue.lastServed)
        if (sentAt + kContentionWindowSends >= queue.sends)
            accounts.insert(account);
    if (accounts.size() <= 1) {
        const int cap = std::max(m_maxInFlight, m_batchSlots);
        return {cap, cap};
    }
    // Batching nodes: each account one request in the node's next pass. (An equal share of the batch per
    // account let one account's prefill chunks lengthen every pass the others' decode steps wait for.)
    return {m_batchSlots, 1};
}

void StageDispatcher::pump(const std::string& nodeId) {
    if (m_pumping > 0) {
        m_pumpAgain.insert(nodeId); // the outer loop sends it once the current send has returned
        return;
    }
    ++m_pumping;
    m_pumpAgain.insert(nodeId);
    while (!m_pumpAgain.empty()) {
        const std::string current = *m_pumpAgain.begin();
        m_pumpAgain.erase(m_pumpAgain.begin());
        for (;;) {
            // Looked up afresh each time: a send may settle, forget or add anything.
            const auto it = m_nodes.find(current);
            if (it == m_nodes.end())
                break;
            NodeQueue& queue = it->second;
            const auto [nodeCap, accountCap] = capOf(queue);
            if (queue.rotation.empty() || static_cast<int>(queue.inFlight.size()) >= nodeCap)
                break;
            // The account with the fewest requests at the node; ties: the one served longest ago.
            auto chosen = queue.rotation.begin();
            std::pair<size_t, uint64_t> best{SIZE_MAX, UINT64_MAX};
            for (auto candidate = queue.rotation.begin(); candidate != queue.rotation.end(); ++candidate) {
                const size_t held = static_cast<size_t>(
                    std::count_if(queue.inFlight.begin(), queue.inFlight.end(),
                                  [&](const auto& entry) { return entry.second == *candidate; }));
                const auto served = queue.lastServed.find(*candidate);
                const std::pair<size_t, uint64_t> key{held,
                                                      served == queue.lastServed.end() ? 0 : served->second};
                if (key < best) {
                    best = key;
                    chosen = candidate;
                }
            }
            if (static_cast<int>(best.first) >= accountCap)
                break; // every waiting account holds its share already
            const std::string account = *chosen;
            queue.rotation.erase(chosen);
            auto& requests = queue.byAccount[account];
            Waiting next = std::move(requests.front());
            requests.pop_front();
            if (requests.empty())
                queue.byAccount.erase(account);
            else
                queue.rotation.push_back(account);
            queue.inFlight[next.sessionId] = account;
            queue.lastServed[account] = ++queue.sends;
            if (next.send)
                next.send();
        }
    }
    --m_pumping;
}

} // namespace declai::server
