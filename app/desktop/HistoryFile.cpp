#include "HistoryFile.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace declai::desktop {

namespace {

// Keeps the unreadable file for a look (replacing an older one) and says where it went.
QString moveAside(const QString& path, const QString& why) {
    const QString aside = path + QStringLiteral(".corrupt");
    QFile::remove(aside);
    if (!QFile::rename(path, aside))
        return QCoreApplication::translate(
                   "HistoryFile", "%1 could not be read (%2) and was not kept; a fresh history starts.")
            .arg(path, why);
    return QCoreApplication::translate(
               "HistoryFile", "%1 could not be read (%2); it was kept as %3 and a fresh history starts.")
        .arg(QFileInfo(path).fileName(), why, aside);
}

} // namespace

HistoryRead readHistoryFile(const QString& path, qint64 maxBytes) {
    HistoryRead out;
    QFile file(path);
    if (!file.exists())
        return out;
    if (file.size() > maxBytes) {
        out.problem = moveAside(
            path,
            QCoreApplication::translate("HistoryFile", "larger than %1 MiB").arg(maxBytes / (1024 * 1024)));
        return out;
    }
    if (!file.open(QIODevice::ReadOnly)) {
        out.problem = QCoreApplication::translate("HistoryFile",
                                                  "%1 could not be opened (%2); the history starts empty.")
                          .arg(path, file.errorString());
        return out;
    }
    const QByteArray bytes = file.readAll();
    file.close();
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(bytes, &error);
    if (error.error != QJsonParseError::NoError) {
        out.problem = moveAside(path, error.errorString());
        return out;
    }
    if (!doc.isArray()) {
        out.problem = moveAside(path, QCoreApplication::translate("HistoryFile", "not a list"));
        return out;
    }
    for (const QJsonValue& v : doc.array()) {
        if (!v.isObject()) {
            out.problem =
                moveAside(path, QCoreApplication::translate("HistoryFile", "an entry is not an object"));
            return HistoryRead{QJsonArray(), out.problem};
        }
    }
    out.items = doc.array();
    return out;
}

QString writeHistoryFile(const QString& path, const QJsonArray& items) {
    if (!QDir().mkpath(QFileInfo(path).absolutePath()))
        return QCoreApplication::translate("HistoryFile", "cannot create the folder of %1").arg(path);
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return file.errorString();
    file.write(QJsonDocument(items).toJson(QJsonDocument::Compact));
    if (!file.commit())
        return file.errorString();
    return QString();
}

} // namespace declai::desktop
