#include "declai/credit/Receipt.h"

#include "declai/core/Identity.h"

namespace declai::credit {

namespace {

void appendU64(std::string& out, std::uint64_t value) {
    for (int shift = 56; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((value >> shift) & 0xff));
}

void appendField(std::string& out, const std::string& bytes) {
    appendU64(out, bytes.size());
    out.append(bytes);
}

} // namespace

std::string receiptMessage(const Receipt& receipt) {
    // Domain prefix: a receipt signature can never be replayed as any other signed message of the protocol.
    std::string out = "DECLAI-RECEIPT-1";
    appendU64(out, static_cast<std::uint64_t>(receipt.txId));
    appendField(out, receipt.hash);
    appendField(out, receipt.account);
    appendU64(out, static_cast<std::uint64_t>(receipt.amount));
    appendField(out, receipt.kind);
    appendU64(out, static_cast<std::uint64_t>(receipt.timeMs));
    appendField(out, receipt.signerPublicKey);
    return out;
}

bool verifyReceipt(const Receipt& receipt, std::string_view publicKey32) {
    if (receipt.signerPublicKey != publicKey32)
        return false;
    return NodeIdentity::verify(publicKey32, receiptMessage(receipt), receipt.signature);
}

} // namespace declai::credit
