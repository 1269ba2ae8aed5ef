// The gateway's credit rules in process, on a real SQLite ledger: what each end path charges
// (billableTokens, CreditService::closeRequest), which open holds count as orphaned (findOrphanedHolds), and
// what CreditService::start recovers (orphaned holds, matured earnings of nodes that earned before).
#include "declai/server/CreditService.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QTemporaryDir>
#include <QTest>
#include <set>

using namespace declai;
using namespace declai::server;

namespace {

constexpr int64_t kParams = 1'000'000'000; // the reference size: prices apply as written

std::vector<NodeWorkShare> work(int64_t layerTokens) {
    return {NodeWorkShare{"n1", layerTokens}};
}

int64_t nowMs() {
    return QDateTime::currentMSecsSinceEpoch();
}

} // namespace

class TestCreditService : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    int m_next = 0;

    // A CreditService on a fresh ledger (or the one in `dir`), as one gateway run with instanceId.
    std::unique_ptr<CreditService> service(const QString& dir, const std::string& instanceId,
                                           int64_t windowMs = 600000) {
        CreditConfig config;
        config.verificationWindowMs = windowMs;
        auto ledger = openLedger(config, dir, std::nullopt, instanceId);
        if (!ledger)
            return nullptr;
        return std::make_unique<CreditService>(config, std::move(*ledger));
    }
    QString freshDir() { return m_dir.filePath(QStringLiteral("d%1").arg(m_next++)); }

private Q_SLOTS:
    void billingRuleForEveryEndPath_data() {
        QTest::addColumn<int>("end");
        QTest::addColumn<int>("generated");
        QTest::addColumn<int>("layerTokens");
        QTest::addColumn<int>("billedPrompt");
        QTest::addColumn<int>("billedGenerated");
        const int completed = int(RequestEnd::Completed), left = int(RequestEnd::ClientLeft),
                  failed = int(RequestEnd::Failed);
        QTest::newRow("completed") << completed << 7 << 70 << 10 << 7;
        QTest::newRow("completed, stop token first") << completed << 0 << 50 << 10 << 0;
        QTest::newRow("completed, nothing ran") << completed << 0 << 0 << 0 << 0;
        QTest::newRow("client left after 7 tokens") << left << 7 << 75 << 10 << 7;
        QTest::newRow("client left during prefill") << left << 0 << 20 << 10 << 0;
        QTest::newRow("client left before any work") << left << 0 << 0 << 0 << 0;
        QTest::newRow("failed after 3 tokens") << failed << 3 << 40 << 10 << 3;
        QTest::newRow("failed before the first token") << failed << 0 << 50 << 0 << 0;
    }

    void billingRuleForEveryEndPath() {
        QFETCH(int, end);
        QFETCH(int, generated);
        QFETCH(int, layerTokens);
        QFETCH(int, billedPrompt);
        QFETCH(int, billedGenerated);
        RequestUsage usage{RequestEnd(end), 10, generated, work(layerTokens)};
        const BillableTokens billed = billableTokens(usage);
        QCOMPARE(billed.promptTokens, int64_t(billedPrompt));
        QCOMPARE(billed.generatedTokens, int64_t(billedGenerated));
    }

    // closeRequest settles what is billable (user pays exactly the price of it; nodes + fee get exactly
    // that) or releases the whole hold; the ledger verifies after each.
    void closeRequestMovesExactlyTheCharge() {
        auto credits = service(freshDir(), "run-1");
        QVERIFY(credits);
        QVERIFY(credits->start());
        QVERIFY(credits->ensureUser("u"));
        const auto start = credits->balanceOfUser("u");
        QVERIFY(start);
        auto worst = credits->quote(kParams, 10, 100);
        QVERIFY(worst);

        auto hold = credits->admit("u", "req-left", worst->total);
        QVERIFY(hold);
        auto charge =
            credits->closeRequest(*hold, kParams, RequestUsage{RequestEnd::ClientLeft, 10, 7, work(80)});
        QVERIFY2(charge, charge ? "" : charge.error().message.c_str());
        auto expected = credits->quote(kParams, 10, 7);
        QCOMPARE(charge->cost, expected->total);
        auto after = credits->balanceOfUser("u");
        QCOMPARE(after->available, start->available - expected->total);
        QCOMPARE(after->held, 0);
        auto node = credits->ledger().balance(credit::nodeAccount("n1"));
        auto fee = credits->ledger().balance(credit::kFeeAccount);
        QCOMPARE(node->pending + fee->available, expected->total);
        QVERIFY(node->pending > 0);

        auto hold2 = credits->admit("u", "req-failed-early", worst->total);
        QVERIFY(hold2);
        auto none = credits->closeRequest(*hold2, kParams, RequestUsage{RequestEnd::Failed, 10, 0, work(50)});
        QVERIFY(none);
        QCOMPARE(none->cost, 0);
        auto stored = credits->ledger().hold(*hold2);
        QCOMPARE((*stored)->status, credit::HoldStatus::Released);
        QCOMPARE(credits->balanceOfUser("u")->available, after->available);
        auto report = credits->ledger().verify();
        QVERIFY(report && report->clean());
    }

    // Which open holds are orphaned: the caller's own run is live; a stopped run, a silent run, a run of
    // this host whose process is gone and an unknown run are not; a fresh run on another host is live.
    void orphanRules() {
        const QString dir = freshDir();
        const int64_t now = nowMs();
        const std::string host = currentHostIdentity();
        const int64_t myPid = QCoreApplication::applicationPid();
        struct Case {
            std::string instance;
            credit::GatewayInstance run;
            bool orphaned;
        };
        const std::vector<Case> cases = {
            {"self", {"self", host, myPid, now, now, 0}, false},
            {"alive-here", {"alive-here", host, myPid, now, now, 0}, false},
            {"other-host", {"other-host", "elsewhere.example", 1, now, now - 1000, 0}, false},
            {"stopped", {"stopped", host, myPid, now, now, now}, true},
            {"silent", {"silent", "elsewhere.example", 1, now - 600000, now - 600000, 0}, true},
            {"dead-here", {"dead-here", host, 0x7ffffff0, now, now, 0}, true},
            {"unknown", {}, true},
        };
        for (const Case& c : cases) {
            auto credits = service(dir, c.instance);
            QVERIFY(credits);
            QVERIFY(credits->ensureUser("u"));
            QVERIFY(credits->admit("u", "hold-" + c.instance, 1000));
            if (!c.run.id.empty())
                QVERIFY(credits->ledger().recordInstance(c.run));
        }
        auto tool = service(dir, std::string());
        auto orphans = findOrphanedHolds(tool->ledger(), "self", now, 60000);
        QVERIFY(orphans);
        std::set<std::string> found;
        for (const OrphanedHold& o : *orphans)
            found.insert(o.hold.id);
        for (const Case& c : cases)
            QVERIFY2(found.count("hold-" + c.instance) == (c.orphaned ? 1u : 0u), c.instance.c_str());
        // An operator tool has no run of its own: "self" is just another live run to it.
        auto fromTool = findOrphanedHolds(tool->ledger(), std::string(), now, 60000);
        QCOMPARE(fromTool->size(), orphans->size());
    }

    // A previous run died with a hold open and a node's earnings pending; the next start releases the hold
    // and, once the window has passed, the earnings, without any new request.
    void startRecoversHoldsAndMaturedEarnings() {
        const QString dir = freshDir();
        int64_t pending = 0;
        {
            auto first = service(dir, "run-old");
            QVERIFY(first);
            QVERIFY(first->start());
            QVERIFY(first->ensureUser("u"));
            auto paid = first->admit("u", "paid", 100000);
            QVERIFY(paid);
            QVERIFY(
                first->closeRequest(*paid, kParams, RequestUsage{RequestEnd::Completed, 10, 5, work(30)}));
            pending = first->ledger().balance(credit::nodeAccount("n1"))->pending;
            QVERIFY(pending > 0);
            QVERIFY(first->admit("u", "open", 5000));
            // The run ends with the hold still open (a shutdown mid-generation; a kill -9 is the "dead-here"
            // case of orphanRules).
        }
        QTest::qWait(50);
        auto second = service(dir, "run-new", 1); // a 1 ms window: the old lot has matured
        QVERIFY(second);
        QVERIFY(second->start());
        auto hold = second->ledger().hold("open");
        QCOMPARE((*hold)->status, credit::HoldStatus::Released);
        const auto node = second->ledger().balance(credit::nodeAccount("n1"));
        QCOMPARE(node->pending, 0);
        QCOMPARE(node->available, pending);
        auto report = second->ledger().verify();
        QVERIFY(report && report->clean());
    }
};

QTEST_GUILESS_MAIN(TestCreditService)
#include "tst_credit_service.moc"
