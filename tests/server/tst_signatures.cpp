// What a node's signature on a stage answer covers, pinned down against a real gateway (ServerApp with TLS
// on loopback, in-process) by a node that speaks the protocol by hand. The signature covers version, type,
// seq, body and the connection's handshake nonce: an answer whose body changed after signing, an unsigned
// answer, an answer moved to another seq or another connection, and a replay of the very same frame are each
// refused (Reject, then close 1008) and counted in the gateway's statistics. A correctly signed answer keeps
// the connection open, so each refusal is the signature's doing and not the fake node's.
#include "ProtocolPeer.h"
#include "TestData.h"
#include "declai/core/Identity.h"
#include "declai/core/WireCodec.h"
#include "declai/server/ServerApp.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace declai;
using testdata::ProtocolPeer;

namespace {

wire::StageResponse answer(const std::string& hidden, uint32_t computeUs) {
    wire::StageResponse response;
    response.set_session_id(42); // no such session: a valid answer is dropped, the connection stays
    response.set_hidden(hidden);
    response.set_compute_us(computeUs);
    return response;
}

wire::Envelope stageEnvelope(uint64_t seq, const wire::StageResponse& body) {
    return testdata::envelopeOf(wire::STAGE_RESPONSE, body, seq);
}

// The envelope as an honest node sends it: signed over the payload the gateway checks.
wire::Envelope signedEnvelope(const NodeIdentity& id, const std::string& binding, uint64_t seq,
                              const wire::StageResponse& body) {
    return testdata::signedBy(id, binding, stageEnvelope(seq, body));
}

} // namespace

class TestSignatures : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<server::ServerApp> m_server;
    quint16 m_port = 0;

    QString ca() const { return QDir(m_dir.path()).filePath(QStringLiteral("data/tls/server.crt")); }
    const server::OrchestratorStats& stats() const { return m_server->orchestrator().stats(); }

    // Expects `peer` to be refused with `code` and closed as a policy violation.
    static void expectRefused(ProtocolPeer& peer, wire::RejectCode code) {
        QVERIFY2(peer.waitClosed(), "the gateway kept a connection that sent a bad stage answer");
        QCOMPARE(peer.rejectCode(), code);
        QCOMPARE(peer.closeCode, QWebSocketProtocol::CloseCodePolicyViolated);
    }

private Q_SLOTS:
    void initTestCase() {
        const QString model = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (model.isEmpty())
            QSKIP("stories260K.gguf not in DECLAI_MODEL_PATH");
        QDir(m_dir.path()).mkpath(QStringLiteral("models"));
        QFile::link(model, QDir(m_dir.path()).filePath(QStringLiteral("models/stories260K.gguf")));
        auto config = server::ServerConfig::fromArguments(
            {QStringLiteral("declai-server"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
             QStringLiteral("--no-credits"), QStringLiteral("--model-dir"),
             QDir(m_dir.path()).filePath(QStringLiteral("models")), QStringLiteral("--data-dir"),
             QDir(m_dir.path()).filePath(QStringLiteral("data"))});
        QVERIFY2(config, config ? "" : config.error().message.c_str());
        m_server = std::make_unique<server::ServerApp>(*config);
        auto port = m_server->start();
        QVERIFY2(port, port ? "" : port.error().message.c_str());
        m_port = *port;
    }

    // The control: without it every refusal below could be the fake node's fault.
    void correctlySignedAnswersAreAccepted() {
        auto id = NodeIdentity::generateInMemory();
        QVERIFY(id);
        ProtocolPeer peer(ca());
        QVERIFY(peer.nodeHandshake(m_port, *id));
        const std::string binding = peer.channelBinding;
        const uint64_t badBefore = stats().badSignatures;
        for (uint32_t i = 0; i < 3; ++i)
            peer.sendEnvelope(signedEnvelope(*id, binding, ++peer.seq, answer("hidden-state", 10 + i)));
        QTest::qWait(300);
        QVERIFY2(!peer.closed, qPrintable(peer.closeReason));
        QVERIFY(!peer.first(wire::REJECT));
        QCOMPARE(stats().badSignatures, badBefore);
    }

    void bodyChangedAfterSigningIsRefused_data() {
        QTest::addColumn<QByteArray>("changedHidden");
        QTest::addColumn<uint>("changedComputeUs");
        QTest::newRow("hidden state replaced") << QByteArray("forged-state") << 10u;
        QTest::newRow("compute time inflated") << QByteArray("hidden-state") << 10000000u;
    }
    void bodyChangedAfterSigningIsRefused() {
        QFETCH(QByteArray, changedHidden);
        QFETCH(uint, changedComputeUs);
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        QVERIFY(peer.nodeHandshake(m_port, *id));
        const std::string binding = peer.channelBinding;
        const uint64_t badBefore = stats().badSignatures;
        const uint64_t computeBefore = stats().nodeComputeUs;
        // Signed by the right key over the honest body; a man in the middle (or the node itself, later)
        // swaps the body and keeps the signature.
        wire::Envelope e = signedEnvelope(*id, binding, ++peer.seq, answer("hidden-state", 10));
        e.set_body(answer(changedHidden.toStdString(), changedComputeUs).SerializeAsString());
        QVERIFY(e.body() != stageEnvelope(0, answer("hidden-state", 10)).body());
        peer.sendEnvelope(e);
        expectRefused(peer, wire::BAD_SIGNATURE);
        QCOMPARE(stats().badSignatures, badBefore + 1);
        QCOMPARE(stats().nodeComputeUs, computeBefore);
    }

    void unsignedAnswerIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        QVERIFY(peer.nodeHandshake(m_port, *id));
        const uint64_t badBefore = stats().badSignatures;
        peer.sendEnvelope(stageEnvelope(++peer.seq, answer("hidden-state", 10)));
        expectRefused(peer, wire::BAD_SIGNATURE);
        QCOMPARE(stats().badSignatures, badBefore + 1);
    }

    void truncatedSignatureIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        QVERIFY(peer.nodeHandshake(m_port, *id));
        const std::string binding = peer.channelBinding;
        const uint64_t badBefore = stats().badSignatures;
        wire::Envelope e = signedEnvelope(*id, binding, ++peer.seq, answer("hidden-state", 10));
        e.set_signature(e.signature().substr(0, 63));
        peer.sendEnvelope(e);
        expectRefused(peer, wire::BAD_SIGNATURE);
        QCOMPARE(stats().badSignatures, badBefore + 1);
    }

    // The exact frame again: the seq is not above the last one, so the channel refuses it before anyone
    // looks at the body; the gateway counts it as a protocol violation.
    void replayedFrameIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        QVERIFY(peer.nodeHandshake(m_port, *id));
        const std::string binding = peer.channelBinding;
        const wire::Envelope e = signedEnvelope(*id, binding, ++peer.seq, answer("hidden-state", 10));
        const uint64_t violationsBefore = stats().protocolViolations;
        const uint64_t badBefore = stats().badSignatures;
        peer.sendEnvelope(e);
        QTest::qWait(200);
        QVERIFY2(!peer.closed, qPrintable(peer.closeReason)); // the original is fine
        peer.sendEnvelope(e);
        expectRefused(peer, wire::REPLAY);
        QCOMPARE(stats().protocolViolations, violationsBefore + 1);
        QCOMPARE(stats().badSignatures, badBefore);
    }

    // A captured answer replayed under a fresh seq: the signature covers the seq, so it no longer verifies.
    void answerMovedToAnotherSeqIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        QVERIFY(peer.nodeHandshake(m_port, *id));
        const std::string binding = peer.channelBinding;
        const uint64_t badBefore = stats().badSignatures;
        wire::Envelope e = signedEnvelope(*id, binding, ++peer.seq, answer("hidden-state", 10));
        peer.sendEnvelope(e);
        QTest::qWait(200);
        QVERIFY2(!peer.closed, qPrintable(peer.closeReason));
        e.set_seq(++peer.seq);
        peer.sendEnvelope(e);
        expectRefused(peer, wire::BAD_SIGNATURE);
        QCOMPARE(stats().badSignatures, badBefore + 1);
    }

    // An answer signed on one connection replayed on another of the same node: the nonce differs.
    void answerMovedToAnotherConnectionIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        ProtocolPeer first(ca());
        QVERIFY(first.nodeHandshake(m_port, *id));
        const std::string binding = first.channelBinding;
        const wire::Envelope e = signedEnvelope(*id, binding, first.seq + 1, answer("hidden-state", 10));
        first.socket.close();
        QVERIFY(first.waitClosed());
        ProtocolPeer second(ca());
        QVERIFY(second.nodeHandshake(m_port, *id));
        QCOMPARE(second.seq, first.seq); // same seq on both connections: only the binding differs
        const uint64_t badBefore = stats().badSignatures;
        ++second.seq;
        second.sendEnvelope(e);
        expectRefused(second, wire::BAD_SIGNATURE);
        QCOMPARE(stats().badSignatures, badBefore + 1);
    }

    // An answer signed by another key (the existing forged-signature case, here for completeness of the
    // table in docs/security.md).
    void answerSignedByAnotherKeyIsRefused() {
        auto id = NodeIdentity::generateInMemory();
        auto other = NodeIdentity::generateInMemory();
        ProtocolPeer peer(ca());
        QVERIFY(peer.nodeHandshake(m_port, *id));
        const std::string binding = peer.channelBinding;
        const uint64_t badBefore = stats().badSignatures;
        peer.sendEnvelope(signedEnvelope(*other, binding, ++peer.seq, answer("hidden-state", 10)));
        expectRefused(peer, wire::BAD_SIGNATURE);
        QCOMPARE(stats().badSignatures, badBefore + 1);
    }

    void statusReportsTheCounts() {
        const QJsonObject status = m_server->orchestrator().statusJson();
        QCOMPARE(status.value(QStringLiteral("bad_signatures")).toInteger(), qint64(stats().badSignatures));
        QVERIFY(status.value(QStringLiteral("bad_signatures")).toInteger() >= 6);
        QCOMPARE(status.value(QStringLiteral("protocol_violations")).toInteger(),
                 qint64(stats().protocolViolations));
        QVERIFY(status.value(QStringLiteral("protocol_violations")).toInteger() >= 1);
    }
};

QTEST_GUILESS_MAIN(TestSignatures)
#include "tst_signatures.moc"
