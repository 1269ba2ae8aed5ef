// The tray's state -> icon/tooltip mapping for every state a volunteer must tell apart, the menu's actions
// per state, and the notification rate limit.
#include "FakeEngineController.h"
#include "Notifier.h"
#include "TrayController.h"
#include "TrayPresenter.h"

#include <QAction>
#include <QMenu>
#include <QSet>
#include <QSystemTrayIcon>
#include <QTest>

using namespace declai;
using namespace declai::desktop;
using node::EngineState;
using node::PauseKind;

namespace {
const QDateTime kNow(QDate(2026, 12, 2), QTime(10, 0, 0)); // a Wednesday, local time

node::EngineStats statsOf(EngineState state, PauseKind pause = PauseKind::None) {
    node::EngineStats s;
    s.state = state;
    s.pauseKind = pause;
    s.serverUrl = QStringLiteral("wss://127.0.0.1:7420");
    return s;
}
} // namespace

class TrayStatesTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void computingShowsTokensPerSecond() {
        auto s = statsOf(EngineState::Computing);
        s.tokensPerSecond = 42.25;
        const auto p = TrayPresenter::present(s, kNow);
        QCOMPARE(p.iconPath, QStringLiteral(":/icons/tray/computing.svg"));
        QVERIFY2(p.tooltip.contains(QStringLiteral("42.3 tokens/s")) ||
                     p.tooltip.contains(QStringLiteral("42.2 tokens/s")),
                 qPrintable(p.tooltip));
        QVERIFY(p.canPause);
        QVERIFY(!p.canResume);
    }

    void idleSaysWaitingForWork() {
        const auto p = TrayPresenter::present(statsOf(EngineState::Idle), kNow);
        QCOMPARE(p.iconPath, QStringLiteral(":/icons/tray/idle.svg"));
        QVERIFY2(p.tooltip.contains(QStringLiteral("waiting for work")), qPrintable(p.tooltip));
    }

    void idleWhileDownloadingShowsProgress() {
        auto s = statsOf(EngineState::Idle);
        s.download = {QStringLiteral("stories260K"), 25, 100};
        const auto p = TrayPresenter::present(s, kNow);
        QVERIFY2(p.tooltip.contains(QStringLiteral("25%")), qPrintable(p.tooltip));
    }

    void pausedByScheduleSaysUntilWhen() {
        auto s = statsOf(EngineState::Paused, PauseKind::Schedule);
        s.ruleReason = RuleDecision::OutsideSchedule;
        s.resumesAt = QDateTime(kNow.date(), QTime(19, 0));
        const auto p = TrayPresenter::present(s, kNow);
        QCOMPARE(p.iconPath, QStringLiteral(":/icons/tray/paused-schedule.svg"));
        QVERIFY2(p.tooltip.contains(QStringLiteral("schedule")) &&
                     p.tooltip.contains(QStringLiteral("19:00")),
                 qPrintable(p.tooltip));
        // Another day names the day, so "08:00" is not read as today.
        s.resumesAt = QDateTime(kNow.date().addDays(1), QTime(8, 0));
        const auto tomorrow = TrayPresenter::present(s, kNow);
        QVERIFY2(tomorrow.tooltip.contains(QLocale().toString(kNow.date().addDays(1), QStringLiteral("ddd"))),
                 qPrintable(tomorrow.tooltip));
    }

    void pausedByRuleSaysWhichRule_data() {
        QTest::addColumn<int>("reason");
        QTest::addColumn<QString>("expected");
        QTest::newRow("battery") << int(RuleDecision::OnBattery) << QStringLiteral("battery");
        QTest::newRow("user active") << int(RuleDecision::UserActive) << QStringLiteral("using the computer");
        QTest::newRow("full screen") << int(RuleDecision::FullScreen) << QStringLiteral("full-screen");
    }
    void pausedByRuleSaysWhichRule() {
        QFETCH(int, reason);
        QFETCH(QString, expected);
        auto s = statsOf(EngineState::Paused, PauseKind::Rule);
        s.ruleReason = RuleDecision::Reason(reason);
        const auto p = TrayPresenter::present(s, kNow);
        QCOMPARE(p.iconPath, QStringLiteral(":/icons/tray/paused-rule.svg"));
        QVERIFY2(p.tooltip.contains(expected), qPrintable(p.tooltip));
        QVERIFY(!p.canResume); // the rule clears by itself; Resume is for the volunteer's own pause
    }

    void pausedByUserAndSnoozed() {
        const auto paused = TrayPresenter::present(statsOf(EngineState::Paused, PauseKind::User), kNow);
        QCOMPARE(paused.iconPath, QStringLiteral(":/icons/tray/paused-user.svg"));
        QVERIFY2(paused.tooltip.contains(QStringLiteral("until you resume")), qPrintable(paused.tooltip));
        QVERIFY(paused.canResume);
        auto s = statsOf(EngineState::Paused, PauseKind::Snooze);
        s.resumesAt = kNow.addSecs(3600);
        const auto snoozed = TrayPresenter::present(s, kNow);
        QCOMPARE(snoozed.iconPath, QStringLiteral(":/icons/tray/paused-user.svg"));
        QVERIFY2(snoozed.tooltip.contains(QStringLiteral("Snoozed until 11:00")),
                 qPrintable(snoozed.tooltip));
        QVERIFY(snoozed.canResume);
    }

    void disconnectedCountsDown() {
        auto s = statsOf(EngineState::Disconnected);
        s.reconnectInSeconds = 7;
        const auto p = TrayPresenter::present(s, kNow);
        QCOMPARE(p.iconPath, QStringLiteral(":/icons/tray/disconnected.svg"));
        QVERIFY2(p.tooltip.contains(QStringLiteral("reconnecting in 7 s")), qPrintable(p.tooltip));
    }

    void errorSaysWhatToDo() {
        auto s = statsOf(EngineState::Error);
        s.lastError = QStringLiteral("the server's certificate was refused");
        s.whatToDo = QStringLiteral("Check the certificate file in Account & settings.");
        const auto p = TrayPresenter::present(s, kNow);
        QCOMPARE(p.iconPath, QStringLiteral(":/icons/tray/error.svg"));
        QVERIFY(p.tooltip.contains(s.lastError));
        QVERIFY(p.tooltip.contains(s.whatToDo));
    }

    // The seven states a volunteer must tell apart have seven different icons, and each icon loads.
    void everyStateHasItsOwnLoadableIcon() {
        const node::EngineStats states[] = {
            statsOf(EngineState::Computing),
            statsOf(EngineState::Idle),
            statsOf(EngineState::Paused, PauseKind::Schedule),
            statsOf(EngineState::Paused, PauseKind::Rule),
            statsOf(EngineState::Paused, PauseKind::User),
            statsOf(EngineState::Disconnected),
            statsOf(EngineState::Error),
        };
        QSet<QString> icons;
        for (const auto& s : states) {
            const QString path = TrayPresenter::present(s, kNow).iconPath;
            icons.insert(path);
            const QIcon icon(path);
            QVERIFY2(!icon.pixmap(QSize(22, 22)).isNull(), qPrintable(path));
        }
        QCOMPARE(icons.size(), 7);
    }

    // The real tray object follows the engine: icon and tooltip change with the stats, menu actions too.
    void trayControllerFollowsTheEngine() {
        testing::FakeEngineController engine;
        TrayController tray(engine, true);
        QVERIFY(tray.trayIcon());
        auto computing = statsOf(EngineState::Computing);
        computing.tokensPerSecond = 12;
        tray.showStats(computing);
        QVERIFY2(tray.trayIcon()->toolTip().contains(QStringLiteral("12.0 tokens/s")),
                 qPrintable(tray.trayIcon()->toolTip()));
        const QList<QAction*> actions = tray.menu()->actions();
        auto action = [&](const QString& text) -> QAction* {
            for (QAction* a : actions)
                if (a->text().remove(QLatin1Char('&')) == text)
                    return a;
            return nullptr;
        };
        QAction* snooze = action(QStringLiteral("Snooze 1 hour"));
        QAction* pause = action(QStringLiteral("Pause until resumed"));
        QAction* resume = action(QStringLiteral("Resume"));
        QVERIFY(snooze && pause && resume && action(QStringLiteral("Open dashboard")) &&
                action(QStringLiteral("Quit DeCLAI")));
        QVERIFY(snooze->isEnabled());
        QVERIFY(!resume->isEnabled());
        snooze->trigger();
        QCOMPARE(engine.pauses, 1);
        QVERIFY(engine.lastPauseUntil.has_value());
        const qint64 inS = QDateTime::currentDateTime().secsTo(*engine.lastPauseUntil);
        QVERIFY2(inS > 3500 && inS <= 3600, qPrintable(QString::number(inS)));
        pause->trigger();
        QCOMPARE(engine.pauses, 2);
        QVERIFY(!engine.lastPauseUntil.has_value());

        tray.showStats(statsOf(EngineState::Paused, PauseKind::User));
        QVERIFY(resume->isEnabled());
        QVERIFY(tray.trayIcon()->toolTip().contains(QStringLiteral("until you resume")));
        resume->trigger();
        QCOMPARE(engine.resumes, 1);
    }

    void notificationsAreRateLimitedAndSwitchable() {
        Notifier n;
        auto computing = statsOf(EngineState::Computing);
        const auto first = n.onStats(computing, kNow);
        QVERIFY(first.has_value());
        QCOMPARE(first->kind, Notification::FirstWork);
        // A milestone right after: refused by the global gap, shown once the gap passed.
        computing.layerTokensServed = 5000;
        QVERIFY(!n.onStats(computing, kNow.addSecs(10)).has_value());
        computing.layerTokensServed = 20000;
        const auto milestone = n.onStats(computing, kNow.addSecs(Notifier::kAnyGapS + 1));
        QVERIFY(milestone.has_value());
        QCOMPARE(milestone->kind, Notification::Milestone);
        // Errors flapping: one notification per kind per kKindGapS.
        auto error = statsOf(EngineState::Error);
        error.lastError = QStringLiteral("x");
        const QDateTime t = kNow.addSecs(1000);
        QVERIFY(n.onStats(error, t).has_value());
        n.onStats(computing, t.addSecs(100));
        QVERIFY(!n.onStats(error, t.addSecs(200)).has_value());
        n.onStats(computing, t.addSecs(300));
        QVERIFY(n.onStats(error, t.addSecs(Notifier::kKindGapS + 1)).has_value());
        // Switched off: nothing.
        Notifier off;
        off.setEnabled(false);
        QVERIFY(!off.onStats(statsOf(EngineState::Computing), kNow).has_value());
    }

    void firstCreditsNotifiesOnce() {
        Notifier n;
        QVERIFY(!n.onBalance(0, kNow).has_value());
        const auto first = n.onBalance(1.5, kNow.addSecs(100));
        QVERIFY(first.has_value());
        QCOMPARE(first->kind, Notification::FirstCredits);
        QVERIFY(!n.onBalance(3, kNow.addSecs(10000)).has_value());
    }
};

QTEST_MAIN(TrayStatesTest)
#include "tst_tray_states.moc"
