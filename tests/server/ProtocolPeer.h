// A peer that speaks the wire protocol directly from a test, over a real TLS WebSocket: sends hand-made
// (possibly forged) envelopes, signed with a node's Ed25519 identity when asked, records every envelope that
// comes back and can react to each one. The one low-level peer of the tests: the node handshake (blocking or
// started in the background), envelope building and signing live here; FakeNode.h and HonestNode.h are built
// on it. Lives on the test's thread and runs on its event loop; every wait is bounded.
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

// An unsigned envelope around `body`.
inline wire::Envelope envelopeOf(wire::MessageType type, const google::protobuf::MessageLite& body,
                                 uint64_t seq, uint32_t version = wire::kProtocolVersion) {
    wire::Envelope e;
    e.set_protocol_version(version);
    e.set_type(type);
    e.set_seq(seq);
    e.set_body(body.SerializeAsString());
    return e;
}

// `e` signed as a node signs its answers: over SignedPayload, bound to the connection's handshake nonce.
inline wire::Envelope signedBy(const NodeIdentity& id, const std::string& binding, wire::Envelope e) {
    e.set_signature(id.sign(wire::signedPayload(e, binding)));
    return e;
}

inline QByteArray bytesOf(const wire::Envelope& e) {
    const std::string s = e.SerializeAsString();
    return QByteArray(s.data(), qsizetype(s.size()));
}

// A node's Hello. stageBatches: announce that StageBatch frames are understood (the gateway then sends them).
inline wire::Hello nodeHello(const NodeIdentity& id, bool stageBatches = false,
                             uint32_t minVersion = wire::kProtocolVersion) {
    wire::Hello hello;
    hello.set_role(wire::NODE);
    hello.set_stage_batches(stageBatches);
    hello.set_min_protocol_version(minVersion);
    hello.set_max_protocol_version(wire::kProtocolVersion);
    hello.set_public_key(id.publicKey());
    return hello;
}

struct ProtocolPeer {
    QWebSocket socket;
    std::vector<wire::Envelope> received; // every envelope that arrived, unless keepEnvelopes is cleared
    bool keepEnvelopes = true; // cleared by long-lived peers that only react (FakeNode): bounded memory
    std::function<void(const wire::Envelope&)> onEnvelope; // called for each envelope as it arrives
    bool keepRawFrames = false; // when set, every frame as it arrived (binary and text) goes to rawFrames
    std::vector<QByteArray> rawFrames;
    bool welcomed = false; // a Welcome arrived
    bool closed = false;
    QWebSocketProtocol::CloseCode closeCode = QWebSocketProtocol::CloseCodeNormal;
    QString closeReason;
    uint64_t seq = 0;           // of the last envelope sent by send()/sendSigned()
    std::string channelBinding; // the handshake nonce (nodes), which every later signature covers

    explicit ProtocolPeer(const QString& caFile) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(caFile));
        socket.setSslConfiguration(tls);
        QObject::connect(&socket, &QWebSocket::textMessageReceived, [this](const QString& text) {
            if (keepRawFrames)
                rawFrames.push_back(text.toUtf8());
        });
        QObject::connect(&socket, &QWebSocket::binaryMessageReceived,
                         [this](const QByteArray& frame) { onFrame(frame); });
        QObject::connect(&socket, &QWebSocket::disconnected, [this] {
            closed = true;
            closeCode = socket.closeCode();
            closeReason = socket.closeReason();
        });
    }

    // Connects to the gateway on 127.0.0.1:port without waiting.
    void openAsync(quint16 port) { socket.open(QUrl(QStringLiteral("wss://127.0.0.1:%1").arg(port))); }
    // Connects and waits (at most 10 s) for the WebSocket to be open.
    bool open(quint16 port) {
        openAsync(port);
        return waitUntil([this] { return socket.state() == QAbstractSocket::ConnectedState; }, 10000);
    }

    void sendEnvelope(const wire::Envelope& e) { socket.sendBinaryMessage(bytesOf(e)); }
    // The next envelope of this connection (or one with a forced seq, version or signature, to misbehave).
    void send(wire::MessageType type, const google::protobuf::MessageLite& body,
              uint32_t version = wire::kProtocolVersion, std::optional<uint64_t> forcedSeq = std::nullopt,
              const std::string& signature = {}) {
        wire::Envelope e = envelopeOf(type, body, forcedSeq ? *forcedSeq : ++seq, version);
        if (!signature.empty())
            e.set_signature(signature);
        sendEnvelope(e);
    }
    // Signed like the node signs stage answers: over SignedPayload bound to this connection's nonce.
    void sendSigned(wire::MessageType type, const google::protobuf::MessageLite& body,
                    const NodeIdentity& id) {
        sendEnvelope(signedBy(id, channelBinding, envelopeOf(type, body, ++seq)));
    }

    // Answers a Challenge envelope with `id`'s signature over its nonce; the nonce becomes channelBinding.
    void answerChallenge(const wire::Envelope& challengeEnvelope, const NodeIdentity& id) {
        wire::Challenge challenge;
        challenge.ParseFromString(challengeEnvelope.body());
        channelBinding = challenge.nonce();
        wire::ChallengeResponse response;
        response.set_signature(id.sign(authChallengeMessage(channelBinding, id.publicKey())));
        send(wire::CHALLENGE_RESPONSE, response);
    }

    // Starts the node handshake without waiting, for callers that drive many connections at once: `hello`
    // once connected, the ChallengeResponse when the Challenge arrives; `welcomed` turns true at the Welcome.
    // `id` must outlive the handshake.
    void startNodeHandshake(quint16 port, const NodeIdentity& id, const wire::Hello& hello) {
        m_handshakeIdentity = &id;
        QObject::connect(&socket, &QWebSocket::connected, &socket,
                         [this, hello] { send(wire::HELLO, hello); });
        openAsync(port);
    }
    // The node handshake (Hello, Challenge, signed ChallengeResponse, Welcome), waiting at most 15 s; false
    // when refused. stageBatches: see nodeHello.
    bool nodeHandshake(quint16 port, const NodeIdentity& id, bool stageBatches = false) {
        startNodeHandshake(port, id, nodeHello(id, stageBatches));
        return waitUntil([this] { return welcomed || closed; }, 15000) && welcomed;
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
        return waitUntil([this] { return welcomed || closed; }, 5000) && welcomed;
    }

    int count(wire::MessageType type) const {
        int n = 0;
        for (const auto& e : received)
            n += e.type() == type ? 1 : 0;
        return n;
    }
    bool waitFor(wire::MessageType type, int timeoutMs = 5000) {
        return waitUntil([this, type] { return count(type) > 0; }, timeoutMs);
    }
    std::optional<wire::Envelope> first(wire::MessageType type) const {
        for (const auto& e : received)
            if (e.type() == type)
                return e;
        return std::nullopt;
    }
    bool waitClosed(int timeoutMs = 5000) {
        return waitUntil([this] { return closed; }, timeoutMs);
    }
    // The code of the first Reject received (REJECT_CODE_UNSPECIFIED when none).
    wire::RejectCode rejectCode() const {
        wire::Reject reject;
        if (auto r = first(wire::REJECT))
            reject.ParseFromString(r->body());
        return reject.code();
    }

    // Polls `done` on the event loop every 10 ms for at most timeoutMs.
    template <typename F>
    static bool waitUntil(F done, int timeoutMs) {
        QElapsedTimer clock;
        clock.start();
        while (!done() && clock.elapsed() < timeoutMs)
            QTest::qWait(10);
        return done();
    }

private:
    void onFrame(const QByteArray& frame) {
        if (keepRawFrames)
            rawFrames.push_back(frame);
        wire::Envelope e;
        if (!e.ParseFromArray(frame.constData(), int(frame.size())))
            return;
        if (e.type() == wire::CHALLENGE && m_handshakeIdentity && channelBinding.empty())
            answerChallenge(e, *m_handshakeIdentity);
        else if (e.type() == wire::WELCOME)
            welcomed = true;
        if (keepEnvelopes)
            received.push_back(e);
        if (onEnvelope)
            onEnvelope(e);
    }

    const NodeIdentity* m_handshakeIdentity = nullptr; // set by startNodeHandshake
};

} // namespace declai::testdata
