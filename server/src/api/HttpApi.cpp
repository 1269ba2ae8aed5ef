#include "HttpApi.h"

#include "ApiOperations.h"
#include "declai/server/ModelStore.h"
#include "declai/server/Orchestrator.h"

#include <QDateTime>
#include <QFile>
#include <QHttpServerResponder>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPointer>

namespace declai::server::api {
namespace {

QString methodName(QHttpServerRequest::Method m) {
    switch (m) {
    case QHttpServerRequest::Method::Get:
        return QStringLiteral("GET");
    case QHttpServerRequest::Method::Post:
        return QStringLiteral("POST");
    default:
        return QStringLiteral("this method");
    }
}

// "Authorization: Bearer KEY" (the scheme is case-insensitive).
std::string bearerToken(const QHttpServerRequest& request) {
    const QByteArray value = request.value(QByteArrayLiteral("authorization")).trimmed();
    if (value.size() > 7 && value.left(7).toLower() == "bearer ")
        return value.mid(7).trimmed().toStdString();
    return {};
}

} // namespace

HttpApi::HttpApi(Orchestrator& orchestrator, const ModelStore& store, const ApiKeyAuthenticator& auth,
                 std::function<QJsonObject()> frontDoorJson, QObject* parent)
    : QObject(parent), m_orchestrator(orchestrator), m_store(store), m_auth(auth),
      m_frontDoorJson(std::move(frontDoorJson)), m_completions(orchestrator, m_metrics, chatTemplateOf()),
      m_startedS(QDateTime::currentSecsSinceEpoch()) {
    for (const auto& entry : m_store.models())
        if (entry->file)
            if (auto t = entry->file->getStringOr("tokenizer.chat_template", std::string()))
                m_chatTemplates[entry->name.toStdString()] = *t;
    // Every generation's end (WebSocket and HTTP): tokens, latency histograms, outcomes.
    m_orchestrator.setSessionEndObserver(
        [this](const std::string&, const SubmitEnd& end) { m_metrics.requestEnded(end); });
}

HttpApi::~HttpApi() {
    m_orchestrator.setSessionEndObserver({});
}

std::function<std::string(const std::string&)> HttpApi::chatTemplateOf() const {
    return [this](const std::string& model) {
        auto it = m_chatTemplates.find(model);
        return it == m_chatTemplates.end() ? std::string() : it->second;
    };
}

void HttpApi::enableJsonRpc(CreditService* credits, qint64 maxMessageBytes) {
    m_jsonRpc =
        std::make_unique<JsonRpcServer>(m_completions, m_orchestrator, m_auth, credits, maxMessageBytes);
}

void HttpApi::acceptJsonRpc(std::unique_ptr<QWebSocket> socket) {
    if (!m_jsonRpc) {
        socket->close(QWebSocketProtocol::CloseCodeAbnormalDisconnection);
        return;
    }
    m_jsonRpc->accept(std::move(socket));
}

QByteArray HttpApi::openApiDocument() {
    QFile f(QStringLiteral(":/declai/api/openapi.yaml"));
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void HttpApi::answer(HttpReply& reply, const QString& route, int status, const QJsonObject& body,
                     const HeaderList& headers) {
    reply.sendJson(status, body, headers);
    m_metrics.httpAnswered(route, status);
}

void HttpApi::answerError(HttpReply& reply, const QString& route, const ApiError& error) {
    reply.sendError(error);
    m_metrics.httpAnswered(route, error.status);
}

void HttpApi::addRoute(QHttpServer& http, const QString& path, QHttpServerRequest::Method method,
                       Access access, Handler handler) {
    http.route(path, [this, path, method, access, handler = std::move(handler)](
                         const QHttpServerRequest& request, QHttpServerResponder&& responder) {
        HttpReply reply(responder.socket());
        if (request.method() != method) {
            ApiError e;
            e.status = 405;
            e.message = QStringLiteral("%1 takes %2 only").arg(path, methodName(method));
            e.code = QStringLiteral("method_not_allowed");
            return answerError(reply, path, e);
        }
        ApiIdentity anonymous{std::string(), ApiRole::Operator, std::string()};
        if (access == Access::Public || !m_auth.keysRequired())
            return handler(request.body(), anonymous, reply);
        const std::string key = bearerToken(request);
        if (key.empty()) {
            ApiError e;
            e.status = 401;
            e.message = QStringLiteral("an API key is required: send \"Authorization: Bearer KEY\" (keys "
                                       "come from the gateway operator: declai-server user add NAME)");
            e.code = QStringLiteral("invalid_api_key");
            return answerError(reply, path, e);
        }
        // The key is looked up on the ledger's store thread; the event loop goes on meanwhile and the answer
        // comes back here, when the client may have left (HttpReply then drops what is sent).
        m_auth.authenticateThen(
            key, this,
            [this, path, access, handler, body = request.body(),
             reply](Expected<ApiIdentity> identity) mutable {
                if (!identity) {
                    ApiError e;
                    e.status = 401;
                    e.message = QString::fromStdString(identity.error().message);
                    e.code = QStringLiteral("invalid_api_key");
                    return answerError(reply, path, e);
                }
                if (access == Access::Operator && identity->role != ApiRole::Operator) {
                    ApiError e;
                    e.status = 403;
                    e.message =
                        QStringLiteral("%1 is for operators (declai-server --api-operator NAME)").arg(path);
                    e.type = QStringLiteral("permission_error");
                    e.code = QStringLiteral("permission_denied");
                    return answerError(reply, path, e);
                }
                handler(body, *identity, reply);
            });
    });
}

QJsonObject HttpApi::modelsJson() const {
    QJsonArray data;
    QJsonArray legacy; // the list nodes and tools read before the OpenAI shape: name, digest, layers, size
    for (const auto& e : m_store.models()) {
        const QJsonObject details{{QStringLiteral("digest"), QString::fromStdString(e->manifest.digest)},
                                  {QStringLiteral("layers"), qint64(e->manifest.layerCount)},
                                  {QStringLiteral("size"), qint64(e->manifest.fileSizeBytes)}};
        QJsonObject model{{QStringLiteral("id"), e->name},
                          {QStringLiteral("object"), QStringLiteral("model")},
                          {QStringLiteral("created"), m_startedS},
                          {QStringLiteral("owned_by"), QStringLiteral("declai")},
                          {QStringLiteral("context_length"), qint64(e->config.contextLength)}};
        QJsonObject old{{QStringLiteral("name"), e->name}};
        for (auto it = details.begin(); it != details.end(); ++it) {
            model.insert(it.key(), it.value());
            old.insert(it.key(), it.value());
        }
        data.append(model);
        legacy.append(old);
    }
    return QJsonObject{{QStringLiteral("object"), QStringLiteral("list")},
                       {QStringLiteral("data"), data},
                       {QStringLiteral("models"), legacy}};
}

std::optional<QString> HttpApi::notReadyReason() const {
    QStringList uncovered;
    for (const std::string& name : m_orchestrator.modelNames())
        if (!m_orchestrator.chainFor(name, {}))
            uncovered.append(QString::fromStdString(name));
    if (uncovered.isEmpty())
        return std::nullopt;
    return QStringLiteral("no live nodes cover every layer of: %1 (%2 node(s) connected)")
        .arg(uncovered.join(QStringLiteral(", ")))
        .arg(m_orchestrator.nodeCount());
}

void HttpApi::registerRoutes(QHttpServer& http) {
    using Method = QHttpServerRequest::Method;
    // Runs on the gateway thread for every path no route matches.
    http.setMissingHandler([this](const QHttpServerRequest& request, QHttpServerResponder&& responder) {
        HttpReply reply(responder.socket());
        ApiError e;
        e.status = 404;
        e.message = QStringLiteral("no such endpoint: %1 (see /openapi.json)").arg(request.url().path());
        e.code = QStringLiteral("unknown_url");
        answerError(reply, QStringLiteral("unmatched"), e);
    });
    addRoute(http, QStringLiteral("/v1/models"), Method::Get, Access::User,
             [this](const QByteArray&, const ApiIdentity&, HttpReply& reply) {
                 answer(reply, QStringLiteral("/v1/models"), 200, modelsJson());
             });
    addRoute(http, QStringLiteral("/v1/completions"), Method::Post, Access::User,
             [this](const QByteArray& body, const ApiIdentity& caller, HttpReply& reply) {
                 m_completions.handle(body, false, caller, reply, QStringLiteral("/v1/completions"));
             });
    addRoute(http, QStringLiteral("/v1/chat/completions"), Method::Post, Access::User,
             [this](const QByteArray& body, const ApiIdentity& caller, HttpReply& reply) {
                 m_completions.handle(body, true, caller, reply, QStringLiteral("/v1/chat/completions"));
             });
    addRoute(http, QStringLiteral("/v1/quote"), Method::Post, Access::User,
             [this](const QByteArray& body, const ApiIdentity& caller, HttpReply& reply) {
                 const QString route = QStringLiteral("/v1/quote");
                 auto parsed = parseJsonObject(body);
                 if (auto* error = std::get_if<ApiError>(&parsed))
                     return answerError(reply, route, *error);
                 const uint64_t id = m_nextQuoteId++;
                 // Answered when the ledger has read the balance; HttpReply drops it if the client left.
                 quoteOperation(m_orchestrator, std::get<QJsonObject>(parsed), caller, chatTemplateOf(),
                                "http-quote-" + std::to_string(id), id,
                                [self = QPointer<HttpApi>(this), reply,
                                 route](std::variant<QJsonObject, ApiError> quoted) mutable {
                                    if (!self)
                                        return;
                                    if (auto* error = std::get_if<ApiError>(&quoted))
                                        return self->answerError(reply, route, *error);
                                    self->answer(reply, route, 200, std::get<QJsonObject>(quoted));
                                });
             });
    addRoute(http, QStringLiteral("/metrics"), Method::Get, Access::Public,
             [this](const QByteArray&, const ApiIdentity&, HttpReply& reply) {
                 reply.send(200, QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8"),
                            m_metrics.render(m_orchestrator, m_doors));
                 m_metrics.httpAnswered(QStringLiteral("/metrics"), 200);
             });
    addRoute(http, QStringLiteral("/healthz"), Method::Get, Access::Public,
             [this](const QByteArray&, const ApiIdentity&, HttpReply& reply) {
                 reply.send(200, QByteArrayLiteral("text/plain"), QByteArrayLiteral("ok"));
                 m_metrics.httpAnswered(QStringLiteral("/healthz"), 200);
             });
    addRoute(http, QStringLiteral("/readyz"), Method::Get, Access::Public,
             [this](const QByteArray&, const ApiIdentity&, HttpReply& reply) {
                 if (auto reason = notReadyReason())
                     return answer(
                         reply, QStringLiteral("/readyz"), 503,
                         QJsonObject{{QStringLiteral("ready"), false}, {QStringLiteral("reason"), *reason}},
                         {{QByteArrayLiteral("Retry-After"), QByteArrayLiteral("5")}});
                 answer(reply, QStringLiteral("/readyz"), 200, QJsonObject{{QStringLiteral("ready"), true}});
             });
    // /v1/status stays readable without a key: the swarm's own tools and tests watch placement through it.
    // It names nodes and sessions but no accounts, prompts or keys.
    addRoute(http, QStringLiteral("/v1/status"), Method::Get, Access::Public,
             [this](const QByteArray&, const ApiIdentity&, HttpReply& reply) {
                 QJsonObject status = m_orchestrator.statusJson();
                 if (m_frontDoorJson)
                     status.insert(QStringLiteral("front_door"), m_frontDoorJson());
                 answer(reply, QStringLiteral("/v1/status"), 200, status);
             });
    addRoute(http, QStringLiteral("/v1/nodes"), Method::Get, Access::Operator,
             [this](const QByteArray&, const ApiIdentity&, HttpReply& reply) {
                 answer(reply, QStringLiteral("/v1/nodes"), 200,
                        QJsonObject{{QStringLiteral("object"), QStringLiteral("list")},
                                    {QStringLiteral("data"),
                                     m_orchestrator.statusJson().value(QStringLiteral("nodes")).toArray()}});
             });
    addRoute(http, QStringLiteral("/openapi.json"), Method::Get, Access::Public,
             [this](const QByteArray&, const ApiIdentity&, HttpReply& reply) {
                 const QByteArray doc = openApiDocument();
                 // The committed document is written in JSON syntax (YAML is a superset): served as is.
                 reply.send(doc.isEmpty() ? 500 : 200, QByteArrayLiteral("application/json"), doc);
                 m_metrics.httpAnswered(QStringLiteral("/openapi.json"), doc.isEmpty() ? 500 : 200);
             });
}

} // namespace declai::server::api
