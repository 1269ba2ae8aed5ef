// Runs the layers the gateway keeps for itself ([0, k) of each model, GatewayModel::gatewayLayers) so that
// no volunteer ever receives embedding rows. One CPU ShardExecutor per model with a KV cache per session
// lives on this object's own compute thread with its own thread pool: a long prompt's prefill never blocks
// the event loop that relays tokens. This part of a session never fails over (it is the gateway).
// Threading: create, call and destroy on the main thread; `done` callbacks run there too, queued, never
// inside run(). endSession() frees a session's cache and drops its pending callback.
#pragma once

#include "declai/core/Error.h"
#include "declai/server/GatewayModel.h"

#include <QObject>
#include <QThread>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace declai::server {

class GatewayLayersWorker;

class GatewayLayers : public QObject {
    Q_OBJECT

public:
    using Done = std::function<void(Expected<std::vector<float>> rows)>;

    explicit GatewayLayers(int threads, QObject* parent = nullptr);
    ~GatewayLayers() override;

    // Runs `model`'s gateway layers on nTokens rows at positions startPos.. of `session` (startPos must
    // equal what the session has run so far, as ShardExecutor::forward requires).
    void run(const GatewayModel& model, uint64_t session, int64_t startPos, std::vector<float> rows,
             int64_t nTokens, Done done);
    // The session ended: free its caches (after any job of it still running) and forget its callback.
    void endSession(uint64_t session);
    size_t pendingJobs() const { return m_pending.size(); }

private:
    struct Pending {
        uint64_t session = 0;
        Done done;
    };
    void deliver(uint64_t jobId, std::shared_ptr<Expected<std::vector<float>>> result);

    QThread m_thread;
    GatewayLayersWorker* m_worker = nullptr; // lives on m_thread, deleted when it finishes
    std::map<uint64_t, Pending> m_pending;   // job id -> its session and callback
    uint64_t m_nextJobId = 1;
};

} // namespace declai::server
