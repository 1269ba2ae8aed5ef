#include "declai/server/ServerConfig.h"

#include "declai/core/CommandLineOptions.h"

#include <QCommandLineParser>
#include <QDir>
#include <functional>
#include <utility>

namespace declai::server {
namespace {

Error usageError(const QString& message) {
    return makeError(ErrorCode::InvalidArgument, message.toStdString());
}

bool parseInt(const QString& text, int min, int max, int& out) {
    bool ok = false;
    const int v = text.toInt(&ok);
    if (!ok || v < min || v > max)
        return false;
    out = v;
    return true;
}

// HOST:PORT of --listen and --http-listen; host is kept as given (it goes into the certificate's names).
Expected<void> parseHostPort(const QString& flag, const QString& address, QString& host, QHostAddress& bind,
                             quint16& portOut) {
    const int colon = address.lastIndexOf(QLatin1Char(':'));
    int port = 0;
    if (colon <= 0 || !parseInt(address.mid(colon + 1), 0, 65535, port))
        return usageError(QStringLiteral("%1 '%2' is not HOST:PORT").arg(flag, address));
    host = address.left(colon);
    if (host.startsWith(QLatin1Char('[')) && host.endsWith(QLatin1Char(']')))
        host = host.mid(1, host.size() - 2);
    portOut = static_cast<quint16>(port);
    if (host == QStringLiteral("localhost"))
        bind = QHostAddress::LocalHost;
    else if (host == QStringLiteral("0.0.0.0") || host == QStringLiteral("*"))
        bind = QHostAddress::Any;
    else if (!bind.setAddress(host))
        return usageError(QStringLiteral("%1 host '%2' is not an IP address or localhost").arg(flag, host));
    return {};
}

} // namespace

QString ServerConfig::usage() {
    // Every default printed here is read from a default ServerConfig: the values are written once, in
    // ServerConfig.h and the policy structs it holds, so the help cannot drift from what the server does.
    const ServerConfig d;
    const auto n = [](auto value) { return QString::number(value); };
    const QString none; // a row without a default
    // Each row: a line of help, with %1 standing for its default where it has one.
    const std::pair<const char*, QString> rows[] = {
        {"usage: declai-server --listen HOST:PORT --model-dir DIR --data-dir DIR [options]\n"
         "       declai-server --version\n",
         none},
        {"  --config FILE                    read settings from this INI file first: its [gateway] section, "
         "one\n"
         "                                   key per flag (max_sessions = 16; docs/configuration.md); then\n"
         "                                   DECLAI_<KEY> variables (DECLAI_MAX_SESSIONS); flags given here "
         "win;\n"
         "                                   KEY_file / DECLAI_<KEY>_FILE read a value from a private file\n"
         "  --check-config                   report every problem of the file, environment and flags; start\n"
         "                                   nothing (exit status 1 when there are problems)\n",
         none},
        {"  --tls-cert FILE --tls-key FILE   certificate to use (default: DATA_DIR/tls/server.crt, made on "
         "first "
         "start)\n",
         none},
        {"  --insecure-dev                   plaintext ws:// (development only; nodes must say so too)\n",
         none},
        {"  --http-listen HOST:PORT          also serve the HTTP API (OpenAI-compatible, docs/api.md) here, "
         "with\n"
         "                                   the gateway's certificate (the API is always on --listen too)\n",
         none},
        {"  --api-operator NAME              this user's API keys get the operator role (/v1/nodes, "
         "/v1/status)\n",
         none},
        {"  --api-max-body-kib N             largest HTTP request body (default %1; larger: 413)\n",
         n(d.frontDoor.http.maxBodyBytes / 1024)},
        {"  --replicas N                     copies of each layer (0 = automatic)\n", none},
        {"  --min-nodes N                    wait for N nodes before the first placement (default %1)\n",
         n(d.minNodes)},
        {"  --stage-timeout-ms N             a slower stage counts as a failed node (default %1)\n",
         n(d.stageTimeoutMs)},
        {"  --failover-deadline-ms N         give up re-routing a session after this long (default %1)\n",
         n(d.failoverDeadlineMs)},
        {"  --chain-wait-ms N                how long a request waits for all layers to be placed (default "
         "%1)\n",
         n(d.chainWaitMs)},
        {"  --wire-encoding f32|f16          hidden states between nodes (default %1; f32 is bit-exact)\n",
         d.wireEncoding},
        {"  --threads N                      gateway compute threads (default %1)\n",
         d.threads == 0 ? QStringLiteral("all cores") : n(d.threads)},
        {"  --gateway-layers K               layers [0, K) run on the gateway: no node sees embedding rows\n"
         "                                   (default %1, at least 1; capped at the model's layer count)\n",
         n(d.gatewayLayers)},
        {"  --prefill-chunk-tokens N         a prompt runs through the nodes in steps of at most N tokens, "
         "so a\n"
         "                                   long prompt never holds up other sessions' next token for long\n"
         "                                   (rounded down to a multiple of 4, at least 4; default %1)\n",
         n(d.prefillChunkTokens)},
        {"  --first-answer-timeout-ms N      stage timeout for a node that has never answered (default %1)\n",
         n(d.reputation.firstAnswerTimeoutMs)},
        {"  --node-backoff-ms N              a node that timed out is left out this long, doubling (default "
         "%1)\n",
         n(d.reputation.backoffMs)},
        {"  --assignment-deadline-ms N       an assignment not ready in N ms + 1 s/MiB is withdrawn (default "
         "%1)\n",
         n(d.reputation.assignmentDeadlineMs)},
        {"  --probation-stages N             answers a new node gives before its probation can end (default "
         "%1)\n",
         n(d.reputation.probationStages)},
        {"  --new-nodes-per-ip N             new node identities one address may bring per hour (default "
         "%1)\n",
         n(d.nodeJoins.perHour)},
        {"  --verify-initial-rate R          share of a new node's stages re-checked (default %1; 0 = off)\n",
         n(d.verification.initialRate)},
        {"  --verify-floor-rate R            lowest check rate for trusted nodes (default %1)\n",
         n(d.verification.floorRate)},
        {"  --no-credits                     free service: no API keys, no ledger\n", none},
        {"  --ledger sqlite|postgres         ledger store (default %1 at DATA_DIR/ledger.sqlite)\n",
         d.credits.backend},
        {"  --ledger-postgres DSN            \"host=H port=P user=U dbname=D\" for a shared PostgreSQL "
         "ledger\n",
         none},
        {"  --grant-credits N                credits a new account starts with (default %1)\n",
         n(d.credits.newAccountGrant / credit::kMicrocreditsPerCredit)},
        {"  --allow-registration             let anyone create an account (POST /v1/accounts; default off)\n",
         none},
        {"  --registration-grant-credits N   welcome grant of a self-registered account, paid after its "
         "first verified work (default %1)\n",
         n(d.credits.registrationGrant / credit::kMicrocreditsPerCredit)},
        {"  --registrations-per-ip N         self-registrations per client address per hour (default %1)\n",
         n(d.credits.registrationsPerAddressPerHour)},
        {"  --daily-limit-credits N          per-user daily spend limit (default %1)\n",
         d.credits.dailySpendLimit == 0 ? QStringLiteral("none")
                                        : n(d.credits.dailySpendLimit / credit::kMicrocreditsPerCredit)},
        {"  --verification-window-s N        node earnings stay pending this long (default %1)\n",
         n(d.credits.verificationWindowMs / 1000)},
        {"  --max-sessions N                 generations at once; more wait in the priority queue (default "
         "%1)\n",
         n(d.maxSessions)},
        {"  --max-connections N              open connections at most (default %1, lowered to fit the fd "
         "limit)\n",
         n(d.frontDoor.maxConnections)},
        {"  --max-connections-per-ip N       open connections per peer address (IPv6: per /64; default %1)\n",
         n(d.frontDoor.maxConnectionsPerAddress)},
        {"  --tls-handshake-timeout-ms N     accept to finished TLS handshake (default %1)\n",
         n(d.frontDoor.handshakeTimeoutMs)},
        {"  --idle-timeout-ms N              close an HTTP connection silent this long (default %1)\n",
         n(d.frontDoor.idleTimeoutMs)},
        {"  --header-timeout-ms N            an HTTP request header must be complete this soon (default "
         "%1)\n",
         n(d.frontDoor.headerTimeoutMs)},
        {"  --max-requests-per-connection N  requests running or queued per client connection (default %1)\n",
         n(d.maxRequestsPerConnection)},
        {"  --max-requests-per-account N     requests running or queued per account (default %1)\n",
         n(d.maxRequestsPerAccount)},
        {"  --high-priority-price X          price multiplier for priority=high (default %1)\n",
         n(d.credits.highPriorityPriceMultiplier)},
        {"\n"
         "operator commands (safe while the server runs; add --ledger postgres --ledger-postgres DSN for a\n"
         "shared PostgreSQL ledger):\n"
         "  declai-server user add NAME [--operator] [--grant-credits N] --data-dir DIR   create an "
         "account,\n"
         "                                                   print its API key (shown only once)\n"
         "  declai-server user list --data-dir DIR           accounts and their keys\n"
         "  declai-server user add-key NAME [--expires-days N] [--spend-limit-credits N] --data-dir DIR\n"
         "  declai-server user revoke-key KEY_ID --data-dir DIR\n"
         "  declai-server node show|unbind NODE_ID --data-dir DIR   a node's account binding\n"
         "  declai-server grant ACCOUNT CREDITS --data-dir DIR\n"
         "  declai-server ledger verify --data-dir DIR        check zero-sum, hash chain, balances, holds\n"
         "  declai-server ledger balance ACCOUNT --data-dir DIR\n"
         "  declai-server ledger export --csv [FILE] --data-dir DIR\n",
         none},
    };
    QString text;
    for (const auto& [line, value] : rows)
        text += value.isNull() ? QString::fromLatin1(line) : QString::fromLatin1(line).arg(value);
    return text;
}

Expected<ServerConfig> ServerConfig::fromArguments(const QStringList& arguments) {
    QCommandLineParser parser;
    const QCommandLineOption listen = makeOption({QStringLiteral("listen")}, "address", "HOST:PORT");
    const QCommandLineOption modelDir = makeOption({QStringLiteral("model-dir")}, "models", "DIR");
    const QCommandLineOption dataDir = makeOption({QStringLiteral("data-dir")}, "data", "DIR");
    const QCommandLineOption cert = makeOption({QStringLiteral("tls-cert")}, "cert", "FILE");
    const QCommandLineOption key = makeOption({QStringLiteral("tls-key")}, "key", "FILE");
    const QCommandLineOption insecure = makeOption({QStringLiteral("insecure-dev")}, "plaintext");
    const QCommandLineOption replicas = makeOption({QStringLiteral("replicas")}, "replicas", "N");
    const QCommandLineOption minNodes = makeOption({QStringLiteral("min-nodes")}, "n", "N");
    const QCommandLineOption stageTimeout = makeOption({QStringLiteral("stage-timeout-ms")}, "ms", "N");
    const QCommandLineOption failover = makeOption({QStringLiteral("failover-deadline-ms")}, "ms", "N");
    const QCommandLineOption chainWait = makeOption({QStringLiteral("chain-wait-ms")}, "ms", "N");
    const QCommandLineOption encoding = makeOption({QStringLiteral("wire-encoding")}, "enc", "f32|f16");
    const QCommandLineOption threads = makeOption({QStringLiteral("threads")}, "threads", "N");
    const QCommandLineOption gatewayLayers = makeOption({QStringLiteral("gateway-layers")}, "k", "K");
    const QCommandLineOption prefillChunk = makeOption({QStringLiteral("prefill-chunk-tokens")}, "n", "N");
    const QCommandLineOption noCredits = makeOption({QStringLiteral("no-credits")}, "free service");
    const QCommandLineOption ledger = makeOption({QStringLiteral("ledger")}, "store", "sqlite|postgres");
    const QCommandLineOption ledgerPg = makeOption({QStringLiteral("ledger-postgres")}, "dsn", "DSN");
    const QCommandLineOption grantCredits = makeOption({QStringLiteral("grant-credits")}, "n", "N");
    const QCommandLineOption dailyLimit = makeOption({QStringLiteral("daily-limit-credits")}, "n", "N");
    const QCommandLineOption window = makeOption({QStringLiteral("verification-window-s")}, "s", "N");
    const QCommandLineOption maxSessions = makeOption({QStringLiteral("max-sessions")}, "n", "N");
    const QCommandLineOption verifyInitial = makeOption({QStringLiteral("verify-initial-rate")}, "r", "R");
    const QCommandLineOption verifyFloor = makeOption({QStringLiteral("verify-floor-rate")}, "r", "R");
    const QCommandLineOption maxConnections = makeOption({QStringLiteral("max-connections")}, "n", "N");
    const QCommandLineOption maxPerIp = makeOption({QStringLiteral("max-connections-per-ip")}, "n", "N");
    const QCommandLineOption tlsTimeout = makeOption({QStringLiteral("tls-handshake-timeout-ms")}, "ms", "N");
    const QCommandLineOption idleTimeout = makeOption({QStringLiteral("idle-timeout-ms")}, "ms", "N");
    const QCommandLineOption headerTimeout = makeOption({QStringLiteral("header-timeout-ms")}, "ms", "N");
    const QCommandLineOption perConnection =
        makeOption({QStringLiteral("max-requests-per-connection")}, "n", "N");
    const QCommandLineOption perAccount = makeOption({QStringLiteral("max-requests-per-account")}, "n", "N");
    const QCommandLineOption highPrice = makeOption({QStringLiteral("high-priority-price")}, "x", "X");
    const QCommandLineOption firstAnswer = makeOption({QStringLiteral("first-answer-timeout-ms")}, "ms", "N");
    const QCommandLineOption backoff = makeOption({QStringLiteral("node-backoff-ms")}, "ms", "N");
    const QCommandLineOption assignmentDeadline =
        makeOption({QStringLiteral("assignment-deadline-ms")}, "ms", "N");
    const QCommandLineOption probationStages = makeOption({QStringLiteral("probation-stages")}, "n", "N");
    const QCommandLineOption newNodesPerIp = makeOption({QStringLiteral("new-nodes-per-ip")}, "n", "N");
    const QCommandLineOption httpListen = makeOption({QStringLiteral("http-listen")}, "address", "HOST:PORT");
    const QCommandLineOption apiOperator = makeOption({QStringLiteral("api-operator")}, "user", "NAME");
    const QCommandLineOption apiBody = makeOption({QStringLiteral("api-max-body-kib")}, "kib", "N");
    const QCommandLineOption help = makeOption({QStringLiteral("h"), QStringLiteral("help")}, "help");
    const QCommandLineOption allowRegistration =
        makeOption({QStringLiteral("allow-registration")}, "self-registration");
    const QCommandLineOption registrationGrant =
        makeOption({QStringLiteral("registration-grant-credits")}, "n", "N");
    const QCommandLineOption registrationsPerIp =
        makeOption({QStringLiteral("registrations-per-ip")}, "n", "N");
    parser.addOptions(
        {listen,      modelDir,       dataDir,       cert,       key,          insecure,      replicas,
         minNodes,    stageTimeout,   failover,      chainWait,  encoding,     threads,       verifyInitial,
         verifyFloor, noCredits,      ledger,        ledgerPg,   grantCredits, dailyLimit,    window,
         maxSessions, maxConnections, maxPerIp,      tlsTimeout, idleTimeout,  headerTimeout, perConnection,
         perAccount,  highPrice,      gatewayLayers, help});
    parser.addOptions(
        {firstAnswer, backoff, assignmentDeadline, probationStages, newNodesPerIp, prefillChunk});
    parser.addOptions({allowRegistration, registrationGrant, registrationsPerIp});
    parser.addOptions({httpListen, apiOperator, apiBody});
    if (!parser.parse(arguments))
        return usageError(parser.errorText());
    if (parser.isSet(help))
        return makeError(ErrorCode::NotFound, usage().toStdString()); // the caller prints usage and exits 0
    if (!parser.positionalArguments().isEmpty())
        return usageError(
            QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().first()));

    ServerConfig c;
    if (!parser.isSet(listen) || !parser.isSet(modelDir) || !parser.isSet(dataDir))
        return usageError(QStringLiteral("--listen, --model-dir and --data-dir are required"));
    if (auto parsed = parseHostPort(QStringLiteral("--listen"), parser.value(listen), c.listenHost,
                                    c.listenAddress, c.listenPort);
        !parsed)
        return parsed.error();
    if (parser.isSet(httpListen)) {
        c.httpListen = true;
        if (auto parsed = parseHostPort(QStringLiteral("--http-listen"), parser.value(httpListen),
                                        c.httpListenHost, c.httpListenAddress, c.httpListenPort);
            !parsed)
            return parsed.error();
    }
    for (const QString& name : parser.values(apiOperator))
        c.apiOperators.append(name.split(QLatin1Char(','), Qt::SkipEmptyParts));
    int64_t bodyKib = c.frontDoor.http.maxBodyBytes / 1024;
    if (auto read = readIntOption(parser, apiBody, 1, 64 * 1024, bodyKib); !read)
        return read.error();
    c.frontDoor.http.maxBodyBytes = bodyKib * 1024;
    c.modelDir = QDir(parser.value(modelDir)).absolutePath();
    c.dataDir = QDir(parser.value(dataDir)).absolutePath();
    if (!QDir(c.modelDir).exists())
        return usageError(QStringLiteral("--model-dir '%1' does not exist").arg(c.modelDir));
    c.tlsCertFile = parser.value(cert);
    c.tlsKeyFile = parser.value(key);
    if (c.tlsCertFile.isEmpty() != c.tlsKeyFile.isEmpty())
        return usageError(QStringLiteral("--tls-cert and --tls-key go together"));
    c.insecureDev = parser.isSet(insecure);
    struct IntOption {
        const QCommandLineOption& option;
        int min;
        int max;
        int* out;
    };
    for (const IntOption& o :
         {IntOption{replicas, 0, 16, &c.replicas}, IntOption{minNodes, 1, 100000, &c.minNodes},
          IntOption{stageTimeout, 100, 3600000, &c.stageTimeoutMs},
          IntOption{failover, 100, 3600000, &c.failoverDeadlineMs},
          IntOption{chainWait, 0, 3600000, &c.chainWaitMs}, IntOption{threads, 0, 1024, &c.threads},
          IntOption{maxConnections, 8, 1 << 20, &c.frontDoor.maxConnections},
          IntOption{maxPerIp, 1, 1 << 20, &c.frontDoor.maxConnectionsPerAddress},
          IntOption{tlsTimeout, 100, 600000, &c.frontDoor.handshakeTimeoutMs},
          IntOption{idleTimeout, 1000, 86400000, &c.frontDoor.idleTimeoutMs},
          IntOption{headerTimeout, 100, 600000, &c.frontDoor.headerTimeoutMs},
          IntOption{perConnection, 1, 100000, &c.maxRequestsPerConnection},
          IntOption{perAccount, 1, 100000, &c.maxRequestsPerAccount},
          IntOption{gatewayLayers, 1, 4096, &c.gatewayLayers},
          IntOption{prefillChunk, 1, 1 << 20, &c.prefillChunkTokens},
          IntOption{firstAnswer, 100, 3600000, &c.reputation.firstAnswerTimeoutMs}}) {
        if (auto read = readIntOption(parser, o.option, o.min, o.max, *o.out); !read)
            return read.error();
    }
    for (auto [option, out] : {std::pair{&verifyInitial, &c.verification.initialRate},
                               std::pair{&verifyFloor, &c.verification.floorRate}})
        if (auto read = readFloatOption(parser, *option, 0, 1, *out); !read)
            return read.error();
    struct PolicyOption {
        const QCommandLineOption& option;
        int max;
        std::function<void(int)> set;
    };
    for (const PolicyOption& o :
         {PolicyOption{backoff, 86400000, [&c](int v) { c.reputation.backoffMs = v; }},
          PolicyOption{assignmentDeadline, 86400000, [&c](int v) { c.reputation.assignmentDeadlineMs = v; }},
          PolicyOption{probationStages, 1000000, [&c](int v) { c.reputation.probationStages = uint64_t(v); }},
          PolicyOption{newNodesPerIp, 1000000,
                       [&c](int v) { c.nodeJoins.burst = c.nodeJoins.perHour = v; }}}) {
        if (!parser.isSet(o.option))
            continue;
        auto v = intOption(parser, o.option, 0, o.max);
        if (!v)
            return v.error();
        o.set(static_cast<int>(*v));
    }
    c.credits.enabled = !parser.isSet(noCredits);
    if (parser.isSet(ledger)) {
        c.credits.backend = parser.value(ledger);
        if (c.credits.backend != QStringLiteral("sqlite") && c.credits.backend != QStringLiteral("postgres"))
            return usageError(QStringLiteral("--ledger must be sqlite or postgres"));
    }
    c.credits.postgres = parser.value(ledgerPg);
    if (c.credits.backend == QStringLiteral("postgres") && c.credits.postgres.isEmpty())
        return usageError(QStringLiteral(
            "--ledger postgres needs --ledger-postgres \"host=... port=... user=... dbname=...\""));
    c.credits.allowRegistration = parser.isSet(allowRegistration);
    if (auto read =
            readIntOption(parser, registrationsPerIp, 0, 100000, c.credits.registrationsPerAddressPerHour);
        !read)
        return read.error();
    for (auto [option, out] : {std::pair{&grantCredits, &c.credits.newAccountGrant},
                               std::pair{&dailyLimit, &c.credits.dailySpendLimit},
                               std::pair{&registrationGrant, &c.credits.registrationGrant}}) {
        if (!parser.isSet(*option))
            continue;
        auto credits = floatOption(parser, *option, 0, 1e12);
        if (!credits)
            return credits.error();
        *out = static_cast<int64_t>(*credits * 1e6);
    }
    if (auto read = readFloatOption(parser, highPrice, 1, 1000, c.credits.highPriorityPriceMultiplier); !read)
        return read.error();
    int64_t windowS = c.credits.verificationWindowMs / 1000;
    if (auto read = readIntOption(parser, window, 0, 30 * 86400, windowS); !read)
        return read.error();
    c.credits.verificationWindowMs = windowS * 1000;
    if (auto read = readIntOption(parser, maxSessions, 1, 100000, c.maxSessions); !read)
        return read.error();
    if (c.verification.floorRate > c.verification.initialRate)
        c.verification.floorRate = c.verification.initialRate;
    if (parser.isSet(encoding)) {
        c.wireEncoding = parser.value(encoding).toLower();
        if (c.wireEncoding != QStringLiteral("f32") && c.wireEncoding != QStringLiteral("f16"))
            return usageError(QStringLiteral("--wire-encoding must be f32 or f16"));
    }
    return c;
}

} // namespace declai::server
