#include "declai/credit/LedgerTypes.h"

#include <QByteArray>
#include <QCryptographicHash>
#include <array>
#include <utility>

namespace declai::credit {

namespace {

template <class Enum, size_t N>
std::optional<Enum> fromName(const std::array<std::pair<Enum, const char*>, N>& table,
                             const std::string& name) {
    for (const auto& [value, text] : table)
        if (name == text)
            return value;
    return std::nullopt;
}

template <class Enum, size_t N>
const char* toName(const std::array<std::pair<Enum, const char*>, N>& table, Enum value) {
    for (const auto& [v, text] : table)
        if (v == value)
            return text;
    return "unknown";
}

// The names are stored in the database and hashed into the chain: never rename one.
constexpr std::array<std::pair<AccountKind, const char*>, 5> kAccountKinds{{
    {AccountKind::User, "user"},
    {AccountKind::Node, "node"},
    {AccountKind::Escrow, "escrow"},
    {AccountKind::Pending, "pending"},
    {AccountKind::System, "system"},
}};
constexpr std::array<std::pair<TxKind, const char*>, 7> kTxKinds{{
    {TxKind::Grant, "grant"},
    {TxKind::Transfer, "transfer"},
    {TxKind::Hold, "hold"},
    {TxKind::Settle, "settle"},
    {TxKind::Release, "release"},
    {TxKind::EarnRelease, "earn_release"},
    {TxKind::Void, "void"},
}};
constexpr std::array<std::pair<HoldStatus, const char*>, 3> kHoldStatuses{{
    {HoldStatus::Open, "open"},
    {HoldStatus::Settled, "settled"},
    {HoldStatus::Released, "released"},
}};
constexpr std::array<std::pair<LotStatus, const char*>, 3> kLotStatuses{{
    {LotStatus::Open, "open"},
    {LotStatus::Released, "released"},
    {LotStatus::Voided, "voided"},
}};

void appendU64(std::string& out, std::uint64_t value) {
    for (int shift = 56; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((value >> shift) & 0xff));
}

void appendField(std::string& out, const std::string& bytes) {
    appendU64(out, bytes.size());
    out.append(bytes);
}

} // namespace

const char* accountKindName(AccountKind kind) {
    return toName(kAccountKinds, kind);
}
std::optional<AccountKind> accountKindFromName(const std::string& name) {
    return fromName(kAccountKinds, name);
}
const char* txKindName(TxKind kind) {
    return toName(kTxKinds, kind);
}
std::optional<TxKind> txKindFromName(const std::string& name) {
    return fromName(kTxKinds, name);
}
const char* holdStatusName(HoldStatus status) {
    return toName(kHoldStatuses, status);
}
std::optional<HoldStatus> holdStatusFromName(const std::string& name) {
    return fromName(kHoldStatuses, name);
}
const char* lotStatusName(LotStatus status) {
    return toName(kLotStatuses, status);
}
std::optional<LotStatus> lotStatusFromName(const std::string& name) {
    return fromName(kLotStatuses, name);
}

std::string userAccount(const std::string& userId) {
    return std::string("user:").append(userId);
}
std::string nodeAccount(const std::string& nodeId) {
    return std::string("node:").append(nodeId);
}
std::string escrowAccountFor(const std::string& account) {
    return std::string("escrow:").append(account);
}
std::string pendingAccountFor(const std::string& account) {
    return std::string("pending:").append(account);
}

std::string canonicalTransactionBytes(TxId id, const std::string& idempotencyKey, TxKind kind,
                                      const std::string& reference, std::int64_t createdAtMs,
                                      const std::vector<Posting>& postings) {
    std::string out = "DECLAI-LEDGER-TX-1";
    appendU64(out, static_cast<std::uint64_t>(id));
    appendField(out, idempotencyKey);
    appendField(out, txKindName(kind));
    appendField(out, reference);
    appendU64(out, static_cast<std::uint64_t>(createdAtMs));
    appendU64(out, postings.size());
    for (const Posting& posting : postings) {
        appendField(out, posting.account);
        appendU64(out, static_cast<std::uint64_t>(posting.amount));
    }
    return out;
}

std::string chainHash(const std::string& prevHashHex, const std::string& canonicalBytes) {
    QCryptographicHash hash(QCryptographicHash::Sha256);
    // A malformed prev hash (tampered row) decodes to different bytes, so the chain check still fails.
    const QByteArray prev = QByteArray::fromHex(QByteArray::fromStdString(prevHashHex));
    hash.addData(prev);
    hash.addData(QByteArrayView(canonicalBytes.data(), static_cast<qsizetype>(canonicalBytes.size())));
    return hash.result().toHex().toStdString();
}

std::string computeHash(const Transaction& tx) {
    return chainHash(tx.prevHash, canonicalTransactionBytes(tx.id, tx.idempotencyKey, tx.kind, tx.reference,
                                                            tx.createdAtMs, tx.postings));
}

} // namespace declai::credit
