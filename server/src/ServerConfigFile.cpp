#include "declai/server/ServerConfigFile.h"

#include "declai/core/Identity.h"
#include "declai/server/ServerConfig.h"

#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <set>

namespace declai::server {
namespace {

constexpr const char* kSection = "gateway";

std::optional<bool> parseSwitch(const QString& text) {
    const QString s = text.trimmed().toLower();
    if (s == QStringLiteral("true") || s == QStringLiteral("yes") || s == QStringLiteral("on") ||
        s == QStringLiteral("1"))
        return true;
    if (s == QStringLiteral("false") || s == QStringLiteral("no") || s == QStringLiteral("off") ||
        s == QStringLiteral("0"))
        return false;
    return std::nullopt;
}

QString keyOf(const QString& flag) {
    return QString(flag).replace(QLatin1Char('-'), QLatin1Char('_'));
}

QString variableOf(const QString& key) {
    return QStringLiteral("DECLAI_") + key.toUpper();
}

const ServerKey* findKey(const QString& flag) {
    for (const ServerKey& k : serverKeys())
        if (k.flag == flag)
            return &k;
    return nullptr;
}

bool isAdminCommand(const QStringList& arguments) {
    if (arguments.size() < 2)
        return false;
    const QString& c = arguments[1];
    return c == QStringLiteral("user") || c == QStringLiteral("node") || c == QStringLiteral("grant") ||
           c == QStringLiteral("ledger");
}

} // namespace

const std::vector<ServerKey>& serverKeys() {
    // Read from the help text, which ServerConfig::usage() builds from the defaults: a flag added there is a
    // configuration key at once, with no second list to keep in step. A flag followed by one space and an
    // upper-case placeholder (N, FILE, HOST:PORT) or a choice (f32|f16) takes a value; others are switches.
    static const std::vector<ServerKey> keys = [] {
        std::vector<ServerKey> out;
        QString help = ServerConfig::usage();
        help = help.left(help.indexOf(QStringLiteral("\noperator commands")));
        static const QRegularExpression flagRe(
            QStringLiteral("--([a-z][a-z0-9-]*)( ([A-Z][A-Z0-9:_]*|[a-z0-9]+(\\|[a-z0-9]+)+)\\b)?"));
        std::set<QString> seen{QStringLiteral("help"), QStringLiteral("version"), QStringLiteral("config"),
                               QStringLiteral("check-config")};
        for (auto it = flagRe.globalMatch(help); it.hasNext();) {
            const auto m = it.next();
            if (!seen.insert(m.captured(1)).second)
                continue;
            const QString placeholder = m.captured(3);
            out.push_back(
                ServerKey{m.captured(1), !placeholder.isEmpty(),
                          placeholder == QStringLiteral("FILE") || placeholder == QStringLiteral("DIR")});
        }
        return out;
    }();
    return keys;
}

Expected<ServerSources> resolveServerSources(const QStringList& arguments, const QProcessEnvironment& env) {
    ServerSources out;
    const bool admin = isAdminCommand(arguments);
    const std::set<QString> adminFlags{QStringLiteral("data-dir"), QStringLiteral("ledger"),
                                       QStringLiteral("ledger-postgres")};
    auto allowed = [&](const QString& flag) { return !admin || adminFlags.count(flag) > 0; };
    // --config and --check-config are ours; everything else is passed on untouched.
    for (int i = 1; i < arguments.size(); ++i) {
        const QString& a = arguments[i];
        if (a == QStringLiteral("--check-config")) {
            out.checkOnly = true;
        } else if (a == QStringLiteral("--config") && i + 1 < arguments.size()) {
            out.configFile = arguments[++i];
        } else if (a.startsWith(QStringLiteral("--config="))) {
            out.configFile = a.mid(9);
        } else {
            out.commandLine.append(a);
        }
    }
    if (out.configFile.isEmpty())
        out.configFile = env.value(QStringLiteral("DECLAI_CONFIG"));
    if (!out.configFile.isEmpty())
        out.configFile = QDir(out.configFile).absolutePath();

    // One key's value, from `origin`, as flags; a problem (at `where`) when it cannot be.
    auto take = [&](const QString& name, const QString& value, SourcedFlag origin,
                    const ConfigProblem& where) {
        auto problem = [&](const QString& message) {
            ConfigProblem p = where;
            p.message =
                origin.variable.isEmpty() ? message : origin.variable + QStringLiteral(": ") + message;
            out.problems.push_back(p);
        };
        QString flag = QString(name).replace(QLatin1Char('_'), QLatin1Char('-'));
        QString text = value;
        if (flag.endsWith(QStringLiteral("-file")) && !findKey(flag)) {
            const QString base = flag.left(flag.size() - 5);
            const ServerKey* k = findKey(base);
            if (!k || !k->takesValue) {
                problem(QStringLiteral("unknown key '%1'").arg(name));
                return;
            }
            if (!allowed(base))
                return;
            QString path = value;
            if (!origin.file.isEmpty() && QDir::isRelativePath(path))
                path = QFileInfo(origin.file).absoluteDir().filePath(path);
            auto secret = readSecretFile(path.toStdString(), 64 * 1024);
            if (!secret) {
                problem(QStringLiteral("%1: %2").arg(name, QString::fromStdString(secret.error().message)));
                return;
            }
            flag = base;
            text = QString::fromStdString(*secret).trimmed();
        }
        const ServerKey* k = findKey(flag);
        if (!k) {
            problem(QStringLiteral("unknown key '%1'").arg(name));
            return;
        }
        if (!allowed(flag))
            return;
        origin.flag = flag;
        if (k->isPath && !origin.file.isEmpty() && !text.isEmpty() && QDir::isRelativePath(text))
            text = QDir::cleanPath(QFileInfo(origin.file).absoluteDir().filePath(text));
        if (k->takesValue) {
            origin.args = QStringList{QStringLiteral("--") + flag, text};
        } else {
            auto on = parseSwitch(text);
            if (!on) {
                problem(QStringLiteral("%1: '%2' is not true or false").arg(name, text));
                return;
            }
            if (!*on)
                return; // a switch that is off is the default
            origin.args = QStringList{QStringLiteral("--") + flag};
        }
        out.sourced.push_back(origin);
    };

    if (!out.configFile.isEmpty()) {
        auto file = ConfigFile::read(out.configFile);
        if (!file)
            return file.error();
        out.problems = file->problems();
        for (const ConfigEntry& e : file->entries()) {
            if (e.section != QLatin1StringView(kSection))
                continue; // the node's sections ([server], [node], [budgets], [rules]) are the node's
            SourcedFlag origin;
            origin.file = out.configFile;
            origin.line = e.line;
            take(e.key, e.value, origin, file->problemAt(e, QString()));
        }
    }
    // The environment: every key, by its variable name (a value-taking one also as _FILE).
    for (const ServerKey& k : serverKeys()) {
        for (const bool fromFile : {false, true}) {
            if (fromFile && !k.takesValue)
                continue;
            const QString key = keyOf(k.flag) + (fromFile ? QStringLiteral("_file") : QString());
            const QString variable = variableOf(key);
            if (env.value(variable).isEmpty())
                continue; // unset, or set to nothing (as service units do for "no value")
            SourcedFlag origin;
            origin.variable = variable;
            take(key, env.value(variable), origin, ConfigProblem{});
        }
    }
    out.arguments = QStringList{arguments.value(0, QStringLiteral("declai-server"))};
    for (const SourcedFlag& s : out.sourced)
        out.arguments += s.args;
    out.arguments += out.commandLine;
    return out;
}

std::vector<ConfigProblem> checkServerSources(const ServerSources& sources) {
    std::vector<ConfigProblem> problems = sources.problems;
    const QString program = sources.arguments.value(0);
    // Each value alone, over a minimal valid command line, so that every bad value is reported (the full
    // parse stops at the first).
    const QStringList minimal{program,
                              QStringLiteral("--listen"),
                              QStringLiteral("127.0.0.1:0"),
                              QStringLiteral("--model-dir"),
                              QDir::rootPath(),
                              QStringLiteral("--data-dir"),
                              QDir::tempPath()};
    std::set<QString> reported;
    for (const SourcedFlag& s : sources.sourced) {
        auto alone = ServerConfig::fromArguments(minimal + s.args);
        if (alone)
            continue;
        const QString message = QString::fromStdString(alone.error().message);
        if (!message.contains(QStringLiteral("--") + s.flag))
            continue; // a combination problem; the full parse below reports it
        reported.insert(message);
        if (s.variable.isEmpty())
            problems.push_back(ConfigProblem{s.file, s.line, keyOf(s.flag) + QStringLiteral(": ") + message});
        else
            problems.push_back(ConfigProblem{QString(), 0, s.variable + QStringLiteral(": ") + message});
    }
    // The command line's own flags, and the whole (required keys, pairs such as tls_cert and tls_key).
    auto all = ServerConfig::fromArguments(sources.arguments);
    if (!all && all.error().code != ErrorCode::NotFound) {
        const QString message = QString::fromStdString(all.error().message);
        if (!reported.count(message))
            problems.push_back(ConfigProblem{sources.configFile, 0, message});
    }
    return problems;
}

int reportServerConfigCheck(const ServerSources& sources, std::FILE* out, std::FILE* err) {
    const std::vector<ConfigProblem> problems = checkServerSources(sources);
    for (const ConfigProblem& problem : problems)
        std::fprintf(err, "%s\n", qPrintable(problem.text()));
    if (!problems.empty())
        return 1;
    std::fprintf(out, "%s: configuration ok\n",
                 sources.configFile.isEmpty() ? "declai-server" : qPrintable(sources.configFile));
    return 0;
}

} // namespace declai::server
