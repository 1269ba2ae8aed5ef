// A signed statement by the gateway that transaction txId (with chain hash `hash`) moved `amount` to or from
// `account`. A volunteer keeps its receipts: they prove earnings without trusting the gateway's database
// later, and each one pins the hash chain at txId (a rewritten history no longer matches it).
#pragma once

#include "declai/credit/LedgerTypes.h"

#include <string>
#include <string_view>

namespace declai::credit {

struct Receipt {
    TxId txId = 0;
    std::string hash; // the transaction's chain hash, hex
    std::string account;
    Microcredits amount = 0;     // net effect of the transaction on account
    std::string kind;            // txKindName()
    std::int64_t timeMs = 0;     // the transaction's created-at
    std::string signerPublicKey; // raw 32-byte Ed25519 key of the gateway
    std::string signature;       // raw 64-byte Ed25519 signature of receiptMessage()
};

// "DECLAI-RECEIPT-1" followed by the fields above (length-prefixed, big-endian), signature excluded.
std::string receiptMessage(const Receipt& receipt);
// True only when the signature is valid for publicKey32 and the receipt names that key as signer.
bool verifyReceipt(const Receipt& receipt, std::string_view publicKey32);

} // namespace declai::credit
