// The INI configuration file shared by declai-server and declai-node (docs/configuration.md): sections,
// `key = value` lines, `#` or `;` comments. Read with every line's number kept, so each problem can be
// reported as FILE:LINE (QSettings, which NodeSettings also uses, keeps none). Reading collects every
// malformed line instead of stopping at the first; only an unreadable file is an error.
#pragma once

#include "declai/core/Error.h"

#include <QString>
#include <vector>

namespace declai {

struct ConfigEntry {
    QString section; // lower case, "" before the first [section]
    QString key;     // lower case
    QString value;   // trimmed; one pair of surrounding double quotes removed
    int line = 0;
};

struct ConfigProblem {
    QString file;
    int line = 0; // 0: not tied to a line (the file as a whole, an environment variable, a flag)
    QString message;
    // "FILE:LINE: message", "FILE: message" or just "message".
    QString text() const;
};

class ConfigFile {
public:
    // Unreadable or larger than 1 MiB: an error. Malformed lines and keys given twice become problems().
    static Expected<ConfigFile> read(const QString& path);
    static ConfigFile parse(const QString& path, const QByteArray& contents);

    const QString& path() const { return m_path; }
    const std::vector<ConfigEntry>& entries() const { return m_entries; }
    const std::vector<ConfigProblem>& problems() const { return m_problems; }
    // The entry for section/key (the last one when given twice), or nullptr.
    const ConfigEntry* find(const QString& section, const QString& key) const;
    // A problem at entry's line.
    ConfigProblem problemAt(const ConfigEntry& entry, const QString& message) const;

private:
    QString m_path;
    std::vector<ConfigEntry> m_entries;
    std::vector<ConfigProblem> m_problems;
};

} // namespace declai
