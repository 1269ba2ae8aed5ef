// The options of our command lines (declai-cli, declai-node, declai-server and its operator commands), built
// and read in one way: a number is range-checked here and a bad one is refused with one message naming the
// option ("--threads must be an integer in [0, 1024], got 'x'"), which each program turns into exit status 2.
// Nothing is ever cast from an out-of-range or non-finite value. QtCore only, so every program links it.
#pragma once

#include "declai/core/Error.h"

#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QStringList>
#include <cstdint>
#include <string>

namespace declai {

// An option named `names`; it takes a value named `valueName` when one is given, with `defaultValue` when an
// unset option still has a value. Our programs print their own usage text, so `help` is for the reader.
QCommandLineOption makeOption(const QStringList& names, const char* help, const char* valueName = nullptr,
                              const char* defaultValue = nullptr);
// The same, with a default computed by the caller (e.g. read from a default-constructed config struct, so
// what an unset flag means and what the help says cannot drift apart).
QCommandLineOption makeOption(const QStringList& names, const char* help, const char* valueName,
                              const QString& defaultValue);

// "-n" for a one-letter option, "--top-k" otherwise (its last, longest name).
std::string optionName(const QCommandLineOption& option);

// The option's value (its default when unset) as a whole number in [min, max]; "1e3" and "2.5" are refused:
// counts, sizes, times and seeds are integers.
Expected<int64_t> intOption(const QCommandLineParser& parser, const QCommandLineOption& option, int64_t min,
                            int64_t max);
// The option's value (its default when unset) as a finite number in [min, max].
Expected<double> floatOption(const QCommandLineParser& parser, const QCommandLineOption& option,
                             double min = -1e30, double max = 1e30);

// For options whose default lives in a config struct: when `option` was given, its value (as intOption) into
// `out`; otherwise `out` keeps the default it holds. [min, max] must fit in Int.
template <typename Int>
Expected<void> readIntOption(const QCommandLineParser& parser, const QCommandLineOption& option, int64_t min,
                             int64_t max, Int& out) {
    if (!parser.isSet(option))
        return {};
    auto value = intOption(parser, option, min, max);
    if (!value)
        return value.error();
    out = static_cast<Int>(*value);
    return {};
}
// The same for a finite number in [min, max].
inline Expected<void> readFloatOption(const QCommandLineParser& parser, const QCommandLineOption& option,
                                      double min, double max, double& out) {
    if (!parser.isSet(option))
        return {};
    auto value = floatOption(parser, option, min, max);
    if (!value)
        return value.error();
    out = *value;
    return {};
}

} // namespace declai
