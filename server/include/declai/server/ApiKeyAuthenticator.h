// Who an HTTP API key belongs to. The HTTP API (server/src/api) only sees this interface: today the keys are
// the UserDirectory's (users.json, through CreditService); the ledger-database accounts implement the same
// interface. Threading: called on the gateway thread; implementations must answer without blocking on the
// network (a local database lookup is the most they do).
#pragma once

#include "declai/core/Error.h"

#include <QStringList>
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
};

class ApiKeyAuthenticator {
public:
    virtual ~ApiKeyAuthenticator() = default;
    // False when the gateway asks for no keys (a free swarm): every caller is let in.
    virtual bool keysRequired() const = 0;
    // The identity of `apiKey` (the bearer token without "Bearer "); an Error whose message can be shown to
    // the caller when the key is unknown, malformed or revoked.
    virtual Expected<ApiIdentity> authenticate(const std::string& apiKey) const = 0;
};

// Keys of the UserDirectory (through CreditService); users named in `operators` (--api-operator) have the
// operator role. With credits null or off, no key is required and every caller is an anonymous operator (a
// development swarm has no accounts to protect).
class UserDirectoryAuthenticator : public ApiKeyAuthenticator {
public:
    UserDirectoryAuthenticator(const CreditService* credits, QStringList operators)
        : m_credits(credits), m_operators(std::move(operators)) {}
    bool keysRequired() const override;
    Expected<ApiIdentity> authenticate(const std::string& apiKey) const override;

private:
    const CreditService* m_credits;
    QStringList m_operators;
};

} // namespace declai::server
