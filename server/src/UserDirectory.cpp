#include "declai/server/UserDirectory.h"

#include "declai/core/Identity.h"
#include "declai/core/StrCat.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <cctype>

namespace declai::server {
namespace {

std::string keyHash(const std::string& key) {
    return QCryptographicHash::hash(QByteArray::fromStdString(key), QCryptographicHash::Sha256)
        .toHex()
        .toStdString();
}

bool validName(const std::string& name) {
    if (name.empty() || name.size() > 64)
        return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
            return false;
    return true;
}

} // namespace

Expected<UserDirectory> UserDirectory::open(const QString& dataDir) {
    UserDirectory directory;
    directory.m_path = QDir(dataDir).filePath(QStringLiteral("users.json"));
    QFile file(directory.m_path);
    if (!file.exists())
        return directory;
    if (!file.open(QIODevice::ReadOnly))
        return makeError(ErrorCode::Io, strCat("cannot read '", directory.m_path.toStdString(),
                                               "': ", file.errorString().toStdString()));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (doc.isNull() || !doc.isObject())
        return makeError(ErrorCode::Format,
                         strCat("'", directory.m_path.toStdString(),
                                "' is not valid JSON: ", parseError.errorString().toStdString()));
    for (const QJsonValue& v : doc.object().value(QStringLiteral("users")).toArray()) {
        const std::string name = v.toObject().value(QStringLiteral("name")).toString().toStdString();
        const std::string hash = v.toObject().value(QStringLiteral("key_sha256")).toString().toStdString();
        if (!validName(name) || hash.size() != 64)
            return makeError(ErrorCode::Format,
                             strCat("'", directory.m_path.toStdString(), "' has a malformed user entry"));
        directory.m_keyHashToUser[hash] = name;
    }
    return directory;
}

bool UserDirectory::contains(const std::string& name) const {
    for (const auto& [hash, user] : m_keyHashToUser)
        if (user == name)
            return true;
    return false;
}

Expected<std::string> UserDirectory::addUser(const std::string& name) {
    if (!validName(name))
        return makeError(ErrorCode::InvalidArgument,
                         strCat("user name '", name, "' must be 1-64 letters, digits, '-', '_' or '.'"));
    if (contains(name))
        return makeError(ErrorCode::InvalidArgument, strCat("user '", name, "' already exists"));
    const std::string key =
        strCat("dk_", QByteArray::fromStdString(randomBytes(32))
                          .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals)
                          .toStdString());
    m_keyHashToUser[keyHash(key)] = name;
    if (auto saved = save(); !saved) {
        m_keyHashToUser.erase(keyHash(key));
        return saved.error();
    }
    return key;
}

Expected<std::string> UserDirectory::authenticate(const std::string& apiKey) const {
    if (apiKey.empty())
        return makeError(ErrorCode::InvalidArgument,
                         "an API key is required (--api-key KEY or DECLAI_API_KEY)");
    auto it = m_keyHashToUser.find(keyHash(apiKey));
    if (it == m_keyHashToUser.end())
        return makeError(ErrorCode::InvalidArgument, "unknown API key");
    return it->second;
}

Expected<void> UserDirectory::save() const {
    QJsonArray users;
    for (const auto& [hash, name] : m_keyHashToUser)
        users.append(QJsonObject{{QStringLiteral("name"), QString::fromStdString(name)},
                                 {QStringLiteral("key_sha256"), QString::fromStdString(hash)}});
    QDir().mkpath(QFileInfo(m_path).absolutePath());
    QSaveFile file(m_path);
    if (!file.open(QIODevice::WriteOnly))
        return makeError(ErrorCode::Io, strCat("cannot write '", m_path.toStdString(),
                                               "': ", file.errorString().toStdString()));
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    file.write(QJsonDocument(QJsonObject{{QStringLiteral("users"), users}}).toJson());
    if (!file.commit())
        return makeError(ErrorCode::Io, strCat("cannot write '", m_path.toStdString(),
                                               "': ", file.errorString().toStdString()));
    return {};
}

} // namespace declai::server
