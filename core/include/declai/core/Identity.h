// A node's (or the server's) long-term Ed25519 identity. The private key never leaves this process: it is
// stored once, PEM/PKCS#8, readable by the owner only, and the public key's SHA-256 is the node's id. The
// handshake proves possession by signing authChallengeMessage(nonce, publicKey) with this key.
#pragma once

#include "declai/core/Error.h"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_pkey_st; // OpenSSL's EVP_PKEY; kept opaque so that users of core need no OpenSSL headers.

namespace declai {

class NodeIdentity {
public:
    static constexpr size_t kPublicKeyBytes = 32;
    static constexpr size_t kSignatureBytes = 64;

    // Loads DATA_DIR/identity/<fileName>, or creates it (folder 0700, file 0600) when it does not exist.
    // Refuses a key file that anyone but the owner can access, one that is not an Ed25519 private key and
    // one that is password protected; every error names the file.
    static Expected<NodeIdentity> loadOrCreate(const std::string& dataDir,
                                               const std::string& fileName = "node.key");
    // A fresh key that lives only in memory (tests, throw-away identities).
    static Expected<NodeIdentity> generateInMemory();

    // Raw 32-byte Ed25519 public key.
    const std::string& publicKey() const { return m_publicKey; }
    // Lowercase hex SHA-256 of publicKey(): 64 characters.
    const std::string& nodeId() const { return m_nodeId; }
    // First 12 characters of nodeId(), for logs and UIs.
    std::string shortId() const { return m_nodeId.substr(0, 12); }
    // The file the key was loaded from or written to; empty for in-memory identities.
    const std::string& keyFile() const { return m_keyFile; }

    // 64-byte Ed25519 signature of message. Signing only fails when OpenSSL cannot allocate memory; the
    // result is then empty, which every verifier rejects.
    std::string sign(std::string_view message) const;

    // The node id of a public key: lowercase hex SHA-256 of its bytes, 64 characters; empty only when
    // OpenSSL cannot hash (out of memory). The one definition of a node id, used by nodes and the gateway.
    static std::string nodeIdOf(std::string_view publicKey);

    // True only for a valid signature; wrong lengths of key or signature give false, never a crash.
    static bool verify(std::string_view publicKey32, std::string_view message, std::string_view signature);

private:
    NodeIdentity(std::shared_ptr<evp_pkey_st> key, std::string publicKey, std::string keyFile);
    static Expected<NodeIdentity> fromKey(std::shared_ptr<evp_pkey_st> key, std::string keyFile);

    std::shared_ptr<evp_pkey_st> m_key; // immutable after construction, so copies may share it
    std::string m_publicKey;
    std::string m_nodeId;
    std::string m_keyFile;
};

// A peer's Ed25519 public key, parsed once: the gateway verifies every signed answer of a node with the
// key object made at its handshake instead of rebuilding it per message.
class PublicKey {
public:
    PublicKey() = default;
    // An empty key (valid() false, verifies nothing) when raw32 is not 32 bytes or OpenSSL refuses it.
    static PublicKey fromRaw(std::string_view raw32);
    bool valid() const { return m_key != nullptr; }
    // True only for a valid 64-byte signature of message by this key.
    bool verify(std::string_view message, std::string_view signature) const;

private:
    std::shared_ptr<evp_pkey_st> m_key; // immutable after construction, so copies may share it
};

// What a node signs to answer the server's challenge: "DECLAI-AUTH-1" || nonce || publicKey. The domain
// prefix keeps these signatures from ever being valid for any other signed message of the protocol.
std::string authChallengeMessage(std::string_view nonce, std::string_view publicKey);

// n bytes from OpenSSL's CSPRNG. If the CSPRNG fails the process stops (qFatal): handing out predictable
// nonces or keys would be worse than not running, and no caller could recover anyway.
std::string randomBytes(size_t n);

// Helpers for files holding secrets, shared with the TLS setup.
//
// Writes bytes to path so that the file never exists with other permissions than 0600 and never exists
// half-written: a temporary file is created with O_EXCL and mode 0600, synced, then linked into place.
// Fails (Io) if path already exists, so two processes racing to create a key cannot overwrite each other.
Expected<void> writeSecretFile(const std::string& path, std::string_view bytes);
// Creates dir (and parents) and makes dir itself 0700 when it creates it.
Expected<void> makePrivateDirectory(const std::string& dir);
// Reads a secret file of at most maxBytes after checking, on the opened file, that it is a regular file
// that neither group nor others can access. The error for loose permissions tells the user to chmod 600.
Expected<std::string> readSecretFile(const std::string& path, size_t maxBytes = 64 * 1024);

} // namespace declai
