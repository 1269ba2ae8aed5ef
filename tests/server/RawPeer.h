// A raw protocol peer for gateway tests: sends hand-made (possibly forged) frames over a real WebSocket and
// records what comes back. Every wait is bounded.
#pragma once

#include "declai/core/Identity.h"
#include "declai/core/WireCodec.h"

#include <QElapsedTimer>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTest>
#include <QWebSocket>
#include <optional>
#include <vector>

namespace declai::testdata {

struct RawPeer {
    QWebSocket socket;
    std::vector<wire::Envelope> received;
    QWebSocketProtocol::CloseCode closeCode = QWebSocketProtocol::CloseCodeNormal;
    QString closeReason;
    bool closed = false;
    uint64_t seq = 0;

    explicit RawPeer(const QString& caFile) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(caFile));
        socket.setSslConfiguration(tls);
        QObject::connect(&socket, &QWebSocket::binaryMessageReceived, [this](const QByteArray& frame) {
            wire::Envelope e;
            if (e.ParseFromArray(frame.constData(), int(frame.size())))
                received.push_back(e);
        });
        QObject::connect(&socket, &QWebSocket::disconnected, [this] {
            closed = true;
            closeCode = socket.closeCode();
            closeReason = socket.closeReason();
        });
    }
    bool open(quint16 port) {
        socket.open(QUrl(QStringLiteral("wss://127.0.0.1:%1").arg(port)));
        QElapsedTimer t;
        t.start();
        while (socket.state() != QAbstractSocket::ConnectedState && t.elapsed() < 10000)
            QTest::qWait(10);
        return socket.state() == QAbstractSocket::ConnectedState;
    }
    void sendEnvelope(const wire::Envelope& e) {
        const std::string bytes = e.SerializeAsString();
        socket.sendBinaryMessage(QByteArray(bytes.data(), qsizetype(bytes.size())));
    }
    void send(wire::MessageType type, const google::protobuf::MessageLite& body,
              uint32_t version = wire::kProtocolVersion, std::optional<uint64_t> forcedSeq = std::nullopt,
              const std::string& signature = {}) {
        wire::Envelope e;
        e.set_protocol_version(version);
        e.set_type(type);
        e.set_seq(forcedSeq ? *forcedSeq : ++seq);
        e.set_body(body.SerializeAsString());
        if (!signature.empty())
            e.set_signature(signature);
        sendEnvelope(e);
    }
    bool waitFor(wire::MessageType type, int timeoutMs = 5000) {
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < timeoutMs) {
            for (const auto& e : received)
                if (e.type() == type)
                    return true;
            QTest::qWait(10);
        }
        return false;
    }
    std::optional<wire::Envelope> first(wire::MessageType type) const {
        for (const auto& e : received)
            if (e.type() == type)
                return e;
        return std::nullopt;
    }
    bool waitClosed(int timeoutMs = 5000) {
        QElapsedTimer t;
        t.start();
        while (!closed && t.elapsed() < timeoutMs)
            QTest::qWait(10);
        return closed;
    }
    wire::RejectCode rejectCode() const {
        auto r = first(wire::REJECT);
        wire::Reject reject;
        if (r)
            reject.ParseFromString(r->body());
        return reject.code();
    }
};

inline wire::Hello nodeHello(const NodeIdentity& id) {
    wire::Hello hello;
    hello.set_role(wire::NODE);
    hello.set_min_protocol_version(wire::kProtocolVersion);
    hello.set_max_protocol_version(wire::kProtocolVersion);
    hello.set_public_key(id.publicKey());
    return hello;
}

// A fully authenticated node connection on 127.0.0.1:port; returns the challenge nonce (the channel
// binding every later signature covers), or an empty string if the handshake failed.
inline std::string nodeHandshake(RawPeer& peer, quint16 port, const NodeIdentity& id) {
    if (!peer.open(port))
        return {};
    peer.send(wire::HELLO, nodeHello(id));
    if (!peer.waitFor(wire::CHALLENGE))
        return {};
    wire::Challenge challenge;
    challenge.ParseFromString(peer.first(wire::CHALLENGE)->body());
    wire::ChallengeResponse response;
    response.set_signature(id.sign(authChallengeMessage(challenge.nonce(), id.publicKey())));
    peer.send(wire::CHALLENGE_RESPONSE, response);
    return peer.waitFor(wire::WELCOME) ? challenge.nonce() : std::string();
}

} // namespace declai::testdata
