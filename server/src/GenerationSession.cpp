#include "declai/server/GenerationSession.h"

#include "declai/core/HiddenStates.h"
#include "declai/network/PeerText.h"

#include <algorithm>
#include <cmath>

namespace declai::server {
namespace {
constexpr float kMaxPlausibleHiddenValue = 1e6f; // 100x the largest activation outliers reported for LLMs
} // namespace

GenerationSession::GenerationSession(uint64_t sessionId, SessionHost& host, GatewayModel& model,
                                     GatewayCompute& gatewayCompute, SessionRequest request, Sinks sinks,
                                     int stageTimeoutMs, int failoverDeadlineMs, int chainWaitMs,
                                     wire::TensorEncoding encoding, QObject* parent)
    : QObject(parent), m_sessionId(sessionId), m_host(host), m_model(model), m_gatewayCompute(gatewayCompute),
      m_request(std::move(request)), m_sinks(std::move(sinks)), m_stageTimeoutMs(stageTimeoutMs),
      m_failoverDeadlineMs(failoverDeadlineMs), m_chainWaitMs(chainWaitMs), m_encoding(encoding) {
    m_stageTimer.setSingleShot(true);
    connect(&m_stageTimer, &QTimer::timeout, this, [this] {
        failStage(m_currentStage, QStringLiteral("no answer within %1 ms").arg(m_currentTimeoutMs),
                  SessionHost::StageFault::Timeout);
    });
    m_retryTimer.setInterval(200);
    connect(&m_retryTimer, &QTimer::timeout, this, [this] {
        if (m_failedStage)
            tryFailover();
        else if (!m_chainChosen)
            tryStartChain();
    });
}

GenerationSession::~GenerationSession() {
    m_gatewayCompute.endSession(m_sessionId); // drops a callback into this object that may still be queued
}

std::optional<std::string> GenerationSession::contextOverflow(int64_t promptTokens, int64_t maxTokens,
                                                              int64_t contextLength) {
    if (promptTokens + maxTokens <= contextLength)
        return std::nullopt;
    return QStringLiteral("prompt (%1 tokens) plus %2 new tokens exceed the model's context length %3")
        .arg(promptTokens)
        .arg(maxTokens)
        .arg(contextLength)
        .toStdString();
}

bool GenerationSession::usesNode(const std::string& nodeId) const {
    for (const Stage& s : m_stages)
        if (s.nodeId == nodeId)
            return true;
    return false;
}

std::vector<int32_t> promptTokensOf(const Tokenizer& tokenizer, const SessionRequest& request) {
    if (request.promptMarkup)
        return tokenizer.encodeWithMarkup(request.prompt, true, *request.promptMarkup);
    return tokenizer.encode(request.prompt, true);
}

void GenerationSession::start() {
    m_clock.start();
    m_promptTokens = m_request.promptTokens.empty() ? promptTokensOf(m_model.tokenizer(), m_request)
                                                    : std::move(m_request.promptTokens);
    m_stats.promptTokens = static_cast<uint32_t>(m_promptTokens.size());
    if (m_promptTokens.empty())
        return fail(QStringLiteral("the prompt produced no tokens"));
    if (auto overflow = contextOverflow(static_cast<int64_t>(m_promptTokens.size()), m_request.maxTokens,
                                        m_model.config().contextLength))
        return fail(QString::fromStdString(*overflow));
    m_sampler.emplace(m_request.sampler);
    for (int32_t id : m_promptTokens)
        m_sampler->accept(id);
    m_decoder.emplace(m_model.tokenizer());
    if (m_request.maxTokens == 0)
        return finish("length");
    tryStartChain();
}

void GenerationSession::tryStartChain() {
    auto chain = m_host.chainFor(m_model.name(), m_excluded);
    if (!chain) {
        if (m_clock.elapsed() >= m_chainWaitMs)
            return fail(QStringLiteral("no chain of nodes covers all %1 layers of model '%2' (waited %3 ms)")
                            .arg(m_model.config().layerCount)
                            .arg(QString::fromStdString(m_model.name()))
                            .arg(m_chainWaitMs));
        if (!m_retryTimer.isActive())
            m_retryTimer.start();
        return;
    }
    m_retryTimer.stop();
    m_chainChosen = true;
    for (const ChainStage& c : *chain) {
        Stage s;
        s.nodeId = c.nodeId;
        s.layers = c.layers;
        m_stages.push_back(std::move(s));
        m_host.sessionJoined(c.nodeId);
    }
    runPromptChunk();
}

void GenerationSession::runPromptChunk() {
    // Positions run so far are prompt tokens until the prompt is done.
    const auto begin = static_cast<size_t>(m_position);
    // Chunks of a multiple of 4 tokens keep llama.cpp's groups of 4 prompt tokens (its Q4_K gemm) whole, so
    // the rows round as in its whole-prompt batch (BatchPart::promptTokens).
    const size_t count = std::min(m_promptTokens.size() - begin, static_cast<size_t>(promptChunkTokens()));
    runStep(std::span<const int32_t>(m_promptTokens).subspan(begin, count));
}

void GenerationSession::runStep(std::span<const int32_t> tokens) {
    m_stepRows = static_cast<int64_t>(tokens.size());
    // Embeddings and the gateway's own layers first, on its compute thread: no node ever sees an embedding
    // row.
    m_gatewayCompute.runLayers(
        m_model, m_sessionId, m_position, std::vector<int32_t>(tokens.begin(), tokens.end()),
        static_cast<int64_t>(m_promptTokens.size()), static_cast<int>(m_stages.size()),
        [this](Expected<std::vector<float>> rows) { onGatewayLayersDone(std::move(rows)); });
}

void GenerationSession::onGatewayLayersDone(Expected<std::vector<float>> rows) {
    if (m_done)
        return;
    if (!rows)
        return fail(QStringLiteral("the gateway's layers failed: %1")
                        .arg(QString::fromStdString(rows.error().message)));
    if (m_stages.empty()) { // the gateway ran every layer
        const auto dim = static_cast<size_t>(m_model.config().embeddingLength);
        return handleFinalHidden(std::span<const float>(rows->data() + rows->size() - dim, dim));
    }
    if (m_failedStage && *m_failedStage == 0) {
        // The first node left while we computed: keep the rows; its replacement replays them (tryFailover).
        Stage& first = m_stages[0];
        first.history.insert(first.history.end(), rows->begin(), rows->end());
        first.rows += m_stepRows;
        m_currentStage = 0;
        return;
    }
    sendToStage(0, std::move(*rows), m_stepRows);
}

void GenerationSession::sendToStage(size_t index, std::vector<float> rows, int64_t rowCount) {
    Stage& stage = m_stages[index];
    stage.history.insert(stage.history.end(), rows.begin(), rows.end());
    stage.rows += rowCount;
    m_currentStage = index;
    dispatch(index);
}

void GenerationSession::dispatch(size_t index) {
    Stage& stage = m_stages[index];
    if (!m_host.nodeConnected(stage.nodeId))
        return failStage(index, QStringLiteral("node is not connected"));
    const int64_t dim = m_model.config().embeddingLength;
    const bool last = index + 1 == m_stages.size();
    const bool nextNeedsAllRows = !last && m_stages[index + 1].needsFullHistory;
    wire::StageRequest request;
    request.set_session_id(m_sessionId);
    request.set_step(m_step);
    request.set_model(m_model.name());
    request.set_layer_begin(static_cast<uint32_t>(stage.layers.begin));
    request.set_layer_end(static_cast<uint32_t>(stage.layers.end));
    request.set_hidden_size(static_cast<uint32_t>(dim));
    request.set_encoding(m_encoding);
    request.set_prompt_tokens(static_cast<uint32_t>(m_promptTokens.size()));
    request.set_prompt_chunk_tokens(static_cast<uint32_t>(promptChunkTokens())); // an int's range
    if (stage.needsReplay) {
        // A new node for this stage: it rebuilds the session's cache from every input so far (identical
        // numbers: batched prefill equals step-by-step decode) and returns this step's rows.
        request.set_replay(true);
        request.set_start_pos(0);
        request.set_n_tokens(static_cast<uint32_t>(stage.rows));
        request.set_hidden(wire::encodeHidden(stage.history, m_encoding));
        request.set_return_last_rows(nextNeedsAllRows ? 0 : static_cast<uint32_t>(last ? 1 : m_stepRows));
    } else {
        const auto begin = stage.history.end() - m_stepRows * dim;
        request.set_start_pos(static_cast<uint32_t>(m_position));
        request.set_n_tokens(static_cast<uint32_t>(m_stepRows));
        request.set_hidden(wire::encodeHidden(
            std::span<const float>(&*begin, static_cast<size_t>(m_stepRows * dim)), m_encoding));
        request.set_return_last_rows(last ? 1 : 0);
    }
    m_stats.hiddenBytesSent += request.hidden().size();
    ++m_stats.hops;
    m_inFlight = true; // from here the session waits for this stage, queued at the gateway or at the node
    // The host sends it when the node has room for this account (fair sharing between accounts); the
    // clock and the answer deadline start then, so waiting behind other accounts is not the node's delay.
    const std::string nodeId = stage.nodeId;
    m_host.queueStage(nodeId, m_request.account, m_sessionId,
                      [this, nodeId, index, request = std::move(request)] {
                          if (m_done || !m_inFlight || m_currentStage != index || index >= m_stages.size() ||
                              m_stages[index].nodeId != nodeId) {
                              m_host.stageSettled(nodeId, m_sessionId); // no longer wanted: free the slot
                              return;
                          }
                          if (!m_host.nodeConnected(nodeId)) {
                              m_inFlight = false;
                              return failStage(index, QStringLiteral("node is not connected"));
                          }
                          m_stageClock.start();
                          m_host.sendStage(nodeId, request);
                          m_currentTimeoutMs = m_host.answerTimeoutMs(nodeId, m_stageTimeoutMs);
                          m_stageTimer.start(m_currentTimeoutMs);
                      });
}

bool GenerationSession::awaits(const std::string& nodeId, uint64_t step) const {
    return !m_done && m_inFlight && m_currentStage < m_stages.size() &&
           nodeId == m_stages[m_currentStage].nodeId && step == m_step;
}

void GenerationSession::onStageResponse(const std::string& nodeId, const wire::StageResponse& response) {
    if (!awaits(nodeId, response.step()))
        return; // a late answer from a node we already replaced, for another step, or from a stranger
    Stage& stage = m_stages[m_currentStage];
    m_stageTimer.stop();
    m_inFlight = false;
    m_host.stageSettled(nodeId, m_sessionId);
    if (!response.error().empty())
        return failStage(m_currentStage,
                         QStringLiteral("node reported: %1").arg(net::boundedPeerQString(response.error())),
                         SessionHost::StageFault::NodeError);
    const uint32_t dim = static_cast<uint32_t>(m_model.config().embeddingLength);
    const bool last = m_currentStage + 1 == m_stages.size();
    const bool nextNeedsAllRows = !last && m_stages[m_currentStage + 1].needsFullHistory;
    const uint32_t expectedRows =
        nextNeedsAllRows ? static_cast<uint32_t>(stage.rows) : (last ? 1 : static_cast<uint32_t>(m_stepRows));
    if (response.hidden_size() != dim || response.n_tokens() != expectedRows ||
        response.layer_begin() != stage.layers.begin || response.layer_end() != stage.layers.end)
        return failStage(m_currentStage, QStringLiteral("answer has the wrong shape or layers"),
                         SessionHost::StageFault::InvalidAnswer);
    auto rows = wire::decodeHidden(response.hidden(), response.encoding(), response.n_tokens(),
                                   response.hidden_size());
    if (!rows)
        return failStage(m_currentStage, QString::fromStdString(rows.error().message),
                         SessionHost::StageFault::InvalidAnswer);
    // decodeHidden refused NaN and Inf. Values far beyond any real model's activations (the largest known
    // outliers are ~1e4) are garbage too: they would reach the head and the user as nonsense text.
    if (auto bad = std::find_if(rows->begin(), rows->end(),
                                [](float v) { return !(std::fabs(v) <= kMaxPlausibleHiddenValue); });
        bad != rows->end())
        return failStage(m_currentStage,
                         QStringLiteral("answer holds the implausible value %1 at index %2")
                             .arg(static_cast<double>(*bad), 0, 'g', 3)
                             .arg(static_cast<qint64>(bad - rows->begin())),
                         SessionHost::StageFault::InvalidAnswer);
    const int64_t rowsComputed =
        stage.needsReplay ? stage.rows : m_stepRows; // a replay recomputed the history
    // Placement orders nodes by what we measured here, never by what they say of themselves.
    m_host.stageAnswered(nodeId,
                         SessionHost::StageAnswer{static_cast<uint64_t>(stage.layers.size() * rowsComputed),
                                                  static_cast<uint64_t>(stage.layers.size()) *
                                                      static_cast<uint64_t>(m_stepRows),
                                                  m_stageClock.nsecsElapsed() / 1000});
    stage.needsReplay = false;
    // Keep what this node claimed, with positions, for the end-of-session check.
    const int64_t dim64 = static_cast<int64_t>(dim);
    const int64_t returned = static_cast<int64_t>(rows->size()) / dim64;
    for (int64_t r = 0; r < returned; ++r)
        stage.outputPositions.push_back(stage.rows - returned + r);
    stage.outputs.insert(stage.outputs.end(), rows->begin(), rows->end());
    // Credit follows accepted work: a replay rebuilds history, which is paid like the rows it recomputed.
    m_stats.nodeLayerTokens[nodeId] += stage.layers.size() * rowsComputed;
    if (last)
        return handleFinalHidden(*rows);
    if (nextNeedsAllRows) {
        // The next stage was split off a lost one: these rows are its whole input history.
        Stage& next = m_stages[m_currentStage + 1];
        next.history = std::move(*rows);
        next.rows = stage.rows;
        next.needsFullHistory = false;
        next.needsReplay = true;
        m_currentStage += 1;
        return dispatch(m_currentStage);
    }
    sendToStage(m_currentStage + 1, std::move(*rows), m_stepRows);
}

void GenerationSession::handleFinalHidden(std::span<const float> lastRow) {
    if (m_position + m_stepRows < static_cast<int64_t>(m_promptTokens.size())) {
        // A prompt chunk that is not the last: nothing to sample yet, the next chunk follows.
        m_position += m_stepRows;
        ++m_step;
        return runPromptChunk();
    }
    // On the gateway's compute thread, batched with the other sessions whose rows arrived meanwhile: the
    // head, this session's sampler, and when the token goes on its embedding and the gateway's layers.
    GatewayCompute::TokenPlan plan;
    plan.startPos = m_position + m_stepRows;
    plan.promptTokens = static_cast<int64_t>(m_promptTokens.size());
    plan.nodeStages = static_cast<int>(m_stages.size());
    plan.stopIds.assign(m_model.stopIds().begin(), m_model.stopIds().end());
    plan.more = m_stats.generatedTokens + 1 < m_request.maxTokens;
    Sampler sampler = std::move(*m_sampler);
    m_sampler.reset(); // with the compute thread until the step comes back
    m_gatewayCompute.nextToken(
        m_model, m_sessionId, std::vector<float>(lastRow.begin(), lastRow.end()), std::move(sampler),
        std::move(plan), [this](Expected<GatewayCompute::TokenStep> step) { onTokenStep(std::move(step)); });
}

void GenerationSession::onTokenStep(Expected<GatewayCompute::TokenStep> step) {
    if (m_done)
        return;
    if (!step)
        return fail(QString::fromStdString(step.error().message));
    m_sampler.emplace(std::move(step->sampler));
    const int32_t next = step->token;
    m_position += m_stepRows;
    ++m_step;
    if (step->stopped)
        return finish("stop");
    ++m_stats.generatedTokens;
    if (m_stats.timeToFirstTokenMs < 0)
        m_stats.timeToFirstTokenMs = m_clock.elapsed();
    if (m_sinks.token)
        m_sinks.token(next, m_decoder->push(next));
    if (m_done)
        return; // the client ended the request from its token callback (e.g. a stop sequence matched)
    if (m_stats.generatedTokens >= m_request.maxTokens) // TokenPlan::more was false: no rows came back
        return finish("length");
    m_stepRows = 1;
    onGatewayLayersDone(std::move(step->rows));
}

void GenerationSession::failStage(size_t index, const QString& reason, SessionHost::StageFault fault) {
    if (m_done || index >= m_stages.size())
        return;
    m_stageTimer.stop();
    Stage& stage = m_stages[index];
    m_host.stageSettled(stage.nodeId, m_sessionId);
    qInfo("session %llx: stage %zu (layers %lld-%lld) on node %s failed: %s",
          static_cast<unsigned long long>(m_sessionId), index, static_cast<long long>(stage.layers.begin),
          static_cast<long long>(stage.layers.end), stage.nodeId.substr(0, 12).c_str(), qPrintable(reason));
    // Remembered beyond this session (copied: the host may cut the node off, which re-enters us).
    const std::string failedNode = stage.nodeId;
    m_excluded.insert(failedNode);
    m_host.stageFailed(failedNode, fault, reason);
    if (m_done)
        return;
    m_host.sessionLeft(stage.nodeId, m_sessionId); // it may still hold a cache for us
    m_excluded.insert(stage.nodeId);
    m_failedStage = index;
    m_failoverClock.start();
    tryFailover();
}

bool GenerationSession::replaceStage(size_t index) {
    const Stage old = m_stages[index];
    auto cover = m_host.coverOf(m_model.name(), old.layers, m_excluded);
    if (!cover)
        return false;
    std::vector<Stage> replacement;
    for (size_t k = 0; k < cover->size(); ++k) {
        Stage s;
        s.nodeId = (*cover)[k].nodeId;
        s.layers = (*cover)[k].layers;
        s.needsReplay = true;
        if (k == 0) {
            s.history = old.history;
            s.rows = old.rows;
        } else {
            s.needsFullHistory = true;
        }
        m_host.sessionJoined(s.nodeId);
        ++m_stats.failovers;
        qInfo("session %llx: layers %lld-%lld move to node %s, which rebuilds them from %lld stored rows",
              static_cast<unsigned long long>(m_sessionId), static_cast<long long>(s.layers.begin),
              static_cast<long long>(s.layers.end), s.nodeId.substr(0, 12).c_str(),
              static_cast<long long>(old.rows));
        replacement.push_back(std::move(s));
    }
    m_stages.erase(m_stages.begin() + static_cast<std::ptrdiff_t>(index));
    m_stages.insert(m_stages.begin() + static_cast<std::ptrdiff_t>(index), replacement.begin(),
                    replacement.end());
    return true;
}

void GenerationSession::tryFailover() {
    if (!m_failedStage || m_done)
        return;
    const size_t index = *m_failedStage;
    const LayerRange layers = m_stages[index].layers;
    if (replaceStage(index)) {
        m_retryTimer.stop();
        m_failedStage.reset();
        // Stages after a lost node that were not busy rebuild lazily when the step reaches them.
        if (index == m_currentStage)
            dispatch(index);
        return;
    }
    if (m_failoverClock.elapsed() >= m_failoverDeadlineMs)
        return fail(
            QStringLiteral("layers %1-%2 of model '%3' are held by no live node and none could load them "
                           "within %4 ms")
                .arg(layers.begin)
                .arg(layers.end)
                .arg(QString::fromStdString(m_model.name()))
                .arg(m_failoverDeadlineMs));
    if (!m_host.requestCoverage(m_model.name(), layers, m_excluded))
        return fail(QStringLiteral("no live node is left to serve layers %1-%2 of model '%3'")
                        .arg(layers.begin)
                        .arg(layers.end)
                        .arg(QString::fromStdString(m_model.name())));
    if (!m_retryTimer.isActive())
        m_retryTimer.start();
}

void GenerationSession::onNodeLost(const std::string& nodeId, const QString& reason) {
    if (m_done)
        return;
    m_excluded.insert(nodeId);
    for (size_t i = 0; i < m_stages.size(); ++i) {
        if (m_stages[i].nodeId != nodeId)
            continue;
        if (i == m_currentStage && m_inFlight) {
            m_inFlight = false;
            failStage(i, reason);
            return;
        }
        // Not busy right now: re-route it; the new node rebuilds when the step reaches it.
        if (!replaceStage(i) && !m_failedStage) {
            failStage(i, reason);
            return;
        }
    }
}

void GenerationSession::onShardReady(const std::string& model) {
    if (model != m_model.name() || m_done)
        return;
    if (m_failedStage)
        tryFailover();
    else if (!m_chainChosen)
        tryStartChain();
}

void GenerationSession::endRemoteSessions() {
    m_gatewayCompute.endSession(m_sessionId);
    std::set<std::string> told;
    for (const Stage& s : m_stages) {
        if (told.insert(s.nodeId).second)
            m_host.sessionLeft(s.nodeId, m_sessionId);
    }
}

void GenerationSession::reportWork() {
    std::vector<SessionHost::StageWork> work;
    for (const Stage& s : m_stages) {
        if (s.outputs.empty())
            continue;
        work.push_back(SessionHost::StageWork{s.nodeId, s.layers, &s.history, s.rows,
                                              static_cast<int64_t>(m_promptTokens.size()),
                                              promptChunkTokens(), &s.outputs, &s.outputPositions});
    }
    if (!work.empty())
        m_host.sessionWork(m_model.name(), work);
}

void GenerationSession::finish(const std::string& reason) {
    if (m_done)
        return;
    m_done = true;
    reportWork();
    m_stageTimer.stop();
    m_retryTimer.stop();
    m_stats.totalMs = m_clock.elapsed();
    endRemoteSessions();
    const std::string tail = m_decoder ? m_decoder->flush() : std::string();
    if (m_sinks.finished)
        m_sinks.finished(reason, tail, m_stats);
    m_host.sessionFinished(this);
}

void GenerationSession::fail(const QString& reason) {
    if (m_done)
        return;
    m_done = true;
    // Nodes are paid for accepted work on this path too (docs/ledger.md), so it is sampled for
    // verification like a completed session's.
    reportWork();
    m_stageTimer.stop();
    m_retryTimer.stop();
    m_stats.totalMs = m_clock.elapsed();
    endRemoteSessions();
    if (m_sinks.failed)
        m_sinks.failed(reason.toStdString(), m_stats);
    m_host.sessionFinished(this);
}

void GenerationSession::cancel(const QString& reason) {
    if (!m_done)
        m_stats.cancelled = true;
    fail(reason);
}

} // namespace declai::server
