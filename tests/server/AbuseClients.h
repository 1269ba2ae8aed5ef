// Abusive clients of the gateway's public port, driven from inside a test process on loopback: half-open
// TLS handshakes, idle connections, a huge HTTP header streamed like an attacker would, and a protocol client
// that pipelines submits on one connection. They run on the test's event loop: wait with QTest::qWait, never
// with a blocking call. Shared by tst_gateway_abuse and tst_open_network_acceptance.
#pragma once

#include "SwarmHarness.h"
#include "declai/network/Channel.h"

#include <QElapsedTimer>
#include <QRandomGenerator>
#include <QSslSocket>
#include <QTcpSocket>
#include <QWebSocket>
#include <map>
#include <memory>
#include <vector>

namespace declai::testdata {

// The first bytes of a TLS ClientHello: record header (handshake, TLS 1.0 record version, length 512),
// handshake header (ClientHello, length 508), client version TLS 1.2, and part of the random.
inline QByteArray partialClientHello() {
    QByteArray bytes = QByteArray::fromHex("1603010200010001fc0303");
    for (int i = 0; i < 16; ++i)
        bytes.append(char(QRandomGenerator::global()->bounded(256)));
    return bytes;
}

// Plain TCP connections, opened all at once; `send` goes to each once connected. The gateway may close
// some of them again (that is the point); *opened counts those that got connected at all.
inline std::vector<std::unique_ptr<QTcpSocket>>
openConnections(quint16 port, int count, const QByteArray& send, int* opened = nullptr) {
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    int connected = 0;
    int settled = 0;
    for (int i = 0; i < count; ++i) {
        sockets.push_back(std::make_unique<QTcpSocket>());
        QTcpSocket* s = sockets.back().get();
        QObject::connect(s, &QTcpSocket::connected, s, [s, &connected, &settled, send] {
            ++connected;
            ++settled;
            if (!send.isEmpty())
                s->write(send);
        });
        QObject::connect(s, &QTcpSocket::errorOccurred, s, [s, &settled](QAbstractSocket::SocketError) {
            if (s->state() != QAbstractSocket::ConnectedState)
                ++settled;
        });
        s->connectToHost(QHostAddress::LocalHost, port);
    }
    QElapsedTimer clock;
    clock.start();
    while (settled < count && clock.elapsed() < 10000)
        QTest::qWait(5);
    for (auto& s : sockets)
        s->disconnect(s.get()); // the lambdas above refer to this frame
    QTest::qWait(20);           // let the writes go out
    if (opened)
        *opened = connected;
    return sockets;
}

inline QSslConfiguration trustingSwarm(const Swarm& swarm) {
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(swarm.caFile()));
    return tls;
}

// A TLS connection that trusts the swarm's certificate.
inline std::unique_ptr<QSslSocket> tlsConnect(const Swarm& swarm, int timeoutMs = 5000) {
    auto s = std::make_unique<QSslSocket>();
    s->setSslConfiguration(trustingSwarm(swarm));
    s->connectToHostEncrypted(QStringLiteral("127.0.0.1"), swarm.port());
    if (!s->waitForEncrypted(timeoutMs))
        return nullptr;
    return s;
}

// Reads until the peer closes or timeoutMs passes; returns what arrived.
inline QByteArray readUntilClosed(QAbstractSocket& s, int timeoutMs, bool* closed = nullptr) {
    QByteArray got;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < timeoutMs && s.state() != QAbstractSocket::UnconnectedState) {
        QTest::qWait(10);
        got += s.readAll();
    }
    got += s.readAll();
    if (closed)
        *closed = s.state() == QAbstractSocket::UnconnectedState;
    return got;
}

// An HTTP request whose header never ends, streamed over TLS as an attacker would: a 1 MiB chunk whenever
// the last one left, until `mib` MiB are sent or the gateway closes the connection. Starts on construction;
// the connection is made asynchronously (callbacks run on the test's event loop). `from`: a loopback source
// address to connect from (another 127.x.y.z stands for another peer); null: the system's choice.
class HugeHeader {
public:
    HugeHeader(const Swarm& swarm, int mib, const QHostAddress& from = QHostAddress())
        : m_mib(mib), m_chunk(1 << 20, 'a') {
        m_socket.setSslConfiguration(trustingSwarm(swarm));
        QObject::connect(&m_socket, &QSslSocket::encrypted, &m_socket, [this] {
            m_encrypted = true;
            m_socket.write("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
            sendChunk();
        });
        QObject::connect(&m_socket, &QIODevice::bytesWritten, &m_socket, [this] {
            if (m_socket.bytesToWrite() < m_chunk.size())
                sendChunk();
        });
        QObject::connect(&m_socket, &QIODevice::readyRead, &m_socket,
                         [this] { m_reply += m_socket.readAll(); });
        m_clock.start();
        if (!from.isNull())
            m_socket.bind(from);
        m_socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), swarm.port());
    }

    bool waitEncrypted(int timeoutMs) {
        QElapsedTimer clock;
        clock.start();
        while (!m_encrypted && m_socket.state() != QAbstractSocket::UnconnectedState &&
               clock.elapsed() < timeoutMs)
            QTest::qWait(5);
        return m_encrypted;
    }
    QSslSocket& socket() { return m_socket; }
    bool encrypted() const { return m_encrypted; }
    bool closed() const { return m_socket.state() == QAbstractSocket::UnconnectedState; }
    int chunksSent() const { return m_chunksSent; }
    // What the gateway answered (empty, or its 431) so far.
    QByteArray reply() const { return m_reply; }
    qint64 ageMs() const { return m_clock.elapsed(); }

private:
    void sendChunk() {
        if (m_chunksSent < m_mib && m_socket.state() == QAbstractSocket::ConnectedState) {
            m_socket.write(m_chunk);
            ++m_chunksSent;
        }
    }

    int m_mib;
    QByteArray m_chunk;
    QSslSocket m_socket;
    QByteArray m_reply;
    QElapsedTimer m_clock;
    bool m_encrypted = false;
    int m_chunksSent = 0;
};

// The resident set of a process in KiB, from /proc (-1 if unreadable).
inline qint64 rssKiB(qint64 pid) {
    QFile f(QStringLiteral("/proc/%1/status").arg(pid));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray& line : f.readAll().split('\n'))
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong();
    return -1;
}

// A WebSocket upgrade request, written by hand (to send raw frames after it).
inline QByteArray websocketUpgrade(quint16 port) {
    return "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + QByteArray::number(port) +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n";
}

// A masked binary frame header announcing `payloadBytes` (64-bit length form), mask key included.
inline QByteArray frameHeader(quint64 payloadBytes) {
    QByteArray h;
    h.append(char(0x82)); // FIN + binary
    h.append(char(0x80 | 127));
    for (int i = 7; i >= 0; --i)
        h.append(char((payloadBytes >> (8 * i)) & 0xff));
    h.append("\x11\x22\x33\x44", 4);
    return h;
}

// The close code of the first close frame (server frames are not masked) after the HTTP 101 answer.
inline int closeCodeIn(const QByteArray& received) {
    const qsizetype headerEnd = received.indexOf("\r\n\r\n");
    if (headerEnd < 0)
        return -1;
    qsizetype pos = headerEnd + 4;
    while (pos + 2 <= received.size()) {
        const quint8 opcode = quint8(received[pos]) & 0x0f;
        quint64 length = quint8(received[pos + 1]) & 0x7f;
        qsizetype at = pos + 2;
        if (length == 126) {
            length = (quint8(received[at]) << 8) | quint8(received[at + 1]);
            at += 2;
        } else if (length == 127) {
            length = 0;
            for (int i = 0; i < 8; ++i)
                length = (length << 8) | quint8(received[at + i]);
            at += 8;
        }
        if (opcode == 0x8 && length >= 2 && at + 2 <= received.size())
            return (quint8(received[at]) << 8) | quint8(received[at + 1]);
        pos = at + qsizetype(length);
    }
    return -1;
}

// A protocol client in this process: Hello, then any number of Submits on one connection.
struct PipelinedClient {
    std::unique_ptr<declai::net::Channel> channel;
    bool welcomed = false;
    std::map<uint64_t, QString> failed; // request id -> reason
    std::map<uint64_t, int64_t> done;   // request id -> cost in microcredits

    std::map<uint64_t, std::string> text; // request id -> streamed text (tokens, then the done tail)

    // `url`: where to connect instead of the swarm's own address (e.g. a relay).
    PipelinedClient(const Swarm& swarm, const QString& apiKey, const QUrl& url = QUrl()) {
        auto socket = std::make_unique<QWebSocket>();
        socket->setSslConfiguration(trustingSwarm(swarm));
        QWebSocket* raw = socket.get();
        channel = std::make_unique<declai::net::Channel>(std::move(socket), declai::net::ChannelLimits{});
        QObject::connect(raw, &QWebSocket::connected, [this, apiKey] {
            declai::wire::Hello hello;
            hello.set_role(declai::wire::CLIENT);
            hello.set_min_protocol_version(declai::wire::kMinProtocolVersion);
            hello.set_max_protocol_version(declai::wire::kProtocolVersion);
            hello.set_api_key(apiKey.toStdString());
            channel->send(declai::wire::HELLO, hello);
        });
        QObject::connect(
            channel.get(), &declai::net::Channel::envelopeReceived, [this](const declai::wire::Envelope& e) {
                if (e.type() == declai::wire::WELCOME)
                    welcomed = true;
                if (auto f = declai::wire::decodeBody<declai::wire::Failed>(e, declai::wire::FAILED))
                    failed[f->request_id()] = QString::fromStdString(f->reason());
                if (auto t = declai::wire::decodeBody<declai::wire::Token>(e, declai::wire::TOKEN))
                    text[t->request_id()] += t->text();
                if (auto d = declai::wire::decodeBody<declai::wire::Done>(e, declai::wire::DONE)) {
                    done[d->request_id()] = d->cost_microcredits();
                    text[d->request_id()] += d->text_tail();
                }
            });
        raw->open(url.isEmpty() ? QUrl(swarm.url()) : url);
    }
    bool waitWelcome() {
        QElapsedTimer clock;
        clock.start();
        while (!welcomed && clock.elapsed() < 10000)
            QTest::qWait(10);
        return welcomed;
    }
    void submit(uint64_t requestId, int tokens, const char* priority = "normal", bool quoteOnly = false,
                const std::string& prompt = "Once upon a time") {
        declai::wire::Submit submit;
        submit.set_request_id(requestId);
        submit.set_model("stories260K");
        submit.set_prompt(prompt);
        submit.set_max_tokens(static_cast<uint32_t>(tokens));
        submit.set_priority(priority);
        submit.set_quote_only(quoteOnly);
        channel->send(declai::wire::SUBMIT, submit);
    }
    size_t answers() const { return failed.size() + done.size(); }
    bool waitAnswers(size_t count, int timeoutMs) {
        QElapsedTimer clock;
        clock.start();
        while (answers() < count && clock.elapsed() < timeoutMs)
            QTest::qWait(10);
        return answers() >= count;
    }
};

} // namespace declai::testdata
