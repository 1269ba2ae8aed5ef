#include "declai/server/AdminCommands.h"

#include "declai/core/CommandLineOptions.h"
#include "declai/core/Identity.h"
#include "declai/credit/AccountStore.h"
#include "declai/server/CreditService.h"
#include "declai/server/UserDirectory.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <cmath>

namespace declai::server {
namespace {

QString formatCredits(credit::Microcredits amount) {
    return QString::number(static_cast<double>(amount) / credit::kMicrocreditsPerCredit, 'f', 6);
}

// CREDITS of `grant`: a finite decimal number of credits, at least one microcredit and at most 1e12 credits.
Expected<credit::Microcredits> parseGrantAmount(const QString& text) {
    constexpr double kMaxCredits = 1e12;
    bool ok = false;
    const double credits = text.toDouble(&ok);
    if (!ok || !std::isfinite(credits))
        return makeError(ErrorCode::InvalidArgument,
                         "CREDITS must be a finite number of credits, got '" + text.toStdString() + "'");
    const double micro = std::round(credits * credit::kMicrocreditsPerCredit);
    if (micro < 1 || credits > kMaxCredits)
        return makeError(ErrorCode::InvalidArgument,
                         "CREDITS must be between 0.000001 and 1000000000000 credits, got '" +
                             text.toStdString() + "'");
    return static_cast<credit::Microcredits>(micro);
}

struct AccountOptions {
    QCommandLineOption operatorRole, expiresDays, spendLimit, grantNow, label;
};

QString formatTime(int64_t ms) {
    return ms == 0 ? QStringLiteral("never")
                   : QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(Qt::ISODate);
}

// user add|list|add-key|revoke-key and node unbind|show, on the ledger database. They work while the gateway
// runs: PostgreSQL serves both; SQLite is in WAL mode with a busy timeout, and every write takes the database
// lock for one short transaction (docs/ledger.md, "Operator commands while the gateway runs").
int runAccountCommand(const QString& command, const QStringList& words, const QCommandLineParser& parser,
                      const AccountOptions& o, const CreditConfig& config, const QString& dir, std::FILE* out,
                      std::FILE* err) {
    auto fail = [err](const QString& message, int code = 1) {
        std::fprintf(err, "declai-server: %s\n", qPrintable(message));
        return code;
    };
    const QString sub = words.size() > 1 ? words[1] : QString();
    const QString usage =
        command == QStringLiteral("node")
            ? QStringLiteral("usage: declai-server node unbind|show NODE_ID --data-dir DIR")
            : QStringLiteral("usage: declai-server user add NAME [--operator] [--grant-credits N] | list | "
                             "add-key NAME | revoke-key KEY_ID  [--expires-days N] [--spend-limit-credits N] "
                             "[--label TEXT] --data-dir DIR");
    const bool shapeOk =
        command == QStringLiteral("node")
            ? (words.size() == 3 && (sub == QStringLiteral("unbind") || sub == QStringLiteral("show")))
            : ((sub == QStringLiteral("list") && words.size() == 2) ||
               ((sub == QStringLiteral("add") || sub == QStringLiteral("add-key") ||
                 sub == QStringLiteral("revoke-key")) &&
                words.size() == 3));
    if (!shapeOk)
        return fail(usage, 2);
    credit::NewKeyOptions keyOptions;
    if (parser.isSet(o.expiresDays)) {
        auto days = intOption(parser, o.expiresDays, 1, 3650);
        if (!days)
            return fail(QString::fromStdString(days.error().message), 2);
        keyOptions.expiresAtMs = QDateTime::currentMSecsSinceEpoch() + *days * 86400 * 1000;
    }
    if (parser.isSet(o.spendLimit)) {
        auto micro = parseGrantAmount(parser.value(o.spendLimit));
        if (!micro)
            return fail(QString::fromStdString(micro.error().message), 2);
        keyOptions.spendLimit = *micro;
    }
    std::optional<credit::Microcredits> grantNow;
    if (parser.isSet(o.grantNow)) {
        auto micro = parseGrantAmount(parser.value(o.grantNow));
        if (!micro)
            return fail(QString::fromStdString(micro.error().message), 2);
        grantNow = *micro;
    }
    keyOptions.label = parser.value(o.label).toStdString();
    if (sub == QStringLiteral("add"))
        if (auto ok = credit::AccountStore::checkName(words[2].toStdString()); !ok)
            return fail(QString::fromStdString(ok.error().message), 2);

    auto signer = NodeIdentity::loadOrCreate(dir.toStdString(), "server.key");
    if (!signer)
        return fail(QString::fromStdString(signer.error().message));
    auto ledger = openLedger(config, dir, *signer);
    if (!ledger)
        return fail(QString::fromStdString(ledger.error().message));
    credit::AccountStore accounts((*ledger)->store());
    // An older data folder's users.json is moved into the database by whichever comes first: this or the
    // server.
    if (auto migrated = migrateLegacyUsers(dir, accounts); !migrated)
        return fail(QString::fromStdString(migrated.error().message));

    if (command == QStringLiteral("node")) {
        const std::string nodeId = words[2].toStdString();
        if (sub == QStringLiteral("show")) {
            auto binding = accounts.bindingOf(nodeId);
            if (!binding)
                return fail(QString::fromStdString(binding.error().message));
            if (!binding->has_value()) {
                std::fprintf(out, "node %s is not bound: its earnings go to node:%s\n", nodeId.c_str(),
                             nodeId.c_str());
                return 0;
            }
            std::fprintf(out, "node %s is bound to %s since %s\nsigned binding:\n%s", nodeId.c_str(),
                         (*binding)->account.c_str(), qPrintable(formatTime((*binding)->boundAtMs)),
                         (*binding)->message.c_str());
            return 0;
        }
        auto removed = accounts.unbindNode(nodeId);
        if (!removed)
            return fail(QString::fromStdString(removed.error().message));
        if (!*removed)
            return fail(QStringLiteral("node %1 is not bound").arg(words[2]));
        std::fprintf(out, "node %s unbound: its future verified earnings go to node:%s\n", nodeId.c_str(),
                     nodeId.c_str());
        return 0;
    }

    if (sub == QStringLiteral("list")) {
        auto users = accounts.users();
        if (!users)
            return fail(QString::fromStdString(users.error().message));
        for (const credit::UserRecord& user : *users) {
            std::fprintf(out, "%s\t%s\tcreated %s\t%s\n", user.name.c_str(),
                         credit::accountRoleName(user.role), qPrintable(formatTime(user.createdAtMs)),
                         user.origin.c_str());
            auto keys = accounts.keysOf(user.name);
            if (!keys)
                return fail(QString::fromStdString(keys.error().message));
            for (const credit::ApiKeyRecord& key : *keys)
                std::fprintf(out, "  key %s\t%s\texpires %s\tspent %s of %s\t%s\n", key.id.c_str(),
                             key.revokedAtMs ? "revoked" : "valid", qPrintable(formatTime(key.expiresAtMs)),
                             qPrintable(formatCredits(key.spent)),
                             key.spendLimit ? qPrintable(formatCredits(key.spendLimit)) : "unlimited",
                             key.label.c_str());
        }
        return 0;
    }
    if (sub == QStringLiteral("revoke-key")) {
        if (auto ok = accounts.revokeKey(words[2].toStdString()); !ok)
            return fail(QString::fromStdString(ok.error().message));
        std::fprintf(err, "key %s revoked; it is refused from now on by every gateway on this ledger\n",
                     qPrintable(words[2]));
        return 0;
    }
    Expected<credit::IssuedKey> issued = makeError(ErrorCode::Internal, "no key");
    if (sub == QStringLiteral("add-key")) {
        issued = accounts.addKey(words[2].toStdString(), keyOptions);
    } else {
        credit::NewUser user;
        user.name = words[2].toStdString();
        user.role = parser.isSet(o.operatorRole) ? credit::AccountRole::Operator : credit::AccountRole::User;
        user.origin = "operator";
        // Without --grant-credits the gateway pays its configured welcome grant on the first request.
        user.welcome = grantNow ? credit::WelcomeRule::Paid : credit::WelcomeRule::FirstUse;
        issued = accounts.createUser(user, keyOptions);
        if (issued && grantNow) {
            if (auto tx =
                    (*ledger)->grant(credit::userAccount(user.name), *grantNow, "welcome-grant:" + user.name);
                !tx)
                return fail(QString::fromStdString(tx.error().message));
        }
    }
    if (!issued)
        return fail(QString::fromStdString(issued.error().message));
    std::fprintf(out, "%s\n", issued->key.c_str());
    std::fprintf(
        err,
        "%s '%s' (key id %s); give them this API key: it is stored only as a salted hash and cannot be "
        "shown again\n",
        sub == QStringLiteral("add") ? "account created:" : "key added to", qPrintable(words[2]),
        issued->record.id.c_str());
    return 0;
}

} // namespace

std::optional<int> runAdminCommand(const QStringList& args, std::FILE* out, std::FILE* err) {
    if (args.size() < 2)
        return std::nullopt;
    const QString command = args[1];
    if (command != QStringLiteral("user") && command != QStringLiteral("grant") &&
        command != QStringLiteral("ledger") && command != QStringLiteral("node"))
        return std::nullopt;
    auto fail = [err](const QString& message, int code = 1) {
        std::fprintf(err, "declai-server: %s\n", qPrintable(message));
        return code;
    };
    QCommandLineParser parser;
    const QCommandLineOption dataDir = makeOption({QStringLiteral("data-dir")}, "data", "DIR");
    const QCommandLineOption csv = makeOption({QStringLiteral("csv")}, "CSV export");
    const QCommandLineOption ledgerKind = makeOption({QStringLiteral("ledger")}, "store", "sqlite|postgres");
    const QCommandLineOption ledgerPg = makeOption({QStringLiteral("ledger-postgres")}, "dsn", "DSN");
    const QCommandLineOption operatorRole = makeOption({QStringLiteral("operator")}, "operator role");
    const QCommandLineOption expiresDays = makeOption({QStringLiteral("expires-days")}, "days", "N");
    const QCommandLineOption spendLimit =
        makeOption({QStringLiteral("spend-limit-credits")}, "limit", "CREDITS");
    const QCommandLineOption grantNow = makeOption({QStringLiteral("grant-credits")}, "grant", "CREDITS");
    const QCommandLineOption label = makeOption({QStringLiteral("label")}, "label", "TEXT");
    parser.addOptions(
        {dataDir, csv, ledgerKind, ledgerPg, operatorRole, expiresDays, spendLimit, grantNow, label});
    if (!parser.parse(args))
        return fail(parser.errorText(), 2);
    const QStringList words = parser.positionalArguments();
    if (!parser.isSet(dataDir))
        return fail(QStringLiteral("%1 needs --data-dir DIR").arg(command), 2);
    const QString dir = QDir(parser.value(dataDir)).absolutePath();
    CreditConfig config;
    if (parser.isSet(ledgerKind))
        config.backend = parser.value(ledgerKind);
    config.postgres = parser.value(ledgerPg);

    if (command == QStringLiteral("user") || command == QStringLiteral("node"))
        return runAccountCommand(command, words, parser,
                                 {operatorRole, expiresDays, spendLimit, grantNow, label}, config, dir, out,
                                 err);

    const QString ledgerUsage = QStringLiteral(
        "usage: declai-server ledger verify|balance ACCOUNT|export --csv [FILE] --data-dir DIR");
    // A malformed command is refused before anything (a server key, a ledger) is created in the data folder.
    const QString sub = words.size() > 1 ? words[1] : QString();
    credit::Microcredits grantMicro = 0;
    if (command == QStringLiteral("grant")) {
        if (words.size() != 3)
            return fail(QStringLiteral("usage: declai-server grant ACCOUNT CREDITS --data-dir DIR"), 2);
        auto micro = parseGrantAmount(words[2]);
        if (!micro)
            return fail(QString::fromStdString(micro.error().message), 2);
        grantMicro = *micro;
    } else if (sub == QStringLiteral("balance") && words.size() != 3) {
        return fail(QStringLiteral("usage: declai-server ledger balance ACCOUNT --data-dir DIR"), 2);
    } else if (sub != QStringLiteral("verify") && sub != QStringLiteral("balance") &&
               !(sub == QStringLiteral("export") && parser.isSet(csv))) {
        return fail(ledgerUsage, 2);
    }

    auto signer = NodeIdentity::loadOrCreate(dir.toStdString(), "server.key");
    if (!signer)
        return fail(QString::fromStdString(signer.error().message));
    auto ledger = openLedger(config, dir, *signer);
    if (!ledger)
        return fail(QString::fromStdString(ledger.error().message));

    if (command == QStringLiteral("grant")) {
        std::string account = words[1].toStdString();
        if (account.find(':') == std::string::npos)
            account = credit::userAccount(account); // a bare name means a user
        const auto kind =
            account.rfind("node:", 0) == 0 ? credit::AccountKind::Node : credit::AccountKind::User;
        if (auto a = (*ledger)->ensureAccount(account, kind); !a)
            return fail(QString::fromStdString(a.error().message));
        auto tx = (*ledger)->grant(
            account, grantMicro,
            QByteArray::fromStdString("operator-grant:" + randomBytes(12)).toHex().toStdString());
        if (!tx)
            return fail(QString::fromStdString(tx.error().message));
        std::fprintf(out, "granted %s credits to %s (transaction %lld)\n",
                     qPrintable(formatCredits(grantMicro)), account.c_str(), static_cast<long long>(*tx));
        return 0;
    }

    // ledger ...
    if (sub == QStringLiteral("verify")) {
        auto report = (*ledger)->verify();
        if (!report)
            return fail(QString::fromStdString(report.error().message));
        std::fprintf(out, "checked %lld transactions\n", static_cast<long long>(report->transactionsChecked));
        for (const std::string& v : report->violations)
            std::fprintf(out, "VIOLATION: %s\n", v.c_str());
        // Open holds need a live session; this tool has none of its own, so every hold whose gateway run
        // is dead (stopped, silent, or its process gone) is reported.
        const int64_t staleMs = config.instanceStaleMs;
        auto orphans =
            findOrphanedHolds(**ledger, std::string(), QDateTime::currentMSecsSinceEpoch(), staleMs);
        if (!orphans)
            return fail(QString::fromStdString(orphans.error().message));
        for (const OrphanedHold& o : *orphans)
            std::fprintf(
                out, "ORPHANED HOLD: %s of %s, %s credits, placed at %s: %s\n", o.hold.id.c_str(),
                o.hold.account.c_str(), qPrintable(formatCredits(o.hold.amount)),
                qPrintable(
                    QDateTime::fromMSecsSinceEpoch(o.hold.createdAtMs, Qt::UTC).toString(Qt::ISODateWithMs)),
                o.reason.c_str());
        if (!orphans->empty())
            std::fprintf(out,
                         "%zu open hold(s) have no live session; the next start of declai-server "
                         "releases them\n",
                         orphans->size());
        if (!report->violations.empty() || !orphans->empty())
            return 1;
        std::fprintf(out, "ledger OK: every transaction sums to zero, hash chain intact, balances match "
                          "postings, holds consistent, no orphaned holds\n");
        return 0;
    }
    if (sub == QStringLiteral("balance")) {
        std::string account = words[2].toStdString();
        if (account.find(':') == std::string::npos)
            account = credit::userAccount(account);
        auto balance = (*ledger)->balance(account);
        if (!balance)
            return fail(QString::fromStdString(balance.error().message));
        std::fprintf(out, "%s: available %s, held %s, pending %s credits\n", account.c_str(),
                     qPrintable(formatCredits(balance->available)), qPrintable(formatCredits(balance->held)),
                     qPrintable(formatCredits(balance->pending)));
        return 0;
    }
    if (sub == QStringLiteral("export") && parser.isSet(csv)) {
        // Without FILE the CSV goes to stdout (through a temporary file: the exporter writes files
        // atomically).
        QTemporaryDir temp;
        const QString path = words.size() > 2 ? words[2] : temp.filePath(QStringLiteral("ledger.csv"));
        auto rows = (*ledger)->exportCsv(path);
        if (!rows)
            return fail(QString::fromStdString(rows.error().message));
        if (words.size() > 2) {
            std::fprintf(err, "wrote %lld rows to %s\n", static_cast<long long>(*rows), qPrintable(path));
        } else {
            QFile file(path);
            if (!file.open(QIODevice::ReadOnly))
                return fail(QStringLiteral("cannot read the export"));
            const QByteArray bytes = file.readAll();
            std::fwrite(bytes.constData(), 1, static_cast<size_t>(bytes.size()), out);
        }
        return 0;
    }
    return fail(ledgerUsage, 2); // not reached: malformed commands were refused above
}

} // namespace declai::server
