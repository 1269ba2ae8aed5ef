#include "declai/server/ApiKeyAuthenticator.h"

#include "declai/server/CreditService.h"

namespace declai::server {

bool AccountAuthenticator::keysRequired() const {
    return m_credits && m_credits->enabled();
}

Expected<ApiIdentity> AccountAuthenticator::authenticate(const std::string& apiKey) const {
    if (!keysRequired())
        return ApiIdentity{std::string(), ApiRole::Operator, std::string()};
    auto caller = m_credits->accounts().authenticate(apiKey);
    if (!caller)
        return caller.error();
    const bool op = caller->role == credit::AccountRole::Operator ||
                    m_operators.contains(QString::fromStdString(caller->account));
    return ApiIdentity{caller->account, op ? ApiRole::Operator : ApiRole::User, caller->keyId};
}

} // namespace declai::server
