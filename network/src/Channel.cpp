#include "declai/network/Channel.h"

#include "declai/core/Identity.h"
#include "declai/network/PeerText.h"

#include <QAbstractSocket>
#include <QDateTime>

namespace declai::net {

namespace {

// Channel::sendEnvelope flushes running on this thread. A flush lets the TLS backend read and decrypt what
// has arrived, so frames are delivered (and their handlers reply) from inside it; flushing those replies
// again recursed once per pipelined frame, and a client pipelining small submits overflowed the server's
// stack (tst_open_network_acceptance, session 35). Sends made inside a flush leave the write to the event
// loop, which runs as soon as the outer handler returns.
thread_local int t_flushDepth = 0;

} // namespace

Channel::Channel(std::unique_ptr<QWebSocket> socket, ChannelLimits limits, QObject* parent)
    : QObject(parent), m_socket(std::move(socket)), m_limits(limits) {
    // Qt's defaults allow ~2 GiB frames; a real cap makes Qt close oversized input with 1009.
    setMaxMessageBytes(m_limits.maxMessageBytes);
    m_lastHeardMs = QDateTime::currentMSecsSinceEpoch();
    connect(m_socket.get(), &QWebSocket::binaryMessageReceived, this, &Channel::onBinaryMessage);
    connect(m_socket.get(), &QWebSocket::textMessageReceived, this, [this](const QString&) {
        reject(wire::MALFORMED, QStringLiteral("text frames are not part of the protocol"),
               QWebSocketProtocol::CloseCodeDatatypeNotSupported);
    });
    connect(m_socket.get(), &QWebSocket::pong, this,
            [this](quint64, const QByteArray&) { m_lastHeardMs = QDateTime::currentMSecsSinceEpoch(); });
    connect(m_socket.get(), &QWebSocket::disconnected, this, &Channel::onDisconnected);
    // Every stage is a small request/answer exchange: Nagle's algorithm plus delayed ACKs would add ~40 ms
    // per hop. QWebSocket has no API for it, so set TCP_NODELAY on the socket it owns.
    setLowDelay();
    m_everConnected = m_socket->state() == QAbstractSocket::ConnectedState;
    connect(m_socket.get(), &QWebSocket::connected, this, [this] {
        m_everConnected = true;
        setLowDelay();
    });
    connect(m_socket.get(), qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            [this](QAbstractSocket::SocketError error) { m_lastError = error; });
    connect(&m_pingTimer, &QTimer::timeout, this, &Channel::onPingTimer);
    if (m_limits.pingIntervalMs > 0)
        m_pingTimer.start(m_limits.pingIntervalMs);
}

Channel::~Channel() {
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void Channel::setLowDelay() {
    const auto sockets = m_socket->findChildren<QAbstractSocket*>();
    for (QAbstractSocket* s : sockets)
        s->setSocketOption(QAbstractSocket::LowDelayOption, 1);
}

void Channel::setMaxMessageBytes(uint64_t bytes) {
    m_limits.maxMessageBytes = bytes;
    m_socket->setMaxAllowedIncomingFrameSize(bytes);
    m_socket->setMaxAllowedIncomingMessageSize(bytes);
}

bool Channel::isOpen() const {
    return !m_closed && m_socket && m_socket->state() == QAbstractSocket::ConnectedState;
}

QString Channel::peerAddress() const {
    return m_socket
               ? m_socket->peerAddress().toString() + QLatin1Char(':') + QString::number(m_socket->peerPort())
               : QString();
}

void Channel::send(wire::MessageType type, const google::protobuf::MessageLite& body) {
    if (!isOpen())
        return;
    sendEnvelope(wire::makeEnvelope(type, ++m_outgoingSeq, body.SerializeAsString()));
}

void Channel::sendSigned(wire::MessageType type, std::string body, const NodeIdentity& signer,
                         const std::string& channelBinding) {
    if (!isOpen())
        return;
    wire::Envelope envelope = wire::makeEnvelope(type, ++m_outgoingSeq, std::move(body));
    envelope.set_signature(signer.sign(wire::signedPayload(envelope, channelBinding)));
    sendEnvelope(envelope);
}

void Channel::sendEnvelope(const wire::Envelope& envelope) {
    const std::string frame = envelope.SerializeAsString();
    m_bytesSent += frame.size();
    m_socket->sendBinaryMessage(QByteArray(frame.data(), static_cast<qsizetype>(frame.size())));
    // Written now rather than when the event loop next runs: QSslSocket defers its encryption and write to
    // a queued call, which would wait behind whatever else this thread has queued (a stage answer is on
    // a session's critical path). Not from inside another flush (t_flushDepth).
    if (t_flushDepth > 0)
        return;
    ++t_flushDepth;
    m_socket->flush();
    --t_flushDepth;
}

void Channel::close(QWebSocketProtocol::CloseCode code, const QString& reason) {
    if (m_closed)
        return;
    m_closed = true;
    m_pingTimer.stop();
    if (m_socket)
        m_socket->close(code, reason.left(120)); // close reasons are limited to 123 bytes
    Q_EMIT closed(reason);
}

void Channel::refuse(wire::RejectCode code, const std::string& rejectReason,
                     QWebSocketProtocol::CloseCode closeCode, const QString& closeReason) {
    wire::Reject message;
    message.set_code(code);
    message.set_reason(rejectReason);
    send(wire::REJECT, message);
    close(closeCode, closeReason);
}

void Channel::reject(wire::RejectCode code, const QString& reason, QWebSocketProtocol::CloseCode closeCode) {
    Q_EMIT protocolViolation(reason);
    refuse(code, reason.toStdString(), closeCode, reason);
}

void Channel::onBinaryMessage(const QByteArray& frame) {
    if (m_closed)
        return;
    m_lastHeardMs = QDateTime::currentMSecsSinceEpoch();
    m_bytesReceived += static_cast<uint64_t>(frame.size());
    auto envelope = wire::decodeEnvelope(frame.toStdString(), m_limits.maxMessageBytes);
    if (!envelope) {
        const bool version = envelope.error().code == ErrorCode::Unsupported;
        reject(version ? wire::UNSUPPORTED_VERSION : wire::MALFORMED,
               QString::fromStdString(envelope.error().message),
               version ? QWebSocketProtocol::CloseCodePolicyViolated
                       : QWebSocketProtocol::CloseCodeProtocolError);
        return;
    }
    // Within one connection every frame carries a larger seq than the last: a replayed or reordered
    // frame is refused before anyone acts on it.
    if (envelope->seq() <= m_incomingSeq) {
        reject(wire::REPLAY,
               QStringLiteral("sequence number %1 is not above %2 (replayed frame?)")
                   .arg(envelope->seq())
                   .arg(m_incomingSeq),
               QWebSocketProtocol::CloseCodePolicyViolated);
        return;
    }
    m_incomingSeq = envelope->seq();
    Q_EMIT envelopeReceived(*envelope);
}

QString Channel::disconnectReason() const {
    if (!m_socket->closeReason().isEmpty())
        return QStringLiteral("closed by peer: %1 (code %2)")
            .arg(boundedPeerQString(m_socket->closeReason().toStdString(), 123))
            .arg(int(m_socket->closeCode()));
    const QUrl url = m_socket->requestUrl();
    const QString where =
        url.isEmpty() ? peerAddress() : QStringLiteral("%1:%2").arg(url.host()).arg(url.port(7420));
    const QAbstractSocket::SocketError error =
        m_lastError != QAbstractSocket::UnknownSocketError ? m_lastError : m_socket->error();
    // Qt's own text for these is often "Unknown error"; say what happened and what to check.
    switch (error) {
    case QAbstractSocket::ConnectionRefusedError:
        return QStringLiteral("connection refused by %1 - is declai-server running there?").arg(where);
    case QAbstractSocket::HostNotFoundError:
        return QStringLiteral("host %1 not found").arg(url.host());
    case QAbstractSocket::SocketTimeoutError:
        return QStringLiteral("no answer from %1 (timed out)").arg(where);
    case QAbstractSocket::NetworkError:
        return QStringLiteral("network unreachable for %1").arg(where);
    case QAbstractSocket::RemoteHostClosedError:
        return m_everConnected
                   ? QStringLiteral("connection lost: %1 closed it").arg(where)
                   : QStringLiteral("%1 closed the connection during the handshake (wrong port or scheme? "
                                    "the gateway speaks wss://)")
                         .arg(where);
    case QAbstractSocket::SslHandshakeFailedError:
        return QStringLiteral("TLS handshake with %1 failed: %2").arg(where, m_socket->errorString());
    default:
        break;
    }
    const QString text = m_socket->errorString();
    if (text.isEmpty() || text == QStringLiteral("Unknown error"))
        return QStringLiteral("connection lost (%1, socket error %2)").arg(where).arg(int(error));
    return QStringLiteral("connection lost (%1)").arg(text);
}

void Channel::onDisconnected() {
    m_pingTimer.stop();
    if (m_closed)
        return;
    if (m_everConnected) {
        m_closed = true;
        Q_EMIT closed(disconnectReason());
        return;
    }
    // A failed connect: QWebSocket may report the socket error just after `disconnected`, so name the
    // reason once that signal had its turn.
    QMetaObject::invokeMethod(
        this,
        [this] {
            if (m_closed)
                return;
            m_closed = true;
            Q_EMIT closed(disconnectReason());
        },
        Qt::QueuedConnection);
}

void Channel::onPingTimer() {
    if (m_closed)
        return;
    const qint64 silentMs = QDateTime::currentMSecsSinceEpoch() - m_lastHeardMs;
    if (m_limits.pongTimeoutMs > 0 && silentMs > m_limits.pongTimeoutMs) {
        close(QWebSocketProtocol::CloseCodeGoingAway,
              QStringLiteral("no keep-alive answer for %1 ms").arg(silentMs));
        return;
    }
    m_socket->ping();
}

} // namespace declai::net
