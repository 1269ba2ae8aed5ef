// Accounts in the ledger database (schema 4), compiled once per store like tst_ledger: keys stored only as
// salted hashes, revoked and expired keys refused, per-key spend limits, the users.json migration, node
// bindings (both credentials, no stealing, no replay) and verified earnings of a bound node paid to its owner
// together with the held welcome grant. The PostgreSQL build skips unless DECLAI_TEST_PG names a server.
#include "TestData.h"
#include "declai/core/Identity.h"
#include "declai/credit/AccountStore.h"
#include "declai/credit/Ledger.h"
#include "declai/credit/PostgresLedgerStore.h"
#include "declai/credit/SqliteLedgerStore.h"

#include <QCryptographicHash>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <atomic>
#include <future>

using namespace declai;
using namespace declai::credit;

namespace {

#if defined(DECLAI_LEDGER_BACKEND_POSTGRES)
constexpr bool kPostgres = true;
#else
constexpr bool kPostgres = false;
#endif

std::string sha256Hex(const std::string& bytes) {
    return QCryptographicHash::hash(QByteArray::fromStdString(bytes), QCryptographicHash::Sha256)
        .toHex()
        .toStdString();
}
std::string hex(const std::string& bytes) {
    return QByteArray::fromStdString(bytes).toHex().toStdString();
}

template <class T>
Expected<T> wait(const std::function<void(std::function<void(Expected<T>)>)>& start) {
    auto promise = std::make_shared<std::promise<Expected<T>>>();
    auto future = promise->get_future();
    start([promise](Expected<T> result) { promise->set_value(std::move(result)); });
    return future.get();
}

const std::string kAudience(64, 'a');

} // namespace

class AccountsTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    PostgresConnectionInfo m_pg;
    int m_counter = 0;
    QString m_locator;
    QStringList m_created;
    std::atomic<std::int64_t> m_clockMs{1'700'000'000'000};
    std::unique_ptr<Ledger> m_ledger;
    std::unique_ptr<AccountStore> m_accounts;

    bool fresh() {
        m_accounts.reset();
        m_ledger.reset();
        ++m_counter;
        std::unique_ptr<LedgerStore> store;
        if (kPostgres) {
            m_locator = QStringLiteral("acc_%1_%2").arg(QCoreApplication::applicationPid()).arg(m_counter);
            m_created.append(m_locator);
            PostgresConnectionInfo info = m_pg;
            info.schema = m_locator.toStdString();
            auto pg = PostgresLedgerStore::open(info);
            if (!pg) {
                qWarning("%s", pg.error().message.c_str());
                return false;
            }
            store = std::move(*pg);
        } else {
            m_locator = m_dir.filePath(QStringLiteral("accounts-%1.sqlite").arg(m_counter));
            auto sqlite = SqliteLedgerStore::open(m_locator);
            if (!sqlite) {
                qWarning("%s", sqlite.error().message.c_str());
                return false;
            }
            store = std::move(*sqlite);
        }
        Ledger::Options options;
        options.nowMs = [this] { return m_clockMs.load(); };
        m_ledger = std::make_unique<Ledger>(std::move(store), options);
        m_accounts = std::make_unique<AccountStore>(m_ledger->store(), [this] { return m_clockMs.load(); });
        return true;
    }

    // One column of the first row of sql, read on a separate connection (as an attacker with the file).
    QString rawValue(const QString& sql) {
        QString value;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(
                kPostgres ? QStringLiteral("QPSQL") : QStringLiteral("QSQLITE"), QStringLiteral("raw"));
            if (kPostgres) {
                db.setHostName(QString::fromStdString(m_pg.host));
                db.setPort(m_pg.port);
                db.setUserName(QString::fromStdString(m_pg.user));
                db.setPassword(QString::fromStdString(m_pg.password));
                db.setDatabaseName(QString::fromStdString(m_pg.dbname));
            } else {
                db.setDatabaseName(m_locator);
            }
            if (db.open()) {
                QSqlQuery query(db);
                if (kPostgres)
                    query.exec(QStringLiteral("SET search_path TO %1").arg(m_locator));
                if (query.exec(sql) && query.next())
                    value = query.value(0).toString();
                else
                    qWarning("raw SQL: %s", qPrintable(query.lastError().text()));
            }
            db.close();
        }
        QSqlDatabase::removeDatabase(QStringLiteral("raw"));
        return value;
    }

    BindRequest signedBind(const NodeIdentity& node, const std::string& account, const std::string& audience,
                           std::int64_t timeMs) {
        BindRequest request;
        request.account = account;
        request.publicKey = node.publicKey();
        request.timestampMs = timeMs;
        request.nonceHex = hex(randomBytes(16));
        request.audience = audience;
        request.signature = node.sign(
            AccountStore::bindingMessage(account, node.nodeId(), audience, timeMs, request.nonceHex));
        return request;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        if (kPostgres) {
            const QString info = qEnvironmentVariable("DECLAI_TEST_PG");
            if (info.isEmpty())
                DECLAI_SKIP_MISSING("postgres",
                                    QStringLiteral("DECLAI_TEST_PG is not set: start a throwaway server with "
                                                   "scripts/pg-test-cluster.sh start DIR and export the "
                                                   "DECLAI_TEST_PG line it prints"));
            auto parsed = PostgresConnectionInfo::parse(info.toStdString());
            QVERIFY(parsed.hasValue());
            m_pg = *parsed;
        }
    }
    void init() {
        m_clockMs = 1'700'000'000'000;
        QVERIFY(fresh());
    }
    void cleanup() {
        m_accounts.reset();
        m_ledger.reset();
        if (kPostgres)
            for (const QString& schema : std::exchange(m_created, {})) {
                QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), QStringLiteral("drop"));
                db.setHostName(QString::fromStdString(m_pg.host));
                db.setPort(m_pg.port);
                db.setUserName(QString::fromStdString(m_pg.user));
                db.setDatabaseName(QString::fromStdString(m_pg.dbname));
                if (db.open())
                    QSqlQuery(db).exec(QStringLiteral("DROP SCHEMA IF EXISTS %1 CASCADE").arg(schema));
                db.close();
                db = QSqlDatabase();
                QSqlDatabase::removeDatabase(QStringLiteral("drop"));
            }
    }

    void keysAreStoredAsSaltedHashes() {
        auto first = m_accounts->createUser(NewUser{"alice"}, {});
        QVERIFY2(first, first ? "" : first.error().message.c_str());
        auto second = m_accounts->addKey("alice", {});
        QVERIFY(second);
        QVERIFY(first->key.rfind("dk_", 0) == 0);
        // The database holds neither key nor its plain hash; each key has its own salt.
        const std::string secret = first->key.substr(3 + 16 + 1);
        const QString salt = rawValue(QStringLiteral("SELECT salt FROM api_keys WHERE id = '%1'")
                                          .arg(QString::fromStdString(first->record.id)));
        const QString hash = rawValue(QStringLiteral("SELECT hash FROM api_keys WHERE id = '%1'")
                                          .arg(QString::fromStdString(first->record.id)));
        QCOMPARE(salt.size(), 32);
        QVERIFY(hash.toStdString() != sha256Hex(secret));
        QVERIFY(hash.toStdString() != sha256Hex(first->key));
        QCOMPARE(hash.toStdString(), sha256Hex(QByteArray::fromHex(salt.toLatin1()).toStdString() + secret));
        QVERIFY(QString::fromStdString(second->record.saltHex) != salt);
        QCOMPARE(rawValue(QStringLiteral("SELECT COUNT(*) FROM api_keys WHERE hash LIKE '%%1%' OR salt LIKE "
                                         "'%%1%'")
                              .arg(QString::fromStdString(secret.substr(0, 16)))),
                 QStringLiteral("0"));

        // Both keys work; a wrong secret under a real id, and a made-up key, do not.
        for (const IssuedKey* key : {&*first, &*second}) {
            auto caller = m_accounts->authenticate(key->key);
            QVERIFY2(caller, caller ? "" : caller.error().message.c_str());
            QCOMPARE(caller->account, std::string("alice"));
            QCOMPARE(caller->keyId, key->record.id);
        }
        std::string forged = first->key;
        forged.back() = forged.back() == 'A' ? 'B' : 'A';
        auto refused = m_accounts->authenticate(forged);
        QVERIFY(!refused);
        QCOMPARE(refused.error().code, ErrorCode::Unauthorized);
        QVERIFY(!m_accounts->authenticate("dk_0000000000000000.nothing"));
        QVERIFY(!m_accounts->authenticate(""));
        // The name is taken; the ledger account exists at once with a real (zero) balance.
        auto again = m_accounts->createUser(NewUser{"alice"}, {});
        QVERIFY(!again);
        QCOMPARE(again.error().code, ErrorCode::Conflict);
        auto balance = m_ledger->balance("user:alice");
        QVERIFY2(balance, balance ? "" : balance.error().message.c_str());
        QCOMPARE(balance->available, Microcredits(0));
    }

    void revokedAndExpiredKeysAreRefused() {
        auto main = m_accounts->createUser(NewUser{"bob", AccountRole::Operator}, {});
        QVERIFY(main);
        auto shortLived = m_accounts->addKey("bob", NewKeyOptions{m_clockMs.load() + 60'000, 0, "ci"});
        QVERIFY(shortLived);
        auto caller = m_accounts->authenticate(shortLived->key);
        QVERIFY(caller);
        QCOMPARE(caller->role, AccountRole::Operator);
        m_clockMs += 60'000;
        auto expired = m_accounts->authenticate(shortLived->key);
        QVERIFY(!expired);
        QVERIFY2(expired.error().message.find("expired") != std::string::npos,
                 expired.error().message.c_str());

        QVERIFY(m_accounts->authenticate(main->key));
        QVERIFY(m_accounts->revokeKey(main->record.id));
        auto revoked = m_accounts->authenticate(main->key);
        QVERIFY(!revoked);
        QCOMPARE(revoked.error().code, ErrorCode::Unauthorized);
        QVERIFY(!m_accounts->revokeKey(main->record.id)); // nothing left to revoke
    }

    void spendLimitIsEnforced() {
        QVERIFY(m_accounts->createUser(NewUser{"carol"}, {}));
        auto key = m_accounts->addKey("carol", NewKeyOptions{0, 10'000, "capped"});
        QVERIFY(key);
        QVERIFY(m_accounts->reserveKeySpend(key->record.id, 6'000));
        auto over = m_accounts->reserveKeySpend(key->record.id, 5'000);
        QVERIFY(!over);
        QCOMPARE(over.error().code, ErrorCode::Forbidden);
        QVERIFY(m_accounts->returnKeySpend(key->record.id, 3'000));  // the request cost 3,000 less than held
        QVERIFY(m_accounts->reserveKeySpend(key->record.id, 5'000)); // 3,000 + 5,000 <= 10,000
        QVERIFY(!m_accounts->reserveKeySpend(key->record.id, 2'001));
        auto keys = m_accounts->keysOf("carol");
        QVERIFY(keys);
        QCOMPARE(int(keys->size()), 2);
        for (const ApiKeyRecord& k : *keys)
            QCOMPARE(k.spent, k.id == key->record.id ? Microcredits(8'000) : Microcredits(0));
    }

    void keyReservationTravelsWithTheHold() {
        // The key's reservation is part of the hold's transaction and is returned by whoever closes it (any
        // gateway, an orphaned hold too): nothing of it lives in a gateway's memory.
        QVERIFY(m_accounts->createUser(NewUser{"dora"}, {}));
        auto key = m_accounts->addKey("dora", NewKeyOptions{0, 10'000, "capped"});
        QVERIFY(key);
        const std::string account = userAccount("dora");
        QVERIFY(m_ledger->ensureAccount(account, AccountKind::User));
        QVERIFY(m_ledger->grant(account, 100'000, "grant:dora"));
        auto spentOf = [&]() -> Microcredits {
            auto keys = m_accounts->keysOf("dora");
            for (const ApiKeyRecord& k : *keys)
                if (k.id == key->record.id)
                    return k.spent;
            return -1;
        };
        QVERIFY(m_ledger->placeHold(account, 6'000, "dora-1", key->record.id));
        QCOMPARE(spentOf(), Microcredits(6'000));
        auto hold = m_ledger->hold("dora-1");
        QVERIFY(hold && hold->has_value());
        QCOMPARE((*hold)->keyId, key->record.id);
        // Over the key's limit: refused, and neither the key nor the balance moves.
        auto over = m_ledger->placeHold(account, 5'000, "dora-2", key->record.id);
        QVERIFY(!over);
        QCOMPARE(over.error().code, ErrorCode::Forbidden);
        QCOMPARE(spentOf(), Microcredits(6'000));
        QVERIFY(!m_ledger->hold("dora-2")->has_value());
        // Settled at 2,000: the key keeps 2,000.
        QVERIFY(m_ledger->settleHold("dora-1", 2'000, {}, "settle:dora-1"));
        QCOMPARE(spentOf(), Microcredits(2'000));
        QVERIFY(m_ledger->settleHold("dora-1", 2'000, {}, "settle:dora-1")); // a replay returns nothing twice
        QCOMPARE(spentOf(), Microcredits(2'000));
        // Released (as an orphaned hold is): all of it back.
        QVERIFY(m_ledger->placeHold(account, 8'000, "dora-3", key->record.id));
        QCOMPARE(spentOf(), Microcredits(10'000));
        QVERIFY(m_ledger->releaseHold("dora-3"));
        QCOMPARE(spentOf(), Microcredits(2'000));
        // Short of credits: refused, the key not charged.
        auto poor = m_ledger->placeHold(account, 1'000'000, "dora-4", key->record.id);
        QVERIFY(!poor);
        QCOMPARE(spentOf(), Microcredits(2'000));
        auto report = m_ledger->verify();
        QVERIFY(report && report->violations.empty());
    }

    void usersJsonKeysKeepWorking() {
        const std::string oldKey =
            "dk_" + QByteArray::fromStdString(randomBytes(32))
                        .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals)
                        .toStdString();
        auto created = m_accounts->importLegacyUsers({{"dave", sha256Hex(oldKey)}});
        QVERIFY2(created, created ? "" : created.error().message.c_str());
        QCOMPARE(*created, 1);
        auto caller = m_accounts->authenticate(oldKey);
        QVERIFY2(caller, caller ? "" : caller.error().message.c_str());
        QCOMPARE(caller->account, std::string("dave"));
        auto again = m_accounts->importLegacyUsers({{"dave", sha256Hex(oldKey)}});
        QVERIFY(again);
        QCOMPARE(*again, 0);
        QVERIFY(!m_accounts->importLegacyUsers({{"bad name", sha256Hex(oldKey)}}));
        auto user = m_accounts->user("dave");
        QVERIFY(user && user->has_value());
        QCOMPARE((*user)->welcome, WelcomeRule::FirstUse);
    }

    void bindingNeedsBothCredentialsAndCannotBeStolen() {
        QVERIFY(m_accounts->createUser(NewUser{"alice"}, {}));
        QVERIFY(m_accounts->createUser(NewUser{"mallory"}, {}));
        auto node = NodeIdentity::generateInMemory();
        auto other = NodeIdentity::generateInMemory();
        QVERIFY(node && other);
        const std::int64_t t = m_clockMs.load();

        // Signed by another key than the node's: refused.
        BindRequest forged = signedBind(*node, "alice", kAudience, t);
        forged.signature =
            other->sign(AccountStore::bindingMessage("alice", node->nodeId(), kAudience, t, forged.nonceHex));
        auto bad = m_accounts->bindNode(forged, kAudience, 300'000);
        QVERIFY(!bad);
        QCOMPARE(bad.error().code, ErrorCode::Unauthorized);
        // Meant for another gateway, or too old: refused.
        QVERIFY(
            !m_accounts->bindNode(signedBind(*node, "alice", std::string(64, 'b'), t), kAudience, 300'000));
        QVERIFY(
            !m_accounts->bindNode(signedBind(*node, "alice", kAudience, t - 600'000), kAudience, 300'000));
        // A signature over one account does not bind to another.
        BindRequest swapped = signedBind(*node, "alice", kAudience, t);
        swapped.account = "mallory";
        QVERIFY(!m_accounts->bindNode(swapped, kAudience, 300'000));
        QVERIFY(!m_accounts->bindingOf(node->nodeId())->has_value());

        const BindRequest first = signedBind(*node, "alice", kAudience, t);
        auto bound = m_accounts->bindNode(first, kAudience, 300'000);
        QVERIFY2(bound, bound ? "" : bound.error().message.c_str());
        QCOMPARE(*bound, BindResult::Bound);
        // Same node, same account, a fresh message: idempotent.
        auto repeat = m_accounts->bindNode(signedBind(*node, "alice", kAudience, t), kAudience, 300'000);
        QVERIFY(repeat);
        QCOMPARE(*repeat, BindResult::AlreadyBound);
        // Even a genuine node signature cannot move a bound node to another account.
        auto steal = m_accounts->bindNode(signedBind(*node, "mallory", kAudience, t), kAudience, 300'000);
        QVERIFY(!steal);
        QCOMPARE(steal.error().code, ErrorCode::Conflict);
        QCOMPARE((*m_accounts->bindingOf(node->nodeId()))->account, std::string("alice"));
        // The binding keeps its evidence: the signed message verifies.
        const NodeBinding evidence = **m_accounts->bindingOf(node->nodeId());
        QVERIFY(NodeIdentity::verify(
            QByteArray::fromHex(QByteArray::fromStdString(evidence.publicKeyHex)).toStdString(),
            evidence.message,
            QByteArray::fromHex(QByteArray::fromStdString(evidence.signatureHex)).toStdString()));

        // After an operator unbinds, a captured old message cannot be replayed.
        QVERIFY(*m_accounts->unbindNode(node->nodeId()));
        auto replay = m_accounts->bindNode(first, kAudience, 300'000);
        QVERIFY(!replay);
        QCOMPARE(replay.error().code, ErrorCode::Conflict);
        QVERIFY(!m_accounts->bindingOf(node->nodeId())->has_value());
        // A fresh message from the node binds it again.
        QVERIFY(m_accounts->bindNode(signedBind(*node, "mallory", kAudience, t), kAudience, 300'000));
    }

    void verifiedEarningsOfABoundNodeGoToTheOwner() {
        // alice registered herself: a 5-credit welcome grant is held until her node's first verified work.
        NewUser alice{"alice", AccountRole::User, "registration", WelcomeRule::FirstWork, 5'000'000};
        QVERIFY(m_accounts->createUser(alice, {}));
        QVERIFY(m_accounts->createUser(NewUser{"researcher"}, {}));
        QCOMPARE(m_ledger->balance("user:alice")->available, Microcredits(0));
        QVERIFY(m_ledger->grant("user:researcher", 1'000'000, "g1"));
        auto bound = NodeIdentity::generateInMemory();
        auto unbound = NodeIdentity::generateInMemory();
        QVERIFY(m_accounts->bindNode(signedBind(*bound, "alice", kAudience, m_clockMs.load()), kAudience,
                                     300'000));
        const std::string boundAccount = nodeAccount(bound->nodeId());
        const std::string unboundAccount = nodeAccount(unbound->nodeId());
        QVERIFY(m_ledger->ensureAccount(boundAccount, AccountKind::Node));
        QVERIFY(m_ledger->ensureAccount(unboundAccount, AccountKind::Node));

        auto runRequest = [&](const std::string& id) {
            QVERIFY(m_ledger->placeHold("user:researcher", 100'000, id));
            QVERIFY(m_ledger->settleHold(id, 50'000, {{boundAccount, 30'000}, {unboundAccount, 10'000}},
                                         "settle:" + id));
        };
        runRequest("r1");
        // Still in the verification window: nothing is paid, the welcome grant still held.
        m_clockMs += 1000;
        auto early = m_ledger->releasePending(boundAccount, m_clockMs.load() - 60'000);
        QVERIFY(early);
        QCOMPARE(early->amount, Microcredits(0));
        QCOMPARE(m_ledger->balance("user:alice")->available, Microcredits(0));

        m_clockMs += 120'000;
        auto released = m_ledger->releasePending(boundAccount, m_clockMs.load() - 60'000);
        QVERIFY2(released, released ? "" : released.error().message.c_str());
        QCOMPARE(released->amount, Microcredits(30'000));
        QCOMPARE(released->paidTo, std::string("user:alice"));
        QCOMPARE(released->welcomeAmount, Microcredits(5'000'000));
        QCOMPARE(m_ledger->balance("user:alice")->available, Microcredits(5'030'000));
        QCOMPARE(m_ledger->balance(boundAccount)->available, Microcredits(0));
        auto other = m_ledger->releasePending(unboundAccount, m_clockMs.load() - 60'000);
        QVERIFY(other);
        QCOMPARE(other->paidTo, unboundAccount); // unbound nodes earn as before
        QCOMPARE(m_ledger->balance(unboundAccount)->available, Microcredits(10'000));

        // The welcome grant is paid once; later work only adds earnings.
        runRequest("r2");
        m_clockMs += 120'000;
        auto later = m_ledger->releasePending(boundAccount, m_clockMs.load() - 60'000);
        QVERIFY(later);
        QCOMPARE(later->welcomeAmount, Microcredits(0));
        QCOMPARE(m_ledger->balance("user:alice")->available, Microcredits(5'060'000));
        // ... and alice can spend it.
        QVERIFY(m_ledger->placeHold("user:alice", 5'060'000, "alice-spends"));
        auto report = m_ledger->verify();
        QVERIFY(report);
        QVERIFY2(report->clean(), report->violations.empty() ? "" : report->violations.front().c_str());
    }

    void welcomeGrantIsNotPaidWithoutWork() {
        NewUser farmer{"farmer", AccountRole::User, "registration", WelcomeRule::FirstWork, 5'000'000};
        QVERIFY(m_accounts->createUser(farmer, {}));
        auto view = wait<CreditsView>([&](auto done) { m_accounts->creditsThen("farmer", 0, 10, done); });
        QVERIFY2(view, view ? "" : view.error().message.c_str());
        QCOMPARE(view->balance.available, Microcredits(0));
        QCOMPARE(view->welcomeHeld, Microcredits(5'000'000));
        QVERIFY(!m_ledger->placeHold("user:farmer", 1, "nothing-to-spend"));
    }

    void registrationIsRateLimitedPerAddress() {
        auto registerFrom = [&](const std::string& name, const std::string& address) {
            return wait<IssuedKey>([&](auto done) {
                m_accounts->registerThen(
                    NewUser{name, AccountRole::User, "registration", WelcomeRule::Paid, 0}, address, 2,
                    3'600'000, done);
            });
        };
        QVERIFY(registerFrom("r1", "10.0.0.1"));
        QVERIFY(registerFrom("r2", "10.0.0.1"));
        auto third = registerFrom("r3", "10.0.0.1");
        QVERIFY(!third);
        QCOMPARE(third.error().code, ErrorCode::RateLimited);
        QVERIFY(!m_accounts->user("r3")->has_value());
        QVERIFY(registerFrom("r3", "10.0.0.2"));
        auto taken = registerFrom("r1", "10.0.0.3");
        QVERIFY(!taken);
        QCOMPARE(taken.error().code, ErrorCode::Conflict);
        m_clockMs += 3'600'001; // an hour later the address may register again
        QVERIFY(registerFrom("r4", "10.0.0.1"));
    }

    void creditsArePagedByCursor() {
        QVERIFY(m_accounts->createUser(NewUser{"erin"}, {}));
        for (int i = 0; i < 5; ++i)
            QVERIFY(m_ledger->grant("user:erin", 1'000 + i, std::to_string(i).insert(0, "grant-")));
        auto first = wait<CreditsView>([&](auto done) { m_accounts->creditsThen("erin", 0, 2, done); });
        QVERIFY(first);
        QCOMPARE(first->balance.available, Microcredits(5'010));
        QCOMPARE(int(first->postings.size()), 2);
        QCOMPARE(first->postings[0].amount, Microcredits(1'004)); // newest first
        QVERIFY(first->nextCursor > 0);
        auto second = wait<CreditsView>(
            [&](auto done) { m_accounts->creditsThen("erin", first->nextCursor, 10, done); });
        QVERIFY(second);
        QCOMPARE(int(second->postings.size()), 3);
        QCOMPARE(second->postings.back().amount, Microcredits(1'000));
        QCOMPARE(second->nextCursor, std::int64_t(0));
    }
};

QTEST_GUILESS_MAIN(AccountsTest)
#include "tst_accounts.moc"
