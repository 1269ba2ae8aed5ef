// Numbered schema migrations, each applied in its own transaction together with the schema_version bump.
#pragma once

#include "SqlLedgerSession.h"

namespace declai::credit {

inline constexpr int kLatestSchemaVersion = 5;

// Brings the database to kLatestSchemaVersion and returns the version. Refuses a database whose version is
// newer than this build knows (it may hold data this code would misread). Runs on the store thread.
Expected<int> migrate(QSqlDatabase& db, Dialect dialect);

} // namespace declai::credit
