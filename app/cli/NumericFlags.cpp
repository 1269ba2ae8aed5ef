#include "NumericFlags.h"

#include "declai/core/StrCat.h"

#include <cmath>
#include <limits>

namespace declai::cli {

std::string flagName(const QCommandLineOption& option) {
    const QString name = option.names().last();
    return (name.size() == 1 ? "-" : "--") + name.toStdString();
}

Expected<int64_t> intOption(const QCommandLineParser& parser, const QCommandLineOption& option, int64_t min,
                            int64_t max) {
    bool ok = false;
    const QString text = parser.value(option);
    const qlonglong value = text.toLongLong(&ok);
    if (!ok || value < min || value > max)
        return makeError(ErrorCode::InvalidArgument, flagName(option) + " must be an integer in [" +
                                                         std::to_string(min) + ", " + std::to_string(max) +
                                                         "], got '" + text.toStdString() + "'");
    return static_cast<int64_t>(value);
}

Expected<double> floatOption(const QCommandLineParser& parser, const QCommandLineOption& option, double min,
                             double max) {
    bool ok = false;
    const QString text = parser.value(option);
    const double value = text.toDouble(&ok);
    if (!ok || !std::isfinite(value))
        return makeError(ErrorCode::InvalidArgument,
                         flagName(option) + " must be a finite number, got '" + text.toStdString() + "'");
    if (value < min || value > max)
        return makeError(ErrorCode::InvalidArgument,
                         flagName(option) + " must be in [" + QString::number(min).toStdString() + ", " +
                             QString::number(max).toStdString() + "], got '" + text.toStdString() + "'");
    return value;
}

namespace {

QCommandLineOption samplingOption(const char* name, const char* help, const char* valueName,
                                  const QString& defaultValue) {
    return QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help),
                              QString::fromLatin1(valueName), defaultValue);
}

} // namespace

SamplingFlags::SamplingFlags()
    : temp(samplingOption("temp", "temperature", "T", QString::number(SamplerConfig{}.temperature))),
      seed(samplingOption("seed", "seed", "S", QString::number(SamplerConfig{}.seed))),
      topK(samplingOption("top-k", "top-k", "K", QString::number(SamplerConfig{}.topK))),
      topP(samplingOption("top-p", "top-p", "P", QString::number(SamplerConfig{}.topP))),
      minP(samplingOption("min-p", "min-p", "P", QString::number(SamplerConfig{}.minP))),
      repeatPenalty(samplingOption("repeat-penalty", "repetition penalty", "R",
                                   QString::number(SamplerConfig{}.repeatPenalty))) {}

std::string SamplingFlags::defaultsText() {
    std::string text;
    for (const QCommandLineOption& option : SamplingFlags().all())
        text += strCat(text.empty() ? "" : ", ", flagName(option), " ",
                       option.defaultValues().constFirst().toStdString());
    return text;
}

Expected<SamplerConfig> samplerFromFlags(const QCommandLineParser& parser, const SamplingFlags& flags) {
    auto seed = intOption(parser, flags.seed, 0, std::numeric_limits<int64_t>::max());
    if (!seed)
        return seed.error();
    auto topK = intOption(parser, flags.topK, -1, 1 << 24);
    if (!topK)
        return topK.error();
    // Ranges wide enough for every setting validate() accepts, narrow enough for the float casts below.
    auto temp = floatOption(parser, flags.temp, 0, 1e6);
    if (!temp)
        return makeError(ErrorCode::InvalidArgument, "sampling temperature: " + temp.error().message);
    auto topP = floatOption(parser, flags.topP, 0, 1);
    if (!topP)
        return topP.error();
    auto minP = floatOption(parser, flags.minP, -1e6, 1);
    if (!minP)
        return minP.error();
    auto penalty = floatOption(parser, flags.repeatPenalty, 0, 1e6);
    if (!penalty)
        return penalty.error();
    SamplerConfig config;
    config.temperature = static_cast<float>(*temp);
    config.seed = static_cast<uint64_t>(*seed);
    config.topK = static_cast<int32_t>(*topK);
    config.topP = static_cast<float>(*topP);
    config.minP = static_cast<float>(*minP);
    config.repeatPenalty = static_cast<float>(*penalty);
    if (auto valid = validate(config); !valid)
        return valid.error();
    return config;
}

} // namespace declai::cli
