#include "declai/credit/PostgresLedgerStore.h"

#include "SqlWorker.h"
#include "declai/core/StrCat.h"

#include <QCoreApplication>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>
#include <sstream>

namespace declai::credit {

namespace {

bool isPlainIdentifier(const std::string& name) {
    if (name.empty() || name.size() > 63)
        return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    return !(name[0] >= '0' && name[0] <= '9');
}

Expected<void> execSql(QSqlDatabase& db, const QString& sql) {
    QSqlQuery query(db);
    if (!query.exec(sql))
        return makeError(ErrorCode::Io, strCat("ledger: ", sql.toStdString(),
                                               " failed: ", query.lastError().text().toStdString()));
    return {};
}

} // namespace

Expected<PostgresConnectionInfo> PostgresConnectionInfo::parse(const std::string& keyValues) {
    PostgresConnectionInfo info;
    std::istringstream words(keyValues);
    std::string word;
    while (words >> word) {
        const auto eq = word.find('=');
        if (eq == std::string::npos)
            return makeError(ErrorCode::InvalidArgument,
                             strCat("connection info: '", word, "' is not key=value"));
        const std::string key = word.substr(0, eq);
        const std::string value = word.substr(eq + 1);
        if (key == "host") {
            info.host = value;
        } else if (key == "port") {
            try {
                info.port = std::stoi(value);
            } catch (const std::exception&) {
                return makeError(ErrorCode::InvalidArgument,
                                 strCat("connection info: bad port '", value, "'"));
            }
        } else if (key == "user") {
            info.user = value;
        } else if (key == "password") {
            info.password = value;
        } else if (key == "dbname") {
            info.dbname = value;
        } else if (key == "schema") {
            info.schema = value;
        } else {
            return makeError(ErrorCode::InvalidArgument, strCat("connection info: unknown key '", key, "'"));
        }
    }
    if (info.dbname.empty())
        return makeError(ErrorCode::InvalidArgument, "connection info: dbname is missing");
    return info;
}

PostgresLedgerStore::PostgresLedgerStore(std::unique_ptr<SqlWorker> worker) : m_worker(std::move(worker)) {}
PostgresLedgerStore::~PostgresLedgerStore() = default;

Expected<std::unique_ptr<PostgresLedgerStore>> PostgresLedgerStore::open(const PostgresConnectionInfo& info,
                                                                         Options options) {
    if (!QCoreApplication::instance())
        return makeError(ErrorCode::InvalidArgument,
                         "the ledger needs a QCoreApplication (Qt SQL driver plugins)");
    if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")))
        return makeError(ErrorCode::DriverMissing,
                         "Qt PostgreSQL driver (QPSQL) is not installed: libqt6sql6-psql");
    // The schema name is spliced into SQL (identifiers cannot be bound), so only plain names are accepted.
    if (!isPlainIdentifier(info.schema))
        return makeError(ErrorCode::InvalidArgument,
                         strCat("schema name '", info.schema, "' must be lowercase letters, digits and _"));
    auto connect = [info](const QString& name) -> Expected<void> {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
        db.setHostName(QString::fromStdString(info.host));
        db.setPort(info.port);
        db.setUserName(QString::fromStdString(info.user));
        db.setPassword(QString::fromStdString(info.password));
        db.setDatabaseName(QString::fromStdString(info.dbname));
        db.setConnectOptions(QStringLiteral("connect_timeout=10"));
        if (!db.open())
            return makeError(ErrorCode::Io,
                             strCat("cannot connect to the ledger database ", info.dbname, " on ", info.host,
                                    ":", info.port, ": ", db.lastError().text().toStdString()));
        const QString schema = QString::fromStdString(info.schema);
        if (auto ok = execSql(db, QStringLiteral("SET client_min_messages TO warning")); !ok)
            return ok;
        // Two gateways may race to create the schema; the loser's error is harmless if the schema now exists.
        auto created = execSql(db, QStringLiteral("CREATE SCHEMA IF NOT EXISTS %1").arg(schema));
        if (auto ok = execSql(db, QStringLiteral("SET search_path TO %1").arg(schema)); !ok)
            return ok;
        QSqlQuery exists(db);
        exists.prepare(QStringLiteral("SELECT 1 FROM pg_namespace WHERE nspname = ?"));
        exists.addBindValue(schema);
        if (!exists.exec() || !exists.next())
            return created ? makeError(ErrorCode::Io, "ledger schema was not created") : created.error();
        return {};
    };
    SqlWorker::Settings settings;
    settings.dialect = Dialect::Postgres;
    settings.maxGroupCommit = std::max(1, options.maxGroupCommit);
    settings.maxRetries = std::max(0, options.maxRetries);
    auto worker = std::make_unique<SqlWorker>(std::move(connect), settings);
    auto version = worker->startAndMigrate();
    if (!version)
        return version.error();
    return std::unique_ptr<PostgresLedgerStore>(new PostgresLedgerStore(std::move(worker)));
}

int PostgresLedgerStore::schemaVersion() const {
    return m_worker->schemaVersion();
}

void PostgresLedgerStore::submit(Job job) {
    m_worker->submit(std::move(job));
}

} // namespace declai::credit
