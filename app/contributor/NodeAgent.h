// The contributor engine without any widgets: connects to a gateway (wss, server verified by CA file or
// pinned fingerprint), proves its Ed25519 identity, reports devices, budgets and shards, downloads and
// loads the layers it is assigned, and serves stage requests through its ComputeWorker. Reconnects with
// backoff. declai-node and the tray app both run it. Threading: lives on the thread that created it (the
// main thread); compute happens on the worker's own thread.
#pragma once

#include "ComputeWorker.h"
#include "NodeConfig.h"
#include "declai/core/Identity.h"
#include "declai/network/Channel.h"
#include "declai/network/ReconnectBackoff.h"
#include "declai/network/ShardDownloader.h"

#include <QNetworkAccessManager>
#include <QObject>
#include <QThread>
#include <QTimer>
#include <deque>
#include <memory>

namespace declai::node {

struct HeldShard {
    QString model;
    QString digest;
    qint64 begin = 0;
    qint64 end = 0;
};

class NodeAgent : public QObject {
    Q_OBJECT

public:
    NodeAgent(NodeConfig config, NodeIdentity identity, QObject* parent = nullptr);
    ~NodeAgent() override;

    void start();
    // Stops taking new sessions, lets running ones finish (at most drainGraceMs), then emits drained().
    void drain();
    bool isConnected() const { return m_welcomed; }
    const NodeIdentity& identity() const { return m_identity; }
    const std::vector<HeldShard>& shards() const { return m_shards; }

Q_SIGNALS:
    void connected(const QString& nodeId);
    void disconnectedFromServer(const QString& reason);
    void shardReady(const QString& model, qint64 begin, qint64 end);
    void downloadProgress(const QString& model, qint64 doneBytes, qint64 totalBytes);
    void drained();
    void fatalError(const QString& reason); // configuration problems retrying cannot fix

private:
    void connectToServer();
    void onSocketConnected();
    void onEnvelope(const wire::Envelope& envelope);
    void onChannelClosed(const QString& reason);
    void sendStatus();
    void handleAssignment(const wire::AssignLayers& assignment);
    void startNextDownload();
    void onShardLoaded(quint64 assignmentId, bool ok, const QString& error, quint32 loadMs,
                       double layerTokensPerS, qint64 downloadedBytes);
    void onStageDone(const QByteArray& serializedResponse);
    // Answers the gateway's proof-of-possession challenge from this node's copy of the shard.
    void answerShardChallenge(const wire::ShardChallenge& challenge);
    // Signed messages are bound to this connection's nonce (see docs/protocol.md).
    void sendSigned(wire::MessageType type, const std::string& body);
    void scheduleReconnect();

    NodeConfig m_config;
    NodeIdentity m_identity;
    std::optional<QSslConfiguration> m_tls;
    QNetworkAccessManager m_network;
    std::unique_ptr<net::Channel> m_channel;
    net::ReconnectBackoff m_backoff;
    QTimer m_reconnectTimer;
    QTimer m_statusTimer;
    QTimer m_sweepTimer;
    QThread m_computeThread;
    ComputeWorker* m_worker = nullptr; // owned by m_computeThread (deleted on its finish)
    std::string m_nonce;
    bool m_welcomed = false;
    bool m_draining = false;
    int m_activeSessions = 0;
    double m_layerTokensPerS = 0;
    std::vector<HeldShard> m_shards;
    std::deque<wire::AssignLayers> m_assignmentQueue;
    std::unique_ptr<net::ShardDownloader> m_downloader;
    std::optional<wire::AssignLayers> m_currentAssignment;
};

} // namespace declai::node
