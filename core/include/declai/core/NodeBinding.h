// The message a node signs with its Ed25519 identity to bind itself to an account (the node's side is
// app/contributor/AccountBinder, the gateway's credit::AccountStore::bindNode). One definition for both.
// It names the account, the node, the gateway it is meant for (audience: hex of the gateway's server.key
// public key, so a message captured at one gateway is worthless at another), the time and a fresh nonce (so
// it cannot be replayed at the same gateway either). The domain prefix keeps it apart from every other
// signed message of the protocol.
#pragma once

#include <cstdint>
#include <string>

namespace declai {

inline std::string nodeBindingMessage(const std::string& account, const std::string& nodeId,
                                      const std::string& audience, std::int64_t timestampMs,
                                      const std::string& nonceHex) {
    return "DECLAI-NODE-BINDING-1\naccount=" + account + "\nnode=" + nodeId + "\naudience=" + audience +
           "\ntime_ms=" + std::to_string(timestampMs) + "\nnonce=" + nonceHex + "\n";
}

} // namespace declai
