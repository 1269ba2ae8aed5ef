#include "declai/server/AdminCommands.h"

#include "declai/core/Identity.h"
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

} // namespace

std::optional<int> runAdminCommand(const QStringList& args, std::FILE* out, std::FILE* err) {
    if (args.size() < 2)
        return std::nullopt;
    const QString command = args[1];
    if (command != QStringLiteral("user") && command != QStringLiteral("grant") &&
        command != QStringLiteral("ledger"))
        return std::nullopt;
    auto fail = [err](const QString& message, int code = 1) {
        std::fprintf(err, "declai-server: %s\n", qPrintable(message));
        return code;
    };
    QCommandLineParser parser;
    const QCommandLineOption dataDir(QStringLiteral("data-dir"), QStringLiteral("data"),
                                     QStringLiteral("DIR"));
    const QCommandLineOption csv(QStringLiteral("csv"), QStringLiteral("CSV export"));
    const QCommandLineOption ledgerKind(QStringLiteral("ledger"), QStringLiteral("store"),
                                        QStringLiteral("sqlite|postgres"));
    const QCommandLineOption ledgerPg(QStringLiteral("ledger-postgres"), QStringLiteral("dsn"),
                                      QStringLiteral("DSN"));
    parser.addOptions({dataDir, csv, ledgerKind, ledgerPg});
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

    if (command == QStringLiteral("user")) {
        if (words.size() != 3 || words[1] != QStringLiteral("add"))
            return fail(QStringLiteral("usage: declai-server user add NAME --data-dir DIR"), 2);
        auto users = UserDirectory::open(dir);
        if (!users)
            return fail(QString::fromStdString(users.error().message));
        auto key = users->addUser(words[2].toStdString());
        if (!key)
            return fail(QString::fromStdString(key.error().message));
        std::fprintf(out, "%s\n", key->c_str());
        std::fprintf(
            err, "user '%s' created; give them this API key (it is not stored and cannot be shown again)\n",
            qPrintable(words[2]));
        return 0;
    }

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
