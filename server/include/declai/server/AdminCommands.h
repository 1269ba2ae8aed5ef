// Operator commands of declai-server that work on the data folder instead of serving:
// user add, grant, ledger verify|balance|export.
#pragma once

#include <QStringList>
#include <cstdio>
#include <optional>

namespace declai::server {

// args[0] is the program name. nullopt when args do not start with an operator command (then serve).
std::optional<int> runAdminCommand(const QStringList& args, std::FILE* out, std::FILE* err);

} // namespace declai::server
