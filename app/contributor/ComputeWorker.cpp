#include "ComputeWorker.h"

#include "declai/core/HiddenStates.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QThread>
#include <algorithm>

namespace declai::node {

ComputeWorker::ComputeWorker(WorkerLimits limits, std::shared_ptr<ComputeHooks> hooks)
    : m_limits(std::move(limits)), m_hooks(std::move(hooks)), m_device(m_limits.device.toStdString()) {}

ComputeWorker::~ComputeWorker() {
    m_executors.clear(); // they use the pool
}

ThreadPool& ComputeWorker::pool() {
    if (!m_pool)
        m_pool = std::make_unique<ThreadPool>(m_limits.threads); // created on this thread, used only here
    return *m_pool;
}

void ComputeWorker::setLimits(const WorkerLimits& limits) {
    const bool rebuild = limits.threads != m_limits.threads || limits.device != m_limits.device;
    m_limits.memoryBudgetBytes = limits.memoryBudgetBytes;
    m_limits.maxSessions = limits.maxSessions;
    m_limits.sessionIdleTimeoutMs = limits.sessionIdleTimeoutMs;
    m_limits.prefault = limits.prefault;
    if (rebuild)
        m_pendingLimits = limits;
    else
        m_pendingLimits.reset();
    applyPendingLimits();
}

void ComputeWorker::applyPendingLimits() {
    if (!m_pendingLimits || !m_sessions.empty())
        return;
    m_limits.threads = m_pendingLimits->threads;
    m_limits.device = m_pendingLimits->device;
    m_pendingLimits.reset();
    // Executors are rebuilt from the loaded weights on the next stage (executorFor).
    m_executors.clear();
    m_pool.reset();
    m_device = m_limits.device.toStdString();
    Q_EMIT limitsApplied(pool().threadCount(), m_limits.device);
}

void ComputeWorker::loadShard(quint64 assignmentId, const QString& path, const QString& model,
                              const QString& digest, qint64 begin, qint64 end, qint64 downloadedBytes) {
    QElapsedTimer clock;
    clock.start();
    const std::string name = model.toStdString();
    LoadedModel& loaded = m_models[name];
    // Always map the file afresh: the norm vectors of newly downloaded layers are read at load time, and
    // an earlier load saw holes where they now are. Existing executors keep the weights they were built on.
    auto weights = ModelWeights::load(path.toStdString());
    if (!weights) {
        Q_EMIT shardLoaded(assignmentId, false, QString::fromStdString(weights.error().message), 0, 0,
                           downloadedBytes);
        return;
    }
    if (loaded.digest != digest.toStdString()) {
        loaded.ranges.clear();
        // Executors of an older version of this model: drop them.
        std::erase_if(m_executors, [&](const auto& e) { return e.first.model == name; });
    }
    loaded.weights = *weights;
    loaded.digest = digest.toStdString();
    const LayerRange layers{begin, end};
    if (layers.begin < 0 || layers.end > loaded.weights->config().layerCount || layers.begin >= layers.end) {
        Q_EMIT shardLoaded(assignmentId, false,
                           QStringLiteral("layer range %1-%2 is outside the model").arg(begin).arg(end), 0, 0,
                           downloadedBytes);
        return;
    }
    loaded.ranges.push_back(layers);
    if (m_limits.prefault)
        loaded.weights->prefault(layers, false);
    // Benchmark one decode step through one layer: the figure placement weighs nodes by.
    double layerTokensPerS = 0;
    std::string error;
    if (ShardBackend* executor = executorFor(name, LayerRange{begin, begin + 1}, error)) {
        std::vector<float> hidden(static_cast<size_t>(executor->hiddenSize()), 0.01f);
        QElapsedTimer bench;
        bench.start();
        const SessionId probe = ~SessionId(0);
        int steps = 0;
        while (steps < 64 && (steps < 4 || bench.nsecsElapsed() < 50'000'000)) {
            if (!executor->forward(probe, steps, hidden, 1))
                break;
            ++steps;
        }
        executor->endSession(probe);
        if (steps > 0)
            layerTokensPerS = steps / (static_cast<double>(bench.nsecsElapsed()) / 1e9);
    }
    Q_EMIT shardLoaded(assignmentId, true, QString(), static_cast<quint32>(clock.elapsed()), layerTokensPerS,
                       downloadedBytes);
}

ShardBackend* ComputeWorker::executorFor(const std::string& model, LayerRange layers, std::string& error) {
    auto it = m_models.find(model);
    if (it == m_models.end() || !it->second.weights) {
        error = "model '" + model + "' is not loaded on this node";
        return nullptr;
    }
    bool held = false;
    for (const LayerRange& r : it->second.ranges)
        held = held || (r.begin <= layers.begin && r.end >= layers.end);
    if (!held) {
        error = "layers " + std::to_string(layers.begin) + "-" + std::to_string(layers.end) + " of '" +
                model + "' are not held by this node";
        return nullptr;
    }
    const ShardKey key{model, layers.begin, layers.end};
    auto e = m_executors.find(key);
    if (e != m_executors.end())
        return e->second.get();
    auto created = makeShardBackend(it->second.weights, layers, m_device, pool());
    if (!created) {
        error = created.error().message;
        return nullptr;
    }
    return m_executors.emplace(key, std::move(*created)).first->second.get();
}

void ComputeWorker::runStage(const QByteArray& serializedRequest) {
    wire::StageRequest request;
    wire::StageResponse response;
    auto reply = [&](const std::string& error) {
        response.set_error(error);
        Q_EMIT stageDone(QByteArray::fromStdString(response.SerializeAsString()));
    };
    if (!request.ParseFromArray(serializedRequest.constData(), static_cast<int>(serializedRequest.size())))
        return reply("malformed stage request");
    response.set_session_id(request.session_id());
    response.set_step(request.step());
    response.set_layer_begin(request.layer_begin());
    response.set_layer_end(request.layer_end());
    if (m_hooks)
        m_hooks->beforeStage(request);
    std::string error;
    const LayerRange layers{request.layer_begin(), request.layer_end()};
    ShardBackend* executor = executorFor(request.model(), layers, error);
    if (!executor)
        return reply(error);
    if (request.hidden_size() != executor->hiddenSize())
        return reply("hidden size " + std::to_string(request.hidden_size()) + " does not match the model's " +
                     std::to_string(executor->hiddenSize()));
    auto hidden =
        wire::decodeHidden(request.hidden(), request.encoding(), request.n_tokens(), request.hidden_size());
    if (!hidden)
        return reply(hidden.error().message);
    const uint64_t session = request.session_id();
    const bool newSession = !m_sessions.count(session);
    if (newSession && static_cast<int>(m_sessions.size()) >= m_limits.maxSessions)
        return reply("node is busy: " + std::to_string(m_limits.maxSessions) + " sessions already active");
    // The KV cache a session may grow to must fit the memory budget.
    const uint64_t kvBytes =
        executor->kvBytesPerToken() * (uint64_t(request.start_pos()) + request.n_tokens());
    if (m_limits.memoryBudgetBytes > 0 && kvBytes > m_limits.memoryBudgetBytes)
        return reply("the session's KV cache would exceed this node's memory budget");
    if (request.replay())
        executor->endSession(session);
    const auto n = static_cast<int64_t>(request.n_tokens());
    QElapsedTimer clock;
    clock.start();
    ++m_stagesRun;
    // The input is kept only for a hook (tests): copying it costs a stage's hidden states.
    const std::vector<float> input = m_hooks ? *hidden : std::vector<float>();
    if (auto r = executor->forward(session, request.start_pos(), *hidden, n); !r)
        return reply(r.error().message);
    if (m_hooks)
        m_hooks->afterForward(m_stagesRun, input, *hidden);
    SessionUse& use = m_sessions[session];
    use.lastUsedMs = QDateTime::currentMSecsSinceEpoch();
    const ShardKey key{request.model(), layers.begin, layers.end};
    const bool newForShard =
        std::find(use.executors.begin(), use.executors.end(), key) == use.executors.end();
    if (newForShard)
        use.executors.push_back(key);
    const int64_t dim = executor->hiddenSize();
    int64_t rows = n;
    if (request.return_last_rows() > 0 && request.return_last_rows() < n)
        rows = request.return_last_rows();
    const std::span<const float> out(hidden->data() + (n - rows) * dim, static_cast<size_t>(rows * dim));
    response.set_n_tokens(static_cast<uint32_t>(rows));
    response.set_hidden_size(static_cast<uint32_t>(dim));
    response.set_encoding(request.encoding());
    response.set_hidden(wire::encodeHidden(out, request.encoding()));
    response.set_compute_us(static_cast<uint32_t>(clock.nsecsElapsed() / 1000));
    if (m_hooks)
        m_hooks->beforeAnswer(response);
    Q_EMIT stageDone(QByteArray::fromStdString(response.SerializeAsString()));
    Q_EMIT stageServed(QString::fromStdString(request.model()), layers.begin, layers.end,
                       n * (layers.end - layers.begin), newSession, newForShard);
    Q_EMIT sessionsChanged(static_cast<int>(m_sessions.size()));
}

void ComputeWorker::endSession(quint64 sessionId) {
    auto it = m_sessions.find(sessionId);
    if (it == m_sessions.end())
        return;
    for (const ShardKey& key : it->second.executors)
        if (auto e = m_executors.find(key); e != m_executors.end())
            e->second->endSession(sessionId);
    m_sessions.erase(it);
    Q_EMIT sessionsChanged(static_cast<int>(m_sessions.size()));
    applyPendingLimits();
}

void ComputeWorker::sweepIdleSessions() {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    std::vector<uint64_t> idle;
    for (const auto& [id, use] : m_sessions)
        if (now - use.lastUsedMs > m_limits.sessionIdleTimeoutMs)
            idle.push_back(id);
    for (uint64_t id : idle)
        endSession(id);
}

} // namespace declai::node
