#include "SingleInstance.h"

#include <QCryptographicHash>
#include <QLocalSocket>

namespace declai::desktop {

SingleInstance::SingleInstance(const QString& configDir, QObject* parent) : QObject(parent) {
    const QByteArray hash =
        QCryptographicHash::hash(configDir.toUtf8(), QCryptographicHash::Sha256).toHex().left(16);
    m_name = QStringLiteral("declai-") + QString::fromLatin1(hash);
}

bool SingleInstance::claim() {
    {
        // Start-up only, bounded to 500 ms: is another instance answering?
        QLocalSocket probe;
        probe.connectToServer(m_name);
        if (probe.waitForConnected(500)) {
            probe.write("raise\n");
            probe.waitForBytesWritten(500);
            probe.disconnectFromServer();
            return false;
        }
    }
    QLocalServer::removeServer(m_name); // a stale socket file of a crashed instance
    m_server.setSocketOptions(QLocalServer::UserAccessOption);
    if (!m_server.listen(m_name))
        return true; // cannot listen: still run (single-instance is a convenience, not a lock)
    connect(&m_server, &QLocalServer::newConnection, this, [this] {
        while (QLocalSocket* socket = m_server.nextPendingConnection()) {
            connect(socket, &QLocalSocket::readyRead, this, [this, socket] {
                if (socket->readAll().startsWith("raise"))
                    Q_EMIT raiseRequested();
                socket->disconnectFromServer();
            });
            connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    return true;
}

} // namespace declai::desktop
