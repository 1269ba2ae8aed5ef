// POST /v1/completions and POST /v1/chat/completions: OpenAI's request and response shapes over
// Orchestrator::submit (the same entry declai-cli's WebSocket Submit uses). Non-streaming answers come when
// the generation ends; `stream: true` answers with Server-Sent Events as tokens arrive. A client that leaves
// cancels its generation at once (Orchestrator::cancel): the nodes stop and only what was produced is
// charged. Threading: gateway thread only; the orchestrator's callbacks arrive there.
#pragma once

#include "ChatPrompt.h"
#include "HttpReply.h"
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

class CompletionsHandler : public QObject {
    Q_OBJECT

public:
    CompletionsHandler(Orchestrator& orchestrator, MetricsRegistry& metrics,
                       std::function<std::string(const std::string&)> templateOf, QObject* parent = nullptr);
    ~CompletionsHandler() override;

    // Takes over the connection's answer. `route` labels metrics.
    void handle(const QByteArray& body, bool chat, const ApiIdentity& caller, HttpReply reply,
                const QString& route);
    size_t callsInFlight() const { return m_calls.size(); }

private:
    struct Call;
    void onToken(uint64_t id, const std::string& text);
    void onEnded(uint64_t id, const SubmitEnd& end);
    void clientGone(uint64_t id);
    void finishCall(uint64_t id, int status); // answered: drop the call (deferred)
    Call* find(uint64_t id);

    Orchestrator& m_orchestrator;
    MetricsRegistry& m_metrics;
    std::function<std::string(const std::string&)> m_templateOf;
    std::map<uint64_t, std::unique_ptr<Call>> m_calls;
    uint64_t m_nextId = 1;
};

} // namespace declai::server::api
