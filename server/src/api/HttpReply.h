// Answers on a connection the HTTP server handed to a route, written straight to its socket: Qt 6.4's
// QHttpServerResponder keeps a raw socket pointer that dangles once the client leaves, and an answer that
// comes later (a generation) or in pieces (Server-Sent Events) must survive that. Errors use OpenAI's error
// JSON ({"error": {"message", "type", "param", "code"}}).
// Threading: gateway thread only.
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QPointer>
#include <QString>
#include <QTcpSocket>

namespace declai::server::api {

using HeaderList = QList<QPair<QByteArray, QByteArray>>;

struct ApiError {
    int status = 400;
    QString message;
    QString type = QStringLiteral("invalid_request_error");
    QString param;       // the offending request field; null in the JSON when empty
    QString code;        // null in the JSON when empty
    int retryAfterS = 0; // > 0: a Retry-After header (429, 503)
};

ApiError invalidRequest(const QString& message, const QString& param = {},
                        const QString& code = QStringLiteral("invalid_value"));
QJsonObject errorJson(const ApiError& error);
QByteArray reasonPhrase(int status);

class HttpReply {
public:
    explicit HttpReply(QTcpSocket* socket) : m_socket(socket) {}

    bool connected() const { return m_socket && m_socket->state() == QAbstractSocket::ConnectedState; }
    QTcpSocket* socket() const { return m_socket.data(); }
    bool started() const { return m_started; }

    // A whole answer (Content-Length). Ignored once anything was sent or when the client is gone.
    void send(int status, const QByteArray& contentType, const QByteArray& body,
              const HeaderList& headers = {});
    void sendJson(int status, const QJsonObject& body, const HeaderList& headers = {});
    void sendError(const ApiError& error, const HeaderList& headers = {});

    // A streamed answer (Transfer-Encoding: chunked): begin once, then chunks, then end.
    void beginStream(int status, const QByteArray& contentType, const HeaderList& headers = {});
    void streamChunk(const QByteArray& data);
    void endStream();

private:
    QByteArray head(int status, const HeaderList& headers) const;
    QPointer<QTcpSocket> m_socket;
    bool m_started = false;
    bool m_ended = false;
};

} // namespace declai::server::api
