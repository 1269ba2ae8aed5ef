#include "declai/server/Billing.h"

#include <QDateTime>

namespace declai::server {

Billing::Billing(CreditService* credits, int64_t refundWindowMs)
    : m_credits(credits), m_chargeBook(refundWindowMs) {}

uint64_t Billing::admit(const std::string& user, const std::string& holdKey, const std::string& keyId,
                        int64_t modelParams, int64_t promptTokens, int64_t maxTokens, double priceMultiplier,
                        bool quoteOnly, std::function<void(Decision)> decided) {
    if (!enabled()) {
        decided(Admission{});
        return 0;
    }
    auto quote = m_credits->quote(modelParams, promptTokens, maxTokens, priceMultiplier); // no ledger
    if (!quote) {
        decided(Refused{Refusal::InvalidQuote, quote.error().message});
        return 0;
    }
    const uint64_t ticket = m_nextTicket++;
    m_admitting[ticket] = Admitting{};
    const int64_t worstCase = quote->total;
    m_credits->admitThen(
        user, holdKey, worstCase, keyId, quoteOnly,
        guarded(
            [this, ticket, worstCase, quoteOnly, decided = std::move(decided)](Expected<Admitted> admitted) {
                auto it = m_admitting.find(ticket);
                const bool abandoned = it == m_admitting.end() || it->second.abandoned;
                if (it != m_admitting.end())
                    m_admitting.erase(it);
                if (abandoned) {
                    // The client left before the hold landed: nothing runs, the hold goes back whole.
                    if (admitted && !admitted->holdId.empty()) {
                        qInfo("hold %s: its request was abandoned before the hold landed; released",
                              admitted->holdId.c_str());
                        release(admitted->holdId, 0);
                    }
                    return;
                }
                if (!admitted) {
                    // The ledger refuses a hold it cannot afford with InvalidArgument ("insufficient
                    // credits", the daily limit) or Forbidden (the key's spend limit); anything else is the
                    // ledger failing.
                    const ErrorCode code = admitted.error().code;
                    const bool refusedHold =
                        !quoteOnly && (code == ErrorCode::InvalidArgument || code == ErrorCode::Forbidden ||
                                       code == ErrorCode::NotFound);
                    decided(Refused{refusedHold ? Refusal::InsufficientCredits : Refusal::Internal,
                                    admitted.error().message});
                    return;
                }
                decided(Admission{worstCase, admitted->available, admitted->holdId});
            }));
    return ticket;
}

void Billing::abandon(uint64_t ticket) {
    if (auto it = m_admitting.find(ticket); it != m_admitting.end())
        it->second.abandoned = true;
}

void Billing::attach(uint64_t sessionId, const std::string& holdId) {
    if (!holdId.empty())
        m_sessionHold[sessionId] = holdId;
}

void Billing::settle(uint64_t sessionId, const std::string& user, int64_t modelParams, RequestEnd end,
                     const SessionStats& stats, uint64_t requestId, double priceMultiplier,
                     const std::set<std::string>& unpaidNodes,
                     std::function<void(std::optional<Settlement>)> done) {
    auto hold = m_sessionHold.find(sessionId);
    if (hold == m_sessionHold.end() || !m_credits)
        return done(std::nullopt);
    const std::string holdId = hold->second;
    m_sessionHold.erase(hold);
    RequestUsage usage;
    usage.end = end;
    usage.priceMultiplier = priceMultiplier;
    usage.promptTokens = stats.promptTokens;
    usage.generatedTokens = stats.generatedTokens;
    for (const auto& [node, layerTokens] : stats.nodeLayerTokens)
        if (!unpaidNodes.count(node))
            usage.work.push_back(NodeWorkShare{node, layerTokens});
    m_credits->closeRequestThen(
        holdId, user, modelParams, usage,
        guarded([this, holdId, user, stats, requestId, done = std::move(done)](Expected<Closed> closed) {
            Settlement settlement;
            if (!closed) {
                qWarning("closing the hold of request %llu failed: %s",
                         static_cast<unsigned long long>(requestId), closed.error().message.c_str());
                return done(settlement);
            }
            if (closed->charge.cost > 0) {
                // A charged request is refunded if work it used is voided later.
                ++m_settlements;
                recordCharge(user, holdId, closed->charge.cost, stats);
                settlement.costMicrocredits = closed->charge.cost;
            } else {
                ++m_releases;
            }
            settlement.balanceMicrocredits = closed->available;
            done(settlement);
        }));
}

void Billing::release(const std::string& holdId, uint64_t requestId) {
    if (holdId.empty() || !m_credits)
        return;
    m_credits->refundThen(holdId, [holdId, requestId](Expected<credit::TxId> released) {
        if (!released)
            qWarning("releasing hold %s (request %llu) failed: %s", holdId.c_str(),
                     static_cast<unsigned long long>(requestId), released.error().message.c_str());
    });
}

void Billing::voidNode(const std::string& nodeId, const QString& reason) {
    if (!enabled())
        return;
    m_credits->voidNodeThen(nodeId, "failed verification: " + reason.toStdString(),
                            guarded([this, nodeId](Expected<credit::PendingReleaseResult> voided) {
                                if (voided)
                                    qWarning("node %.12s: %lld microcredits of pending earnings voided",
                                             nodeId.c_str(), static_cast<long long>(voided->amount));
                                // Settlements queued before the void have recorded their charges by now.
                                refundChargesOf(nodeId);
                            }));
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
    // Behind the settlements already queued, so their charges are in the book when it is read.
    m_credits->afterQueuedWork(guarded([this, nodeId] { refundChargesOf(nodeId); }));
}

void Billing::refundChargesOf(const std::string& nodeId) {
    for (const SettledCharge& c : m_chargeBook.takeChargesOf(nodeId, QDateTime::currentMSecsSinceEpoch())) {
        m_credits->refundVoidedRequestThen(
            c.user, c.holdId, c.costMicrocredits,
            [user = c.user, holdId = c.holdId, cost = c.costMicrocredits,
             nodeId](Expected<credit::TxId> refunded) {
                if (refunded)
                    qWarning("request %s: %lld microcredits refunded to %s (node %.12s's work was voided)",
                             holdId.c_str(), static_cast<long long>(cost), user.c_str(), nodeId.c_str());
                else
                    qWarning("refunding request %s failed: %s", holdId.c_str(),
                             refunded.error().message.c_str());
            });
    }
}

} // namespace declai::server
