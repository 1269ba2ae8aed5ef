// Storage behind the Ledger. A store owns one database connection on its own thread (the "store thread");
// callers on any thread hand it work and get the result back, so the connection is never shared between
// threads and writes are serialised. Work sees the database through a LedgerSession that is only valid on
// the store thread, inside the job it was passed to.
#pragma once

#include "declai/credit/AccountTypes.h"
#include "declai/credit/LedgerTypes.h"

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace declai::credit {

// Primitive reads and writes of one database transaction. Ledger builds every operation out of these, so a
// new backend only has to implement this class and LedgerStore::submit.
class LedgerSession {
public:
    virtual ~LedgerSession() = default;

    virtual Expected<std::optional<Account>> findAccount(const std::string& id) = 0;
    virtual Expected<void> insertAccount(const Account& account) = 0;
    virtual Expected<void> setDailySpendLimit(const std::string& id, Microcredits limit) = 0;
    // Cached balance (the balances table); 0 for an account without postings.
    virtual Expected<Microcredits> balanceOf(const std::string& id) = 0;

    virtual Expected<std::optional<Transaction>> findTransactionByKey(const std::string& idempotencyKey) = 0;
    virtual Expected<std::optional<Transaction>> findTransaction(TxId id) = 0;
    // Appends tx to the chain: assigns the next id, links prevHash, computes hash, writes the postings and
    // updates cached balances. Refuses (and changes nothing the caller's rollback does not undo) when the
    // postings do not sum to zero, name an unknown account, or would leave a non-system account negative.
    virtual Expected<Transaction> appendTransaction(const NewTransaction& tx) = 0;

    virtual Expected<std::optional<Hold>> findHold(const std::string& holdId) = 0;
    virtual Expected<void> insertHold(const Hold& hold) = 0;
    virtual Expected<void> closeHold(const std::string& holdId, HoldStatus status, Microcredits settledCost,
                                     TxId closeTx) = 0;
    // Every open hold, oldest first.
    virtual Expected<std::vector<Hold>> openHolds() = 0;
    // Gateway instances (insert or replace by id).
    virtual Expected<void> upsertInstance(const GatewayInstance& instance) = 0;
    virtual Expected<std::vector<GatewayInstance>> instances() = 0;
    // Open hold amounts plus settled costs of holds the account placed at or after sinceMs.
    virtual Expected<Microcredits> spentSince(const std::string& account, std::int64_t sinceMs) = 0;

    virtual Expected<void> insertPendingLot(const PendingLot& lot) = 0;
    // Open lots of node created strictly before createdBeforeMs, oldest first.
    virtual Expected<std::vector<PendingLot>> openPendingLots(const std::string& node,
                                                              std::int64_t createdBeforeMs) = 0;
    virtual Expected<void> closePendingLot(TxId earnTx, const std::string& node, LotStatus status,
                                           TxId closeTx) = 0;

    virtual Expected<std::vector<HistoryEntry>> history(const std::string& account, int limit) = 0;

    // Full scans for verify() and the CSV export.
    virtual Expected<ChainHead> head() = 0;
    virtual Expected<std::vector<Transaction>> transactionsFrom(TxId firstId, int limit) = 0; // by id
    virtual Expected<std::int64_t> postingCount() = 0;
    virtual Expected<std::vector<Account>> accounts() = 0;
    virtual Expected<std::map<std::string, Microcredits>> cachedBalances() = 0;
    virtual Expected<std::map<std::string, Microcredits>> openHoldSums() = 0; // by paying account
    virtual Expected<std::map<std::string, Microcredits>> openLotSums() = 0;  // by node account
    // Backend's own consistency check (SQLite: PRAGMA integrity_check); empty when it finds nothing.
    virtual Expected<std::vector<std::string>> integrityProblems() = 0;

    // The account tables (users, API keys, node bindings), in this same transaction.
    virtual AccountSession& accountRecords() = 0;
};

// One unit of work for the store thread (LedgerStore::write/writeThen/read/readThen).
template <class T>
using LedgerWork = std::function<Expected<T>(LedgerSession&)>;

class LedgerStore {
public:
    virtual ~LedgerStore() = default;
    LedgerStore() = default;
    LedgerStore(const LedgerStore&) = delete;
    LedgerStore& operator=(const LedgerStore&) = delete;

    virtual std::string backendName() const = 0;
    virtual int schemaVersion() const = 0;

    // Runs work on the store thread inside one write transaction and blocks until it has committed (or
    // failed). A successful result is only returned after COMMIT returned, so it is durable. work may run
    // more than once when the backend reports a serialization failure, so it must only touch the session.
    template <class T>
    Expected<T> write(std::function<Expected<T>(LedgerSession&)> work) {
        return writeAsync<T>(std::move(work)).get();
    }
    // Same, without blocking: the future is ready once the transaction committed or failed. Several queued
    // writes may share one commit (group commit); each keeps its own all-or-nothing effect.
    template <class T>
    std::future<Expected<T>> writeAsync(std::function<Expected<T>(LedgerSession&)> work) {
        return enqueue<T>(JobMode::Write, std::move(work));
    }
    // Runs work on the store thread in a read-only transaction (one consistent snapshot).
    template <class T>
    Expected<T> read(std::function<Expected<T>(LedgerSession&)> work) {
        return enqueue<T>(JobMode::Read, std::move(work)).get();
    }
    // Callback forms that never block the caller: done runs once, ON THE STORE THREAD, after the commit
    // (or the failure). Callers on an event loop hop back to their own thread from done.
    template <class T>
    void writeThen(std::function<Expected<T>(LedgerSession&)> work, std::function<void(Expected<T>)> done) {
        enqueueThen<T>(JobMode::Write, std::move(work), std::move(done));
    }
    template <class T>
    void readThen(std::function<Expected<T>(LedgerSession&)> work, std::function<void(Expected<T>)> done) {
        enqueueThen<T>(JobMode::Read, std::move(work), std::move(done));
    }

    // The unit of work a store runs; public for store implementations, built only by enqueue().
    enum class JobMode { Read, Write };
    struct Job {
        JobMode mode = JobMode::Write;
        // Runs on the store thread inside the transaction; may run again after a retryable conflict.
        std::function<Expected<void>(LedgerSession&)> run;
        // Runs once on the store thread after COMMIT succeeded (ok) or the job finally failed (error).
        std::function<void(const Expected<void>& outcome)> done;
    };

protected:
    // Queues job for the store thread. Must always end in exactly one call of job.done.
    virtual void submit(Job job) = 0;

private:
    template <class T>
    void enqueueThen(JobMode mode, std::function<Expected<T>(LedgerSession&)> work,
                     std::function<void(Expected<T>)> then) {
        auto result = std::make_shared<std::optional<Expected<T>>>();
        Job job;
        job.mode = mode;
        job.run = [work = std::move(work), result](LedgerSession& session) -> Expected<void> {
            result->emplace(work(session));
            if (!result->value().hasValue())
                return result->value().error();
            return {};
        };
        job.done = [then = std::move(then), result](const Expected<void>& outcome) {
            if (result->has_value() && (outcome.hasValue() || !result->value().hasValue()))
                then(std::move(result->value()));
            else
                then(outcome.hasValue() ? makeError(ErrorCode::Internal, "ledger job did not run")
                                        : outcome.error());
        };
        submit(std::move(job));
    }

    template <class T>
    std::future<Expected<T>> enqueue(JobMode mode, std::function<Expected<T>(LedgerSession&)> work) {
        auto promise = std::make_shared<std::promise<Expected<T>>>();
        auto result = std::make_shared<std::optional<Expected<T>>>();
        std::future<Expected<T>> future = promise->get_future();
        Job job;
        job.mode = mode;
        job.run = [work = std::move(work), result](LedgerSession& session) -> Expected<void> {
            result->emplace(work(session));
            if (!result->value().hasValue())
                return result->value().error();
            return {};
        };
        job.done = [promise, result](const Expected<void>& outcome) {
            if (outcome.hasValue() && result->has_value())
                promise->set_value(std::move(result->value()));
            else if (result->has_value() && !result->value().hasValue())
                promise->set_value(std::move(result->value())); // the work's own error
            else
                promise->set_value(outcome.hasValue()
                                       ? makeError(ErrorCode::Internal, "ledger job did not run")
                                       : outcome.error());
        };
        submit(std::move(job));
        return future;
    }
};

} // namespace declai::credit
