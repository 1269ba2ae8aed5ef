#include "NodeConfig.h"

#include "declai/core/CommandLineOptions.h"
#include "declai/core/Identity.h"

#include <QCommandLineParser>
#include <QDir>
#include <QFile>
#include <functional>

namespace declai::node {

QString nodeUsage() {
    return QStringLiteral(
        "usage: declai-node --server wss://HOST:PORT[,wss://HOST2:PORT...] --data-dir DIR [options]\n"
        "       declai-node --config FILE [options]\n"
        "       declai-node --version\n"
        "  --config FILE             read settings from this INI file first (the desktop app writes\n"
        "                            ~/.config/declai/node.ini); then DECLAI_<SECTION>_<KEY> variables\n"
        "                            (DECLAI_SERVER_URL, DECLAI_BUDGETS_THREADS); flags given here win\n"
        "  --check-config            report every problem of the file, environment and flags (FILE:LINE)\n"
        "                            and exit (status 1 when there are problems)\n"
        "  --server URL[,URL...]     the gateway, or several gateways of one network (--gateway is the "
        "same):\n"
        "                            the node prefers the lowest round-trip time and fails over to the next\n"
        "  --ca FILE                 trust this certificate (e.g. the server's DATA_DIR/tls/server.crt)\n"
        "  --pin SHA256:HEX          trust the server certificate with this fingerprint\n"
        "  --insecure-dev            allow plaintext ws:// (development only)\n"
        "  --device D                cpu (default), opencl:N, vulkan:N, cuda:N, hip:N\n"
        "  --threads T               compute threads (default: all cores)\n"
        "  --memory-budget-mb N      memory for weights and KV caches (default: half of RAM)\n"
        "  --disk-budget-mb N        disk for downloaded shards (default 20480)\n"
        "  --max-sessions N          concurrent sessions (default 16)\n"
        "  --session-idle-timeout-s N  free a session's cache after this long unused (default 300)\n"
        "  --drain-grace-s N         on SIGTERM, finish sessions for at most N s before leaving (default "
        "30)\n"
        "  --prefault                read a shard's weights in when it is loaded (default: on first use)\n"
        "  --account-key KEY         bind this node to the account of API key KEY at start: its verified\n"
        "                            earnings are credited to that account (default: unbound, node:<id>)\n"
        "  --account-key-file FILE   the same, with the key read from FILE (mode 0600)\n");
}

Expected<NodeCommandLine> parseNodeCommandLine(const QStringList& arguments, const QProcessEnvironment& env) {
    QCommandLineParser parser;
    auto option = [](const char* name, const char* value = nullptr) {
        return makeOption({QString::fromLatin1(name)}, name, value);
    };
    const QCommandLineOption server =
        makeOption({QStringLiteral("server"), QStringLiteral("gateway")}, "server", "URL[,URL...]");
    const auto config = option("config", "FILE"), dataDir = option("data-dir", "DIR"),
               ca = option("ca", "FILE"), pin = option("pin", "FP"), insecure = option("insecure-dev"),
               device = option("device", "D"), threads = option("threads", "T"),
               memory = option("memory-budget-mb", "N"), disk = option("disk-budget-mb", "N"),
               sessions = option("max-sessions", "N"), idle = option("session-idle-timeout-s", "N"),
               grace = option("drain-grace-s", "N"), prefault = option("prefault"), help = option("help"),
               accountKey = option("account-key", "KEY"), accountKeyFile = option("account-key-file", "FILE"),
               checkConfig = option("check-config");
    parser.addOptions({config, server, dataDir, ca, pin, insecure, device, threads, memory, disk, sessions,
                       idle, grace, prefault, help, accountKey, accountKeyFile, checkConfig});
    auto error = [](const QString& m) { return makeError(ErrorCode::InvalidArgument, m.toStdString()); };
    if (!parser.parse(arguments))
        return error(parser.errorText());
    if (parser.isSet(help))
        return makeError(ErrorCode::NotFound, nodeUsage().toStdString());
    if (!parser.positionalArguments().isEmpty())
        return error(QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().first()));

    NodeCommandLine out;
    NodeSettings& c = out.settings;
    if (parser.isSet(config)) {
        out.configFile = QDir(parser.value(config)).absolutePath();
        if (!QFile::exists(out.configFile))
            return error(QStringLiteral("--config %1: no such file").arg(out.configFile));
    }
    if (parser.isSet(checkConfig)) {
        out.checkOnly = true;
        out.problems = NodeSettings::check(out.configFile, env);
        if (out.problems.empty()) {
            // The whole, as a start would take it: file, environment and flags together.
            QStringList rest = arguments;
            rest.removeAll(QStringLiteral("--check-config"));
            if (auto whole = parseNodeCommandLine(rest, env); !whole)
                out.problems.push_back(
                    ConfigProblem{QString(), 0, QString::fromStdString(whole.error().message)});
        }
        return out;
    }
    {
        // The file (when given), then the environment over it.
        auto loaded = NodeSettings::load(out.configFile, env);
        if (!loaded)
            return loaded.error();
        c = *loaded;
    }
    if (parser.isSet(server)) {
        auto urls = parseGatewayList(parser.values(server).join(u','));
        if (!urls)
            return error(QStringLiteral("--server: %1").arg(QString::fromStdString(urls.error().message)));
        c.serverUrl = urls->first();
        c.otherGateways = urls->mid(1);
    }
    if (parser.isSet(dataDir))
        c.dataDir = QDir(parser.value(dataDir)).absolutePath();
    if (c.serverUrl.isEmpty() || c.dataDir.isEmpty())
        return error(QStringLiteral("--server and --data-dir are required (or set in --config FILE)"));
    if (parser.isSet(insecure))
        c.tls.insecureDev = true;
    if (parser.isSet(ca))
        c.tls.caFile = parser.value(ca);
    if (parser.isSet(pin))
        c.tls.pinnedFingerprint = parser.value(pin);
    if (parser.isSet(device))
        c.budgets.enabledDevices = QStringList{parser.value(device)};
    if (parser.isSet(prefault))
        c.prefault = true;
    if (parser.isSet(accountKey) && parser.isSet(accountKeyFile))
        return error(QStringLiteral("give --account-key or --account-key-file, not both"));
    out.accountKey = parser.value(accountKey).trimmed();
    if (parser.isSet(accountKeyFile)) {
        auto secret = readSecretFile(parser.value(accountKeyFile).toStdString(), 4096);
        if (!secret)
            return error(QString::fromStdString(secret.error().message));
        out.accountKey = QString::fromStdString(*secret).trimmed();
    }
    if (!parser.isSet(accountKey) && !parser.isSet(accountKeyFile) && !c.accountKeyFile.isEmpty()) {
        auto secret = readSecretFile(c.accountKeyFile.toStdString(), 4096);
        if (!secret)
            return error(QStringLiteral("node/account_key_file: %1")
                             .arg(QString::fromStdString(secret.error().message)));
        out.accountKey = QString::fromStdString(*secret).trimmed();
        if (out.accountKey.isEmpty())
            return error(QStringLiteral("node/account_key_file: the account key is empty"));
    }
    if ((parser.isSet(accountKey) || parser.isSet(accountKeyFile)) && out.accountKey.isEmpty())
        return error(QStringLiteral("the account key is empty"));
    struct IntOpt {
        const QCommandLineOption& o;
        qlonglong min, max;
        std::function<void(qlonglong)> set;
    };
    const IntOpt ints[] = {
        {threads, 0, 1024, [&](qlonglong v) { c.budgets.threads = int(v); }},
        {memory, 1, 1ll << 30, [&](qlonglong v) { c.budgets.memoryBytes = uint64_t(v) << 20; }},
        {disk, 1, 1ll << 30, [&](qlonglong v) { c.budgets.diskBytes = uint64_t(v) << 20; }},
        {sessions, 1, 100000, [&](qlonglong v) { c.budgets.maxSessions = int(v); }},
        {idle, 1, 86400, [&](qlonglong v) { c.sessionIdleTimeoutMs = int(v * 1000); }},
        {grace, 0, 86400, [&](qlonglong v) { c.drainGraceMs = int(v * 1000); }},
    };
    for (const IntOpt& i : ints) {
        if (!parser.isSet(i.o))
            continue;
        auto v = intOption(parser, i.o, i.min, i.max);
        if (!v)
            return v.error();
        i.set(*v);
    }
    if (auto valid = c.validate(); !valid) {
        // Say it in the words of the command line where the value came from there.
        const QString message = QString::fromStdString(valid.error().message);
        if (message.startsWith(QStringLiteral("key 'server/url'")) && parser.isSet(server)) {
            if (message.contains(QStringLiteral("plaintext ws://")))
                return error(
                    QStringLiteral("plaintext ws:// is refused unless --insecure-dev is given (use wss://)"));
            return error(
                QStringLiteral("--server '%1' is not wss://HOST:PORT").arg(parser.values(server).join(u',')));
        }
        return error(out.configFile.isEmpty() ? message : out.configFile + QStringLiteral(": ") + message);
    }
    return out;
}

} // namespace declai::node
