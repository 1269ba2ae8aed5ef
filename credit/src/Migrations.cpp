#include "Migrations.h"

#include "declai/core/StrCat.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>
#include <vector>

namespace declai::credit {

namespace {

struct Migration {
    int version;
    std::vector<const char*> statements; // portable SQL: runs on SQLite and PostgreSQL
};

// Append only: a released migration is never edited, a change is a new number.
const std::vector<Migration>& migrations() {
    static const std::vector<Migration> list = {
        {1,
         {
             "CREATE TABLE accounts (id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
             "daily_limit BIGINT NOT NULL DEFAULT 0, created_at_ms BIGINT NOT NULL)",
             "CREATE TABLE transactions (id BIGINT PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, "
             "kind TEXT NOT NULL, reference TEXT NOT NULL, created_at_ms BIGINT NOT NULL, "
             "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
             "CREATE TABLE postings (tx_id BIGINT NOT NULL REFERENCES transactions(id), idx INTEGER NOT "
             "NULL, "
             "account TEXT NOT NULL REFERENCES accounts(id), amount BIGINT NOT NULL, PRIMARY KEY (tx_id, "
             "idx))",
             "CREATE INDEX postings_by_account ON postings (account, tx_id)",
             "CREATE TABLE balances (account TEXT PRIMARY KEY REFERENCES accounts(id), balance BIGINT NOT "
             "NULL)",
             "CREATE TABLE holds (id TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), "
             "amount BIGINT NOT NULL, status TEXT NOT NULL, created_at_ms BIGINT NOT NULL, "
             "hold_tx BIGINT NOT NULL, close_tx BIGINT, settled_cost BIGINT NOT NULL DEFAULT 0)",
             "CREATE INDEX holds_by_account ON holds (account, created_at_ms)",
             "CREATE TABLE pending_lots (earn_tx BIGINT NOT NULL, node TEXT NOT NULL REFERENCES "
             "accounts(id), "
             "amount BIGINT NOT NULL, created_at_ms BIGINT NOT NULL, status TEXT NOT NULL, close_tx BIGINT, "
             "PRIMARY KEY (earn_tx, node))",
             "CREATE INDEX pending_lots_by_node ON pending_lots (node, status, created_at_ms)",
             "CREATE TABLE ledger_head (id INTEGER PRIMARY KEY CHECK (id = 1), last_tx BIGINT NOT NULL, "
             "last_hash TEXT NOT NULL)",
             "INSERT INTO ledger_head (id, last_tx, last_hash) VALUES "
             "(1, 0, '0000000000000000000000000000000000000000000000000000000000000000')",
             "INSERT INTO accounts (id, kind, daily_limit, created_at_ms) VALUES "
             "('system:mint', 'system', 0, 0), ('system:burn', 'system', 0, 0), ('system:fee', 'system', 0, "
             "0)",
             "INSERT INTO balances (account, balance) VALUES "
             "('system:mint', 0), ('system:burn', 0), ('system:fee', 0)",
         }},
        {2,
         {
             // Open holds are summed for every daily-limit check and by verify().
             "CREATE INDEX holds_by_status ON holds (status, account)",
         }},
        {3,
         {
             // Which gateway run placed a hold, and which runs are alive: a hold whose gateway died with it
             // open is released on the next start and reported by `ledger verify` (docs/ledger.md).
             "ALTER TABLE holds ADD COLUMN instance TEXT NOT NULL DEFAULT ''",
             "CREATE TABLE gateway_instances (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL, "
             "started_at_ms BIGINT NOT NULL, heartbeat_ms BIGINT NOT NULL, stopped_at_ms BIGINT NOT NULL "
             "DEFAULT 0)",
         }},
        {4,
         {
             // Accounts move from each gateway's users.json into the ledger database, so gateways sharing
             // one PostgreSQL share accounts and keys (docs/ledger.md, "Accounts"). Keys are stored only
             // as SHA-256(salt || secret) with a random salt per key; the key id is public.
             "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, created_at_ms BIGINT NOT NULL, "
             "origin TEXT NOT NULL, welcome TEXT NOT NULL, welcome_amount BIGINT NOT NULL DEFAULT 0)",
             "CREATE TABLE api_keys (id TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES users(name), "
             "salt TEXT NOT NULL, hash TEXT NOT NULL, created_at_ms BIGINT NOT NULL, "
             "expires_at_ms BIGINT NOT NULL DEFAULT 0, spend_limit BIGINT NOT NULL DEFAULT 0, "
             "spent BIGINT NOT NULL DEFAULT 0, revoked_at_ms BIGINT NOT NULL DEFAULT 0, "
             "label TEXT NOT NULL DEFAULT '')",
             "CREATE INDEX api_keys_by_account ON api_keys (account)",
             // A node earns for at most one account; the signed binding message is kept as evidence.
             "CREATE TABLE node_bindings (node_id TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES "
             "users(name), bound_at_ms BIGINT NOT NULL, public_key TEXT NOT NULL, message TEXT NOT NULL, "
             "signature TEXT NOT NULL)",
             "CREATE INDEX node_bindings_by_account ON node_bindings (account)",
             // Nonces of accepted binding messages: a captured message cannot be replayed.
             "CREATE TABLE binding_nonces (nonce TEXT PRIMARY KEY, used_at_ms BIGINT NOT NULL)",
             // Self-registrations per client address, shared by every gateway on this database.
             "CREATE TABLE registrations (address TEXT NOT NULL, at_ms BIGINT NOT NULL)",
             "CREATE INDEX registrations_by_address ON registrations (address, at_ms)",
         }},
        {5,
         {
             // The API key a hold's worst case is reserved against: the reservation is taken with the hold
             // and returned with its close, in the same transactions, by whichever gateway closes it (also
             // an orphaned hold of a gateway that died).
             "ALTER TABLE holds ADD COLUMN key_id TEXT NOT NULL DEFAULT ''",
         }},
    };
    return list;
}

Error dbError(const QSqlQuery& query, std::string_view what) {
    return makeError(ErrorCode::Io,
                     strCat("ledger migration: ", what, ": ", query.lastError().text().toStdString()));
}

Expected<void> run(QSqlDatabase& db, const char* sql) {
    QSqlQuery query(db);
    if (!query.exec(QString::fromUtf8(sql)))
        return dbError(query, sql);
    return {};
}

void rollback(QSqlDatabase& db) {
    QSqlQuery query(db);
    query.exec(QStringLiteral("ROLLBACK"));
}

// Starts a migration transaction. On PostgreSQL an advisory lock keeps two gateways that start at the same
// moment from migrating twice; the second one waits, then sees the new version.
Expected<void> begin(QSqlDatabase& db, Dialect dialect) {
    if (dialect == Dialect::Sqlite)
        return run(db, "BEGIN IMMEDIATE");
    if (auto ok = run(db, "BEGIN"); !ok)
        return ok;
    return run(db, "SELECT pg_advisory_xact_lock(7324011)");
}

Expected<int> currentVersion(QSqlDatabase& db) {
    if (auto ok = run(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); !ok)
        return ok.error();
    QSqlQuery query(db);
    if (!query.exec(QStringLiteral("SELECT version FROM schema_version")))
        return dbError(query, "read schema_version");
    if (!query.next()) {
        if (auto ok = run(db, "INSERT INTO schema_version (version) VALUES (0)"); !ok)
            return ok.error();
        return 0;
    }
    const int version = query.value(0).toInt();
    if (query.next())
        return makeError(ErrorCode::Format, "schema_version has more than one row");
    return version;
}

} // namespace

Expected<int> migrate(QSqlDatabase& db, Dialect dialect) {
    for (;;) {
        if (auto ok = begin(db, dialect); !ok)
            return ok.error();
        auto version = currentVersion(db);
        if (!version) {
            rollback(db);
            return version.error();
        }
        if (*version > kLatestSchemaVersion) {
            rollback(db);
            return makeError(ErrorCode::Unsupported,
                             strCat("ledger schema version ", *version,
                                    " is newer than this build supports (", kLatestSchemaVersion,
                                    "); upgrade declai-server before opening this ledger"));
        }
        if (*version == kLatestSchemaVersion) {
            if (auto ok = run(db, "COMMIT"); !ok)
                return ok.error();
            return *version;
        }
        // One migration per transaction: a crash leaves the database at a numbered version, never between.
        const Migration& next = migrations().at(static_cast<size_t>(*version));
        for (const char* statement : next.statements) {
            if (auto ok = run(db, statement); !ok) {
                rollback(db);
                return makeError(ok.error().code,
                                 strCat("migration ", next.version, " failed: ", ok.error().message));
            }
        }
        QSqlQuery bump(db);
        bump.prepare(QStringLiteral("UPDATE schema_version SET version = ?"));
        bump.addBindValue(next.version);
        if (!bump.exec()) {
            const Error error = dbError(bump, "update schema_version");
            rollback(db);
            return error;
        }
        if (auto ok = run(db, "COMMIT"); !ok) {
            rollback(db);
            return ok.error();
        }
    }
}

} // namespace declai::credit
