// POST /v1/completions and POST /v1/chat/completions: OpenAI's request and response shapes over
// Orchestrator::submit (the same entry declai-cli's WebSocket Submit uses). The JSON-RPC methods submit and
// stream (JsonRpcServer) run through the same CompletionsHandler::start with a sink of their own.
// Non-streaming answers come when the generation ends; `stream: true` answers with Server-Sent Events as
// tokens arrive. A client that leaves cancels its generation at once (Orchestrator::cancel): the nodes stop
// and only what was produced is charged. Threading: gateway thread only; the orchestrator's callbacks arrive
// there.
#pragma once

#include "ChatPrompt.h"
#include "HttpReply.h"
#include "SseWriter.h"
#include "StopMatcher.h"
#include "declai/core/Sampler.h"
#include "declai/server/ApiKeyAuthenticator.h"
#include "declai/server/PriorityScheduler.h"

#include <QByteArray>
#include <QObject>
#include <functional>
#include <map>
#include <memory>
#include <variant>

namespace declai::server {
class Orchestrator;
struct SubmitEnd;
struct SubmitRefused;
struct SubmitRequest;
struct SubmitAccepted;
using SubmitDecision = std::variant<SubmitAccepted, SubmitRefused>;
} // namespace declai::server

namespace declai::server::api {

class MetricsRegistry;

// A request body, checked: every refusal names the field (ApiError::param).
struct CompletionParams {
    bool chat = false;
    std::string model;
    std::string prompt;                  // the text the model continues (chat: rendered by renderChatPrompt)
    std::vector<TextRange> promptMarkup; // chat: where the template wrote
    QString chatTemplateFamily;          // chat only
    uint32_t maxTokens = 16;
    bool maxTokensGiven = false; // else maxTokens is a default that shrinks to fit the context
    SamplerConfig sampler;
    std::vector<std::string> stop;
    bool stream = false;
    bool includeUsage = false;
    Priority priority = Priority::Normal;
};

// templateOf: a served model's tokenizer.chat_template ("" when none or unknown model).
std::variant<CompletionParams, ApiError>
parseCompletionRequest(const QByteArray& body, bool chat,
                       const std::function<std::string(const std::string&)>& templateOf);

// A request body that must be one JSON object (400 invalid_json otherwise).
std::variant<QJsonObject, ApiError> parseJsonObject(const QByteArray& body);
// The same checks on a parsed JSON object (the JSON-RPC face passes its params here).
std::variant<CompletionParams, ApiError>
parseCompletionParams(const QJsonObject& body, bool chat,
                      const std::function<std::string(const std::string&)>& templateOf);

// What the orchestrator is asked for a checked request (generation and quotes build it the same way).
SubmitRequest submitRequestOf(const CompletionParams& params, const ApiIdentity& caller,
                              std::string connectionId, uint64_t requestId);
// The HTTP error of a refused submit (400, 402, 404, 429, 503, 500).
ApiError refusalError(const SubmitRefused& refused);

// Where one generation's answer goes: an HTTP exchange (JSON, or Server-Sent Events) or a JSON-RPC call on
// the gateway's WebSocket (JsonRpcServer). CompletionsHandler drives both the same way.
class CompletionSink {
public:
    virtual ~CompletionSink() = default;
    virtual bool connected() const = 0;
    // With stream: true only: one OpenAI chunk object (a text piece, the finish chunk, the usage chunk).
    virtual void chunk(const QJsonObject& chunk) = 0;
    // The end: the whole answer (all the text, finish_reason, usage), also after a stream.
    virtual void completed(const QJsonObject& completion) = 0;
    // Refused before it ran, or failed or cancelled (status 499) after it began.
    virtual void failed(const ApiError& error) = 0;
};

// The HTTP face: a JSON answer, or Server-Sent Events ending with data: [DONE].
class HttpCompletionSink : public CompletionSink {
public:
    HttpCompletionSink(HttpReply reply, HeaderList headers, bool stream)
        : m_reply(std::move(reply)), m_headers(std::move(headers)), m_stream(stream),
          m_sse(m_reply, m_headers) {}
    bool connected() const override { return m_reply.connected(); }
    void chunk(const QJsonObject& chunk) override;
    void completed(const QJsonObject& completion) override;
    void failed(const ApiError& error) override;

private:
    HttpReply m_reply;
    HeaderList m_headers;
    bool m_stream;
    SseWriter m_sse;
};

class CompletionsHandler : public QObject {
    Q_OBJECT

public:
    CompletionsHandler(Orchestrator& orchestrator, MetricsRegistry& metrics,
                       std::function<std::string(const std::string&)> templateOf, QObject* parent = nullptr);
    ~CompletionsHandler() override;

    // HTTP: takes over the connection's answer. `route` labels metrics.
    void handle(const QByteArray& body, bool chat, const ApiIdentity& caller, HttpReply reply,
                const QString& route);
    // Any transport: runs a checked request and answers on `sink`. connectionId: the caller's connection for
    // the orchestrator's in-flight limit ("" for one of its own). Returns the call's id; active(id) is false
    // when it already ended (refused, or done inside submit). The answer may begin after the ledger placed
    // the request's hold (Orchestrator::submit decides later); the gateway thread never waits for it.
    uint64_t start(CompletionParams params, const ApiIdentity& caller, std::string connectionId,
                   std::unique_ptr<CompletionSink> sink, const QString& route);
    bool active(uint64_t id) const;
    // The caller asks to stop: the nodes stop, what was produced is charged, and the sink gets failed()
    // with status 499 (cancelled). False when the call is unknown or over.
    bool cancel(uint64_t id, const QString& reason);
    // The caller left: the same, with nobody to answer.
    void clientGone(uint64_t id);
    size_t callsInFlight() const { return m_calls.size(); }
    const std::function<std::string(const std::string&)>& templateOf() const { return m_templateOf; }

private:
    struct Call;
    void onDecided(uint64_t id, const SubmitDecision& decision);
    // Cancelled or left before the orchestrator decided (its hold may still be on the way).
    void endUndecided(uint64_t id, const QString& reason);
    void onToken(uint64_t id, const std::string& text);
    void onEnded(uint64_t id, const SubmitEnd& end);
    void finishCall(uint64_t id, int status); // answered: drop the call (deferred)
    Call* find(uint64_t id);

    Orchestrator& m_orchestrator;
    MetricsRegistry& m_metrics;
    std::function<std::string(const std::string&)> m_templateOf;
    std::map<uint64_t, std::unique_ptr<Call>> m_calls;
    uint64_t m_nextId = 1;
};

} // namespace declai::server::api
