// The node's compute side: loaded shards, one ShardBackend (CPU executor or a GPU device) per (model, layer
// range) served, KV caches per
// session. Lives on its own QThread so that neither the network nor a GUI ever waits on a matrix product;
// every slot runs on that thread and every signal is emitted from it (connect with queued connections).
#pragma once

#include "declai/gpu/ShardBackend.h"
#include "declai/gpu/ThreadPool.h"
#include "proto/declai.pb.h"

#include <QObject>
#include <map>
#include <memory>
#include <string>
#include <tuple>

namespace declai::node {

struct ShardKey {
    std::string model;
    int64_t begin = 0;
    int64_t end = 0;
    auto operator<=>(const ShardKey&) const = default;
};

class ComputeWorker : public QObject {
    Q_OBJECT

public:
    ComputeWorker(int threads, uint64_t memoryBudgetBytes, int maxSessions, int sessionIdleTimeoutMs,
                  int stageDelayMs, QString testCheat = {}, QString device = QStringLiteral("cpu"),
                  bool prefault = false);
    ~ComputeWorker() override;

public Q_SLOTS:
    // Opens the (sparse) local GGUF and makes layers [begin, end) of `model` servable.
    void loadShard(quint64 assignmentId, const QString& path, const QString& model, const QString& digest,
                   qint64 begin, qint64 end, qint64 downloadedBytes);
    void runStage(const QByteArray& serializedRequest);
    void endSession(quint64 sessionId);
    void sweepIdleSessions();

Q_SIGNALS:
    void shardLoaded(quint64 assignmentId, bool ok, const QString& error, quint32 loadMs,
                     double layerTokensPerS, qint64 downloadedBytes);
    void stageDone(const QByteArray& serializedResponse);
    void sessionsChanged(int activeSessions);

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
    ShardBackend* executorFor(const std::string& model, LayerRange layers, std::string& error);

    std::unique_ptr<ThreadPool> m_pool;
    int m_threads;
    uint64_t m_memoryBudgetBytes;
    int m_maxSessions;
    int m_sessionIdleTimeoutMs;
    int m_stageDelayMs;
    bool m_prefault; // read a loaded shard's weight pages in at once (NodeConfig::prefault)
    QString m_testCheat;
    std::string m_device;     // where shards run: "cpu", "opencl:0", "vulkan:0", ...
    std::string m_lastAnswer; // for the "stale" test cheat
    uint64_t m_stagesRun = 0;
    std::map<std::string, LoadedModel> m_models; // by model name
    std::map<ShardKey, std::unique_ptr<ShardBackend>> m_executors;
    std::map<uint64_t, SessionUse> m_sessions;
};

} // namespace declai::node
