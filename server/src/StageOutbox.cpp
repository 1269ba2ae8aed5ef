#include "declai/server/StageOutbox.h"

#include "declai/network/Channel.h"

#include <QMetaObject>

namespace declai::server {

namespace {
// Room left in a frame for the envelope around a StageBatch and the per-request framing.
constexpr uint64_t kEnvelopeMarginBytes = 4096;
} // namespace

StageOutbox::StageOutbox(NodeLookup lookup, QObject* parent) : QObject(parent), m_lookup(std::move(lookup)) {}

void StageOutbox::send(const std::string& nodeId, wire::StageRequest request) {
    m_waiting[nodeId].push_back(std::move(request));
    if (m_flushPosted)
        return;
    m_flushPosted = true;
    // Behind the current event: every answer of the frame being handled has queued its next request by then.
    QMetaObject::invokeMethod(this, &StageOutbox::flush, Qt::QueuedConnection);
}

void StageOutbox::flush() {
    m_flushPosted = false;
    auto waiting = std::move(m_waiting);
    m_waiting.clear();
    for (auto& [nodeId, requests] : waiting) {
        NodeLink* node = m_lookup(nodeId);
        if (!node || !node->channel || !node->channel->isOpen())
            continue;
        sendTo(*node, requests);
    }
}

void StageOutbox::sendTo(NodeLink& node, std::vector<wire::StageRequest>& requests) {
    if (requests.size() == 1 || !node.takesStageBatches) {
        for (const wire::StageRequest& request : requests)
            node.channel->send(wire::STAGE_REQUEST, request);
        return;
    }
    // As many requests per frame as the node's frame limit allows; one too large to share a frame goes alone.
    const uint64_t limit = node.maxMessageBytes > kEnvelopeMarginBytes
                               ? node.maxMessageBytes - kEnvelopeMarginBytes
                               : node.maxMessageBytes;
    wire::StageBatch batch;
    uint64_t bytes = 0;
    auto sendBatch = [&] {
        if (batch.requests_size() == 1) {
            node.channel->send(wire::STAGE_REQUEST, batch.requests(0));
        } else if (batch.requests_size() > 1) {
            ++m_batchFrames;
            m_requestsInBatches += static_cast<uint64_t>(batch.requests_size());
            node.channel->send(wire::STAGE_BATCH, batch);
        }
        batch.Clear();
        bytes = 0;
    };
    for (wire::StageRequest& request : requests) {
        const uint64_t size = request.ByteSizeLong() + 16; // the field's tag and length
        if (bytes > 0 && limit > 0 && bytes + size > limit)
            sendBatch();
        bytes += size;
        *batch.add_requests() = std::move(request);
    }
    sendBatch();
}

} // namespace declai::server
