// ContributorEngine in process against a real local declai-server: connect, pause (the reason is reported
// and the gateway stops placing sessions on the node), resume, snooze, budgets at run time, rules driven by
// fake clock/idle/power probes, stop (stopped() emitted, threads finished), an engine owned by another
// thread with an event loop, devices and a cancellable benchmark.
#include "ContributorEngine.h"
#include "FakeProbes.h"
#include "SwarmHarness.h"

#include <QSignalSpy>
#include <QTest>
#include <QThread>

using declai::ContributionRules;
using declai::MachineState;
using declai::RuleDecision;
using declai::WeeklyGrid;
using declai::node::ContributorEngine;
using declai::node::EngineState;
using declai::node::EngineStats;
using declai::node::NodeSettings;
using declai::node::PauseKind;
using declai::testdata::Swarm;
using declai::testsupport::FakeMachine;

namespace {

bool waitUntil(const std::function<bool()>& done, int timeoutMs) {
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < timeoutMs) {
        if (done())
            return true;
        QTest::qWait(50);
    }
    return done();
}

NodeSettings settingsFor(Swarm& swarm, const QString& name) {
    NodeSettings s;
    s.serverUrl = QUrl(swarm.url());
    s.dataDir = swarm.path(name);
    s.tls.caFile = swarm.caFile();
    s.budgets.threads = 1;
    s.drainGraceMs = 5000;
    s.statusIntervalMs = 1000;
    return s;
}

// The swarm's view of its only node: {"accepting": ..., "shards": [...]}.
QJsonObject onlyNode(Swarm& swarm) {
    const QJsonArray nodes = swarm.status().value(QStringLiteral("nodes")).toArray();
    return nodes.size() == 1 ? nodes[0].toObject() : QJsonObject();
}

bool gatewaySeesAccepting(Swarm& swarm, bool accepting) {
    const QJsonObject n = onlyNode(swarm);
    return !n.isEmpty() && n.value(QStringLiteral("accepting")).toBool() == accepting;
}

QString describe(const EngineStats& s) {
    return QStringLiteral("state %1, pause %2 (%3), error '%4', connected %5, shards %6")
        .arg(declai::node::engineStateName(s.state), declai::node::pauseKindName(s.pauseKind), s.pauseText,
             s.lastError)
        .arg(s.connected)
        .arg(s.shards.size());
}

int submitAndWait(Swarm& swarm, int tokens) {
    auto client = swarm.submit(QStringLiteral("Once upon a time"), tokens);
    if (!client->waitForFinished(90000)) {
        client->kill();
        client->waitForFinished(5000);
        return -1;
    }
    return client->exitCode();
}

} // namespace

class TestContributorEngine : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            QSKIP("stories260K.gguf (DECLAI_MODEL_PATH) is needed");
    }

    void connectPauseResumeSnoozeBudgetsStop() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("1")});
        QVERIFY(swarm.waitForServer());
        auto machine = std::make_shared<FakeMachine>();
        ContributorEngine engine(settingsFor(swarm, QStringLiteral("engine")),
                                 declai::testsupport::fakeProbes(machine));
        QSignalSpy statsSpy(&engine, &ContributorEngine::statsChanged);
        QSignalSpy stoppedSpy(&engine, &ContributorEngine::stopped);
        engine.start();
        QCOMPARE(engine.stats().state, EngineState::Starting); // at once, on the caller's thread
        QVERIFY2(swarm.waitForShards(1, 60000), qPrintable(swarm.log(QStringLiteral("server"))));
        QVERIFY2(
            waitUntil(
                [&] { return engine.stats().state == EngineState::Idle && !engine.stats().shards.isEmpty(); },
                20000),
            qPrintable(describe(engine.stats())));
        const EngineStats connected = engine.stats();
        QVERIFY(connected.connected);
        QCOMPARE(connected.nodeId, onlyNode(swarm).value(QStringLiteral("id")).toString());
        QVERIFY(!connected.fingerprint.isEmpty());
        QCOMPARE(connected.shards.first().model, QStringLiteral("stories260K"));
        QVERIFY(connected.shards.first().bytes > 0);
        QVERIFY(gatewaySeesAccepting(swarm, true));

        // Work is served and counted.
        QCOMPARE(submitAndWait(swarm, 8), 0);
        QVERIFY2(waitUntil([&] { return engine.stats().stagesServed > 0; }, 5000),
                 qPrintable(describe(engine.stats())));
        QVERIFY(engine.stats().layerTokensServed > 0);
        QCOMPARE(engine.stats().sessionsServed, 1);
        QCOMPARE(engine.stats().shards.first().sessionsServed, 1);

        // Paused by the volunteer: reported with its reason, and the gateway places no new session here.
        engine.pauseByUser();
        QVERIFY(waitUntil([&] { return engine.stats().state == EngineState::Paused; }, 5000));
        QCOMPARE(engine.stats().pauseKind, PauseKind::User);
        QVERIFY(!engine.stats().pauseText.isEmpty());
        QVERIFY(waitUntil([&] { return gatewaySeesAccepting(swarm, false); }, 5000));
        const qint64 stagesBefore = engine.stats().stagesServed;
        QVERIFY(submitAndWait(swarm, 4) != 0); // the only node takes no new session
        QTest::qWait(600);
        QCOMPARE(engine.stats().stagesServed, stagesBefore);
        QVERIFY(!engine.stats().shards.isEmpty()); // shards kept

        engine.resume();
        QVERIFY(waitUntil([&] { return engine.stats().state == EngineState::Idle; }, 5000));
        QVERIFY(waitUntil([&] { return gatewaySeesAccepting(swarm, true); }, 5000));
        QCOMPARE(submitAndWait(swarm, 4), 0);
        QVERIFY(waitUntil([&] { return engine.stats().stagesServed > stagesBefore; }, 5000));

        // Snooze for an hour on the engine's clock; it ends by itself when that clock passes the hour.
        const QDateTime until = machine->now.addSecs(3600);
        engine.pauseByUser(until);
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::Snooze; }, 5000));
        QCOMPARE(engine.stats().resumesAt, until);
        QVERIFY(waitUntil([&] { return gatewaySeesAccepting(swarm, false); }, 5000));
        machine->setNow(until.addSecs(-60));
        engine.evaluateRulesNow();
        QTest::qWait(300);
        QCOMPARE(engine.stats().pauseKind, PauseKind::Snooze);
        machine->setNow(until.addSecs(1));
        engine.evaluateRulesNow();
        QVERIFY(waitUntil([&] { return engine.stats().state == EngineState::Idle; }, 5000));
        QVERIFY(waitUntil([&] { return gatewaySeesAccepting(swarm, true); }, 5000));

        // Budgets at run time: the thread count applies (no session is active), an empty device list pauses.
        declai::node::ResourceBudgets budgets = engine.settings().budgets;
        budgets.threads = 2;
        engine.setBudgets(budgets);
        QVERIFY2(waitUntil([&] { return engine.stats().threads == 2; }, 5000),
                 qPrintable(describe(engine.stats())));
        budgets.enabledDevices.clear();
        engine.setBudgets(budgets);
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::Rule; }, 5000));
        QVERIFY(engine.stats().pauseText.contains(QStringLiteral("no device")));
        budgets.enabledDevices = {QStringLiteral("cpu")};
        engine.setBudgets(budgets);
        QVERIFY(waitUntil([&] { return engine.stats().state == EngineState::Idle; }, 5000));
        QCOMPARE(submitAndWait(swarm, 4), 0); // still serves after the executors were rebuilt

        // Stats are throttled: far fewer snapshots than stages.
        QVERIFY(statsSpy.count() > 3);
        QVERIFY2(statsSpy.count() < 200, qPrintable(QString::number(statsSpy.count())));

        engine.stop();
        QVERIFY(stoppedSpy.wait(15000));
        QCOMPARE(stoppedSpy.count(), 1);
        QVERIFY(!engine.isRunning());
        QCOMPARE(engine.stats().state, EngineState::Stopped);
        QVERIFY(waitUntil([&] { return swarm.status().value(QStringLiteral("nodes")).toArray().isEmpty(); },
                          10000));
        // Started again after a stop: connects again with the same identity.
        engine.start();
        QVERIFY(waitUntil([&] { return engine.stats().connected; }, 20000));
        QCOMPARE(engine.stats().nodeId, connected.nodeId);
    }

    // The schedule and the rules, with a fake clock, idle time and power source: the engine pauses and
    // resumes at the right times, with the reason, and the gateway sees it.
    void rulesPauseAndResumeAtTheRightTimes() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("1")});
        QVERIFY(swarm.waitForServer());
        auto machine = std::make_shared<FakeMachine>();
        machine->setNow(QDateTime(QDate(2026, 12, 8), QTime(17, 30))); // Tuesday 17:30
        NodeSettings settings = settingsFor(swarm, QStringLiteral("rules"));
        // Evenings only (18:00-24:00 every day).
        settings.rules.grid = WeeklyGrid::allOff();
        for (int day = 1; day <= 7; ++day)
            for (int hour = 18; hour < 24; ++hour)
                settings.rules.grid.set(day, hour, true);
        ContributorEngine engine(settings, declai::testsupport::fakeProbes(machine));
        engine.setRuleCheckIntervalMs(200);
        engine.start();
        QVERIFY(waitUntil([&] { return engine.stats().connected; }, 20000));
        QCOMPARE(engine.stats().state, EngineState::Paused);
        QCOMPARE(engine.stats().pauseKind, PauseKind::Schedule);
        QCOMPARE(engine.stats().ruleReason, RuleDecision::OutsideSchedule);
        QCOMPARE(engine.stats().resumesAt, QDateTime(QDate(2026, 12, 8), QTime(18, 0)));
        QVERIFY(waitUntil([&] { return gatewaySeesAccepting(swarm, false); }, 5000));

        machine->setNow(QDateTime(QDate(2026, 12, 8), QTime(17, 59, 59)));
        QTest::qWait(500); // two rule checks: still outside
        QCOMPARE(engine.stats().pauseKind, PauseKind::Schedule);
        machine->setNow(QDateTime(QDate(2026, 12, 8), QTime(18, 0, 1)));
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::None; }, 5000));
        QVERIFY(waitUntil([&] { return gatewaySeesAccepting(swarm, true); }, 5000));

        machine->setPower(MachineState::Battery);
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::Rule; }, 5000));
        QCOMPARE(engine.stats().ruleReason, RuleDecision::OnBattery);
        QVERIFY(engine.stats().pauseText.contains(QStringLiteral("battery")));
        QVERIFY(waitUntil([&] { return gatewaySeesAccepting(swarm, false); }, 5000));
        machine->setPower(MachineState::Mains);
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::None; }, 5000));

        // Only after 10 idle minutes: the idle time is unknown first (the rule is not applied, with a note).
        ContributionRules rules = settings.rules;
        rules.idleMinutesRequired = 10;
        engine.setRules(rules);
        QVERIFY(waitUntil([&] { return !engine.stats().ruleNotes.isEmpty(); }, 5000));
        QCOMPARE(engine.stats().pauseKind, PauseKind::None);
        machine->setIdleSeconds(30);
        QVERIFY(waitUntil([&] { return engine.stats().ruleReason == RuleDecision::UserActive; }, 5000));
        QCOMPARE(engine.stats().pauseKind, PauseKind::Rule);
        machine->setIdleSeconds(601);
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::None; }, 5000));

        // Midnight: outside the grid again.
        machine->setNow(QDateTime(QDate(2026, 12, 9), QTime(0, 0, 1)));
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::Schedule; }, 5000));
        QCOMPARE(engine.stats().resumesAt, QDateTime(QDate(2026, 12, 9), QTime(18, 0)));

        // A user pause outranks the schedule and a resume falls back to it.
        engine.pauseByUser();
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::User; }, 5000));
        engine.resume();
        QVERIFY(waitUntil([&] { return engine.stats().pauseKind == PauseKind::Schedule; }, 5000));
    }

    // An engine created, run and destroyed on a thread of its own with an event loop (as a GUI would own
    // it on its main thread): connects, stops, and every thread is finished afterwards.
    void engineOwnedByAnotherThread() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("1")});
        QVERIFY(swarm.waitForServer());
        const NodeSettings settings = settingsFor(swarm, QStringLiteral("threaded"));
        std::atomic<bool> connected{false};
        std::atomic<bool> stopped{false};
        QThread owner;
        QObject* context = new QObject;
        context->moveToThread(&owner);
        owner.start();
        QMetaObject::invokeMethod(
            context,
            [&, context] {
                auto* engine = new ContributorEngine(settings, nullptr, context);
                QObject::connect(engine, &ContributorEngine::statsChanged, context,
                                 [&](const EngineStats& s) { connected = connected || s.connected; });
                QObject::connect(engine, &ContributorEngine::stopped, context, [&, engine] {
                    stopped = true;
                    delete engine; // destroyed on its own thread, after stopped()
                    QThread::currentThread()->quit();
                });
                engine->start();
            },
            Qt::QueuedConnection);
        QVERIFY(waitUntil([&] { return connected.load(); }, 20000));
        QMetaObject::invokeMethod(
            context,
            [context] {
                if (auto* engine = context->findChild<ContributorEngine*>())
                    engine->stop();
            },
            Qt::QueuedConnection);
        QVERIFY(waitUntil([&] { return stopped.load() && owner.isFinished(); }, 20000));
        QVERIFY(owner.wait(5000));
        delete context;
        QVERIFY(waitUntil([&] { return swarm.status().value(QStringLiteral("nodes")).toArray().isEmpty(); },
                          10000));
    }

    // Destroyed while connected and never stopped: no hang, no crash (the destructor joins the threads).
    void destroyedWhileRunning() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("1")});
        QVERIFY(swarm.waitForServer());
        {
            ContributorEngine engine(settingsFor(swarm, QStringLiteral("abandoned")));
            engine.start();
            QVERIFY(waitUntil([&] { return engine.stats().connected; }, 20000));
        }
        QVERIFY(waitUntil([&] { return swarm.status().value(QStringLiteral("nodes")).toArray().isEmpty(); },
                          10000));
    }

    void badCertificateIsAFatalErrorWithAdvice() {
        QTemporaryDir dir;
        NodeSettings settings;
        settings.serverUrl = QUrl(QStringLiteral("wss://127.0.0.1:9"));
        settings.dataDir = dir.filePath(QStringLiteral("data"));
        settings.tls.caFile = dir.filePath(QStringLiteral("missing.crt"));
        ContributorEngine engine(settings);
        QSignalSpy fatal(&engine, &ContributorEngine::fatalError);
        engine.start();
        QVERIFY(fatal.wait(10000));
        QVERIFY(waitUntil([&] { return engine.stats().state == EngineState::Error; }, 5000));
        QVERIFY(!engine.stats().lastError.isEmpty());
        QVERIFY(!engine.stats().whatToDo.isEmpty());
        QSignalSpy stopped(&engine, &ContributorEngine::stopped);
        engine.stop();
        QVERIFY(stopped.wait(10000));
    }

    void devicesAndBenchmark() {
        NodeSettings settings;
        settings.budgets.threads = 1;
        ContributorEngine engine(settings);
        QSignalSpy devices(&engine, &ContributorEngine::devicesChanged);
        engine.refreshDevices();
        QVERIFY(devices.wait(30000));
        bool cpu = false;
        for (const declai::node::DeviceInfo& d : engine.devices())
            cpu = cpu || (d.id.startsWith(QStringLiteral("cpu")) && d.available);
        QVERIFY(cpu);

        QSignalSpy finished(&engine, &ContributorEngine::benchmarkFinished);
        QSignalSpy progress(&engine, &ContributorEngine::benchmarkProgress);
        engine.runBenchmark(QStringLiteral("nosuchbackend:0"));
        QVERIFY(finished.wait(30000));
        auto failed = finished.takeFirst().at(0).value<declai::node::BenchmarkResult>();
        QVERIFY(!failed.ok);
        QVERIFY(!failed.error.isEmpty());

        // Cancelled as soon as it reports progress.
        QObject::connect(
            &engine, &ContributorEngine::benchmarkProgress, &engine, [&] { engine.cancelBenchmark(); },
            Qt::SingleShotConnection);
        engine.runBenchmark(QStringLiteral("cpu"));
        engine.runBenchmark(QStringLiteral("cpu")); // refused: one at a time
        QVERIFY(waitUntil([&] { return finished.count() >= 2; }, 60000));
        auto a = finished.at(0).at(0).value<declai::node::BenchmarkResult>();
        auto b = finished.at(1).at(0).value<declai::node::BenchmarkResult>();
        QCOMPARE(a.error, QStringLiteral("a benchmark is already running"));
        QCOMPARE(b.error, QStringLiteral("cancelled"));
        QVERIFY(!progress.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestContributorEngine)
#include "tst_contributor_engine.moc"
