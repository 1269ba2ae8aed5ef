#include "declai/core/CommandLineOptions.h"

#include <cmath>

namespace declai {

QCommandLineOption makeOption(const QStringList& names, const char* help, const char* valueName,
                              const char* defaultValue) {
    return makeOption(names, help, valueName, defaultValue ? QString::fromLatin1(defaultValue) : QString());
}

QCommandLineOption makeOption(const QStringList& names, const char* help, const char* valueName,
                              const QString& defaultValue) {
    QCommandLineOption option(names, QString::fromLatin1(help));
    if (valueName)
        option.setValueName(QString::fromLatin1(valueName));
    if (!defaultValue.isNull())
        option.setDefaultValue(defaultValue);
    return option;
}

std::string optionName(const QCommandLineOption& option) {
    const QString name = option.names().last();
    return (name.size() == 1 ? "-" : "--") + name.toStdString();
}

Expected<int64_t> intOption(const QCommandLineParser& parser, const QCommandLineOption& option, int64_t min,
                            int64_t max) {
    bool ok = false;
    const QString text = parser.value(option);
    const qlonglong value = text.toLongLong(&ok);
    if (!ok || value < min || value > max)
        return makeError(ErrorCode::InvalidArgument, optionName(option) + " must be an integer in [" +
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
                         optionName(option) + " must be a finite number, got '" + text.toStdString() + "'");
    if (value < min || value > max)
        return makeError(ErrorCode::InvalidArgument,
                         optionName(option) + " must be in [" + QString::number(min).toStdString() + ", " +
                             QString::number(max).toStdString() + "], got '" + text.toStdString() + "'");
    return value;
}

} // namespace declai
