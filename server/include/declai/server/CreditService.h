// The server's side of credits: who a client is (API key), what a request may cost (quote), admission (a
// hold for the worst case: prompt + max tokens), settlement at the end (the real cost; nodes earn in
// proportion to the layer-tokens they computed, pending until the verification window passes), refunds
// on failure, and voiding a cheater's pending earnings. Policies are documented in docs/ledger.md.
// Threading: main thread; ledger calls block briefly on the ledger's single writer thread.
#pragma once

#include "declai/credit/Ledger.h"
#include "declai/credit/Pricing.h"
#include "declai/server/UserDirectory.h"

#include <QObject>
#include <QTimer>
#include <map>
#include <memory>
#include <set>

namespace declai::server {

struct CreditConfig {
    bool enabled = true;
    QString backend = QStringLiteral("sqlite"); // or "postgres"
    QString postgres;                           // "host=... port=... user=... dbname=..."
    credit::Microcredits newAccountGrant = 100 * credit::kMicrocreditsPerCredit;
    credit::Microcredits dailySpendLimit = 0; // per user; 0 = none
    credit::PriceSchedule prices;
    int64_t verificationWindowMs = 10 * 60 * 1000;
};

// Opens the configured ledger store (SQLite at DATA_DIR/ledger.sqlite by default).
Expected<std::unique_ptr<credit::Ledger>> openLedger(const CreditConfig& config, const QString& dataDir,
                                                     std::optional<NodeIdentity> signer);

struct NodeWorkShare {
    std::string nodeId;
    int64_t layerTokens = 0;
};

class CreditService : public QObject {
    Q_OBJECT

public:
    CreditService(CreditConfig config, std::unique_ptr<credit::Ledger> ledger, UserDirectory users,
                  QObject* parent = nullptr);

    bool enabled() const { return m_config.enabled; }
    credit::Ledger& ledger() { return *m_ledger; }
    Expected<std::string> authenticate(const std::string& apiKey) const {
        return m_users.authenticate(apiKey);
    }

    // Opens the user's account with the welcome grant on first use (idempotent).
    Expected<void> ensureUser(const std::string& user);
    Expected<credit::Quote> quote(int64_t modelParams, int64_t promptTokens, int64_t maxTokens) const;
    // Places the worst-case hold; fails with "insufficient credits ..." and changes nothing when short.
    Expected<std::string> admit(const std::string& user, const std::string& requestId,
                                credit::Microcredits worstCase);
    // Posts the real cost and releases the rest of the hold.
    Expected<credit::TxId> settle(const std::string& holdId, int64_t modelParams, int64_t promptTokens,
                                  int64_t generatedTokens, const std::vector<NodeWorkShare>& work);
    Expected<credit::TxId> refund(const std::string& holdId);
    Expected<credit::PendingReleaseResult> voidNode(const std::string& nodeId, const std::string& reason);
    // Verification voided work a settled request depended on: the user gets its cost back (from
    // system:mint, since the voided node earnings were burned). Idempotent per hold.
    Expected<credit::TxId> refundVoidedRequest(const std::string& user, const std::string& holdId,
                                               credit::Microcredits cost);
    Expected<credit::Balance> balanceOfUser(const std::string& user);

private:
    void releaseMatured(); // pending earnings older than the verification window become available

    CreditConfig m_config;
    std::unique_ptr<credit::Ledger> m_ledger;
    UserDirectory m_users;
    std::set<std::string> m_nodesWithPending;
    std::set<std::string> m_knownUsers; // accounts opened (and granted) during this run
    QTimer m_releaseTimer;
};

} // namespace declai::server
