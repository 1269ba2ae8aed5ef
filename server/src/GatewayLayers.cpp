#include "declai/server/GatewayLayers.h"

#include "declai/gpu/ShardExecutor.h"

#include <QMetaObject>

namespace declai::server {

// Owns the executors and the pool; every member is touched on the compute thread only.
class GatewayLayersWorker : public QObject {
public:
    explicit GatewayLayersWorker(int threads) : m_threads(threads) {}

    Expected<std::vector<float>> forward(const std::string& model,
                                         std::shared_ptr<const ModelWeights> weights, LayerRange layers,
                                         uint64_t session, int64_t startPos, std::vector<float> rows,
                                         int64_t nTokens) {
        if (!m_pool)
            m_pool = std::make_unique<ThreadPool>(m_threads); // made and used on this thread only
        auto it = m_executors.find(model);
        if (it == m_executors.end()) {
            auto created = ShardExecutor::create(std::move(weights), layers, *m_pool);
            if (!created)
                return created.error();
            it = m_executors.emplace(model, std::move(*created)).first;
        }
        if (auto r = it->second->forward(session, startPos, rows, nTokens); !r)
            return r.error();
        return rows;
    }

    void endSession(uint64_t session) {
        for (auto& [model, executor] : m_executors)
            executor->endSession(session);
    }

private:
    int m_threads;
    std::unique_ptr<ThreadPool> m_pool;
    std::map<std::string, std::unique_ptr<ShardExecutor>> m_executors;
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
    QMetaObject::invokeMethod(
        worker,
        [this, worker, jobId, name = model.name(), weights = model.sharedWeights(),
         layers = model.gatewayLayers(), session, startPos, rows = std::move(rows), nTokens]() mutable {
            auto result = std::make_shared<Expected<std::vector<float>>>(worker->forward(
                name, std::move(weights), layers, session, startPos, std::move(rows), nTokens));
            QMetaObject::invokeMethod(
                this, [this, jobId, result] { deliver(jobId, result); }, Qt::QueuedConnection);
        },
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
