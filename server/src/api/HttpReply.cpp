#include "HttpReply.h"

#include <QJsonDocument>

namespace declai::server::api {

ApiError invalidRequest(const QString& message, const QString& param, const QString& code) {
    ApiError e;
    e.status = 400;
    e.message = message;
    e.param = param;
    e.code = code;
    return e;
}

QJsonObject errorJson(const ApiError& error) {
    const auto orNull = [](const QString& s) { return s.isEmpty() ? QJsonValue() : QJsonValue(s); };
    return QJsonObject{{QStringLiteral("error"), QJsonObject{{QStringLiteral("message"), error.message},
                                                             {QStringLiteral("type"), error.type},
                                                             {QStringLiteral("param"), orNull(error.param)},
                                                             {QStringLiteral("code"), orNull(error.code)}}}};
}

QByteArray reasonPhrase(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

QByteArray HttpReply::head(int status, const HeaderList& headers) const {
    QByteArray out = "HTTP/1.1 " + QByteArray::number(status) + ' ' + reasonPhrase(status) + "\r\n";
    for (const auto& [name, value] : headers)
        out += name + ": " + value + "\r\n";
    return out;
}

void HttpReply::send(int status, const QByteArray& contentType, const QByteArray& body,
                     const HeaderList& headers) {
    if (m_started || !connected())
        return;
    m_started = m_ended = true;
    QByteArray out = head(status, headers);
    out += "Content-Type: " + contentType + "\r\nContent-Length: " + QByteArray::number(body.size()) +
           "\r\n\r\n" + body;
    m_socket->write(out);
}

void HttpReply::sendJson(int status, const QJsonObject& body, const HeaderList& headers) {
    send(status, QByteArrayLiteral("application/json"), QJsonDocument(body).toJson(QJsonDocument::Compact),
         headers);
}

void HttpReply::sendError(const ApiError& error, const HeaderList& headers) {
    HeaderList all = headers;
    if (error.retryAfterS > 0)
        all.append({QByteArrayLiteral("Retry-After"), QByteArray::number(error.retryAfterS)});
    sendJson(error.status, errorJson(error), all);
}

void HttpReply::beginStream(int status, const QByteArray& contentType, const HeaderList& headers) {
    if (m_started || !connected())
        return;
    m_started = true;
    QByteArray out = head(status, headers);
    out +=
        "Content-Type: " + contentType + "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
    m_socket->write(out);
}

void HttpReply::streamChunk(const QByteArray& data) {
    if (!m_started || m_ended || data.isEmpty() || !connected())
        return;
    m_socket->write(QByteArray::number(data.size(), 16) + "\r\n" + data + "\r\n");
}

void HttpReply::endStream() {
    if (!m_started || m_ended)
        return;
    m_ended = true;
    if (connected())
        m_socket->write(QByteArrayLiteral("0\r\n\r\n"));
}

} // namespace declai::server::api
