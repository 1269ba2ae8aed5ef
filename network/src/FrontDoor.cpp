#include "declai/network/FrontDoor.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QSslSocket>
#include <QTcpSocket>
#include <algorithm>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace declai::net {
namespace {

constexpr char kTlsHandshakeRecord = 0x16;
constexpr int kClosingGraceMs = 2000;            // a refused peer gets this long to read our answer
constexpr int kMaxTlsRecordBytes = 16384 + 2048; // TLS 1.2's largest ciphertext record

// Connections are counted per address; an IPv6 peer usually owns a whole /64, so that is one address.
QString addressKey(const QHostAddress& address) {
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    if (isV4)
        return QHostAddress(v4).toString();
    Q_IPV6ADDR v6 = address.toIPv6Address();
    for (int i = 8; i < 16; ++i)
        v6[i] = 0;
    return QHostAddress(v6).toString() + QStringLiteral("/64");
}

QByteArray plainResponse(int status, const QByteArray& statusText, const QByteArray& body) {
    return "HTTP/1.1 " + QByteArray::number(status) + ' ' + statusText +
           "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
           QByteArray::number(body.size() + 1) + "\r\n\r\n" + body + '\n';
}

// The HTTP API answers errors in OpenAI's error JSON (docs/api.md); refusals made here before the request
// reaches it (oversize body or header) use the same shape.
QByteArray jsonErrorResponse(int status, const QByteArray& statusText, const QByteArray& message) {
    QJsonObject error{{QStringLiteral("message"), QString::fromUtf8(message)},
                      {QStringLiteral("type"), QStringLiteral("invalid_request_error")},
                      {QStringLiteral("param"), QJsonValue::Null},
                      {QStringLiteral("code"), status == 413   ? QStringLiteral("request_too_large")
                                               : status == 431 ? QStringLiteral("header_too_large")
                                                               : QStringLiteral("bad_request")}};
    const QByteArray body =
        QJsonDocument(QJsonObject{{QStringLiteral("error"), error}}).toJson(QJsonDocument::Compact);
    return "HTTP/1.1 " + QByteArray::number(status) + ' ' + statusText +
           "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           QByteArray::number(body.size()) + "\r\n\r\n" + body;
}

QByteArray statusText(int status) {
    switch (status) {
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Bad Request";
    }
}

} // namespace

int raiseFileLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 1024;
    const rlim_t wanted = std::min<rlim_t>(limit.rlim_max, rlim_t(1) << 20);
    if (limit.rlim_cur < wanted) {
        rlimit raised = limit;
        raised.rlim_cur = wanted;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    return static_cast<int>(std::min<rlim_t>(limit.rlim_cur, rlim_t(1) << 30));
}

FrontDoor::FrontDoor(FrontDoorLimits limits, std::optional<QSslConfiguration> tls, QObject* parent)
    : QTcpServer(parent), m_limits(limits), m_tls(std::move(tls)) {
    raiseFileLimit();
    updateConnectionCap();
    // Handed-over sockets leave the pending list at once (the HTTP server takes them), so this only
    // guards against a stalled consumer.
    setMaxPendingConnections(std::max(64, m_maxConnections));
    // Qt pauses accepting after an accept() error (EMFILE, ENFILE, ENOBUFS): retry instead of going deaf.
    connect(this, &QTcpServer::acceptError, this, [this](QAbstractSocket::SocketError error) {
        ++m_stats.acceptErrors;
        qWarning("accept failed (%s, socket error %d); retrying in 100 ms", qPrintable(errorString()),
                 int(error));
        QTimer::singleShot(100, this, [this] { resumeAccepting(); });
    });
}

void FrontDoor::updateConnectionCap() {
    // Keep fds in reserve for model files, the ledger and outgoing connections: at the fd limit accept()
    // fails (and Qt pauses the listener). Read per accept: an operator may lower the limit at run time.
    rlimit limit{};
    const int fdLimit = getrlimit(RLIMIT_NOFILE, &limit) == 0
                            ? static_cast<int>(std::min<rlim_t>(limit.rlim_cur, rlim_t(1) << 30))
                            : 1024;
    const int reserve = std::min(256, fdLimit / 4);
    m_maxConnections = std::max(8, std::min(m_limits.maxConnections, fdLimit - reserve));
}

FrontDoor::~FrontDoor() {
    for (auto& [id, c] : m_connections)
        if (c->socket)
            c->socket->disconnect(this);
}

FrontDoorStats FrontDoor::stats() const {
    FrontDoorStats s = m_stats;
    s.open = static_cast<int>(m_connections.size());
    s.handshaking = static_cast<int>(m_handshaking.size());
    return s;
}

FrontDoor::Connection* FrontDoor::find(uint64_t id) {
    auto it = m_connections.find(id);
    return it == m_connections.end() ? nullptr : it->second.get();
}

void FrontDoor::incomingConnection(qintptr descriptor) {
    updateConnectionCap();
    // Full: make room by closing what costs a legitimate peer least (an unfinished handshake, else an idle
    // keep-alive HTTP connection, which a client simply reopens). Only live WebSockets and HTTP requests in
    // progress are never dropped for a newcomer.
    if (static_cast<int>(m_connections.size()) >= m_maxConnections && !evictOldestHandshake(nullptr) &&
        !evictOldestIdleHttp()) {
        ++m_stats.refusedFull;
        ::close(static_cast<int>(descriptor));
        return;
    }
    QTcpSocket* socket = m_tls ? new QSslSocket(this) : new QTcpSocket(this);
    if (!socket->setSocketDescriptor(descriptor)) {
        delete socket;
        ::close(static_cast<int>(descriptor));
        return;
    }
    const QString address = addressKey(socket->peerAddress());
    if (m_openPerAddress.value(address) >= m_limits.maxConnectionsPerAddress) {
        ++m_stats.refusedPerAddress;
        socket->abort();
        socket->deleteLater();
        return;
    }
    ++m_stats.accepted;
    const uint64_t id = m_nextId++;
    auto owned = std::make_unique<Connection>();
    Connection& c = *owned;
    c.id = id;
    c.socket = socket;
    c.address = address;
    c.scanner = HttpRequestScanner(m_limits.http);
    m_connections[id] = std::move(owned);
    ++m_openPerAddress[address];
    connect(socket, &QObject::destroyed, this, [this, id] { forget(id); });
    connect(socket, &QAbstractSocket::disconnected, this, [this, id] {
        Connection* conn = find(id);
        if (conn && conn->socket && !conn->handedOver)
            conn->socket->deleteLater(); // not handed over yet: ours to delete
        forget(id);
    });
    c.deadline.setSingleShot(true);
    c.idle.setSingleShot(true);
    connect(&c.idle, &QTimer::timeout, this, [this, id] {
        ++m_stats.idleClosed;
        close(id, false);
    });
    if (!m_tls) {
        onEncrypted(id); // plaintext: established at accept
        return;
    }
    m_handshaking[id] = &c;
    ++m_handshakingPerAddress[address];
    if (m_handshakingPerAddress.value(address) > m_limits.maxHandshakesPerAddress)
        evictOldestHandshake(&address, id); // not the newcomer: its ClientHello may be on its way
    if (static_cast<int>(m_handshaking.size()) > m_limits.maxHandshakes)
        evictOldestHandshake(nullptr, id);
    if (!find(id))
        return;
    connect(&c.deadline, &QTimer::timeout, this, [this, id] {
        ++m_stats.handshakeTimeouts;
        close(id, true);
    });
    c.deadline.start(m_limits.handshakeTimeoutMs);
    auto* ssl = static_cast<QSslSocket*>(socket);
    connect(ssl, &QAbstractSocket::errorOccurred, this, [this, id](QAbstractSocket::SocketError) {
        Connection* conn = find(id);
        if (!conn || (conn->stage != Stage::Hello && conn->stage != Stage::Tls))
            return;
        ++m_stats.handshakeFailures;
        close(id, true);
    });
    connect(ssl, &QSslSocket::encrypted, this, [this, id] { onEncrypted(id); });
    connect(ssl, &QIODevice::readyRead, this, [this, id] { onFirstBytes(id); });
}

void FrontDoor::onFirstBytes(uint64_t id) {
    Connection* c = find(id);
    auto* ssl = c ? static_cast<QSslSocket*>(c->socket.data()) : nullptr;
    if (!ssl || c->stage != Stage::Hello)
        return;
    char head[5] = {};
    const qint64 got = ssl->peek(head, sizeof head);
    if (got < 1)
        return;
    const char first = head[0];
    if (first == kTlsHandshakeRecord) {
        // Start TLS only once the whole first record (the ClientHello) is here: until then the connection
        // costs no TLS state, and a peer that stalls mid-ClientHello stays in the cheapest class, which is
        // evicted first when connections from its address or in total are too many.
        if (got < 5)
            return;
        const int recordBytes =
            (int(static_cast<unsigned char>(head[3])) << 8) | static_cast<unsigned char>(head[4]);
        if (recordBytes > kMaxTlsRecordBytes) {
            ++m_stats.handshakeFailures;
            return close(id, true);
        }
        if (ssl->bytesAvailable() < 5 + recordBytes)
            return;
        return startTls(*c);
    }
    if (first >= 'A' && first <= 'Z') {
        // Someone typed http:// or ws:// for a TLS port: say so instead of closing silently.
        ++m_stats.plainHttpHints;
        ssl->setReadBufferSize(4096); // what else they send is not read: TCP flow control stops them
        ssl->readAll();
        ssl->write(
            plainResponse(400, "Bad Request",
                          "This DeCLAI gateway speaks TLS only: use https:// for the HTTP API and wss:// for "
                          "declai-node and declai-cli."));
        leaveHandshake(*c);
        c->stage = Stage::Closing;
        c->deadline.disconnect();
        connect(&c->deadline, &QTimer::timeout, this, [this, id] { close(id, true); });
        c->deadline.start(kClosingGraceMs);
        ssl->disconnectFromHost();
        return;
    }
    ++m_stats.handshakeFailures;
    close(id, true);
}

void FrontDoor::startTls(Connection& c) {
    auto* ssl = static_cast<QSslSocket*>(c.socket.data());
    if (!ssl || c.stage != Stage::Hello)
        return;
    c.stage = Stage::Tls;
    // The handshake deadline keeps running from accept: trickling a ClientHello buys no time.
    ssl->setSslConfiguration(*m_tls);
    ssl->startServerEncryption();
}

bool FrontDoor::clientHelloWaiting(QSslSocket& ssl) const {
    char head[5] = {};
    qint64 got = ssl.peek(head, sizeof head);
    qint64 total = ssl.bytesAvailable();
    if (got == 0) {
        // Not read by Qt yet (a burst of accepts runs before any readyRead): look at the kernel's buffer.
        const int fd = static_cast<int>(ssl.socketDescriptor());
        const ssize_t n = fd < 0 ? -1 : ::recv(fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
        int pending = 0;
        if (n <= 0 || ::ioctl(fd, FIONREAD, &pending) != 0)
            return false;
        got = n;
        total = pending;
    }
    if (got < 5 || head[0] != kTlsHandshakeRecord)
        return false;
    const int recordBytes =
        (int(static_cast<unsigned char>(head[3])) << 8) | static_cast<unsigned char>(head[4]);
    return recordBytes <= kMaxTlsRecordBytes && total >= 5 + recordBytes;
}

void FrontDoor::onEncrypted(uint64_t id) {
    Connection* c = find(id);
    QTcpSocket* socket = c ? c->socket.data() : nullptr;
    if (!socket)
        return;
    leaveHandshake(*c);
    c->stage = Stage::Http;
    socket->disconnect(this);
    connect(socket, &QObject::destroyed, this, [this, id] { forget(id); });
    connect(socket, &QAbstractSocket::disconnected, this, [this, id] { forget(id); });
    // Runs before the HTTP server's own readyRead slot (connected first), so a bad header is refused
    // before Qt parses any of it.
    connect(socket, &QIODevice::readyRead, this, [this, id] { beforeHttpRead(id); });
    connect(socket, &QIODevice::bytesWritten, this, [this, id] {
        if (Connection* conn = find(id); conn && conn->stage == Stage::Http)
            conn->idle.start(m_limits.idleTimeoutMs);
    });
    c->deadline.disconnect();
    connect(&c->deadline, &QTimer::timeout, this, [this, id] {
        ++m_stats.headerTimeouts;
        close(id, true);
    });
    c->deadline.start(m_limits.headerTimeoutMs); // the first request must come soon
    c->idle.start(m_limits.idleTimeoutMs);
    c->handedOver = true;
    addPendingConnection(socket);
    // Whichever of the two signals the HTTP server listens to, it takes the socket now.
    if (hasPendingConnections())
        Q_EMIT newConnection();
    if (c != find(id))
        return;
    connect(socket, &QIODevice::readyRead, this, [this, id] { afterHttpRead(id); });
}

void FrontDoor::beforeHttpRead(uint64_t id) {
    Connection* c = find(id);
    QTcpSocket* socket = c ? c->socket.data() : nullptr;
    if (!socket || c->stage != Stage::Http)
        return;
    c->idle.start(m_limits.idleTimeoutMs);
    const qint64 available = socket->bytesAvailable();
    const qint64 fresh = available - c->unreadBefore;
    if (fresh <= 0)
        return;
    const QByteArray bytes = socket->peek(available);
    const HttpRequestScanner::Result result =
        c->scanner.feed(QByteArrayView(bytes).sliced(bytes.size() - std::min<qint64>(fresh, bytes.size())));
    switch (result.verdict) {
    case HttpRequestScanner::Verdict::Reject:
        return refuseHttp(*c, result.status, result.reason);
    case HttpRequestScanner::Verdict::Upgrade:
        // A WebSocket now: its frames are capped by the Channel, its liveness by pings.
        c->stage = Stage::Upgraded;
        c->deadline.stop();
        c->idle.stop();
        return;
    case HttpRequestScanner::Verdict::Continue:
        break;
    }
    if (!c->scanner.inHeader())
        c->deadline.stop();
    else if (!c->deadline.isActive())
        c->deadline.start(m_limits.headerTimeoutMs);
}

void FrontDoor::afterHttpRead(uint64_t id) {
    Connection* c = find(id);
    QTcpSocket* socket = c ? c->socket.data() : nullptr;
    if (socket && c->stage == Stage::Http)
        c->unreadBefore = socket->bytesAvailable();
}

void FrontDoor::refuseHttp(Connection& c, int status, const QByteArray& reason) {
    ++m_stats.headerRejects;
    qInfo("HTTP request from %s refused (%d): %s", qPrintable(c.address), status, reason.constData());
    QTcpSocket* socket = c.socket.data();
    if (!socket)
        return;
    // Nobody else reads this request: the HTTP server's slot for this very signal is skipped.
    QObject::disconnect(socket, &QIODevice::readyRead, nullptr, nullptr);
    socket->setReadBufferSize(4096); // the rest of the request is not read: TCP flow control stops the peer
    socket->readAll();
    socket->write(jsonErrorResponse(status, statusText(status), reason));
    c.stage = Stage::Closing;
    c.idle.stop();
    const uint64_t id = c.id;
    c.deadline.disconnect();
    connect(&c.deadline, &QTimer::timeout, this, [this, id] { close(id, true); });
    c.deadline.start(kClosingGraceMs);
    socket->disconnectFromHost();
}

void FrontDoor::leaveHandshake(Connection& c) {
    if (m_handshaking.erase(c.id) == 0)
        return;
    if (--m_handshakingPerAddress[c.address] <= 0)
        m_handshakingPerAddress.remove(c.address);
}

void FrontDoor::close(uint64_t id, bool abort) {
    Connection* c = find(id);
    if (!c)
        return;
    QPointer<QTcpSocket> socket = c->socket;
    const bool ours = !c->handedOver;
    forget(id);
    if (!socket)
        return;
    if (abort)
        socket->abort();
    else
        socket->disconnectFromHost();
    if (ours)
        socket->deleteLater(); // once handed over, the HTTP server deletes it on disconnect
}

void FrontDoor::forget(uint64_t id) {
    auto it = m_connections.find(id);
    if (it == m_connections.end())
        return;
    Connection& c = *it->second;
    leaveHandshake(c);
    if (--m_openPerAddress[c.address] <= 0)
        m_openPerAddress.remove(c.address);
    c.deadline.stop();
    c.idle.stop();
    if (c.socket)
        c.socket->disconnect(this);
    // Destroyed later: we may be inside a signal of one of its timers.
    m_forgotten.push_back(std::move(it->second));
    m_connections.erase(it);
    if (m_forgotten.size() == 1)
        QMetaObject::invokeMethod(
            this, [this] { m_forgotten.clear(); }, Qt::QueuedConnection);
}

bool FrontDoor::evictOldestHandshake(const QString* address, uint64_t spare) {
    // Stalled before a complete ClientHello first, then the oldest of the rest.
    for (const bool helloOnly : {true, false}) {
        for (auto& [id, c] : m_handshaking) {
            if (id == spare || (address && c->address != *address) || (helloOnly && c->stage != Stage::Hello))
                continue;
            // An honest peer sends its whole ClientHello at once; if it is waiting, the peer is not stalling
            // (its readyRead just has not run yet): start its handshake instead of evicting it.
            if (helloOnly && c->socket && clientHelloWaiting(*static_cast<QSslSocket*>(c->socket.data()))) {
                startTls(*c);
                continue;
            }
            ++m_stats.evicted;
            close(id, true);
            return true;
        }
    }
    return false;
}

bool FrontDoor::evictOldestIdleHttp() {
    for (auto& [id, c] : m_connections) {
        QTcpSocket* socket = c->socket.data();
        if (c->stage != Stage::Http || !socket || c->scanner.inHeader() || socket->bytesToWrite() > 0)
            continue;
        ++m_stats.evicted;
        close(id, true);
        return true;
    }
    return false;
}

} // namespace declai::net
