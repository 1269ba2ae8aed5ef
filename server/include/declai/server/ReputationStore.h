// Keeps NodeReputation across gateway restarts in DATA_DIR/node-reputation.json, so a restart does not give
// every node a clean slate (quarantines, backoffs and probation progress survive). Read once at start; then
// every intervalMs, if anything changed, a snapshot is taken on the main thread and written by a pool thread
// (QSaveFile: the file is replaced whole or not at all), so the gateway's event loop never waits on the disk.
// The destructor writes the last snapshot synchronously (shutdown). Threading: main thread, except the write.
#pragma once

#include "declai/core/Error.h"
#include "declai/server/NodeReputation.h"

#include <QObject>
#include <QString>
#include <QTimer>
#include <memory>
#include <mutex>

namespace declai::server {

class ReputationStore : public QObject {
    Q_OBJECT

public:
    ReputationStore(QString path, NodeReputation& reputation, int intervalMs = 30000,
                    QObject* parent = nullptr);
    ~ReputationStore() override;

    // Replaces the records with the file's; a missing file is an empty record, an unreadable one an error
    // (the records stay empty and the file is left for the operator).
    Expected<void> load();
    // Writes now if anything changed since the last write (asynchronously unless `wait`).
    void save(bool wait = false);
    QString path() const { return m_path; }

private:
    QString m_path;
    NodeReputation& m_reputation;
    QTimer m_timer;
    uint64_t m_savedVersion = 0;
    bool m_loadFailed = false;
    // Shared with the writing pool thread: the newest snapshot, and which one is on disk. A writer always
    // writes the newest, so a slow write can never put an older snapshot over a newer one.
    struct Pending {
        std::mutex slotLock; // held only to swap the snapshot in or out (the main thread takes it)
        QByteArray latest;
        uint64_t latestSeq = 0;
        std::mutex writeLock; // held while writing (pool thread, or the destructor)
        uint64_t writtenSeq = 0;
    };
    std::shared_ptr<Pending> m_pending = std::make_shared<Pending>();
};

} // namespace declai::server
