// The API over the gateway's WebSocket as JSON-RPC 2.0, for the desktop app (docs/api.md, "JSON-RPC"):
// wss://HOST:PORT/v1/rpc on the gateway's own TLS port, with "Authorization: Bearer KEY" on the upgrade
// request. Methods: submit, stream, cancel, quote, balance, history. They call the operations the HTTP routes
// call (CompletionsHandler::start, quoteOperation, creditsOperation), so there is one implementation of
// each; only the framing differs. stream sends one "chunk" notification per OpenAI chunk, then the result.
// A closed socket cancels its generations (what was produced is charged). Errors are JSON-RPC error objects
// whose codes map the HTTP statuses (rpcCodeOf) and whose data is OpenAI's error plus the status.
// Threading: gateway thread only.
#pragma once

#include "CompletionsHandler.h"
#include "HttpReply.h"
#include "declai/server/ApiKeyAuthenticator.h"

#include <QJsonObject>
#include <QJsonValue>
#include <QObject>
#include <QPointer>
#include <QWebSocket>
#include <map>
#include <memory>
#include <variant>

namespace declai::server {
class CreditService;
class Orchestrator;
} // namespace declai::server

namespace declai::server::api {

// One call as a message carries it, checked.
struct RpcCall {
    QJsonValue id; // a string, an integer or null; undefined for a notification (no answer)
    QString method;
    QJsonObject params; // {} when absent
    bool hasParams = false;
};

// A JSON-RPC error response: {"jsonrpc": "2.0", "id", "error": {"code", "message", "data"?}}.
struct RpcError {
    int code = 0;
    QString message;
    QJsonValue data = QJsonValue::Undefined; // left out when undefined
    QJsonValue id = QJsonValue::Null;
};

// Standard codes (JSON-RPC 2.0 §5.1).
inline constexpr int kRpcParseError = -32700;
inline constexpr int kRpcInvalidRequest = -32600;
inline constexpr int kRpcMethodNotFound = -32601;
inline constexpr int kRpcInvalidParams = -32602;
inline constexpr int kRpcInternalError = -32603;
inline constexpr int kRpcCancelled = -32800; // as LSP's RequestCancelled

// One text message: a call, or the error to answer it with (bad JSON, a batch, a wrong version, a bad id,
// method or params). Never throws; any bytes are fine.
std::variant<RpcCall, RpcError> parseRpcMessage(const QByteArray& message);
// The JSON-RPC code of an HTTP status: 400 -> -32602, 401..499 -> -32000 - (status - 400) (so 401 -> -32001,
// 402 -> -32002, 404 -> -32004, 429 -> -32029), 499 (cancelled) -> -32800, 503 -> -32050, other 5xx ->
// -32603.
int rpcCodeOf(int httpStatus);
RpcError rpcErrorOf(const ApiError& error, const QJsonValue& id);
QJsonObject rpcErrorResponse(const RpcError& error);
QJsonObject rpcResult(const QJsonValue& id, const QJsonValue& result);

class JsonRpcServer : public QObject {
    Q_OBJECT

public:
    // credits may be null (a gateway without credits: balance and history answer -32004).
    JsonRpcServer(CompletionsHandler& completions, Orchestrator& orchestrator,
                  const ApiKeyAuthenticator& auth, CreditService* credits, qint64 maxMessageBytes,
                  QObject* parent = nullptr);
    ~JsonRpcServer() override;

    // An upgraded WebSocket of /v1/rpc: authenticated from its upgrade request, then served.
    void accept(std::unique_ptr<QWebSocket> socket);
    size_t connectionCount() const { return m_connections.size(); }

private:
    struct Connection {
        std::unique_ptr<QWebSocket> socket;
        ApiIdentity caller;
        std::string connectionId;
        std::map<QString, uint64_t> calls; // the call's id (compact JSON) -> its generation
        bool authenticated = false;
        QList<QByteArray> early; // calls that arrived before the key was checked, in order
    };
    void authenticated(uint64_t connection, Expected<ApiIdentity> identity);
    void onMessage(uint64_t connection, const QByteArray& message);
    void onClosed(uint64_t connection);
    void dispatch(Connection& c, uint64_t connection, const RpcCall& call);
    void generate(Connection& c, uint64_t connection, const RpcCall& call, bool stream);
    void cancelCall(Connection& c, const RpcCall& call);
    void credits(Connection& c, const RpcCall& call, bool history);
    static void send(QWebSocket* socket, const QJsonObject& message);
    Connection* find(uint64_t connection);

    CompletionsHandler& m_completions;
    Orchestrator& m_orchestrator;
    const ApiKeyAuthenticator& m_auth;
    CreditService* m_credits;
    qint64 m_maxMessageBytes;
    std::map<uint64_t, std::unique_ptr<Connection>> m_connections;
    uint64_t m_nextConnection = 1;
    uint64_t m_nextQuote = 1;
};

} // namespace declai::server::api
