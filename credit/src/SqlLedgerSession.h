// LedgerSession over a QSqlDatabase, for SQLite and PostgreSQL (the SQL is common to both; Dialect covers
// transaction control). Lives on the store thread and is only used there.
#pragma once

#include "declai/credit/LedgerStore.h"

#include <QHash>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>
#include <unordered_map>

namespace declai::credit {

enum class Dialect { Sqlite, Postgres };

class SqlLedgerSession final : public LedgerSession, public AccountSession {
public:
    SqlLedgerSession(QSqlDatabase db, Dialect dialect);

    // Transaction control, called by SqlWorker only.
    Expected<void> beginWrite();
    Expected<void> beginRead();
    Expected<void> commit();
    void rollback();
    Expected<void> savepoint();
    Expected<void> releaseSavepoint();
    Expected<void> rollbackToSavepoint();
    // True when the last failed statement was a serialization failure or deadlock worth retrying; clears it.
    bool takeRetryable();

    Expected<std::optional<Account>> findAccount(const std::string& id) override;
    Expected<void> insertAccount(const Account& account) override;
    Expected<void> setDailySpendLimit(const std::string& id, Microcredits limit) override;
    Expected<Microcredits> balanceOf(const std::string& id) override;
    Expected<std::optional<Transaction>> findTransactionByKey(const std::string& idempotencyKey) override;
    Expected<std::optional<Transaction>> findTransaction(TxId id) override;
    Expected<Transaction> appendTransaction(const NewTransaction& tx) override;
    Expected<std::optional<Hold>> findHold(const std::string& holdId) override;
    Expected<void> insertHold(const Hold& hold) override;
    Expected<void> closeHold(const std::string& holdId, HoldStatus status, Microcredits settledCost,
                             TxId closeTx) override;
    Expected<std::vector<Hold>> openHolds() override;
    Expected<void> upsertInstance(const GatewayInstance& instance) override;
    Expected<std::vector<GatewayInstance>> instances() override;
    Expected<Microcredits> spentSince(const std::string& account, std::int64_t sinceMs) override;
    Expected<void> insertPendingLot(const PendingLot& lot) override;
    Expected<std::vector<PendingLot>> openPendingLots(const std::string& node,
                                                      std::int64_t createdBeforeMs) override;
    Expected<void> closePendingLot(TxId earnTx, const std::string& node, LotStatus status,
                                   TxId closeTx) override;
    Expected<std::vector<HistoryEntry>> history(const std::string& account, int limit) override;
    Expected<ChainHead> head() override;
    Expected<std::vector<Transaction>> transactionsFrom(TxId firstId, int limit) override;
    Expected<std::int64_t> postingCount() override;
    Expected<std::vector<Account>> accounts() override;
    Expected<std::map<std::string, Microcredits>> cachedBalances() override;
    Expected<std::map<std::string, Microcredits>> openHoldSums() override;
    Expected<std::map<std::string, Microcredits>> openLotSums() override;
    Expected<std::vector<std::string>> integrityProblems() override;
    AccountSession& accountRecords() override { return *this; }

    // AccountSession (SqlAccountRecords.cpp)
    Expected<std::optional<UserRecord>> findUser(const std::string& name) override;
    Expected<void> insertUser(const UserRecord& user) override;
    Expected<void> setWelcome(const std::string& name, WelcomeRule rule, std::int64_t amount) override;
    Expected<std::vector<UserRecord>> users() override;
    Expected<std::optional<ApiKeyRecord>> findKey(const std::string& id) override;
    Expected<void> insertKey(const ApiKeyRecord& key) override;
    Expected<std::vector<ApiKeyRecord>> keysOf(const std::string& account) override;
    Expected<bool> revokeKey(const std::string& id, std::int64_t nowMs) override;
    Expected<void> addKeySpent(const std::string& id, std::int64_t delta) override;
    Expected<std::optional<NodeBinding>> findBinding(const std::string& nodeId) override;
    Expected<void> insertBinding(const NodeBinding& binding) override;
    Expected<bool> deleteBinding(const std::string& nodeId) override;
    Expected<std::vector<NodeBinding>> bindingsOf(const std::string& account) override;
    Expected<bool> useNonce(const std::string& nonce, std::int64_t nowMs) override;
    Expected<std::int64_t> registrationsSince(const std::string& address, std::int64_t sinceMs) override;
    Expected<void> recordRegistration(const std::string& address, std::int64_t nowMs) override;
    Expected<void> forgetRegistrations(std::int64_t beforeMs) override;
    Expected<std::vector<PostingRow>> postingsPage(const std::string& account, std::int64_t beforeTx,
                                                   int limit) override;

private:
    // A prepared statement, cached per SQL text for the life of the connection.
    QSqlQuery& prepared(const char* sql);
    Expected<void> exec(QSqlQuery& query, const char* what);
    Expected<void> execDirect(const char* sql);
    Error sqlError(const QSqlError& error, const char* what);
    Expected<std::vector<Posting>> postingsOf(TxId id);
    Expected<std::optional<Transaction>> readTransaction(QSqlQuery& query);

    QSqlDatabase m_db;
    Dialect m_dialect;
    std::unordered_map<const char*, QSqlQuery> m_queries;
    // Account kinds never change once created; cleared on rollback since a rolled-back insert may be cached.
    std::unordered_map<std::string, AccountKind> m_kindCache;
    bool m_retryable = false;
};

} // namespace declai::credit
