// users.json, the per-gateway user list of releases before schema 4, and its one-time migration into the
// ledger database's accounts (credit/AccountStore.h). After a successful migration the file is renamed to
// users.json.migrated and never read again. Threading: called once at start, before serving.
#pragma once

#include "declai/core/Error.h"
#include "declai/credit/AccountStore.h"

#include <QString>
#include <string>
#include <utility>
#include <vector>

namespace declai::server {

// The (name, hex SHA-256 of the key) entries of DATA_DIR/users.json; empty when there is no such file.
Expected<std::vector<std::pair<std::string, std::string>>> readLegacyUsers(const QString& dataDir);

// Moves DATA_DIR/users.json into accounts (keys keep working) and renames it to users.json.migrated.
// Returns how many accounts were created; 0 when there was nothing to migrate. Safe to run again after a
// crash between the import and the rename (the import skips keys it already has).
Expected<int> migrateLegacyUsers(const QString& dataDir, credit::AccountStore& accounts);

} // namespace declai::server
