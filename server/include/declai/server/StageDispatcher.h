// Fair sharing of each node between accounts. A node computes its stage requests one after another, in
// the order they arrive; without this, an account that keeps many sessions running (a script pipelining
// submits) owns most of every node's queue and an honest researcher's next token waits behind all of
// them. Here the gateway keeps at most maxInFlightPerNode requests outstanding at a node that serves one
// account (2: the node always has the next one at hand, so a round trip never idles it) and one while
// several accounts want it, or wanted it within the last few sends (so nobody waits behind a request
// the node holds but has not started). When
// a slot frees it sends the waiting request of the account with the fewest requests at that node, ties
// to the one served longest ago: with two accounts active each gets half of the node, whatever the number of
// sessions either runs. Sessions of one account keep their arrival order.
// Nodes run the requests they hold for different sessions together, as one batch (ComputeWorker): with
// batchSlotsPerNode > 1 a node shared by several accounts holds up to that many requests, one per account,
// so that many accounts' steps run in one pass and nobody's step waits behind a backlog of another's;
// alone, an account may hold max(maxInFlightPerNode, batchSlotsPerNode). batchSlotsPerNode = 1 is the
// unbatched rule above.
// Prefill chunks cost more than decode steps; the rotation counts requests, not rows (a bounded
// unfairness: prompt chunks are capped in size).
// Pure bookkeeping; the sends are callbacks. Threading: the gateway's main thread only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace declai::server {

class StageDispatcher {
public:
    using Send = std::function<void()>;

    explicit StageDispatcher(int maxInFlightPerNode = 2, int batchSlotsPerNode = 1);

    // Runs `send` now when the node has a free slot; otherwise queues it behind the node's slot holders
    // and the other accounts' waiting requests. A session has at most one request per node at a time.
    void submit(const std::string& nodeId, const std::string& account, uint64_t sessionId, Send send);
    // The session's request at this node ended (answered, failed, timed out, or never sent): frees its
    // slot or drops it from the queue, then sends what may go now.
    void settle(const std::string& nodeId, uint64_t sessionId);
    // The session ended: everything it had queued or in flight anywhere is forgotten.
    void forgetSession(uint64_t sessionId);
    // The node left: its queue is dropped (each session fails over on its own through settle()).
    void forgetNode(const std::string& nodeId);

    int inFlight(const std::string& nodeId) const;
    size_t waiting(const std::string& nodeId) const;
    int maxInFlightPerNode() const { return std::max(m_maxInFlight, m_batchSlots); }
    int batchSlotsPerNode() const { return m_batchSlots; }
    // Over all nodes: requests held by nodes, and requests waiting here for a slot (metrics).
    int inFlightTotal() const;
    size_t waitingTotal() const;

private:
    struct Waiting {
        uint64_t sessionId = 0;
        Send send;
    };
    struct NodeQueue {
        std::map<uint64_t, std::string> inFlight;             // session -> account, held by the node
        std::map<std::string, std::deque<Waiting>> byAccount; // waiting requests, per account, FIFO
        std::deque<std::string> rotation;           // accounts with waiting requests, in arrival order
        std::map<std::string, uint64_t> lastServed; // account -> `sends` when it last got a slot
        uint64_t sends = 0;
    };
    void pump(const std::string& nodeId);
    // The node's cap on requests held, and the most one account may hold (equal shares when shared).
    std::pair<int, int> capOf(const NodeQueue& queue) const;
    bool dropWaiting(NodeQueue& queue, uint64_t sessionId);

    // How long (in sends at the node) an account that just got a slot still counts as wanting the node.
    // Covers pipelines up to this many stages.
    static constexpr uint64_t kContentionWindowSends = 16;
    int m_maxInFlight;
    int m_batchSlots;
    std::map<std::string, NodeQueue> m_nodes;
    int m_pumping = 0; // a send may settle synchronously (a closed channel): pump() does not recurse
    std::set<std::string> m_pumpAgain;
};

} // namespace declai::server
