// The gateway's HTTP API (docs/api.md, docs/api/openapi.yaml): OpenAI-compatible generation
// (/v1/models, /v1/completions, /v1/chat/completions), /v1/quote, /metrics, /healthz, /readyz, /v1/status,
// /v1/nodes and /openapi.json. Routes are registered on a QHttpServer: the gateway's own (beside the
// WebSocket upgrade on "/") and, with --http-listen, a second one that serves the API alone. Keys:
// "Authorization: Bearer KEY", checked by an ApiKeyAuthenticator. Threading: gateway thread only; no handler
// blocks (generation answers come later, from the orchestrator).
#pragma once

#include "CompletionsHandler.h"
#include "HttpReply.h"
#include "JsonRpcServer.h"
#include "MetricsRegistry.h"
#include "declai/server/ApiKeyAuthenticator.h"

#include <QHttpServer>
#include <QHttpServerRequest>
#include <QObject>
#include <functional>
#include <map>
#include <vector>

namespace declai::net {
class FrontDoor;
}

namespace declai::server {
class CreditService;
class ModelStore;
class Orchestrator;
} // namespace declai::server

namespace declai::server::api {

class HttpApi : public QObject {
    Q_OBJECT

public:
    // frontDoorJson: the connection counters /v1/status reports.
    HttpApi(Orchestrator& orchestrator, const ModelStore& store, const ApiKeyAuthenticator& auth,
            std::function<QJsonObject()> frontDoorJson, QObject* parent = nullptr);
    ~HttpApi() override;

    // Registers every route on `http` (call before other routes: the first matching rule answers).
    void registerRoutes(QHttpServer& http);
    // Listeners whose connection counters /metrics reports.
    void addFrontDoor(const net::FrontDoor* door) { m_doors.push_back(door); }
    MetricsRegistry& metrics() { return m_metrics; }
    // The same operations as JSON-RPC over the gateway's WebSocket (JsonRpcServer); credits may be null.
    // maxMessageBytes: the largest call a client may send (as the HTTP body cap).
    void enableJsonRpc(CreditService* credits, qint64 maxMessageBytes);
    // A WebSocket upgraded on /v1/rpc; closed when enableJsonRpc was not called.
    void acceptJsonRpc(std::unique_ptr<QWebSocket> socket);
    // The OpenAPI document served at /openapi.json (docs/api/openapi.yaml, compiled in).
    static QByteArray openApiDocument();

private:
    enum class Access { Public, User, Operator };
    // body: the request body (the handlers need nothing else of the request).
    using Handler = std::function<void(const QByteArray& body, const ApiIdentity&, HttpReply&)>;
    void addRoute(QHttpServer& http, const QString& path, QHttpServerRequest::Method method, Access access,
                  Handler handler);
    void answer(HttpReply& reply, const QString& route, int status, const QJsonObject& body,
                const HeaderList& headers = {});
    void answerError(HttpReply& reply, const QString& route, const ApiError& error);

    QJsonObject modelsJson() const;
    // A served model's tokenizer.chat_template ("" when none); valid while this HttpApi lives.
    std::function<std::string(const std::string&)> chatTemplateOf() const;
    std::optional<QString> notReadyReason() const;

    Orchestrator& m_orchestrator;
    const ModelStore& m_store;
    const ApiKeyAuthenticator& m_auth;
    std::function<QJsonObject()> m_frontDoorJson;
    MetricsRegistry m_metrics;
    CompletionsHandler m_completions;
    std::map<std::string, std::string> m_chatTemplates; // model -> tokenizer.chat_template
    std::vector<const net::FrontDoor*> m_doors;
    qint64 m_startedS = 0;
    uint64_t m_nextQuoteId = 1;
    std::unique_ptr<JsonRpcServer> m_jsonRpc;
};

} // namespace declai::server::api
