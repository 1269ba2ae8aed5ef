// Researchers and their API keys. Keys are random (32 bytes, shown once as "dk_" + base64url); only their
// SHA-256 is stored, in DATA_DIR/users.json (0600, replaced atomically). One gateway per file: several
// gateways sharing a PostgreSQL ledger must share this file too (see docs/ledger.md).
// Threading: main thread (and the operator commands, which run alone).
#pragma once

#include "declai/core/Error.h"

#include <QString>
#include <map>
#include <string>

namespace declai::server {

class UserDirectory {
public:
    static Expected<UserDirectory> open(const QString& dataDir);

    // Creates a user and returns its API key (the only time the key is visible).
    Expected<std::string> addUser(const std::string& name);
    // The user a key belongs to; an Error for unknown or malformed keys.
    Expected<std::string> authenticate(const std::string& apiKey) const;
    bool contains(const std::string& name) const;
    size_t size() const { return m_keyHashToUser.size(); }

private:
    Expected<void> save() const;
    QString m_path;
    std::map<std::string, std::string> m_keyHashToUser; // hex SHA-256 of the key -> user name
};

} // namespace declai::server
