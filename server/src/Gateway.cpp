#include "declai/server/Gateway.h"

#include "declai/core/Identity.h"

#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QTcpServer>
#include <QWebSocket>
#include <algorithm>

namespace declai::server {

Gateway::Gateway(const ServerConfig& config, Handlers handlers, QObject* parent)
    : QObject(parent), m_config(config), m_handlers(std::move(handlers)) {
    connect(&m_http, &QAbstractHttpServer::newWebSocketConnection, this, &Gateway::onNewWebSocket);
    // Qt 6.4 upgrades a WebSocket request only when a route handles it without writing a response, so
    // "/" has a responder-style route that stays silent for upgrades and answers plain requests.
    m_http.route(
        QStringLiteral("/"), [](const QHttpServerRequest& request, QHttpServerResponder&& responder) {
            if (request.value(QByteArrayLiteral("upgrade")).toLower() == QByteArrayLiteral("websocket"))
                return; // the socket is handed to the WebSocket server untouched
            responder.write(
                QByteArrayLiteral("DeCLAI gateway: connect with declai-node or declai-cli submit (wss://)\n"),
                QByteArrayLiteral("text/plain"));
        });
    // The JSON-RPC face of the API: silent for upgrades (as "/"), a hint for anything else.
    m_http.route(QString::fromLatin1(kJsonRpcPath), [](const QHttpServerRequest& request,
                                                       QHttpServerResponder&& responder) {
        if (request.value(QByteArrayLiteral("upgrade")).toLower() == QByteArrayLiteral("websocket"))
            return;
        responder.write(QByteArrayLiteral("{\"error\": {\"message\": \"JSON-RPC 2.0 over a WebSocket: "
                                          "upgrade with Authorization: Bearer KEY (docs/api.md)\", "
                                          "\"type\": \"invalid_request_error\", \"param\": null, "
                                          "\"code\": \"upgrade_required\"}}"),
                        QByteArrayLiteral("application/json"),
                        QHttpServerResponder::StatusCode::UpgradeRequired);
    });
}

Gateway::~Gateway() = default;

Expected<quint16> Gateway::listen(const std::optional<QSslConfiguration>& tls) {
    // Our own listener instead of QHttpServer::sslSetup + listen: Qt 6.4's QSslServer stops accepting for
    // good after 30 failed handshakes (see FrontDoor.h).
    auto door = std::make_unique<net::FrontDoor>(m_config.frontDoor, tls);
    if (!door->listen(m_config.listenAddress, m_config.listenPort))
        return makeError(ErrorCode::Io, "cannot listen on " + m_config.listenHost.toStdString() + ":" +
                                            std::to_string(m_config.listenPort) + " (" +
                                            door->errorString().toStdString() + ")");
    m_tls = tls.has_value();
    m_port = door->serverPort();
    m_door = door.release();
    m_http.bind(m_door); // the HTTP server takes ownership
    return m_port;
}

uint64_t Gateway::nodeMessageBytes(int64_t contextLength, int64_t embeddingLength) {
    const uint64_t replay = static_cast<uint64_t>(std::max<int64_t>(0, contextLength)) *
                            static_cast<uint64_t>(std::max<int64_t>(0, embeddingLength)) * sizeof(float);
    return std::max<uint64_t>(1ull << 20, replay + (64u << 10));
}

QString Gateway::httpBase() const {
    QString host = m_config.listenHost;
    if (host == QStringLiteral("0.0.0.0") || host == QStringLiteral("*"))
        host = QStringLiteral("127.0.0.1");
    if (host.contains(QLatin1Char(':')))
        host = QLatin1Char('[') + host + QLatin1Char(']');
    return QStringLiteral("%1://%2:%3")
        .arg(m_tls ? QStringLiteral("https") : QStringLiteral("http"), host)
        .arg(m_port);
}

void Gateway::onNewWebSocket() {
    while (m_http.hasPendingWebSocketConnections()) {
        std::unique_ptr<QWebSocket> socket = m_http.nextPendingWebSocketConnection();
        if (!socket)
            continue;
        if (socket->requestUrl().path() == QLatin1String(kJsonRpcPath)) {
            if (m_handlers.jsonRpcConnection)
                m_handlers.jsonRpcConnection(std::move(socket));
            else
                socket->close(QWebSocketProtocol::CloseCodeAbnormalDisconnection);
            continue;
        }
        const uint64_t id = m_nextPendingId++;
        auto pending = std::make_unique<Pending>();
        net::ChannelLimits limits;
        limits.maxMessageBytes = m_config.clientMaxMessageBytes; // until a node proves its key
        pending->channel = std::make_unique<net::Channel>(std::move(socket), limits);
        connect(pending->channel.get(), &net::Channel::envelopeReceived, this,
                [this, id](const wire::Envelope& envelope) { onPendingEnvelope(id, envelope); });
        connect(pending->channel.get(), &net::Channel::closed, this,
                [this, id](const QString&) { finish(id); });
        connect(pending->channel.get(), &net::Channel::protocolViolation, this,
                [this](const QString& reason) {
                    ++m_rejected;
                    qInfo("handshake refused: %s", qPrintable(reason));
                });
        pending->timer.setSingleShot(true);
        connect(&pending->timer, &QTimer::timeout, this, [this, id] {
            reject(id, wire::TIMEOUT,
                   QStringLiteral("no handshake within %1 ms").arg(m_config.handshakeTimeoutMs));
        });
        pending->timer.start(m_config.handshakeTimeoutMs);
        m_pending[id] = std::move(pending);
    }
}

void Gateway::reject(uint64_t id, wire::RejectCode code, const QString& reason) {
    auto it = m_pending.find(id);
    if (it == m_pending.end())
        return;
    ++m_rejected;
    qInfo("handshake from %s refused: %s", qPrintable(it->second->channel->peerAddress()),
          qPrintable(reason));
    it->second->channel->refuse(code, reason.toStdString(), QWebSocketProtocol::CloseCodePolicyViolated,
                                reason);
    finish(id);
}

void Gateway::finish(uint64_t id) {
    // Deferred: we may be inside a signal of the channel being removed.
    QMetaObject::invokeMethod(
        this, [this, id] { m_pending.erase(id); }, Qt::QueuedConnection);
}

void Gateway::acceptClient(uint64_t id, const credit::Caller& caller) {
    auto it = m_pending.find(id);
    if (it == m_pending.end())
        return; // left during authentication
    Pending& p = *it->second;
    if (!p.channel)
        return;
    auto client = std::make_unique<ClientLink>();
    client->userId = caller.account;
    client->keyId = caller.keyId;
    client->clientId = "client-" + std::to_string(m_nextClientId++);
    wire::Welcome welcome;
    welcome.set_peer_id(client->clientId);
    welcome.set_max_message_bytes(m_config.clientMaxMessageBytes);
    welcome.set_http_base(httpBase().toStdString());
    p.channel->send(wire::WELCOME, welcome);
    p.timer.stop();
    p.channel->disconnect(this);
    client->channel = std::move(p.channel);
    m_pending.erase(it);
    m_handlers.clientAccepted(std::move(client));
}

void Gateway::onPendingEnvelope(uint64_t id, const wire::Envelope& envelope) {
    auto it = m_pending.find(id);
    if (it == m_pending.end())
        return;
    Pending& p = *it->second;
    if (p.authenticating)
        return reject(id, wire::MALFORMED, QStringLiteral("a message arrived before the handshake finished"));
    if (!p.challenged) {
        auto hello = wire::decodeBody<wire::Hello>(envelope, wire::HELLO);
        if (!hello)
            return reject(id, wire::MALFORMED, QString::fromStdString(hello.error().message));
        if (hello->max_protocol_version() < wire::kMinProtocolVersion ||
            hello->min_protocol_version() > wire::kProtocolVersion)
            return reject(id, wire::UNSUPPORTED_VERSION,
                          QStringLiteral("protocol versions %1..%2 are not supported (server speaks %3..%4)")
                              .arg(hello->min_protocol_version())
                              .arg(hello->max_protocol_version())
                              .arg(wire::kMinProtocolVersion)
                              .arg(wire::kProtocolVersion));
        p.hello = *hello;
        if (hello->role() == wire::CLIENT) {
            if (!m_handlers.authenticateClient)
                return acceptClient(id, credit::Caller{});
            // The key is checked on the ledger's store thread; the answer comes back here (main thread),
            // when the connection may be gone: acceptClient looks it up by id.
            p.authenticating = true;
            m_handlers.authenticateClient(hello->api_key(), [this, id](Expected<credit::Caller> caller) {
                if (!caller)
                    return reject(id, wire::UNAUTHORIZED, QString::fromStdString(caller.error().message));
                acceptClient(id, *caller);
            });
            return;
        }
        if (hello->role() != wire::NODE)
            return reject(id, wire::MALFORMED,
                          QStringLiteral("unknown peer role %1").arg(int(hello->role())));
        if (hello->public_key().size() != NodeIdentity::kPublicKeyBytes)
            return reject(id, wire::MALFORMED,
                          QStringLiteral("a node key has 32 bytes, not %1").arg(hello->public_key().size()));
        // A fresh nonce per connection: a signature captured on another connection is worthless here.
        p.nonce = randomBytes(32);
        wire::Challenge challenge;
        challenge.set_nonce(p.nonce);
        p.channel->send(wire::CHALLENGE, challenge);
        p.challenged = true;
        return;
    }
    auto response = wire::decodeBody<wire::ChallengeResponse>(envelope, wire::CHALLENGE_RESPONSE);
    if (!response)
        return reject(id, wire::MALFORMED, QString::fromStdString(response.error().message));
    const std::string& key = p.hello.public_key();
    if (!NodeIdentity::verify(key, authChallengeMessage(p.nonce, key), response->signature()))
        return reject(id, wire::BAD_SIGNATURE, QStringLiteral("the challenge signature does not verify"));
    auto node = std::make_unique<NodeLink>();
    node->publicKey = key;
    node->verifier = PublicKey::fromRaw(key);
    node->nodeId = NodeIdentity::nodeIdOf(key);
    node->channelBinding = p.nonce;
    node->takesStageBatches = p.hello.stage_batches();
    node->maxMessageBytes = m_nodeMaxMessageBytes;
    if (m_handlers.admitNode)
        if (auto admitted = m_handlers.admitNode(node->nodeId, p.channel->peerAddress()); !admitted)
            return reject(id, wire::OVERLOADED, QString::fromStdString(admitted.error().message));
    wire::Welcome welcome;
    welcome.set_peer_id(node->nodeId);
    welcome.set_max_message_bytes(m_nodeMaxMessageBytes);
    welcome.set_http_base(httpBase().toStdString());
    welcome.set_stage_batches(true);
    p.channel->setMaxMessageBytes(m_nodeMaxMessageBytes);
    p.channel->send(wire::WELCOME, welcome);
    p.timer.stop();
    p.channel->disconnect(this);
    node->channel = std::move(p.channel);
    m_pending.erase(it);
    m_handlers.nodeAuthenticated(std::move(node));
}

} // namespace declai::server
