// The credit ledger: double-entry, append-only, hash-chained. Every operation is one database transaction
// whose postings sum to zero, identified by an idempotency key: repeating a call with the same key returns
// the first result and changes nothing. Thread-safe: any thread may call any method; the store serialises
// the work on its own thread (see LedgerStore.h). Blocking calls wait for the commit.
//
// Money flow of a request: placeHold (account -> escrow:account, worst case) -> settleHold (escrow ->
// pending:node for each node's share, fee, and the unused rest back to the account) or releaseHold (escrow ->
// account). Node earnings wait in pending:node until releasePending (-> node) after the verification
// window, or voidPending (-> system:burn) when the node was caught cheating.
#pragma once

#include "declai/core/Identity.h"
#include "declai/credit/LedgerStore.h"
#include "declai/credit/LedgerTypes.h"
#include "declai/credit/Receipt.h"

#include <QString>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace declai::credit {

struct PendingReleaseResult {
    TxId txId = 0; // 0 when nothing was due
    Microcredits amount = 0;
    std::string paidTo; // the account credited: the node's own, or its owner's when bound
    TxId welcomeTx = 0; // the owner's held welcome grant, paid with this first verified work
    Microcredits welcomeAmount = 0;
};

// Inside a write job: creates account id of kind (User or Node) with its escrow and pending accounts, or
// returns the existing one; Ledger::ensureAccount runs this in its own transaction.
Expected<Account> ensureAccountIn(LedgerSession& session, const std::string& id, AccountKind kind,
                                  std::int64_t nowMs);

class Ledger {
public:
    struct Options {
        // Wall clock in ms since the epoch. Called on the store thread, so it must be thread-safe.
        std::function<std::int64_t()> nowMs;
        // Signs receipts; without it receipt() fails.
        std::optional<NodeIdentity> identity;
        // The gateway run this ledger object belongs to; stamped on every hold it places, so a hold left
        // open by a run that died can be told from one whose session is still live. "" = none (tools).
        std::string instanceId;
    };

    explicit Ledger(std::unique_ptr<LedgerStore> store) : Ledger(std::move(store), Options{}) {}
    Ledger(std::unique_ptr<LedgerStore> store, Options options);
    // The store goes first: work still queued on it (the *Work forms below) reads this ledger's options.
    ~Ledger() { m_store.reset(); }

    LedgerStore& store() { return *m_store; }
    const std::string& instanceId() const { return m_options.instanceId; }

    // Creates account id of the given kind (User or Node; their escrow and pending accounts come with
    // them) or returns the existing one; fails if it exists with another kind. System accounts exist
    // from the start.
    Expected<Account> ensureAccount(const std::string& id, AccountKind kind);
    // Like ensureAccount, but fails when the account already exists.
    Expected<Account> createAccount(const std::string& id, AccountKind kind);
    // Most an account may put on hold per UTC day (open holds at full amount, settled ones at their cost);
    // 0 removes the limit.
    Expected<void> setDailySpendLimit(const std::string& account, Microcredits limit);

    // New credits from system:mint.
    Expected<TxId> grant(const std::string& account, Microcredits amount, const std::string& idempotencyKey);
    // Moves available credits between two user/node accounts.
    Expected<TxId> transfer(const std::string& from, const std::string& to, Microcredits amount,
                            const std::string& idempotencyKey);

    // Holds amount of account's available credits for request requestId; the hold id is requestId. Fails
    // with "insufficient credits: need X, available Y" (or the daily limit) and changes nothing. With keyId,
    // amount is also reserved against that API key's spend limit in the same transaction (refused with
    // Forbidden when over it); settling or releasing the hold returns the unspent part to the key.
    Expected<std::string> placeHold(const std::string& account, Microcredits amount,
                                    const std::string& requestId, const std::string& keyId = {});
    // Closes an open hold: actualCost (<= held amount) is spent, nodeShares (sum <= actualCost) go to the
    // nodes' pending accounts, the rest of actualCost to system:fee, and the unused part back to the account.
    Expected<TxId> settleHold(const std::string& holdId, Microcredits actualCost,
                              const std::vector<NodeShare>& nodeShares, const std::string& idempotencyKey);
    // Returns the whole hold to the account.
    Expected<TxId> releaseHold(const std::string& holdId);

    // Moves node's pending earnings that are older than olderThanMs to its available balance, or, when the
    // node ("node:<id>") is bound to an account (AccountStore::bindNode), to that account's "user:<name>";
    // the owner's held welcome grant is paid in the same transaction (docs/ledger.md, "Accounts").
    Expected<PendingReleaseResult> releasePending(const std::string& node, std::int64_t olderThanMs);
    // Burns all of node's pending earnings; reason is stored as the transaction's reference.
    Expected<PendingReleaseResult> voidPending(const std::string& node, const std::string& reason);

    // The work of the operations above without running it, for callers that must not block (an event
    // loop): they hand it to store().writeThen/readThen, alone or several in one transaction (e.g. a hold
    // and the balance after it). Argument errors come back here at once. The work runs on the store thread
    // and refers to this Ledger, which must outlive it (the destructor drains the store first).
    Expected<LedgerWork<std::string>> placeHoldWork(const std::string& account, Microcredits amount,
                                                    const std::string& requestId,
                                                    const std::string& keyId = {});
    Expected<LedgerWork<TxId>> settleHoldWork(const std::string& holdId, Microcredits actualCost,
                                              const std::vector<NodeShare>& nodeShares,
                                              const std::string& idempotencyKey);
    Expected<LedgerWork<TxId>> releaseHoldWork(const std::string& holdId);
    Expected<LedgerWork<TxId>> grantWork(const std::string& account, Microcredits amount,
                                         const std::string& idempotencyKey);
    Expected<LedgerWork<PendingReleaseResult>> voidPendingWork(const std::string& node,
                                                               const std::string& reason);
    LedgerWork<PendingReleaseResult> releasePendingWork(const std::string& node, std::int64_t olderThanMs);
    static LedgerWork<Balance> balanceWork(const std::string& account);
    // Wall clock as Options::nowMs gives it (thread-safe: the work above calls it on the store thread).
    std::int64_t now() const;

    // Gateway runs and their heartbeats (liveness metadata, not part of the hash chain).
    Expected<void> recordInstance(const GatewayInstance& instance);
    Expected<std::vector<GatewayInstance>> instances();
    Expected<std::vector<Hold>> openHolds();

    Expected<Balance> balance(const std::string& account);
    Expected<std::vector<HistoryEntry>> history(const std::string& account, int limit);
    Expected<std::optional<Transaction>> transaction(TxId id);
    Expected<std::optional<Hold>> hold(const std::string& holdId);

    // Rebuilds everything derivable from the postings and compares: per-transaction zero sum, the hash chain
    // and head, cached balances, open holds == escrow balances, open pending lots == pending balances, no
    // negative non-system account, and the backend's own integrity check. Reads one snapshot.
    Expected<VerifyReport> verify();

    // A receipt for account's part in transaction txId, signed with the gateway identity.
    Expected<Receipt> receipt(TxId txId, const std::string& account);
    // Checks a receipt against this ledger: the transaction exists with the same hash, kind, time and amount.
    Expected<void> matchesLedger(const Receipt& receipt);

    // One CSV row per posting: tx_id,created_at_ms,kind,idempotency_key,reference,account,amount,hash.
    // Returns the number of rows written.
    Expected<std::int64_t> exportCsv(const QString& path);

private:
    std::unique_ptr<LedgerStore> m_store;
    Options m_options;
};

} // namespace declai::credit
