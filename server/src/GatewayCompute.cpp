#include "declai/server/GatewayCompute.h"

#include "declai/core/ConvoyBatching.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/Head.h"
#include "declai/gpu/ShardExecutor.h"

#include <QElapsedTimer>
#include <QMetaObject>
#include <QTimer>
#include <algorithm>
#include <deque>
#include <iterator>
#include <optional>
#include <set>

namespace declai::server {

// One request to the compute thread: a session's tokens through the gateway's layers, or a decode step (its
// last row through the head, sampling, and the new token through the gateway's layers).
struct GatewayJob {
    enum class Kind { Layers, Token };
    Kind kind = Kind::Layers;
    std::string model;
    std::shared_ptr<const ModelWeights> weights;
    LayerRange layers;  // the gateway's layers
    int nodeStages = 0; // how many nodes the session's chain has after the gateway
    uint64_t session = 0;
    int64_t startPos = 0;        // the first token's position (Kind::Token: the new token's)
    int64_t promptTokens = 0;    // BatchPart::promptTokens
    std::vector<int32_t> tokens; // Kind::Layers: embedded on the compute thread into `rows`
    std::vector<float> rows;     // Kind::Token: the last hidden row, for the head
    int64_t nTokens = 0;
    uint64_t jobId = 0; // GatewayCompute's, for the answer
    // Kind::Token:
    std::optional<Sampler> sampler;
    std::vector<int32_t> stopIds;
    bool more = false; // GatewayCompute::TokenPlan::more
};

// A job's answer, made on the compute thread and handed to the main thread.
struct GatewayOutcome {
    uint64_t jobId = 0;
    // Kind::Layers: the rows. Kind::Token: the next step's rows when the token continues (empty otherwise),
    // or the error of the head or of the layers.
    Expected<std::vector<float>> values = std::vector<float>();
    int32_t token = Sampler::kNoToken; // Kind::Token
    bool stopped = false;              // Kind::Token: no token, or a stop id
    bool continues = false;            // Kind::Token
    std::optional<Sampler> sampler;    // Kind::Token: handed back
};

// Owns the executors, the heads and the pool; every member is touched on the compute thread only.
class GatewayComputeWorker : public QObject {
public:
    // Gets the results of one pass, all at once (so their sessions take their next step together); called
    // on the compute thread.
    using Deliver = std::function<void(std::vector<GatewayOutcome>)>;

    GatewayComputeWorker(int threads, Deliver deliver) : m_threads(threads), m_deliver(std::move(deliver)) {
        m_clock.start();
    }

    // Jobs that arrive while a pass runs wait for the next one and run together (one pass over the
    // weights for all sessions' rows; each session's floats are those of a solo run).
    void enqueue(GatewayJob job) {
        m_queue.push_back(std::move(job));
        schedule();
    }

    void endSession(uint64_t session) {
        // Jobs of the session queued before the end run first (the cache is freed after them).
        while (std::any_of(m_queue.begin(), m_queue.end(),
                           [&](const GatewayJob& j) { return j.session == session; }))
            runBatch();
        for (auto& [model, executor] : m_executors)
            executor->endSession(session);
        for (auto& [key, convoy] : m_convoys)
            convoy.ended(session);
        for (auto& [model, sessions] : m_sessionsByModel)
            sessions.erase(session);
        schedule(); // a pass may have been waiting for this session
    }

private:
    static constexpr size_t kMaxBatchSessions = 16;
    static constexpr int64_t kMaxBatchRows = 512;

    using ConvoyKey = std::pair<GatewayJob::Kind, std::string>; // what runs in one pass

    void schedule() {
        if (m_posted || m_queue.empty())
            return;
        m_posted = true;
        // Posted behind what the main thread has sent meanwhile: the jobs of every answer that arrived in
        // the same network read join this pass.
        QMetaObject::invokeMethod(
            this,
            [this] {
                m_posted = false;
                while (!m_queue.empty()) {
                    if (const int64_t waitUs = convoyWaitUs(); waitUs > 0)
                        return armConvoyTimer(waitUs); // the rest of a group is on its way
                    runBatch();
                }
                if (m_pool)
                    m_pool->sleepWorkers(); // the next job waits for the nodes: free the CPUs meanwhile
            },
            Qt::QueuedConnection);
    }

    int64_t convoyWaitUs() {
        const ConvoyKey key{m_queue.front().kind, m_queue.front().model};
        std::vector<uint64_t> queued;
        for (const GatewayJob& job : m_queue)
            if (job.kind == key.first && job.model == key.second)
                queued.push_back(job.session);
        return m_convoys[key].waitUs(queued, m_clock.nsecsElapsed() / 1000);
    }

    void armConvoyTimer(int64_t waitUs) {
        if (m_convoyTimerArmed)
            return;
        m_convoyTimerArmed = true;
        QTimer::singleShot(static_cast<int>((waitUs + 999) / 1000), Qt::PreciseTimer, this, [this] {
            m_convoyTimerArmed = false;
            schedule();
        });
    }

    ThreadPool& pool() {
        if (!m_pool)
            m_pool = std::make_unique<ThreadPool>(m_threads); // made and used on this thread only
        return *m_pool;
    }

    // The queue's first job and the later ones of the same kind and model from other sessions, within the
    // budgets (a session's own jobs keep their order).
    // How many sessions one pass of the gateway's layers takes: the model's live sessions divided by the
    // nodes of their chain. A pass's sessions travel on as one group, and groups that never meet stay apart:
    // with as many groups as nodes, node 1 computes one group while node 2 computes another (pipeline
    // parallelism) instead of all sessions moving as one group from node to node while the others idle.
    // `stages`: at least this many nodes (those of jobs not queued, which runTokens passes).
    size_t pipelineShare(const std::string& model, int stages = 1) const {
        std::set<uint64_t> sessions;
        if (auto live = m_sessionsByModel.find(model); live != m_sessionsByModel.end())
            sessions = live->second;
        for (const GatewayJob& job : m_queue) {
            if (job.kind != GatewayJob::Kind::Layers || job.model != model)
                continue;
            stages = std::max(stages, job.nodeStages);
            sessions.insert(job.session);
        }
        const size_t share =
            (sessions.size() + static_cast<size_t>(stages) - 1) / static_cast<size_t>(stages);
        return std::clamp<size_t>(share, 1, kMaxBatchSessions);
    }

    std::vector<GatewayJob> takeBatch() {
        const GatewayJob::Kind kind = m_queue.front().kind;
        const std::string model = m_queue.front().model;
        const size_t maxSessions =
            kind == GatewayJob::Kind::Layers ? pipelineShare(model) : kMaxBatchSessions;
        std::vector<GatewayJob> batch;
        std::vector<uint64_t> seen; // sessions with an earlier job queued
        int64_t rows = 0;
        for (auto it = m_queue.begin(); it != m_queue.end() && batch.size() < maxSessions;) {
            const bool earlier = std::find(seen.begin(), seen.end(), it->session) != seen.end();
            seen.push_back(it->session);
            if (earlier || it->kind != kind || it->model != model ||
                (!batch.empty() && rows + it->nTokens > kMaxBatchRows)) {
                ++it;
                continue;
            }
            rows += it->nTokens;
            batch.push_back(std::move(*it));
            it = m_queue.erase(it);
        }
        return batch;
    }

    void runBatch() {
        std::vector<GatewayJob> batch = takeBatch();
        if (batch.front().kind == GatewayJob::Kind::Token)
            return runTokens(batch);
        m_deliver(runGroup(batch));
    }

    // runLayers, remembered as a group for ConvoyBatching.
    std::vector<GatewayOutcome> runGroup(std::vector<GatewayJob>& batch) {
        const int64_t startUs = m_clock.nsecsElapsed() / 1000;
        std::vector<GatewayOutcome> out = runLayers(batch);
        m_convoys[ConvoyKey{GatewayJob::Kind::Layers, batch.front().model}].ran(
            sessionsOf(batch), m_clock.nsecsElapsed() / 1000 - startUs);
        return out;
    }

    static std::vector<uint64_t> sessionsOf(const std::vector<GatewayJob>& batch) {
        std::vector<uint64_t> sessions;
        for (const GatewayJob& job : batch)
            sessions.push_back(job.session);
        return sessions;
    }

    static GatewayOutcome failed(uint64_t jobId, const Error& error) {
        GatewayOutcome outcome;
        outcome.jobId = jobId;
        outcome.values = error;
        return outcome;
    }

    // Decode steps: one head pass for all, each session's own sampler picks its token, then the tokens that
    // go on run the gateway layers in passes of at most the pipeline share, each delivered when it is done
    // (as separate Layers jobs were: the groups that reach node 1 stay as they were).
    void runTokens(std::vector<GatewayJob>& batch) {
        const std::string model = batch.front().model;
        const int64_t startUs = m_clock.nsecsElapsed() / 1000;
        std::vector<Expected<std::vector<float>>> logits = runHeads(batch);
        m_convoys[ConvoyKey{GatewayJob::Kind::Token, model}].ran(sessionsOf(batch),
                                                                 m_clock.nsecsElapsed() / 1000 - startUs);
        std::vector<GatewayOutcome> ready; // sessions that stop here, or whose head failed
        std::vector<GatewayJob> going;
        int stages = 1;
        for (size_t i = 0; i < batch.size(); ++i) {
            GatewayJob& job = batch[i];
            GatewayOutcome outcome;
            outcome.jobId = job.jobId;
            if (!logits[i]) {
                outcome.values = logits[i].error();
                outcome.sampler = std::move(job.sampler);
                ready.push_back(std::move(outcome));
                continue;
            }
            const int32_t token = job.sampler->sample(*logits[i]);
            const bool stopped =
                token < 0 || std::find(job.stopIds.begin(), job.stopIds.end(), token) != job.stopIds.end();
            if (stopped || !job.more) {
                outcome.token = token;
                outcome.stopped = stopped;
                outcome.sampler = std::move(job.sampler);
                ready.push_back(std::move(outcome));
                continue;
            }
            job.sampler->accept(token);
            job.kind = GatewayJob::Kind::Layers;
            job.tokens = {token};
            job.nTokens = 1;
            stages = std::max(stages, job.nodeStages);
            going.push_back(std::move(job));
        }
        while (!going.empty()) {
            const auto share =
                static_cast<std::ptrdiff_t>(std::min(going.size(), pipelineShare(model, stages)));
            std::vector<GatewayJob> pass(std::make_move_iterator(going.begin()),
                                         std::make_move_iterator(going.begin() + share));
            going.erase(going.begin(), going.begin() + share);
            for (GatewayOutcome& rows : runGroup(pass)) {
                const auto job = std::find_if(pass.begin(), pass.end(),
                                              [&](const GatewayJob& j) { return j.jobId == rows.jobId; });
                rows.token = job->tokens.front();
                rows.continues = true;
                rows.sampler = std::move(job->sampler);
                ready.push_back(std::move(rows));
            }
            m_deliver(std::move(ready));
            ready.clear();
        }
        if (!ready.empty())
            m_deliver(std::move(ready));
    }

    std::vector<GatewayOutcome> runLayers(std::vector<GatewayJob>& batch) {
        std::vector<GatewayOutcome> out;
        const std::string& model = batch.front().model;
        auto it = m_executors.find(model);
        if (it == m_executors.end()) {
            auto created = ShardExecutor::create(batch.front().weights, batch.front().layers, pool());
            if (!created) {
                for (GatewayJob& job : batch)
                    out.push_back(failed(job.jobId, created.error()));
                return out;
            }
            it = m_executors.emplace(model, std::move(*created)).first;
        }
        auto embedder = m_embedders.find(model);
        if (embedder == m_embedders.end())
            embedder = m_embedders.emplace(model, std::make_unique<Embedder>(batch.front().weights)).first;
        const auto dim = static_cast<size_t>(batch.front().weights->config().embeddingLength);
        std::vector<BatchPart> parts;
        std::vector<size_t> partJob; // part -> its job in the batch
        parts.reserve(batch.size());
        for (size_t i = 0; i < batch.size(); ++i) {
            GatewayJob& job = batch[i];
            job.rows.resize(job.tokens.size() * dim);
            if (auto embedded = embedder->second->embed(job.tokens, job.rows); !embedded) {
                out.push_back(failed(job.jobId, embedded.error()));
                continue;
            }
            parts.push_back(BatchPart{job.session, job.startPos, job.rows, job.nTokens, job.promptTokens});
            partJob.push_back(i);
            m_sessionsByModel[model].insert(job.session);
        }
        auto results = it->second->forwardBatch(parts);
        for (size_t p = 0; p < parts.size(); ++p) {
            GatewayJob& job = batch[partJob[p]];
            GatewayOutcome outcome;
            outcome.jobId = job.jobId;
            if (!results[p])
                outcome.values = results[p].error();
            else
                outcome.values = std::move(job.rows);
            out.push_back(std::move(outcome));
        }
        return out;
    }

    // The logits of each job's last row, in the batch's order, from one pass over the head.
    std::vector<Expected<std::vector<float>>> runHeads(const std::vector<GatewayJob>& batch) {
        const std::string& model = batch.front().model;
        auto it = m_heads.find(model);
        if (it == m_heads.end())
            it = m_heads.emplace(model, std::make_unique<Head>(batch.front().weights, pool())).first;
        Head& head = *it->second;
        const auto dim = static_cast<size_t>(batch.front().weights->config().embeddingLength);
        const auto vocab = static_cast<size_t>(head.vocabSize());
        std::vector<Expected<std::vector<float>>> out(batch.size(), std::vector<float>());
        std::vector<float> hidden;
        std::vector<size_t> computed; // indices into the batch, in row order
        hidden.reserve(batch.size() * dim);
        for (size_t i = 0; i < batch.size(); ++i) {
            const GatewayJob& job = batch[i];
            if (job.rows.size() != dim) { // a caller's bug, not the network's: refuse that row only
                out[i] = makeError(ErrorCode::InvalidArgument, "head input has the wrong width");
                continue;
            }
            hidden.insert(hidden.end(), job.rows.begin(), job.rows.end());
            computed.push_back(i);
        }
        if (computed.empty())
            return out;
        const auto rows = static_cast<int64_t>(computed.size());
        std::vector<float> logits(static_cast<size_t>(rows) * vocab);
        const auto result = head.logitsBatch(hidden, rows, logits);
        for (size_t row = 0; row < computed.size(); ++row) {
            if (!result) {
                out[computed[row]] = result.error();
                continue;
            }
            const auto begin = logits.begin() + static_cast<std::ptrdiff_t>(row * vocab);
            out[computed[row]] = std::vector<float>(begin, begin + static_cast<std::ptrdiff_t>(vocab));
        }
        return out;
    }

    int m_threads;
    Deliver m_deliver;
    std::unique_ptr<ThreadPool> m_pool;
    std::map<std::string, std::unique_ptr<ShardExecutor>> m_executors;
    std::map<std::string, std::unique_ptr<Head>> m_heads;
    std::map<std::string, std::unique_ptr<Embedder>> m_embedders;
    std::map<std::string, std::set<uint64_t>> m_sessionsByModel; // sessions with a cache here, until they end
    std::deque<GatewayJob> m_queue;
    bool m_posted = false;
    std::map<ConvoyKey, ConvoyBatching> m_convoys; // which sessions ran together, per kind of pass
    bool m_convoyTimerArmed = false;
    QElapsedTimer m_clock;
};

GatewayCompute::GatewayCompute(int threads, QObject* parent) : QObject(parent) {
    // Runs on the compute thread; the pass's results come back to this object's (the main) thread together.
    m_worker = new GatewayComputeWorker(threads, [this](std::vector<GatewayOutcome> results) {
        // The results move into the queued call itself (no object shared by both threads after the hand-off).
        QMetaObject::invokeMethod(
            this,
            [this, results = std::move(results)]() mutable {
                for (GatewayOutcome& r : results)
                    deliver(r.jobId, std::move(r));
            },
            Qt::QueuedConnection);
    });
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.setObjectName(QStringLiteral("declai-gateway-compute"));
    m_thread.start();
}

GatewayCompute::~GatewayCompute() {
    // Jobs still queued run to completion; their results are posted to this object, which Qt drops with it.
    m_thread.quit();
    m_thread.wait();
}

void GatewayCompute::runLayers(const GatewayModel& model, uint64_t session, int64_t startPos,
                               std::vector<int32_t> tokens, int64_t promptTokens, int nodeStages, Done done) {
    GatewayJob job;
    job.kind = GatewayJob::Kind::Layers;
    job.model = model.name();
    job.weights = model.sharedWeights();
    job.layers = model.gatewayLayers();
    job.session = session;
    job.startPos = startPos;
    job.promptTokens = promptTokens;
    job.nTokens = static_cast<int64_t>(tokens.size());
    job.tokens = std::move(tokens);
    job.nodeStages = nodeStages;
    post(std::move(job),
         [done = std::move(done)](GatewayOutcome outcome) { done(std::move(outcome.values)); });
}

void GatewayCompute::nextToken(const GatewayModel& model, uint64_t session, std::vector<float> lastRow,
                               Sampler sampler, TokenPlan plan, TokenDone done) {
    GatewayJob job;
    job.kind = GatewayJob::Kind::Token;
    job.model = model.name();
    job.weights = model.sharedWeights();
    job.layers = model.gatewayLayers();
    job.session = session;
    job.startPos = plan.startPos;
    job.promptTokens = plan.promptTokens;
    job.nodeStages = plan.nodeStages;
    job.rows = std::move(lastRow);
    job.nTokens = 1;
    job.sampler.emplace(std::move(sampler));
    job.stopIds = std::move(plan.stopIds);
    job.more = plan.more;
    post(std::move(job), [done = std::move(done)](GatewayOutcome outcome) {
        if (!outcome.continues && !outcome.values) // the head failed
            return done(outcome.values.error());
        done(TokenStep{std::move(*outcome.sampler), outcome.token, outcome.stopped, outcome.continues,
                       std::move(outcome.values)});
    });
}

void GatewayCompute::post(GatewayJob job, std::function<void(GatewayOutcome)> done) {
    const uint64_t jobId = m_nextJobId++;
    m_pending[jobId] = Pending{job.session, std::move(done)};
    job.jobId = jobId;
    m_outgoing.push_back(std::move(job));
    if (m_flushPosted)
        return;
    m_flushPosted = true;
    QMetaObject::invokeMethod(this, &GatewayCompute::flushJobs, Qt::QueuedConnection);
}

void GatewayCompute::flushJobs() {
    m_flushPosted = false;
    GatewayComputeWorker* worker = m_worker;
    // Runs on the compute thread: all of them are queued before its next pass starts.
    QMetaObject::invokeMethod(
        worker,
        [worker, jobs = std::move(m_outgoing)]() mutable {
            for (GatewayJob& job : jobs)
                worker->enqueue(std::move(job));
        },
        Qt::QueuedConnection);
    m_outgoing.clear();
}

void GatewayCompute::deliver(uint64_t jobId, GatewayOutcome outcome) {
    auto it = m_pending.find(jobId);
    if (it == m_pending.end())
        return; // its session ended meanwhile
    auto done = std::move(it->second.done);
    m_pending.erase(it);
    done(std::move(outcome));
}

void GatewayCompute::endSession(uint64_t session) {
    std::erase_if(m_pending, [session](const auto& entry) { return entry.second.session == session; });
    flushJobs(); // the session's jobs not yet handed over go first, so its cache is freed after them
    GatewayComputeWorker* worker = m_worker;
    // Queued behind any job of this session still waiting, so the cache is freed after it.
    QMetaObject::invokeMethod(
        worker, [worker, session] { worker->endSession(session); }, Qt::QueuedConnection);
}

} // namespace declai::server
