// Composition root of declai-server: builds the parts from a ServerConfig and wires them together.
// main.cpp and the integration tests both use it.
#pragma once

#include "declai/gpu/ThreadPool.h"
#include "declai/server/ApiKeyAuthenticator.h"
#include "declai/server/CreditService.h"
#include "declai/server/Gateway.h"
#include "declai/server/ModelStore.h"
#include "declai/server/Orchestrator.h"
#include "declai/server/ServerConfig.h"

#include <QJsonObject>
#include <QObject>
#include <memory>

namespace declai::server {
namespace api {
class HttpApi;
}

class ServerApp : public QObject {
    Q_OBJECT

public:
    explicit ServerApp(ServerConfig config, QObject* parent = nullptr);
    ~ServerApp() override;

    // Certificates, model scan, gateway models, listener. Returns the bound port.
    Expected<quint16> start();

    const ServerConfig& config() const { return m_config; }
    Orchestrator& orchestrator() { return *m_orchestrator; }
    Gateway& gateway() { return *m_gateway; }
    ModelStore& modelStore() { return *m_store; }
    QString certificateFile() const { return m_certFile; }
    CreditService* credits() { return m_credits.get(); }
    const std::string& audience() const { return m_audience; }
    // The port of --http-listen (0 without it).
    quint16 apiPort() const { return m_apiPort; }

private:
    QJsonObject frontDoorJson() const; // connection counters for /v1/status
    Expected<void> startApi(const std::optional<QSslConfiguration>& tls);

    ServerConfig m_config;
    QString m_certFile;
    std::string m_audience; // hex public key of server.key: what nodes sign their account binding for
    std::unique_ptr<ModelStore> m_store;
    std::unique_ptr<CreditService> m_credits;
    std::unique_ptr<Gateway> m_gateway;
    std::unique_ptr<Orchestrator> m_orchestrator;
    std::unique_ptr<ApiKeyAuthenticator> m_authenticator;
    std::unique_ptr<QHttpServer> m_apiHttp; // --http-listen: the HTTP API alone
    std::unique_ptr<api::HttpApi> m_api;    // before the orchestrator goes: cancels its requests
    quint16 m_apiPort = 0;
};

} // namespace declai::server
