#include "declai/core/ConfigFile.h"

#include <QFile>
#include <QFileInfo>
#include <set>

namespace declai {

namespace {

constexpr qint64 kMaxConfigBytes = 1 << 20;

} // namespace

QString ConfigProblem::text() const {
    if (file.isEmpty())
        return message;
    if (line <= 0)
        return QStringLiteral("%1: %2").arg(file, message);
    return QStringLiteral("%1:%2: %3").arg(file).arg(line).arg(message);
}

Expected<ConfigFile> ConfigFile::read(const QString& path) {
    QFile file(path);
    if (!QFileInfo(path).isFile() || !file.open(QIODevice::ReadOnly))
        return makeError(ErrorCode::Io,
                         QStringLiteral("%1: cannot read the configuration file").arg(path).toStdString());
    if (file.size() > kMaxConfigBytes)
        return makeError(
            ErrorCode::Io,
            QStringLiteral("%1: larger than 1 MiB, not a configuration file").arg(path).toStdString());
    return parse(path, file.readAll());
}

ConfigFile ConfigFile::parse(const QString& path, const QByteArray& contents) {
    ConfigFile config;
    config.m_path = path;
    QString section;
    std::set<std::pair<QString, QString>> seen;
    const QList<QByteArray> lines = contents.split('\n');
    for (int i = 0; i < lines.size(); ++i) {
        const int lineNumber = i + 1;
        const QString line = QString::fromUtf8(lines[i]).trimmed();
        if (line.isEmpty() || line.startsWith(QLatin1Char('#')) || line.startsWith(QLatin1Char(';')))
            continue;
        auto problem = [&](const QString& message) {
            config.m_problems.push_back(ConfigProblem{path, lineNumber, message});
        };
        if (line.startsWith(QLatin1Char('['))) {
            if (!line.endsWith(QLatin1Char(']')) || line.size() < 3) {
                problem(QStringLiteral("'%1' is not a [section] line").arg(line));
                continue;
            }
            section = line.mid(1, line.size() - 2).trimmed().toLower();
            continue;
        }
        const int eq = line.indexOf(QLatin1Char('='));
        if (eq <= 0) {
            problem(QStringLiteral("'%1' is not key = value").arg(line));
            continue;
        }
        ConfigEntry entry;
        entry.section = section;
        entry.key = line.left(eq).trimmed().toLower();
        entry.value = line.mid(eq + 1).trimmed();
        if (entry.value.size() >= 2 && entry.value.startsWith(QLatin1Char('"')) &&
            entry.value.endsWith(QLatin1Char('"')))
            entry.value = entry.value.mid(1, entry.value.size() - 2);
        entry.line = lineNumber;
        if (!seen.insert({entry.section, entry.key}).second)
            problem(QStringLiteral("key '%1' is given twice in [%2]").arg(entry.key, entry.section));
        config.m_entries.push_back(std::move(entry));
    }
    return config;
}

const ConfigEntry* ConfigFile::find(const QString& section, const QString& key) const {
    const ConfigEntry* found = nullptr;
    for (const ConfigEntry& e : m_entries)
        if (e.section == section && e.key == key)
            found = &e;
    return found;
}

ConfigProblem ConfigFile::problemAt(const ConfigEntry& entry, const QString& message) const {
    return ConfigProblem{m_path, entry.line, message};
}

} // namespace declai
