// The store thread shared by SqliteLedgerStore and PostgresLedgerStore: owns the QSqlDatabase connection
// (created, used and removed on this thread only) and runs queued jobs one after another. Consecutive queued
// writes are group-committed when maxGroupCommit > 1, each inside its own SAVEPOINT.
#pragma once

#include "SqlLedgerSession.h"
#include "declai/credit/LedgerStore.h"

#include <QThread>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace declai::credit {

class SqlWorker final : public QThread {
public:
    // Runs on the worker thread: adds and opens the connection called connectionName, sets pragmas.
    using Connect = std::function<Expected<void>(const QString& connectionName)>;
    struct Settings {
        Dialect dialect = Dialect::Sqlite;
        int maxGroupCommit = 1;
        int maxRetries = 0;
    };

    SqlWorker(Connect connect, Settings settings);
    ~SqlWorker() override; // runs what is queued, then closes the connection and joins the thread

    // Starts the thread, connects and migrates; returns the schema version. Called once, by the store's
    // open().
    Expected<int> startAndMigrate();
    int schemaVersion() const { return m_schemaVersion; }
    // Any thread.
    void submit(LedgerStore::Job job);

protected:
    void run() override;

private:
    void runRead(LedgerStore::Job& job);
    void runWrite(LedgerStore::Job& job);
    void runWriteGroup(std::deque<LedgerStore::Job>& jobs);

    Connect m_connect;
    Settings m_settings;
    QString m_connectionName;
    int m_schemaVersion = 0;
    std::unique_ptr<SqlLedgerSession> m_session; // store thread only

    std::mutex m_mutex; // guards the members below
    std::condition_variable m_wake;
    std::deque<LedgerStore::Job> m_queue;
    bool m_stopping = false;
    bool m_accepting = false;
    std::optional<Expected<int>> m_openResult;
    std::condition_variable m_opened;
    // run() was started / has returned from its last member access. The destructor waits for m_finished on
    // this mutex before QThread::wait(): Qt's wait is a futex TSan cannot see, so without it the writes of
    // run()'s clean-up (m_session.reset()) looked unordered with the destruction of the members.
    bool m_started = false;
    bool m_finished = false;
    std::condition_variable m_finishedCv;
};

} // namespace declai::credit
