#include "ComputeWorker.h"

#include "declai/core/HiddenStates.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QThread>
#include <QTimer>
#include <algorithm>

namespace declai::node {

namespace {
constexpr qint64 kHistogramLogIntervalMs = 60000;
} // namespace

ComputeWorker::ComputeWorker(WorkerLimits limits, std::shared_ptr<ComputeHooks> hooks)
    : m_limits(std::move(limits)), m_hooks(std::move(hooks)), m_device(m_limits.device.toStdString()) {
    m_clock.start();
}

ComputeWorker::~ComputeWorker() {
    m_executors.clear(); // they use the pool
}

ThreadPool& ComputeWorker::pool() {
    if (!m_pool)
        m_pool = std::make_unique<ThreadPool>(m_limits.threads); // created on this thread, used only here
    return *m_pool;
}

void ComputeWorker::setLimits(const WorkerLimits& limits) {
    drainQueue(); // queued requests run under the limits they arrived under
    m_limits.maxBatchSessions = limits.maxBatchSessions;
    m_limits.maxBatchTokens = limits.maxBatchTokens;
    m_limits.maxQueuedStages = limits.maxQueuedStages;
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
    drainQueue(); // queued requests run on the weights they were sent for
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
    // The weights this model was held with so far: the layers they hold in huge pages are shared, not copied.
    std::shared_ptr<const ModelWeights> previous =
        loaded.digest == digest.toStdString() ? loaded.weights : nullptr;
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
    // On the CPU the held layers are copied into huge pages (ModelWeights::makeResident: decode streams
    // them every token); the copy reads every page, so no prefault or re-read is needed then.
    bool resident = isCpuDevice(m_device);
    for (const LayerRange& held : loaded.ranges) {
        if (!resident)
            break;
        ResidentWeights copy = ModelWeights::makeResident(loaded.weights, held, false, previous.get());
        loaded.weights = std::move(copy.weights);
        resident = copy.skipped.empty();
    }
    if (!resident) {
        if (downloadedBytes > 0) // just written: read back through readahead (ModelWeights::rereadFromDisk)
            loaded.weights->rereadFromDisk(layers);
        if (m_limits.prefault)
            loaded.weights->prefault(layers, false);
    }
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

void ComputeWorker::reply(const wire::StageRequest& request, const std::string& error) {
    wire::StageResponse response;
    response.set_session_id(request.session_id());
    response.set_step(request.step());
    response.set_layer_begin(request.layer_begin());
    response.set_layer_end(request.layer_end());
    response.set_error(error);
    Q_EMIT stageDone(QByteArray::fromStdString(response.SerializeAsString()));
}

void ComputeWorker::runStages(const QList<QByteArray>& serializedRequests) {
    for (const QByteArray& request : serializedRequests)
        runStage(request); // the pass is posted behind this call, so it sees them all
}

void ComputeWorker::runStage(const QByteArray& serializedRequest) {
    Queued queued;
    if (!queued.request.ParseFromArray(serializedRequest.constData(),
                                       static_cast<int>(serializedRequest.size())))
        return reply(wire::StageRequest(), "malformed stage request");
    // A bounded queue: past it the gateway hears at once that this node is full, instead of the request
    // waiting behind an unbounded backlog (and its memory).
    if (static_cast<int>(m_queue.size()) >= std::max(1, m_limits.maxQueuedStages))
        return reply(queued.request,
                     "node is busy: " + std::to_string(m_queue.size()) + " stage requests already queued");
    m_queue.push_back(std::move(queued));
    scheduleBatch();
}

void ComputeWorker::scheduleBatch() {
    if (m_batchPosted || m_queue.empty())
        return;
    m_batchPosted = true;
    // Posted behind whatever this thread has been sent meanwhile: requests that arrived while the last
    // batch computed are all queued before this one runs, and join it.
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_batchPosted = false;
            if (const int64_t waitUs = convoyWaitUs(); waitUs > 0)
                return armConvoyTimer(waitUs); // the rest of a group is on its way: run them together
            runBatch();
            if (m_queue.empty() && m_pool)
                m_pool->sleepWorkers(); // the next request is a network round trip away
            scheduleBatch();
        },
        Qt::QueuedConnection);
}

int64_t ComputeWorker::convoyWaitUs() {
    if (m_queue.empty())
        return 0;
    const wire::StageRequest& head = m_queue.front().request;
    const ShardKey key{head.model(), head.layer_begin(), head.layer_end()};
    std::vector<uint64_t> queued;
    for (const Queued& q : m_queue)
        if (ShardKey{q.request.model(), q.request.layer_begin(), q.request.layer_end()} == key)
            queued.push_back(q.request.session_id());
    return m_convoys[key].waitUs(queued, m_clock.nsecsElapsed() / 1000);
}

void ComputeWorker::armConvoyTimer(int64_t waitUs) {
    if (m_convoyTimerArmed)
        return;
    m_convoyTimerArmed = true;
    QTimer::singleShot(static_cast<int>((waitUs + 999) / 1000), Qt::PreciseTimer, this, [this] {
        m_convoyTimerArmed = false;
        scheduleBatch();
    });
}

void ComputeWorker::drainQueue() {
    while (!m_queue.empty())
        runBatch();
}

void ComputeWorker::runBatch() {
    if (m_queue.empty())
        return;
    // Choose: the oldest request, then same-shard requests of other sessions, within the budgets.
    const wire::StageRequest& head = m_queue.front().request;
    const ShardKey key{head.model(), head.layer_begin(), head.layer_end()};
    std::vector<size_t> chosen;
    std::vector<uint64_t> sessionsSeen; // sessions with an earlier request in the queue
    int64_t rows = 0;
    const int maxSessions = std::max(1, m_limits.maxBatchSessions);
    for (size_t i = 0; i < m_queue.size() && static_cast<int>(chosen.size()) < maxSessions; ++i) {
        const wire::StageRequest& r = m_queue[i].request;
        const bool seen =
            std::find(sessionsSeen.begin(), sessionsSeen.end(), r.session_id()) != sessionsSeen.end();
        sessionsSeen.push_back(r.session_id());
        if (seen || ShardKey{r.model(), r.layer_begin(), r.layer_end()} != key)
            continue;
        if (!chosen.empty() && rows + int64_t(r.n_tokens()) > std::max(1, m_limits.maxBatchTokens))
            continue; // a smaller one behind it may still fit
        chosen.push_back(i);
        rows += r.n_tokens();
    }
    std::vector<wire::StageRequest> requests;
    requests.reserve(chosen.size());
    for (size_t i : chosen)
        requests.push_back(std::move(m_queue[i].request));
    for (auto it = chosen.rbegin(); it != chosen.rend(); ++it)
        m_queue.erase(m_queue.begin() + static_cast<std::ptrdiff_t>(*it));

    // Per request: the checks a solo stage had, then its part of the pass.
    struct Member {
        wire::StageRequest* request;
        std::vector<float> hidden;
        std::vector<float> input; // kept only for a hook (tests): a copy costs a stage's hidden states
        bool newSession = false;
    };
    std::vector<Member> members;
    members.reserve(requests.size());
    std::string error;
    const LayerRange layers{key.begin, key.end};
    ShardBackend* executor = nullptr;
    int newSessions = 0;
    for (wire::StageRequest& request : requests) {
        if (m_hooks)
            m_hooks->beforeStage(request);
        executor = executorFor(request.model(), layers, error);
        if (!executor) {
            reply(request, error);
            continue;
        }
        if (request.hidden_size() != executor->hiddenSize()) {
            reply(request, "hidden size " + std::to_string(request.hidden_size()) +
                               " does not match the model's " + std::to_string(executor->hiddenSize()));
            continue;
        }
        auto hidden = wire::decodeHidden(request.hidden(), request.encoding(), request.n_tokens(),
                                         request.hidden_size());
        if (!hidden) {
            reply(request, hidden.error().message);
            continue;
        }
        const uint64_t session = request.session_id();
        const bool newSession = !m_sessions.count(session);
        if (newSession && static_cast<int>(m_sessions.size()) + newSessions >= m_limits.maxSessions) {
            reply(request,
                  "node is busy: " + std::to_string(m_limits.maxSessions) + " sessions already active");
            continue;
        }
        // The KV cache a session may grow to must fit the memory budget.
        const uint64_t kvBytes =
            executor->kvBytesPerToken() * (uint64_t(request.start_pos()) + request.n_tokens());
        if (m_limits.memoryBudgetBytes > 0 && kvBytes > m_limits.memoryBudgetBytes) {
            reply(request, "the session's KV cache would exceed this node's memory budget");
            continue;
        }
        if (request.replay())
            executor->endSession(session);
        newSessions += newSession ? 1 : 0;
        Member member{&request, std::move(*hidden), {}, newSession};
        if (m_hooks)
            member.input = member.hidden;
        members.push_back(std::move(member));
    }
    if (members.empty() || !executor)
        return;

    QElapsedTimer clock;
    clock.start();
    std::vector<BatchPart> parts;
    parts.reserve(members.size());
    int64_t batchRows = 0;
    for (Member& m : members) {
        parts.push_back(BatchPart{m.request->session_id(), m.request->start_pos(), m.hidden,
                                  static_cast<int64_t>(m.request->n_tokens()),
                                  static_cast<int64_t>(m.request->prompt_tokens()),
                                  static_cast<int64_t>(m.request->prompt_chunk_tokens())});
        batchRows += parts.back().nTokens;
    }
    const auto results = executor->forwardBatch(parts);
    // Each session is billed the pass's time in proportion to its rows.
    const auto passUs = static_cast<double>(clock.nsecsElapsed()) / 1000.0;
    std::vector<uint64_t> ranTogether;
    for (const BatchPart& part : parts)
        ranTogether.push_back(part.session);
    m_convoys[key].ran(ranTogether, static_cast<int64_t>(passUs));
    ++m_batches;
    ++m_batchHistogram[static_cast<int>(members.size())];
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const ShardKey shard{key.model, layers.begin, layers.end};
    QList<QByteArray> answers; // sent together: they travel back as one frame
    struct Served {
        int64_t layerTokens = 0;
        bool newSession = false;
        bool newForShard = false;
    };
    std::vector<Served> served; // reported after the answers went out
    for (size_t i = 0; i < members.size(); ++i) {
        Member& m = members[i];
        const wire::StageRequest& request = *m.request;
        if (!results[i]) {
            reply(request, results[i].error().message);
            continue;
        }
        ++m_stagesRun;
        if (m_hooks)
            m_hooks->afterForward(m_stagesRun, m.input, m.hidden);
        const uint64_t session = request.session_id();
        SessionUse& use = m_sessions[session];
        use.lastUsedMs = now;
        const bool newForShard =
            std::find(use.executors.begin(), use.executors.end(), shard) == use.executors.end();
        if (newForShard)
            use.executors.push_back(shard);
        const int64_t n = parts[i].nTokens;
        const int64_t dim = executor->hiddenSize();
        int64_t returned = n;
        if (request.return_last_rows() > 0 && request.return_last_rows() < n)
            returned = request.return_last_rows();
        const std::span<const float> out(m.hidden.data() + (n - returned) * dim,
                                         static_cast<size_t>(returned * dim));
        wire::StageResponse response;
        response.set_session_id(session);
        response.set_step(request.step());
        response.set_layer_begin(request.layer_begin());
        response.set_layer_end(request.layer_end());
        response.set_n_tokens(static_cast<uint32_t>(returned));
        response.set_hidden_size(static_cast<uint32_t>(dim));
        response.set_encoding(request.encoding());
        response.set_hidden(wire::encodeHidden(out, request.encoding()));
        response.set_compute_us(static_cast<uint32_t>(passUs * static_cast<double>(n) /
                                                      static_cast<double>(std::max<int64_t>(1, batchRows))));
        if (m_hooks)
            m_hooks->beforeAnswer(response);
        answers.push_back(QByteArray::fromStdString(response.SerializeAsString()));
        served.push_back(Served{n * (layers.end - layers.begin), m.newSession, newForShard});
    }
    // The answers first: the agent thread handles these signals in order, and a session's next step waits
    // for its answer, not for the bookkeeping below.
    if (answers.size() == 1)
        Q_EMIT stageDone(answers.front());
    else if (!answers.isEmpty())
        Q_EMIT stagesDone(answers);
    const QString modelName = QString::fromStdString(key.model);
    for (const Served& s : served)
        Q_EMIT stageServed(modelName, layers.begin, layers.end, s.layerTokens, s.newSession, s.newForShard);
    Q_EMIT sessionsChanged(static_cast<int>(m_sessions.size()));
    Q_EMIT batchRun(static_cast<int>(members.size()), static_cast<int>(batchRows),
                    static_cast<int>(m_queue.size()));
    logBatchHistogram(false);
    if (m_queue.empty() && !m_histogramLogPending) { // the last passes of a busy spell are logged too
        m_histogramLogPending = true;
        QTimer::singleShot(1500, this, [this] {
            m_histogramLogPending = false;
            logBatchHistogram(true);
        });
    }
}

void ComputeWorker::logBatchHistogram(bool force) {
    // For operators and scripts/bench-throughput: how many sessions each pass served. At most one line a
    // minute while busy (the desktop app shows this log to its volunteer: a line every 2 s flooded it), and
    // one 1.5 s after the queue emptied.
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (m_batches == m_batchesLogged || (!force && now - m_lastHistogramLogMs < kHistogramLogIntervalMs))
        return;
    m_batchesLogged = m_batches;
    m_lastHistogramLogMs = now;
    QString text;
    for (const auto& [sessions, count] : m_batchHistogram)
        text += QStringLiteral("%1\"%2\":%3")
                    .arg(text.isEmpty() ? QString() : QStringLiteral(","))
                    .arg(sessions)
                    .arg(count);
    qInfo("batch histogram (sessions per pass: passes): {%s}", qPrintable(text));
}

void ComputeWorker::endSession(quint64 sessionId) {
    // Requests of the session queued before the end ran before it when stages were served one by one;
    // keep that order (else the cache would be created again after the end).
    while (std::any_of(m_queue.begin(), m_queue.end(),
                       [&](const Queued& q) { return q.request.session_id() == sessionId; }))
        runBatch();
    for (auto& [key, convoy] : m_convoys)
        convoy.ended(sessionId);
    scheduleBatch(); // a pass may have been waiting for this session
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
    logBatchHistogram(true);
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    std::vector<uint64_t> idle;
    for (const auto& [id, use] : m_sessions)
        if (now - use.lastUsedMs > m_limits.sessionIdleTimeoutMs)
            idle.push_back(id);
    for (uint64_t id : idle)
        endSession(id);
}

} // namespace declai::node
