// declai-server's operator commands as an operator runs them (the real binary on a stopped server's data
// folder): `grant` moves a balance by exactly the amount, `ledger verify` passes on an honest ledger and
// exits 1 naming the violation when the SQLite file was edited behind the ledger's back, and malformed
// commands exit 2 without creating anything in the data folder.
#include "ProcessRun.h"

#include <QDir>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using declai::testdata::ProcessResult;
using declai::testdata::runProcess;

namespace {

QString describe(const ProcessResult& r) {
    return QStringLiteral("exit %1\nstdout: %2\nstderr: %3")
        .arg(r.exitCode)
        .arg(QString::fromUtf8(r.out), QString::fromUtf8(r.err));
}

ProcessResult admin(const QTemporaryDir& dir, const QStringList& args) {
    return runProcess(QStringLiteral(DECLAI_SERVER_PATH),
                      args + QStringList{QStringLiteral("--data-dir"), dir.path()}, 60000);
}

// "user:alice: available 12.500000, held 0.000000, pending 0.000000 credits" -> 12.5 (-1 if unparsable).
double available(const ProcessResult& balance) {
    static const QRegularExpression re(QStringLiteral("available ([0-9.]+),"));
    const auto m = re.match(QString::fromUtf8(balance.out));
    return m.hasMatch() ? m.captured(1).toDouble() : -1.0;
}

// Runs SQL statements on the ledger file directly, as someone with write access to the disk could.
QString tamper(const QString& ledgerFile, const QStringList& statements) {
    const QString name = QStringLiteral("tamper-%1").arg(quintptr(&ledgerFile));
    QString error;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(ledgerFile);
        if (!db.open()) {
            error = db.lastError().text();
        } else {
            for (const QString& sql : statements) {
                QSqlQuery q(db);
                if (!q.exec(sql)) {
                    error = sql + QStringLiteral(": ") + q.lastError().text();
                    break;
                }
                if (q.numRowsAffected() < 1) {
                    error = sql + QStringLiteral(": no row changed");
                    break;
                }
            }
            db.close();
        }
    }
    QSqlDatabase::removeDatabase(name);
    return error;
}

} // namespace

class TestOperatorCommands : public QObject {
    Q_OBJECT

    // A ledger with alice granted 25 + 17.5 credits.
    void makeLedger(const QTemporaryDir& dir) {
        const ProcessResult user =
            admin(dir, {QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("alice")});
        QVERIFY2(user.exitCode == 0, qPrintable(describe(user)));
        for (const QString& amount : {QStringLiteral("25"), QStringLiteral("17.5")}) {
            const ProcessResult grant =
                admin(dir, {QStringLiteral("grant"), QStringLiteral("alice"), amount});
            QVERIFY2(grant.exitCode == 0, qPrintable(describe(grant)));
        }
    }

private Q_SLOTS:
    void initTestCase() {
        if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QSQLITE")))
            QSKIP("Qt's SQLite driver is not installed");
    }

    void grantChangesBalanceByTheAmount() {
        QTemporaryDir dir;
        const ProcessResult user =
            admin(dir, {QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("alice")});
        QVERIFY2(user.exitCode == 0, qPrintable(describe(user)));
        const ProcessResult first =
            admin(dir, {QStringLiteral("grant"), QStringLiteral("alice"), QStringLiteral("25")});
        QVERIFY2(first.exitCode == 0, qPrintable(describe(first)));
        QVERIFY2(first.out.contains("granted 25") && first.out.contains("user:alice"), first.out.constData());
        const ProcessResult after25 =
            admin(dir, {QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("alice")});
        QVERIFY2(after25.exitCode == 0, qPrintable(describe(after25)));
        const double base = available(after25);
        QCOMPARE(base, 25.0);

        const ProcessResult second =
            admin(dir, {QStringLiteral("grant"), QStringLiteral("user:alice"), QStringLiteral("17.5")});
        QVERIFY2(second.exitCode == 0, qPrintable(describe(second)));
        QCOMPARE(available(admin(
                     dir, {QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("alice")})),
                 base + 17.5);
        // Another account is untouched by alice's grants, and grants to nodes work the same way.
        const ProcessResult node =
            admin(dir, {QStringLiteral("grant"), QStringLiteral("node:abc123"), QStringLiteral("3")});
        QVERIFY2(node.exitCode == 0, qPrintable(describe(node)));
        QCOMPARE(available(admin(dir, {QStringLiteral("ledger"), QStringLiteral("balance"),
                                       QStringLiteral("node:abc123")})),
                 3.0);
        QCOMPARE(available(admin(
                     dir, {QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("alice")})),
                 42.5);

        const ProcessResult verify = admin(dir, {QStringLiteral("ledger"), QStringLiteral("verify")});
        QVERIFY2(verify.exitCode == 0, qPrintable(describe(verify)));
        QVERIFY2(verify.out.contains("ledger OK"), verify.out.constData());
    }

    void malformedCommandsExitWith2_data() {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("grant without amount")
            << QStringList{QStringLiteral("grant"), QStringLiteral("alice")};
        QTest::newRow("grant of zero")
            << QStringList{QStringLiteral("grant"), QStringLiteral("alice"), QStringLiteral("0")};
        QTest::newRow("grant of words")
            << QStringList{QStringLiteral("grant"), QStringLiteral("alice"), QStringLiteral("lots")};
        QTest::newRow("user without name") << QStringList{QStringLiteral("user"), QStringLiteral("add")};
        QTest::newRow("balance without account")
            << QStringList{QStringLiteral("ledger"), QStringLiteral("balance")};
        QTest::newRow("unknown ledger command")
            << QStringList{QStringLiteral("ledger"), QStringLiteral("frobnicate")};
        QTest::newRow("ledger without command") << QStringList{QStringLiteral("ledger")};
        QTest::newRow("export without --csv")
            << QStringList{QStringLiteral("ledger"), QStringLiteral("export")};
        QTest::newRow("unknown option") << QStringList{QStringLiteral("ledger"), QStringLiteral("verify"),
                                                       QStringLiteral("--frobnicate")};
    }
    void malformedCommandsExitWith2() {
        QFETCH(QStringList, args);
        QTemporaryDir dir;
        const ProcessResult r = admin(dir, args);
        QVERIFY2(r.exitCode == 2, qPrintable(describe(r)));
        QVERIFY(!r.err.isEmpty());
        // Refused before anything was made: no server key, no ledger in the (possibly mistyped) folder.
        QVERIFY2(
            QDir(dir.path()).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden),
            qPrintable(
                QDir(dir.path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot).join(QLatin1Char(' '))));
    }

    // Each edit keeps the file a valid SQLite database; `ledger verify` must notice it and exit 1.
    void tamperedLedgerFailsVerify_data() {
        QTest::addColumn<QStringList>("statements");
        QTest::newRow("balance inflated") << QStringList{
            QStringLiteral("UPDATE balances SET balance = balance + 1000000 WHERE account = 'user:alice'")};
        // Zero-sum and cached balances kept consistent: only the hash chain can tell.
        QTest::newRow("grant rewritten on both sides") << QStringList{
            QStringLiteral("UPDATE postings SET amount = amount + 5000000 WHERE account = 'user:alice' AND "
                           "tx_id = (SELECT MIN(tx_id) FROM postings WHERE account = 'user:alice')"),
            QStringLiteral("UPDATE postings SET amount = amount - 5000000 WHERE account = 'system:mint' AND "
                           "tx_id = (SELECT MIN(tx_id) FROM postings WHERE account = 'user:alice')"),
            QStringLiteral("UPDATE balances SET balance = balance + 5000000 WHERE account = 'user:alice'"),
            QStringLiteral("UPDATE balances SET balance = balance - 5000000 WHERE account = 'system:mint'")};
        QTest::newRow("transaction reference rewritten") << QStringList{
            QStringLiteral("UPDATE transactions SET reference = 'forged' WHERE id = (SELECT MAX(id) "
                           "FROM transactions)")};
        QTest::newRow("posting deleted") << QStringList{QStringLiteral(
            "DELETE FROM postings WHERE account = 'system:mint' AND tx_id = (SELECT MAX(tx_id) FROM "
            "postings)")};
    }
    void tamperedLedgerFailsVerify() {
        QFETCH(QStringList, statements);
        QTemporaryDir dir;
        makeLedger(dir);
        const ProcessResult before = admin(dir, {QStringLiteral("ledger"), QStringLiteral("verify")});
        QVERIFY2(before.exitCode == 0, qPrintable(describe(before)));

        const QString error = tamper(QDir(dir.path()).filePath(QStringLiteral("ledger.sqlite")), statements);
        QVERIFY2(error.isEmpty(), qPrintable(error));

        const ProcessResult after = admin(dir, {QStringLiteral("ledger"), QStringLiteral("verify")});
        QVERIFY2(after.exitCode == 1, qPrintable(describe(after)));
        QVERIFY2(after.out.contains("VIOLATION"), qPrintable(describe(after)));
        QVERIFY(!after.out.contains("ledger OK"));
    }
};

QTEST_GUILESS_MAIN(TestOperatorCommands)
#include "tst_operator_commands.moc"
