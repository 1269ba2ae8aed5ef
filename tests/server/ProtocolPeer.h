// A peer that speaks the wire protocol directly from a test: sends hand-made envelopes (signed with its
// own Ed25519 identity when asked), records every envelope that comes back and can react to each one.
// Lives on the test's thread; every wait is bounded.
#pragma once

#include "declai/core/Identity.h"
#include "declai/core/WireCodec.h"

#include <QElapsedTimer>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTest>
#include <QWebSocket>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace declai::testdata {

struct ProtocolPeer {
    QWebSocket socket;
    std::vector<wire::Envelope> received;
    std::function<void(const wire::Envelope&)> onEnvelope; // called for each envelope as it arrives
    bool closed = false;
    uint64_t seq = 0;
    std::string channelBinding; // the handshake nonce (nodes)
    bool keepRawFrames = false; // when set, every frame as it arrived (binary and text) goes to rawFrames
    std::vector<QByteArray> rawFrames;

    explicit ProtocolPeer(const QString& caFile) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(caFile));
        socket.setSslConfiguration(tls);
        QObject::connect(&socket, &QWebSocket::textMessageReceived, [this](const QString& text) {
            if (keepRawFrames)
                rawFrames.push_back(text.toUtf8());
        });
        QObject::connect(&socket, &QWebSocket::binaryMessageReceived, [this](const QByteArray& frame) {
            if (keepRawFrames)
                rawFrames.push_back(frame);
            wire::Envelope e;
            if (!e.ParseFromArray(frame.constData(), int(frame.size())))
                return;
            received.push_back(e);
            if (onEnvelope)
                onEnvelope(e);
        });
        QObject::connect(&socket, &QWebSocket::disconnected, [this] { closed = true; });
    }
    bool open(quint16 port) {
        socket.open(QUrl(QStringLiteral("wss://127.0.0.1:%1").arg(port)));
        QElapsedTimer t;
        t.start();
        while (socket.state() != QAbstractSocket::ConnectedState && t.elapsed() < 10000)
            QTest::qWait(10);
        return socket.state() == QAbstractSocket::ConnectedState;
    }
    void send(wire::MessageType type, const google::protobuf::MessageLite& body) {
        wire::Envelope e;
        e.set_protocol_version(wire::kProtocolVersion);
        e.set_type(type);
        e.set_seq(++seq);
        e.set_body(body.SerializeAsString());
        const std::string bytes = e.SerializeAsString();
        socket.sendBinaryMessage(QByteArray(bytes.data(), qsizetype(bytes.size())));
    }
    // Signed like the node signs stage answers: over SignedPayload bound to this connection's nonce.
    void sendSigned(wire::MessageType type, const google::protobuf::MessageLite& body,
                    const NodeIdentity& id) {
        wire::Envelope e;
        e.set_protocol_version(wire::kProtocolVersion);
        e.set_type(type);
        e.set_seq(++seq);
        e.set_body(body.SerializeAsString());
        e.set_signature(id.sign(wire::signedPayload(e, channelBinding)));
        const std::string bytes = e.SerializeAsString();
        socket.sendBinaryMessage(QByteArray(bytes.data(), qsizetype(bytes.size())));
    }
    int count(wire::MessageType type) const {
        int n = 0;
        for (const auto& e : received)
            n += e.type() == type ? 1 : 0;
        return n;
    }
    bool waitFor(wire::MessageType type, int timeoutMs = 5000) {
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < timeoutMs) {
            if (count(type) > 0)
                return true;
            QTest::qWait(10);
        }
        return count(type) > 0;
    }
    std::optional<wire::Envelope> first(wire::MessageType type) const {
        for (const auto& e : received)
            if (e.type() == type)
                return e;
        return std::nullopt;
    }
    // The node handshake (Hello, Challenge, signed ChallengeResponse, Welcome); false when refused.
    // stageBatches: announce that StageBatch frames are understood (the gateway then sends them).
    bool nodeHandshake(quint16 port, const NodeIdentity& id, bool stageBatches = false) {
        if (!open(port))
            return false;
        wire::Hello hello;
        hello.set_role(wire::NODE);
        hello.set_stage_batches(stageBatches);
        hello.set_min_protocol_version(wire::kProtocolVersion);
        hello.set_max_protocol_version(wire::kProtocolVersion);
        hello.set_public_key(id.publicKey());
        send(wire::HELLO, hello);
        if (!waitFor(wire::CHALLENGE))
            return false;
        wire::Challenge challenge;
        challenge.ParseFromString(first(wire::CHALLENGE)->body());
        wire::ChallengeResponse response;
        response.set_signature(id.sign(authChallengeMessage(challenge.nonce(), id.publicKey())));
        send(wire::CHALLENGE_RESPONSE, response);
        channelBinding = challenge.nonce();
        return waitFor(wire::WELCOME);
    }
    // A client of a gateway without credits.
    bool clientHandshake(quint16 port) {
        if (!open(port))
            return false;
        wire::Hello hello;
        hello.set_role(wire::CLIENT);
        hello.set_min_protocol_version(wire::kProtocolVersion);
        hello.set_max_protocol_version(wire::kProtocolVersion);
        send(wire::HELLO, hello);
        return waitFor(wire::WELCOME);
    }
};

} // namespace declai::testdata
