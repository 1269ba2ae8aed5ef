// Accounts, API keys and node bindings in the ledger database (schema 4). Shares the ledger's store, so
// the work runs on the store thread in the same serialised transactions as the ledger's, and gateways on one
// PostgreSQL see the same accounts. Every operation has a blocking form (operator tools, tests) and, where a
// gateway needs it on its event loop, a ...Then form that never blocks: its callback runs once ON THE STORE
// THREAD; callers hop back to their own thread (see server/src/api/AccountRoutes.cpp).
//
// API keys look like "dk2_<16 hex id>_<43 base64url chars>": the id is public (it names the key in listings
// and revocations), the secret is 32 random bytes stored only as SHA-256(salt || secret) with a random
// 16-byte salt per key. A fast hash is enough because the secret has 256 bits of entropy; the salt keeps two
// databases' hashes of the same key apart. Keys migrated from users.json ("dk_...") keep their unsalted
// SHA-256 (that is all users.json had) under the id "legacy-<first 32 hex of it>".
#pragma once

#include "declai/credit/AccountTypes.h"
#include "declai/credit/LedgerStore.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace declai::credit {

struct NewKeyOptions {
    std::int64_t expiresAtMs = 0; // 0 = never
    std::int64_t spendLimit = 0;  // microcredits in total; 0 = none
    std::string label;
};

struct IssuedKey {
    std::string key; // the only time the secret is visible
    ApiKeyRecord record;
};

struct NewUser {
    std::string name;
    AccountRole role = AccountRole::User;
    std::string origin = "operator";
    WelcomeRule welcome = WelcomeRule::FirstUse;
    std::int64_t welcomeAmount = 0;
};

// Who presented a key.
struct Caller {
    std::string account; // user name; its ledger account is userAccount(account)
    AccountRole role = AccountRole::User;
    std::string keyId;
};

// What a node signs to bind itself to an account (bindingMessage() gives the exact bytes).
struct BindRequest {
    std::string account;
    std::string publicKey; // raw 32 bytes
    std::int64_t timestampMs = 0;
    std::string nonceHex;  // 32 to 128 hex digits, fresh per message
    std::string audience;  // the gateway's identity (hex public key of its server.key)
    std::string signature; // raw 64 bytes
};
enum class BindResult { Bound, AlreadyBound };

struct CreditsView {
    std::string account;
    Balance balance;                // of user:<account>
    Microcredits nodesPending = 0;  // earnings of bound nodes still in their verification window
    Microcredits welcomeHeld = 0;   // welcome grant waiting for the first verified work
    std::vector<NodeBinding> nodes; // bound nodes
    std::vector<AccountSession::PostingRow> postings; // newest first
    std::int64_t nextCursor = 0;                      // pass as beforeTx for the next page; 0 = no more
};

class AccountStore {
public:
    explicit AccountStore(LedgerStore& store, std::function<std::int64_t()> nowMs = {});

    static Expected<void> checkName(const std::string& name); // 1-64 of [A-Za-z0-9._-]
    // The exact bytes a node signs: domain, account, node id, audience, time and nonce, one per line.
    static std::string bindingMessage(const std::string& account, const std::string& nodeId,
                                      const std::string& audience, std::int64_t timestampMs,
                                      const std::string& nonceHex);

    // Creates the account, its ledger account user:<name> (with escrow and pending) and a first key, in one
    // transaction. Fails (Conflict) when the name is taken.
    Expected<IssuedKey> createUser(const NewUser& user, const NewKeyOptions& key);
    Expected<IssuedKey> addKey(const std::string& account, const NewKeyOptions& key);
    // NotFound when no such key is valid (unknown or already revoked).
    Expected<void> revokeKey(const std::string& keyId);
    Expected<std::vector<UserRecord>> users();
    Expected<std::optional<UserRecord>> user(const std::string& name);
    Expected<std::vector<ApiKeyRecord>> keysOf(const std::string& account);

    // Unauthorized for a missing, malformed, unknown, revoked or expired key.
    Expected<Caller> authenticate(const std::string& apiKey);
    void authenticateThen(const std::string& apiKey, std::function<void(Expected<Caller>)> done);

    // Per-key spend limit: reserve the worst case before a request, give back what it did not cost after.
    Expected<void> reserveKeySpend(const std::string& keyId, Microcredits amount);
    Expected<void> returnKeySpend(const std::string& keyId, Microcredits amount);

    // Self-registration from a client address: at most maxPerWindow per address per windowMs (over every
    // gateway on this database), RateLimited beyond.
    void registerThen(const NewUser& user, const std::string& address, int maxPerWindow,
                      std::int64_t windowMs, std::function<void(Expected<IssuedKey>)> done);

    // Verifies the signature, the audience (must equal expectedAudience), the time (within maxSkewMs of now)
    // and the nonce (never seen before), then binds. A node bound to another account is refused (Conflict).
    Expected<BindResult> bindNode(const BindRequest& request, const std::string& expectedAudience,
                                  std::int64_t maxSkewMs);
    void bindNodeThen(const BindRequest& request, const std::string& expectedAudience, std::int64_t maxSkewMs,
                      std::function<void(Expected<BindResult>)> done);
    // Operator: removes a binding; false when the node was not bound.
    Expected<bool> unbindNode(const std::string& nodeId);
    Expected<std::optional<NodeBinding>> bindingOf(const std::string& nodeId);

    void creditsThen(const std::string& account, std::int64_t beforeTx, int limit,
                     std::function<void(Expected<CreditsView>)> done);
    // A hold (a request's money) placed by account; NotFound for someone else's.
    void jobThen(const std::string& account, const std::string& holdId,
                 std::function<void(Expected<Hold>)> done);

    // users.json entries (name, hex SHA-256 of the key): creates each missing account with its legacy key.
    // Returns how many accounts were created.
    Expected<int> importLegacyUsers(const std::vector<std::pair<std::string, std::string>>& entries);

private:
    std::int64_t now() const;
    LedgerStore& m_store;
    std::function<std::int64_t()> m_nowMs;
};

} // namespace declai::credit
