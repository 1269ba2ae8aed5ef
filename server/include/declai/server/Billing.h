// The credit side of a request (docs/ledger.md): pricing its worst case and holding it on admission, which
// hold belongs to which session, closing it on every end path with the work of the nodes that earned it,
// giving a hold back whole when nothing ran, and refunding settled requests whose node work verification
// voids later (ChargeBook). With no CreditService, or credits off, it holds nothing and every call does
// nothing. Threading: main thread only (the server's event loop, like the Orchestrator that wires it in).
#pragma once

#include "declai/server/ChargeBook.h"
#include "declai/server/CreditService.h"
#include "declai/server/GenerationSession.h"

#include <QString>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>

namespace declai::server {

class Billing {
public:
    // credits may be null (free service). Voided work reaches back refundWindowMs for its requests.
    Billing(CreditService* credits, int64_t refundWindowMs);

    bool enabled() const { return m_credits && m_credits->enabled(); }

    // Admitting a request: its worst-case price (prompt + max tokens) and, unless quoteOnly, a hold of it.
    struct Admission {
        int64_t quoteMicrocredits = 0;   // 0 with credits off
        int64_t balanceMicrocredits = 0; // the user's available balance after the hold
        std::string holdId;              // empty: nothing held (credits off, or a quote)
    };
    enum class Refusal {
        Internal,            // the ledger failed
        InvalidQuote,        // the request cannot be priced (the message says why)
        InsufficientCredits, // the hold failed (balance, daily limit, key spend limit); nothing changed
    };
    struct Refused {
        Refusal kind = Refusal::Internal;
        std::string message;
    };
    // Opens the user's account on first use, prices the worst case and holds it under holdKey (unique per
    // request; unused for a quote), against keyId's spend limit. Credits off: an empty Admission.
    std::variant<Admission, Refused> admit(const std::string& user, const std::string& holdKey,
                                           const std::string& keyId, int64_t modelParams,
                                           int64_t promptTokens, int64_t maxTokens, double priceMultiplier,
                                           bool quoteOnly);

    // From now on the request's hold belongs to `sessionId` (an empty holdId: nothing is held).
    void attach(uint64_t sessionId, const std::string& holdId);

    struct Settlement {
        int64_t costMicrocredits = 0;    // 0 too when closing the hold failed (logged)
        int64_t balanceMicrocredits = 0; // the user's available balance after it
    };
    // Closes the hold of an ended session (CreditService::closeRequest) and forgets it: what `end` makes
    // billable is charged, nodes in `unpaidNodes` (cut off during the session) earn nothing, and a charged
    // request is remembered for refunds. Nullopt when the session holds nothing.
    std::optional<Settlement> settle(uint64_t sessionId, const std::string& user, int64_t modelParams,
                                     RequestEnd end, const SessionStats& stats, uint64_t requestId,
                                     double priceMultiplier, const std::set<std::string>& unpaidNodes);
    // Nothing ran (refused after the hold was taken): the hold goes back whole.
    void release(const std::string& holdId, uint64_t requestId);
    // A node was cut off: its pending earnings are voided and the requests that used its work refunded.
    void voidNode(const std::string& nodeId, const QString& reason);
    // More of a cut-off node's work failed verification: the requests that used it are refunded.
    void refundVoidedRequests(const std::string& nodeId);

    uint64_t settlements() const { return m_settlements; } // holds settled with a charge
    uint64_t releases() const { return m_releases; }       // holds closed with nothing billable

private:
    // Remembers a settled request and the nodes it depended on (ChargeBook).
    void recordCharge(const std::string& user, const std::string& holdId, int64_t costMicrocredits,
                      const SessionStats& stats);

    CreditService* m_credits;
    ChargeBook m_chargeBook;                       // settled requests whose node earnings are still pending
    std::map<uint64_t, std::string> m_sessionHold; // session id -> credit hold
    uint64_t m_settlements = 0;
    uint64_t m_releases = 0;
};

} // namespace declai::server
