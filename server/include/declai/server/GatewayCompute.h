// The gateway's own computing, off the event loop that relays tokens: the token embeddings, the layers it
// keeps for itself ([0, k) of each model, GatewayModel::gatewayLayers, so that no volunteer ever receives
// embedding rows) and the final norm and vocabulary-sized output head. One CPU ShardExecutor (with a KV cache
// per session) and one Head per model live on this object's own compute thread with its own thread pool.
// Requests of different sessions that wait while the thread computes run together: one pass over the weights
// for all of them (micro-batching; each session's numbers equal those of a solo run), so sessions that left a
// node together stay together. A decode step is one job (nextToken): head, sampling, and the new token's
// embedding and gateway layers, so the thread hand-offs between them (a wake-up each) are off the token's
// critical path. This part of a session never fails over (it is the gateway). Threading: create, call and
// destroy on the main thread; `done` callbacks run there too, queued, never inside runLayers()/nextToken().
// endSession() frees a session's cache and drops its pending callbacks.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/Sampler.h"
#include "declai/server/GatewayModel.h"

#include <QObject>
#include <QThread>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace declai::server {

class GatewayComputeWorker;
struct GatewayJob;
struct GatewayOutcome;

class GatewayCompute : public QObject {
    Q_OBJECT

public:
    using Done = std::function<void(Expected<std::vector<float>> values)>;

    // What nextToken() needs besides the last hidden row.
    struct TokenPlan {
        int64_t startPos = 0;         // the new token's position
        int64_t promptTokens = 0;     // BatchPart::promptTokens
        int nodeStages = 0;           // as runLayers()
        std::vector<int32_t> stopIds; // tokens that end the generation
        bool more = false;            // whether the generation wants a token after this one
    };
    // nextToken()'s answer.
    struct TokenStep {
        Sampler sampler; // the session's, handed back (with the token accepted when it continues)
        int32_t token;   // Sampler::kNoToken when no token could be chosen
        bool stopped;    // kNoToken or one of TokenPlan::stopIds: the generation ends with it
        bool continues;  // not stopped, and `more`: `rows` are its next step
        Expected<std::vector<float>> rows; // when it continues: the token's rows after the gateway layers
    };
    using TokenDone = std::function<void(Expected<TokenStep> step)>;

    explicit GatewayCompute(int threads, QObject* parent = nullptr);
    ~GatewayCompute() override;

    // Embeds `tokens` and runs `model`'s gateway layers on them at positions startPos.. of `session`
    // (startPos must equal what the session has run so far, as ShardExecutor::forward requires): `done` gets
    // the hidden rows after layer k-1, one per token. promptTokens: the session's prompt length
    // (BatchPart::promptTokens). nodeStages: the nodes of the session's chain after the gateway (a pass
    // takes at most its share of the sessions: pipelineShare).
    void runLayers(const GatewayModel& model, uint64_t session, int64_t startPos, std::vector<int32_t> tokens,
                   int64_t promptTokens, int nodeStages, Done done);
    // One decode step: the final norm and output head on `lastRow` (the session's last position), `sampler`
    // picks the token, and when it continues the generation (TokenPlan) the token is embedded and run
    // through the gateway layers at plan.startPos, as runLayers() would. The sampler travels with the job
    // (the session has no use for it meanwhile) and comes back in `done`'s TokenStep. An error means the head
    // failed.
    void nextToken(const GatewayModel& model, uint64_t session, std::vector<float> lastRow, Sampler sampler,
                   TokenPlan plan, TokenDone done);
    // The session ended: free its caches (after any job of it still running) and forget its callback.
    void endSession(uint64_t session);
    size_t pendingJobs() const { return m_pending.size(); }

private:
    struct Pending {
        uint64_t session = 0;
        std::function<void(GatewayOutcome)> done;
    };
    void deliver(uint64_t jobId, GatewayOutcome outcome);
    void post(GatewayJob job, std::function<void(GatewayOutcome)> done);
    void flushJobs();

    QThread m_thread;
    GatewayComputeWorker* m_worker = nullptr; // lives on m_thread, deleted when it finishes
    std::map<uint64_t, Pending> m_pending;    // job id -> its session and callback
    uint64_t m_nextJobId = 1;
    // Jobs posted during the current event, handed to the compute thread together so that they share a pass.
    std::vector<GatewayJob> m_outgoing;
    bool m_flushPosted = false;
};

} // namespace declai::server
