// `declai-cli devices [--json]`: every compute backend this build knows, whether it is usable here (and
// why not), and each device's name, vendor, memory, compute units and capabilities.
#pragma once

#include <QStringList>
#include <cstdio>

namespace declai::cli {

// args[0] is "devices". Returns 0, or 2 on a usage error.
int runDevices(const QStringList& args, std::FILE* out, std::FILE* err);

} // namespace declai::cli
