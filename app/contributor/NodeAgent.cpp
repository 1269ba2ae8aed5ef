#include "NodeAgent.h"

#include "declai/core/ShardProof.h"
#include "declai/core/Version.h"
#include "declai/network/TlsSetup.h"

#include <QDir>
#include <QFile>
#include <QTcpSocket>
#include <QWebSocket>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace declai::node {
namespace {

constexpr qint64 kTokensWindowMs = 10000;
// A gateway that has not accepted a TCP connection this soon counts as unreachable for the round.
constexpr int kProbeTimeoutMs = 3000;

// Bytes a file really occupies on disk (shard files are sparse: only the downloaded ranges count).
qint64 allocatedBytes(const QString& path) {
    struct stat st {};
    if (::stat(QFile::encodeName(path).constData(), &st) != 0)
        return 0;
    return qint64(st.st_blocks) * 512;
}

} // namespace

uint64_t physicalMemoryBytes() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long pageSize = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && pageSize > 0 ? uint64_t(pages) * uint64_t(pageSize) : (8ull << 30);
}

NodeAgent::NodeAgent(NodeSettings settings, NodeIdentity identity, std::shared_ptr<ComputeHooks> hooks,
                     QObject* parent)
    : QObject(parent), m_settings(std::move(settings)), m_identity(std::move(identity)),
      m_rotation(m_settings.gateways()), m_reconnectTimer(new QTimer(this)), m_statusTimer(new QTimer(this)),
      m_sweepTimer(new QTimer(this)), m_computeThread(new QThread(this)) {
    if (m_settings.budgets.memoryBytes == 0)
        m_settings.budgets.memoryBytes = physicalMemoryBytes() / 2;
    m_computeThreads = m_settings.budgets.threads;
    m_clock.start();
    m_reconnectTimer->setSingleShot(true);
    connect(m_reconnectTimer, &QTimer::timeout, this, &NodeAgent::connectToServer);
    connect(m_statusTimer, &QTimer::timeout, this, &NodeAgent::sendStatus);
    m_worker = new ComputeWorker(workerLimits(m_computeThreads), std::move(hooks));
    m_worker->moveToThread(m_computeThread);
    connect(m_computeThread, &QThread::finished, m_worker, &QObject::deleteLater);
    // Worker signals arrive queued on this (the agent's) thread.
    connect(m_worker, &ComputeWorker::shardLoaded, this, &NodeAgent::onShardLoaded);
    connect(m_worker, &ComputeWorker::stageDone, this, &NodeAgent::onStageDone);
    connect(m_worker, &ComputeWorker::stagesDone, this, &NodeAgent::onStagesDone);
    connect(m_worker, &ComputeWorker::stageServed, this, &NodeAgent::onStageServed);
    connect(m_worker, &ComputeWorker::sessionsChanged, this, [this](int active) {
        const bool changed = active != m_activeSessions;
        m_activeSessions = active;
        if (m_draining && active == 0)
            Q_EMIT drained();
        if (changed) {
            sendStatus(); // the gateway weighs nodes by their load
            Q_EMIT statsChanged();
        }
    });
    connect(m_worker, &ComputeWorker::limitsApplied, this, [this](int threads, const QString&) {
        m_computeThreads = threads;
        Q_EMIT statsChanged();
    });
    connect(m_sweepTimer, &QTimer::timeout, m_worker, &ComputeWorker::sweepIdleSessions);
    m_computeThread->setObjectName(QStringLiteral("declai-compute"));
    m_computeThread->start();
}

NodeAgent::~NodeAgent() {
    if (m_downloader)
        m_downloader->cancel();
    m_downloader.reset();
    m_channel.reset();
    m_computeThread->quit();
    m_computeThread->wait();
}

WorkerLimits NodeAgent::workerLimits(int computeThreads) const {
    WorkerLimits limits;
    limits.threads = computeThreads;
    limits.memoryBudgetBytes = m_settings.budgets.memoryBytes;
    limits.maxSessions = m_settings.budgets.maxSessions;
    // A pass serves at most 16 sessions (decode gains flatten out well before on CPUs, and a larger batch
    // only lengthens everyone's step); the queue holds a few passes' worth, no more.
    limits.maxBatchSessions = std::min(16, m_settings.budgets.maxSessions);
    limits.maxQueuedStages = std::max(16, 4 * m_settings.budgets.maxSessions);
    limits.sessionIdleTimeoutMs = m_settings.sessionIdleTimeoutMs;
    limits.device =
        m_settings.budgets.device().isEmpty() ? QStringLiteral("cpu") : m_settings.budgets.device();
    limits.prefault = m_settings.prefault;
    return limits;
}

QString NodeAgent::cacheDir() const {
    return QDir(m_settings.dataDir).filePath(QStringLiteral("shards"));
}

void NodeAgent::setError(const QString& error, const QString& whatToDo) {
    m_lastError = error;
    m_whatToDo = whatToDo;
    Q_EMIT statsChanged();
}

void NodeAgent::start() {
    if (m_started)
        return;
    m_started = true;
    // Created here, on the agent's thread (the constructor may have run on another).
    m_network = new QNetworkAccessManager(this);
    m_sweepTimer->start(std::max(1000, m_settings.sessionIdleTimeoutMs / 4));
    bool anyTls = false;
    for (const QUrl& url : m_rotation.gateways())
        anyTls = anyTls || url.scheme() == QStringLiteral("wss");
    if (!m_settings.tls.insecureDev || anyTls) {
        net::ClientTlsOptions options = m_settings.tls;
        options.insecureDev = false;
        auto tls = net::clientTlsConfiguration(options);
        if (!tls) {
            const QString reason = QString::fromStdString(tls.error().message);
            setError(reason,
                     QStringLiteral(
                         "Check the server certificate (CA file or pinned fingerprint) in the settings."));
            Q_EMIT fatalError(reason);
            return;
        }
        m_tls = *tls;
    }
    connectToServer();
}

void NodeAgent::setAcceptingSessions(bool accepting) {
    if (accepting == m_accepting)
        return;
    m_accepting = accepting;
    qInfo(accepting ? "taking sessions again" : "paused: no new sessions; %d active", m_activeSessions);
    sendStatus();
    Q_EMIT statsChanged();
}

void NodeAgent::setBudgets(const ResourceBudgets& budgets, int computeThreads) {
    const QString device = budgets.device().isEmpty() ? m_settings.budgets.device() : budgets.device();
    m_settings.budgets = budgets;
    if (m_settings.budgets.memoryBytes == 0)
        m_settings.budgets.memoryBytes = physicalMemoryBytes() / 2;
    if (budgets.enabledDevices.isEmpty())
        m_settings.budgets.enabledDevices = QStringList{device};
    const WorkerLimits limits = workerLimits(computeThreads);
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, limits] { worker->setLimits(limits); },
        Qt::QueuedConnection); // runs on the compute thread
    sendStatus();
    Q_EMIT statsChanged();
}

void NodeAgent::fillStats(EngineStats& stats) const {
    stats.nodeId = QString::fromStdString(m_identity.nodeId());
    stats.fingerprint = QString::fromStdString(m_identity.shortId());
    stats.serverUrl = m_rotation.current().toString();
    stats.connected = m_welcomed;
    stats.reconnectInSeconds =
        !m_welcomed && m_reconnectTimer->isActive() ? (m_reconnectTimer->remainingTime() + 999) / 1000 : -1;
    qint64 recent = 0;
    const qint64 nowMs = m_clock.elapsed();
    for (const auto& [atMs, tokens] : m_recentLayerTokens)
        if (nowMs - atMs <= kTokensWindowMs)
            recent += tokens;
    stats.tokensPerSecond = double(recent) / (double(kTokensWindowMs) / 1000.0);
    stats.layerTokensServed = m_layerTokensServed;
    stats.stagesServed = m_stagesServed;
    stats.sessionsActive = m_activeSessions;
    stats.sessionsServed = m_sessionsServed;
    stats.benchmarkLayerTokensPerSecond = m_layerTokensPerS;
    stats.shards.clear();
    for (const HeldShard& s : m_shards)
        stats.shards.append(ShardStats{
            s.model, s.begin, s.end, allocatedBytes(net::ShardDownloader::localPathFor(cacheDir(), s.digest)),
            s.sessionsServed});
    stats.download = m_download;
    stats.device = m_settings.budgets.device();
    stats.threads = m_computeThreads > 0 ? m_computeThreads : QThread::idealThreadCount();
    stats.lastError = m_lastError;
    stats.whatToDo = m_whatToDo;
}

void NodeAgent::onStageServed(const QString& model, qint64 layerBegin, qint64 layerEnd, qint64 layerTokens,
                              bool newSession, bool newSessionForShard) {
    ++m_stagesServed;
    m_layerTokensServed += layerTokens;
    if (newSession)
        ++m_sessionsServed;
    if (newSessionForShard)
        for (HeldShard& s : m_shards)
            if (s.model == model && s.begin <= layerBegin && s.end >= layerEnd) {
                ++s.sessionsServed;
                break;
            }
    const qint64 nowMs = m_clock.elapsed();
    m_recentLayerTokens.emplace_back(nowMs, layerTokens);
    while (!m_recentLayerTokens.empty() && nowMs - m_recentLayerTokens.front().first > kTokensWindowMs)
        m_recentLayerTokens.pop_front();
    Q_EMIT statsChanged();
}

void NodeAgent::connectToServer() {
    m_welcomed = false;
    if (m_rotation.gateways().size() < 2) {
        m_rotation.startRound({});
        openGateway();
        return;
    }
    if (m_probe)
        return; // a round is being measured already
    probeGateways([this](std::vector<int64_t> rttMs) {
        m_rotation.startRound(rttMs);
        QStringList measured;
        for (int i = 0; i < m_rotation.gateways().size(); ++i)
            measured.append(QStringLiteral("%1 %2").arg(
                m_rotation.gateways()[i].toString(),
                rttMs[i] < 0 ? QStringLiteral("unreachable") : QStringLiteral("%1 ms").arg(rttMs[i])));
        qInfo("gateway round-trip times: %s", qPrintable(measured.join(QStringLiteral(", "))));
        openGateway();
    });
}

void NodeAgent::probeGateways(std::function<void(std::vector<int64_t>)> done) {
    const QList<QUrl> gateways = m_rotation.gateways();
    m_probe = new QObject(this);
    struct Round {
        std::vector<int64_t> rttMs;
        int open = 0;
        QElapsedTimer clock;
        std::function<void(std::vector<int64_t>)> done;
    };
    auto round = std::make_shared<Round>();
    round->rttMs.assign(gateways.size(), -1);
    round->open = static_cast<int>(gateways.size());
    round->done = std::move(done);
    round->clock.start();
    QObject* probe = m_probe;
    auto finish = [this, round, probe] {
        if (m_probe != probe)
            return; // already finished (the timeout and the last answer may both arrive)
        m_probe = nullptr;
        probe->deleteLater();
        round->done(round->rttMs);
    };
    for (int i = 0; i < gateways.size(); ++i) {
        // A TCP handshake is one round trip and costs the gateway nothing; the socket closes at once.
        auto* socket = new QTcpSocket(probe);
        auto answered = [round, socket, finish, i](bool reached) {
            if (socket->property("answered").toBool())
                return;
            socket->setProperty("answered", true);
            if (reached)
                round->rttMs[i] = round->clock.elapsed();
            socket->abort();
            if (--round->open == 0)
                finish();
        };
        connect(socket, &QTcpSocket::connected, probe, [answered] { answered(true); });
        connect(socket, &QTcpSocket::errorOccurred, probe, [answered] { answered(false); });
        socket->connectToHost(gateways[i].host(), static_cast<quint16>(gateways[i].port()));
    }
    QTimer::singleShot(kProbeTimeoutMs, probe, finish);
}

void NodeAgent::openGateway() {
    m_welcomed = false;
    auto socket = std::make_unique<QWebSocket>(QString(), QWebSocketProtocol::VersionLatest);
    QWebSocket* raw = socket.get();
    if (m_tls)
        raw->setSslConfiguration(*m_tls);
    if (!m_settings.tls.pinnedFingerprint.isEmpty()) {
        connect(raw, &QWebSocket::sslErrors, this, [this, raw](const QList<QSslError>& errors) {
            // With a pin, only the pinned certificate is trusted (see TlsSetup.h).
            if (net::acceptPinnedCertificate(errors, raw->sslConfiguration().peerCertificate(),
                                             m_settings.tls.pinnedFingerprint))
                raw->ignoreSslErrors(errors);
        });
    }
    connect(raw, &QWebSocket::connected, this, &NodeAgent::onSocketConnected);
    net::ChannelLimits limits;
    m_channel = std::make_unique<net::Channel>(std::move(socket), limits);
    connect(m_channel.get(), &net::Channel::envelopeReceived, this, &NodeAgent::onEnvelope);
    connect(m_channel.get(), &net::Channel::closed, this, &NodeAgent::onChannelClosed);
    qInfo("connecting to %s", qPrintable(m_rotation.current().toString()));
    raw->open(m_rotation.current());
}

void NodeAgent::onSocketConnected() {
    wire::Hello hello;
    hello.set_role(wire::NODE);
    hello.set_min_protocol_version(wire::kMinProtocolVersion);
    hello.set_max_protocol_version(wire::kProtocolVersion);
    hello.set_public_key(m_identity.publicKey());
    hello.set_software(softwareName("declai-node"));
    hello.set_stage_batches(true);
    m_channel->send(wire::HELLO, hello);
}

void NodeAgent::onChannelClosed(const QString& reason) {
    const bool wasWelcomed = m_welcomed;
    m_welcomed = false;
    m_statusTimer->stop();
    if (m_downloader)
        m_downloader->cancel();
    // Pending assignments belong to the old connection's ids; the server re-assigns after reconnect.
    m_assignmentQueue.clear();
    m_currentAssignment.reset();
    const QString gateway = m_rotation.current().toString();
    if (wasWelcomed)
        qInfo("disconnected from %s: %s", qPrintable(gateway), qPrintable(reason));
    else
        qWarning("cannot connect to %s: %s", qPrintable(gateway), qPrintable(reason));
    if (!m_draining) {
        m_lastError = wasWelcomed ? QStringLiteral("Lost the connection to the server: %1").arg(reason)
                                  : QStringLiteral("Cannot connect to %1: %2").arg(gateway, reason);
        m_whatToDo =
            QStringLiteral("DeCLAI reconnects by itself. If this lasts, check the network and the server "
                           "address in the settings.");
    }
    Q_EMIT disconnectedFromServer(reason);
    Q_EMIT statsChanged();
    // Deferred: the channel emitting this signal must outlive it.
    QMetaObject::invokeMethod(
        this,
        [this, wasWelcomed] {
            if (m_channel && !m_channel->isOpen()) {
                m_channel->disconnect(this);
                m_channel.release()->deleteLater();
            }
            if (m_draining)
                return;
            // Not reached (or refused before its welcome): the next gateway of this round, at once. Lost
            // after a welcome, or every gateway tried: a new round (re-measured) after the backoff.
            if (!wasWelcomed && m_rotation.advance()) {
                qInfo("trying the next gateway");
                openGateway();
                return;
            }
            scheduleReconnect();
        },
        Qt::QueuedConnection);
}

void NodeAgent::scheduleReconnect() {
    if (m_reconnectTimer->isActive())
        return;
    const int delayMs = m_backoff.nextDelayMs();
    qInfo("reconnecting in %d ms", delayMs);
    m_reconnectTimer->start(delayMs);
    Q_EMIT statsChanged(); // reconnectInSeconds is known now
}

void NodeAgent::onEnvelope(const wire::Envelope& envelope) {
    switch (envelope.type()) {
    case wire::CHALLENGE: {
        auto challenge = wire::decodeBody<wire::Challenge>(envelope, wire::CHALLENGE);
        if (!challenge || challenge->nonce().size() < 16) {
            m_channel->close(QWebSocketProtocol::CloseCodeProtocolError, QStringLiteral("bad challenge"));
            return;
        }
        m_nonce = challenge->nonce();
        wire::ChallengeResponse response;
        response.set_signature(m_identity.sign(authChallengeMessage(m_nonce, m_identity.publicKey())));
        m_channel->send(wire::CHALLENGE_RESPONSE, response);
        return;
    }
    case wire::WELCOME: {
        auto welcome = wire::decodeBody<wire::Welcome>(envelope, wire::WELCOME);
        if (!welcome)
            return;
        m_welcomed = true;
        m_serverTakesBatches = welcome->stage_batches();
        m_backoff.reset();
        qInfo("connected to %s as node %s", qPrintable(m_rotation.current().toString()),
              m_identity.shortId().c_str());
        m_lastError.clear();
        m_whatToDo.clear();
        Q_EMIT connected(QString::fromStdString(m_identity.nodeId()));
        Q_EMIT statsChanged();
        sendStatus();
        m_statusTimer->start(m_settings.statusIntervalMs);
        return;
    }
    case wire::REJECT: {
        auto reject = wire::decodeBody<wire::Reject>(envelope, wire::REJECT);
        const QString reason =
            reject ? QString::fromStdString(reject->reason()) : QStringLiteral("(unreadable reason)");
        qWarning("the server refused this node: %s", qPrintable(reason));
        setError(QStringLiteral("The server refused this node: %1").arg(reason),
                 QStringLiteral("Check the server address and that this node's identity is allowed there."));
        return;
    }
    case wire::ASSIGN_LAYERS: {
        auto assignment = wire::decodeBody<wire::AssignLayers>(envelope, wire::ASSIGN_LAYERS);
        if (assignment)
            handleAssignment(*assignment);
        return;
    }
    case wire::STAGE_REQUEST:
        // Straight to the compute thread; parsing and validation happen there.
        // The functor runs on the compute thread (the worker's); it captures no member of this agent.
        QMetaObject::invokeMethod(
            m_worker,
            [worker = m_worker, body = QByteArray::fromStdString(envelope.body())] {
                worker->runStage(body);
            },
            Qt::QueuedConnection);
        return;
    case wire::STAGE_BATCH: {
        auto batch = wire::decodeBody<wire::StageBatch>(envelope, wire::STAGE_BATCH);
        if (!batch)
            return;
        QList<QByteArray> requests;
        requests.reserve(batch->requests_size());
        for (const wire::StageRequest& request : batch->requests())
            requests.push_back(QByteArray::fromStdString(request.SerializeAsString()));
        // One call, so the compute thread queues them all before its next pass (runs there).
        QMetaObject::invokeMethod(
            m_worker, [worker = m_worker, requests = std::move(requests)] { worker->runStages(requests); },
            Qt::QueuedConnection);
        return;
    }
    case wire::END_SESSION: {
        auto end = wire::decodeBody<wire::EndSession>(envelope, wire::END_SESSION);
        if (end)
            QMetaObject::invokeMethod(
                m_worker,
                [worker = m_worker, sessionId = quint64(end->session_id())] {
                    worker->endSession(sessionId);
                },
                Qt::QueuedConnection); // runs on the compute thread
        return;
    }
    case wire::SHARD_CHALLENGE: {
        auto challenge = wire::decodeBody<wire::ShardChallenge>(envelope, wire::SHARD_CHALLENGE);
        if (challenge)
            answerShardChallenge(*challenge);
        return;
    }
    case wire::RELEASE_SHARD:
        return; // shards stay cached on disk; the server stops routing to them
    default:
        qWarning("ignoring unexpected %s from the server", wire::messageTypeName(envelope.type()));
    }
}

void NodeAgent::sendStatus() {
    if (!m_channel || !m_welcomed)
        return;
    wire::NodeStatus status;
    wire::DeviceInfo* device = status.add_devices();
    device->set_id(m_settings.budgets.device().toStdString());
    device->set_name(m_settings.budgets.device().toStdString());
    device->set_memory_total_bytes(physicalMemoryBytes());
    device->set_memory_free_bytes(m_settings.budgets.memoryBytes);
    device->set_layer_tokens_per_s(m_layerTokensPerS);
    for (const HeldShard& s : m_shards) {
        wire::ShardHeld* held = status.add_shards();
        held->set_model(s.model.toStdString());
        held->set_model_digest(s.digest.toStdString());
        held->set_layer_begin(static_cast<uint32_t>(s.begin));
        held->set_layer_end(static_cast<uint32_t>(s.end));
    }
    // A pause is "not accepting" with no leave time: the gateway places no new sessions here and keeps the
    // node's shards (docs/protocol.md, NodeStatus).
    status.set_accepting_sessions(!m_draining && m_accepting);
    status.set_leave_in_ms(m_draining ? static_cast<uint32_t>(m_settings.drainGraceMs) : 0);
    status.set_memory_budget_bytes(m_settings.budgets.memoryBytes);
    status.set_disk_budget_bytes(m_settings.budgets.diskBytes);
    status.set_max_sessions(static_cast<uint32_t>(m_settings.budgets.maxSessions));
    status.set_active_sessions(static_cast<uint32_t>(m_activeSessions));
    m_channel->send(wire::NODE_STATUS, status);
}

void NodeAgent::handleAssignment(const wire::AssignLayers& assignment) {
    m_assignmentQueue.push_back(assignment);
    if (!m_currentAssignment)
        startNextDownload();
}

void NodeAgent::startNextDownload() {
    if (m_assignmentQueue.empty())
        return;
    m_currentAssignment = m_assignmentQueue.front();
    m_assignmentQueue.pop_front();
    const wire::AssignLayers a = *m_currentAssignment;
    const QUrl manifestUrl(QString::fromStdString(a.manifest_url()));
    const QUrl fileUrl(QString::fromStdString(a.file_url()));
    // Downloads only from the server we are connected to, whatever a message says.
    const QString gatewayHost = m_rotation.current().host();
    if (manifestUrl.host() != gatewayHost || fileUrl.host() != gatewayHost) {
        onShardLoaded(a.assignment_id(), false, QStringLiteral("refusing to download from another host"), 0,
                      0, 0);
        return;
    }
    QDir().mkpath(cacheDir());
    m_downloader =
        std::make_unique<net::ShardDownloader>(*m_network, cacheDir(), m_settings.budgets.diskBytes);
    if (m_tls)
        m_downloader->setTlsConfiguration(*m_tls);
    if (!m_settings.tls.pinnedFingerprint.isEmpty()) {
        const QString pin = m_settings.tls.pinnedFingerprint;
        m_downloader->setPinnedCertificateCheck(
            [pin](const QList<QSslError>& errors, const QSslCertificate& peer) {
                return net::acceptPinnedCertificate(errors, peer, pin);
            });
    }
    const quint64 id = a.assignment_id();
    const QString model = QString::fromStdString(a.model());
    const QString digest = QString::fromStdString(a.model_digest());
    const qint64 begin = a.layer_begin();
    const qint64 end = a.layer_end();
    connect(m_downloader.get(), &net::ShardDownloader::progress, this,
            [this, model](qint64 done, qint64 total) {
                m_download = DownloadStats{model, done, total};
                Q_EMIT downloadProgress(model, done, total);
                Q_EMIT statsChanged();
            });
    connect(m_downloader.get(), &net::ShardDownloader::finished, this,
            [this, id, model, digest, begin, end](const QString& path) {
                const qint64 bytes = m_downloader ? m_downloader->bytesReceived() : 0;
                QMetaObject::invokeMethod(
                    m_worker,
                    [worker = m_worker, id, path, model, digest, begin, end, bytes] {
                        worker->loadShard(id, path, model, digest, begin, end, bytes);
                    },
                    Qt::QueuedConnection); // runs on the compute thread
            });
    connect(m_downloader.get(), &net::ShardDownloader::failed, this,
            [this, id](const QString& reason) { onShardLoaded(id, false, reason, 0, 0, 0); });
    qInfo("downloading layers %lld-%lld of %s", static_cast<long long>(begin), static_cast<long long>(end),
          qPrintable(model));
    // Non-layer tensors are only what the gateway lets nodes have (rope factors); embeddings, output head
    // and vocabulary are not in the manifest it serves.
    m_downloader->start(manifestUrl, fileUrl, digest, begin, end, true);
}

void NodeAgent::onShardLoaded(quint64 assignmentId, bool ok, const QString& error, quint32 loadMs,
                              double layerTokensPerS, qint64 downloadedBytes) {
    std::optional<wire::AssignLayers> done = m_currentAssignment;
    if (done && done->assignment_id() == assignmentId) {
        if (ok) {
            HeldShard held{QString::fromStdString(done->model()),
                           QString::fromStdString(done->model_digest()), done->layer_begin(),
                           done->layer_end()};
            // The same range again (re-assigned after a reconnect) is one shard, not two.
            const bool known = std::any_of(m_shards.begin(), m_shards.end(), [&](const HeldShard& s) {
                return s.model == held.model && s.digest == held.digest && s.begin == held.begin &&
                       s.end == held.end;
            });
            if (!known)
                m_shards.push_back(held);
            if (layerTokensPerS > 0)
                m_layerTokensPerS = layerTokensPerS;
            qInfo("serving layers %u-%u of %s (%.0f layer-tokens/s)", done->layer_begin(), done->layer_end(),
                  done->model().c_str(), layerTokensPerS);
            Q_EMIT shardReady(QString::fromStdString(done->model()), done->layer_begin(), done->layer_end());
        } else {
            qWarning("could not load layers %u-%u of %s: %s", done->layer_begin(), done->layer_end(),
                     done->model().c_str(), qPrintable(error));
        }
    }
    if (m_channel && m_welcomed) {
        wire::ShardReady ready;
        ready.set_assignment_id(assignmentId);
        ready.set_ok(ok);
        ready.set_error(error.toStdString());
        ready.set_load_ms(loadMs);
        ready.set_downloaded_bytes(static_cast<uint64_t>(std::max<qint64>(0, downloadedBytes)));
        m_channel->send(wire::SHARD_READY, ready);
        sendStatus();
    }
    m_currentAssignment.reset();
    m_download = DownloadStats{};
    Q_EMIT statsChanged();
    if (m_downloader)
        m_downloader.release()->deleteLater(); // we may be inside its signal
    startNextDownload();
}

void NodeAgent::sendSigned(wire::MessageType type, const std::string& body) {
    if (!m_channel || !m_welcomed)
        return;
    m_channel->sendSigned(type, body, m_identity, m_nonce);
}

void NodeAgent::onStageDone(const QByteArray& serializedResponse) {
    // Stage answers are signed: they are what credit is paid for.
    sendSigned(wire::STAGE_RESPONSE, serializedResponse.toStdString());
}

void NodeAgent::onStagesDone(const QList<QByteArray>& serializedResponses) {
    if (!m_serverTakesBatches) {
        for (const QByteArray& response : serializedResponses)
            onStageDone(response);
        return;
    }
    // One signed frame for the pass: the gateway handles its answers together (and so keeps the sessions
    // together at its next step).
    wire::StageBatchResponse batch;
    for (const QByteArray& response : serializedResponses)
        if (!batch.add_responses()->ParseFromArray(response.constData(), static_cast<int>(response.size())))
            batch.mutable_responses()->RemoveLast(); // made by our own worker; never expected
    sendSigned(wire::STAGE_BATCH_RESPONSE, batch.SerializeAsString());
}

void NodeAgent::answerShardChallenge(const wire::ShardChallenge& challenge) {
    wire::ShardProof proof;
    proof.set_challenge_id(challenge.challenge_id());
    auto answer = [&]() -> std::string {
        bool held = false;
        for (const HeldShard& s : m_shards)
            held = held || (s.model.toStdString() == challenge.model() &&
                            s.digest.toStdString() == challenge.model_digest() &&
                            s.begin <= challenge.layer_begin() && s.end >= challenge.layer_end());
        if (!held)
            return "this node does not hold those layers";
        uint64_t total = 0;
        for (const wire::ByteSpan& r : challenge.ranges())
            total += std::min<uint64_t>(r.length(), ShardProofHasher::kMaxChallengeBytes + 1);
        if (total > ShardProofHasher::kMaxChallengeBytes)
            return "challenge asks for too many bytes";
        QFile file(
            net::ShardDownloader::localPathFor(cacheDir(), QString::fromStdString(challenge.model_digest())));
        if (!file.open(QIODevice::ReadOnly))
            return "cannot open the shard file";
        // Small reads (the challenge is bounded above) on this thread.
        ShardProofHasher hasher(challenge.nonce());
        for (const wire::ByteSpan& r : challenge.ranges()) {
            if (!file.seek(static_cast<qint64>(r.offset())))
                return "range outside the shard file";
            const QByteArray bytes = file.read(static_cast<qint64>(r.length()));
            if (static_cast<uint64_t>(bytes.size()) != r.length())
                return "range outside the shard file";
            hasher.addRange(r.offset(), std::as_bytes(std::span(bytes.constData(), size_t(bytes.size()))));
        }
        proof.set_proof(hasher.result());
        return {};
    };
    const std::string error = answer();
    if (!error.empty())
        proof.set_error(error);
    sendSigned(wire::SHARD_PROOF, proof.SerializeAsString());
}

void NodeAgent::drain() {
    if (m_draining)
        return;
    m_draining = true;
    qInfo("draining: no new sessions; %d active", m_activeSessions);
    sendStatus();
    if (m_activeSessions == 0) {
        Q_EMIT drained();
        return;
    }
    QTimer::singleShot(m_settings.drainGraceMs, this, [this] { Q_EMIT drained(); });
}

} // namespace declai::node
