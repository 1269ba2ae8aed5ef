// How every declai-cli command ends: a runtime failure is exit status 1 and a usage error (an unknown or bad
// option, a missing argument) exit status 2, each with one line on stderr after "declai-cli: ". Numeric
// options come to usage() through intOption/floatOption (declai/core/CommandLineOptions.h), which name them.
#pragma once

#include <cstdio>
#include <string>

namespace declai::cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct CliIo {
    std::FILE* out;
    std::FILE* err;

    int fail(const std::string& message) const {
        std::fprintf(err, "declai-cli: %s\n", message.c_str());
        return kExitError;
    }
    int usage(const std::string& message) const {
        std::fprintf(err, "declai-cli: %s\n", message.c_str());
        return kExitUsage;
    }
};

} // namespace declai::cli
