#include "JsonRpcServer.h"

#include "AccountRoutes.h"
#include "ApiOperations.h"
#include "declai/server/Orchestrator.h"
#include "declai/server/PostTo.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <cmath>
#include <utility>

namespace declai::server::api {
namespace {

constexpr qsizetype kMaxEarlyCalls = 16; // calls held while the key is being checked
constexpr qsizetype kMaxIdChars = 256;   // a longer string id is refused (it is echoed in every answer)

bool validId(const QJsonValue& id) {
    if (id.isNull() || (id.isString() && id.toString().size() <= kMaxIdChars))
        return true;
    if (!id.isDouble())
        return false;
    const double d = id.toDouble();
    return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15;
}

QString idKey(const QJsonValue& id) {
    return QString::fromUtf8(QJsonDocument(QJsonArray{id}).toJson(QJsonDocument::Compact));
}

RpcError rpcError(int code, const QString& message, const QJsonValue& id = QJsonValue::Null,
                  const QJsonValue& data = QJsonValue::Undefined) {
    return RpcError{code, message, data, id};
}

// A JSON-RPC call's answer lands here: notifications while it streams, then its result or error.
class RpcSink : public CompletionSink {
public:
    RpcSink(QWebSocket* socket, QJsonValue id, std::function<void()> over)
        : m_socket(socket), m_id(std::move(id)), m_over(std::move(over)) {}
    bool connected() const override {
        return m_socket && m_socket->state() == QAbstractSocket::ConnectedState;
    }
    void chunk(const QJsonObject& chunk) override {
        send(QJsonObject{{QStringLiteral("jsonrpc"), QStringLiteral("2.0")},
                         {QStringLiteral("method"), QStringLiteral("chunk")},
                         {QStringLiteral("params"),
                          QJsonObject{{QStringLiteral("id"), m_id}, {QStringLiteral("chunk"), chunk}}}});
    }
    void completed(const QJsonObject& completion) override {
        m_over();
        send(rpcResult(m_id, completion));
    }
    void failed(const ApiError& error) override {
        m_over();
        send(rpcErrorResponse(rpcErrorOf(error, m_id)));
    }

private:
    void send(const QJsonObject& message) {
        if (connected())
            m_socket->sendTextMessage(
                QString::fromUtf8(QJsonDocument(message).toJson(QJsonDocument::Compact)));
    }
    QPointer<QWebSocket> m_socket;
    QJsonValue m_id;
    std::function<void()> m_over;
};

} // namespace

std::variant<RpcCall, RpcError> parseRpcMessage(const QByteArray& message) {
    QJsonParseError parseError{};
    const QJsonDocument doc = QJsonDocument::fromJson(message, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        // Qt parses only objects and arrays at the top; a bare scalar is valid JSON but not a call.
        const QJsonDocument wrapped = QJsonDocument::fromJson('[' + message + ']');
        if (wrapped.isArray() && wrapped.array().size() == 1)
            return rpcError(kRpcInvalidRequest, QStringLiteral("a call is a JSON object"));
        return rpcError(kRpcParseError, QStringLiteral("parse error: %1 at byte %2")
                                            .arg(parseError.errorString())
                                            .arg(parseError.offset));
    }
    if (doc.isArray())
        return rpcError(kRpcInvalidRequest,
                        QStringLiteral("batches are not supported: send one call per message"));
    if (!doc.isObject())
        return rpcError(kRpcInvalidRequest, QStringLiteral("a call is a JSON object"));
    const QJsonObject o = doc.object();
    RpcCall call;
    call.id = o.value(QStringLiteral("id"));
    if (!call.id.isUndefined() && !validId(call.id))
        return rpcError(kRpcInvalidRequest,
                        QStringLiteral("id must be a string (at most %1 characters), an integer or null")
                            .arg(kMaxIdChars));
    const QJsonValue answerId = call.id.isUndefined() ? QJsonValue(QJsonValue::Null) : call.id;
    if (o.value(QStringLiteral("jsonrpc")) != QJsonValue(QStringLiteral("2.0")))
        return rpcError(kRpcInvalidRequest, QStringLiteral("jsonrpc must be \"2.0\""), answerId);
    const QJsonValue method = o.value(QStringLiteral("method"));
    if (!method.isString() || method.toString().isEmpty())
        return rpcError(kRpcInvalidRequest, QStringLiteral("method must be a non-empty string"), answerId);
    call.method = method.toString();
    const QJsonValue params = o.value(QStringLiteral("params"));
    if (!params.isUndefined() && !params.isNull()) {
        if (!params.isObject())
            return rpcError(kRpcInvalidParams, QStringLiteral("params must be an object (by name)"),
                            answerId);
        call.params = params.toObject();
        call.hasParams = true;
    }
    return call;
}

int rpcCodeOf(int httpStatus) {
    if (httpStatus == 400)
        return kRpcInvalidParams;
    if (httpStatus == 499)
        return kRpcCancelled;
    if (httpStatus > 400 && httpStatus < 500)
        return -32000 - (httpStatus - 400);
    if (httpStatus == 503)
        return -32050;
    return kRpcInternalError;
}

RpcError rpcErrorOf(const ApiError& error, const QJsonValue& id) {
    QJsonObject data = errorJson(error).value(QStringLiteral("error")).toObject();
    data.insert(QStringLiteral("status"), error.status);
    if (error.retryAfterS > 0)
        data.insert(QStringLiteral("retry_after_s"), error.retryAfterS);
    return RpcError{rpcCodeOf(error.status), error.message, data, id};
}

QJsonObject rpcErrorResponse(const RpcError& error) {
    QJsonObject e{{QStringLiteral("code"), error.code}, {QStringLiteral("message"), error.message}};
    if (!error.data.isUndefined())
        e.insert(QStringLiteral("data"), error.data);
    return QJsonObject{{QStringLiteral("jsonrpc"), QStringLiteral("2.0")},
                       {QStringLiteral("id"), error.id},
                       {QStringLiteral("error"), e}};
}

QJsonObject rpcResult(const QJsonValue& id, const QJsonValue& result) {
    return QJsonObject{{QStringLiteral("jsonrpc"), QStringLiteral("2.0")},
                       {QStringLiteral("id"), id},
                       {QStringLiteral("result"), result}};
}

JsonRpcServer::JsonRpcServer(CompletionsHandler& completions, Orchestrator& orchestrator,
                             const ApiKeyAuthenticator& auth, CreditService* credits, qint64 maxMessageBytes,
                             QObject* parent)
    : QObject(parent), m_completions(completions), m_orchestrator(orchestrator), m_auth(auth),
      m_credits(credits), m_maxMessageBytes(maxMessageBytes) {}

JsonRpcServer::~JsonRpcServer() {
    for (auto& [id, c] : m_connections)
        c->socket->disconnect(this);
}

JsonRpcServer::Connection* JsonRpcServer::find(uint64_t connection) {
    auto it = m_connections.find(connection);
    return it == m_connections.end() ? nullptr : it->second.get();
}

void JsonRpcServer::send(QWebSocket* socket, const QJsonObject& message) {
    if (socket && socket->state() == QAbstractSocket::ConnectedState)
        socket->sendTextMessage(QString::fromUtf8(QJsonDocument(message).toJson(QJsonDocument::Compact)));
}

void JsonRpcServer::accept(std::unique_ptr<QWebSocket> socket) {
    // A larger message or frame closes the connection with 1009 (message too big) before it is buffered
    // whole.
    socket->setMaxAllowedIncomingMessageSize(static_cast<quint64>(m_maxMessageBytes));
    socket->setMaxAllowedIncomingFrameSize(static_cast<quint64>(m_maxMessageBytes));
    const QByteArray header = socket->request().rawHeader(QByteArrayLiteral("Authorization")).trimmed();
    const std::string key = header.size() > 7 && header.left(7).toLower() == QByteArrayLiteral("bearer ")
                                ? header.mid(7).trimmed().toStdString()
                                : std::string();
    const uint64_t id = m_nextConnection++;
    auto c = std::make_unique<Connection>();
    c->connectionId = "rpc-" + std::to_string(id);
    c->socket = std::move(socket);
    connect(c->socket.get(), &QWebSocket::textMessageReceived, this,
            [this, id](const QString& message) { onMessage(id, message.toUtf8()); });
    connect(c->socket.get(), &QWebSocket::binaryMessageReceived, this, [this, id](const QByteArray&) {
        if (Connection* live = find(id))
            send(live->socket.get(),
                 rpcErrorResponse(rpcError(kRpcInvalidRequest, QStringLiteral("calls are text messages"))));
    });
    connect(c->socket.get(), &QWebSocket::disconnected, this, [this, id] { onClosed(id); });
    m_connections[id] = std::move(c);
    if (!m_auth.keysRequired())
        return authenticated(id, ApiIdentity{std::string(), ApiRole::Operator, std::string()});
    if (key.empty())
        return authenticated(id, makeError(ErrorCode::Unauthorized,
                                           "an API key is required: send \"Authorization: Bearer KEY\" with "
                                           "the WebSocket upgrade request"));
    // Looked up on the ledger's store thread; calls that arrive meanwhile wait (Connection::early).
    m_auth.authenticateThen(
        key, this, [this, id](Expected<ApiIdentity> identity) { authenticated(id, std::move(identity)); });
}

void JsonRpcServer::authenticated(uint64_t connection, Expected<ApiIdentity> identity) {
    Connection* c = find(connection);
    if (!c)
        return; // left meanwhile
    if (!identity) {
        ApiError e;
        e.status = 401;
        e.message = QString::fromStdString(identity.error().message);
        e.code = QStringLiteral("invalid_api_key");
        send(c->socket.get(), rpcErrorResponse(rpcErrorOf(e, QJsonValue::Null)));
        c->early.clear();
        c->socket->close(QWebSocketProtocol::CloseCodePolicyViolated, QStringLiteral("unauthorized"));
        return;
    }
    c->caller = *identity;
    c->authenticated = true;
    const QList<QByteArray> early = std::exchange(c->early, {});
    for (const QByteArray& message : early)
        onMessage(connection, message); // may close the connection: onMessage looks it up each time
}

void JsonRpcServer::onClosed(uint64_t connection) {
    auto it = m_connections.find(connection);
    if (it == m_connections.end())
        return;
    // The client left: its generations stop now and it pays for what was produced.
    const auto calls = it->second->calls;
    for (const auto& [key, callId] : calls)
        m_completions.clientGone(callId);
    it->second->socket->disconnect(this);
    QWebSocket* socket = it->second->socket.release();
    socket->deleteLater(); // we are inside its signal
    m_connections.erase(it);
}

void JsonRpcServer::onMessage(uint64_t connection, const QByteArray& message) {
    Connection* c = find(connection);
    if (!c)
        return;
    if (!c->authenticated) {
        if (c->early.size() >= kMaxEarlyCalls)
            return c->socket->close(QWebSocketProtocol::CloseCodePolicyViolated,
                                    QStringLiteral("too many calls before the key was checked"));
        c->early.append(message);
        return;
    }
    auto parsed = parseRpcMessage(message);
    if (auto* error = std::get_if<RpcError>(&parsed))
        return send(c->socket.get(), rpcErrorResponse(*error));
    dispatch(*c, connection, std::get<RpcCall>(parsed));
}

void JsonRpcServer::dispatch(Connection& c, uint64_t connection, const RpcCall& call) {
    const bool notification = call.id.isUndefined();
    if (call.method == QStringLiteral("cancel"))
        return cancelCall(c, call);
    if (notification)
        return; // only cancel acts without an answer; anything else asked as a notification is dropped
    if (call.method == QStringLiteral("submit") || call.method == QStringLiteral("stream"))
        return generate(c, connection, call, call.method == QStringLiteral("stream"));
    if (call.method == QStringLiteral("quote")) {
        if (!call.hasParams)
            return send(
                c.socket.get(),
                rpcErrorResponse(rpcError(kRpcInvalidParams,
                                          QStringLiteral("params are required: the request body"), call.id)));
        // Answered when the ledger has read the balance; the connection may be gone by then.
        QPointer<QWebSocket> socket = c.socket.get();
        const QJsonValue id = call.id;
        return quoteOperation(m_orchestrator, call.params, c.caller, m_completions.templateOf(),
                              c.connectionId, m_nextQuote++,
                              [socket, id](std::variant<QJsonObject, ApiError> quoted) {
                                  if (!socket)
                                      return;
                                  if (auto* error = std::get_if<ApiError>(&quoted))
                                      return send(socket.data(), rpcErrorResponse(rpcErrorOf(*error, id)));
                                  send(socket.data(), rpcResult(id, std::get<QJsonObject>(quoted)));
                              });
    }
    if (call.method == QStringLiteral("balance"))
        return credits(c, call, false);
    if (call.method == QStringLiteral("history"))
        return credits(c, call, true);
    send(c.socket.get(),
         rpcErrorResponse(
             rpcError(kRpcMethodNotFound,
                      QStringLiteral("no method '%1' (submit, stream, cancel, quote, balance, history)")
                          .arg(call.method.left(64)),
                      call.id)));
}

void JsonRpcServer::generate(Connection& c, uint64_t connection, const RpcCall& call, bool stream) {
    if (!call.hasParams)
        return send(c.socket.get(), rpcErrorResponse(rpcError(
                                        kRpcInvalidParams,
                                        QStringLiteral("params are required: the request body"), call.id)));
    const QString key = idKey(call.id);
    if (c.calls.count(key))
        return send(c.socket.get(),
                    rpcErrorResponse(rpcError(
                        kRpcInvalidRequest,
                        QStringLiteral("id %1 is already used by a call in progress").arg(key), call.id)));
    QJsonObject body = call.params;
    if (body.contains(QStringLiteral("stream")))
        return send(
            c.socket.get(),
            rpcErrorResponse(rpcErrorOf(
                invalidRequest(QStringLiteral("leave 'stream' out: the method (submit or stream) says it"),
                               QStringLiteral("stream")),
                call.id)));
    body.insert(QStringLiteral("stream"), stream);
    auto parsed = parseAnyCompletionParams(body, m_completions.templateOf());
    if (auto* error = std::get_if<ApiError>(&parsed))
        return send(c.socket.get(), rpcErrorResponse(rpcErrorOf(*error, call.id)));
    auto sink = std::make_unique<RpcSink>(c.socket.get(), call.id, [this, connection, key] {
        if (Connection* live = find(connection))
            live->calls.erase(key);
    });
    const uint64_t callId = m_completions.start(
        std::move(std::get<CompletionParams>(parsed)), c.caller, c.connectionId, std::move(sink),
        stream ? QStringLiteral("rpc:stream") : QStringLiteral("rpc:submit"));
    if (m_completions.active(callId))
        c.calls[key] = callId;
}

void JsonRpcServer::cancelCall(Connection& c, const RpcCall& call) {
    const bool notification = call.id.isUndefined();
    const QJsonValue target = call.params.value(QStringLiteral("id"));
    if (!validId(target) || target.isUndefined()) {
        if (!notification)
            send(c.socket.get(), rpcErrorResponse(rpcErrorOf(
                                     invalidRequest(QStringLiteral("params.id must be the id of a submit "
                                                                   "or stream call in progress"),
                                                    QStringLiteral("id")),
                                     call.id)));
        return;
    }
    auto it = c.calls.find(idKey(target));
    const bool cancelled =
        it != c.calls.end() &&
        m_completions.cancel(it->second, QStringLiteral("cancelled by the JSON-RPC client"));
    if (!notification)
        send(c.socket.get(), rpcResult(call.id, QJsonObject{{QStringLiteral("cancelled"), cancelled}}));
}

void JsonRpcServer::credits(Connection& c, const RpcCall& call, bool history) {
    auto fail = [&](const ApiError& e) { send(c.socket.get(), rpcErrorResponse(rpcErrorOf(e, call.id))); };
    if (!m_credits) {
        ApiError e;
        e.status = 404;
        e.message = QStringLiteral("this gateway runs without credits: there is no balance or history");
        e.code = QStringLiteral("not_found");
        return fail(e);
    }
    int limit = 1;
    qlonglong cursor = 0;
    if (history) {
        const QJsonValue l = call.params.value(QStringLiteral("limit"));
        limit = 20;
        if (!l.isUndefined() && !l.isNull()) {
            if (!l.isDouble() || l.toDouble() != std::floor(l.toDouble()))
                return fail(invalidRequest(QStringLiteral("limit must be an integer from 1 to 500"),
                                           QStringLiteral("limit")));
            limit = static_cast<int>(std::clamp(l.toDouble(), -1.0, 1000.0));
        }
        const QJsonValue cur = call.params.value(QStringLiteral("cursor"));
        if (!cur.isUndefined() && !cur.isNull()) {
            bool valid = cur.isString();
            cursor = valid ? cur.toString().toLongLong(&valid) : 0;
            if (!valid)
                return fail(
                    invalidRequest(QStringLiteral("cursor must be a next_cursor from an earlier page"),
                                   QStringLiteral("cursor")));
        }
    }
    QPointer<QWebSocket> socket = c.socket.get();
    const QJsonValue id = call.id;
    std::function<void(Expected<AccountAnswer>)> answer = [socket, id, history](Expected<AccountAnswer> a) {
        if (!a)
            return;
        if (a->status != 200) {
            const QJsonObject e = a->body.value(QStringLiteral("error")).toObject();
            ApiError error;
            error.status = a->status;
            error.message = e.value(QStringLiteral("message")).toString();
            error.type = e.value(QStringLiteral("type")).toString();
            error.code = e.value(QStringLiteral("code")).toString();
            error.param = e.value(QStringLiteral("param")).toString();
            return send(socket, rpcErrorResponse(rpcErrorOf(error, id)));
        }
        QJsonObject body = a->body;
        if (!history) { // the balance alone
            body.remove(QStringLiteral("postings"));
            body.remove(QStringLiteral("next_cursor"));
            body.insert(QStringLiteral("object"), QStringLiteral("balance"));
        }
        send(socket, rpcResult(id, body));
    };
    auto posted = postTo<AccountAnswer>(this, std::move(answer));
    creditsOperation(*m_credits, c.caller.account, cursor, limit,
                     [posted](AccountAnswer a) { posted(std::move(a)); });
}

} // namespace declai::server::api
