// Start at login, the XDG way: $XDG_CONFIG_HOME/autostart/org.declai.Declai.desktop with
// `Exec=<this program> --minimized`. Small files; errors are values.
#pragma once

#include "declai/core/Error.h"

#include <QString>

namespace declai::desktop {

class Autostart {
public:
    // `configDir` = QStandardPaths::GenericConfigLocation (tests pass a temporary folder).
    explicit Autostart(QString configDir, QString program);
    QString filePath() const;
    bool isEnabled() const;
    Expected<void> setEnabled(bool enabled);

private:
    QString m_configDir;
    QString m_program;
};

} // namespace declai::desktop
