#include "declai/server/ApiKeyAuthenticator.h"

#include "declai/server/CreditService.h"
#include "declai/server/PostTo.h"

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
    return identityOf(caller->account, caller->role == credit::AccountRole::Operator, caller->keyId);
}

ApiIdentity AccountAuthenticator::identityOf(const std::string& account, bool operatorRole,
                                             const std::string& keyId) const {
    const bool op = operatorRole || m_operators.contains(QString::fromStdString(account));
    return ApiIdentity{account, op ? ApiRole::Operator : ApiRole::User, keyId};
}

void AccountAuthenticator::authenticateThen(const std::string& apiKey, QObject* context,
                                            std::function<void(Expected<ApiIdentity>)> done) const {
    if (!keysRequired())
        return done(ApiIdentity{std::string(), ApiRole::Operator, std::string()});
    // Runs on the store thread: only hands the answer back (the authenticator outlives the HTTP API).
    auto back = postTo<ApiIdentity>(context, std::move(done));
    m_credits->accounts().authenticateThen(apiKey, [this, back](Expected<credit::Caller> caller) {
        if (!caller)
            return back(caller.error());
        back(identityOf(caller->account, caller->role == credit::AccountRole::Operator, caller->keyId));
    });
}

} // namespace declai::server
