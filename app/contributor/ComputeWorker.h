// The node's compute side: loaded shards, one ShardBackend (CPU executor or a GPU device) per (model, layer
// range) served, KV caches per
// session. Lives on its own QThread so that neither the network nor a GUI ever waits on a matrix product;
// every slot runs on that thread and every signal is emitted from it (connect with queued connections).
#pragma once

#include "ComputeHooks.h"
#include "declai/core/ConvoyBatching.h"
#include "declai/gpu/ShardBackend.h"
#include "declai/gpu/ThreadPool.h"
#include "proto/declai.pb.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

namespace declai::node {

struct ShardKey {
    std::string model;
    int64_t begin = 0;
    int64_t end = 0;
    auto operator<=>(const ShardKey&) const = default;
};

// What the worker may use; changeable at run time (setLimits).
struct WorkerLimits {
    int threads = 0;                // compute threads; 0 = all cores
    uint64_t memoryBudgetBytes = 0; // 0 = no KV cache check
    int maxSessions = 16;
    // Batched stages: requests of different sessions for the same shard that wait while the node computes
    // run together as one pass (at most this many sessions and rows; a first request larger than the row
    // budget still runs, alone). Requests beyond maxQueuedStages are refused ("node is busy").
    int maxBatchSessions = 16;
    int maxBatchTokens = 512;
    int maxQueuedStages = 64;
    int sessionIdleTimeoutMs = 300000;
    QString device = QStringLiteral("cpu");
    bool prefault = false;
};

class ComputeWorker : public QObject {
    Q_OBJECT

public:
    // hooks: test-only behaviour (ComputeHooks.h); null in shipped binaries.
    explicit ComputeWorker(WorkerLimits limits, std::shared_ptr<ComputeHooks> hooks = nullptr);
    ~ComputeWorker() override;

public Q_SLOTS:
    // Memory and session limits apply at once; a new thread count or device applies when no session is
    // active (executors hold the sessions' KV caches): at once when idle, else after the last session ends.
    void setLimits(const declai::node::WorkerLimits& limits);
    // Opens the (sparse) local GGUF and makes layers [begin, end) of `model` servable.
    void loadShard(quint64 assignmentId, const QString& path, const QString& model, const QString& digest,
                   qint64 begin, qint64 end, qint64 downloadedBytes);
    // Queues the request; it runs in the next batch (after every request already waiting has been queued:
    // the batch is posted behind them on this thread's event queue).
    void runStage(const QByteArray& serializedRequest);
    // Requests that came in one frame (StageBatch): all queued before the next pass starts.
    void runStages(const QList<QByteArray>& serializedRequests);
    void endSession(quint64 sessionId);
    void sweepIdleSessions();

Q_SIGNALS:
    void shardLoaded(quint64 assignmentId, bool ok, const QString& error, quint32 loadMs,
                     double layerTokensPerS, qint64 downloadedBytes);
    void stageDone(const QByteArray& serializedResponse);
    // The answers of one pass (two or more), to be sent together.
    void stagesDone(const QList<QByteArray>& serializedResponses);
    void sessionsChanged(int activeSessions);
    // After each successful stage: layer-tokens computed (tokens x layers), and whether the session is new
    // to this node / to this shard (for the "sessions served" counters).
    void stageServed(const QString& model, qint64 layerBegin, qint64 layerEnd, qint64 layerTokens,
                     bool newSession, bool newSessionForShard);
    // The thread count and device in use changed (after setLimits).
    void limitsApplied(int threads, const QString& device);
    // After each batch: its sessions and rows, and the requests still queued.
    void batchRun(int sessions, int rows, int queued);

private:
    struct LoadedModel {
        std::shared_ptr<const ModelWeights> weights;
        std::string digest;
        std::vector<LayerRange> ranges; // verified and loaded
    };
    struct SessionUse {
        std::vector<ShardKey> executors;
        qint64 lastUsedMs = 0;
    };
    struct Queued {
        wire::StageRequest request;
    };
    // Runs the next batch: the queue's first request and the later ones for the same shard of other
    // sessions (each session's first queued request only, so a session's requests keep their order).
    void runBatch();
    void drainQueue(); // every queued request, before anything that may change what they run on
    void scheduleBatch();
    // Microseconds to wait before the next pass for the rest of a group (ConvoyBatching), 0 to run now.
    int64_t convoyWaitUs();
    void armConvoyTimer(int64_t waitUs);
    void reply(const wire::StageRequest& request, const std::string& error);
    void logBatchHistogram(bool force);
    ShardBackend* executorFor(const std::string& model, LayerRange layers, std::string& error);
    // Rebuilds the pool and drops the executors when the threads or device changed and no session is active.
    void applyPendingLimits();
    ThreadPool& pool();

    std::unique_ptr<ThreadPool> m_pool;
    WorkerLimits m_limits;                       // in force
    std::optional<WorkerLimits> m_pendingLimits; // threads/device waiting for the sessions to end
    std::shared_ptr<ComputeHooks> m_hooks;
    std::string m_device; // where shards run: "cpu", "opencl:0", "vulkan:0", ...
    uint64_t m_stagesRun = 0;
    std::map<std::string, LoadedModel> m_models; // by model name
    std::map<ShardKey, std::unique_ptr<ShardBackend>> m_executors;
    std::map<uint64_t, SessionUse> m_sessions;
    std::deque<Queued> m_queue;
    bool m_batchPosted = false;
    std::map<ShardKey, ConvoyBatching> m_convoys; // per shard: which sessions ran together
    bool m_convoyTimerArmed = false;
    QElapsedTimer m_clock;
    std::map<int, uint64_t> m_batchHistogram; // sessions per batch -> batches
    uint64_t m_batchesLogged = 0, m_batches = 0;
    qint64 m_lastHistogramLogMs = 0;
    bool m_histogramLogPending = false;
};

} // namespace declai::node

Q_DECLARE_METATYPE(declai::node::WorkerLimits)
