#include "declai/credit/SqliteLedgerStore.h"

#include "SqlWorker.h"
#include "declai/core/StrCat.h"

#include <QCoreApplication>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace declai::credit {

namespace {

Expected<void> pragma(QSqlDatabase& db, const QString& sql, const char* expected) {
    QSqlQuery query(db);
    if (!query.exec(sql))
        return makeError(ErrorCode::Io, strCat("ledger: ", sql.toStdString(),
                                               " failed: ", query.lastError().text().toStdString()));
    // journal_mode answers with the mode actually in effect; a file on a filesystem without shared memory
    // support stays in rollback mode, which we refuse rather than run with weaker guarantees than documented.
    if (expected && (!query.next() ||
                     query.value(0).toString().compare(QLatin1String(expected), Qt::CaseInsensitive) != 0))
        return makeError(ErrorCode::Unsupported,
                         strCat("ledger: ", sql.toStdString(), " did not take effect"));
    return {};
}

} // namespace

SqliteLedgerStore::SqliteLedgerStore(std::unique_ptr<SqlWorker> worker) : m_worker(std::move(worker)) {}
SqliteLedgerStore::~SqliteLedgerStore() = default;

Expected<std::unique_ptr<SqliteLedgerStore>> SqliteLedgerStore::open(const QString& path, Options options) {
    if (!QCoreApplication::instance())
        return makeError(ErrorCode::InvalidArgument,
                         "the ledger needs a QCoreApplication (Qt SQL driver plugins)");
    if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QSQLITE")))
        return makeError(ErrorCode::DriverMissing,
                         "Qt SQLite driver (QSQLITE) is not installed: libqt6sql6-sqlite");
    auto connect = [path, options](const QString& name) -> Expected<void> {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(options.busyTimeoutMs));
        if (!db.open())
            return makeError(ErrorCode::Io, strCat("cannot open ledger ", path.toStdString(), ": ",
                                                   db.lastError().text().toStdString()));
        if (auto ok = pragma(db, QStringLiteral("PRAGMA journal_mode=WAL"), "wal"); !ok)
            return ok;
        // FULL: in WAL mode each commit is synced before COMMIT returns, so an acknowledged transaction
        // survives power loss, not only a process crash.
        if (auto ok = pragma(db, QStringLiteral("PRAGMA synchronous=FULL"), nullptr); !ok)
            return ok;
        return pragma(db, QStringLiteral("PRAGMA foreign_keys=ON"), nullptr);
    };
    SqlWorker::Settings settings;
    settings.dialect = Dialect::Sqlite;
    settings.maxGroupCommit = std::max(1, options.maxGroupCommit);
    settings.maxRetries = 3;
    auto worker = std::make_unique<SqlWorker>(std::move(connect), settings);
    auto version = worker->startAndMigrate();
    if (!version)
        return version.error();
    return std::unique_ptr<SqliteLedgerStore>(new SqliteLedgerStore(std::move(worker)));
}

int SqliteLedgerStore::schemaVersion() const {
    return m_worker->schemaVersion();
}

void SqliteLedgerStore::submit(Job job) {
    m_worker->submit(std::move(job));
}

} // namespace declai::credit
