#include "declai/server/Billing.h"

#include <QDateTime>

namespace declai::server {

Billing::Billing(CreditService* credits, int64_t refundWindowMs)
    : m_credits(credits), m_chargeBook(refundWindowMs) {}

std::variant<Billing::Admission, Billing::Refused>
Billing::admit(const std::string& user, const std::string& holdKey, const std::string& keyId,
               int64_t modelParams, int64_t promptTokens, int64_t maxTokens, double priceMultiplier,
               bool quoteOnly) {
    Admission admission;
    if (!enabled())
        return admission;
    if (auto opened = m_credits->ensureUser(user); !opened)
        return Refused{Refusal::Internal, opened.error().message};
    auto quote = m_credits->quote(modelParams, promptTokens, maxTokens, priceMultiplier);
    if (!quote)
        return Refused{Refusal::InvalidQuote, quote.error().message};
    admission.quoteMicrocredits = quote->total;
    if (!quoteOnly) {
        auto hold = m_credits->admit(user, holdKey, quote->total, keyId);
        if (!hold)
            return Refused{Refusal::InsufficientCredits, hold.error().message};
        admission.holdId = *hold;
    }
    if (auto b = m_credits->balanceOfUser(user))
        admission.balanceMicrocredits = b->available;
    return admission;
}

void Billing::attach(uint64_t sessionId, const std::string& holdId) {
    if (!holdId.empty())
        m_sessionHold[sessionId] = holdId;
}

std::optional<Billing::Settlement> Billing::settle(uint64_t sessionId, const std::string& user,
                                                   int64_t modelParams, RequestEnd end,
                                                   const SessionStats& stats, uint64_t requestId,
                                                   double priceMultiplier,
                                                   const std::set<std::string>& unpaidNodes) {
    auto hold = m_sessionHold.find(sessionId);
    if (hold == m_sessionHold.end() || !m_credits)
        return std::nullopt;
    const std::string holdId = hold->second;
    m_sessionHold.erase(hold);
    Settlement settlement;
    RequestUsage usage;
    usage.end = end;
    usage.priceMultiplier = priceMultiplier;
    usage.promptTokens = stats.promptTokens;
    usage.generatedTokens = stats.generatedTokens;
    for (const auto& [node, layerTokens] : stats.nodeLayerTokens)
        if (!unpaidNodes.count(node))
            usage.work.push_back(NodeWorkShare{node, layerTokens});
    if (auto charge = m_credits->closeRequest(holdId, modelParams, usage); !charge) {
        qWarning("closing the hold of request %llu failed: %s", static_cast<unsigned long long>(requestId),
                 charge.error().message.c_str());
    } else if (charge->cost > 0) {
        // A charged request is refunded if work it used is voided later.
        ++m_settlements;
        recordCharge(user, holdId, charge->cost, stats);
        settlement.costMicrocredits = charge->cost;
    } else {
        ++m_releases;
    }
    if (auto b = m_credits->balanceOfUser(user))
        settlement.balanceMicrocredits = b->available;
    return settlement;
}

void Billing::release(const std::string& holdId, uint64_t requestId) {
    if (holdId.empty() || !m_credits)
        return;
    if (auto released = m_credits->refund(holdId); !released)
        qWarning("releasing the hold of request %llu failed: %s", static_cast<unsigned long long>(requestId),
                 released.error().message.c_str());
}

void Billing::voidNode(const std::string& nodeId, const QString& reason) {
    if (!enabled())
        return;
    auto voided = m_credits->voidNode(nodeId, "failed verification: " + reason.toStdString());
    if (voided)
        qWarning("node %.12s: %lld microcredits of pending earnings voided", nodeId.c_str(),
                 static_cast<long long>(voided->amount));
    refundVoidedRequests(nodeId);
}

void Billing::recordCharge(const std::string& user, const std::string& holdId, int64_t costMicrocredits,
                           const SessionStats& stats) {
    SettledCharge charge{user, holdId, costMicrocredits, QDateTime::currentMSecsSinceEpoch(), {}};
    for (const auto& [node, layerTokens] : stats.nodeLayerTokens)
        if (layerTokens > 0)
            charge.nodes.insert(node);
    m_chargeBook.record(std::move(charge));
}

void Billing::refundVoidedRequests(const std::string& nodeId) {
    if (!enabled())
        return;
    for (const SettledCharge& c : m_chargeBook.takeChargesOf(nodeId, QDateTime::currentMSecsSinceEpoch())) {
        auto refunded = m_credits->refundVoidedRequest(c.user, c.holdId, c.costMicrocredits);
        if (refunded)
            qWarning("request %s: %lld microcredits refunded to %s (node %.12s's work was voided)",
                     c.holdId.c_str(), static_cast<long long>(c.costMicrocredits), c.user.c_str(),
                     nodeId.c_str());
        else
            qWarning("refunding request %s failed: %s", c.holdId.c_str(), refunded.error().message.c_str());
    }
}

} // namespace declai::server
