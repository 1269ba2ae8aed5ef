// net::Channel over a real TLS WebSocket on loopback. A peer that pipelines many small frames, each answered
// at once, must not drive the answering side into recursion: a Channel flushes every frame it sends, Qt's
// OpenSSL backend reads and decrypts what has arrived inside that flush, so the frames were delivered (and
// answered, and flushed again) from inside it, one stack level per frame, until the server crashed
// (docs/security.md, "Pipelined frames and the stack").
#include "declai/network/Channel.h"
#include "declai/network/TlsSetup.h"

#include <QTemporaryDir>
#include <QWebSocketServer>
#include <QtTest>
#include <algorithm>
#include <memory>

using namespace declai;

namespace {

constexpr int kTimeoutMs = 20000;

} // namespace

class TestChannel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void pipelinedFramesAnsweredWithoutRecursion();

private:
    QTemporaryDir m_dir;
    QSslConfiguration m_serverConfig;
};

void TestChannel::initTestCase() {
    QVERIFY2(QSslSocket::supportsSsl(), "Qt has no working TLS backend");
    QVERIFY(m_dir.isValid());
    const auto made = net::ensureServerCertificate(m_dir.path(), {});
    QVERIFY2(made, made ? "" : made.error().toString().c_str());
    auto config = net::serverTlsConfiguration(m_dir.filePath(QStringLiteral("tls/server.crt")),
                                              m_dir.filePath(QStringLiteral("tls/server.key")));
    QVERIFY2(config, config ? "" : config.error().toString().c_str());
    m_serverConfig = *config;
}

void TestChannel::pipelinedFramesAnsweredWithoutRecursion() {
    QWebSocketServer server(QStringLiteral("tst_channel"), QWebSocketServer::SecureMode);
    server.setSslConfiguration(m_serverConfig);
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));

    // The answering side: every frame is answered from its own handler, as the server's admission does.
    std::unique_ptr<net::Channel> answering;
    int depth = 0;
    int deepest = 0;
    int answered = 0;
    connect(&server, &QWebSocketServer::newConnection, this, [&] {
        answering = std::make_unique<net::Channel>(
            std::unique_ptr<QWebSocket>(server.nextPendingConnection()), net::ChannelLimits{});
        connect(answering.get(), &net::Channel::envelopeReceived, this, [&](const wire::Envelope&) {
            ++depth;
            deepest = std::max(deepest, depth);
            wire::Reject reply;
            reply.set_reason("too many requests in flight");
            answering->send(wire::REJECT, reply);
            ++answered;
            --depth;
        });
    });

    auto tls = net::clientTlsConfiguration({QString(), QString(), true});
    QVERIFY(tls);
    auto socket = std::make_unique<QWebSocket>();
    socket->setSslConfiguration(*tls);
    QWebSocket* raw = socket.get();
    net::Channel pipelining(std::move(socket), net::ChannelLimits{});
    int replies = 0;
    connect(&pipelining, &net::Channel::envelopeReceived, this, [&](const wire::Envelope&) { ++replies; });
    QSignalSpy connected(raw, &QWebSocket::connected);
    raw->open(QUrl(QStringLiteral("wss://127.0.0.1:%1").arg(server.serverPort())));
    QVERIFY(QTest::qWaitFor([&] { return !connected.isEmpty() && answering; }, kTimeoutMs));

    // Every frame is written at once (Channel flushes), so they queue up at the answering side faster
    // than its event loop takes them.
    constexpr int kFrames = 4000;
    wire::Submit submit;
    submit.set_prompt("x");
    for (int i = 0; i < kFrames; ++i)
        pipelining.send(wire::SUBMIT, submit);
    QVERIFY2(QTest::qWaitFor([&] { return replies == kFrames; }, kTimeoutMs),
             qPrintable(QStringLiteral("%1 of %2 frames answered, %3 answers arrived")
                            .arg(answered)
                            .arg(kFrames)
                            .arg(replies)));
    // A handler may run inside the flush of one answer (depth 2), never deeper.
    QVERIFY2(deepest <= 2, qPrintable(QStringLiteral("handlers nested %1 deep").arg(deepest)));
}

QTEST_GUILESS_MAIN(TestChannel)
#include "tst_channel.moc"
