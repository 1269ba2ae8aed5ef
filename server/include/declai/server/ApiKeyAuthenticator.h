// Who an HTTP API key belongs to. The HTTP API (server/src/api) only sees this interface;
// AccountAuthenticator implements it over the accounts in the ledger database (credit::AccountStore).
// Threading: called on the gateway thread; implementations must answer without blocking on the network (a
// local database lookup is the most they do).
#pragma once

#include "declai/core/Error.h"

#include <QObject>
#include <QStringList>
#include <functional>
#include <string>

namespace declai::server {

class CreditService;

enum class ApiRole {
    User,     // generation, models, its own account
    Operator, // also /v1/nodes and /v1/status
};

struct ApiIdentity {
    std::string account; // "" when keys are not required (--no-credits)
    ApiRole role = ApiRole::User;
    std::string
        keyId; // the key's public id (its spend limit applies to the caller's requests); "" without keys
};

class ApiKeyAuthenticator {
public:
    virtual ~ApiKeyAuthenticator() = default;
    // False when the gateway asks for no keys (a free swarm): every caller is let in.
    virtual bool keysRequired() const = 0;
    // The identity of `apiKey` (the bearer token without "Bearer "); an Error whose message can be shown to
    // the caller when the key is unknown, malformed or revoked.
    virtual Expected<ApiIdentity> authenticate(const std::string& apiKey) const = 0;
    // The same without waiting: `done` runs later on context's thread (not at all when context is gone by
    // then). The default answers at once with authenticate().
    virtual void authenticateThen(const std::string& apiKey, QObject* context,
                                  std::function<void(Expected<ApiIdentity>)> done) const {
        (void)context;
        done(authenticate(apiKey));
    }
};

// Keys of the accounts in the ledger database (credit::AccountStore, through CreditService): an account's
// role is its own (declai-server user add --operator), and accounts named in `operators` (--api-operator) are
// operators too. The lookup is a read on the ledger's store thread (a local SQLite read, or one round trip to
// the shared PostgreSQL). With credits null or off, no key is required and every caller is an anonymous
// operator (a development swarm has no accounts to protect).
class AccountAuthenticator : public ApiKeyAuthenticator {
public:
    AccountAuthenticator(const CreditService* credits, QStringList operators)
        : m_credits(credits), m_operators(std::move(operators)) {}
    bool keysRequired() const override;
    Expected<ApiIdentity> authenticate(const std::string& apiKey) const override;
    // The lookup is queued on the ledger's store thread; the gateway thread does not wait for it.
    void authenticateThen(const std::string& apiKey, QObject* context,
                          std::function<void(Expected<ApiIdentity>)> done) const override;

private:
    ApiIdentity identityOf(const std::string& account, bool operatorRole, const std::string& keyId) const;
    const CreditService* m_credits;
    QStringList m_operators;
};

} // namespace declai::server
