#include "SqlWorker.h"

#include "Migrations.h"

#include <QSqlDatabase>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>

namespace declai::credit {

namespace {

std::atomic<int> g_connectionCounter{0}; // unique connection names across stores in one process

Error stoppedError() {
    return makeError(ErrorCode::Io, "ledger store is closed");
}

} // namespace

SqlWorker::SqlWorker(Connect connect, Settings settings)
    : m_connect(std::move(connect)), m_settings(settings),
      m_connectionName(QStringLiteral("declai-ledger-%1").arg(g_connectionCounter.fetch_add(1))) {}

SqlWorker::~SqlWorker() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    {
        std::unique_lock lock(m_mutex);
        m_finishedCv.wait(lock, [this] { return !m_started || m_finished; });
    }
    wait();
}

Expected<int> SqlWorker::startAndMigrate() {
    {
        std::lock_guard lock(m_mutex);
        m_started = true;
    }
    start();
    std::unique_lock lock(m_mutex);
    m_opened.wait(lock, [this] { return m_openResult.has_value(); });
    if (m_openResult->hasValue())
        m_schemaVersion = m_openResult->value();
    return *m_openResult;
}

void SqlWorker::submit(LedgerStore::Job job) {
    {
        std::lock_guard lock(m_mutex);
        if (m_accepting && !m_stopping) {
            m_queue.push_back(std::move(job));
            m_wake.notify_one();
            return;
        }
    }
    job.done(stoppedError());
}

void SqlWorker::run() {
    Expected<int> opened = makeError(ErrorCode::Internal, "not opened");
    if (auto connected = m_connect(m_connectionName); !connected) {
        opened = connected.error();
    } else {
        QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
        opened = migrate(db, m_settings.dialect);
        if (opened)
            m_session = std::make_unique<SqlLedgerSession>(db, m_settings.dialect);
    }
    {
        std::lock_guard lock(m_mutex);
        m_accepting = opened.hasValue();
        m_openResult = opened;
    }
    m_opened.notify_all();

    while (m_session) {
        std::deque<LedgerStore::Job> batch;
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            if (m_queue.empty())
                break; // stopping and drained
            batch.push_back(std::move(m_queue.front()));
            m_queue.pop_front();
            if (batch.front().mode == LedgerStore::JobMode::Write) {
                while (!m_queue.empty() && m_queue.front().mode == LedgerStore::JobMode::Write &&
                       static_cast<int>(batch.size()) < m_settings.maxGroupCommit) {
                    batch.push_back(std::move(m_queue.front()));
                    m_queue.pop_front();
                }
            }
        }
        if (batch.front().mode == LedgerStore::JobMode::Read)
            runRead(batch.front());
        else if (batch.size() == 1)
            runWrite(batch.front());
        else
            runWriteGroup(batch);
    }

    // Statements and the session hold copies of the connection; all must be gone before removeDatabase.
    m_session.reset();
    {
        QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
        if (db.isValid())
            db.close();
    }
    QSqlDatabase::removeDatabase(m_connectionName);
    std::lock_guard lock(m_mutex);
    m_finished = true;
    m_finishedCv.notify_all();
}

void SqlWorker::runRead(LedgerStore::Job& job) {
    if (auto begun = m_session->beginRead(); !begun) {
        m_session->rollback();
        job.done(begun);
        return;
    }
    Expected<void> outcome = job.run(*m_session);
    // Nothing was written; ending a read transaction cannot lose anything.
    m_session->rollback();
    job.done(outcome);
}

void SqlWorker::runWrite(LedgerStore::Job& job) {
    std::minstd_rand jitter(static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(&job)));
    for (int attempt = 0;; ++attempt) {
        Expected<void> outcome = m_session->beginWrite();
        if (outcome)
            outcome = job.run(*m_session);
        if (outcome)
            outcome = m_session->commit();
        if (outcome) {
            job.done(outcome);
            return;
        }
        m_session->rollback();
        if (!m_session->takeRetryable() || attempt >= m_settings.maxRetries) {
            job.done(outcome);
            return;
        }
        // Another gateway won the race; back off a little (randomised, growing) and run the work again.
        std::this_thread::sleep_for(std::chrono::microseconds(500 * (attempt + 1) + jitter() % 1000));
    }
}

void SqlWorker::runWriteGroup(std::deque<LedgerStore::Job>& jobs) {
    // Falls back to one transaction per job (each with its own retries) whenever the group as a whole hits
    // a conflict: no job's result has been handed out yet, and every job may safely run again.
    auto oneByOne = [this, &jobs] {
        for (LedgerStore::Job& job : jobs)
            runWrite(job);
    };
    if (auto begun = m_session->beginWrite(); !begun) {
        m_session->rollback();
        m_session->takeRetryable();
        oneByOne();
        return;
    }
    std::vector<Expected<void>> outcomes;
    outcomes.reserve(jobs.size());
    for (LedgerStore::Job& job : jobs) {
        Expected<void> outcome = m_session->savepoint();
        if (outcome)
            outcome = job.run(*m_session);
        if (outcome) {
            outcome = m_session->releaseSavepoint();
        } else if (m_session->takeRetryable() || !m_session->rollbackToSavepoint()) {
            // A conflict, or the transaction itself is broken: keep nothing of the group.
            m_session->rollback();
            m_session->takeRetryable();
            oneByOne();
            return;
        }
        outcomes.push_back(outcome);
    }
    if (auto committed = m_session->commit(); !committed) {
        m_session->rollback();
        if (m_session->takeRetryable()) {
            oneByOne();
            return;
        }
        for (size_t i = 0; i < jobs.size(); ++i)
            jobs[i].done(outcomes[i] ? committed : outcomes[i]);
        return;
    }
    // Results are handed out only now: nothing is acknowledged before its COMMIT returned.
    for (size_t i = 0; i < jobs.size(); ++i)
        jobs[i].done(outcomes[i]);
}

} // namespace declai::credit
