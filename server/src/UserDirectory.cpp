#include "declai/server/UserDirectory.h"

#include "declai/core/StrCat.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace declai::server {

Expected<std::vector<std::pair<std::string, std::string>>> readLegacyUsers(const QString& dataDir) {
    const QString path = QDir(dataDir).filePath(QStringLiteral("users.json"));
    std::vector<std::pair<std::string, std::string>> entries;
    QFile file(path);
    if (!file.exists())
        return entries;
    if (!file.open(QIODevice::ReadOnly))
        return makeError(ErrorCode::Io, strCat("cannot read '", path.toStdString(),
                                               "': ", file.errorString().toStdString()));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(file.read(64 << 20), &parseError);
    if (doc.isNull() || !doc.isObject())
        return makeError(ErrorCode::Format, strCat("'", path.toStdString(), "' is not valid JSON: ",
                                                   parseError.errorString().toStdString()));
    for (const QJsonValue& v : doc.object().value(QStringLiteral("users")).toArray()) {
        const std::string name = v.toObject().value(QStringLiteral("name")).toString().toStdString();
        const std::string hash = v.toObject().value(QStringLiteral("key_sha256")).toString().toStdString();
        if (!credit::AccountStore::checkName(name) || hash.size() != 64)
            return makeError(ErrorCode::Format,
                             strCat("'", path.toStdString(), "' has a malformed user entry"));
        entries.emplace_back(name, hash);
    }
    return entries;
}

Expected<int> migrateLegacyUsers(const QString& dataDir, credit::AccountStore& accounts) {
    auto entries = readLegacyUsers(dataDir);
    if (!entries)
        return entries.error();
    const QString path = QDir(dataDir).filePath(QStringLiteral("users.json"));
    if (!QFile::exists(path))
        return 0;
    auto created = accounts.importLegacyUsers(*entries);
    if (!created)
        return makeError(created.error().code,
                         strCat("migrating '", path.toStdString(),
                                "' into the ledger database: ", created.error().message));
    const QString done = path + QStringLiteral(".migrated");
    QFile::remove(done);
    if (!QFile::rename(path, done))
        return makeError(ErrorCode::Io, strCat("migrated '", path.toStdString(),
                                               "' but cannot rename it to '", done.toStdString(), "'"));
    return *created;
}

} // namespace declai::server
