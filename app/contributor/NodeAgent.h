// The contributor engine's network side, without any widgets: connects to a gateway (wss, server verified by
// CA file or pinned fingerprint), proves its Ed25519 identity, reports devices, budgets and shards, downloads
// and loads the layers it is assigned, and serves stage requests through its ComputeWorker. Reconnects with
// backoff. Given several gateways of one network, it measures their round-trip times each time it
// connects, prefers the lowest, and fails over to the next when a gateway is lost or refuses it
// (GatewayRotation); it registers afresh wherever it lands. Can stop taking sessions (pause) and take them
// again, and change its budgets while running.
//
// Threading: an agent lives on one thread (in the app: the engine thread ContributorEngine starts, never the
// GUI thread) and does its network, downloads and SHA-256 hashing there; every child object (timers, the
// network access manager, the channel, the compute thread object) is parented to it or created lazily on
// its thread by start(), so an agent built on one thread may be moved to another with moveToThread before
// start(). Compute happens on the worker's own thread.
#pragma once

#include "ComputeHooks.h"
#include "ComputeWorker.h"
#include "EngineStats.h"
#include "GatewayRotation.h"
#include "NodeSettings.h"
#include "declai/core/Identity.h"
#include "declai/network/Channel.h"
#include "declai/network/ReconnectBackoff.h"
#include "declai/network/ShardDownloader.h"

#include <QElapsedTimer>
#include <QNetworkAccessManager>
#include <QObject>
#include <QThread>
#include <QTimer>
#include <deque>
#include <functional>
#include <map>
#include <memory>

namespace declai::node {

struct HeldShard {
    QString model;
    QString digest;
    qint64 begin = 0;
    qint64 end = 0;
    qint64 sessionsServed = 0;
};

// Physical memory of this machine (sysconf), 8 GiB when it cannot tell.
uint64_t physicalMemoryBytes();

class NodeAgent : public QObject {
    Q_OBJECT

public:
    // threads: the compute threads to start with (the budget after any CPU throttle; 0 = all cores).
    NodeAgent(NodeSettings settings, NodeIdentity identity, std::shared_ptr<ComputeHooks> hooks = nullptr,
              QObject* parent = nullptr);
    ~NodeAgent() override;

    void start();
    // Stops taking new sessions, lets running ones finish (at most drainGraceMs), then emits drained().
    void drain();
    // Pause (false) / resume (true): the gateway is told at once (NodeStatus.accepting_sessions, with
    // leave_in_ms = 0: the node stays and keeps its shards); running sessions finish.
    void setAcceptingSessions(bool accepting);
    bool acceptingSessions() const { return m_accepting && !m_draining; }
    // New budgets while running. computeThreads is the thread count to use (budgets.threads after the CPU
    // throttle); an empty device list keeps the current device (the caller pauses instead).
    void setBudgets(const ResourceBudgets& budgets, int computeThreads);

    bool isConnected() const { return m_welcomed; }
    // The gateway connected to or being tried now.
    QUrl currentGateway() const { return m_rotation.current(); }
    const NodeIdentity& identity() const { return m_identity; }
    const std::vector<HeldShard>& shards() const { return m_shards; }
    // The agent's part of the engine's snapshot (connection, throughput, sessions, shards, download, last
    // error); the pause fields are left as they are.
    void fillStats(EngineStats& stats) const;

Q_SIGNALS:
    void connected(const QString& nodeId);
    void disconnectedFromServer(const QString& reason);
    void shardReady(const QString& model, qint64 begin, qint64 end);
    void downloadProgress(const QString& model, qint64 doneBytes, qint64 totalBytes);
    void drained();
    void fatalError(const QString& reason); // configuration problems retrying cannot fix
    // Something fillStats reports changed (a stage, a session, the connection, a download step).
    void statsChanged();

private:
    // Starts a connection round: measures every gateway's round-trip time (several configured), then
    // opens the best.
    void connectToServer();
    // Opens the WebSocket to m_rotation.current().
    void openGateway();
    // TCP connect time to each gateway, in configured order (-1: unreachable within the probe timeout).
    void probeGateways(std::function<void(std::vector<int64_t>)> done);
    void onSocketConnected();
    void onEnvelope(const wire::Envelope& envelope);
    void onChannelClosed(const QString& reason);
    void sendStatus();
    void handleAssignment(const wire::AssignLayers& assignment);
    void startNextDownload();
    void onShardLoaded(quint64 assignmentId, bool ok, const QString& error, quint32 loadMs,
                       double layerTokensPerS, qint64 downloadedBytes);
    void onStageDone(const QByteArray& serializedResponse);
    void onStagesDone(const QList<QByteArray>& serializedResponses);
    void onStageServed(const QString& model, qint64 layerBegin, qint64 layerEnd, qint64 layerTokens,
                       bool newSession, bool newSessionForShard);
    // Answers the gateway's proof-of-possession challenge from this node's copy of the shard.
    void answerShardChallenge(const wire::ShardChallenge& challenge);
    // Signed messages are bound to this connection's nonce (see docs/protocol.md).
    void sendSigned(wire::MessageType type, const std::string& body);
    void scheduleReconnect();
    void setError(const QString& error, const QString& whatToDo);
    QString cacheDir() const;
    WorkerLimits workerLimits(int computeThreads) const;

    NodeSettings m_settings;
    NodeIdentity m_identity;
    std::optional<QSslConfiguration> m_tls;
    QNetworkAccessManager* m_network = nullptr; // child; created by start() on the agent's thread
    std::unique_ptr<net::Channel> m_channel;
    net::ReconnectBackoff m_backoff;
    GatewayRotation m_rotation;
    QObject* m_probe = nullptr; // the probe round in flight (its sockets are children)
    QTimer* m_reconnectTimer;   // children: they move with the agent
    QTimer* m_statusTimer;
    QTimer* m_sweepTimer;
    QThread* m_computeThread;          // child; quit and joined in the destructor
    ComputeWorker* m_worker = nullptr; // lives on m_computeThread (deleted on its finish)
    std::string m_nonce;
    bool m_started = false;
    bool m_welcomed = false;
    bool m_serverTakesBatches = false; // its Welcome said it understands StageBatchResponse
    bool m_draining = false;
    bool m_accepting = true;
    int m_activeSessions = 0;
    int m_computeThreads = 0;
    double m_layerTokensPerS = 0;
    std::vector<HeldShard> m_shards;
    std::deque<wire::AssignLayers> m_assignmentQueue;
    std::unique_ptr<net::ShardDownloader> m_downloader;
    std::optional<wire::AssignLayers> m_currentAssignment;
    DownloadStats m_download;
    // Served work since start (for the stats snapshot).
    qint64 m_layerTokensServed = 0;
    qint64 m_stagesServed = 0;
    qint64 m_sessionsServed = 0;
    std::deque<std::pair<qint64, qint64>> m_recentLayerTokens; // (ms on m_clock, layer-tokens), last ~10 s
    QElapsedTimer m_clock;
    QString m_lastError;
    QString m_whatToDo;
};

} // namespace declai::node
