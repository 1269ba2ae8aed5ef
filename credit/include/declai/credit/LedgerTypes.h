// Value types of the ledger. Amounts are integer microcredits (1 credit = 1,000,000 µcr) held in int64, so
// no rounding ever happens inside the ledger; pricing rounds once, up, when it quotes (Pricing.h).
#pragma once

#include "declai/core/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace declai::credit {

using Microcredits = std::int64_t;
using TxId = std::int64_t; // position in the hash chain: 1, 2, 3, ... (0 = none)

inline constexpr Microcredits kMicrocreditsPerCredit = 1'000'000;

// Who owns an account decides whether it may go negative: only System accounts may (mint is the source of
// every credit, so its balance is minus the credits in circulation).
enum class AccountKind {
    User,    // a researcher: spends credits
    Node,    // a volunteer's node: earns credits (and may spend them)
    Escrow,  // "escrow:<account>": credits held for that account's in-flight requests
    Pending, // "pending:<account>": earnings waiting out the verification window
    System,  // "system:mint", "system:burn", "system:fee"
};

enum class TxKind {
    Grant,       // mint -> account
    Transfer,    // account -> account
    Hold,        // account -> its escrow (worst-case price of a request)
    Settle,      // escrow -> pending:<node>... (earn_pending), fee, and the unused rest back to the account
    Release,     // escrow -> account (request failed or was cancelled)
    EarnRelease, // pending:<node> -> node, after the verification window
    Void,        // pending:<node> -> burn (node caught cheating)
};

enum class HoldStatus { Open, Settled, Released };
enum class LotStatus { Open, Released, Voided };

const char* accountKindName(AccountKind kind);
std::optional<AccountKind> accountKindFromName(const std::string& name);
const char* txKindName(TxKind kind);
std::optional<TxKind> txKindFromName(const std::string& name);
const char* holdStatusName(HoldStatus status);
std::optional<HoldStatus> holdStatusFromName(const std::string& name);
const char* lotStatusName(LotStatus status);
std::optional<LotStatus> lotStatusFromName(const std::string& name);

// Well-known system accounts and the naming scheme of derived accounts.
inline const std::string kMintAccount = "system:mint";
inline const std::string kBurnAccount = "system:burn";
inline const std::string kFeeAccount = "system:fee";
std::string userAccount(const std::string& userId);        // "user:<id>"
std::string nodeAccount(const std::string& nodeId);        // "node:<id>"
std::string escrowAccountFor(const std::string& account);  // "escrow:<account>"
std::string pendingAccountFor(const std::string& account); // "pending:<account>"
// Non-system accounts must never go negative.
inline bool mayGoNegative(AccountKind kind) {
    return kind == AccountKind::System;
}

struct Account {
    std::string id;
    AccountKind kind = AccountKind::User;
    Microcredits dailySpendLimit = 0; // 0 = no limit
    std::int64_t createdAtMs = 0;
};

struct Posting {
    std::string account;
    Microcredits amount = 0; // > 0 credits the account, < 0 debits it

    bool operator==(const Posting&) const = default;
};

// What a caller asks the store to append; the store assigns id, prevHash and hash.
struct NewTransaction {
    std::string idempotencyKey;
    TxKind kind = TxKind::Transfer;
    std::string reference; // request id, hold id or reason
    std::int64_t createdAtMs = 0;
    std::vector<Posting> postings;
};

struct Transaction {
    TxId id = 0;
    std::string idempotencyKey;
    TxKind kind = TxKind::Transfer;
    std::string reference;
    std::int64_t createdAtMs = 0;
    std::vector<Posting> postings;
    std::string prevHash; // 64 hex digits; all zeros before the first transaction
    std::string hash;     // hex SHA-256(prevHash bytes || canonicalTransactionBytes(...))
};

inline const std::string kGenesisHash(64, '0');

// Unambiguous encoding of everything a transaction says (length-prefixed fields, big-endian integers).
// Changing it changes every hash: it is versioned by its "DECLAI-LEDGER-TX-1" prefix.
std::string canonicalTransactionBytes(TxId id, const std::string& idempotencyKey, TxKind kind,
                                      const std::string& reference, std::int64_t createdAtMs,
                                      const std::vector<Posting>& postings);
// Lowercase hex SHA-256 of the raw 32 bytes behind prevHashHex followed by the canonical bytes.
std::string chainHash(const std::string& prevHashHex, const std::string& canonicalBytes);
// Recomputes tx.hash from tx's own fields and tx.prevHash.
std::string computeHash(const Transaction& tx);

struct Hold {
    std::string id; // the request id the hold was placed for
    std::string account;
    Microcredits amount = 0;
    HoldStatus status = HoldStatus::Open;
    std::int64_t createdAtMs = 0;
    TxId holdTx = 0;
    TxId closeTx = 0;
    Microcredits settledCost = 0;
    // The gateway instance that placed it (Ledger::Options::instanceId); "" for holds from before schema 3.
    // Tells a hold whose session is still running from one orphaned by a crash (see docs/ledger.md).
    std::string instance;
    // The API key whose spend limit the hold's amount is reserved against ("" = none; schema 5). Closing
    // the hold returns the part not spent to the key in the same transaction.
    std::string keyId;
};

// One run of a gateway process that places holds: written at start, on every heartbeat and at a clean stop.
// Not part of the hash chain (it moves no credit); it only tells live sessions from orphaned ones.
struct GatewayInstance {
    std::string id;
    std::string host;     // QSysInfo::machineHostName() of the gateway
    std::int64_t pid = 0; // its process id on that host
    std::int64_t startedAtMs = 0;
    std::int64_t heartbeatMs = 0;
    std::int64_t stoppedAtMs = 0; // 0 while running (or after a crash)
};

// One settle's earnings for one node, waiting in pending:<node> for the verification window.
struct PendingLot {
    TxId earnTx = 0;
    std::string node; // the node's main account, "node:<id>"
    Microcredits amount = 0;
    std::int64_t createdAtMs = 0;
    LotStatus status = LotStatus::Open;
    TxId closeTx = 0;
};

struct Balance {
    Microcredits available = 0; // the account itself
    Microcredits held = 0;      // escrow:<account>
    Microcredits pending = 0;   // pending:<account>
};

struct NodeShare {
    std::string nodeAccount; // "node:<id>"
    Microcredits amount = 0;
};

struct HistoryEntry {
    TxId txId = 0;
    TxKind kind = TxKind::Transfer;
    std::string reference;
    std::int64_t createdAtMs = 0;
    Microcredits amount = 0; // net effect on the account asked about
    std::string hash;
};

struct ChainHead {
    TxId lastTx = 0;
    std::string lastHash = kGenesisHash;
};

struct VerifyReport {
    std::vector<std::string> violations; // empty = clean
    std::int64_t transactionsChecked = 0;
    std::int64_t postingsChecked = 0;
    ChainHead head;

    bool clean() const { return violations.empty(); }
};

} // namespace declai::credit
