// The gateway's front door under abuse, against real processes on loopback (declai-server, one declai-node,
// declai-cli): aborted and half-open TLS handshakes, plain HTTP on the TLS port, huge and numerous HTTP
// headers, oversize WebSocket frames, and a closed port. After each attack an honest request must still be
// served quickly. Issue 11, findings 1, 4, 6 and 8.
#include "AbuseClients.h"

#include <QElapsedTimer>
#include <sys/resource.h>

using declai::testdata::closeCodeIn;
using declai::testdata::frameHeader;
using declai::testdata::HugeHeader;
using declai::testdata::openConnections;
using declai::testdata::partialClientHello;
using declai::testdata::PipelinedClient;
using declai::testdata::readUntilClosed;
using declai::testdata::rssKiB;
using declai::testdata::Swarm;
using declai::testdata::tlsConnect;
using declai::testdata::websocketUpgrade;

class TestGatewayAbuse : public QObject {
    Q_OBJECT

    std::unique_ptr<Swarm> m_swarm;

    // /v1/status must answer with the node list within `withinMs`.
    void expectStatusWithin(int withinMs, const char* after) {
        QElapsedTimer clock;
        clock.start();
        const QJsonObject status = m_swarm->status();
        const qint64 ms = clock.elapsed();
        QVERIFY2(
            status.contains(QStringLiteral("nodes")),
            qPrintable(QStringLiteral("no /v1/status answer after %1 (server log: %2)")
                           .arg(QLatin1String(after), m_swarm->log(QStringLiteral("server")).right(2000))));
        QVERIFY2(
            ms < withinMs,
            qPrintable(QStringLiteral("/v1/status took %1 ms after %2").arg(ms).arg(QLatin1String(after))));
    }

    void expectSubmitWithin(int withinMs, const char* after) {
        QElapsedTimer clock;
        clock.start();
        auto cli = m_swarm->submit(QStringLiteral("Once upon a time"), 8,
                                   {QStringLiteral("--timeout-s"), QStringLiteral("30")});
        QVERIFY(cli->waitForFinished(40000));
        QVERIFY2(cli->exitCode() == 0,
                 qPrintable(QStringLiteral("submit after %1 failed: %2")
                                .arg(QLatin1String(after), QString::fromUtf8(cli->readAllStandardError()))));
        QVERIFY2(
            clock.elapsed() < withinMs,
            qPrintable(
                QStringLiteral("submit after %1 took %2 ms").arg(QLatin1String(after)).arg(clock.elapsed())));
    }

    QJsonObject frontDoor() { return m_swarm->status().value(QStringLiteral("front_door")).toObject(); }

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            QSKIP("stories260K.gguf not in DECLAI_MODEL_PATH");
        // 1,000 client sockets plus the harness need more than the usual 1,024 fds.
        rlimit limit{};
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 4096 && limit.rlim_max >= 4096) {
            limit.rlim_cur = 4096;
            setrlimit(RLIMIT_NOFILE, &limit);
        }
        m_swarm = std::make_unique<Swarm>(QStringList{QStringLiteral("--no-credits")});
        QVERIFY2(m_swarm->waitForServer(), qPrintable(m_swarm->log(QStringLiteral("server"))));
        m_swarm->addNode();
        QVERIFY2(m_swarm->waitForShards(1), qPrintable(m_swarm->log(QStringLiteral("server"))));
    }

    // Finding 1: Qt 6.4's QSslServer stopped accepting for good after 30 handshakes that failed.
    void abortedHandshakesDoNotStopAccepting() {
        {
            int opened = 0;
            auto aborted = openConnections(m_swarm->port(), 45, partialClientHello(), &opened);
            QCOMPARE(opened, 45);
            QTest::qWait(300); // the gateway accepts them and waits for the rest of each ClientHello
            for (auto& s : aborted)
                s->abort();
        }
        QTest::qWait(300);
        auto halfOpen = openConnections(m_swarm->port(), 20, partialClientHello());
        expectStatusWithin(3000, "45 aborted handshakes and 20 half-open ones");
        expectSubmitWithin(15000, "45 aborted handshakes and 20 half-open ones");
    }

    // Finding 1: held-open handshakes used to delay every new connection by the 5 s handshake timeout.
    void manyHalfOpenHandshakesDoNotDelayOthers() {
        const int count = 1000;
        QElapsedTimer opening;
        opening.start();
        int opened = 0;
        auto halfOpen = openConnections(m_swarm->port(), count, partialClientHello(), &opened);
        QVERIFY2(opened == count, qPrintable(QStringLiteral("only %1 connections opened").arg(opened)));
        QTest::qWait(200);
        QElapsedTimer clock;
        clock.start();
        expectStatusWithin(2000, "1,000 half-open handshakes");
        qInfo("/v1/status with %d half-open TLS handshakes held: %lld ms (opening them took %lld ms)", count,
              clock.elapsed(), opening.elapsed());
        const QJsonObject door = frontDoor();
        qInfo("front door: %s", QJsonDocument(door).toJson(QJsonDocument::Compact).constData());
        QVERIFY(door.value(QStringLiteral("handshaking")).toInt() <= 64);
    }

    // Finding 1: at the fd limit accept() fails, and Qt 6.4 paused the listener for good on that error.
    void fileDescriptorLimitDoesNotStopAccepting() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--max-connections-per-ip"),
                     QStringLiteral("100000")});
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        QProcess prlimit;
        prlimit.start(QStringLiteral("prlimit"),
                      {QStringLiteral("--pid"), QString::number(swarm.server().processId()),
                       QStringLiteral("--nofile=128:128")});
        if (!prlimit.waitForFinished(5000) || prlimit.exitCode() != 0)
            QSKIP("prlimit cannot lower the server's fd limit here");
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(swarm.caFile()));
        const int count = 200; // well past 128 fds
        std::vector<std::unique_ptr<QSslSocket>> held;
        int encrypted = 0;
        int failed = 0;
        QElapsedTimer clock;
        clock.start();
        // In batches of 20: more handshakes at once from one address would just evict each other.
        for (int batch = 0; batch < count / 20; ++batch) {
            for (int i = 0; i < 20; ++i) {
                held.push_back(std::make_unique<QSslSocket>());
                held.back()->setSslConfiguration(tls);
                QObject::connect(held.back().get(), &QSslSocket::encrypted, held.back().get(),
                                 [&encrypted] { ++encrypted; });
                QObject::connect(held.back().get(), &QAbstractSocket::errorOccurred, held.back().get(),
                                 [&failed] { ++failed; });
                held.back()->connectToHostEncrypted(QStringLiteral("127.0.0.1"), swarm.port());
            }
            QElapsedTimer batchClock;
            batchClock.start();
            while (encrypted + failed < (batch + 1) * 20 && batchClock.elapsed() < 3000)
                QTest::qWait(5);
        }
        qInfo("%d of %d TLS connections established against a 128-fd gateway in %lld ms", encrypted, count,
              clock.elapsed());
        QElapsedTimer statusClock;
        statusClock.start();
        QJsonObject status = swarm.status();
        QVERIFY2(status.contains(QStringLiteral("nodes")),
                 qPrintable(QStringLiteral("no /v1/status answer at the fd limit: %1")
                                .arg(swarm.log(QStringLiteral("server")).right(1500))));
        qInfo("/v1/status at the fd limit: %lld ms; front door %s", statusClock.elapsed(),
              QJsonDocument(status.value(QStringLiteral("front_door")).toObject())
                  .toJson(QJsonDocument::Compact)
                  .constData());
        QVERIFY(statusClock.elapsed() < 3000);
        for (auto& s : held)
            s->disconnect(s.get());
        held.clear();
        QTest::qWait(200);
        QVERIFY(swarm.status().contains(QStringLiteral("nodes")));
    }

    // Finding 1: idle TLS connections were never timed out (slow or absent headers held a socket forever).
    void idleAndSlowConnectionsAreClosed() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--idle-timeout-ms"),
                     QStringLiteral("1000"), QStringLiteral("--header-timeout-ms"), QStringLiteral("1000")});
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        auto silent = tlsConnect(swarm);
        auto idle = tlsConnect(swarm);
        auto slow = tlsConnect(swarm);
        QVERIFY(silent && idle && slow);
        idle->write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        slow->write("GET /healthz HTTP/1.1\r\n");
        QElapsedTimer clock;
        clock.start();
        QElapsedTimer trickle;
        trickle.start();
        QByteArray idleReply;
        const auto open = [](QSslSocket& s) { return s.state() != QAbstractSocket::UnconnectedState; };
        while (clock.elapsed() < 4000 && (open(*silent) || open(*idle) || open(*slow))) {
            if (trickle.elapsed() >= 200 && slow->state() == QAbstractSocket::ConnectedState) {
                slow->write("X-Slow: 1\r\n"); // a header line every 200 ms, never the end
                trickle.restart();
            }
            idleReply += idle->readAll();
            QTest::qWait(10);
        }
        QVERIFY2(idleReply.contains("200 OK"), idleReply.constData());
        QVERIFY2(!open(*silent), "a connection that never sent a request stayed open");
        QVERIFY2(!open(*idle), "an idle keep-alive connection stayed open");
        QVERIFY2(!open(*slow), "a header trickled line by line stayed open");
        const QJsonObject door = swarm.status().value(QStringLiteral("front_door")).toObject();
        QVERIFY(door.value(QStringLiteral("header_timeouts")).toInt() >= 2);
        QVERIFY(door.value(QStringLiteral("idle_closed")).toInt() >= 1);
    }

    // Finding 8: plain HTTP on the TLS port got an empty reply.
    void plainHttpOnTlsPortGetsHint() {
        QTcpSocket s;
        s.connectToHost(QHostAddress::LocalHost, m_swarm->port());
        QVERIFY(s.waitForConnected(3000));
        s.write("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        const QByteArray reply = readUntilClosed(s, 3000);
        QVERIFY2(reply.startsWith("HTTP/1.1 400"), reply.constData());
        QVERIFY2(reply.contains("https://") && reply.contains("wss://"), reply.constData());
    }

    // Finding 4: a 64 MiB header froze the gateway (quadratic parsing); many header lines too.
    void hugeHeaderIsRefusedQuickly() {
        auto cli = m_swarm->submit(QStringLiteral("Once upon a time"), 16,
                                   {QStringLiteral("--timeout-s"), QStringLiteral("30")});
        const qint64 rejectsBefore = frontDoor().value(QStringLiteral("header_rejects")).toInteger();
        // Streamed like an attacker would: a 1 MiB chunk whenever the last one left, until 64 MiB or closed.
        HugeHeader big(*m_swarm, 64);
        QVERIFY(big.waitEncrypted(5000));
        expectStatusWithin(2000, "a 64 MiB header");
        bool closed = false;
        readUntilClosed(big.socket(), 5000, &closed); // HugeHeader itself collects what arrives
        const QByteArray reply = big.reply();
        QVERIFY2(closed, "the gateway kept reading a 64 MiB header");
        qInfo("64 MiB header: connection closed after %lld ms, %d MiB of it sent", big.ageMs(),
              big.chunksSent());
        QVERIFY2(reply.isEmpty() || reply.startsWith("HTTP/1.1 431"), reply.left(200).constData());
        QVERIFY(frontDoor().value(QStringLiteral("header_rejects")).toInteger() > rejectsBefore);
        QVERIFY(cli->state() == QProcess::NotRunning || cli->waitForFinished(40000));
        QVERIFY2(cli->exitCode() == 0, cli->readAllStandardError().constData());

        auto many = tlsConnect(*m_swarm);
        QVERIFY(many);
        QByteArray request = "GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        for (int i = 0; i < 500; ++i)
            request += "X-" + QByteArray::number(i) + ": v\r\n";
        many->write(request + "\r\n");
        const QByteArray manyReply = readUntilClosed(*many, 5000);
        QVERIFY2(manyReply.startsWith("HTTP/1.1 431"), manyReply.left(200).constData());
        expectStatusWithin(2000, "500 header lines");
    }

    // Finding 6: a 200 MiB frame was accepted (cap 256 MiB) and buffered about three times.
    void oversizeWebSocketFrameIsClosedWith1009() {
        const qint64 pid = m_swarm->server().processId();
        const qint64 rssBefore = rssKiB(pid);
        std::vector<std::unique_ptr<QSslSocket>> peers;
        for (int i = 0; i < 6; ++i) {
            auto s = tlsConnect(*m_swarm);
            QVERIFY(s);
            s->write(websocketUpgrade(m_swarm->port()));
            QElapsedTimer clock;
            clock.start();
            QByteArray got;
            while (!got.contains("\r\n\r\n") && clock.elapsed() < 5000) {
                QTest::qWait(10);
                got += s->peek(s->bytesAvailable());
            }
            QVERIFY2(got.startsWith("HTTP/1.1 101"), got.constData());
            s->write(frameHeader(200ull << 20));
            // The first peer sends a little payload and must see the close code; the others push 16 MiB
            // each, which the gateway must not buffer.
            s->write(QByteArray(i == 0 ? 4096 : 16 << 20, 'x'));
            peers.push_back(std::move(s));
        }
        const QByteArray first = readUntilClosed(*peers[0], 5000);
        QCOMPARE(closeCodeIn(first), 1009);
        for (auto& s : peers) {
            bool closed = false;
            readUntilClosed(*s, 5000, &closed);
            QVERIFY2(closed, "an oversize frame did not close its connection");
        }
        const qint64 rssAfter = rssKiB(pid);
        qInfo("gateway RSS %lld KiB before, %lld KiB after six 200 MiB frame headers (+16 MiB payload each)",
              rssBefore, rssAfter);
        QVERIFY2(rssAfter - rssBefore < 32 * 1024,
                 qPrintable(QStringLiteral("RSS grew by %1 KiB").arg(rssAfter - rssBefore)));
        expectStatusWithin(2000, "oversize frames");
    }

    // Finding 6: one connection could queue thousands of submits.
    void pipelinedSubmitsBeyondTheLimitAreRefused() {
        PipelinedClient client(*m_swarm, QString());
        QVERIFY(client.waitWelcome());
        const int count = 40;
        for (int i = 1; i <= count; ++i)
            client.submit(uint64_t(i), 4);
        QVERIFY2(client.waitAnswers(count, 60000), "not every pipelined submit was answered");
        int refused = 0;
        for (const auto& [id, reason] : client.failed) {
            QVERIFY2(reason.contains(QStringLiteral("too many requests in flight on this connection")),
                     qPrintable(reason));
            ++refused;
        }
        QVERIFY2(refused >= count - 4,
                 qPrintable(QStringLiteral("only %1 of %2 refused").arg(refused).arg(count)));
        QVERIFY(!client.done.empty()); // the ones within the limit still run
    }

    // Finding 6: priority=high was sold at the normal price.
    void highPriorityCostsMore() {
        QString key;
        Swarm paid({QStringLiteral("--high-priority-price"), QStringLiteral("3")}, [&](Swarm& s) {
            key = s.admin({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("alice")}).trimmed();
        });
        QVERIFY2(key.startsWith(QStringLiteral("dk_")), qPrintable(key));
        QVERIFY(paid.waitForServer());
        paid.addNode();
        QVERIFY(paid.waitForShards(1));
        PipelinedClient client(paid, key);
        QVERIFY(client.waitWelcome());
        // Quotes for 120 new tokens: the 5-token prompt and 120 fit stories260K's 128-token context.
        client.submit(1, 120, "normal", true);
        client.submit(2, 120, "high", true);
        client.submit(3, 6, "normal");
        QVERIFY(client.waitAnswers(3, 60000));
        client.submit(4, 6, "high");
        QVERIFY(client.waitAnswers(4, 60000));
        QVERIFY2(client.failed.empty(),
                 qPrintable(client.failed.empty() ? QString() : client.failed.begin()->second));
        qInfo("quote normal %lld, high %lld; run normal %lld, high %lld microcredits", qint64(client.done[1]),
              qint64(client.done[2]), qint64(client.done[3]), qint64(client.done[4]));
        QVERIFY(client.done[1] > 0);
        // Prompt and generation costs each round up to a whole microcredit: three times the normal price
        // is at most 3x the normal cost and loses at most two microcredits per part to rounding.
        QVERIFY2(client.done[2] <= 3 * client.done[1] && client.done[2] >= 3 * client.done[1] - 6,
                 qPrintable(QStringLiteral("normal %1, high %2").arg(client.done[1]).arg(client.done[2])));
        QVERIFY(client.done[3] > 0);
        QVERIFY(client.done[4] > client.done[3] && client.done[4] <= 3 * client.done[3] + 2);
    }

    // Finding 8: a closed port said "Unknown error".
    void closedPortGivesClearCliMessage() {
        const quint16 closedPort = declai::testdata::freePort();
        QProcess cli;
        cli.start(QStringLiteral(DECLAI_CLI_PATH),
                  {QStringLiteral("submit"), QStringLiteral("--server"),
                   QStringLiteral("wss://127.0.0.1:%1").arg(closedPort), QStringLiteral("--ca"),
                   m_swarm->caFile(), QStringLiteral("-m"), QStringLiteral("stories260K"),
                   QStringLiteral("-p"), QStringLiteral("hi"), QStringLiteral("-n"), QStringLiteral("2"),
                   QStringLiteral("--timeout-s"), QStringLiteral("10")});
        QVERIFY(cli.waitForFinished(20000));
        const QString err = QString::fromUtf8(cli.readAllStandardError());
        QVERIFY(cli.exitCode() != 0);
        QVERIFY2(err.contains(QStringLiteral("connection refused by 127.0.0.1:%1").arg(closedPort)) &&
                     err.contains(QStringLiteral("declai-server")),
                 qPrintable(err));
    }
};

QTEST_MAIN(TestGatewayAbuse)
#include "tst_gateway_abuse.moc"
