#include "declai/credit/AccountTypes.h"

namespace declai::credit {

const char* accountRoleName(AccountRole role) {
    return role == AccountRole::Operator ? "operator" : "user";
}

std::optional<AccountRole> accountRoleFromName(const std::string& name) {
    if (name == "user")
        return AccountRole::User;
    if (name == "operator")
        return AccountRole::Operator;
    return std::nullopt;
}

const char* welcomeRuleName(WelcomeRule rule) {
    switch (rule) {
    case WelcomeRule::FirstUse:
        return "first_use";
    case WelcomeRule::FirstWork:
        return "first_work";
    case WelcomeRule::Paid:
        return "paid";
    }
    return "paid";
}

std::optional<WelcomeRule> welcomeRuleFromName(const std::string& name) {
    if (name == "first_use")
        return WelcomeRule::FirstUse;
    if (name == "first_work")
        return WelcomeRule::FirstWork;
    if (name == "paid")
        return WelcomeRule::Paid;
    return std::nullopt;
}

} // namespace declai::credit
