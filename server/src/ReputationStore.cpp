#include "declai/server/ReputationStore.h"

#include <QFile>
#include <QJsonDocument>
#include <QSaveFile>
#include <QThreadPool>

namespace declai::server {
namespace {

constexpr qint64 kMaxFileBytes = 256ll << 20; // far above any real swarm's records

void writeFile(const QString& path, const QByteArray& bytes) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit())
        qWarning("cannot write node reputation to %s: %s", qPrintable(path), qPrintable(file.errorString()));
}

} // namespace

ReputationStore::ReputationStore(QString path, NodeReputation& reputation, int intervalMs, QObject* parent)
    : QObject(parent), m_path(std::move(path)), m_reputation(reputation) {
    connect(&m_timer, &QTimer::timeout, this, [this] { save(); });
    m_timer.start(intervalMs);
}

ReputationStore::~ReputationStore() {
    save(true);
}

Expected<void> ReputationStore::load() {
    QFile file(m_path);
    if (!file.exists())
        return {};
    if (!file.open(QIODevice::ReadOnly) || file.size() > kMaxFileBytes) {
        m_loadFailed = true;
        return makeError(ErrorCode::Io, "node reputation file '" + m_path.toStdString() +
                                            "' cannot be read or is larger than 256 MiB");
    }
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject()) {
        m_loadFailed = true;
        return makeError(ErrorCode::Format, "node reputation file '" + m_path.toStdString() + "' at byte " +
                                                std::to_string(error.offset) + ": " +
                                                error.errorString().toStdString());
    }
    m_reputation.restore(doc.object());
    m_savedVersion = m_reputation.version();
    return {};
}

void ReputationStore::save(bool wait) {
    // A file we could not read is kept for the operator rather than overwritten.
    if (m_loadFailed || m_reputation.version() == m_savedVersion)
        return;
    m_savedVersion = m_reputation.version();
    const QByteArray bytes = QJsonDocument(m_reputation.save()).toJson(QJsonDocument::Compact);
    {
        std::lock_guard slot(m_pending->slotLock);
        m_pending->latest = bytes;
        ++m_pending->latestSeq;
    }
    auto write = [pending = m_pending, path = m_path] {
        std::lock_guard writing(pending->writeLock);
        QByteArray snapshot;
        uint64_t seq = 0;
        {
            std::lock_guard slot(pending->slotLock);
            snapshot = pending->latest;
            seq = pending->latestSeq;
        }
        if (seq == pending->writtenSeq)
            return; // an earlier task already wrote the newest
        writeFile(path, snapshot);
        pending->writtenSeq = seq;
    };
    if (wait)
        write();
    else
        QThreadPool::globalInstance()->start(write); // a pool thread: the event loop never waits on the disk
}

} // namespace declai::server
