// The gateway's listening socket: accepts TCP connections, runs the TLS server handshake itself under a
// deadline, and hands only established connections to the HTTP server (which upgrades WebSockets).
//
// Why not QSslServer: in Qt 6.4 a QSslServer counts connections still in their handshake against
// maxPendingConnections (30) and stops accepting when that many are open. It resumes only when a handshake
// *times out*; a handshake that fails (the peer sent part of a ClientHello and closed) deletes its socket
// without resuming, so 30 such connections leave the listener paused for good with the backlog full. And
// while 30 peers merely hold handshakes open, every new connection waits for one to time out (5 s).
//
// Here nothing pauses the listener: a connection costs one socket and one timer until its deadline, and
// the limits below bound them (global and per-address caps, the oldest unfinished handshake is evicted
// first, fd headroom below RLIMIT_NOFILE, accept errors retried). On the established connection the
// request header is watched before Qt's parser sees it (HttpRequestScanner). A first byte that is not a
// TLS record but looks like plain HTTP gets a short 400 telling the peer to use https:// / wss://.
//
// Threading: lives on the gateway's main thread; every slot runs there.
#pragma once

#include "declai/network/HttpRequestScanner.h"

#include <QHash>
#include <QHostAddress>
#include <QPointer>
#include <QSslConfiguration>
#include <QTcpServer>
#include <QTimer>
#include <map>
#include <memory>
#include <optional>
#include <vector>

class QSslSocket;
class QTcpSocket;

namespace declai::net {

struct FrontDoorLimits {
    int handshakeTimeoutMs = 5000; // accept -> TLS established
    int headerTimeoutMs = 10000;   // a request header, once begun (and the first one), must end by then
    int idleTimeoutMs = 120000;    // an HTTP connection with no traffic either way is closed
    int maxConnections = 4096;     // all open connections (lowered to fit RLIMIT_NOFILE)
    int maxConnectionsPerAddress = 256;
    int maxHandshakes = 512;          // connections not yet established; beyond: the oldest goes
    int maxHandshakesPerAddress = 32; // same, per peer address
    int listenBacklog = 1024;         // connections the kernel queues before accept (capped by somaxconn)
    HttpLimits http;
};

struct FrontDoorStats {
    uint64_t accepted = 0;
    uint64_t refusedFull = 0;       // over maxConnections
    uint64_t refusedPerAddress = 0; // over maxConnectionsPerAddress
    uint64_t evicted = 0;           // unfinished handshakes closed to make room
    uint64_t handshakeTimeouts = 0;
    uint64_t handshakeFailures = 0;
    uint64_t plainHttpHints = 0;
    uint64_t headerRejects = 0;
    uint64_t headerTimeouts = 0;
    uint64_t idleClosed = 0;
    uint64_t acceptErrors = 0;
    int open = 0;
    int handshaking = 0;
};

class FrontDoor : public QTcpServer {
    Q_OBJECT

public:
    // tls empty: plaintext (--insecure-dev), established at accept.
    FrontDoor(FrontDoorLimits limits, std::optional<QSslConfiguration> tls, QObject* parent = nullptr);
    ~FrontDoor() override;

    // The connection cap in force: limits.maxConnections, lowered to leave fds for files and the ledger.
    int maxConnections() const { return m_maxConnections; }
    FrontDoorStats stats() const;

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    enum class Stage { Hello, Tls, Http, Upgraded, Closing };
    struct Connection {
        uint64_t id = 0;
        QPointer<QTcpSocket> socket;
        QString address;
        Stage stage = Stage::Hello;
        bool handedOver = false; // the HTTP server owns (and deletes) the socket from then on
        QTimer deadline;         // handshake, then header deadline
        QTimer idle;
        HttpRequestScanner scanner;
        qint64 unreadBefore = 0; // bytes left unread in the socket after the HTTP server's last read
    };

    void updateConnectionCap();
    Connection* find(uint64_t id);
    void onFirstBytes(uint64_t id);
    void startTls(Connection& c);
    bool clientHelloWaiting(QSslSocket& ssl) const; // a complete first TLS record is buffered
    void onEncrypted(uint64_t id);
    void beforeHttpRead(uint64_t id);
    void afterHttpRead(uint64_t id);
    void refuseHttp(Connection& c, int status, const QByteArray& reason);
    void leaveHandshake(Connection& c);
    void close(uint64_t id, bool abort);
    void forget(uint64_t id); // bookkeeping only; the socket is gone or owned elsewhere
    // Closes the oldest unfinished handshake (of `address` if given; never `spare`), those stalled before a
    // complete ClientHello first. False: none to evict.
    bool evictOldestHandshake(const QString* address, uint64_t spare = 0);
    bool evictOldestIdleHttp();

    FrontDoorLimits m_limits;
    std::optional<QSslConfiguration> m_tls;
    int m_maxConnections = 0;
    uint64_t m_nextId = 1;
    std::map<uint64_t, std::unique_ptr<Connection>> m_connections;
    std::vector<std::unique_ptr<Connection>> m_forgotten; // deleted from the event loop, not in their signals
    std::map<uint64_t, Connection*> m_handshaking;        // ordered by age
    QHash<QString, int> m_openPerAddress;
    QHash<QString, int> m_handshakingPerAddress;
    FrontDoorStats m_stats;
};

// Raises the soft RLIMIT_NOFILE to the hard limit (at most 1 << 20) and returns the soft limit now in force.
int raiseFileLimit();

} // namespace declai::net
