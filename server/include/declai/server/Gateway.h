// The server's front door: one TLS listener (wss:// for nodes and clients, https:// for model downloads
// and the HTTP API) accepted by net::FrontDoor (handshake deadlines, connection caps, header limits), the
// protocol handshake (version; nodes prove their Ed25519 key by signing a fresh nonce), per-role message
// caps, and hand-over of authenticated connections to the Orchestrator. Main thread only.
#pragma once

#include "declai/credit/AccountStore.h"
#include "declai/network/Channel.h"
#include "declai/network/FrontDoor.h"
#include "declai/server/Links.h"
#include "declai/server/ServerConfig.h"

#include <QHttpServer>
#include <QObject>
#include <QSslConfiguration>
#include <QTimer>
#include <QWebSocket>
#include <functional>
#include <map>
#include <memory>

namespace declai::server {

class Gateway : public QObject {
    Q_OBJECT

public:
    struct Handlers {
        std::function<void(std::unique_ptr<NodeLink>)> nodeAuthenticated;
        std::function<void(std::unique_ptr<ClientLink>)> clientAccepted;
        // Maps a client's API key to its account without blocking; `done` must be called once, on the main
        // thread. Unset when credits are off (every client is accepted).
        std::function<void(const std::string& apiKey, std::function<void(Expected<credit::Caller>)> done)>
            authenticateClient;
        // Asked after a node proved its key and before it is welcomed; an error refuses it with
        // Reject{OVERLOADED, message} (e.g. too many new identities from its address). Unset: all welcome.
        std::function<Expected<void>(const std::string& nodeId, const QString& peerAddress)> admitNode;
        // A WebSocket upgraded on kJsonRpcPath: the API as JSON-RPC (docs/api.md). Unset: closed at once.
        std::function<void(std::unique_ptr<QWebSocket>)> jsonRpcConnection;
    };
    // Where JSON-RPC clients upgrade (declai-node and declai-cli use "/").
    static constexpr const char* kJsonRpcPath = "/v1/rpc";

    Gateway(const ServerConfig& config, Handlers handlers, QObject* parent = nullptr);
    ~Gateway() override;

    QHttpServer& http() { return m_http; }
    // Starts listening; tls is empty under --insecure-dev. Returns the bound port.
    Expected<quint16> listen(const std::optional<QSslConfiguration>& tls);
    QString httpBase() const; // https://host:port (or http:// under --insecure-dev)
    // The largest message a node may send or receive: set from the served models before nodes connect.
    void setNodeMaxMessageBytes(uint64_t bytes) { m_nodeMaxMessageBytes = bytes; }
    uint64_t nodeMaxMessageBytes() const { return m_nodeMaxMessageBytes; }
    // A stage replay of a whole context in f32, plus room for the envelope and other fields; at least 1 MiB.
    static uint64_t nodeMessageBytes(int64_t contextLength, int64_t embeddingLength);
    const net::FrontDoor* frontDoor() const { return m_door; }
    size_t pendingHandshakes() const { return m_pending.size(); }
    uint64_t rejectedHandshakes() const { return m_rejected; }

private:
    struct Pending {
        std::unique_ptr<net::Channel> channel;
        QTimer timer;
        wire::Hello hello;
        std::string nonce;
        bool challenged = false;
        bool authenticating = false; // a client's key is being checked; nothing more may arrive meanwhile
    };

    void onNewWebSocket();
    void onPendingEnvelope(uint64_t id, const wire::Envelope& envelope);
    void reject(uint64_t id, wire::RejectCode code, const QString& reason);
    void finish(uint64_t id); // removes the pending entry (deferred)
    void acceptClient(uint64_t id, const credit::Caller& caller);

    const ServerConfig& m_config;
    Handlers m_handlers;
    QHttpServer m_http;
    net::FrontDoor* m_door = nullptr; // owned by m_http once bound
    uint64_t m_nodeMaxMessageBytes = 1ull << 20;
    quint16 m_port = 0;
    bool m_tls = false;
    std::map<uint64_t, std::unique_ptr<Pending>> m_pending;
    uint64_t m_nextPendingId = 1;
    uint64_t m_nextClientId = 1;
    uint64_t m_rejected = 0;
};

} // namespace declai::server
