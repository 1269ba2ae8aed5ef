#include "SqlLedgerSession.h"

#include "SqlValues.h"
#include "declai/core/StrCat.h"

#include <QSqlError>
#include <QVariant>

namespace declai::credit {

namespace {

using namespace sqlvalues;

} // namespace

SqlLedgerSession::SqlLedgerSession(QSqlDatabase db, Dialect dialect)
    : m_db(std::move(db)), m_dialect(dialect) {}

QSqlQuery& SqlLedgerSession::prepared(const char* sql) {
    auto it = m_queries.find(sql);
    if (it == m_queries.end()) {
        QSqlQuery query(m_db);
        query.setForwardOnly(true);
        // A failed prepare shows up as an error from exec(), which names the statement.
        query.prepare(QString::fromUtf8(sql));
        it = m_queries.emplace(sql, std::move(query)).first;
    }
    return it->second;
}

Error SqlLedgerSession::sqlError(const QSqlError& error, const char* what) {
    const QString native = error.nativeErrorCode();
    // PostgreSQL: serialization_failure, deadlock_detected. SQLite: SQLITE_BUSY, SQLITE_LOCKED (another
    // process held the file past the busy timeout).
    if (native == QLatin1String("40001") || native == QLatin1String("40P01") ||
        (m_dialect == Dialect::Sqlite && (native == QLatin1String("5") || native == QLatin1String("6"))))
        m_retryable = true;
    std::string message = strCat("ledger database: ", what, ": ", error.text().toStdString());
    if (!native.isEmpty())
        message.append(" [").append(native.toStdString()).append("]");
    return makeError(ErrorCode::Io, std::move(message));
}

Expected<void> SqlLedgerSession::exec(QSqlQuery& query, const char* what) {
    if (!query.exec())
        return sqlError(query.lastError(), what);
    return {};
}

Expected<void> SqlLedgerSession::execDirect(const char* sql) {
    // SQLite can prepare transaction control once and reuse it (this runs several times per operation);
    // PostgreSQL cannot PREPARE BEGIN/SAVEPOINT, so there each is sent as plain text.
    if (m_dialect == Dialect::Sqlite) {
        QSqlQuery& query = prepared(sql);
        auto ok = exec(query, "transaction control");
        query.finish();
        return ok;
    }
    QSqlQuery query(m_db);
    if (!query.exec(QString::fromLatin1(sql)))
        return sqlError(query.lastError(), "transaction control");
    return {};
}

bool SqlLedgerSession::takeRetryable() {
    return std::exchange(m_retryable, false);
}

Expected<void> SqlLedgerSession::beginWrite() {
    if (m_dialect == Dialect::Sqlite)
        return execDirect("BEGIN IMMEDIATE"); // takes the write lock now, not at first write
    auto begun = execDirect("BEGIN ISOLATION LEVEL READ COMMITTED");
    if (!begun)
        return begun;
    // Every writer of every gateway queues on this one row. Under READ COMMITTED each later statement sees
    // all that earlier lock holders committed, so check-then-append on balances is race-free.
    QSqlQuery& lock = prepared("SELECT last_tx FROM ledger_head WHERE id = 1 FOR UPDATE");
    auto locked = exec(lock, "lock ledger head");
    lock.finish();
    return locked;
}

Expected<void> SqlLedgerSession::beginRead() {
    if (m_dialect == Dialect::Sqlite)
        return execDirect("BEGIN");
    return execDirect("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

Expected<void> SqlLedgerSession::commit() {
    return execDirect("COMMIT");
}

void SqlLedgerSession::rollback() {
    m_kindCache.clear();
    QSqlQuery query(m_db);
    query.exec(QStringLiteral("ROLLBACK")); // fails harmlessly when the backend already ended the transaction
}

Expected<void> SqlLedgerSession::savepoint() {
    return execDirect("SAVEPOINT ledger_job");
}
Expected<void> SqlLedgerSession::releaseSavepoint() {
    return execDirect("RELEASE SAVEPOINT ledger_job");
}
Expected<void> SqlLedgerSession::rollbackToSavepoint() {
    m_kindCache.clear();
    auto rolledBack = execDirect("ROLLBACK TO SAVEPOINT ledger_job");
    if (!rolledBack)
        return rolledBack;
    return releaseSavepoint();
}

Expected<std::optional<Account>> SqlLedgerSession::findAccount(const std::string& id) {
    QSqlQuery& query = prepared("SELECT kind, daily_limit, created_at_ms FROM accounts WHERE id = ?");
    query.bindValue(0, qs(id));
    if (auto ok = exec(query, "find account"); !ok)
        return ok.error();
    std::optional<Account> account;
    if (query.next()) {
        const auto kind = accountKindFromName(ss(query.value(0)));
        if (!kind) {
            query.finish();
            return makeError(ErrorCode::Format, strCat("account ", id, " has an unknown kind"));
        }
        account = Account{id, *kind, query.value(1).toLongLong(), query.value(2).toLongLong()};
        m_kindCache[id] = *kind;
    }
    query.finish();
    return account;
}

Expected<void> SqlLedgerSession::insertAccount(const Account& account) {
    QSqlQuery& insert =
        prepared("INSERT INTO accounts (id, kind, daily_limit, created_at_ms) VALUES (?, ?, ?, ?)");
    insert.bindValue(0, qs(account.id));
    insert.bindValue(1, QString::fromLatin1(accountKindName(account.kind)));
    insert.bindValue(2, ll(account.dailySpendLimit));
    insert.bindValue(3, ll(account.createdAtMs));
    if (auto ok = exec(insert, "insert account"); !ok)
        return ok;
    // Every account has a balance row from the start, so appendTransaction only ever UPDATEs.
    QSqlQuery& balance = prepared("INSERT INTO balances (account, balance) VALUES (?, 0)");
    balance.bindValue(0, qs(account.id));
    return exec(balance, "insert balance row");
}

Expected<void> SqlLedgerSession::setDailySpendLimit(const std::string& id, Microcredits limit) {
    QSqlQuery& query = prepared("UPDATE accounts SET daily_limit = ? WHERE id = ?");
    query.bindValue(0, ll(limit));
    query.bindValue(1, qs(id));
    if (auto ok = exec(query, "set daily limit"); !ok)
        return ok;
    if (query.numRowsAffected() != 1)
        return makeError(ErrorCode::NotFound, strCat("no account ", id));
    return {};
}

Expected<Microcredits> SqlLedgerSession::balanceOf(const std::string& id) {
    QSqlQuery& query = prepared("SELECT balance FROM balances WHERE account = ?");
    query.bindValue(0, qs(id));
    if (auto ok = exec(query, "read balance"); !ok)
        return ok.error();
    const Microcredits balance = query.next() ? query.value(0).toLongLong() : 0;
    query.finish();
    return balance;
}

Expected<std::vector<Posting>> SqlLedgerSession::postingsOf(TxId id) {
    QSqlQuery& query = prepared("SELECT account, amount FROM postings WHERE tx_id = ? ORDER BY idx");
    query.bindValue(0, ll(id));
    if (auto ok = exec(query, "read postings"); !ok)
        return ok.error();
    std::vector<Posting> postings;
    while (query.next())
        postings.push_back({ss(query.value(0)), query.value(1).toLongLong()});
    query.finish();
    return postings;
}

// Columns: id, idem_key, kind, reference, created_at_ms, prev_hash, hash. Finishes the query.
Expected<std::optional<Transaction>> SqlLedgerSession::readTransaction(QSqlQuery& query) {
    std::optional<Transaction> tx;
    if (query.next()) {
        Transaction t;
        t.id = query.value(0).toLongLong();
        t.idempotencyKey = ss(query.value(1));
        const std::string kindName = ss(query.value(2));
        t.reference = ss(query.value(3));
        t.createdAtMs = query.value(4).toLongLong();
        t.prevHash = ss(query.value(5));
        t.hash = ss(query.value(6));
        query.finish();
        const auto kind = txKindFromName(kindName);
        if (!kind)
            return makeError(ErrorCode::Format,
                             strCat("transaction ", t.id, " has an unknown kind '", kindName, "'"));
        t.kind = *kind;
        auto postings = postingsOf(t.id);
        if (!postings)
            return postings.error();
        t.postings = std::move(*postings);
        tx = std::move(t);
    }
    query.finish();
    return tx;
}

Expected<std::optional<Transaction>>
SqlLedgerSession::findTransactionByKey(const std::string& idempotencyKey) {
    QSqlQuery& query = prepared("SELECT id, idem_key, kind, reference, created_at_ms, prev_hash, hash "
                                "FROM transactions WHERE idem_key = ?");
    query.bindValue(0, qs(idempotencyKey));
    if (auto ok = exec(query, "find transaction by key"); !ok)
        return ok.error();
    return readTransaction(query);
}

Expected<std::optional<Transaction>> SqlLedgerSession::findTransaction(TxId id) {
    QSqlQuery& query = prepared("SELECT id, idem_key, kind, reference, created_at_ms, prev_hash, hash "
                                "FROM transactions WHERE id = ?");
    query.bindValue(0, ll(id));
    if (auto ok = exec(query, "find transaction"); !ok)
        return ok.error();
    return readTransaction(query);
}

Expected<Transaction> SqlLedgerSession::appendTransaction(const NewTransaction& tx) {
    if (tx.postings.size() < 2)
        return makeError(ErrorCode::InvalidArgument, "a transaction needs at least two postings");
    Microcredits sum = 0;
    for (const Posting& posting : tx.postings) {
        if (posting.amount == 0)
            return makeError(ErrorCode::InvalidArgument, strCat("zero posting to ", posting.account));
        if (__builtin_add_overflow(sum, posting.amount, &sum))
            return makeError(ErrorCode::InvalidArgument, "posting amounts overflow");
    }
    if (sum != 0)
        return makeError(ErrorCode::InvalidArgument,
                         strCat("postings of '", tx.idempotencyKey, "' sum to ", sum, ", not zero"));

    auto current = head();
    if (!current)
        return current.error();
    Transaction out;
    out.id = current->lastTx + 1;
    out.idempotencyKey = tx.idempotencyKey;
    out.kind = tx.kind;
    out.reference = tx.reference;
    out.createdAtMs = tx.createdAtMs;
    out.postings = tx.postings;
    out.prevHash = current->lastHash;
    out.hash = computeHash(out);

    QSqlQuery& insertTx = prepared("INSERT INTO transactions (id, idem_key, kind, reference, created_at_ms, "
                                   "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
    insertTx.bindValue(0, ll(out.id));
    insertTx.bindValue(1, qs(out.idempotencyKey));
    insertTx.bindValue(2, QString::fromLatin1(txKindName(out.kind)));
    insertTx.bindValue(3, qs(out.reference));
    insertTx.bindValue(4, ll(out.createdAtMs));
    insertTx.bindValue(5, qs(out.prevHash));
    insertTx.bindValue(6, qs(out.hash));
    if (auto ok = exec(insertTx, "insert transaction"); !ok)
        return ok.error();

    for (size_t i = 0; i < out.postings.size(); ++i) {
        const Posting& posting = out.postings[i];
        AccountKind kind;
        if (auto cached = m_kindCache.find(posting.account); cached != m_kindCache.end()) {
            kind = cached->second;
        } else {
            auto account = findAccount(posting.account);
            if (!account)
                return account.error();
            if (!account->has_value())
                return makeError(ErrorCode::NotFound, strCat("no account ", posting.account));
            kind = (*account)->kind;
        }
        QSqlQuery& insertPosting =
            prepared("INSERT INTO postings (tx_id, idx, account, amount) VALUES (?, ?, ?, ?)");
        insertPosting.bindValue(0, ll(out.id));
        insertPosting.bindValue(1, static_cast<int>(i));
        insertPosting.bindValue(2, qs(posting.account));
        insertPosting.bindValue(3, ll(posting.amount));
        if (auto ok = exec(insertPosting, "insert posting"); !ok)
            return ok.error();

        QSqlQuery& update =
            prepared("UPDATE balances SET balance = balance + ? WHERE account = ? RETURNING balance");
        update.bindValue(0, ll(posting.amount));
        update.bindValue(1, qs(posting.account));
        if (auto ok = exec(update, "update balance"); !ok)
            return ok.error();
        if (!update.next()) {
            update.finish();
            return makeError(ErrorCode::Internal, strCat("account ", posting.account, " has no balance row"));
        }
        const Microcredits after = update.value(0).toLongLong();
        update.finish();
        if (after < 0 && !mayGoNegative(kind))
            return makeError(ErrorCode::InvalidArgument,
                             strCat("insufficient credits: ", posting.account, " would go to ", after));
    }

    QSqlQuery& moveHead = prepared("UPDATE ledger_head SET last_tx = ?, last_hash = ? WHERE id = 1");
    moveHead.bindValue(0, ll(out.id));
    moveHead.bindValue(1, qs(out.hash));
    if (auto ok = exec(moveHead, "move ledger head"); !ok)
        return ok.error();
    return out;
}

Expected<std::optional<Hold>> SqlLedgerSession::findHold(const std::string& holdId) {
    QSqlQuery& query =
        prepared("SELECT account, amount, status, created_at_ms, hold_tx, close_tx, settled_cost, instance, "
                 "key_id FROM holds WHERE id = ?");
    query.bindValue(0, qs(holdId));
    if (auto ok = exec(query, "find hold"); !ok)
        return ok.error();
    std::optional<Hold> hold;
    if (query.next()) {
        Hold h;
        h.id = holdId;
        h.account = ss(query.value(0));
        h.amount = query.value(1).toLongLong();
        const auto status = holdStatusFromName(ss(query.value(2)));
        h.createdAtMs = query.value(3).toLongLong();
        h.holdTx = query.value(4).toLongLong();
        h.closeTx = query.value(5).isNull() ? 0 : query.value(5).toLongLong();
        h.settledCost = query.value(6).toLongLong();
        h.instance = ss(query.value(7));
        h.keyId = ss(query.value(8));
        query.finish();
        if (!status)
            return makeError(ErrorCode::Format, strCat("hold ", holdId, " has an unknown status"));
        h.status = *status;
        hold = std::move(h);
    }
    query.finish();
    return hold;
}

Expected<void> SqlLedgerSession::insertHold(const Hold& hold) {
    QSqlQuery& query =
        prepared("INSERT INTO holds (id, account, amount, status, created_at_ms, hold_tx, "
                 "close_tx, settled_cost, instance, key_id) VALUES (?, ?, ?, ?, ?, ?, NULL, 0, ?, ?)");
    query.bindValue(0, qs(hold.id));
    query.bindValue(1, qs(hold.account));
    query.bindValue(2, ll(hold.amount));
    query.bindValue(3, QString::fromLatin1(holdStatusName(hold.status)));
    query.bindValue(4, ll(hold.createdAtMs));
    query.bindValue(5, ll(hold.holdTx));
    query.bindValue(6, qs(hold.instance));
    query.bindValue(7, qs(hold.keyId));
    return exec(query, "insert hold");
}

Expected<std::vector<Hold>> SqlLedgerSession::openHolds() {
    QSqlQuery& query = prepared("SELECT id, account, amount, created_at_ms, hold_tx, instance, key_id FROM "
                                "holds WHERE status = 'open' ORDER BY created_at_ms, id");
    if (auto ok = exec(query, "list open holds"); !ok)
        return ok.error();
    std::vector<Hold> holds;
    while (query.next()) {
        Hold h;
        h.id = ss(query.value(0));
        h.account = ss(query.value(1));
        h.amount = query.value(2).toLongLong();
        h.createdAtMs = query.value(3).toLongLong();
        h.holdTx = query.value(4).toLongLong();
        h.instance = ss(query.value(5));
        h.keyId = ss(query.value(6));
        holds.push_back(std::move(h));
    }
    query.finish();
    return holds;
}

Expected<void> SqlLedgerSession::upsertInstance(const GatewayInstance& instance) {
    // Portable upsert (SQLite >= 3.24 and PostgreSQL share this syntax).
    QSqlQuery& query =
        prepared("INSERT INTO gateway_instances (id, host, pid, started_at_ms, heartbeat_ms, stopped_at_ms) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
                 "pid = excluded.pid, started_at_ms = excluded.started_at_ms, "
                 "heartbeat_ms = excluded.heartbeat_ms, stopped_at_ms = excluded.stopped_at_ms");
    query.bindValue(0, qs(instance.id));
    query.bindValue(1, qs(instance.host));
    query.bindValue(2, ll(instance.pid));
    query.bindValue(3, ll(instance.startedAtMs));
    query.bindValue(4, ll(instance.heartbeatMs));
    query.bindValue(5, ll(instance.stoppedAtMs));
    return exec(query, "record gateway instance");
}

Expected<std::vector<GatewayInstance>> SqlLedgerSession::instances() {
    QSqlQuery& query = prepared("SELECT id, host, pid, started_at_ms, heartbeat_ms, stopped_at_ms FROM "
                                "gateway_instances ORDER BY started_at_ms, id");
    if (auto ok = exec(query, "list gateway instances"); !ok)
        return ok.error();
    std::vector<GatewayInstance> out;
    while (query.next()) {
        GatewayInstance g;
        g.id = ss(query.value(0));
        g.host = ss(query.value(1));
        g.pid = query.value(2).toLongLong();
        g.startedAtMs = query.value(3).toLongLong();
        g.heartbeatMs = query.value(4).toLongLong();
        g.stoppedAtMs = query.value(5).toLongLong();
        out.push_back(std::move(g));
    }
    query.finish();
    return out;
}

Expected<void> SqlLedgerSession::closeHold(const std::string& holdId, HoldStatus status,
                                           Microcredits settledCost, TxId closeTx) {
    QSqlQuery& query = prepared("UPDATE holds SET status = ?, settled_cost = ?, close_tx = ? "
                                "WHERE id = ? AND status = 'open'");
    query.bindValue(0, QString::fromLatin1(holdStatusName(status)));
    query.bindValue(1, ll(settledCost));
    query.bindValue(2, ll(closeTx));
    query.bindValue(3, qs(holdId));
    if (auto ok = exec(query, "close hold"); !ok)
        return ok;
    if (query.numRowsAffected() != 1)
        return makeError(ErrorCode::InvalidArgument, strCat("hold ", holdId, " is not open"));
    return {};
}

Expected<Microcredits> SqlLedgerSession::spentSince(const std::string& account, std::int64_t sinceMs) {
    QSqlQuery& query = prepared(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'open' THEN amount WHEN status = 'settled' "
        "THEN settled_cost ELSE 0 END), 0) AS BIGINT) FROM holds WHERE account = ? AND created_at_ms >= ?");
    query.bindValue(0, qs(account));
    query.bindValue(1, ll(sinceMs));
    if (auto ok = exec(query, "sum daily spend"); !ok)
        return ok.error();
    const Microcredits spent = query.next() ? query.value(0).toLongLong() : 0;
    query.finish();
    return spent;
}

Expected<void> SqlLedgerSession::insertPendingLot(const PendingLot& lot) {
    QSqlQuery& query =
        prepared("INSERT INTO pending_lots (earn_tx, node, amount, created_at_ms, status, close_tx) "
                 "VALUES (?, ?, ?, ?, ?, NULL)");
    query.bindValue(0, ll(lot.earnTx));
    query.bindValue(1, qs(lot.node));
    query.bindValue(2, ll(lot.amount));
    query.bindValue(3, ll(lot.createdAtMs));
    query.bindValue(4, QString::fromLatin1(lotStatusName(lot.status)));
    return exec(query, "insert pending lot");
}

Expected<std::vector<PendingLot>> SqlLedgerSession::openPendingLots(const std::string& node,
                                                                    std::int64_t createdBeforeMs) {
    QSqlQuery& query = prepared("SELECT earn_tx, amount, created_at_ms FROM pending_lots "
                                "WHERE node = ? AND status = 'open' AND created_at_ms < ? ORDER BY earn_tx");
    query.bindValue(0, qs(node));
    query.bindValue(1, ll(createdBeforeMs));
    if (auto ok = exec(query, "read pending lots"); !ok)
        return ok.error();
    std::vector<PendingLot> lots;
    while (query.next())
        lots.push_back({query.value(0).toLongLong(), node, query.value(1).toLongLong(),
                        query.value(2).toLongLong(), LotStatus::Open, 0});
    query.finish();
    return lots;
}

Expected<void> SqlLedgerSession::closePendingLot(TxId earnTx, const std::string& node, LotStatus status,
                                                 TxId closeTx) {
    QSqlQuery& query = prepared("UPDATE pending_lots SET status = ?, close_tx = ? "
                                "WHERE earn_tx = ? AND node = ? AND status = 'open'");
    query.bindValue(0, QString::fromLatin1(lotStatusName(status)));
    query.bindValue(1, ll(closeTx));
    query.bindValue(2, ll(earnTx));
    query.bindValue(3, qs(node));
    if (auto ok = exec(query, "close pending lot"); !ok)
        return ok;
    if (query.numRowsAffected() != 1)
        return makeError(ErrorCode::InvalidArgument, "pending lot is not open");
    return {};
}

Expected<std::vector<HistoryEntry>> SqlLedgerSession::history(const std::string& account, int limit) {
    QSqlQuery& query =
        prepared("SELECT t.id, t.kind, t.reference, t.created_at_ms, t.hash, CAST(SUM(p.amount) AS BIGINT) "
                 "FROM postings p JOIN transactions t ON t.id = p.tx_id WHERE p.account = ? "
                 "GROUP BY t.id, t.kind, t.reference, t.created_at_ms, t.hash ORDER BY t.id DESC LIMIT ?");
    query.bindValue(0, qs(account));
    query.bindValue(1, limit);
    if (auto ok = exec(query, "read history"); !ok)
        return ok.error();
    std::vector<HistoryEntry> entries;
    while (query.next()) {
        HistoryEntry entry;
        entry.txId = query.value(0).toLongLong();
        entry.kind = txKindFromName(ss(query.value(1))).value_or(TxKind::Transfer);
        entry.reference = ss(query.value(2));
        entry.createdAtMs = query.value(3).toLongLong();
        entry.hash = ss(query.value(4));
        entry.amount = query.value(5).toLongLong();
        entries.push_back(std::move(entry));
    }
    query.finish();
    return entries;
}

Expected<ChainHead> SqlLedgerSession::head() {
    QSqlQuery& query = prepared("SELECT last_tx, last_hash FROM ledger_head WHERE id = 1");
    if (auto ok = exec(query, "read ledger head"); !ok)
        return ok.error();
    if (!query.next()) {
        query.finish();
        return makeError(ErrorCode::Format, "ledger_head row is missing");
    }
    ChainHead result{query.value(0).toLongLong(), ss(query.value(1))};
    query.finish();
    return result;
}

Expected<std::vector<Transaction>> SqlLedgerSession::transactionsFrom(TxId firstId, int limit) {
    QSqlQuery& query = prepared("SELECT id, idem_key, kind, reference, created_at_ms, prev_hash, hash "
                                "FROM transactions WHERE id >= ? ORDER BY id LIMIT ?");
    query.bindValue(0, ll(firstId));
    query.bindValue(1, limit);
    if (auto ok = exec(query, "read transactions"); !ok)
        return ok.error();
    std::vector<Transaction> txs;
    std::vector<std::string> kindNames;
    while (query.next()) {
        Transaction t;
        t.id = query.value(0).toLongLong();
        t.idempotencyKey = ss(query.value(1));
        kindNames.push_back(ss(query.value(2)));
        t.reference = ss(query.value(3));
        t.createdAtMs = query.value(4).toLongLong();
        t.prevHash = ss(query.value(5));
        t.hash = ss(query.value(6));
        txs.push_back(std::move(t));
    }
    query.finish();
    if (txs.empty())
        return txs;
    for (size_t i = 0; i < txs.size(); ++i) {
        const auto kind = txKindFromName(kindNames[i]);
        // An unknown kind (tampering) hashes differently from any real one; keep the row, let verify flag it.
        txs[i].kind = kind.value_or(TxKind::Transfer);
        if (!kind)
            txs[i].reference.append("\x01unknown-kind:").append(kindNames[i]);
    }
    QSqlQuery& postings =
        prepared("SELECT tx_id, account, amount FROM postings WHERE tx_id >= ? AND tx_id <= ? "
                 "ORDER BY tx_id, idx");
    postings.bindValue(0, ll(txs.front().id));
    postings.bindValue(1, ll(txs.back().id));
    if (auto ok = exec(postings, "read postings"); !ok)
        return ok.error();
    size_t index = 0;
    while (postings.next()) {
        const TxId txId = postings.value(0).toLongLong();
        while (index < txs.size() && txs[index].id < txId)
            ++index;
        if (index < txs.size() && txs[index].id == txId)
            txs[index].postings.push_back({ss(postings.value(1)), postings.value(2).toLongLong()});
    }
    postings.finish();
    return txs;
}

Expected<std::int64_t> SqlLedgerSession::postingCount() {
    QSqlQuery& query = prepared("SELECT COUNT(*) FROM postings");
    if (auto ok = exec(query, "count postings"); !ok)
        return ok.error();
    const std::int64_t count = query.next() ? query.value(0).toLongLong() : 0;
    query.finish();
    return count;
}

Expected<std::vector<Account>> SqlLedgerSession::accounts() {
    QSqlQuery& query = prepared("SELECT id, kind, daily_limit, created_at_ms FROM accounts ORDER BY id");
    if (auto ok = exec(query, "read accounts"); !ok)
        return ok.error();
    std::vector<Account> result;
    while (query.next()) {
        const std::string id = ss(query.value(0));
        const auto kind = accountKindFromName(ss(query.value(1)));
        if (!kind) {
            query.finish();
            return makeError(ErrorCode::Format, strCat("account ", id, " has an unknown kind"));
        }
        result.push_back({id, *kind, query.value(2).toLongLong(), query.value(3).toLongLong()});
    }
    query.finish();
    return result;
}

namespace {

Expected<std::map<std::string, Microcredits>> readSums(QSqlQuery& query) {
    std::map<std::string, Microcredits> sums;
    while (query.next())
        sums[query.value(0).toString().toStdString()] = query.value(1).toLongLong();
    query.finish();
    return sums;
}

} // namespace

Expected<std::map<std::string, Microcredits>> SqlLedgerSession::cachedBalances() {
    QSqlQuery& query = prepared("SELECT account, balance FROM balances");
    if (auto ok = exec(query, "read balances"); !ok)
        return ok.error();
    return readSums(query);
}

Expected<std::map<std::string, Microcredits>> SqlLedgerSession::openHoldSums() {
    QSqlQuery& query = prepared(
        "SELECT account, CAST(SUM(amount) AS BIGINT) FROM holds WHERE status = 'open' GROUP BY account");
    if (auto ok = exec(query, "sum open holds"); !ok)
        return ok.error();
    return readSums(query);
}

Expected<std::map<std::string, Microcredits>> SqlLedgerSession::openLotSums() {
    QSqlQuery& query = prepared(
        "SELECT node, CAST(SUM(amount) AS BIGINT) FROM pending_lots WHERE status = 'open' GROUP BY node");
    if (auto ok = exec(query, "sum pending lots"); !ok)
        return ok.error();
    return readSums(query);
}

Expected<std::vector<std::string>> SqlLedgerSession::integrityProblems() {
    std::vector<std::string> problems;
    if (m_dialect != Dialect::Sqlite)
        return problems;
    QSqlQuery query(m_db);
    if (!query.exec(QStringLiteral("PRAGMA integrity_check")))
        return sqlError(query.lastError(), "integrity check");
    while (query.next()) {
        const std::string line = ss(query.value(0));
        if (line != "ok")
            problems.push_back(strCat("sqlite integrity_check: ", line));
    }
    if (!query.exec(QStringLiteral("PRAGMA foreign_key_check")))
        return sqlError(query.lastError(), "foreign key check");
    while (query.next())
        problems.push_back(strCat("sqlite foreign_key_check: row ", ss(query.value(1)), " of ",
                                  ss(query.value(0)), " points to a missing ", ss(query.value(2))));
    return problems;
}

} // namespace declai::credit
