// The gateway refuses bad peers with a reason and stays healthy: wrong protocol version, bad handshake
// signature, a replayed handshake, malformed, text, oversized and replayed frames, silence, and a stage
// answer with a forged signature. Runs a real ServerApp (TLS on loopback) in-process.
#include "ProtocolPeer.h"
#include "TestData.h"
#include "declai/core/Identity.h"
#include "declai/core/WireCodec.h"
#include "declai/server/ServerApp.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>
#include <optional>

using namespace declai;

using testdata::nodeHello;
using testdata::ProtocolPeer;

class TestGatewayProtocol : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<server::ServerApp> m_server;
    quint16 m_port = 0;

    QString ca() const { return QDir(m_dir.path()).filePath(QStringLiteral("data/tls/server.crt")); }

    // A fully authenticated node connection; returns the challenge nonce.
    std::string handshake(ProtocolPeer& peer, const NodeIdentity& id) {
        return peer.nodeHandshake(m_port, id) ? peer.channelBinding : std::string();
    }

    void expectGatewayHealthy() {
        auto id = NodeIdentity::generateInMemory();
        QVERIFY(id);
        ProtocolPeer good(ca());
        QVERIFY2(!handshake(good, *id).empty(), "a good node could not connect after the bad one");
    }

private Q_SLOTS:
    void initTestCase() {
        const QString model = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (model.isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf not in DECLAI_MODEL_PATH"));
        QDir(m_dir.path()).mkpath(QStringLiteral("models"));
        QFile::link(model, QDir(m_dir.path()).filePath(QStringLiteral("models/stories260K.gguf")));
        auto config = server::ServerConfig::fromArguments(
            {QStringLiteral("declai-server"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
             QStringLiteral("--model-dir"), QDir(m_dir.path()).filePath(QStringLiteral("models")),
             QStringLiteral("--data-dir"), QDir(m_dir.path()).filePath(QStringLiteral("data"))});
        QVERIFY2(config, config ? "" : config.error().message.c_str());
        config->handshakeTimeoutMs = 500;
        config->clientMaxMessageBytes = 64 * 1024;
        m_server = std::make_unique<server::ServerApp>(*config);
        auto port = m_server->start();
        QVERIFY2(port, port ? "" : port.error().message.c_str());
        m_port = *port;
    }

    void wrongEnvelopeVersionIsRefused() {
        ProtocolPeer peer(ca());
        QVERIFY(peer.open(m_port));
        auto id = NodeIdentity::generateInMemory();
        peer.send(wire::HELLO, nodeHello(*id), 99);
        QVERIFY(peer.waitClosed());
        QCOMPARE(peer.rejectCode(), wire::UNSUPPORTED_VERSION);
        QVERIFY2(peer.closeReason.contains(QStringLiteral("version")), qPrintable(peer.closeReason));
        expectGatewayHealthy();
    }

    void unsupportedHelloVersionRangeIsRefused() {
        ProtocolPeer peer(ca());
        QVERIFY(peer.open(m_port));
        auto id = NodeIdentity::generateInMemory();
        wire::Hello hello = nodeHello(*id);
        hello.set_min_protocol_version(5);
        hello.set_max_protocol_version(9);
        peer.send(wire::HELLO, hello);
        QVERIFY(peer.waitClosed());
        QCOMPARE(peer.rejectCode(), wire::UNSUPPORTED_VERSION);
    }

    void badChallengeSignatureIsRefused() {
        ProtocolPeer peer(ca());
        QVERIFY(peer.open(m_port));
        auto id = NodeIdentity::generateInMemory();
        auto other = NodeIdentity::generateInMemory();
        peer.send(wire::HELLO, nodeHello(*id));
        QVERIFY(peer.waitFor(wire::CHALLENGE));
        wire::Challenge challenge;
        challenge.ParseFromString(peer.first(wire::CHALLENGE)->body());
        wire::ChallengeResponse response; // signed by another key
        response.set_signature(other->sign(authChallengeMessage(challenge.nonce(), id->publicKey())));
        peer.send(wire::CHALLENGE_RESPONSE, response);
        QVERIFY(peer.waitClosed());
        QCOMPARE(peer.rejectCode(), wire::BAD_SIGNATURE);
        QVERIFY(!peer.first(wire::WELCOME));
        expectGatewayHealthy();
    }

    void replayedHandshakeIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        // A genuine handshake, whose answer an eavesdropper on a broken channel might have kept...
        ProtocolPeer first(ca());
        const std::string nonce = handshake(first, *id);
        QVERIFY(!nonce.empty());
        const std::string capturedSignature = id->sign(authChallengeMessage(nonce, id->publicKey()));
        // ...is worthless on a new connection: the server's nonce is new.
        ProtocolPeer replay(ca());
        QVERIFY(replay.open(m_port));
        replay.send(wire::HELLO, nodeHello(*id));
        QVERIFY(replay.waitFor(wire::CHALLENGE));
        wire::ChallengeResponse response;
        response.set_signature(capturedSignature);
        replay.send(wire::CHALLENGE_RESPONSE, response);
        QVERIFY(replay.waitClosed());
        QCOMPARE(replay.rejectCode(), wire::BAD_SIGNATURE);
    }

    void malformedFrameIsRefused() {
        ProtocolPeer peer(ca());
        QVERIFY(peer.open(m_port));
        static const char garbage[] = "\xff\xff\xff\xff garbage that is not protobuf";
        peer.socket.sendBinaryMessage(
            QByteArray(garbage, sizeof garbage - 1)); // ASan: no read past the literal
        QVERIFY(peer.waitClosed());
        QCOMPARE(peer.rejectCode(), wire::MALFORMED);
        QCOMPARE(peer.closeCode, QWebSocketProtocol::CloseCodeProtocolError);
        expectGatewayHealthy();
    }

    void textFrameIsRefused() {
        ProtocolPeer peer(ca());
        QVERIFY(peer.open(m_port));
        peer.socket.sendTextMessage(QStringLiteral("{\"hello\": true}"));
        QVERIFY(peer.waitClosed());
        QCOMPARE(peer.closeCode, QWebSocketProtocol::CloseCodeDatatypeNotSupported);
    }

    void oversizedFrameIsClosedWith1009() {
        ProtocolPeer peer(ca());
        QVERIFY(peer.open(m_port));
        peer.socket.sendBinaryMessage(QByteArray(200 * 1024, 'x')); // limit is 64 KiB here
        QVERIFY(peer.waitClosed());
        QCOMPARE(peer.closeCode, QWebSocketProtocol::CloseCodeTooMuchData);
        expectGatewayHealthy();
    }

    void replayedSequenceNumberIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        QVERIFY(!handshake(peer, *id).empty());
        wire::NodeStatus status;
        peer.send(wire::NODE_STATUS, status, wire::kProtocolVersion, uint64_t(1)); // seq 1 was the Hello
        QVERIFY(peer.waitClosed());
        QCOMPARE(peer.rejectCode(), wire::REPLAY);
    }

    void silentPeerTimesOut() {
        ProtocolPeer peer(ca());
        QVERIFY(peer.open(m_port));
        QVERIFY(peer.waitClosed(5000)); // handshake timeout is 500 ms in this test
        QCOMPARE(peer.rejectCode(), wire::TIMEOUT);
    }

    void forgedStageAnswerIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        auto other = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        const std::string nonce = handshake(peer, *id);
        QVERIFY(!nonce.empty());
        const uint64_t before = m_server->orchestrator().stats().badSignatures;
        wire::StageResponse response;
        response.set_session_id(42);
        // Signed by the wrong key: refused.
        peer.sendEnvelope(testdata::signedBy(
            *other, nonce, testdata::envelopeOf(wire::STAGE_RESPONSE, response, ++peer.seq)));
        QVERIFY(peer.waitClosed());
        QCOMPARE(m_server->orchestrator().stats().badSignatures, before + 1);
        QCOMPARE(peer.rejectCode(), wire::BAD_SIGNATURE);
        expectGatewayHealthy();
    }

    void correctlySignedStageAnswerIsAccepted() {
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        const std::string nonce = handshake(peer, *id);
        QVERIFY(!nonce.empty());
        wire::StageResponse response;
        response.set_session_id(42); // no such session: ignored, but the connection stays
        peer.sendEnvelope(
            testdata::signedBy(*id, nonce, testdata::envelopeOf(wire::STAGE_RESPONSE, response, ++peer.seq)));
        QTest::qWait(300);
        QVERIFY(!peer.closed);
    }
};

QTEST_GUILESS_MAIN(TestGatewayProtocol)
#include "tst_gateway_protocol.moc"
