// One account earns and spends, through real processes on loopback: a volunteer registers over HTTP
// (POST /v1/accounts), binds a real declai-node to the account with --account-key, a researcher's requests
// make that node earn, the verified earnings (and the held welcome grant) land in the volunteer's account,
// and the volunteer then spends from it. Also: a bound node cannot be re-bound to another account, binding
// needs the account's key, operator `user add` / `ledger balance` while the server runs, and two gateways on
// one PostgreSQL sharing accounts (skipped unless DECLAI_TEST_PG is set).
#include "ProcessRun.h"
#include "SwarmHarness.h"

#include <QRandomGenerator>
#include <QRegularExpression>
#include <set>

using declai::testdata::Swarm;

namespace {

struct HttpAnswer {
    int status = 0;
    QJsonObject json;
    QByteArray body;
};

// One HTTPS request to a swarm's gateway, bounded in time.
HttpAnswer call(const Swarm& swarm, const QByteArray& method, const QString& path, const QString& key = {},
                const QJsonObject& body = {}) {
    QNetworkAccessManager network;
    QNetworkRequest request(QUrl(QStringLiteral("https://127.0.0.1:%1%2").arg(swarm.port()).arg(path)));
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(swarm.caFile()));
    request.setSslConfiguration(tls);
    request.setTransferTimeout(10000);
    if (!key.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Authorization"), "Bearer " + key.toUtf8());
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    QNetworkReply* reply = network.sendCustomRequest(
        request, method, method == "GET" ? QByteArray() : QJsonDocument(body).toJson(QJsonDocument::Compact));
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(12000, &loop, &QEventLoop::quit);
    loop.exec();
    HttpAnswer answer;
    answer.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    answer.body = reply->readAll();
    answer.json = QJsonDocument::fromJson(answer.body).object();
    reply->deleteLater();
    return answer;
}

double available(const QString& balanceLine) {
    static const QRegularExpression re(QStringLiteral("available ([0-9.]+),"));
    const auto m = re.match(balanceLine);
    return m.hasMatch() ? m.captured(1).toDouble() : -1.0;
}

QString errorMessage(const HttpAnswer& a) {
    return a.json.value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString();
}

} // namespace

class TestAccountsSwarm : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf not in DECLAI_MODEL_PATH"));
    }

    void volunteerEarnsAndSpendsFromOneAccount() {
        QString researcherKey;
        Swarm swarm({QStringLiteral("--min-nodes"), QStringLiteral("1"),
                     QStringLiteral("--verification-window-s"), QStringLiteral("1"),
                     QStringLiteral("--allow-registration"), QStringLiteral("--registration-grant-credits"),
                     QStringLiteral("2"), QStringLiteral("--registrations-per-ip"), QStringLiteral("3")},
                    [&](Swarm& s) {
                        researcherKey = s.admin({QStringLiteral("user"), QStringLiteral("add"),
                                                 QStringLiteral("researcher")})
                                            .trimmed();
                    });
        QVERIFY2(researcherKey.startsWith(QStringLiteral("dk_")), qPrintable(researcherKey));
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));

        // Self-registration: the key is shown once, the welcome grant is held, nothing is spendable yet.
        const HttpAnswer registered = call(swarm, "POST", QStringLiteral("/v1/accounts"), {},
                                           {{QStringLiteral("name"), QStringLiteral("vol")}});
        QVERIFY2(registered.status == 201, registered.body.constData());
        const QString volunteerKey = registered.json.value(QStringLiteral("api_key")).toString();
        QVERIFY(volunteerKey.startsWith(QStringLiteral("dk_")));
        const HttpAnswer before = call(swarm, "GET", QStringLiteral("/v1/credits"), volunteerKey);
        QVERIFY2(before.status == 200, before.body.constData());
        QCOMPARE(before.json.value(QStringLiteral("available")).toDouble(), 0.0);
        QCOMPARE(before.json.value(QStringLiteral("welcome_grant_held")).toDouble(), 2.0);
        const HttpAnswer mallory = call(swarm, "POST", QStringLiteral("/v1/accounts"), {},
                                        {{QStringLiteral("name"), QStringLiteral("mal")}});
        QVERIFY2(mallory.status == 201, mallory.body.constData());
        const QString malloryKey = mallory.json.value(QStringLiteral("api_key")).toString();
        const HttpAnswer taken = call(swarm, "POST", QStringLiteral("/v1/accounts"), {},
                                      {{QStringLiteral("name"), QStringLiteral("vol")}});
        QVERIFY2(taken.status == 409, taken.body.constData());
        QVERIFY2(errorMessage(taken).contains(QStringLiteral("already exists")), taken.body.constData());
        // At most --registrations-per-ip (3) accounts per address and hour.
        QCOMPARE(call(swarm, "POST", QStringLiteral("/v1/accounts"), {},
                      {{QStringLiteral("name"), QStringLiteral("third")}})
                     .status,
                 201);
        const HttpAnswer fourth = call(swarm, "POST", QStringLiteral("/v1/accounts"), {},
                                       {{QStringLiteral("name"), QStringLiteral("fourth")}});
        QVERIFY2(fourth.status == 429, fourth.body.constData());
        QCOMPARE(
            fourth.json.value(QStringLiteral("error")).toObject().value(QStringLiteral("type")).toString(),
            QStringLiteral("rate_limit_error"));

        // Binding needs the account's key.
        QCOMPARE(call(swarm, "POST", QStringLiteral("/v1/nodes/bind"), {}, {}).status, 401);
        QCOMPARE(call(swarm, "GET", QStringLiteral("/v1/nodes/bind"), QStringLiteral("dk_0000000000000000.x"))
                     .status,
                 401);

        // The volunteer's node binds itself at start and then serves.
        QProcess& node = swarm.addNode({QStringLiteral("--account-key"), volunteerKey});
        QVERIFY2(swarm.waitForShards(1), qPrintable(swarm.log(QStringLiteral("node0"))));
        QVERIFY2(swarm.log(QStringLiteral("node0")).contains(QStringLiteral("bound to account vol")),
                 qPrintable(swarm.log(QStringLiteral("node0"))));
        const HttpAnswer bound = call(swarm, "GET", QStringLiteral("/v1/credits"), volunteerKey);
        const QJsonArray nodes = bound.json.value(QStringLiteral("nodes")).toArray();
        QCOMPARE(nodes.size(), 1);
        const QString nodeId = nodes.first().toObject().value(QStringLiteral("node_id")).toString();
        QCOMPARE(nodeId.size(), 64);

        // Another account cannot take the node over, even with the node's own key (same data folder).
        QProcess thief;
        thief.setProcessChannelMode(QProcess::MergedChannels);
        thief.start(QStringLiteral(DECLAI_NODE_PATH),
                    {QStringLiteral("--server"), swarm.url(), QStringLiteral("--data-dir"),
                     swarm.path(QStringLiteral("node0")), QStringLiteral("--ca"), swarm.caFile(),
                     QStringLiteral("--account-key"), malloryKey});
        QVERIFY(thief.waitForFinished(30000));
        const QString thiefOut = QString::fromUtf8(thief.readAll());
        QCOMPARE(thief.exitCode(), 1);
        QVERIFY2(thiefOut.contains(QStringLiteral("bound to another account")), qPrintable(thiefOut));

        // The researcher's requests make the node earn.
        for (int i = 0; i < 2; ++i) {
            auto paid = swarm.submit(QStringLiteral("Once upon a time"), 30,
                                     {QStringLiteral("--api-key"), researcherKey, QStringLiteral("--stats")});
            QVERIFY(paid->waitForFinished(90000));
            QVERIFY2(paid->exitCode() == 0, paid->readAllStandardError().constData());
        }
        // After the 1 s verification window, the earnings and the welcome grant are the volunteer's.
        double earned = 0;
        QElapsedTimer clock;
        clock.start();
        HttpAnswer after;
        while (clock.elapsed() < 20000) {
            after = call(swarm, "GET", QStringLiteral("/v1/credits"), volunteerKey);
            earned = after.json.value(QStringLiteral("available")).toDouble();
            if (earned > 2.0)
                break;
            QTest::qWait(250);
        }
        QVERIFY2(earned > 2.0, after.body.constData());
        QCOMPARE(after.json.value(QStringLiteral("welcome_grant_held")).toDouble(), 0.0);
        bool sawEarnings = false;
        for (const QJsonValue& p : after.json.value(QStringLiteral("postings")).toArray())
            sawEarnings = sawEarnings || p.toObject().value(QStringLiteral("kind")).toString() ==
                                             QStringLiteral("earn_release");
        QVERIFY2(sawEarnings, after.body.constData());
        // Nothing went to the node's own account.
        const QString nodeBalance = swarm.admin(
            {QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("node:") + nodeId});
        QVERIFY2(nodeBalance.contains(QStringLiteral("no account")) || available(nodeBalance) == 0.0,
                 qPrintable(nodeBalance));

        // The volunteer spends what the node earned, from the same account.
        auto spend = swarm.submit(QStringLiteral("Once upon a time"), 20,
                                  {QStringLiteral("--api-key"), volunteerKey, QStringLiteral("--stats")});
        QVERIFY(spend->waitForFinished(90000));
        QVERIFY2(spend->exitCode() == 0, spend->readAllStandardError().constData());
        const QString spent =
            swarm.admin({QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("vol")});
        QVERIFY2(available(spent) >= 0 && available(spent) < earned + 0.5, qPrintable(spent));
        // Its job is visible to it, and to nobody else.
        const HttpAnswer credits = call(swarm, "GET", QStringLiteral("/v1/credits?limit=50"), volunteerKey);
        QString holdRef;
        for (const QJsonValue& p : credits.json.value(QStringLiteral("postings")).toArray())
            if (p.toObject().value(QStringLiteral("kind")).toString() == QStringLiteral("hold"))
                holdRef = p.toObject().value(QStringLiteral("job_id")).toString();
        QVERIFY2(!holdRef.isEmpty(), credits.body.constData());
        const QString jobPath = QStringLiteral("/v1/jobs/") + holdRef;
        const HttpAnswer job = call(swarm, "GET", jobPath, volunteerKey);
        QVERIFY2(job.status == 200, job.body.constData());
        QCOMPARE(job.json.value(QStringLiteral("status")).toString(), QStringLiteral("completed"));
        QCOMPARE(call(swarm, "GET", jobPath, researcherKey).status, 404);
        QVERIFY(node.state() == QProcess::Running);

        int exitCode = -1;
        const QString verify = swarm.admin({QStringLiteral("ledger"), QStringLiteral("verify")}, &exitCode);
        QVERIFY2(exitCode == 0, qPrintable(verify));
    }

    // Admission control: with every session slot taken, requests wait in the priority queue and
    // GET /v1/jobs/{id} says so, with their place (0 = next to start); the running one says "running".
    void queuedJobsReportTheirPlace() {
        QString key;
        // Two slots, one kept for high priority: one normal request runs, the others queue.
        Swarm swarm({QStringLiteral("--min-nodes"), QStringLiteral("1"), QStringLiteral("--max-sessions"),
                     QStringLiteral("2")},
                    [&](Swarm& s) {
                        key =
                            s.admin({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("quinn")})
                                .trimmed();
                    });
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        swarm.addTestNode({QStringLiteral("--stage-delay-ms"), QStringLiteral("150")});
        QVERIFY(swarm.waitForShards(1));
        std::vector<std::unique_ptr<QProcess>> clients;
        for (int i = 0; i < 3; ++i) {
            clients.push_back(
                swarm.submit(QStringLiteral("Once upon a time"), 24, {QStringLiteral("--api-key"), key}));
            QTest::qWait(300); // in order: the first takes the slot
        }
        // The three holds, oldest first (postings are newest first).
        QStringList jobs;
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < 20000) {
            jobs.clear();
            const HttpAnswer credits = call(swarm, "GET", QStringLiteral("/v1/credits?limit=50"), key);
            for (const QJsonValue& p : credits.json.value(QStringLiteral("postings")).toArray())
                if (p.toObject().value(QStringLiteral("kind")).toString() == QStringLiteral("hold"))
                    jobs.prepend(p.toObject().value(QStringLiteral("job_id")).toString());
            if (jobs.size() == 3)
                break;
            QTest::qWait(100);
        }
        QCOMPARE(jobs.size(), 3);
        QStringList statuses;
        std::set<qint64> places;
        for (const QString& job : jobs) {
            const HttpAnswer a = call(swarm, "GET", QStringLiteral("/v1/jobs/") + job, key);
            QVERIFY2(a.status == 200, a.body.constData());
            statuses << a.json.value(QStringLiteral("status")).toString();
            if (a.json.contains(QStringLiteral("queue_position")))
                places.insert(a.json.value(QStringLiteral("queue_position")).toInteger());
        }
        QCOMPARE(statuses, (QStringList{QStringLiteral("running"), QStringLiteral("queued"),
                                        QStringLiteral("queued")}));
        QCOMPARE(places, (std::set<qint64>{0, 1}));
        for (auto& client : clients) {
            QVERIFY(client->waitForFinished(120000));
            QVERIFY2(client->exitCode() == 0, client->readAllStandardError().constData());
        }
        for (const QString& job : jobs) {
            const HttpAnswer a = call(swarm, "GET", QStringLiteral("/v1/jobs/") + job, key);
            QCOMPARE(a.json.value(QStringLiteral("status")).toString(), QStringLiteral("completed"));
            QVERIFY(!a.json.contains(QStringLiteral("queue_position")));
        }
    }

    void operatorCommandsWhileTheServerRuns() {
        Swarm swarm({QStringLiteral("--min-nodes"), QStringLiteral("1"), QStringLiteral("--grant-credits"),
                     QStringLiteral("7")});
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        // Registration is off unless the operator allows it.
        const HttpAnswer refused = call(swarm, "POST", QStringLiteral("/v1/accounts"), {},
                                        {{QStringLiteral("name"), QStringLiteral("x")}});
        QCOMPARE(refused.status, 403);

        int exitCode = -1;
        const QString key =
            swarm.admin({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("olive")}, &exitCode)
                .trimmed();
        QVERIFY2(exitCode == 0 && key.startsWith(QStringLiteral("dk_")), qPrintable(key));
        // A real account at once: its balance, not "no account".
        const QString balance = swarm.admin(
            {QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("olive")}, &exitCode);
        QVERIFY2(exitCode == 0 && available(balance) == 0.0, qPrintable(balance));
        // The running gateway knows the key at once, and pays its welcome grant on first use.
        const HttpAnswer credits = call(swarm, "GET", QStringLiteral("/v1/credits"), key);
        QVERIFY2(credits.status == 200, credits.body.constData());
        QCOMPARE(credits.json.value(QStringLiteral("account")).toString(), QStringLiteral("olive"));
        swarm.addNode();
        QVERIFY(swarm.waitForShards(1));
        auto quote = swarm.submit(QStringLiteral("Once upon a time"), 5,
                                  {QStringLiteral("--api-key"), key, QStringLiteral("--quote")});
        QVERIFY(quote->waitForFinished(30000));
        QVERIFY2(quote->exitCode() == 0, quote->readAllStandardError().constData());
        QCOMPARE(available(swarm.admin(
                     {QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("olive")})),
                 7.0);
        // Grant while running, then a second key with a spend limit, then revocation.
        QVERIFY(
            swarm.admin({QStringLiteral("grant"), QStringLiteral("olive"), QStringLiteral("3")}, &exitCode)
                .contains(QStringLiteral("granted")));
        QCOMPARE(available(swarm.admin(
                     {QStringLiteral("ledger"), QStringLiteral("balance"), QStringLiteral("olive")})),
                 10.0);
        const QString capped =
            swarm
                .admin({QStringLiteral("user"), QStringLiteral("add-key"), QStringLiteral("olive"),
                        QStringLiteral("--spend-limit-credits"), QStringLiteral("0.000001")},
                       &exitCode)
                .trimmed();
        QVERIFY2(exitCode == 0, qPrintable(capped));
        auto overLimit =
            swarm.submit(QStringLiteral("Once upon a time"), 5, {QStringLiteral("--api-key"), capped});
        QVERIFY(overLimit->waitForFinished(30000));
        QCOMPARE(overLimit->exitCode() == 0, false);
        QVERIFY2(QString::fromUtf8(overLimit->readAllStandardError()).contains(QStringLiteral("spend limit")),
                 "expected the key's spend limit to refuse the request");
        const QString list = swarm.admin({QStringLiteral("user"), QStringLiteral("list")});
        QVERIFY2(list.contains(QStringLiteral("olive")) && list.count(QStringLiteral("  key ")) == 2,
                 qPrintable(list));
        const QString keyId = key.mid(3, 16);
        swarm.admin({QStringLiteral("user"), QStringLiteral("revoke-key"), keyId}, &exitCode);
        QCOMPARE(exitCode, 0);
        QCOMPARE(call(swarm, "GET", QStringLiteral("/v1/credits"), key).status, 401);
        QCOMPARE(call(swarm, "GET", QStringLiteral("/v1/credits"), capped).status, 200);
    }

    void usersJsonIsMigratedOnFirstStart() {
        // A users.json of an older release, with an old-style key.
        const QString oldKey =
            QStringLiteral("dk_") + QString::fromLatin1(QByteArray(32, 'k').toBase64(
                                        QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
        Swarm swarm({QStringLiteral("--min-nodes"), QStringLiteral("1")}, [&](Swarm& s) {
            QDir().mkpath(s.path(QStringLiteral("server")));
            QFile file(s.path(QStringLiteral("server/users.json")));
            QVERIFY(file.open(QIODevice::WriteOnly));
            const QByteArray digest =
                QCryptographicHash::hash(oldKey.toUtf8(), QCryptographicHash::Sha256).toHex();
            file.write(QJsonDocument(
                           QJsonObject{{QStringLiteral("users"),
                                        QJsonArray{QJsonObject{
                                            {QStringLiteral("name"), QStringLiteral("old")},
                                            {QStringLiteral("key_sha256"), QString::fromLatin1(digest)}}}}})
                           .toJson());
        });
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        QVERIFY(!QFile::exists(swarm.path(QStringLiteral("server/users.json"))));
        QVERIFY(QFile::exists(swarm.path(QStringLiteral("server/users.json.migrated"))));
        const HttpAnswer credits = call(swarm, "GET", QStringLiteral("/v1/credits"), oldKey);
        QVERIFY2(credits.status == 200, credits.body.constData());
        QCOMPARE(credits.json.value(QStringLiteral("account")).toString(), QStringLiteral("old"));
    }

    void twoGatewaysOnOnePostgresShareAccounts() {
        const QString pg = qEnvironmentVariable("DECLAI_TEST_PG");
        if (pg.isEmpty())
            QSKIP("DECLAI_TEST_PG is not set: start a throwaway server with scripts/pg-test-cluster.sh start "
                  "DIR and "
                  "export the DECLAI_TEST_PG line it prints");
        const QString schema = QStringLiteral("declai_acc_%1")
                                   .arg(QRandomGenerator::global()->generate64(), 16, 16, QLatin1Char('0'));
        const QStringList ledger{QStringLiteral("--ledger"), QStringLiteral("postgres"),
                                 QStringLiteral("--ledger-postgres"),
                                 pg + QStringLiteral(" schema=") + schema};
        Swarm a(ledger + QStringList{QStringLiteral("--allow-registration")});
        Swarm b(ledger);
        QVERIFY2(a.waitForServer(), qPrintable(a.log(QStringLiteral("server"))));
        QVERIFY2(b.waitForServer(), qPrintable(b.log(QStringLiteral("server"))));
        int exitCode = -1;
        const QString key =
            a.admin(QStringList{QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("shared")} +
                        ledger,
                    &exitCode)
                .trimmed();
        QVERIFY2(exitCode == 0, qPrintable(key));
        const HttpAnswer onB = call(b, "GET", QStringLiteral("/v1/credits"), key);
        QVERIFY2(onB.status == 200, onB.body.constData());
        QCOMPARE(onB.json.value(QStringLiteral("account")).toString(), QStringLiteral("shared"));
        const HttpAnswer registered = call(a, "POST", QStringLiteral("/v1/accounts"), {},
                                           {{QStringLiteral("name"), QStringLiteral("reg")}});
        QVERIFY2(registered.status == 201, registered.body.constData());
        QCOMPARE(call(b, "GET", QStringLiteral("/v1/credits"),
                      registered.json.value(QStringLiteral("api_key")).toString())
                     .status,
                 200);
        // Revoked on one gateway's database: refused by the other at once.
        b.admin(QStringList{QStringLiteral("user"), QStringLiteral("revoke-key"), key.mid(3, 16)} + ledger,
                &exitCode);
        QCOMPARE(exitCode, 0);
        QCOMPARE(call(a, "GET", QStringLiteral("/v1/credits"), key).status, 401);
    }
};

QTEST_GUILESS_MAIN(TestAccountsSwarm)
#include "tst_accounts_swarm.moc"
