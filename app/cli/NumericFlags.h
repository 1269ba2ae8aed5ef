// The sampling options that `generate` and `submit` share, parsed and range-checked in one place so both
// refuse the same values with the same message naming the option (intOption/floatOption of
// declai/core/CommandLineOptions.h, which every program uses). A failure is a usage error (exit 2).
#pragma once

#include "declai/core/CommandLineOptions.h"
#include "declai/core/Error.h"
#include "declai/core/Sampler.h"

#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QList>
#include <cstdint>
#include <string>

namespace declai::cli {

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
