// declai-cli: generate, tokenize, logits, inspect (and more as the product grows). The whole tool is a
// library function so tests can call it in-process; main.cpp only forwards argv.
#pragma once

#include <QStringList>
#include <cstdio>

namespace declai::cli {

// Runs one command line (without the program name). Results go to `out`, diagnostics to `err`.
// Returns the process exit status: 0 on success, 1 on a runtime error, 2 on a usage error.
int run(const QStringList& args, std::FILE* out, std::FILE* err);

} // namespace declai::cli
