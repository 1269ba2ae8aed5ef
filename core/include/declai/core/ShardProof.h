// Proof that a node holds the bytes of a shard it claims: the gateway picks random byte ranges of the
// claimed layers' tensors and a fresh nonce; the node answers with this hash over its own copy (and signs
// the answer). The gateway computes the same hash from its file. Used by both sides, so it lives here.
// Pure value type: no threads, no I/O.
#pragma once

#include <QCryptographicHash>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace declai {

class ShardProofHasher {
public:
    // Upper bound on the bytes one challenge may ask for (both sides refuse more).
    static constexpr uint64_t kMaxChallengeBytes = uint64_t(4) << 20;

    explicit ShardProofHasher(std::string_view nonce);
    // Ranges are added in the challenge's order: offset and length are hashed with the bytes.
    void addRange(uint64_t offset, std::span<const std::byte> bytes);
    std::string result(); // raw 32-byte SHA-256

private:
    QCryptographicHash m_hash{QCryptographicHash::Sha256};
};

} // namespace declai
