// declai-node's whole program, as a function: the shipped main.cpp calls it with no options; the test-only
// node (tests/support/declai-test-node) passes a hook that takes its own test flags and returns the compute
// hooks that make it slow or dishonest. The shipped binary has no test behaviour and knows no test flag.
#pragma once

#include "ComputeHooks.h"
#include "declai/core/Error.h"

#include <QStringList>
#include <functional>
#include <memory>

namespace declai::node {

struct NodeMainOptions {
    // Removes the options it knows from `arguments` and returns the hooks they ask for (null for none); an
    // error is a usage error (exit status 2).
    std::function<Expected<std::shared_ptr<ComputeHooks>>(QStringList& arguments)> takeTestOptions;
};

// SIGINT/SIGTERM: the first stops gracefully (no new sessions, running ones finish within --drain-grace-s),
// the second leaves at once. Exit status 0 after a stop, 1 on a fatal error, 2 on a usage error.
int runNodeMain(int argc, char** argv, const NodeMainOptions& options = {});

} // namespace declai::node
