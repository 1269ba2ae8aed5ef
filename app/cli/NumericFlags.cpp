#include "NumericFlags.h"

#include "declai/core/StrCat.h"

#include <limits>

namespace declai::cli {

SamplingFlags::SamplingFlags()
    : temp(makeOption({QStringLiteral("temp")}, "temperature", "T",
                      QString::number(SamplerConfig{}.temperature))),
      seed(makeOption({QStringLiteral("seed")}, "seed", "S", QString::number(SamplerConfig{}.seed))),
      topK(makeOption({QStringLiteral("top-k")}, "top-k", "K", QString::number(SamplerConfig{}.topK))),
      topP(makeOption({QStringLiteral("top-p")}, "top-p", "P", QString::number(SamplerConfig{}.topP))),
      minP(makeOption({QStringLiteral("min-p")}, "min-p", "P", QString::number(SamplerConfig{}.minP))),
      repeatPenalty(makeOption({QStringLiteral("repeat-penalty")}, "repetition penalty", "R",
                               QString::number(SamplerConfig{}.repeatPenalty))) {}

std::string SamplingFlags::defaultsText() {
    std::string text;
    for (const QCommandLineOption& option : SamplingFlags().all())
        text += strCat(text.empty() ? "" : ", ", optionName(option), " ",
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
