#include "declai/server/ApiKeyAuthenticator.h"

#include "declai/server/CreditService.h"

namespace declai::server {

bool UserDirectoryAuthenticator::keysRequired() const {
    return m_credits && m_credits->enabled();
}

Expected<ApiIdentity> UserDirectoryAuthenticator::authenticate(const std::string& apiKey) const {
    if (!keysRequired())
        return ApiIdentity{std::string(), ApiRole::Operator};
    auto user = m_credits->authenticate(apiKey);
    if (!user)
        return user.error();
    const bool op = m_operators.contains(QString::fromStdString(*user));
    return ApiIdentity{*user, op ? ApiRole::Operator : ApiRole::User};
}

} // namespace declai::server
