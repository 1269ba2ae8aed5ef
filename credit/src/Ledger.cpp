#include "declai/credit/Ledger.h"

#include "declai/core/StrCat.h"

#include <QDateTime>
#include <QSaveFile>
#include <limits>
#include <map>
#include <set>

namespace declai::credit {

namespace {

constexpr std::int64_t kDayMs = 24LL * 60 * 60 * 1000;
constexpr size_t kMaxIdBytes = 256;
constexpr size_t kMaxViolations = 1000; // a badly damaged ledger reports this many, then stops listing

Error invalid(std::string message) {
    return makeError(ErrorCode::InvalidArgument, std::move(message));
}

Expected<void> checkKey(const std::string& key, const char* what) {
    if (key.empty() || key.size() > kMaxIdBytes)
        return invalid(strCat(what, " must be 1 to ", kMaxIdBytes, " bytes"));
    return {};
}

Expected<void> checkAmount(Microcredits amount) {
    if (amount <= 0)
        return invalid(strCat("amount must be positive, got ", amount));
    return {};
}

// The account must exist and be one of the kinds a caller may name (user or node; never a system, escrow or
// pending account, which only the ledger's own operations touch).
Expected<Account> requireOwnedAccount(LedgerSession& session, const std::string& id) {
    auto account = session.findAccount(id);
    if (!account)
        return account.error();
    if (!account->has_value())
        return makeError(ErrorCode::NotFound, strCat("no account ", id));
    const Account& found = **account;
    if (found.kind != AccountKind::User && found.kind != AccountKind::Node)
        return invalid(strCat("account ", id, " is a ", accountKindName(found.kind), " account"));
    return found;
}

// Looks up idempotencyKey. A transaction with the same kind and postings is the earlier run of this very call
// (its id is returned); anything else under that key is a caller bug and refused.
Expected<std::optional<TxId>> replayOf(LedgerSession& session, const std::string& key, TxKind kind,
                                       const std::vector<Posting>* postings, const std::string* reference) {
    auto existing = session.findTransactionByKey(key);
    if (!existing)
        return existing.error();
    if (!existing->has_value())
        return std::optional<TxId>{};
    const Transaction& tx = **existing;
    const bool same = tx.kind == kind && (!postings || tx.postings == *postings) &&
                      (!reference || tx.reference == *reference);
    if (!same)
        return invalid(strCat("idempotency key '", key, "' was already used for a different ",
                              txKindName(tx.kind), " transaction (", tx.id, ")"));
    return std::optional<TxId>{tx.id};
}

Expected<Microcredits> available(LedgerSession& session, const std::string& account) {
    return session.balanceOf(account);
}

Error insufficient(Microcredits need, Microcredits have) {
    return invalid(strCat("insufficient credits: need ", need, ", available ", have, " (microcredits)"));
}

std::string csvField(const std::string& text, bool isText) {
    std::string value = text;
    // Spreadsheets run cells that start with these as formulas; exported ids must never execute.
    if (isText && !value.empty() &&
        (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@'))
        value.insert(value.begin(), '\'');
    if (value.find_first_of(",\"\r\n") == std::string::npos)
        return value;
    std::string quoted = "\"";
    for (char c : value) {
        if (c == '"')
            quoted.push_back('"');
        quoted.push_back(c);
    }
    quoted.push_back('"');
    return quoted;
}

} // namespace

Ledger::Ledger(std::unique_ptr<LedgerStore> store, Options options)
    : m_store(std::move(store)), m_options(std::move(options)) {}

std::int64_t Ledger::now() const {
    return m_options.nowMs ? m_options.nowMs() : QDateTime::currentMSecsSinceEpoch();
}

Expected<Account> ensureAccountIn(LedgerSession& session, const std::string& id, AccountKind kind,
                                  std::int64_t nowMs) {
    if (auto ok = checkKey(id, "account id"); !ok)
        return ok.error();
    if (kind != AccountKind::User && kind != AccountKind::Node)
        return invalid("only user and node accounts can be created");
    for (const char* reserved : {"system:", "escrow:", "pending:"})
        if (id.rfind(reserved, 0) == 0)
            return invalid(strCat("account id ", id, " uses the reserved prefix ", reserved));
    auto existing = session.findAccount(id);
    if (!existing)
        return existing.error();
    if (existing->has_value()) {
        if ((*existing)->kind != kind)
            return invalid(
                strCat("account ", id, " exists as a ", accountKindName((*existing)->kind), " account"));
        return **existing;
    }
    const Account account{id, kind, 0, nowMs};
    for (const Account& each : {account, Account{escrowAccountFor(id), AccountKind::Escrow, 0, nowMs},
                                Account{pendingAccountFor(id), AccountKind::Pending, 0, nowMs}})
        if (auto ok = session.insertAccount(each); !ok)
            return ok.error();
    return account;
}

Expected<Account> Ledger::ensureAccount(const std::string& id, AccountKind kind) {
    if (auto ok = checkKey(id, "account id"); !ok)
        return ok.error();
    return m_store->write<Account>([this, id, kind](LedgerSession& session) -> Expected<Account> {
        return ensureAccountIn(session, id, kind, now());
    });
}

Expected<Account> Ledger::createAccount(const std::string& id, AccountKind kind) {
    auto exists = m_store->read<bool>([id](LedgerSession& session) -> Expected<bool> {
        auto account = session.findAccount(id);
        if (!account)
            return account.error();
        return account->has_value();
    });
    if (!exists)
        return exists.error();
    if (*exists)
        return invalid(strCat("account ", id, " already exists"));
    // Two concurrent creators both pass the check above; ensureAccount makes the second a harmless no-op.
    return ensureAccount(id, kind);
}

Expected<void> Ledger::setDailySpendLimit(const std::string& account, Microcredits limit) {
    if (limit < 0)
        return invalid("daily spend limit must not be negative");
    auto done = m_store->write<bool>([account, limit](LedgerSession& session) -> Expected<bool> {
        if (auto found = requireOwnedAccount(session, account); !found)
            return found.error();
        if (auto ok = session.setDailySpendLimit(account, limit); !ok)
            return ok.error();
        return true;
    });
    if (!done)
        return done.error();
    return {};
}

Expected<TxId> Ledger::grant(const std::string& account, Microcredits amount,
                             const std::string& idempotencyKey) {
    auto work = grantWork(account, amount, idempotencyKey);
    if (!work)
        return work.error();
    return m_store->write<TxId>(std::move(*work));
}

Expected<LedgerWork<TxId>> Ledger::grantWork(const std::string& account, Microcredits amount,
                                             const std::string& idempotencyKey) {
    if (auto ok = checkAmount(amount); !ok)
        return ok.error();
    if (auto ok = checkKey(idempotencyKey, "idempotency key"); !ok)
        return ok.error();
    return LedgerWork<TxId>(
        [this, account, amount, idempotencyKey](LedgerSession& session) -> Expected<TxId> {
            const std::vector<Posting> postings{{kMintAccount, -amount}, {account, amount}};
            auto replay = replayOf(session, idempotencyKey, TxKind::Grant, &postings, nullptr);
            if (!replay)
                return replay.error();
            if (replay->has_value())
                return **replay;
            if (auto found = requireOwnedAccount(session, account); !found)
                return found.error();
            auto tx = session.appendTransaction({idempotencyKey, TxKind::Grant, "", now(), postings});
            if (!tx)
                return tx.error();
            return tx->id;
        });
}

Expected<TxId> Ledger::transfer(const std::string& from, const std::string& to, Microcredits amount,
                                const std::string& idempotencyKey) {
    if (auto ok = checkAmount(amount); !ok)
        return ok.error();
    if (auto ok = checkKey(idempotencyKey, "idempotency key"); !ok)
        return ok.error();
    if (from == to)
        return invalid("transfer to the same account");
    return m_store->write<TxId>(
        [this, from, to, amount, idempotencyKey](LedgerSession& session) -> Expected<TxId> {
            const std::vector<Posting> postings{{from, -amount}, {to, amount}};
            auto replay = replayOf(session, idempotencyKey, TxKind::Transfer, &postings, nullptr);
            if (!replay)
                return replay.error();
            if (replay->has_value())
                return **replay;
            for (const std::string& id : {from, to})
                if (auto found = requireOwnedAccount(session, id); !found)
                    return found.error();
            auto have = available(session, from);
            if (!have)
                return have.error();
            if (*have < amount)
                return insufficient(amount, *have);
            auto tx = session.appendTransaction({idempotencyKey, TxKind::Transfer, "", now(), postings});
            if (!tx)
                return tx.error();
            return tx->id;
        });
}

Expected<std::string> Ledger::placeHold(const std::string& account, Microcredits amount,
                                        const std::string& requestId, const std::string& keyId) {
    auto work = placeHoldWork(account, amount, requestId, keyId);
    if (!work)
        return work.error();
    return m_store->write<std::string>(std::move(*work));
}

Expected<LedgerWork<std::string>> Ledger::placeHoldWork(const std::string& account, Microcredits amount,
                                                        const std::string& requestId,
                                                        const std::string& keyId) {
    if (auto ok = checkAmount(amount); !ok)
        return ok.error();
    if (auto ok = checkKey(requestId, "request id"); !ok)
        return ok.error();
    return LedgerWork<std::string>(
        [this, account, amount, requestId, keyId](LedgerSession& session) -> Expected<std::string> {
            const std::string escrow = escrowAccountFor(account);
            const std::vector<Posting> postings{{account, -amount}, {escrow, amount}};
            const std::string key = strCat("hold:", requestId);
            auto replay = replayOf(session, key, TxKind::Hold, &postings, &requestId);
            if (!replay)
                return replay.error();
            if (replay->has_value())
                return requestId;
            auto owner = requireOwnedAccount(session, account);
            if (!owner)
                return owner.error();
            auto existingHold = session.findHold(requestId);
            if (!existingHold)
                return existingHold.error();
            if (existingHold->has_value())
                return invalid(strCat("request ", requestId, " already has a hold"));
            const std::int64_t nowMs = now();
            if (owner->dailySpendLimit > 0) {
                const std::int64_t dayStartMs = nowMs - ((nowMs % kDayMs) + kDayMs) % kDayMs; // UTC day
                auto spent = session.spentSince(account, dayStartMs);
                if (!spent)
                    return spent.error();
                if (*spent > owner->dailySpendLimit - amount)
                    return invalid(strCat("daily spend limit reached: limit ", owner->dailySpendLimit,
                                          ", spent today ", *spent, ", this request ", amount,
                                          " (microcredits)"));
            }
            if (!keyId.empty()) {
                // The key's spend limit is checked and reserved in this transaction: one step with the hold
                // for every gateway on this database, and returned by whoever closes the hold.
                auto found = session.accountRecords().findKey(keyId);
                if (!found)
                    return found.error();
                if (!found->has_value())
                    return makeError(ErrorCode::NotFound, strCat("no API key '", keyId, "'"));
                const ApiKeyRecord& k = **found;
                if (k.spendLimit > 0 && k.spent > k.spendLimit - amount)
                    return makeError(ErrorCode::Forbidden,
                                     strCat("API key ", keyId, " reached its spend limit: ", k.spent, " of ",
                                            k.spendLimit, " microcredits used, this request may cost up to ",
                                            amount));
            }
            auto have = available(session, account);
            if (!have)
                return have.error();
            if (*have < amount)
                return insufficient(amount, *have);
            if (!keyId.empty())
                if (auto ok = session.accountRecords().addKeySpent(keyId, amount); !ok)
                    return ok.error();
            auto tx = session.appendTransaction({key, TxKind::Hold, requestId, nowMs, postings});
            if (!tx)
                return tx.error();
            Hold hold;
            hold.id = requestId;
            hold.account = account;
            hold.amount = amount;
            hold.createdAtMs = nowMs;
            hold.holdTx = tx->id;
            hold.instance = m_options.instanceId;
            hold.keyId = keyId;
            if (auto ok = session.insertHold(hold); !ok)
                return ok.error();
            return requestId;
        });
}

Expected<TxId> Ledger::settleHold(const std::string& holdId, Microcredits actualCost,
                                  const std::vector<NodeShare>& nodeShares,
                                  const std::string& idempotencyKey) {
    auto work = settleHoldWork(holdId, actualCost, nodeShares, idempotencyKey);
    if (!work)
        return work.error();
    return m_store->write<TxId>(std::move(*work));
}

Expected<LedgerWork<TxId>> Ledger::settleHoldWork(const std::string& holdId, Microcredits actualCost,
                                                  const std::vector<NodeShare>& nodeShares,
                                                  const std::string& idempotencyKey) {
    if (actualCost < 0)
        return invalid("actual cost must not be negative");
    if (auto ok = checkKey(idempotencyKey, "idempotency key"); !ok)
        return ok.error();
    // Merge shares per node (sorted, so the postings and the hash do not depend on the caller's order).
    std::map<std::string, Microcredits> shares;
    Microcredits sharesTotal = 0;
    for (const NodeShare& share : nodeShares) {
        if (share.amount < 0)
            return invalid(strCat("negative share for ", share.nodeAccount));
        if (share.amount == 0)
            continue;
        if (__builtin_add_overflow(sharesTotal, share.amount, &sharesTotal) ||
            __builtin_add_overflow(shares[share.nodeAccount], share.amount, &shares[share.nodeAccount]))
            return invalid("node shares overflow");
    }
    if (sharesTotal > actualCost)
        return invalid(strCat("node shares (", sharesTotal, ") exceed the actual cost (", actualCost, ")"));
    return LedgerWork<TxId>([this, holdId, actualCost, shares, sharesTotal,
                             idempotencyKey](LedgerSession& session) -> Expected<TxId> {
        auto replay = replayOf(session, idempotencyKey, TxKind::Settle, nullptr, &holdId);
        if (!replay)
            return replay.error();
        if (replay->has_value())
            return **replay;
        auto hold = session.findHold(holdId);
        if (!hold)
            return hold.error();
        if (!hold->has_value())
            return makeError(ErrorCode::NotFound, strCat("no hold ", holdId));
        const Hold& open = **hold;
        if (open.status != HoldStatus::Open)
            return invalid(strCat("hold ", holdId, " is already ", holdStatusName(open.status)));
        if (actualCost > open.amount)
            return invalid(strCat("actual cost ", actualCost, " exceeds the hold of ", open.amount));
        std::vector<Posting> postings{{escrowAccountFor(open.account), -open.amount}};
        for (const auto& [node, amount] : shares) {
            auto account = session.findAccount(node);
            if (!account)
                return account.error();
            if (!account->has_value() || (*account)->kind != AccountKind::Node)
                return invalid(strCat(node, " is not a node account"));
            postings.push_back({pendingAccountFor(node), amount});
        }
        if (actualCost > sharesTotal)
            postings.push_back({kFeeAccount, actualCost - sharesTotal});
        if (open.amount > actualCost)
            postings.push_back({open.account, open.amount - actualCost});
        const std::int64_t nowMs = now();
        auto tx = session.appendTransaction({idempotencyKey, TxKind::Settle, holdId, nowMs, postings});
        if (!tx)
            return tx.error();
        if (auto ok = session.closeHold(holdId, HoldStatus::Settled, actualCost, tx->id); !ok)
            return ok.error();
        // The key keeps what the request cost against its limit; the rest of its reservation goes back.
        if (!open.keyId.empty() && open.amount > actualCost)
            if (auto ok = session.accountRecords().addKeySpent(open.keyId, -(open.amount - actualCost)); !ok)
                return ok.error();
        for (const auto& [node, amount] : shares)
            if (auto ok = session.insertPendingLot({tx->id, node, amount, nowMs, LotStatus::Open, 0}); !ok)
                return ok.error();
        return tx->id;
    });
}

Expected<void> Ledger::recordInstance(const GatewayInstance& instance) {
    if (auto ok = checkKey(instance.id, "instance id"); !ok)
        return ok.error();
    auto done = m_store->write<bool>([instance](LedgerSession& session) -> Expected<bool> {
        if (auto ok = session.upsertInstance(instance); !ok)
            return ok.error();
        return true;
    });
    if (!done)
        return done.error();
    return {};
}

Expected<std::vector<GatewayInstance>> Ledger::instances() {
    return m_store->read<std::vector<GatewayInstance>>(
        [](LedgerSession& session) { return session.instances(); });
}

Expected<std::vector<Hold>> Ledger::openHolds() {
    return m_store->read<std::vector<Hold>>([](LedgerSession& session) { return session.openHolds(); });
}

Expected<TxId> Ledger::releaseHold(const std::string& holdId) {
    auto work = releaseHoldWork(holdId);
    if (!work)
        return work.error();
    return m_store->write<TxId>(std::move(*work));
}

Expected<LedgerWork<TxId>> Ledger::releaseHoldWork(const std::string& holdId) {
    if (auto ok = checkKey(holdId, "hold id"); !ok)
        return ok.error();
    return LedgerWork<TxId>([this, holdId](LedgerSession& session) -> Expected<TxId> {
        const std::string key = strCat("release:", holdId);
        auto replay = replayOf(session, key, TxKind::Release, nullptr, &holdId);
        if (!replay)
            return replay.error();
        if (replay->has_value())
            return **replay;
        auto hold = session.findHold(holdId);
        if (!hold)
            return hold.error();
        if (!hold->has_value())
            return makeError(ErrorCode::NotFound, strCat("no hold ", holdId));
        const Hold& open = **hold;
        if (open.status != HoldStatus::Open)
            return invalid(strCat("hold ", holdId, " is already ", holdStatusName(open.status)));
        const std::vector<Posting> postings{{escrowAccountFor(open.account), -open.amount},
                                            {open.account, open.amount}};
        auto tx = session.appendTransaction({key, TxKind::Release, holdId, now(), postings});
        if (!tx)
            return tx.error();
        if (auto ok = session.closeHold(holdId, HoldStatus::Released, 0, tx->id); !ok)
            return ok.error();
        if (!open.keyId.empty())
            if (auto ok = session.accountRecords().addKeySpent(open.keyId, -open.amount); !ok)
                return ok.error();
        return tx->id;
    });
}

namespace {

// Closes node's open lots created before cutoffMs in one transaction: to the node (release) or to burn
// (void).
Expected<PendingReleaseResult> closeLots(LedgerSession& session, const std::string& node,
                                         std::int64_t cutoffMs, bool voiding, const std::string& reference,
                                         std::int64_t nowMs) {
    auto account = session.findAccount(node);
    if (!account)
        return account.error();
    if (!account->has_value() || (*account)->kind != AccountKind::Node)
        return invalid(strCat(node, " is not a node account"));
    auto lots = session.openPendingLots(node, cutoffMs);
    if (!lots)
        return lots.error();
    PendingReleaseResult result;
    if (lots->empty())
        return result;
    for (const PendingLot& lot : *lots)
        result.amount += lot.amount;
    // Each lot closes once, so the first lot's transaction id makes the key unique for this release.
    const std::string key = strCat(voiding ? "void:" : "earn_release:", node, ":", lots->front().earnTx);
    // Verified earnings of a node bound to an account go to that account (read in this same transaction,
    // so a binding made on another gateway counts at once).
    std::string payTo = node;
    std::optional<UserRecord> owner;
    if (!voiding && node.rfind("node:", 0) == 0) {
        auto binding = session.accountRecords().findBinding(node.substr(5));
        if (!binding)
            return binding.error();
        if (binding->has_value()) {
            auto found = session.accountRecords().findUser((*binding)->account);
            if (!found)
                return found.error();
            if (found->has_value()) {
                owner = **found;
                payTo = userAccount(owner->name);
                if (auto ok = ensureAccountIn(session, payTo, AccountKind::User, nowMs); !ok)
                    return ok.error();
            }
        }
    }
    result.paidTo = voiding ? kBurnAccount : payTo;
    const std::vector<Posting> postings{{pendingAccountFor(node), -result.amount},
                                        {voiding ? kBurnAccount : payTo, result.amount}};
    auto tx = session.appendTransaction(
        {key, voiding ? TxKind::Void : TxKind::EarnRelease, reference, nowMs, postings});
    if (!tx)
        return tx.error();
    for (const PendingLot& lot : *lots)
        if (auto ok = session.closePendingLot(lot.earnTx, node,
                                              voiding ? LotStatus::Voided : LotStatus::Released, tx->id);
            !ok)
            return ok.error();
    result.txId = tx->id;
    // The owner's first verified work releases its held welcome grant (paid once: keyed by the name).
    if (owner && owner->welcome == WelcomeRule::FirstWork) {
        if (owner->welcomeAmount > 0) {
            const std::string welcomeKey = strCat("welcome-grant:", owner->name);
            auto earlier = session.findTransactionByKey(welcomeKey);
            if (!earlier)
                return earlier.error();
            if (!earlier->has_value()) {
                auto grant = session.appendTransaction(
                    {welcomeKey,
                     TxKind::Grant,
                     "first verified work",
                     nowMs,
                     {{kMintAccount, -owner->welcomeAmount}, {payTo, owner->welcomeAmount}}});
                if (!grant)
                    return grant.error();
                result.welcomeTx = grant->id;
                result.welcomeAmount = owner->welcomeAmount;
            }
        }
        if (auto ok = session.accountRecords().setWelcome(owner->name, WelcomeRule::Paid, 0); !ok)
            return ok.error();
    }
    return result;
}

} // namespace

Expected<PendingReleaseResult> Ledger::releasePending(const std::string& node, std::int64_t olderThanMs) {
    return m_store->write<PendingReleaseResult>(releasePendingWork(node, olderThanMs));
}

LedgerWork<PendingReleaseResult> Ledger::releasePendingWork(const std::string& node,
                                                            std::int64_t olderThanMs) {
    return LedgerWork<PendingReleaseResult>(
        [this, node, olderThanMs](LedgerSession& session) -> Expected<PendingReleaseResult> {
            return closeLots(session, node, olderThanMs, false, "", now());
        });
}

Expected<PendingReleaseResult> Ledger::voidPending(const std::string& node, const std::string& reason) {
    auto work = voidPendingWork(node, reason);
    if (!work)
        return work.error();
    return m_store->write<PendingReleaseResult>(std::move(*work));
}

Expected<LedgerWork<PendingReleaseResult>> Ledger::voidPendingWork(const std::string& node,
                                                                   const std::string& reason) {
    if (reason.size() > 4096)
        return invalid("void reason is too long");
    return LedgerWork<PendingReleaseResult>(
        [this, node, reason](LedgerSession& session) -> Expected<PendingReleaseResult> {
            return closeLots(session, node, std::numeric_limits<std::int64_t>::max(), true, reason, now());
        });
}

Expected<Balance> Ledger::balance(const std::string& account) {
    return m_store->read<Balance>(balanceWork(account));
}

LedgerWork<Balance> Ledger::balanceWork(const std::string& account) {
    return LedgerWork<Balance>([account](LedgerSession& session) -> Expected<Balance> {
        auto found = session.findAccount(account);
        if (!found)
            return found.error();
        if (!found->has_value())
            return makeError(ErrorCode::NotFound, strCat("no account ", account));
        auto own = session.balanceOf(account);
        auto held = session.balanceOf(escrowAccountFor(account));
        auto pending = session.balanceOf(pendingAccountFor(account));
        if (!own || !held || !pending)
            return !own ? own.error() : !held ? held.error() : pending.error();
        return Balance{*own, *held, *pending};
    });
}

Expected<std::vector<HistoryEntry>> Ledger::history(const std::string& account, int limit) {
    if (limit <= 0 || limit > 100'000)
        return invalid("history limit must be 1 to 100000");
    return m_store->read<std::vector<HistoryEntry>>(
        [account, limit](LedgerSession& session) { return session.history(account, limit); });
}

Expected<std::optional<Transaction>> Ledger::transaction(TxId id) {
    return m_store->read<std::optional<Transaction>>(
        [id](LedgerSession& session) { return session.findTransaction(id); });
}

Expected<std::optional<Hold>> Ledger::hold(const std::string& holdId) {
    return m_store->read<std::optional<Hold>>(
        [holdId](LedgerSession& session) { return session.findHold(holdId); });
}

Expected<VerifyReport> Ledger::verify() {
    return m_store->read<VerifyReport>([](LedgerSession& session) -> Expected<VerifyReport> {
        VerifyReport report;
        auto violation = [&report](std::string text) {
            if (report.violations.size() < kMaxViolations)
                report.violations.push_back(std::move(text));
        };
        auto head = session.head();
        if (!head)
            return head.error();
        report.head = *head;

        std::map<std::string, Microcredits> sums; // derived balances: the truth the rest is compared with
        TxId lastId = 0;
        std::string lastHash = kGenesisHash;
        for (;;) {
            auto page = session.transactionsFrom(lastId + 1, 1000);
            if (!page)
                return page.error();
            if (page->empty())
                break;
            for (const Transaction& tx : *page) {
                ++report.transactionsChecked;
                if (tx.id != lastId + 1)
                    violation(strCat("transaction ids jump from ", lastId, " to ", tx.id));
                if (tx.prevHash != lastHash)
                    violation(strCat("transaction ", tx.id, ": prev_hash does not match the previous hash"));
                if (computeHash(tx) != tx.hash)
                    violation(strCat("transaction ", tx.id, ": hash mismatch (contents were altered)"));
                Microcredits sum = 0;
                bool overflow = false;
                for (const Posting& posting : tx.postings) {
                    ++report.postingsChecked;
                    overflow |= __builtin_add_overflow(sum, posting.amount, &sum);
                    overflow |=
                        __builtin_add_overflow(sums[posting.account], posting.amount, &sums[posting.account]);
                }
                if (overflow)
                    violation(strCat("transaction ", tx.id, ": posting amounts overflow"));
                if (sum != 0)
                    violation(strCat("transaction ", tx.id, ": postings sum to ", sum, ", not zero"));
                if (tx.postings.size() < 2)
                    violation(strCat("transaction ", tx.id, ": has ", tx.postings.size(), " postings"));
                lastId = tx.id;
                lastHash = tx.hash;
            }
        }
        if (head->lastTx != lastId || head->lastHash != lastHash)
            violation(strCat("ledger head says transaction ", head->lastTx, " but the chain ends at ", lastId,
                             head->lastTx == lastId ? " (hash differs)" : ""));
        auto postingCount = session.postingCount();
        if (!postingCount)
            return postingCount.error();
        if (*postingCount != report.postingsChecked)
            violation(strCat(*postingCount - report.postingsChecked, " postings belong to no transaction"));

        auto accounts = session.accounts();
        auto cached = session.cachedBalances();
        auto holdSums = session.openHoldSums();
        auto lotSums = session.openLotSums();
        if (!accounts || !cached || !holdSums || !lotSums)
            return !accounts   ? accounts.error()
                   : !cached   ? cached.error()
                   : !holdSums ? holdSums.error()
                               : lotSums.error();
        std::set<std::string> known;
        for (const Account& account : *accounts) {
            known.insert(account.id);
            const Microcredits derived = sums.count(account.id) ? sums[account.id] : 0;
            const auto cachedIt = cached->find(account.id);
            const Microcredits cachedValue = cachedIt == cached->end() ? 0 : cachedIt->second;
            if (cachedIt == cached->end())
                violation(strCat("account ", account.id, " has no cached balance row"));
            else if (cachedValue != derived)
                violation(strCat("account ", account.id, ": cached balance ", cachedValue,
                                 " != sum of postings ", derived));
            if (!mayGoNegative(account.kind) && (derived < 0 || cachedValue < 0))
                violation(strCat("account ", account.id, " is negative (", derived, ")"));
            if (account.kind == AccountKind::Escrow) {
                const std::string owner = account.id.substr(std::string("escrow:").size());
                const Microcredits open = holdSums->count(owner) ? holdSums->at(owner) : 0;
                if (open != derived)
                    violation(strCat("open holds of ", owner, " total ", open, " but ", account.id, " holds ",
                                     derived));
            } else if (account.kind == AccountKind::Pending) {
                const std::string owner = account.id.substr(std::string("pending:").size());
                const Microcredits open = lotSums->count(owner) ? lotSums->at(owner) : 0;
                if (open != derived)
                    violation(strCat("open pending lots of ", owner, " total ", open, " but ", account.id,
                                     " holds ", derived));
            }
        }
        for (const auto& [account, amount] : sums)
            if (!known.count(account))
                violation(strCat("postings name unknown account ", account));
        for (const auto& [account, amount] : *cached)
            if (!known.count(account))
                violation(strCat("cached balance for unknown account ", account));
        auto problems = session.integrityProblems();
        if (!problems)
            return problems.error();
        for (std::string& problem : *problems)
            violation(std::move(problem));
        return report;
    });
}

Expected<Receipt> Ledger::receipt(TxId txId, const std::string& account) {
    if (!m_options.identity)
        return makeError(ErrorCode::InvalidArgument, "this ledger has no identity to sign receipts with");
    auto tx = transaction(txId);
    if (!tx)
        return tx.error();
    if (!tx->has_value())
        return makeError(ErrorCode::NotFound, strCat("no transaction ", txId));
    const Transaction& found = **tx;
    Microcredits amount = 0;
    bool involved = false;
    for (const Posting& posting : found.postings) {
        if (posting.account == account) {
            amount += posting.amount;
            involved = true;
        }
    }
    if (!involved)
        return makeError(ErrorCode::NotFound, strCat("transaction ", txId, " does not touch ", account));
    Receipt receipt;
    receipt.txId = found.id;
    receipt.hash = found.hash;
    receipt.account = account;
    receipt.amount = amount;
    receipt.kind = txKindName(found.kind);
    receipt.timeMs = found.createdAtMs;
    receipt.signerPublicKey = m_options.identity->publicKey();
    receipt.signature = m_options.identity->sign(receiptMessage(receipt));
    return receipt;
}

Expected<void> Ledger::matchesLedger(const Receipt& receipt) {
    auto tx = transaction(receipt.txId);
    if (!tx)
        return tx.error();
    if (!tx->has_value())
        return makeError(ErrorCode::NotFound,
                         strCat("receipt names transaction ", receipt.txId, ", which is missing"));
    const Transaction& found = **tx;
    Microcredits amount = 0;
    for (const Posting& posting : found.postings)
        if (posting.account == receipt.account)
            amount += posting.amount;
    if (found.hash != receipt.hash || receipt.kind != txKindName(found.kind) ||
        found.createdAtMs != receipt.timeMs || amount != receipt.amount)
        return makeError(ErrorCode::Format,
                         strCat("receipt for transaction ", receipt.txId, " does not match the ledger"));
    return {};
}

Expected<std::int64_t> Ledger::exportCsv(const QString& path) {
    // Runs on the store thread: the export is one consistent snapshot, written while other work waits.
    return m_store->read<std::int64_t>([path](LedgerSession& session) -> Expected<std::int64_t> {
        QSaveFile file(path);
        if (!file.open(QIODevice::WriteOnly))
            return makeError(ErrorCode::Io, strCat("cannot write ", path.toStdString(), ": ",
                                                   file.errorString().toStdString()));
        std::string out = "tx_id,created_at_ms,kind,idempotency_key,reference,account,amount,hash\n";
        std::int64_t rows = 0;
        TxId lastId = 0;
        for (;;) {
            auto page = session.transactionsFrom(lastId + 1, 1000);
            if (!page)
                return page.error();
            if (page->empty())
                break;
            for (const Transaction& tx : *page) {
                for (const Posting& posting : tx.postings) {
                    out.append(strCat(tx.id, ",", tx.createdAtMs, ",", txKindName(tx.kind), ",",
                                      csvField(tx.idempotencyKey, true), ",", csvField(tx.reference, true),
                                      ",", csvField(posting.account, true), ",", posting.amount, ",", tx.hash,
                                      "\n"));
                    ++rows;
                }
                lastId = tx.id;
            }
            file.write(out.data(), static_cast<qint64>(out.size()));
            out.clear();
        }
        file.write(out.data(), static_cast<qint64>(out.size()));
        if (!file.commit())
            return makeError(ErrorCode::Io, strCat("cannot write ", path.toStdString(), ": ",
                                                   file.errorString().toStdString()));
        return rows;
    });
}

} // namespace declai::credit
