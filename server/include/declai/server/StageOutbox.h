// Stage requests on their way to nodes. Requests for the same node that are sent during one turn of the
// gateway's event loop (typically the next step of every session in a pass that just came back) leave in
// one StageBatch frame when the node understands it, so the node starts one pass for all of them instead of
// starting on the first frame and running the rest after it, which would split the group for every later
// step. Nodes without StageBatch (older versions) get one StageRequest frame each, as before.
// Threading: main thread only; the flush runs there, queued behind the current event.
#pragma once

#include "declai/server/Links.h"
#include "proto/declai.pb.h"

#include <QObject>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace declai::server {

class StageOutbox : public QObject {
    Q_OBJECT

public:
    // Finds a connected node by id at flush time (null once it is gone: its requests are dropped, and its
    // sessions learn of the loss from the node's disconnect).
    using NodeLookup = std::function<NodeLink*(const std::string& nodeId)>;
    explicit StageOutbox(NodeLookup lookup, QObject* parent = nullptr);

    void send(const std::string& nodeId, wire::StageRequest request);
    // Sends everything waiting now (also called by the queued flush).
    void flush();
    // Frames sent so far, by kind (for metrics and tests).
    uint64_t batchFramesSent() const { return m_batchFrames; }
    uint64_t requestsInBatches() const { return m_requestsInBatches; }

private:
    void sendTo(NodeLink& node, std::vector<wire::StageRequest>& requests);

    NodeLookup m_lookup;
    std::map<std::string, std::vector<wire::StageRequest>> m_waiting; // by node id, in send order
    bool m_flushPosted = false;
    uint64_t m_batchFrames = 0;
    uint64_t m_requestsInBatches = 0;
};

} // namespace declai::server
