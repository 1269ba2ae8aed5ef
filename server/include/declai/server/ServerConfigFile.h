// declai-server's configuration file and environment, in front of its command line (docs/configuration.md).
// The keys are the long flags of `declai-server --help` (the one place their defaults are written, from
// ServerConfig), without the dashes and with _ for -, in the [gateway] section of the INI file that the
// node shares (it reads its own sections): `max_sessions = 16`. Each key can also come from the environment
// as DECLAI_<KEY> (DECLAI_MAX_SESSIONS=16), and every value-taking key from a file as <key>_file /
// DECLAI_<KEY>_FILE (the file must be private, mode 600; one value, surrounding whitespace dropped) — for
// secrets such as ledger_postgres. Precedence: defaults < file < environment < flags. Nothing here exits.
#pragma once

#include "declai/core/ConfigFile.h"
#include "declai/core/Error.h"

#include <QProcessEnvironment>
#include <QStringList>
#include <cstdio>
#include <vector>

namespace declai::server {

// Where one flag of ServerSources::arguments came from (for --check-config's messages).
struct SourcedFlag {
    QString flag;     // "max-sessions"
    QStringList args; // {"--max-sessions", "16"}
    QString file;     // the configuration file ("" for the environment)
    int line = 0;     // its line in file
    QString variable; // the environment variable ("" for the file)
};

struct ServerSources {
    // What ServerConfig::fromArguments or runAdminCommand parse: the program, then the file's keys, the
    // environment's, and the real flags last (QCommandLineParser keeps the last value of a flag).
    QStringList arguments;
    QString configFile;                  // "" when none was given (--config FILE or DECLAI_CONFIG)
    bool checkOnly = false;              // --check-config: report problems, start nothing
    std::vector<ConfigProblem> problems; // malformed lines, unknown keys, unreadable secret files, ...
    std::vector<SourcedFlag> sourced;    // the flags taken from the file and the environment
    QStringList commandLine;             // the real flags (without --config / --check-config)
};

// A key of the configuration: a long flag of declai-server.
struct ServerKey {
    QString flag;            // "max-sessions"
    bool takesValue = false; // false: a switch (true / false in the file)
    bool isPath = false;     // FILE or DIR: relative to the configuration file's folder when given there
};
// Every flag `declai-server --help` lists for serving (not the operator commands'), in its order.
const std::vector<ServerKey>& serverKeys();

// Reads --config FILE (or DECLAI_CONFIG) and the environment and builds the argument list. For an operator
// command (user, node, grant, ledger) only data_dir, ledger and ledger_postgres are taken from them.
// Fails only when the file cannot be read.
Expected<ServerSources> resolveServerSources(const QStringList& arguments, const QProcessEnvironment& env);

// Every problem of the sources: sources.problems, then each key's value checked on its own (reported at
// its file line, or naming its environment variable), then the whole combination (ServerConfig).
std::vector<ConfigProblem> checkServerSources(const ServerSources& sources);
// --check-config: prints every problem (one a line, FILE:LINE: ...) to err, or "configuration ok" to out;
// returns the exit status (0 ok, 1 problems).
int reportServerConfigCheck(const ServerSources& sources, std::FILE* out, std::FILE* err);

} // namespace declai::server
