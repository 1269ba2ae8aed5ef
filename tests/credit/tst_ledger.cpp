// One suite, compiled once per store (DECLAI_LEDGER_BACKEND_SQLITE / _POSTGRES), so both stores pass exactly
// the same checks: money flow, idempotency, concurrent double spend, random operation sequences against a
// model, tamper detection, migrations, receipts and the CSV export.
#include "TestData.h"
#include "declai/core/StrCat.h"
#include "declai/credit/Ledger.h"
#include "declai/credit/PostgresLedgerStore.h"
#include "declai/credit/SqliteLedgerStore.h"

#include <QFile>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <atomic>
#include <latch>
#include <map>
#include <random>
#include <thread>

using namespace declai;
using namespace declai::credit;

namespace {

constexpr int kLatestSchema = 5; // bump with credit/src/Migrations.h

#if defined(DECLAI_LEDGER_BACKEND_POSTGRES)
constexpr bool kPostgres = true;
#else
constexpr bool kPostgres = false;
#endif

std::string str(const QString& s) {
    return s.toStdString();
}

} // namespace

class LedgerTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    PostgresConnectionInfo m_pg;
    int m_counter = 0;
    QString m_locator;     // SQLite file path or PostgreSQL schema of the current test
    QStringList m_created; // PostgreSQL schemas this test created
    std::atomic<std::int64_t> m_clockMs{1'700'000'000'000};

    QString newLocator() {
        ++m_counter;
        if (kPostgres) {
            m_created.append(
                QStringLiteral("t_%1_%2").arg(QCoreApplication::applicationPid()).arg(m_counter));
            return m_created.back();
        }
        return m_dir.filePath(QStringLiteral("ledger-%1.sqlite").arg(m_counter));
    }

    Expected<std::unique_ptr<LedgerStore>> openStore(const QString& locator) {
        if (kPostgres) {
            PostgresConnectionInfo info = m_pg;
            info.schema = str(locator);
            auto store = PostgresLedgerStore::open(info);
            if (!store)
                return store.error();
            return std::unique_ptr<LedgerStore>(std::move(*store));
        }
        auto store = SqliteLedgerStore::open(locator);
        if (!store)
            return store.error();
        return std::unique_ptr<LedgerStore>(std::move(*store));
    }

    std::unique_ptr<Ledger> openLedger(const QString& locator, std::optional<NodeIdentity> identity = {}) {
        auto store = openStore(locator);
        if (!store) {
            qWarning("%s", store.error().toString().c_str());
            return nullptr;
        }
        Ledger::Options options;
        options.nowMs = [this] { return m_clockMs.load(); };
        options.identity = std::move(identity);
        return std::make_unique<Ledger>(std::move(*store), std::move(options));
    }

    std::unique_ptr<Ledger> freshLedger(std::optional<NodeIdentity> identity = {}) {
        m_locator = newLocator();
        return openLedger(m_locator, std::move(identity));
    }

    // Runs SQL on a separate connection, as an attacker (or a careless admin) with database access would.
    bool rawExec(const QString& sql) {
        bool ok = false;
        {
            QSqlDatabase db;
            if (kPostgres) {
                db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), QStringLiteral("raw"));
                db.setHostName(QString::fromStdString(m_pg.host));
                db.setPort(m_pg.port);
                db.setUserName(QString::fromStdString(m_pg.user));
                db.setPassword(QString::fromStdString(m_pg.password));
                db.setDatabaseName(QString::fromStdString(m_pg.dbname));
            } else {
                db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("raw"));
                db.setDatabaseName(m_locator);
                db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=10000"));
            }
            if (db.open()) {
                QSqlQuery query(db);
                if (kPostgres) {
                    query.exec(QStringLiteral("SET client_min_messages TO warning"));
                    query.exec(QStringLiteral("SET search_path TO %1").arg(m_locator));
                }
                ok = query.exec(sql);
                if (!ok)
                    qWarning("raw SQL failed: %s", qPrintable(query.lastError().text()));
            }
            db.close();
        }
        QSqlDatabase::removeDatabase(QStringLiteral("raw"));
        return ok;
    }

    static bool hasViolation(const VerifyReport& report, const char* needle) {
        for (const std::string& violation : report.violations)
            if (violation.find(needle) != std::string::npos)
                return true;
        return false;
    }

    static std::string joined(const VerifyReport& report) {
        std::string out;
        for (const std::string& violation : report.violations)
            out.append(violation).append("; ");
        return out;
    }

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void migrationsFreshAndReopen();
    void migrationsFutureVersionRefused();
    void moneyFlow();
    void insufficientCreditsChangesNothing();
    void storeRefusesNegativeBalance();
    void idempotentRetries();
    void concurrentDoubleSpend();
    void groupCommitAsync();
    void randomOperationsMatchModel();
    void tamperPostingAmount();
    void tamperTransactionRow();
    void tamperBalancesAndHolds();
    void dailySpendLimit();
    void receipts();
    void csvExport();
    void holdsRememberTheirGatewayRun();
};

void LedgerTest::init() {
    m_clockMs = 1'700'000'000'000;
}

void LedgerTest::initTestCase() {
    QVERIFY(m_dir.isValid());
    if (kPostgres) {
        const QString info = qEnvironmentVariable("DECLAI_TEST_PG");
        if (info.isEmpty())
            DECLAI_SKIP_MISSING("postgres",
                                QStringLiteral("DECLAI_TEST_PG is not set: start a throwaway server with "
                                               "scripts/pg-test-cluster.sh start DIR and export the "
                                               "DECLAI_TEST_PG line it prints"));
        auto parsed = PostgresConnectionInfo::parse(str(info));
        QVERIFY2(parsed.hasValue(), parsed ? "" : parsed.error().message.c_str());
        m_pg = *parsed;
    }
}

void LedgerTest::cleanup() {
    // PostgreSQL tests each use their own schemas; drop them so the database does not fill up.
    if (kPostgres)
        for (const QString& schema : std::exchange(m_created, {}))
            rawExec(QStringLiteral("DROP SCHEMA IF EXISTS %1 CASCADE").arg(schema));
    m_locator.clear();
}

void LedgerTest::migrationsFreshAndReopen() {
    {
        auto ledger = freshLedger();
        QVERIFY(ledger);
        QCOMPARE(ledger->store().schemaVersion(), kLatestSchema);
        QVERIFY(ledger->ensureAccount("user:alice", AccountKind::User));
        QVERIFY(ledger->grant("user:alice", 500, "g1"));
    }
    for (int i = 0; i < 2; ++i) {
        auto ledger = openLedger(m_locator);
        QVERIFY(ledger);
        QCOMPARE(ledger->store().schemaVersion(), kLatestSchema);
        auto balance = ledger->balance("user:alice");
        QVERIFY(balance);
        QCOMPARE(balance->available, 500);
        auto report = ledger->verify();
        QVERIFY(report);
        QVERIFY2(report->clean(), joined(*report).c_str());
        QCOMPARE(report->transactionsChecked, 1);
    }
    // Re-opening ran no migration again: still one version row, one set of system accounts.
    QVERIFY(rawExec(QStringLiteral("INSERT INTO accounts (id, kind, daily_limit, created_at_ms) "
                                   "SELECT 'user:probe', 'user', 0, COUNT(*) FROM schema_version")));
    auto ledger = openLedger(m_locator);
    QVERIFY(ledger);
    auto report = ledger->verify();
    QVERIFY(report);
    // The probe account has no balance row, which verify must notice; its created_at is the row count.
    QVERIFY(hasViolation(*report, "user:probe has no cached balance row"));
    QVERIFY(rawExec(QStringLiteral("DELETE FROM accounts WHERE id = 'user:probe' AND created_at_ms = 1")));
    report = ledger->verify();
    QVERIFY(report);
    QVERIFY2(report->clean(), joined(*report).c_str());
}

void LedgerTest::migrationsFutureVersionRefused() {
    {
        auto ledger = freshLedger();
        QVERIFY(ledger);
    }
    QVERIFY(rawExec(QStringLiteral("UPDATE schema_version SET version = 999")));
    auto store = openStore(m_locator);
    QVERIFY(!store);
    QCOMPARE(store.error().code, ErrorCode::Unsupported);
    QVERIFY2(store.error().message.find("schema version 999 is newer than this build supports (" +
                                        std::to_string(kLatestSchema) + ")") != std::string::npos,
             store.error().message.c_str());
}

void LedgerTest::moneyFlow() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:alice", AccountKind::User));
    QVERIFY(ledger->ensureAccount("node:n1", AccountKind::Node));
    QVERIFY(ledger->ensureAccount("node:n2", AccountKind::Node));
    QVERIFY(ledger->ensureAccount("user:alice", AccountKind::User));  // idempotent
    QVERIFY(!ledger->ensureAccount("user:alice", AccountKind::Node)); // kind clash
    QVERIFY(!ledger->createAccount("user:alice", AccountKind::User));
    QVERIFY(!ledger->ensureAccount("system:mint", AccountKind::User));

    QVERIFY(ledger->grant("user:alice", 10'000, "grant-1"));
    auto hold = ledger->placeHold("user:alice", 4'000, "req-1");
    QVERIFY2(hold, hold ? "" : hold.error().message.c_str());
    QCOMPARE(*hold, std::string("req-1"));
    auto balance = ledger->balance("user:alice");
    QVERIFY(balance);
    QCOMPARE(balance->available, 6'000);
    QCOMPARE(balance->held, 4'000);

    // Cost 3,000: 2,000 + 700 to the nodes, 300 fee, 1,000 back to alice.
    auto settled = ledger->settleHold("req-1", 3'000, {{"node:n1", 2'000}, {"node:n2", 700}}, "settle-1");
    QVERIFY2(settled, settled ? "" : settled.error().message.c_str());
    QVERIFY(!ledger->releaseHold("req-1")); // already settled
    QVERIFY(!ledger->settleHold("req-1", 3'000, {}, "settle-other"));
    balance = ledger->balance("user:alice");
    QCOMPARE(balance->available, 7'000);
    QCOMPARE(balance->held, 0);
    QCOMPARE(ledger->balance("node:n1")->pending, 2'000);
    QCOMPARE(ledger->balance("node:n1")->available, 0);
    QCOMPARE(ledger->balance("system:fee")->available, 300);

    // Shares above the cost, a cost above the hold, and a non-node share are refused.
    QVERIFY(ledger->placeHold("user:alice", 1'000, "req-2"));
    QVERIFY(!ledger->settleHold("req-2", 500, {{"node:n1", 600}}, "s2"));
    QVERIFY(!ledger->settleHold("req-2", 1'001, {}, "s2"));
    QVERIFY(!ledger->settleHold("req-2", 500, {{"user:alice", 100}}, "s2"));
    QVERIFY(ledger->releaseHold("req-2"));
    QCOMPARE(ledger->balance("user:alice")->available, 7'000);

    // Verification window: earnings from before the cutoff are released, later ones wait.
    m_clockMs += 60'000;
    QVERIFY(ledger->placeHold("user:alice", 1'000, "req-3"));
    QVERIFY(ledger->settleHold("req-3", 1'000, {{"node:n1", 900}}, "settle-3"));
    auto released = ledger->releasePending("node:n1", m_clockMs.load() - 30'000);
    QVERIFY(released);
    QCOMPARE(released->amount, 2'000);
    QVERIFY(released->txId > 0);
    QCOMPARE(ledger->balance("node:n1")->available, 2'000);
    QCOMPARE(ledger->balance("node:n1")->pending, 900);
    auto nothing = ledger->releasePending("node:n1", m_clockMs.load() - 30'000);
    QVERIFY(nothing);
    QCOMPARE(nothing->txId, 0);

    // Caught cheating: what is still pending burns; released earnings stay.
    auto voided = ledger->voidPending("node:n1", "failed spot check on req-3");
    QVERIFY(voided);
    QCOMPARE(voided->amount, 900);
    QCOMPARE(ledger->balance("node:n1")->pending, 0);
    QCOMPARE(ledger->balance("system:burn")->available, 900);

    // A node may spend what it earned.
    QVERIFY(ledger->transfer("node:n1", "user:alice", 500, "tip-1"));
    QCOMPARE(ledger->balance("node:n1")->available, 1'500);

    auto history = ledger->history("user:alice", 3);
    QVERIFY(history);
    QCOMPARE(history->size(), size_t(3));
    QCOMPARE(history->front().kind, TxKind::Transfer);
    QCOMPARE(history->front().amount, 500);

    auto report = ledger->verify();
    QVERIFY(report);
    QVERIFY2(report->clean(), joined(*report).c_str());
    // Nothing was minted but the grant: mint is minus everything that exists anywhere else.
    QCOMPARE(ledger->balance("system:mint")->available, -10'000);
}

void LedgerTest::insufficientCreditsChangesNothing() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:bob", AccountKind::User));
    QVERIFY(ledger->grant("user:bob", 1'000, "g"));
    auto hold = ledger->placeHold("user:bob", 1'500, "big");
    QVERIFY(!hold);
    QCOMPARE(hold.error().message,
             std::string("insufficient credits: need 1500, available 1000 (microcredits)"));
    QVERIFY(!ledger->hold("big")->has_value());
    QCOMPARE(ledger->balance("user:bob")->available, 1'000);
    QCOMPARE(ledger->balance("user:bob")->held, 0);
    QVERIFY(!ledger->transfer("user:bob", "user:bob", 1, "self"));
    QVERIFY(!ledger->grant("user:bob", 0, "zero"));
    QVERIFY(!ledger->grant("user:bob", -5, "neg"));
    QVERIFY(!ledger->grant("user:nobody", 5, "ghost"));
    // The failed request id is still free: a later hold under it works.
    QVERIFY(ledger->placeHold("user:bob", 1'000, "big"));
    auto report = ledger->verify();
    QVERIFY(report);
    QCOMPARE(report->transactionsChecked, 2);
    QVERIFY2(report->clean(), joined(*report).c_str());
}

void LedgerTest::storeRefusesNegativeBalance() {
    // The store itself refuses a transaction that would overdraw a user, whatever the caller checked.
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:c", AccountKind::User));
    QVERIFY(ledger->grant("user:c", 100, "g"));
    auto result = ledger->store().write<TxId>([](LedgerSession& session) -> Expected<TxId> {
        auto tx = session.appendTransaction(
            {"raw-overdraw", TxKind::Transfer, "", 1, {{"user:c", -101}, {kBurnAccount, 101}}});
        if (!tx)
            return tx.error();
        return tx->id;
    });
    QVERIFY(!result);
    QVERIFY(result.error().message.find("insufficient credits") != std::string::npos);
    auto unbalanced = ledger->store().write<TxId>([](LedgerSession& session) -> Expected<TxId> {
        auto tx = session.appendTransaction(
            {"raw-mint", TxKind::Grant, "", 1, {{"user:c", 50}, {kMintAccount, -49}}});
        if (!tx)
            return tx.error();
        return tx->id;
    });
    QVERIFY(!unbalanced);
    QCOMPARE(ledger->balance("user:c")->available, 100);
    auto report = ledger->verify();
    QVERIFY(report);
    QCOMPARE(report->transactionsChecked, 1);
    QVERIFY2(report->clean(), joined(*report).c_str());
}

void LedgerTest::idempotentRetries() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:d", AccountKind::User));
    // 10,000 retries of one grant from four threads: one effect, one transaction id for everyone.
    constexpr int kThreads = 4;
    constexpr int kPerThread = 2'500;
    std::atomic<int> failures{0};
    std::atomic<TxId> firstId{0};
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kPerThread; ++i) {
                auto id = ledger->grant("user:d", 777, "grant-once");
                if (!id) {
                    ++failures;
                    continue;
                }
                TxId expected = 0;
                if (!firstId.compare_exchange_strong(expected, *id) && expected != *id)
                    ++mismatches;
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    QCOMPARE(failures.load(), 0);
    QCOMPARE(mismatches.load(), 0);
    QCOMPARE(ledger->balance("user:d")->available, 777);
    // The same key with a different amount is a caller bug, not a retry.
    auto clash = ledger->grant("user:d", 778, "grant-once");
    QVERIFY(!clash);
    QVERIFY(clash.error().message.find("already used") != std::string::npos);

    // Retried hold, settle and release are no-ops too.
    QVERIFY(ledger->placeHold("user:d", 100, "r1"));
    QVERIFY(ledger->placeHold("user:d", 100, "r1"));
    QVERIFY(!ledger->placeHold("user:d", 101, "r1"));
    auto s1 = ledger->settleHold("r1", 50, {}, "s1");
    auto s2 = ledger->settleHold("r1", 50, {}, "s1");
    QVERIFY(s1 && s2);
    QCOMPARE(*s1, *s2);
    QVERIFY(ledger->placeHold("user:d", 100, "r2"));
    auto r1 = ledger->releaseHold("r2");
    auto r2 = ledger->releaseHold("r2");
    QVERIFY(r1 && r2);
    QCOMPARE(*r1, *r2);
    QCOMPARE(ledger->balance("user:d")->available, 727);
    auto report = ledger->verify();
    QVERIFY(report);
    QCOMPARE(report->transactionsChecked, 5);
    QVERIFY2(report->clean(), joined(*report).c_str());
}

void LedgerTest::concurrentDoubleSpend() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:e", AccountKind::User));
    QVERIFY(ledger->grant("user:e", 100, "g"));
    int badRounds = 0;
    std::string lastError;
    for (int round = 0; round < 1000; ++round) {
        std::latch start(2);
        Expected<std::string> results[2] = {makeError(ErrorCode::Internal, "not run"),
                                            makeError(ErrorCode::Internal, "not run")};
        auto attempt = [&](int which) {
            start.arrive_and_wait(); // both requests leave at the same moment
            results[which] = ledger->placeHold("user:e", 60, declai::strCat("r", round, "-", which));
        };
        std::thread a(attempt, 0);
        std::thread b(attempt, 1);
        a.join();
        b.join();
        const int successes = int(results[0].hasValue()) + int(results[1].hasValue());
        const int loser = results[0].hasValue() ? 1 : 0;
        if (successes != 1 || results[loser].error().message.rfind("insufficient credits", 0) != 0) {
            ++badRounds;
            lastError = results[loser].hasValue() ? "both succeeded" : results[loser].error().message;
            continue;
        }
        if (!ledger->releaseHold(*results[1 - loser])) {
            ++badRounds;
            lastError = "release failed";
        }
    }
    QVERIFY2(badRounds == 0, lastError.c_str());
    QCOMPARE(ledger->balance("user:e")->available, 100);
    auto report = ledger->verify();
    QVERIFY(report);
    QVERIFY2(report->clean(), joined(*report).c_str());
    QCOMPARE(report->transactionsChecked, 1 + 2 * 1000);
}

void LedgerTest::groupCommitAsync() {
    // Many writes in flight at once share commits; each still succeeds or fails on its own.
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:f", AccountKind::User));
    QVERIFY(ledger->ensureAccount("user:g", AccountKind::User));
    QVERIFY(ledger->grant("user:f", 1'000, "g"));
    std::vector<std::future<Expected<TxId>>> futures;
    for (int i = 0; i < 500; ++i) {
        futures.push_back(ledger->store().writeAsync<TxId>([i](LedgerSession& session) -> Expected<TxId> {
            // 10 each: the first 100 fit in 1,000 credits, the other 400 must fail alone.
            auto tx = session.appendTransaction(
                {declai::strCat("async-", i), TxKind::Transfer, "", 1, {{"user:f", -10}, {"user:g", 10}}});
            if (!tx)
                return tx.error();
            return tx->id;
        }));
    }
    int ok = 0;
    for (auto& future : futures)
        ok += future.get().hasValue() ? 1 : 0;
    QCOMPARE(ok, 100);
    QCOMPARE(ledger->balance("user:f")->available, 0);
    QCOMPARE(ledger->balance("user:g")->available, 1'000);
    auto report = ledger->verify();
    QVERIFY(report);
    QVERIFY2(report->clean(), joined(*report).c_str());
    QCOMPARE(report->transactionsChecked, 101);
}

void LedgerTest::randomOperationsMatchModel() {
    // A seeded random walk over every operation; after each one the ledger must agree with a plain in-memory
    // model and verify() must be clean (zero sums, chain, cached balances, holds, no negative balance).
    const unsigned seed = qEnvironmentVariableIsSet("DECLAI_LEDGER_SEED")
                              ? qEnvironmentVariable("DECLAI_LEDGER_SEED").toUInt()
                              : 20240601u;
    const int ops = qEnvironmentVariableIsSet("DECLAI_LEDGER_OPS")
                        ? qEnvironmentVariableIntValue("DECLAI_LEDGER_OPS")
                        : 1200;
    qInfo("seed %u, %d operations", seed, ops);
    std::mt19937_64 rng(seed);
    auto pick = [&rng](auto lo, auto hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };

    auto ledger = freshLedger();
    QVERIFY(ledger);
    const std::vector<std::string> users{"user:u0", "user:u1", "user:u2", "user:u3"};
    const std::vector<std::string> nodes{"node:n0", "node:n1", "node:n2"};
    std::map<std::string, Balance> model;
    for (const auto& u : users)
        QVERIFY(ledger->ensureAccount(u, AccountKind::User));
    for (const auto& n : nodes)
        QVERIFY(ledger->ensureAccount(n, AccountKind::Node));
    for (const auto& a : users)
        model[a] = {};
    for (const auto& a : nodes)
        model[a] = {};
    Microcredits minted = 0, burned = 0, fees = 0;
    struct OpenHold {
        std::string id, account;
        Microcredits amount;
    };
    std::vector<OpenHold> openHolds;
    std::vector<std::string> closedHolds;
    struct Lot {
        std::string node;
        Microcredits amount;
        std::int64_t createdAtMs;
    };
    std::vector<Lot> lots;
    std::vector<std::pair<std::string, std::pair<std::string, Microcredits>>>
        grants; // key -> (account, amount)
    int succeeded = 0;
    auto all = [&] {
        std::vector<std::string> v = users;
        v.insert(v.end(), nodes.begin(), nodes.end());
        return v;
    }();

    for (int op = 0; op < ops; ++op) {
        const int kind = int(pick(0, 9));
        const std::string tag = declai::strCat("op", op);
        bool expectOk = true;
        bool ok = false;
        m_clockMs += pick(0, 5'000);
        switch (kind) {
        case 0: { // grant
            const std::string account = all[size_t(pick(0, long(all.size()) - 1))];
            const Microcredits amount = pick(1, 1'000'000);
            ok = ledger->grant(account, amount, tag).hasValue();
            if (ok) {
                model[account].available += amount;
                minted += amount;
                grants.push_back({tag, {account, amount}});
            }
            break;
        }
        case 1: { // transfer
            const std::string from = all[size_t(pick(0, long(all.size()) - 1))];
            std::string to = all[size_t(pick(0, long(all.size()) - 1))];
            if (to == from)
                to = from == all[0] ? all[1] : all[0];
            const Microcredits amount = pick(1, 600'000);
            expectOk = model[from].available >= amount;
            ok = ledger->transfer(from, to, amount, tag).hasValue();
            if (ok) {
                model[from].available -= amount;
                model[to].available += amount;
            }
            break;
        }
        case 2:
        case 3: { // hold
            const std::string account = users[size_t(pick(0, long(users.size()) - 1))];
            const Microcredits amount = pick(1, 400'000);
            expectOk = model[account].available >= amount;
            ok = ledger->placeHold(account, amount, tag).hasValue();
            if (ok) {
                model[account].available -= amount;
                model[account].held += amount;
                openHolds.push_back({tag, account, amount});
            }
            break;
        }
        case 4:
        case 5: { // settle
            if (openHolds.empty()) {
                expectOk = false;
                ok = ledger->settleHold("no-such-hold", 1, {}, tag).hasValue();
                break;
            }
            const size_t index = size_t(pick(0, long(openHolds.size()) - 1));
            const OpenHold hold = openHolds[index];
            const Microcredits cost = pick(0, hold.amount);
            std::vector<NodeShare> shares;
            Microcredits left = cost;
            for (int i = 0, n = int(pick(0, 3)); i < n && left > 0; ++i) {
                const Microcredits share = pick(0, left);
                shares.push_back({nodes[size_t(pick(0, long(nodes.size()) - 1))], share});
                left -= share;
            }
            ok = ledger->settleHold(hold.id, cost, shares, tag).hasValue();
            if (ok) {
                openHolds.erase(openHolds.begin() + long(index));
                closedHolds.push_back(hold.id);
                model[hold.account].held -= hold.amount;
                model[hold.account].available += hold.amount - cost;
                std::map<std::string, Microcredits> merged;
                for (const auto& s : shares)
                    merged[s.nodeAccount] += s.amount;
                for (const auto& [node, amount] : merged) {
                    if (amount == 0)
                        continue;
                    model[node].pending += amount;
                    lots.push_back({node, amount, m_clockMs.load()});
                }
                fees += left;
            }
            break;
        }
        case 6: { // release
            if (openHolds.empty() || pick(0, 3) == 0) {
                const std::string id = closedHolds.empty() ? std::string("nope") : closedHolds.back();
                // Releasing a settled hold fails; releasing an already released one replays its first
                // release.
                auto result = ledger->releaseHold(id);
                auto first = ledger->hold(id);
                expectOk = first && first->has_value() && (*first)->status == HoldStatus::Released;
                ok = result.hasValue();
                break;
            }
            const size_t index = size_t(pick(0, long(openHolds.size()) - 1));
            const OpenHold hold = openHolds[index];
            ok = ledger->releaseHold(hold.id).hasValue();
            if (ok) {
                openHolds.erase(openHolds.begin() + long(index));
                closedHolds.push_back(hold.id);
                model[hold.account].held -= hold.amount;
                model[hold.account].available += hold.amount;
            }
            break;
        }
        case 7: { // release pending earnings past a window
            const std::string node = nodes[size_t(pick(0, long(nodes.size()) - 1))];
            const std::int64_t cutoff = m_clockMs.load() - pick(0, 20'000);
            auto result = ledger->releasePending(node, cutoff);
            ok = result.hasValue();
            if (ok) {
                Microcredits expected = 0;
                for (auto it = lots.begin(); it != lots.end();) {
                    if (it->node == node && it->createdAtMs < cutoff) {
                        expected += it->amount;
                        it = lots.erase(it);
                    } else {
                        ++it;
                    }
                }
                QCOMPARE(result->amount, expected);
                model[node].pending -= expected;
                model[node].available += expected;
            }
            break;
        }
        case 8: { // void (rarely)
            if (pick(0, 4) != 0) {
                // Replay an earlier grant: same key, same effect, nothing new.
                if (!grants.empty()) {
                    const auto& [key, target] = grants[size_t(pick(0, long(grants.size()) - 1))];
                    ok = ledger->grant(target.first, target.second, key).hasValue();
                } else {
                    expectOk = false;
                    ok = false;
                }
                break;
            }
            const std::string node = nodes[size_t(pick(0, long(nodes.size()) - 1))];
            auto result = ledger->voidPending(node, tag);
            ok = result.hasValue();
            if (ok) {
                QCOMPARE(result->amount, model[node].pending);
                burned += model[node].pending;
                model[node].pending = 0;
                std::erase_if(lots, [&](const Lot& lot) { return lot.node == node; });
            }
            break;
        }
        default: { // daily limit toggles (never binding for the model: set far above any walk)
            const std::string account = users[size_t(pick(0, long(users.size()) - 1))];
            ok = ledger->setDailySpendLimit(account, pick(0, 1) ? 0 : 1'000'000'000'000LL).hasValue();
            break;
        }
        }
        QVERIFY2(
            ok == expectOk,
            declai::strCat(tag, " kind ", kind, ": expected ", expectOk ? "success" : "failure").c_str());
        succeeded += ok ? 1 : 0;

        for (const auto& [account, expected] : model) {
            auto actual = ledger->balance(account);
            QVERIFY(actual);
            if (actual->available != expected.available || actual->held != expected.held ||
                actual->pending != expected.pending)
                QFAIL(qPrintable(QStringLiteral("%1 after %2: ledger %3/%4/%5, model %6/%7/%8")
                                     .arg(QString::fromStdString(account), QString::fromStdString(tag))
                                     .arg(actual->available)
                                     .arg(actual->held)
                                     .arg(actual->pending)
                                     .arg(expected.available)
                                     .arg(expected.held)
                                     .arg(expected.pending)));
        }
        auto report = ledger->verify();
        QVERIFY(report);
        QVERIFY2(report->clean(), declai::strCat(tag, ": ", joined(*report)).c_str());
    }
    QCOMPARE(ledger->balance(kMintAccount)->available, -minted);
    QCOMPARE(ledger->balance(kBurnAccount)->available, burned);
    QCOMPARE(ledger->balance(kFeeAccount)->available, fees);
    QVERIFY2(succeeded > ops / 2, "too few operations succeeded for the walk to mean much");
}

void LedgerTest::tamperPostingAmount() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:t", AccountKind::User));
    QVERIFY(ledger->ensureAccount("user:v", AccountKind::User));
    QVERIFY(ledger->grant("user:t", 1'000, "g1"));
    QVERIFY(ledger->transfer("user:t", "user:v", 400, "t1"));
    QVERIFY(ledger->verify()->clean());

    // Inflate one posting: the sum breaks, the hash breaks, the cached balance disagrees.
    QVERIFY(rawExec(QStringLiteral("UPDATE postings SET amount = amount + 1 WHERE tx_id = 2 AND idx = 1")));
    auto report = ledger->verify();
    QVERIFY(report);
    QVERIFY(hasViolation(*report, "transaction 2: hash mismatch"));
    QVERIFY(hasViolation(*report, "transaction 2: postings sum to 1"));
    QVERIFY(hasViolation(*report, "account user:v: cached balance 400 != sum of postings 401"));

    // A careful forger keeps the sum at zero and fixes the cached balances: the hash chain still tells.
    QVERIFY(rawExec(QStringLiteral("UPDATE postings SET amount = -401 WHERE tx_id = 2 AND idx = 0")));
    QVERIFY(rawExec(QStringLiteral("UPDATE balances SET balance = 599 WHERE account = 'user:t'")));
    QVERIFY(rawExec(QStringLiteral("UPDATE balances SET balance = 401 WHERE account = 'user:v'")));
    report = ledger->verify();
    QVERIFY(report);
    QCOMPARE(report->violations.size(), size_t(1));
    QVERIFY2(hasViolation(*report, "transaction 2: hash mismatch"), joined(*report).c_str());
}

void LedgerTest::tamperTransactionRow() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:t", AccountKind::User));
    for (int i = 0; i < 5; ++i)
        QVERIFY(ledger->grant("user:t", 10, declai::strCat("g", i)));
    QVERIFY(rawExec(QStringLiteral("UPDATE transactions SET reference = 'forged' WHERE id = 3")));
    auto report = ledger->verify();
    QVERIFY(report);
    QVERIFY2(hasViolation(*report, "transaction 3: hash mismatch"), joined(*report).c_str());

    // Recomputing the row's hash is not enough: the next transaction's prev_hash no longer matches.
    QVERIFY(rawExec(QStringLiteral("UPDATE transactions SET reference = '' WHERE id = 3")));
    QVERIFY(ledger->verify()->clean());
    QVERIFY(rawExec(QStringLiteral("UPDATE transactions SET hash = 'ab' WHERE id = 3")));
    report = ledger->verify();
    QVERIFY(hasViolation(*report, "transaction 3: hash mismatch"));
    QVERIFY(hasViolation(*report, "transaction 4: prev_hash does not match"));
    QVERIFY(rawExec(QStringLiteral("UPDATE transactions SET hash = prev_hash WHERE id = 3")));

    // Deleting the newest transaction (postings and all) is caught by the head.
    auto fresh = freshLedger();
    QVERIFY(fresh);
    QVERIFY(fresh->ensureAccount("user:t", AccountKind::User));
    QVERIFY(fresh->grant("user:t", 10, "a"));
    QVERIFY(fresh->grant("user:t", 10, "b"));
    QVERIFY(rawExec(QStringLiteral("DELETE FROM postings WHERE tx_id = 2")));
    QVERIFY(rawExec(QStringLiteral("DELETE FROM transactions WHERE id = 2")));
    report = fresh->verify();
    QVERIFY(report);
    QVERIFY2(hasViolation(*report, "ledger head says transaction 2 but the chain ends at 1"),
             joined(*report).c_str());
    QVERIFY(hasViolation(*report, "cached balance 20 != sum of postings 10"));
}

void LedgerTest::tamperBalancesAndHolds() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:h", AccountKind::User));
    QVERIFY(ledger->ensureAccount("node:x", AccountKind::Node));
    QVERIFY(ledger->grant("user:h", 1'000, "g"));
    QVERIFY(ledger->placeHold("user:h", 300, "open-1"));
    QVERIFY(ledger->placeHold("user:h", 200, "to-settle"));
    QVERIFY(ledger->settleHold("to-settle", 200, {{"node:x", 150}}, "s"));
    QVERIFY(ledger->verify()->clean());

    QVERIFY(rawExec(QStringLiteral("UPDATE balances SET balance = balance + 5 WHERE account = 'user:h'")));
    auto report = ledger->verify();
    QVERIFY(hasViolation(*report, "account user:h: cached balance 505 != sum of postings 500"));
    QVERIFY(rawExec(QStringLiteral("UPDATE balances SET balance = balance - 5 WHERE account = 'user:h'")));

    QVERIFY(rawExec(QStringLiteral("UPDATE holds SET status = 'released' WHERE id = 'open-1'")));
    report = ledger->verify();
    QVERIFY2(hasViolation(*report, "open holds of user:h total 0 but escrow:user:h holds 300"),
             joined(*report).c_str());
    QVERIFY(rawExec(QStringLiteral("UPDATE holds SET status = 'open' WHERE id = 'open-1'")));

    QVERIFY(rawExec(QStringLiteral("UPDATE pending_lots SET amount = 149")));
    report = ledger->verify();
    QVERIFY2(hasViolation(*report, "open pending lots of node:x total 149 but pending:node:x holds 150"),
             joined(*report).c_str());
    QVERIFY(rawExec(QStringLiteral("UPDATE pending_lots SET amount = 150")));

    // A negative user balance written behind the ledger's back (sum and cache both).
    QVERIFY(rawExec(QStringLiteral("UPDATE balances SET balance = -1 WHERE account = 'user:h'")));
    report = ledger->verify();
    QVERIFY(hasViolation(*report, "account user:h is negative"));
    QVERIFY(rawExec(QStringLiteral("UPDATE balances SET balance = 500 WHERE account = 'user:h'")));
    report = ledger->verify();
    QVERIFY2(report->clean(), joined(*report).c_str());
}

void LedgerTest::dailySpendLimit() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:l", AccountKind::User));
    QVERIFY(ledger->grant("user:l", 100'000, "g"));
    QVERIFY(ledger->setDailySpendLimit("user:l", 1'000));
    m_clockMs = 1'700'000'000'000 - (1'700'000'000'000 % 86'400'000) + 1'000; // just after UTC midnight
    QVERIFY(ledger->placeHold("user:l", 600, "d1"));
    auto over = ledger->placeHold("user:l", 500, "d2");
    QVERIFY(!over);
    QVERIFY2(over.error().message.find("daily spend limit reached: limit 1000, spent today 600") !=
                 std::string::npos,
             over.error().message.c_str());
    // Settling for less frees the unused part of the day's budget.
    QVERIFY(ledger->settleHold("d1", 100, {}, "s1"));
    QVERIFY(ledger->placeHold("user:l", 500, "d2"));
    QVERIFY(!ledger->placeHold("user:l", 401, "d3"));
    m_clockMs += 86'400'000; // next day
    QVERIFY(ledger->placeHold("user:l", 1'000, "d3"));
    QVERIFY(ledger->setDailySpendLimit("user:l", 0));
    QVERIFY(ledger->placeHold("user:l", 5'000, "d4"));
    QVERIFY(!ledger->setDailySpendLimit("user:nobody", 5));
    QVERIFY(ledger->verify()->clean());
}

void LedgerTest::receipts() {
    auto identity = NodeIdentity::generateInMemory();
    QVERIFY(identity);
    auto ledger = freshLedger(*identity);
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:r", AccountKind::User));
    QVERIFY(ledger->ensureAccount("node:w", AccountKind::Node));
    QVERIFY(ledger->grant("user:r", 1'000, "g"));
    QVERIFY(ledger->placeHold("user:r", 500, "req"));
    auto settle = ledger->settleHold("req", 400, {{"node:w", 360}}, "s");
    QVERIFY(settle);
    auto receipt = ledger->receipt(*settle, pendingAccountFor("node:w"));
    QVERIFY2(receipt, receipt ? "" : receipt.error().message.c_str());
    QCOMPARE(receipt->amount, 360);
    QCOMPARE(receipt->kind, std::string("settle"));
    QVERIFY(verifyReceipt(*receipt, identity->publicKey()));
    QVERIFY(ledger->matchesLedger(*receipt));

    Receipt forged = *receipt;
    forged.amount = 3'600;
    QVERIFY(!verifyReceipt(forged, identity->publicKey()));
    QVERIFY(!ledger->matchesLedger(forged));
    auto other = NodeIdentity::generateInMemory();
    QVERIFY(!verifyReceipt(*receipt, other->publicKey()));
    QVERIFY(!ledger->receipt(*settle, "user:nobody"));

    // A rewritten history no longer matches the receipt a volunteer kept.
    QVERIFY(rawExec(QStringLiteral("UPDATE transactions SET hash = prev_hash WHERE id = %1").arg(*settle)));
    QVERIFY(!ledger->matchesLedger(*receipt));
}

void LedgerTest::csvExport() {
    auto ledger = freshLedger();
    QVERIFY(ledger);
    QVERIFY(ledger->ensureAccount("user:x", AccountKind::User));
    QVERIFY(ledger->ensureAccount("user:y", AccountKind::User));
    QVERIFY(ledger->grant("user:x", 1'000, "=cmd|' /C calc'!A0"));
    QVERIFY(ledger->transfer("user:x", "user:y", 10, "with,comma\"quote"));
    const QString path = m_dir.filePath(QStringLiteral("export-%1.csv").arg(m_counter));
    auto rows = ledger->exportCsv(path);
    QVERIFY(rows);
    QCOMPARE(*rows, 4);
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = file.readAll().split('\n');
    QCOMPARE(lines.size(), 6); // header, 4 rows, empty after the last newline
    QCOMPARE(lines[0], QByteArray("tx_id,created_at_ms,kind,idempotency_key,reference,account,amount,hash"));
    QVERIFY2(lines[1].startsWith("1,1700000000000,grant,'=cmd|' /C calc'!A0,,system:mint,-1000,"),
             lines[1].constData());
    QVERIFY2(lines[4].startsWith("2,1700000000000,transfer,\"with,comma\"\"quote\",,user:y,10,"),
             lines[4].constData());
}

// Holds carry the gateway run that placed them, and runs are recorded (insert, then update in place), so a
// hold orphaned by a crashed run can be found (server/CreditService: findOrphanedHolds).
void LedgerTest::holdsRememberTheirGatewayRun() {
    const QString locator = newLocator();
    auto store = openStore(locator);
    QVERIFY(store);
    Ledger::Options options;
    options.nowMs = [this] { return m_clockMs.load(); };
    options.instanceId = "run-a";
    Ledger ledger(std::move(*store), std::move(options));
    QVERIFY(ledger.ensureAccount("user:alice", AccountKind::User));
    QVERIFY(ledger.grant("user:alice", 500, "g1"));
    QVERIFY(ledger.placeHold("user:alice", 100, "r1"));
    QVERIFY(ledger.placeHold("user:alice", 50, "r2"));
    QVERIFY(ledger.releaseHold("r2"));
    auto open = ledger.openHolds();
    QVERIFY(open);
    QCOMPARE(open->size(), size_t(1));
    QCOMPARE(open->front().id, std::string("r1"));
    QCOMPARE(open->front().instance, std::string("run-a"));
    QCOMPARE(open->front().amount, 100);
    auto hold = ledger.hold("r1");
    QVERIFY(hold && hold->has_value());
    QCOMPARE((*hold)->instance, std::string("run-a"));

    GatewayInstance run{"run-a", "host", 42, 1000, 1000, 0};
    QVERIFY(ledger.recordInstance(run));
    run.heartbeatMs = 2000;
    run.stoppedAtMs = 3000;
    QVERIFY(ledger.recordInstance(run));
    QVERIFY(!ledger.recordInstance(GatewayInstance{}));
    auto runs = ledger.instances();
    QVERIFY(runs);
    QCOMPARE(runs->size(), size_t(1));
    QCOMPARE(runs->front().host, std::string("host"));
    QCOMPARE(runs->front().pid, 42);
    QCOMPARE(runs->front().heartbeatMs, 2000);
    QCOMPARE(runs->front().stoppedAtMs, 3000);
    auto report = ledger.verify();
    QVERIFY(report && report->clean());
}

QTEST_GUILESS_MAIN(LedgerTest)
#include "tst_ledger.moc"
