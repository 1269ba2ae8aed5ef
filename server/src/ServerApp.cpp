#include "declai/server/ServerApp.h"

#include "api/AccountRoutes.h"
#include "api/HttpApi.h"
#include "declai/core/Identity.h"
#include "declai/network/TlsSetup.h"
#include "declai/server/PostTo.h"
#include "declai/server/UserDirectory.h"

#include <QDir>
#include <QHttpServerResponse>
#include <QJsonDocument>
#include <algorithm>

namespace declai::server {

ServerApp::ServerApp(ServerConfig config, QObject* parent) : QObject(parent), m_config(std::move(config)) {}

ServerApp::~ServerApp() {
    // Sessions and links go before the gateway that carries their sockets, and before the ledger they settle
    // in.
    m_api.reset();
    m_apiHttp.reset();
    m_orchestrator.reset();
    m_gateway.reset();
    m_credits.reset();
}

QJsonObject ServerApp::frontDoorJson() const {
    const net::FrontDoor* door = m_gateway ? m_gateway->frontDoor() : nullptr;
    if (!door)
        return {};
    const net::FrontDoorStats s = door->stats();
    return QJsonObject{{QStringLiteral("open"), s.open},
                       {QStringLiteral("handshaking"), s.handshaking},
                       {QStringLiteral("max_connections"), door->maxConnections()},
                       {QStringLiteral("accepted"), qint64(s.accepted)},
                       {QStringLiteral("refused_full"), qint64(s.refusedFull)},
                       {QStringLiteral("refused_per_address"), qint64(s.refusedPerAddress)},
                       {QStringLiteral("evicted"), qint64(s.evicted)},
                       {QStringLiteral("handshake_timeouts"), qint64(s.handshakeTimeouts)},
                       {QStringLiteral("handshake_failures"), qint64(s.handshakeFailures)},
                       {QStringLiteral("plain_http_hints"), qint64(s.plainHttpHints)},
                       {QStringLiteral("header_rejects"), qint64(s.headerRejects)},
                       {QStringLiteral("header_timeouts"), qint64(s.headerTimeouts)},
                       {QStringLiteral("idle_closed"), qint64(s.idleClosed)},
                       {QStringLiteral("accept_errors"), qint64(s.acceptErrors)}};
}

Expected<void> ServerApp::startApi(const std::optional<QSslConfiguration>& tls) {
    m_authenticator = std::make_unique<AccountAuthenticator>(m_credits.get(), m_config.apiOperators);
    m_api = std::make_unique<api::HttpApi>(*m_orchestrator, *m_store, *m_authenticator,
                                           [this] { return frontDoorJson(); });
    m_api->registerRoutes(m_gateway->http());
    m_api->enableJsonRpc(m_credits.get(), m_config.frontDoor.http.maxBodyBytes);
    const api::AccountRoutesOptions accountOptions{
        m_audience, [this](const std::string& holdId) { return m_orchestrator->queuePosition(holdId); }};
    if (m_credits)
        api::registerAccountRoutes(m_gateway->http(), *m_credits, accountOptions);
    m_api->addFrontDoor(m_gateway->frontDoor());
    if (!m_config.httpListen)
        return {};
    // --http-listen: a listener of its own with the same certificate and limits, serving the API alone.
    m_apiHttp = std::make_unique<QHttpServer>();
    m_api->registerRoutes(*m_apiHttp);
    if (m_credits)
        api::registerAccountRoutes(*m_apiHttp, *m_credits, accountOptions);
    auto door = std::make_unique<net::FrontDoor>(m_config.frontDoor, tls);
    if (!door->listen(m_config.httpListenAddress, m_config.httpListenPort))
        return makeError(ErrorCode::Io, "cannot listen on " + m_config.httpListenHost.toStdString() + ":" +
                                            std::to_string(m_config.httpListenPort) + " (" +
                                            door->errorString().toStdString() + ")");
    m_apiPort = door->serverPort();
    m_api->addFrontDoor(door.get());
    m_apiHttp->bind(door.release()); // the HTTP server takes ownership
    qInfo("HTTP API also on %s:%u (%s)", qPrintable(m_config.httpListenHost), m_apiPort,
          tls ? "TLS" : "plaintext, --insecure-dev");
    return {};
}

Expected<quint16> ServerApp::start() {
    if (!QDir().mkpath(m_config.dataDir))
        return makeError(ErrorCode::Io, "cannot create data folder '" + m_config.dataDir.toStdString() + "'");
    std::optional<QSslConfiguration> tls;
    if (!m_config.insecureDev) {
        QString cert = m_config.tlsCertFile;
        QString key = m_config.tlsKeyFile;
        if (cert.isEmpty()) {
            QStringList names{m_config.listenHost};
            if (auto made = net::ensureServerCertificate(m_config.dataDir, names); !made)
                return made.error();
            cert = QDir(m_config.dataDir).filePath(QStringLiteral("tls/server.crt"));
            key = QDir(m_config.dataDir).filePath(QStringLiteral("tls/server.key"));
        }
        auto configuration = net::serverTlsConfiguration(cert, key);
        if (!configuration)
            return configuration.error();
        tls = *configuration;
        m_certFile = cert;
    }

    m_store = std::make_unique<ModelStore>(m_config.modelDir,
                                           QDir(m_config.dataDir).filePath(QStringLiteral("manifests")));
    if (auto scanned = m_store->scan(); !scanned)
        return scanned.error();
    for (const auto& rejected : m_store->rejected())
        qWarning("not serving %s: %s", qPrintable(rejected.path), qPrintable(rejected.reason));
    if (m_store->models().empty())
        return makeError(ErrorCode::NotFound,
                         "no servable GGUF model in '" + m_config.modelDir.toStdString() + "'");

    if (m_config.credits.enabled) {
        auto signer = NodeIdentity::loadOrCreate(m_config.dataDir.toStdString(), "server.key");
        if (!signer)
            return signer.error();
        auto ledger = openLedger(m_config.credits, m_config.dataDir, *signer, newGatewayInstanceId());
        if (!ledger)
            return ledger.error();
        m_audience = QByteArray::fromStdString(signer->publicKey()).toHex().toStdString();
        m_credits = std::make_unique<CreditService>(m_config.credits, std::move(*ledger));
        // Accounts live in the ledger database from schema 4 on: a users.json of an older release is moved
        // there once and renamed users.json.migrated.
        auto migrated = migrateLegacyUsers(m_config.dataDir, m_credits->accounts());
        if (!migrated)
            return migrated.error();
        if (*migrated > 0)
            qInfo("moved %d account(s) from users.json into the ledger database", *migrated);
        // Before serving: holds of a previous run that died are released, matured earnings paid out.
        if (auto started = m_credits->start(); !started)
            return started.error();
    }
    Gateway::Handlers handlers;
    handlers.nodeAuthenticated = [this](std::unique_ptr<NodeLink> node) {
        m_orchestrator->addNode(std::move(node));
    };
    handlers.admitNode = [this](const std::string& nodeId, const QString& peer) {
        return m_orchestrator->admitNode(nodeId, peer);
    };
    handlers.clientAccepted = [this](std::unique_ptr<ClientLink> client) {
        m_orchestrator->addClient(std::move(client));
    };
    if (m_credits)
        handlers.authenticateClient = [this](const std::string& key,
                                             std::function<void(Expected<credit::Caller>)> done) {
            // Checked on the ledger's store thread; the answer comes back to this (the main) thread.
            m_credits->accounts().authenticateThen(key, postTo<credit::Caller>(this, std::move(done)));
        };
    handlers.jsonRpcConnection = [this](std::unique_ptr<QWebSocket> socket) {
        if (m_api)
            m_api->acceptJsonRpc(std::move(socket));
    };
    m_gateway = std::make_unique<Gateway>(m_config, std::move(handlers));
    uint64_t nodeMessageBytes = m_config.nodeMaxMessageBytes;
    if (nodeMessageBytes == 0)
        for (const auto& entry : m_store->models())
            nodeMessageBytes =
                std::max(nodeMessageBytes, Gateway::nodeMessageBytes(entry->config.contextLength,
                                                                     entry->config.embeddingLength));
    m_gateway->setNodeMaxMessageBytes(nodeMessageBytes);
    m_store->registerRoutes(m_gateway->http(), false);
    auto port = m_gateway->listen(tls);
    if (!port)
        return port.error();
    m_orchestrator =
        std::make_unique<Orchestrator>(m_config, *m_store, m_gateway->httpBase(), m_credits.get());
    if (auto loaded = m_orchestrator->loadModels(); !loaded)
        return loaded.error();
    if (auto api = startApi(tls); !api)
        return api.error();
    for (const auto& entry : m_store->models())
        qInfo("serving model %s (%lld layers, digest %.12s)", qPrintable(entry->name),
              static_cast<long long>(entry->config.layerCount), entry->manifest.digest.c_str());
    qInfo("listening on %s (%s)", qPrintable(m_gateway->httpBase()),
          m_config.insecureDev ? "plaintext, --insecure-dev"
                               : qPrintable(QStringLiteral("TLS, certificate ") + m_certFile));
    return *port;
}

} // namespace declai::server
