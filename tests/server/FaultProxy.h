// A fault-injecting TCP proxy for tests (issue 17 §3, network faults): listens on loopback and relays each
// connection to a target port byte for byte (TLS passes through untouched), with faults applied in both
// directions: a fixed delay, random stalls (what a lost segment costs TCP: a retransmission timeout, with
// every later byte waiting behind it), a partition (bytes held, none relayed, until heal()) and cuts (every
// relayed connection aborted at once). Runs on the test's event loop; order of bytes is always kept.
#pragma once

#include <QElapsedTimer>
#include <QHostAddress>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <vector>

namespace declai::testdata {

struct NetworkFaults {
    int delayMs = 0;             // every chunk, each direction
    double stallProbability = 0; // per chunk: held stallMs longer (a retransmission timeout)
    int stallMs = 0;
};

class FaultProxy : public QObject {
public:
    FaultProxy(quint16 targetPort, NetworkFaults faults, unsigned seed = 1)
        : m_targetPort(targetPort), m_faults(faults), m_rng(seed) {
        m_server.listen(QHostAddress::LocalHost, 0);
        QObject::connect(&m_server, &QTcpServer::newConnection, this, [this] { accept(); });
        m_pump.setInterval(2);
        QObject::connect(&m_pump, &QTimer::timeout, this, [this] { pump(); });
        m_pump.start();
        m_clock.start();
    }

    quint16 port() const { return m_server.serverPort(); }
    void setFaults(NetworkFaults faults) { m_faults = faults; }
    // Holds every byte (both directions) until heal(): peers see silence, not a closed connection.
    void partition() { m_partitioned = true; }
    void heal() { m_partitioned = false; }
    // Aborts every relayed connection (both ends see a reset); new connections are still accepted.
    void cut() {
        for (auto& pair : m_pairs)
            for (QTcpSocket* socket : {pair->client.data(), pair->upstream.data()})
                if (socket != nullptr)
                    socket->abort();
        m_pairs.clear();
        ++m_cuts;
    }
    int connectionsAccepted() const { return m_accepted; }
    int stalls() const { return m_stalls; }
    int cuts() const { return m_cuts; }
    qint64 bytesRelayed() const { return m_bytes; }

private:
    struct Chunk {
        qint64 dueMs;
        QByteArray bytes;
    };
    struct Direction {
        std::deque<Chunk> queue;
        qint64 lastDueMs = 0;
    };
    struct Pair {
        QPointer<QTcpSocket> client;
        QPointer<QTcpSocket> upstream;
        Direction toUpstream, toClient;
        bool closing = false;
    };

    void accept() {
        while (QTcpSocket* client = m_server.nextPendingConnection()) {
            ++m_accepted;
            auto pair = std::make_shared<Pair>();
            pair->client = client;
            client->setParent(this);
            auto* upstream = new QTcpSocket(this);
            pair->upstream = upstream;
            std::weak_ptr<Pair> weak = pair;
            QObject::connect(client, &QTcpSocket::readyRead, this, [this, weak] {
                if (auto p = weak.lock(); p && p->client)
                    enqueue(p->toUpstream, p->client->readAll());
            });
            QObject::connect(upstream, &QTcpSocket::readyRead, this, [this, weak] {
                if (auto p = weak.lock(); p && p->upstream)
                    enqueue(p->toClient, p->upstream->readAll());
            });
            // A close on one side closes the other once what was sent before it is relayed.
            QObject::connect(client, &QTcpSocket::disconnected, this, [this, weak] { closeLater(weak); });
            QObject::connect(upstream, &QTcpSocket::disconnected, this, [this, weak] { closeLater(weak); });
            upstream->connectToHost(QHostAddress::LocalHost, m_targetPort);
            m_pairs.push_back(std::move(pair));
        }
    }
    void enqueue(Direction& d, QByteArray bytes) {
        if (bytes.isEmpty())
            return;
        qint64 due = m_clock.elapsed() + m_faults.delayMs;
        if (m_faults.stallProbability > 0 &&
            std::uniform_real_distribution<double>(0, 1)(m_rng) < m_faults.stallProbability) {
            due += m_faults.stallMs;
            ++m_stalls;
        }
        due = std::max(due, d.lastDueMs); // order is kept: nothing overtakes a stalled chunk
        d.lastDueMs = due;
        d.queue.push_back(Chunk{due, std::move(bytes)});
    }
    void closeLater(const std::weak_ptr<Pair>& weak) {
        auto p = weak.lock();
        if (!p)
            return;
        p->closing = true;
    }
    static void drain(Direction& d, QTcpSocket* to, qint64 nowMs, qint64& bytes) {
        while (!d.queue.empty() && d.queue.front().dueMs <= nowMs) {
            if (to && to->state() == QAbstractSocket::ConnectedState) {
                to->write(d.queue.front().bytes);
                bytes += d.queue.front().bytes.size();
            }
            d.queue.pop_front();
        }
    }
    void pump() {
        if (m_partitioned)
            return;
        const qint64 now = m_clock.elapsed();
        for (auto it = m_pairs.begin(); it != m_pairs.end();) {
            Pair& p = **it;
            drain(p.toUpstream, p.upstream, now, m_bytes);
            drain(p.toClient, p.client, now, m_bytes);
            if (p.closing && p.toUpstream.queue.empty() && p.toClient.queue.empty()) {
                for (QTcpSocket* socket : {p.client.data(), p.upstream.data()})
                    if (socket != nullptr)
                        socket->disconnectFromHost();
                it = m_pairs.erase(it);
            } else {
                ++it;
            }
        }
    }

    quint16 m_targetPort;
    NetworkFaults m_faults;
    std::mt19937 m_rng;
    QTcpServer m_server;
    QTimer m_pump;
    QElapsedTimer m_clock;
    std::vector<std::shared_ptr<Pair>> m_pairs;
    bool m_partitioned = false;
    int m_accepted = 0;
    int m_stalls = 0;
    int m_cuts = 0;
    qint64 m_bytes = 0;
};

} // namespace declai::testdata
