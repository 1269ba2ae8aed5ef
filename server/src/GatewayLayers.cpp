#include "declai/server/GatewayLayers.h"

#include "declai/gpu/ShardExecutor.h"

#include <QMetaObject>
#include <algorithm>
#include <deque>

namespace declai::server {

// Owns the executors and the pool; every member is touched on the compute thread only.
class GatewayLayersWorker : public QObject {
public:
    using Finished = std::function<void(Expected<std::vector<float>>)>;
    struct Job {
        std::string model;
        std::shared_ptr<const ModelWeights> weights;
        LayerRange layers;
        uint64_t session = 0;
        int64_t startPos = 0;
        std::vector<float> rows;
        int64_t nTokens = 0;
        Finished finished; // called on this thread
    };

    explicit GatewayLayersWorker(int threads) : m_threads(threads) {}

    // Jobs that arrive while a pass runs wait for the next one and run together (one pass over the
    // weights for all sessions' rows; each session's floats are those of a solo run).
    void enqueue(Job job) {
        m_queue.push_back(std::move(job));
        if (m_posted)
            return;
        m_posted = true;
        QMetaObject::invokeMethod(
            this,
            [this] {
                m_posted = false;
                while (!m_queue.empty())
                    runBatch();
            },
            Qt::QueuedConnection);
    }

    void endSession(uint64_t session) {
        // Jobs of the session queued before the end run first (the cache is freed after them).
        while (
            std::any_of(m_queue.begin(), m_queue.end(), [&](const Job& j) { return j.session == session; }))
            runBatch();
        for (auto& [model, executor] : m_executors)
            executor->endSession(session);
    }

private:
    static constexpr size_t kMaxBatchSessions = 16;
    static constexpr int64_t kMaxBatchRows = 512;

    void runBatch() {
        if (!m_pool)
            m_pool = std::make_unique<ThreadPool>(m_threads); // made and used on this thread only
        const std::string model = m_queue.front().model;
        std::vector<Job> batch;
        std::vector<uint64_t> seen; // sessions with an earlier job queued: theirs keep their order
        int64_t rows = 0;
        for (auto it = m_queue.begin(); it != m_queue.end() && batch.size() < kMaxBatchSessions;) {
            const bool earlier = std::find(seen.begin(), seen.end(), it->session) != seen.end();
            seen.push_back(it->session);
            if (earlier || it->model != model || (!batch.empty() && rows + it->nTokens > kMaxBatchRows)) {
                ++it;
                continue;
            }
            rows += it->nTokens;
            batch.push_back(std::move(*it));
            it = m_queue.erase(it);
        }
        auto it = m_executors.find(model);
        if (it == m_executors.end()) {
            auto created = ShardExecutor::create(batch.front().weights, batch.front().layers, *m_pool);
            if (!created) {
                for (Job& job : batch)
                    job.finished(created.error());
                return;
            }
            it = m_executors.emplace(model, std::move(*created)).first;
        }
        std::vector<BatchPart> parts;
        parts.reserve(batch.size());
        for (Job& job : batch)
            parts.push_back(BatchPart{job.session, job.startPos, job.rows, job.nTokens});
        auto results = it->second->forwardBatch(parts);
        for (size_t i = 0; i < batch.size(); ++i) {
            if (!results[i])
                batch[i].finished(results[i].error());
            else
                batch[i].finished(std::move(batch[i].rows));
        }
    }

    int m_threads;
    std::unique_ptr<ThreadPool> m_pool;
    std::map<std::string, std::unique_ptr<ShardExecutor>> m_executors;
    std::deque<Job> m_queue;
    bool m_posted = false;
};

GatewayLayers::GatewayLayers(int threads, QObject* parent) : QObject(parent) {
    m_worker = new GatewayLayersWorker(threads);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.setObjectName(QStringLiteral("declai-gateway-layers"));
    m_thread.start();
}

GatewayLayers::~GatewayLayers() {
    // Jobs still queued run to completion; their results are posted to this object, which Qt drops with it.
    m_thread.quit();
    m_thread.wait();
}

void GatewayLayers::run(const GatewayModel& model, uint64_t session, int64_t startPos,
                        std::vector<float> rows, int64_t nTokens, Done done) {
    const uint64_t jobId = m_nextJobId++;
    m_pending[jobId] = Pending{session, std::move(done)};
    GatewayLayersWorker* worker = m_worker;
    // Runs on the compute thread; the result comes back to this object's (the main) thread.
    GatewayLayersWorker::Job job{model.name(),
                                 model.sharedWeights(),
                                 model.gatewayLayers(),
                                 session,
                                 startPos,
                                 std::move(rows),
                                 nTokens,
                                 {}};
    job.finished = [this, jobId](Expected<std::vector<float>> rowsOut) {
        auto result = std::make_shared<Expected<std::vector<float>>>(std::move(rowsOut));
        QMetaObject::invokeMethod(
            this, [this, jobId, result] { deliver(jobId, result); }, Qt::QueuedConnection);
    };
    QMetaObject::invokeMethod(
        worker, [worker, job = std::move(job)]() mutable { worker->enqueue(std::move(job)); },
        Qt::QueuedConnection);
}

void GatewayLayers::deliver(uint64_t jobId, std::shared_ptr<Expected<std::vector<float>>> result) {
    auto it = m_pending.find(jobId);
    if (it == m_pending.end())
        return; // its session ended meanwhile
    Done done = std::move(it->second.done);
    m_pending.erase(it);
    done(std::move(*result));
}

void GatewayLayers::endSession(uint64_t session) {
    std::erase_if(m_pending, [session](const auto& entry) { return entry.second.session == session; });
    GatewayLayersWorker* worker = m_worker;
    // Queued behind any job of this session still waiting, so the cache is freed after it.
    QMetaObject::invokeMethod(
        worker, [worker, session] { worker->endSession(session); }, Qt::QueuedConnection);
}

} // namespace declai::server
