// The credit side of a request (docs/ledger.md): pricing its worst case and holding it on admission, which
// hold belongs to which session, closing it on every end path with the work of the nodes that earned it,
// giving a hold back whole when nothing ran, and refunding settled requests whose node work verification
// voids later (ChargeBook). With no CreditService, or credits off, it holds nothing and every call does
// nothing.
// Threading: main thread only (the server's event loop, like the Orchestrator that wires it in). Nothing
// here waits for the ledger: every ledger step is queued on its store thread (CreditService's *Then forms)
// and its callback runs later on the main thread. Callbacks still pending when this Billing is destroyed
// never run.
#pragma once

#include "declai/server/ChargeBook.h"
#include "declai/server/CreditService.h"
#include "declai/server/GenerationSession.h"

#include <QString>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>

namespace declai::server {

class Billing {
public:
    // credits may be null (free service). Voided work reaches back refundWindowMs for its requests.
    Billing(CreditService* credits, int64_t refundWindowMs);
    Billing(const Billing&) = delete;
    Billing& operator=(const Billing&) = delete;

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
    using Decision = std::variant<Admission, Refused>;
    // Opens the user's account on first use, prices the worst case and holds it under holdKey (unique per
    // request; unused for a quote), against keyId's spend limit. `decided` runs once (runs on: main thread):
    // inside this call when no ledger work is needed (credits off: an empty Admission; a request that cannot
    // be priced), else later, when the ledger committed the hold (or refused it). Returns a ticket for
    // abandon() while the ledger works, 0 when `decided` already ran.
    uint64_t admit(const std::string& user, const std::string& holdKey, const std::string& keyId,
                   int64_t modelParams, int64_t promptTokens, int64_t maxTokens, double priceMultiplier,
                   bool quoteOnly, std::function<void(Decision)> decided);
    // The caller no longer waits for the admission (its client left): `decided` will not run, and the hold,
    // if the ledger places it, is released whole as soon as it lands. Unknown or decided tickets are ignored.
    void abandon(uint64_t ticket);
    // Admissions waiting for the ledger (abandoned ones too, until their hold has landed).
    size_t admissionsInFlight() const { return m_admitting.size(); }

    // From now on the request's hold belongs to `sessionId` (an empty holdId: nothing is held).
    void attach(uint64_t sessionId, const std::string& holdId);

    struct Settlement {
        int64_t costMicrocredits = 0;    // 0 too when closing the hold failed (logged)
        int64_t balanceMicrocredits = 0; // the user's available balance after it
    };
    // Closes the hold of an ended session (CreditService::closeRequestThen) and forgets it at once (a second
    // settle finds nothing): what `end` makes billable is charged, nodes in `unpaidNodes` (cut off during the
    // session) earn nothing, and a charged request is remembered for refunds. `done` runs once (runs on: main
    // thread): inside this call with nullopt when the session holds nothing, else after the ledger committed.
    void settle(uint64_t sessionId, const std::string& user, int64_t modelParams, RequestEnd end,
                const SessionStats& stats, uint64_t requestId, double priceMultiplier,
                const std::set<std::string>& unpaidNodes,
                std::function<void(std::optional<Settlement>)> done);
    // Nothing ran (refused after the hold was taken): the hold goes back whole (queued; failures are logged).
    void release(const std::string& holdId, uint64_t requestId);
    // A node was cut off: its pending earnings are voided and the requests that used its work refunded
    // (queued; settlements queued before are counted in).
    void voidNode(const std::string& nodeId, const QString& reason);
    // More of a cut-off node's work failed verification: the requests that used it are refunded, including
    // those whose settlement is still on its way to the ledger (queued behind them).
    void refundVoidedRequests(const std::string& nodeId);

    uint64_t settlements() const { return m_settlements; } // holds settled with a charge
    uint64_t releases() const { return m_releases; }       // holds closed with nothing billable

private:
    // Remembers a settled request and the nodes it depended on (ChargeBook).
    void recordCharge(const std::string& user, const std::string& holdId, int64_t costMicrocredits,
                      const SessionStats& stats);
    void refundChargesOf(const std::string& nodeId);
    // Wraps a callback so that it does nothing once this Billing is gone.
    template <class F>
    auto guarded(F f) {
        return [alive = std::weak_ptr<Billing*>(m_alive), f = std::move(f)](auto&&... args) mutable {
            if (!alive.expired())
                f(std::forward<decltype(args)>(args)...);
        };
    }

    CreditService* m_credits;
    ChargeBook m_chargeBook;                       // settled requests whose node earnings are still pending
    std::map<uint64_t, std::string> m_sessionHold; // session id -> credit hold
    struct Admitting {
        bool abandoned = false;
    };
    std::map<uint64_t, Admitting> m_admitting; // ticket -> admission the ledger is working on
    uint64_t m_nextTicket = 1;
    uint64_t m_settlements = 0;
    uint64_t m_releases = 0;
    std::shared_ptr<Billing*> m_alive = std::make_shared<Billing*>(this);
};

} // namespace declai::server
