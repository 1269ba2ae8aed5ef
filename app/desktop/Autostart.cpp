#include "Autostart.h"

#include <QDir>
#include <QFileInfo>
#include <QSaveFile>

namespace declai::desktop {

Autostart::Autostart(QString configDir, QString program)
    : m_configDir(std::move(configDir)), m_program(std::move(program)) {}

QString Autostart::filePath() const {
    return QDir(m_configDir).filePath(QStringLiteral("autostart/org.declai.Declai.desktop"));
}

bool Autostart::isEnabled() const {
    return QFile::exists(filePath());
}

Expected<void> Autostart::setEnabled(bool enabled) {
    const QString path = filePath();
    if (!enabled) {
        if (QFile::exists(path) && !QFile::remove(path))
            return makeError(ErrorCode::Io, QStringLiteral("cannot remove %1").arg(path).toStdString());
        return {};
    }
    if (!QDir().mkpath(QFileInfo(path).absolutePath()))
        return makeError(
            ErrorCode::Io,
            QStringLiteral("cannot create %1").arg(QFileInfo(path).absolutePath()).toStdString());
    // Exec quoting per the Desktop Entry specification: the program in double quotes, '"', '`', '$' and
    // '\\' escaped.
    QString program = m_program;
    for (const QChar c : {QLatin1Char('\\'), QLatin1Char('"'), QLatin1Char('`'), QLatin1Char('$')})
        program.replace(c, QStringLiteral("\\") + c);
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return makeError(ErrorCode::Io,
                         QStringLiteral("cannot write %1: %2").arg(path, file.errorString()).toStdString());
    const QString entry = QStringLiteral("[Desktop Entry]\nType=Application\nName=DeCLAI\n"
                                         "Comment=Contribute to the DeCLAI network in the background\n"
                                         "Exec=\"%1\" --minimized\nIcon=org.declai.Declai\nTerminal=false\n"
                                         "X-GNOME-Autostart-enabled=true\n")
                              .arg(program);
    file.write(entry.toUtf8());
    if (!file.commit())
        return makeError(ErrorCode::Io,
                         QStringLiteral("cannot write %1: %2").arg(path, file.errorString()).toStdString());
    return {};
}

} // namespace declai::desktop
