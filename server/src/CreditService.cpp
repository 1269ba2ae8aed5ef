#include "declai/server/CreditService.h"

#include "declai/credit/PostgresLedgerStore.h"
#include "declai/credit/SqliteLedgerStore.h"

#include <QDateTime>
#include <QDir>

namespace declai::server {

Expected<std::unique_ptr<credit::Ledger>> openLedger(const CreditConfig& config, const QString& dataDir,
                                                     std::optional<NodeIdentity> signer) {
    std::unique_ptr<credit::LedgerStore> store;
    if (config.backend == QStringLiteral("postgres")) {
        auto info = credit::PostgresConnectionInfo::parse(config.postgres.toStdString());
        if (!info)
            return info.error();
        auto pg = credit::PostgresLedgerStore::open(*info);
        if (!pg)
            return pg.error();
        store = std::move(*pg);
    } else {
        QDir().mkpath(dataDir);
        auto sqlite =
            credit::SqliteLedgerStore::open(QDir(dataDir).filePath(QStringLiteral("ledger.sqlite")));
        if (!sqlite)
            return sqlite.error();
        store = std::move(*sqlite);
    }
    credit::Ledger::Options options;
    options.identity = std::move(signer);
    return std::make_unique<credit::Ledger>(std::move(store), std::move(options));
}

CreditService::CreditService(CreditConfig config, std::unique_ptr<credit::Ledger> ledger, UserDirectory users,
                             QObject* parent)
    : QObject(parent), m_config(std::move(config)), m_ledger(std::move(ledger)), m_users(std::move(users)) {
    connect(&m_releaseTimer, &QTimer::timeout, this, &CreditService::releaseMatured);
    m_releaseTimer.start(
        static_cast<int>(std::clamp<int64_t>(m_config.verificationWindowMs / 4, 200, 60000)));
}

Expected<credit::Quote> CreditService::quote(int64_t modelParams, int64_t promptTokens,
                                             int64_t maxTokens) const {
    return credit::quote(m_config.prices, modelParams, promptTokens, maxTokens);
}

Expected<void> CreditService::ensureUser(const std::string& user) {
    if (m_knownUsers.count(user))
        return {};
    const std::string account = credit::userAccount(user);
    if (auto a = m_ledger->ensureAccount(account, credit::AccountKind::User); !a)
        return a.error();
    // The welcome grant carries the user's name as its idempotency key: it is paid once, ever.
    if (m_config.newAccountGrant > 0) {
        if (auto g = m_ledger->grant(account, m_config.newAccountGrant, "welcome-grant:" + user); !g)
            return g.error();
    }
    if (m_config.dailySpendLimit > 0) {
        if (auto l = m_ledger->setDailySpendLimit(account, m_config.dailySpendLimit); !l)
            return l.error();
    }
    m_knownUsers.insert(user);
    return {};
}

Expected<std::string> CreditService::admit(const std::string& user, const std::string& requestId,
                                           credit::Microcredits worstCase) {
    if (auto e = ensureUser(user); !e)
        return e.error();
    return m_ledger->placeHold(credit::userAccount(user), worstCase, requestId);
}

Expected<credit::TxId> CreditService::settle(const std::string& holdId, int64_t modelParams,
                                             int64_t promptTokens, int64_t generatedTokens,
                                             const std::vector<NodeWorkShare>& work) {
    auto cost = credit::actualCost(m_config.prices, modelParams, promptTokens, generatedTokens);
    if (!cost)
        return cost.error();
    std::vector<credit::NodeWork> nodeWork;
    for (const NodeWorkShare& w : work) {
        const std::string account = credit::nodeAccount(w.nodeId);
        if (auto a = m_ledger->ensureAccount(account, credit::AccountKind::Node); !a)
            return a.error();
        nodeWork.push_back(credit::NodeWork{account, w.layerTokens});
        m_nodesWithPending.insert(account);
    }
    auto shares = credit::splitByLayerTokens(credit::nodePool(m_config.prices, cost->total), nodeWork);
    if (!shares)
        return shares.error();
    return m_ledger->settleHold(holdId, cost->total, *shares, "settle:" + holdId);
}

Expected<credit::TxId> CreditService::refund(const std::string& holdId) {
    return m_ledger->releaseHold(holdId);
}

Expected<credit::PendingReleaseResult> CreditService::voidNode(const std::string& nodeId,
                                                               const std::string& reason) {
    return m_ledger->voidPending(credit::nodeAccount(nodeId), reason);
}

Expected<credit::TxId> CreditService::refundVoidedRequest(const std::string& user, const std::string& holdId,
                                                          credit::Microcredits cost) {
    if (cost <= 0)
        return makeError(ErrorCode::InvalidArgument, "a refund must be positive");
    return m_ledger->grant(credit::userAccount(user), cost, "void-refund:" + holdId);
}

Expected<credit::Balance> CreditService::balanceOfUser(const std::string& user) {
    return m_ledger->balance(credit::userAccount(user));
}

void CreditService::releaseMatured() {
    const int64_t cutoff = QDateTime::currentMSecsSinceEpoch() - m_config.verificationWindowMs;
    for (const std::string& node : m_nodesWithPending) {
        auto released = m_ledger->releasePending(node, cutoff);
        if (!released)
            qWarning("releasing pending credit of %s failed: %s", node.c_str(),
                     released.error().message.c_str());
    }
}

} // namespace declai::server
