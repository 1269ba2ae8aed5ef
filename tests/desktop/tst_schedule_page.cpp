// The Schedule page: a mouse drag on the weekly grid -> ContributionRules (the settings form the engine
// and declai-node read) -> back into a fresh page, and the round-tripped rules evaluated at given times
// (a fake clock and fake idle/power states fed to the core's pure rule function).
#include "SchedulePage.h"
#include "WeeklyGridWidget.h"

#include <QCheckBox>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTest>

using namespace declai;
using namespace declai::desktop;

class SchedulePageTest : public QObject {
    Q_OBJECT

    static void drag(WeeklyGridWidget* grid, int fromDay, int fromHour, int toDay, int toHour) {
        QTest::mousePress(grid, Qt::LeftButton, {}, grid->cellCenter(fromDay, fromHour));
        // Through a middle cell, as a hand would.
        QMouseEvent move(QEvent::MouseMove, grid->cellCenter((fromDay + toDay) / 2, (fromHour + toHour) / 2),
                         grid->mapToGlobal(grid->cellCenter((fromDay + toDay) / 2, (fromHour + toHour) / 2)),
                         Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(grid, &move);
        QMouseEvent last(QEvent::MouseMove, grid->cellCenter(toDay, toHour),
                         grid->mapToGlobal(grid->cellCenter(toDay, toHour)), Qt::NoButton, Qt::LeftButton,
                         Qt::NoModifier);
        QApplication::sendEvent(grid, &last);
        QTest::mouseRelease(grid, Qt::LeftButton, {}, grid->cellCenter(toDay, toHour));
    }

private Q_SLOTS:
    void dragSelectRoundTripsThroughRules() {
        SchedulePage page;
        page.resize(900, 600);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        QSignalSpy edited(&page, &SchedulePage::rulesEdited);

        // Start from nothing, then drag Tuesday..Thursday 09:00..17:00 on.
        page.setRules([] {
            ContributionRules r;
            r.grid = WeeklyGrid::allOff();
            return r;
        }());
        WeeklyGridWidget* grid = page.gridWidget();
        drag(grid, 2, 9, 4, 17);
        QCOMPARE(edited.count(), 1);
        const auto rules = edited.last().first().value<ContributionRules>();
        QCOMPARE(rules.grid.countOn(), 3 * 9);
        for (int day = 1; day <= 7; ++day)
            for (int hour = 0; hour < 24; ++hour)
                QCOMPARE(rules.grid.isOn(day, hour), day >= 2 && day <= 4 && hour >= 9 && hour <= 17);

        // A drag that starts on an "on" hour switches the rectangle off.
        drag(grid, 3, 12, 3, 13);
        const auto cut = edited.last().first().value<ContributionRules>();
        QCOMPARE(cut.grid.countOn(), 3 * 9 - 2);
        QVERIFY(!cut.grid.isOn(3, 12) && !cut.grid.isOn(3, 13) && cut.grid.isOn(3, 11));

        // Rules: only when idle 10 minutes, not on battery, 50% CPU.
        page.findChildren<QCheckBox*>().first()->setChecked(true); // "Only when ... idle"
        page.findChildren<QSpinBox*>().first()->setValue(10);
        const ContributionRules final = page.rules();
        QCOMPARE(final.idleMinutesRequired, 10);

        // Through the settings form (what node.ini holds) and back into a fresh page.
        auto restored = ContributionRules::fromVariantMap(final.toVariantMap());
        QVERIFY2(restored, restored ? "" : restored.error().message.c_str());
        QVERIFY(*restored == final);
        SchedulePage fresh;
        fresh.setRules(*restored);
        QVERIFY(fresh.rules() == final);
        QCOMPARE(fresh.gridWidget()->grid(), cut.grid);

        // The round-tripped rules decide at the right times (fake clock, fake idle and power).
        MachineState state;
        state.power = MachineState::Mains;
        state.userIdleSeconds = 3600;
        state.fullScreenAppRunning = false;
        state.now = QDateTime(QDate(2026, 12, 1), QTime(10, 30)); // Tuesday 10:30: inside
        QVERIFY(evaluateRules(*restored, state).run);
        state.now = QDateTime(QDate(2026, 12, 1), QTime(18, 30)); // Tuesday 18:30: outside
        auto outside = evaluateRules(*restored, state);
        QVERIFY(!outside.run);
        QCOMPARE(outside.reason, RuleDecision::OutsideSchedule);
        state.now = QDateTime(QDate(2026, 12, 2), QTime(12, 30)); // Wednesday 12:30: dragged off
        QVERIFY(!evaluateRules(*restored, state).run);
        state.now = QDateTime(QDate(2026, 12, 1), QTime(10, 30));
        state.userIdleSeconds = 60; // user active, 10 minutes required
        auto active = evaluateRules(*restored, state);
        QVERIFY(!active.run);
        QCOMPARE(active.reason, RuleDecision::UserActive);
        state.userIdleSeconds = 3600;
        state.power = MachineState::Battery;
        QCOMPARE(evaluateRules(*restored, state).reason, RuleDecision::OnBattery);
    }

    void keyboardTogglesAnHour() {
        WeeklyGridWidget grid;
        grid.resize(700, 260);
        grid.show();
        QVERIFY(QTest::qWaitForWindowExposed(&grid));
        grid.setGrid(WeeklyGrid::allOff());
        QSignalSpy edited(&grid, &WeeklyGridWidget::gridEdited);
        grid.setFocus();
        QTest::keyClick(&grid, Qt::Key_Down);  // Tuesday
        QTest::keyClick(&grid, Qt::Key_Right); // 01:00
        QTest::keyClick(&grid, Qt::Key_Space);
        QCOMPARE(edited.count(), 1);
        QVERIFY(grid.grid().isOn(2, 1));
        QCOMPARE(grid.grid().countOn(), 1);
    }
};

QTEST_MAIN(SchedulePageTest)
#include "tst_schedule_page.moc"
