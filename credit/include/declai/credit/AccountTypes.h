// Value types of researcher/volunteer accounts (schema 4): users with a role, their API keys (stored only as
// salted hashes), node bindings (node id -> owner account, with the signed message as evidence) and the
// registration rate-limit log. One account "NAME" owns the ledger account "user:NAME".
#pragma once

#include "declai/core/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace declai::credit {

enum class AccountRole { User, Operator };
const char* accountRoleName(AccountRole role);
std::optional<AccountRole> accountRoleFromName(const std::string& name);

// How the account's welcome grant is paid (docs/ledger.md, "Accounts").
enum class WelcomeRule {
    FirstUse,  // the gateway grants its configured welcome on the first request (operator-made, migrated)
    FirstWork, // welcomeAmount is held back until a node bound to the account has verified work
    Paid,      // nothing more to pay
};
const char* welcomeRuleName(WelcomeRule rule);
std::optional<WelcomeRule> welcomeRuleFromName(const std::string& name);

struct UserRecord {
    std::string name; // 1-64 of [A-Za-z0-9._-]
    AccountRole role = AccountRole::User;
    std::int64_t createdAtMs = 0;
    std::string origin; // "operator", "users.json", "registration"
    WelcomeRule welcome = WelcomeRule::FirstUse;
    std::int64_t welcomeAmount = 0; // microcredits still owed under FirstWork
};

struct ApiKeyRecord {
    std::string id;      // public key id (16 hex digits; "legacy-<sha256>" for keys from users.json)
    std::string account; // user name
    std::string saltHex; // random per key ("" for legacy keys: their hash is unsalted SHA-256)
    std::string hashHex; // SHA-256(salt || secret)
    std::int64_t createdAtMs = 0;
    std::int64_t expiresAtMs = 0; // 0 = never
    std::int64_t spendLimit = 0;  // microcredits this key may spend in total; 0 = no limit
    std::int64_t spent = 0;       // reserved or spent through this key
    std::int64_t revokedAtMs = 0; // 0 = valid
    std::string label;
};

struct NodeBinding {
    std::string nodeId; // hex SHA-256 of the node's public key
    std::string account;
    std::int64_t boundAtMs = 0;
    std::string publicKeyHex;
    std::string message; // the exact signed bytes (text)
    std::string signatureHex;
};

// Storage of the account tables inside one ledger transaction (LedgerSession::accountRecords()). Store
// thread only, like LedgerSession.
class AccountSession {
public:
    virtual ~AccountSession() = default;
    virtual Expected<std::optional<UserRecord>> findUser(const std::string& name) = 0;
    virtual Expected<void> insertUser(const UserRecord& user) = 0;
    virtual Expected<void> setWelcome(const std::string& name, WelcomeRule rule, std::int64_t amount) = 0;
    virtual Expected<std::vector<UserRecord>> users() = 0;

    virtual Expected<std::optional<ApiKeyRecord>> findKey(const std::string& id) = 0;
    virtual Expected<void> insertKey(const ApiKeyRecord& key) = 0;
    virtual Expected<std::vector<ApiKeyRecord>> keysOf(const std::string& account) = 0;
    // Sets revoked_at_ms of a key that is not revoked yet; false when there was none.
    virtual Expected<bool> revokeKey(const std::string& id, std::int64_t nowMs) = 0;
    // spent += delta (delta may be negative, never below 0).
    virtual Expected<void> addKeySpent(const std::string& id, std::int64_t delta) = 0;

    virtual Expected<std::optional<NodeBinding>> findBinding(const std::string& nodeId) = 0;
    virtual Expected<void> insertBinding(const NodeBinding& binding) = 0;
    virtual Expected<bool> deleteBinding(const std::string& nodeId) = 0;
    virtual Expected<std::vector<NodeBinding>> bindingsOf(const std::string& account) = 0;
    // Records a binding nonce; false when it was seen before (a replay).
    virtual Expected<bool> useNonce(const std::string& nonce, std::int64_t nowMs) = 0;

    // Registrations from address at or after sinceMs; record one; forget those older than beforeMs.
    virtual Expected<std::int64_t> registrationsSince(const std::string& address, std::int64_t sinceMs) = 0;
    virtual Expected<void> recordRegistration(const std::string& address, std::int64_t nowMs) = 0;
    virtual Expected<void> forgetRegistrations(std::int64_t beforeMs) = 0;

    struct PostingRow {
        std::int64_t txId = 0;
        std::string kind;
        std::string reference;
        std::int64_t createdAtMs = 0;
        std::int64_t amount = 0;
    };
    // Net postings of account in transactions with id < beforeTx (0 = from the newest), newest first.
    virtual Expected<std::vector<PostingRow>> postingsPage(const std::string& account, std::int64_t beforeTx,
                                                           int limit) = 0;
};

} // namespace declai::credit
