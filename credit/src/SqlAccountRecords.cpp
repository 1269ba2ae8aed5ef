// SqlLedgerSession's AccountSession half: the account tables of schema 4 (see Migrations.cpp). Portable SQL;
// nothing relies on a failing statement (PostgreSQL would abort the whole transaction), so uniqueness is
// checked with NOT EXISTS under the writer lock every write transaction holds.
#include "SqlLedgerSession.h"
#include "SqlValues.h"
#include "declai/core/StrCat.h"

#include <QSqlError>
#include <QVariant>
#include <algorithm>
#include <limits>

namespace declai::credit {

namespace {

using namespace sqlvalues;

Expected<UserRecord> readUser(QSqlQuery& query) {
    UserRecord user;
    user.name = ss(query.value(0));
    const auto role = accountRoleFromName(ss(query.value(1)));
    const auto welcome = welcomeRuleFromName(ss(query.value(4)));
    if (!role || !welcome)
        return makeError(ErrorCode::Format,
                         strCat("account ", user.name, " has an unknown role or welcome rule"));
    user.role = *role;
    user.createdAtMs = query.value(2).toLongLong();
    user.origin = ss(query.value(3));
    user.welcome = *welcome;
    user.welcomeAmount = query.value(5).toLongLong();
    return user;
}

ApiKeyRecord readKey(QSqlQuery& query) {
    ApiKeyRecord key;
    key.id = ss(query.value(0));
    key.account = ss(query.value(1));
    key.saltHex = ss(query.value(2));
    key.hashHex = ss(query.value(3));
    key.createdAtMs = query.value(4).toLongLong();
    key.expiresAtMs = query.value(5).toLongLong();
    key.spendLimit = query.value(6).toLongLong();
    key.spent = query.value(7).toLongLong();
    key.revokedAtMs = query.value(8).toLongLong();
    key.label = ss(query.value(9));
    return key;
}

NodeBinding readBinding(QSqlQuery& query) {
    NodeBinding b;
    b.nodeId = ss(query.value(0));
    b.account = ss(query.value(1));
    b.boundAtMs = query.value(2).toLongLong();
    b.publicKeyHex = ss(query.value(3));
    b.message = ss(query.value(4));
    b.signatureHex = ss(query.value(5));
    return b;
}

} // namespace

// The SQL texts below are static strings: prepared() caches by pointer, so each must be one literal.
#define DECLAI_SELECT_USER "SELECT name, role, created_at_ms, origin, welcome, welcome_amount FROM users"
#define DECLAI_SELECT_KEY                                                                                    \
    "SELECT id, account, salt, hash, created_at_ms, expires_at_ms, spend_limit, spent, revoked_at_ms, "      \
    "label "                                                                                                 \
    "FROM api_keys"
#define DECLAI_SELECT_BINDING                                                                                \
    "SELECT node_id, account, bound_at_ms, public_key, message, signature FROM node_bindings"

Expected<std::optional<UserRecord>> SqlLedgerSession::findUser(const std::string& name) {
    QSqlQuery& query = prepared(DECLAI_SELECT_USER " WHERE name = ?");
    query.bindValue(0, qs(name));
    if (auto ok = exec(query, "find user"); !ok)
        return ok.error();
    std::optional<UserRecord> user;
    if (query.next()) {
        auto read = readUser(query);
        if (!read) {
            query.finish();
            return read.error();
        }
        user = std::move(*read);
    }
    query.finish();
    return user;
}

Expected<void> SqlLedgerSession::insertUser(const UserRecord& user) {
    QSqlQuery& insert =
        prepared("INSERT INTO users (name, role, created_at_ms, origin, welcome, welcome_amount) "
                 "VALUES (?, ?, ?, ?, ?, ?)");
    insert.bindValue(0, qs(user.name));
    insert.bindValue(1, QString::fromLatin1(accountRoleName(user.role)));
    insert.bindValue(2, ll(user.createdAtMs));
    insert.bindValue(3, qs(user.origin));
    insert.bindValue(4, QString::fromLatin1(welcomeRuleName(user.welcome)));
    insert.bindValue(5, ll(user.welcomeAmount));
    return exec(insert, "insert user");
}

Expected<void> SqlLedgerSession::setWelcome(const std::string& name, WelcomeRule rule, std::int64_t amount) {
    QSqlQuery& query = prepared("UPDATE users SET welcome = ?, welcome_amount = ? WHERE name = ?");
    query.bindValue(0, QString::fromLatin1(welcomeRuleName(rule)));
    query.bindValue(1, ll(amount));
    query.bindValue(2, qs(name));
    return exec(query, "set welcome rule");
}

Expected<std::vector<UserRecord>> SqlLedgerSession::users() {
    QSqlQuery& query = prepared(DECLAI_SELECT_USER " ORDER BY name");
    if (auto ok = exec(query, "list users"); !ok)
        return ok.error();
    std::vector<UserRecord> result;
    while (query.next()) {
        auto read = readUser(query);
        if (!read) {
            query.finish();
            return read.error();
        }
        result.push_back(std::move(*read));
    }
    query.finish();
    return result;
}

Expected<std::optional<ApiKeyRecord>> SqlLedgerSession::findKey(const std::string& id) {
    QSqlQuery& query = prepared(DECLAI_SELECT_KEY " WHERE id = ?");
    query.bindValue(0, qs(id));
    if (auto ok = exec(query, "find API key"); !ok)
        return ok.error();
    std::optional<ApiKeyRecord> key;
    if (query.next())
        key = readKey(query);
    query.finish();
    return key;
}

Expected<void> SqlLedgerSession::insertKey(const ApiKeyRecord& key) {
    QSqlQuery& insert =
        prepared("INSERT INTO api_keys (id, account, salt, hash, created_at_ms, expires_at_ms, "
                 "spend_limit, spent, revoked_at_ms, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bindValue(0, qs(key.id));
    insert.bindValue(1, qs(key.account));
    insert.bindValue(2, qs(key.saltHex));
    insert.bindValue(3, qs(key.hashHex));
    insert.bindValue(4, ll(key.createdAtMs));
    insert.bindValue(5, ll(key.expiresAtMs));
    insert.bindValue(6, ll(key.spendLimit));
    insert.bindValue(7, ll(key.spent));
    insert.bindValue(8, ll(key.revokedAtMs));
    insert.bindValue(9, qs(key.label));
    return exec(insert, "insert API key");
}

Expected<std::vector<ApiKeyRecord>> SqlLedgerSession::keysOf(const std::string& account) {
    QSqlQuery& query = prepared(DECLAI_SELECT_KEY " WHERE account = ? ORDER BY created_at_ms, id");
    query.bindValue(0, qs(account));
    if (auto ok = exec(query, "list API keys"); !ok)
        return ok.error();
    std::vector<ApiKeyRecord> keys;
    while (query.next())
        keys.push_back(readKey(query));
    query.finish();
    return keys;
}

Expected<bool> SqlLedgerSession::revokeKey(const std::string& id, std::int64_t nowMs) {
    QSqlQuery& query = prepared("UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms = 0");
    query.bindValue(0, ll(std::max<std::int64_t>(1, nowMs)));
    query.bindValue(1, qs(id));
    if (auto ok = exec(query, "revoke API key"); !ok)
        return ok.error();
    return query.numRowsAffected() == 1;
}

Expected<void> SqlLedgerSession::addKeySpent(const std::string& id, std::int64_t delta) {
    QSqlQuery& query =
        prepared("UPDATE api_keys SET spent = CASE WHEN spent + ? < 0 THEN 0 ELSE spent + ? END "
                 "WHERE id = ?");
    query.bindValue(0, ll(delta));
    query.bindValue(1, ll(delta));
    query.bindValue(2, qs(id));
    return exec(query, "update API key spending");
}

Expected<std::optional<NodeBinding>> SqlLedgerSession::findBinding(const std::string& nodeId) {
    QSqlQuery& query = prepared(DECLAI_SELECT_BINDING " WHERE node_id = ?");
    query.bindValue(0, qs(nodeId));
    if (auto ok = exec(query, "find node binding"); !ok)
        return ok.error();
    std::optional<NodeBinding> binding;
    if (query.next())
        binding = readBinding(query);
    query.finish();
    return binding;
}

Expected<void> SqlLedgerSession::insertBinding(const NodeBinding& b) {
    QSqlQuery& insert =
        prepared("INSERT INTO node_bindings (node_id, account, bound_at_ms, public_key, message, "
                 "signature) VALUES (?, ?, ?, ?, ?, ?)");
    insert.bindValue(0, qs(b.nodeId));
    insert.bindValue(1, qs(b.account));
    insert.bindValue(2, ll(b.boundAtMs));
    insert.bindValue(3, qs(b.publicKeyHex));
    insert.bindValue(4, qs(b.message));
    insert.bindValue(5, qs(b.signatureHex));
    return exec(insert, "insert node binding");
}

Expected<bool> SqlLedgerSession::deleteBinding(const std::string& nodeId) {
    QSqlQuery& query = prepared("DELETE FROM node_bindings WHERE node_id = ?");
    query.bindValue(0, qs(nodeId));
    if (auto ok = exec(query, "delete node binding"); !ok)
        return ok.error();
    return query.numRowsAffected() == 1;
}

Expected<std::vector<NodeBinding>> SqlLedgerSession::bindingsOf(const std::string& account) {
    QSqlQuery& query = prepared(DECLAI_SELECT_BINDING " WHERE account = ? ORDER BY bound_at_ms, node_id");
    query.bindValue(0, qs(account));
    if (auto ok = exec(query, "list node bindings"); !ok)
        return ok.error();
    std::vector<NodeBinding> result;
    while (query.next())
        result.push_back(readBinding(query));
    query.finish();
    return result;
}

Expected<bool> SqlLedgerSession::useNonce(const std::string& nonce, std::int64_t nowMs) {
    QSqlQuery& insert =
        prepared("INSERT INTO binding_nonces (nonce, used_at_ms) SELECT ?, ? WHERE NOT EXISTS "
                 "(SELECT 1 FROM binding_nonces WHERE nonce = ?)");
    insert.bindValue(0, qs(nonce));
    insert.bindValue(1, ll(nowMs));
    insert.bindValue(2, qs(nonce));
    if (auto ok = exec(insert, "record binding nonce"); !ok)
        return ok.error();
    return insert.numRowsAffected() == 1;
}

Expected<std::int64_t> SqlLedgerSession::registrationsSince(const std::string& address,
                                                            std::int64_t sinceMs) {
    QSqlQuery& query = prepared("SELECT COUNT(*) FROM registrations WHERE address = ? AND at_ms >= ?");
    query.bindValue(0, qs(address));
    query.bindValue(1, ll(sinceMs));
    if (auto ok = exec(query, "count registrations"); !ok)
        return ok.error();
    const std::int64_t count = query.next() ? query.value(0).toLongLong() : 0;
    query.finish();
    return count;
}

Expected<void> SqlLedgerSession::recordRegistration(const std::string& address, std::int64_t nowMs) {
    QSqlQuery& insert = prepared("INSERT INTO registrations (address, at_ms) VALUES (?, ?)");
    insert.bindValue(0, qs(address));
    insert.bindValue(1, ll(nowMs));
    return exec(insert, "record registration");
}

Expected<void> SqlLedgerSession::forgetRegistrations(std::int64_t beforeMs) {
    QSqlQuery& query = prepared("DELETE FROM registrations WHERE at_ms < ?");
    query.bindValue(0, ll(beforeMs));
    return exec(query, "forget old registrations");
}

Expected<std::vector<AccountSession::PostingRow>>
SqlLedgerSession::postingsPage(const std::string& account, std::int64_t beforeTx, int limit) {
    QSqlQuery& query =
        prepared("SELECT t.id, t.kind, t.reference, t.created_at_ms, CAST(SUM(p.amount) AS BIGINT) "
                 "FROM postings p JOIN transactions t ON t.id = p.tx_id WHERE p.account = ? AND t.id < ? "
                 "GROUP BY t.id, t.kind, t.reference, t.created_at_ms ORDER BY t.id DESC LIMIT ?");
    query.bindValue(0, qs(account));
    query.bindValue(1, ll(beforeTx > 0 ? beforeTx : std::numeric_limits<std::int64_t>::max()));
    query.bindValue(2, limit);
    if (auto ok = exec(query, "read postings page"); !ok)
        return ok.error();
    std::vector<PostingRow> rows;
    while (query.next())
        rows.push_back({query.value(0).toLongLong(), ss(query.value(1)), ss(query.value(2)),
                        query.value(3).toLongLong(), query.value(4).toLongLong()});
    query.finish();
    return rows;
}

} // namespace declai::credit
