#include "NodeSettings.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSettings>
#include <QStandardPaths>
#include <functional>
#include <map>
#include <optional>

namespace declai::node {
namespace {

constexpr qlonglong kMaxMegabytes = 1ll << 30;

Error keyError(const QString& key, const QString& why) {
    return makeError(ErrorCode::InvalidArgument, QStringLiteral("key '%1': %2").arg(key, why).toStdString());
}

Error fileError(const QString& file, const Error& e) {
    return makeError(e.code, QDir::toNativeSeparators(file).toStdString() + ": " + e.message);
}

std::optional<bool> parseBool(const QString& text) {
    const QString s = text.trimmed().toLower();
    if (s == QStringLiteral("true") || s == QStringLiteral("1") || s == QStringLiteral("yes"))
        return true;
    if (s == QStringLiteral("false") || s == QStringLiteral("0") || s == QStringLiteral("no"))
        return false;
    return std::nullopt;
}

} // namespace

Expected<QList<QUrl>> parseGatewayList(const QString& text) {
    QList<QUrl> urls;
    for (const QString& item : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const QString trimmed = item.trimmed();
        if (trimmed.isEmpty())
            continue;
        const QUrl url(trimmed, QUrl::StrictMode);
        if (!url.isValid())
            return makeError(ErrorCode::InvalidArgument,
                             QStringLiteral("'%1' is not a URL").arg(trimmed).toStdString());
        if (urls.contains(url))
            return makeError(ErrorCode::InvalidArgument,
                             QStringLiteral("'%1' is listed twice").arg(trimmed).toStdString());
        urls.append(url);
    }
    if (urls.isEmpty())
        return makeError(ErrorCode::InvalidArgument, "no gateway URL is given");
    if (urls.size() > 64)
        return makeError(ErrorCode::InvalidArgument, "more than 64 gateways");
    return urls;
}

Expected<void> ResourceBudgets::validate() const {
    if (threads < 0 || threads > 1024)
        return keyError(QStringLiteral("budgets/threads"),
                        QStringLiteral("%1 is outside [0, 1024]").arg(threads));
    if ((memoryBytes >> 20) > uint64_t(kMaxMegabytes))
        return keyError(QStringLiteral("budgets/memory_mb"), QStringLiteral("more than 2^30 MiB"));
    if (diskBytes < (1u << 20) || (diskBytes >> 20) > uint64_t(kMaxMegabytes))
        return keyError(QStringLiteral("budgets/disk_mb"), QStringLiteral("must be in [1, 2^30] MiB"));
    if (maxSessions < 1 || maxSessions > 100000)
        return keyError(QStringLiteral("budgets/max_sessions"),
                        QStringLiteral("%1 is outside [1, 100000]").arg(maxSessions));
    for (const QString& d : enabledDevices)
        if (d.trimmed().isEmpty() || d.contains(QLatin1Char(' ')))
            return keyError(QStringLiteral("budgets/devices"),
                            QStringLiteral("'%1' is not a device id").arg(d));
    return {};
}

QString NodeSettings::defaultPath() {
    // The generic config folder (not the per-application one) so that declai-node and the app share it.
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation))
        .filePath(QStringLiteral("declai/node.ini"));
}

QString NodeSettings::defaultDataDir() {
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation))
        .filePath(QStringLiteral("declai/node"));
}

QList<QUrl> NodeSettings::gateways() const {
    return QList<QUrl>{serverUrl} + otherGateways;
}

Expected<void> NodeSettings::validate() const {
    for (const QUrl& url : gateways()) {
        const QString scheme = url.scheme();
        if (!url.isValid() || url.host().isEmpty() || url.port() <= 0 ||
            (scheme != QStringLiteral("wss") && scheme != QStringLiteral("ws")))
            return keyError(QStringLiteral("server/url"),
                            QStringLiteral("'%1' is not wss://HOST:PORT").arg(url.toString()));
        if (scheme == QStringLiteral("ws") && !tls.insecureDev)
            return keyError(
                QStringLiteral("server/url"),
                QStringLiteral("plaintext ws:// is refused unless --insecure-dev is given (use wss://)"));
    }
    if (dataDir.isEmpty())
        return keyError(QStringLiteral("node/data_dir"), QStringLiteral("no data folder is set"));
    if (auto b = budgets.validate(); !b)
        return b.error();
    if (auto r = rules.validate(); !r)
        return keyError(QStringLiteral("rules"), QString::fromStdString(r.error().message));
    if (sessionIdleTimeoutMs < 1000 || sessionIdleTimeoutMs > 86400000)
        return keyError(QStringLiteral("node/session_idle_timeout_s"),
                        QStringLiteral("must be in [1, 86400]"));
    if (statusIntervalMs < 100 || statusIntervalMs > 3600000)
        return keyError(QStringLiteral("node/status_interval_s"), QStringLiteral("must be in [0.1, 3600]"));
    if (drainGraceMs < 0 || drainGraceMs > 86400000)
        return keyError(QStringLiteral("node/drain_grace_s"), QStringLiteral("must be in [0, 86400]"));
    return {};
}

const QStringList& NodeSettings::keys() {
    static const QStringList list{QStringLiteral("server/url"),
                                  QStringLiteral("server/ca_file"),
                                  QStringLiteral("server/pin"),
                                  QStringLiteral("server/insecure_dev"),
                                  QStringLiteral("node/data_dir"),
                                  QStringLiteral("node/session_idle_timeout_s"),
                                  QStringLiteral("node/status_interval_s"),
                                  QStringLiteral("node/drain_grace_s"),
                                  QStringLiteral("node/prefault"),
                                  QStringLiteral("node/account_key_file"),
                                  QStringLiteral("budgets/threads"),
                                  QStringLiteral("budgets/memory_mb"),
                                  QStringLiteral("budgets/disk_mb"),
                                  QStringLiteral("budgets/max_sessions"),
                                  QStringLiteral("budgets/devices")};
    return list;
}

Expected<NodeSettings> NodeSettings::load(const QString& file) {
    return load(file, QProcessEnvironment());
}

Expected<NodeSettings> NodeSettings::load(const QString& file, const QProcessEnvironment& env,
                                          const QStringList& skip) {
    NodeSettings s;
    // The environment's values, by key (DECLAI_SERVER_URL -> server/url).
    std::map<QString, QString> overrides;
    for (const QString& key : keys()) {
        const QString variable =
            QStringLiteral("DECLAI_") + QString(key).replace(QLatin1Char('/'), QLatin1Char('_')).toUpper();
        if (!env.value(variable).isEmpty() && !skip.contains(key))
            overrides[key] = env.value(variable).trimmed();
    }
    const bool fromFile = !file.isEmpty() && QFile::exists(file); // missing: a first run, the defaults
    const QFileInfo info(file);
    if (fromFile && (!info.isFile() || !info.isReadable()))
        return makeError(ErrorCode::Io, QStringLiteral("%1: cannot read the settings file")
                                            .arg(QDir::toNativeSeparators(file))
                                            .toStdString());
    // Without a file QSettings reads an empty one in memory's place: a path that cannot exist.
    QSettings ini(fromFile ? file : QStringLiteral("/nonexistent/declai-no-settings.ini"),
                  QSettings::IniFormat);
    if (fromFile && ini.status() != QSettings::NoError)
        return makeError(
            ErrorCode::Format,
            QStringLiteral("%1: not a valid INI file").arg(QDir::toNativeSeparators(file)).toStdString());
    const QDir base = fromFile ? info.absoluteDir() : QDir::current();
    auto fromEnv = [&](const char* key) { return overrides.count(QLatin1StringView(key)) > 0; };
    auto text = [&](const char* key) {
        if (fromEnv(key))
            return overrides.at(QLatin1StringView(key));
        return ini.value(QLatin1StringView(key)).toString().trimmed();
    };
    // A list key: QSettings reads "a, b" as a list and "a" as a string, a quoted "a,b" as one string.
    auto listText = [&](const char* key) {
        if (fromEnv(key))
            return overrides.at(QLatin1StringView(key));
        return ini.value(QLatin1StringView(key)).toStringList().join(u',');
    };
    auto has = [&](const char* key) {
        return !skip.contains(QLatin1StringView(key)) &&
               (fromEnv(key) || ini.contains(QLatin1StringView(key)));
    };
    auto path = [&](const char* key) {
        const QString p = text(key);
        return p.isEmpty() ? p
                           : QDir::cleanPath(fromEnv(key) ? QDir::current().absoluteFilePath(p)
                                                          : base.absoluteFilePath(p));
    };
    auto fail = [&](const char* key, const QString& why) {
        const Error e = keyError(QLatin1StringView(key), why);
        if (fromEnv(key))
            return makeError(e.code, QStringLiteral("DECLAI_%1: ")
                                             .arg(QString::fromLatin1(key).replace(u'/', u'_').toUpper())
                                             .toStdString() +
                                         e.message);
        return fileError(file, e);
    };

    if (has("server/url")) {
        // One gateway, or several of one network, comma-separated.
        auto urls = parseGatewayList(listText("server/url"));
        if (!urls)
            return fail("server/url", QString::fromStdString(urls.error().message));
        s.serverUrl = urls->first();
        s.otherGateways = urls->mid(1);
    }
    if (has("server/ca_file"))
        s.tls.caFile = path("server/ca_file");
    if (has("server/pin"))
        s.tls.pinnedFingerprint = text("server/pin");
    if (has("node/data_dir"))
        s.dataDir = path("node/data_dir");
    if (has("node/account_key_file"))
        s.accountKeyFile = path("node/account_key_file");
    struct BoolKey {
        const char* key;
        bool* target;
    };
    for (const BoolKey& k :
         {BoolKey{"server/insecure_dev", &s.tls.insecureDev}, BoolKey{"node/prefault", &s.prefault}}) {
        if (!has(k.key))
            continue;
        auto v = parseBool(text(k.key));
        if (!v)
            return fail(k.key, QStringLiteral("'%1' is not true or false").arg(text(k.key)));
        *k.target = *v;
    }
    struct IntKey {
        const char* key;
        qlonglong min, max;
        std::function<void(qlonglong)> set;
    };
    const IntKey ints[] = {
        {"budgets/threads", 0, 1024, [&](qlonglong v) { s.budgets.threads = int(v); }},
        {"budgets/memory_mb", 0, kMaxMegabytes,
         [&](qlonglong v) { s.budgets.memoryBytes = uint64_t(v) << 20; }},
        {"budgets/disk_mb", 1, kMaxMegabytes, [&](qlonglong v) { s.budgets.diskBytes = uint64_t(v) << 20; }},
        {"budgets/max_sessions", 1, 100000, [&](qlonglong v) { s.budgets.maxSessions = int(v); }},
        {"node/session_idle_timeout_s", 1, 86400,
         [&](qlonglong v) { s.sessionIdleTimeoutMs = int(v * 1000); }},
        {"node/drain_grace_s", 0, 86400, [&](qlonglong v) { s.drainGraceMs = int(v * 1000); }},
        {"node/status_interval_s", 1, 3600, [&](qlonglong v) { s.statusIntervalMs = int(v * 1000); }},
    };
    for (const IntKey& k : ints) {
        if (!has(k.key))
            continue;
        bool ok = false;
        const qlonglong v = text(k.key).toLongLong(&ok);
        if (!ok || v < k.min || v > k.max)
            return fail(
                k.key,
                QStringLiteral("'%1' is not an integer in [%2, %3]").arg(text(k.key)).arg(k.min).arg(k.max));
        k.set(v);
    }
    if (has("budgets/devices")) {
        // QSettings reads "a, b" as a list and "a" as a string; toStringList handles both.
        // A quoted "a,b" comes back as one string: split it too.
        QStringList devices;
        for (const QString& d : listText("budgets/devices").split(QLatin1Char(',')))
            if (!d.trimmed().isEmpty())
                devices.append(d.trimmed());
        s.budgets.enabledDevices = devices;
    }
    ini.beginGroup(QStringLiteral("rules"));
    QVariantMap ruleValues;
    for (const QString& key : ini.childKeys())
        ruleValues.insert(key, ini.value(key));
    ini.endGroup();
    auto rules = ContributionRules::fromVariantMap(ruleValues);
    if (!rules)
        return fileError(file, makeError(rules.error().code, "[rules] " + rules.error().message));
    s.rules = *rules;
    if (auto b = s.budgets.validate(); !b)
        return fileError(file, b.error());
    return s;
}

Expected<void> NodeSettings::save(const QString& file) const {
    const QFileInfo info(file);
    if (!QDir().mkpath(info.absolutePath()))
        return makeError(
            ErrorCode::Io,
            QStringLiteral("%1: cannot create the folder").arg(info.absolutePath()).toStdString());
    QSettings ini(file, QSettings::IniFormat);
    ini.clear();
    QStringList urls;
    for (const QUrl& url : gateways())
        urls.append(url.toString());
    ini.setValue(QStringLiteral("server/url"), urls.join(QStringLiteral(", ")));
    ini.setValue(QStringLiteral("server/ca_file"), tls.caFile);
    ini.setValue(QStringLiteral("server/pin"), tls.pinnedFingerprint);
    ini.setValue(QStringLiteral("server/insecure_dev"), tls.insecureDev);
    ini.setValue(QStringLiteral("node/data_dir"), dataDir);
    ini.setValue(QStringLiteral("node/session_idle_timeout_s"), sessionIdleTimeoutMs / 1000);
    ini.setValue(QStringLiteral("node/status_interval_s"), std::max(1, statusIntervalMs / 1000));
    ini.setValue(QStringLiteral("node/drain_grace_s"), drainGraceMs / 1000);
    ini.setValue(QStringLiteral("node/prefault"), prefault);
    ini.setValue(QStringLiteral("node/account_key_file"), accountKeyFile);
    ini.setValue(QStringLiteral("budgets/threads"), budgets.threads);
    ini.setValue(QStringLiteral("budgets/memory_mb"), qulonglong(budgets.memoryBytes >> 20));
    ini.setValue(QStringLiteral("budgets/disk_mb"), qulonglong(budgets.diskBytes >> 20));
    ini.setValue(QStringLiteral("budgets/max_sessions"), budgets.maxSessions);
    ini.setValue(QStringLiteral("budgets/devices"), budgets.enabledDevices);
    const QVariantMap rulesMap = rules.toVariantMap();
    for (auto it = rulesMap.begin(); it != rulesMap.end(); ++it)
        ini.setValue(QStringLiteral("rules/") + it.key(), it.value());
    ini.sync();
    if (ini.status() != QSettings::NoError)
        return makeError(ErrorCode::Io, QStringLiteral("%1: cannot write the settings file")
                                            .arg(QDir::toNativeSeparators(file))
                                            .toStdString());
    return {};
}

std::vector<ConfigProblem> NodeSettings::check(const QString& file, const QProcessEnvironment& env) {
    std::vector<ConfigProblem> problems;
    std::optional<ConfigFile> parsed;
    if (!file.isEmpty()) {
        auto read = ConfigFile::read(file);
        if (!read)
            return {ConfigProblem{QString(), 0, QString::fromStdString(read.error().message)}};
        parsed = std::move(*read);
        problems = parsed->problems();
        for (const ConfigEntry& e : parsed->entries()) {
            // [gateway] is declai-server's part of a shared file; [rules] is checked by ContributionRules.
            if (e.section == QStringLiteral("gateway") || e.section == QStringLiteral("rules"))
                continue;
            const QString key = e.section + QLatin1Char('/') + e.key;
            if (!keys().contains(key))
                problems.push_back(parsed->problemAt(e, QStringLiteral("unknown key '%1'").arg(key)));
        }
    }
    // load() stops at the first bad value: leave each one out in turn, so that every one is reported.
    static const QRegularExpression keyRe(QStringLiteral("key '([a-z_]+)/([a-z_0-9]+)'"));
    QStringList skip;
    for (int round = 0; round <= keys().size(); ++round) {
        auto loaded = load(file, env, skip);
        if (loaded)
            break;
        QString message = QString::fromStdString(loaded.error().message);
        const auto m = keyRe.match(message);
        const QString key = m.hasMatch() ? m.captured(1) + QLatin1Char('/') + m.captured(2) : QString();
        if (key.isEmpty() || skip.contains(key)) {
            problems.push_back(ConfigProblem{QString(), 0, message});
            break;
        }
        skip.append(key);
        const ConfigEntry* entry = parsed ? parsed->find(m.captured(1), m.captured(2)) : nullptr;
        const QString prefix = QDir::toNativeSeparators(file) + QStringLiteral(": ");
        if (entry && message.startsWith(prefix))
            problems.push_back(parsed->problemAt(*entry, message.mid(prefix.size())));
        else
            problems.push_back(ConfigProblem{QString(), 0, message});
    }
    return problems;
}

} // namespace declai::node
