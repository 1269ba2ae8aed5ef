// One generation request, from prompt to last token: tokenize, embed, run the gateway's own first layers
// (GatewayCompute), route every step through a chain of nodes for the rest (relaying hidden states stage to
// stage), apply the head, sample, stream tokens to the client.
// It keeps every stage's input history so that, when a node drops or times out, another node holding the
// same layers can rebuild the KV cache by prefilling that history; the output stays identical.
// Threading: lives on the server's main thread; all callbacks arrive there.
#pragma once

#include "declai/core/Sampler.h"
#include "declai/core/Tokenizer.h"
#include "declai/server/GatewayCompute.h"
#include "declai/server/GatewayModel.h"
#include "declai/server/Placement.h"
#include "proto/declai.pb.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace declai::server {

class GenerationSession;

// What a session needs from the orchestrator (kept narrow so sessions are testable on their own).
class SessionHost {
public:
    virtual ~SessionHost() = default;
    virtual std::optional<std::vector<ChainStage>> chainFor(const std::string& model,
                                                            const std::set<std::string>& exclude) = 0;
    // Live nodes that together hold `layers` (one stage when a single node holds them all).
    virtual std::optional<std::vector<ChainStage>> coverOf(const std::string& model, LayerRange layers,
                                                           const std::set<std::string>& exclude) = 0;
    // Asks some live node outside `exclude` to load `layers`; false when no node can take them.
    virtual bool requestCoverage(const std::string& model, LayerRange layers,
                                 const std::set<std::string>& exclude) = 0;
    // Whether `nodeId` is connected now (a stage is sent only to a connected node).
    virtual bool nodeConnected(const std::string& nodeId) = 0;
    // The session routes a stage through `nodeId` (counted in its active sessions).
    virtual void sessionJoined(const std::string& nodeId) { (void)nodeId; }
    // The session no longer uses `nodeId` (it failed, or the session ended): uncounted, and told to drop
    // the session's cache when it is still connected.
    virtual void sessionLeft(const std::string& nodeId, uint64_t sessionId) { (void)nodeId, (void)sessionId; }
    virtual void sessionFinished(GenerationSession* session) = 0;
    // A session ended: for each stage, the node that served it last, its whole input history and every row
    // that node returned with its position (for sampled verification).
    struct StageWork {
        std::string nodeId;
        LayerRange layers;
        const std::vector<float>* history = nullptr;
        int64_t historyRows = 0;
        int64_t promptTokens = 0;      // the session's prompt length (BatchPart::promptTokens)
        int64_t promptChunkTokens = 0; // BatchPart::promptChunkTokens
        const std::vector<float>* outputs = nullptr;
        const std::vector<int64_t>* outputPositions = nullptr;
    };
    virtual void sessionWork(const std::string& model, const std::vector<StageWork>& stages) {
        (void)model, (void)stages;
    }
    // How long `nodeId` may take to answer one stage (a node with no record gets less: NodeReputation).
    virtual int answerTimeoutMs(const std::string& nodeId, int stageTimeoutMs) {
        (void)nodeId;
        return stageTimeoutMs;
    }
    // Why a stage failed, so the host can remember it across sessions.
    enum class StageFault {
        Timeout,       // no answer within answerTimeoutMs
        InvalidAnswer, // wrong shape or size, undecodable, NaN or Inf: never relayed, the node is cut off
        NodeError,     // the node reported an error
        Lost,          // the node disconnected
    };
    virtual void stageFailed(const std::string& nodeId, StageFault fault, const QString& reason) {
        (void)nodeId, (void)fault, (void)reason;
    }
    // An answer the session accepted, with what the gateway measured of it.
    struct StageAnswer {
        uint64_t layerTokensComputed = 0; // layers x rows the node ran (a replay: its whole history)
        uint64_t layerTokensOfStep = 0;   // layers x rows of the step itself
        qint64 roundTripUs = 0;           // from sending the request to its answer
    };
    virtual void stageAnswered(const std::string& nodeId, const StageAnswer& answer) {
        (void)nodeId, (void)answer;
    }
    // Sends a stage request now, or once the node has room for it (the host shares each node fairly
    // between accounts: StageDispatcher). `send` is called on the main thread, at most once, and never
    // after stageSettled() for the same node and session or after sessionFinished().
    virtual void queueStage(const std::string& nodeId, const std::string& account, uint64_t sessionId,
                            std::function<void()> send) {
        (void)nodeId, (void)account, (void)sessionId;
        send();
    }
    // Puts a stage request on the wire (the host may send the requests of one event-loop turn for the same
    // node as one frame: StageOutbox).
    // Only called while nodeConnected(nodeId) holds.
    virtual void sendStage(const std::string& nodeId, wire::StageRequest request) = 0;
    // The session's request at this node ended (answered, failed, or no longer wanted).
    virtual void stageSettled(const std::string& nodeId, uint64_t sessionId) {
        (void)nodeId, (void)sessionId;
    }
};

struct SessionRequest {
    uint64_t requestId = 0;
    std::string prompt;
    // A chat rendered from a template (declai/core/ChatTemplate.h): control tokens are parsed only in these
    // ranges of `prompt` (the template's markup), never in message text. Unset: plain text.
    std::optional<std::vector<TextRange>> promptMarkup;
    uint32_t maxTokens = 32;
    SamplerConfig sampler;
    bool wantTokenIds = false;
    std::string account; // whom the session runs for: nodes are shared fairly between accounts
    // The prompt's ids when the caller has tokenised it already (the orchestrator does, to price it): a
    // session then does not tokenise it a second time. Empty: the session tokenises `prompt` itself.
    std::vector<int32_t> promptTokens;
};

// The prompt's token ids, with BOS as the model says (one rule for pricing and for the session).
std::vector<int32_t> promptTokensOf(const Tokenizer& tokenizer, const SessionRequest& request);

struct SessionStats {
    uint32_t promptTokens = 0;
    uint32_t generatedTokens = 0;
    qint64 timeToFirstTokenMs = -1;
    qint64 totalMs = 0;
    uint32_t failovers = 0;
    uint64_t hiddenBytesSent = 0;                   // gateway -> nodes, all hops
    uint64_t hops = 0;                              // stage requests sent
    std::map<std::string, int64_t> nodeLayerTokens; // accepted work per node: layers x tokens
    bool cancelled = false;                         // ended by cancel() (the client left), not a failure
};

class GenerationSession : public QObject {
    Q_OBJECT

public:
    // Sinks for the client: tokens as they are sampled, then exactly one of finished/failed.
    struct Sinks {
        std::function<void(int32_t id, const std::string& text)> token;
        std::function<void(const std::string& reason, const std::string& tail, const SessionStats&)> finished;
        // Also after partial output: stats say what was produced and which node work was accepted.
        std::function<void(const std::string& reason, const SessionStats&)> failed;
    };

    // The refusal for a request whose prompt plus new tokens do not fit the model's context, or nullopt.
    static std::optional<std::string> contextOverflow(int64_t promptTokens, int64_t maxTokens,
                                                      int64_t contextLength);

    GenerationSession(uint64_t sessionId, SessionHost& host, GatewayModel& model,
                      GatewayCompute& gatewayCompute, SessionRequest request, Sinks sinks, int stageTimeoutMs,
                      int failoverDeadlineMs, int chainWaitMs, wire::TensorEncoding encoding,
                      QObject* parent = nullptr);
    ~GenerationSession() override;
    // Chunked prefill: the prompt runs in steps of at most this many tokens
    // (ServerConfig::prefillChunkTokens), rounded down to a multiple of 4 (at least 4) so that chunks round
    // as llama.cpp's whole-prompt batch.
    void setPrefillChunkTokens(int tokens) { m_prefillChunkTokens = tokens; }
    // The chunk the prompt really runs in (the setting rounded so); requests carry it for replays.
    int64_t promptChunkTokens() const { return std::max(4, m_prefillChunkTokens / 4 * 4); }

    void start();
    void cancel(const QString& reason);
    uint64_t sessionId() const { return m_sessionId; }
    const std::string& modelName() const { return m_model.name(); }
    bool usesNode(const std::string& nodeId) const;
    const SessionStats& stats() const { return m_stats; }

    // Whether this session waits on `nodeId` for `step` now; any other answer is stray and is dropped.
    bool awaits(const std::string& nodeId, uint64_t step) const;
    // Routed here by the orchestrator.
    void onStageResponse(const std::string& nodeId, const wire::StageResponse& response);
    void onNodeLost(const std::string& nodeId, const QString& reason);
    void onShardReady(const std::string& model); // a new shard may unblock a waiting failover or start

private:
    struct Stage {
        std::string nodeId;
        LayerRange layers;
        std::vector<float> history; // every row this stage has been given, in order
        int64_t rows = 0;
        bool needsReplay = false; // its node changed: rebuild the cache from history on next use
        // A stage split off a failed one: its history is the output of the previous (replaying) stage for
        // every position, which that stage returns in full.
        bool needsFullHistory = false;
        std::vector<float> outputs;           // rows the current node returned, for verification
        std::vector<int64_t> outputPositions; // their positions in the stage's output
    };
    void reportWork();

    void tryStartChain();
    void runStep(std::span<const int32_t> tokens);
    void onGatewayLayersDone(Expected<std::vector<float>> rows);
    void sendToStage(size_t index, std::vector<float> rows, int64_t rowCount);
    void dispatch(size_t index);
    void handleFinalHidden(std::span<const float> lastRow);
    void runPromptChunk(); // the prompt's next at most m_prefillChunkTokens tokens
    void
    onTokenStep(Expected<GatewayCompute::TokenStep> step); // the gateway's decode step, on the main thread
    void failStage(size_t index, const QString& reason,
                   SessionHost::StageFault fault = SessionHost::StageFault::Lost);
    void tryFailover();
    bool replaceStage(size_t index); // re-route a lost stage's layers; false when no live node holds them
    void finish(const std::string& reason);
    void fail(const QString& reason);
    void endRemoteSessions();

    uint64_t m_sessionId;
    SessionHost& m_host;
    GatewayModel& m_model;
    GatewayCompute& m_gatewayCompute;
    SessionRequest m_request;
    Sinks m_sinks;
    int m_stageTimeoutMs;
    int m_currentTimeoutMs = 0; // the in-flight stage's timeout (per node)
    int m_failoverDeadlineMs;
    int m_chainWaitMs;
    wire::TensorEncoding m_encoding;

    std::vector<int32_t> m_promptTokens;
    int m_prefillChunkTokens = 1 << 30; // unlimited unless the host sets it
    std::optional<Sampler> m_sampler;
    std::optional<StreamingDecoder> m_decoder;
    std::vector<Stage> m_stages;
    bool m_chainChosen = false;       // m_stages may stay empty when the gateway runs every layer
    std::set<std::string> m_excluded; // nodes that failed this session
    int64_t m_position = 0;           // position of the first row of the current step
    int64_t m_stepRows = 0;           // rows in the current step
    uint64_t m_step = 0;
    size_t m_currentStage = 0;
    bool m_inFlight = false;
    std::optional<size_t> m_failedStage; // waiting for a replacement node
    QElapsedTimer m_clock;
    QElapsedTimer m_failoverClock;
    QElapsedTimer m_stageClock; // round trip of the stage in flight: the node speed placement trusts
    QTimer m_stageTimer;
    QTimer m_retryTimer;
    SessionStats m_stats;
    bool m_done = false;
};

} // namespace declai::server
