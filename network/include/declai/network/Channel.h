// One protocol connection over a WebSocket: binary frames that each carry one Envelope, outgoing sequence
// numbers, incoming checks (version, type, size, strictly increasing seq), keep-alive pings and a clean
// close with a reason. The Channel lives on the thread of its socket; every signal is emitted there.
#pragma once

#include "declai/core/WireCodec.h"

#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QWebSocket>
#include <QWebSocketProtocol>
#include <memory>

namespace declai {
class NodeIdentity;
} // namespace declai

namespace declai::net {

struct ChannelLimits {
    uint64_t maxMessageBytes = 256ull << 20; // larger frames/messages are closed with 1009
    int pingIntervalMs = 5000;
    int pongTimeoutMs = 20000; // no pong (or any frame) for this long: the peer is gone
};

class Channel : public QObject {
    Q_OBJECT

public:
    // Takes ownership of `socket` (connected or connecting).
    Channel(std::unique_ptr<QWebSocket> socket, ChannelLimits limits, QObject* parent = nullptr);
    ~Channel() override;

    void send(wire::MessageType type, const google::protobuf::MessageLite& body);
    // Sends an already serialised body with the next seq, signed by `signer` over wire::signedPayload
    // bound to `channelBinding` (the nonce of this connection's handshake). The one place that signs.
    void sendSigned(wire::MessageType type, std::string body, const NodeIdentity& signer,
                    const std::string& channelBinding);
    void close(QWebSocketProtocol::CloseCode code, const QString& reason);
    // Refuses the peer: sends Reject{code, rejectReason}, then closes with closeCode and closeReason.
    void refuse(wire::RejectCode code, const std::string& rejectReason,
                QWebSocketProtocol::CloseCode closeCode, const QString& closeReason);
    bool isOpen() const;
    // Changes the incoming cap (e.g. once a peer proved it is a node); Qt checks it on each frame header.
    void setMaxMessageBytes(uint64_t bytes);
    QWebSocket* socket() const { return m_socket.get(); }
    QString peerAddress() const;
    uint64_t bytesSent() const { return m_bytesSent; }
    uint64_t bytesReceived() const { return m_bytesReceived; }

Q_SIGNALS:
    void envelopeReceived(const declai::wire::Envelope& envelope);
    // A frame broke the protocol (malformed, unknown type, bad version, seq not increasing). The channel
    // has already replied with Reject and closed with 1008 (policy violation) or 1002.
    void protocolViolation(const QString& reason);
    void closed(const QString& reason);

private:
    void setLowDelay();
    void onBinaryMessage(const QByteArray& frame);
    void onDisconnected();
    QString disconnectReason() const;
    void onPingTimer();
    void sendEnvelope(const wire::Envelope& envelope);
    void reject(wire::RejectCode code, const QString& reason, QWebSocketProtocol::CloseCode closeCode);

    std::unique_ptr<QWebSocket> m_socket;
    ChannelLimits m_limits;
    QTimer m_pingTimer;
    qint64 m_lastHeardMs = 0;
    uint64_t m_outgoingSeq = 0;
    uint64_t m_incomingSeq = 0;
    uint64_t m_bytesSent = 0;
    uint64_t m_bytesReceived = 0;
    bool m_closed = false;
    bool m_everConnected = false;
    QAbstractSocket::SocketError m_lastError = QAbstractSocket::UnknownSocketError;
};

} // namespace declai::net
