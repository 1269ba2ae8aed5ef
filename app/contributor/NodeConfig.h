// declai-node's command line over its settings file: `--config FILE` is read first (only when given: a
// service passes its file explicitly, so a volunteer's desktop settings never leak into a server's node),
// then every flag given wins. Errors are values; nothing here exits.
#pragma once

#include "NodeSettings.h"

#include <QStringList>

namespace declai::node {

struct NodeCommandLine {
    NodeSettings settings;
    QString configFile; // the file read ("" when none)
    // An account API key (--account-key, or read from --account-key-file): the node binds itself to that
    // account at start (AccountBinder), so its verified earnings are credited there. Empty: unbound.
    QString accountKey;
    // --check-config: start nothing, report these (every problem of the file, environment and flags).
    bool checkOnly = false;
    std::vector<ConfigProblem> problems;
};

// arguments[0] is the program name. NotFound = --help was asked (print usage(), exit 0).
// env: DECLAI_<SECTION>_<KEY> variables over the settings file (NodeSettings::load), under the flags.
Expected<NodeCommandLine> parseNodeCommandLine(const QStringList& arguments,
                                               const QProcessEnvironment& env = QProcessEnvironment());
QString nodeUsage();

} // namespace declai::node
