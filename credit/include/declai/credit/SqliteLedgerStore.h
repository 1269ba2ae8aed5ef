// The default ledger store: one SQLite file in WAL mode with synchronous=FULL, written by one thread with
// BEGIN IMMEDIATE. Queued writes are group-committed (each in its own SAVEPOINT), so concurrent callers
// share fsyncs without sharing failures.
#pragma once

#include "declai/credit/LedgerStore.h"

#include <QString>
#include <memory>

namespace declai::credit {

class SqlWorker;

class SqliteLedgerStore final : public LedgerStore {
public:
    struct Options {
        int maxGroupCommit = 256;   // most queued writes that share one COMMIT; 1 disables group commit
        int busyTimeoutMs = 10'000; // waits for another process's lock (only tools open the file twice)
    };

    // Opens (creating if needed) the ledger at path and applies pending migrations. Refuses a file whose
    // schema is newer than this build. Needs a QCoreApplication (Qt loads the SQLite driver as a plugin).
    static Expected<std::unique_ptr<SqliteLedgerStore>> open(const QString& path, Options options);
    static Expected<std::unique_ptr<SqliteLedgerStore>> open(const QString& path) {
        return open(path, Options{});
    }
    ~SqliteLedgerStore() override; // finishes queued work, then closes the connection on its thread

    std::string backendName() const override { return "sqlite"; }
    int schemaVersion() const override;

protected:
    void submit(Job job) override;

private:
    explicit SqliteLedgerStore(std::unique_ptr<SqlWorker> worker);
    std::unique_ptr<SqlWorker> m_worker;
};

} // namespace declai::credit
