// The numeric options that `generate` and `submit` share, parsed and range-checked in one place so both
// refuse the same values with the same message naming the option. A failure is a usage error (exit 2);
// nothing is ever cast from an out-of-range or non-finite double.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/Sampler.h"

#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QList>
#include <cstdint>
#include <string>

namespace declai::cli {

// "-n" for a one-letter option, "--top-k" otherwise (its last, longest name).
std::string flagName(const QCommandLineOption& option);
// A whole number in [min, max] ("1e3" or "2.5" are refused: counts and seeds are integers).
Expected<int64_t> intOption(const QCommandLineParser& parser, const QCommandLineOption& option, int64_t min,
                            int64_t max);
// A finite number in [min, max].
Expected<double> floatOption(const QCommandLineParser& parser, const QCommandLineOption& option,
                             double min = -1e30, double max = 1e30);

// The sampling options of generate and submit. Their defaults are read from SamplerConfig{}, the one place
// they are defined, so what an unset flag means and what the help says cannot drift apart.
struct SamplingFlags {
    SamplingFlags();
    QCommandLineOption temp;
    QCommandLineOption seed;
    QCommandLineOption topK;
    QCommandLineOption topP;
    QCommandLineOption minP;
    QCommandLineOption repeatPenalty;

    QList<QCommandLineOption> all() const { return {temp, seed, topK, topP, minP, repeatPenalty}; }
    // For usage text: "--temp 0 (greedy), --seed 0, --top-k 40, ..." from SamplerConfig{}.
    static std::string defaultsText();
};
// The sampler settings of both commands, each option range-checked, then validate(SamplerConfig).
Expected<SamplerConfig> samplerFromFlags(const QCommandLineParser& parser, const SamplingFlags& flags);

} // namespace declai::cli
