// One HTTP/1.1 exchange over TLS with a raw QSslSocket, for tests that check bytes on the wire (status
// lines, headers, chunked framing, Server-Sent Events) rather than what a client library makes of them.
// Every wait is bounded.
#pragma once

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslSocket>
#include <QTest>
#include <functional>
#include <memory>

namespace declai::testdata {

struct HttpResponse {
    bool complete = false;
    int status = 0;
    QMap<QByteArray, QByteArray> headers; // lower-case names
    QByteArray body;                      // de-chunked
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
    QByteArray header(const char* name) const { return headers.value(QByteArray(name)); }
};

// Parses what arrived so far; complete once the body is whole (Content-Length or the last chunk).
inline HttpResponse parseHttpResponse(const QByteArray& raw) {
    HttpResponse r;
    const int end = raw.indexOf("\r\n\r\n");
    if (end < 0)
        return r;
    const QList<QByteArray> lines = raw.left(end).split('\n');
    const QList<QByteArray> status = lines.value(0).trimmed().split(' ');
    r.status = status.value(1).toInt();
    for (int i = 1; i < lines.size(); ++i) {
        const int colon = lines[i].indexOf(':');
        if (colon > 0)
            r.headers.insert(lines[i].left(colon).trimmed().toLower(), lines[i].mid(colon + 1).trimmed());
    }
    const QByteArray rest = raw.mid(end + 4);
    if (r.headers.value("transfer-encoding").toLower() == "chunked") {
        int pos = 0;
        while (true) {
            const int lineEnd = rest.indexOf("\r\n", pos);
            if (lineEnd < 0)
                return r;
            bool ok = false;
            const int size = rest.mid(pos, lineEnd - pos).trimmed().toInt(&ok, 16);
            if (!ok)
                return r;
            if (size == 0) {
                r.complete = rest.size() >= lineEnd + 4;
                return r;
            }
            if (rest.size() < lineEnd + 2 + size + 2)
                return r;
            r.body += rest.mid(lineEnd + 2, size);
            pos = lineEnd + 2 + size + 2;
        }
    }
    const qsizetype length = r.headers.value("content-length", "0").toLongLong();
    r.body = rest.left(length);
    r.complete = rest.size() >= length;
    return r;
}

// A TLS connection to 127.0.0.1:port trusting `caFile`.
inline std::unique_ptr<QSslSocket> connectTls(quint16 port, const QString& caFile, int timeoutMs = 10000) {
    auto socket = std::make_unique<QSslSocket>();
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(caFile));
    socket->setSslConfiguration(tls);
    socket->connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
    if (!socket->waitForEncrypted(timeoutMs))
        return nullptr;
    return socket;
}

// Reads from `socket` until `done(raw)` says so, the peer closes, or timeoutMs passes.
inline QByteArray readUntil(QSslSocket& socket, const std::function<bool(const QByteArray&)>& done,
                            int timeoutMs) {
    QByteArray raw;
    QElapsedTimer clock;
    clock.start();
    while (!done(raw) && clock.elapsed() < timeoutMs) {
        if (socket.bytesAvailable() == 0 && !socket.waitForReadyRead(100) &&
            socket.state() != QAbstractSocket::ConnectedState)
            break;
        raw += socket.readAll();
    }
    raw += socket.readAll();
    return raw;
}

inline QByteArray httpRequest(const QByteArray& method, const QByteArray& path, const QByteArray& body = {},
                              const QByteArray& apiKey = {}, const QByteArray& extraHeaders = {}) {
    QByteArray r = method + ' ' + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!apiKey.isEmpty())
        r += "Authorization: Bearer " + apiKey + "\r\n";
    if (!body.isEmpty() || method == "POST")
        r += "Content-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n";
    return r + extraHeaders + "\r\n" + body;
}

// One request, the whole answer.
inline HttpResponse httpExchange(quint16 port, const QString& caFile, const QByteArray& request,
                                 int timeoutMs = 60000) {
    auto socket = connectTls(port, caFile);
    if (!socket)
        return {};
    socket->write(request);
    const QByteArray raw = readUntil(
        *socket, [](const QByteArray& r) { return parseHttpResponse(r).complete; }, timeoutMs);
    return parseHttpResponse(raw);
}

} // namespace declai::testdata
