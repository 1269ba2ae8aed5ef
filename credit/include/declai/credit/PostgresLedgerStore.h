// Ledger store on PostgreSQL, for several gateway processes sharing one ledger. Every write transaction
// first locks the single ledger_head row (SELECT ... FOR UPDATE), which serialises writers across all
// processes: the hash chain needs a total order anyway, and balance checks then see every earlier commit.
// Serialization failures and deadlocks (SQLSTATE 40001, 40P01) are retried.
#pragma once

#include "declai/credit/LedgerStore.h"

#include <memory>
#include <string>

namespace declai::credit {

class SqlWorker;

struct PostgresConnectionInfo {
    std::string host = "127.0.0.1";
    int port = 5432;
    std::string user;
    std::string password;
    std::string dbname;
    // Tables live in this schema (created if missing), so one database can hold several ledgers (tests).
    std::string schema = "declai_ledger";

    // Parses libpq-style "host=... port=... user=... password=... dbname=... schema=..." (no quoting).
    static Expected<PostgresConnectionInfo> parse(const std::string& keyValues);
};

class PostgresLedgerStore final : public LedgerStore {
public:
    struct Options {
        int maxRetries = 20; // attempts after a serialization failure before giving up
        // Queued writes sharing one COMMIT (each in a SAVEPOINT); a group that hits a conflict is re-run one
        // job per transaction. 1 disables group commit.
        int maxGroupCommit = 64;
    };

    static Expected<std::unique_ptr<PostgresLedgerStore>> open(const PostgresConnectionInfo& info,
                                                               Options options);
    static Expected<std::unique_ptr<PostgresLedgerStore>> open(const PostgresConnectionInfo& info) {
        return open(info, Options{});
    }
    ~PostgresLedgerStore() override;

    std::string backendName() const override { return "postgres"; }
    int schemaVersion() const override;

protected:
    void submit(Job job) override;

private:
    explicit PostgresLedgerStore(std::unique_ptr<SqlWorker> worker);
    std::unique_ptr<SqlWorker> m_worker;
};

} // namespace declai::credit
