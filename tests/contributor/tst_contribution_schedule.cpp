// The contribution rules as plain data: the weekly grid, its settings form, and evaluateRules (a pure
// function of the rules and the machine's state).
#include "declai/core/ContributionSchedule.h"

#include <QTest>

using declai::ContributionRules;
using declai::MachineState;
using declai::RuleDecision;
using declai::WeeklyGrid;

namespace {

// 2026-12-07 is a Monday.
QDateTime at(int dayOfWeek, int hour, int minute = 0) {
    return QDateTime(QDate(2026, 12, 7).addDays(dayOfWeek - 1), QTime(hour, minute));
}

MachineState machine(const QDateTime& now, MachineState::PowerSource power = MachineState::Mains,
                     std::optional<int> idleSeconds = std::nullopt, std::optional<bool> fullScreen = false) {
    MachineState s;
    s.now = now;
    s.power = power;
    s.userIdleSeconds = idleSeconds;
    s.fullScreenAppRunning = fullScreen;
    return s;
}

// Evenings (18:00-23:00) on weekdays, all day at weekends.
WeeklyGrid eveningsAndWeekends() {
    WeeklyGrid g = WeeklyGrid::allOff();
    for (int day = 1; day <= 7; ++day)
        for (int hour = 0; hour < 24; ++hour)
            g.set(day, hour, day >= 6 || hour >= 18);
    return g;
}

} // namespace

class TestContributionSchedule : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void defaultsRunAlways() {
        const ContributionRules rules;
        QVERIFY(rules.grid.allSet());
        const RuleDecision d = declai::evaluateRules(rules, machine(at(3, 14)));
        QVERIFY(d.run);
        QCOMPARE(d.reason, RuleDecision::None);
        QVERIFY(!d.nextScheduledChange.isValid()); // an all-on grid never flips
    }

    void hourOfWeekStartsMondayMidnight() {
        QCOMPARE(WeeklyGrid::hourOfWeek(at(1, 0)), 0);
        QCOMPARE(WeeklyGrid::hourOfWeek(at(1, 23, 59)), 23);
        QCOMPARE(WeeklyGrid::hourOfWeek(at(2, 0)), 24);
        QCOMPARE(WeeklyGrid::hourOfWeek(at(7, 23, 30)), 167);
        QCOMPARE(WeeklyGrid::hourOfWeek(QDateTime()), -1);
        // UTC input is converted to local time first.
        const QDateTime local = at(4, 9, 15);
        QCOMPARE(WeeklyGrid::hourOfWeek(local.toUTC()), WeeklyGrid::hourOfWeek(local));
    }

    void outsideTheGridPausesWithTheNextChange() {
        ContributionRules rules;
        rules.grid = eveningsAndWeekends();
        const RuleDecision d = declai::evaluateRules(rules, machine(at(2, 14, 30)));
        QVERIFY(!d.run);
        QCOMPARE(d.reason, RuleDecision::OutsideSchedule);
        QVERIFY(d.text.contains(QStringLiteral("schedule")));
        QCOMPARE(d.nextScheduledChange, at(2, 18)); // Tuesday 18:00
        const RuleDecision evening = declai::evaluateRules(rules, machine(at(2, 18, 0)));
        QVERIFY(evening.run);
        QCOMPARE(evening.nextScheduledChange, at(3, 0)); // midnight: off again
        // Friday evening runs into the weekend: the next change is Monday 00:00 of the next week.
        const RuleDecision friday = declai::evaluateRules(rules, machine(at(5, 20)));
        QVERIFY(friday.run);
        QCOMPARE(friday.nextScheduledChange, at(1, 0).addDays(7));
    }

    void batteryFullScreenAndIdleRules() {
        ContributionRules rules;
        rules.idleMinutesRequired = 10;
        const RuleDecision battery =
            declai::evaluateRules(rules, machine(at(1, 9), MachineState::Battery, 3600));
        QVERIFY(!battery.run);
        QCOMPARE(battery.reason, RuleDecision::OnBattery);
        rules.pauseOnBattery = false;
        QVERIFY(declai::evaluateRules(rules, machine(at(1, 9), MachineState::Battery, 3600)).run);

        const RuleDecision full =
            declai::evaluateRules(rules, machine(at(1, 9), MachineState::Mains, 3600, true));
        QVERIFY(!full.run);
        QCOMPARE(full.reason, RuleDecision::FullScreen);

        const RuleDecision active = declai::evaluateRules(rules, machine(at(1, 9), MachineState::Mains, 599));
        QVERIFY(!active.run);
        QCOMPARE(active.reason, RuleDecision::UserActive);
        QVERIFY(active.text.contains(QStringLiteral("10 idle minutes")));
        QVERIFY(declai::evaluateRules(rules, machine(at(1, 9), MachineState::Mains, 600)).run);
    }

    void precedenceIsScheduleBatteryFullScreenIdle() {
        ContributionRules rules;
        rules.grid = eveningsAndWeekends();
        rules.idleMinutesRequired = 5;
        const MachineState everything = machine(at(1, 9), MachineState::Battery, 0, true);
        QCOMPARE(declai::evaluateRules(rules, everything).reason, RuleDecision::OutsideSchedule);
        rules.grid = WeeklyGrid::allOn();
        QCOMPARE(declai::evaluateRules(rules, everything).reason, RuleDecision::OnBattery);
        rules.pauseOnBattery = false;
        QCOMPARE(declai::evaluateRules(rules, everything).reason, RuleDecision::FullScreen);
        rules.pauseWhileFullScreen = false;
        QCOMPARE(declai::evaluateRules(rules, everything).reason, RuleDecision::UserActive);
    }

    // What the platform cannot tell does not pause, and the decision says which rule is not applied.
    void unknownStatesDoNotPauseAndSaySo() {
        ContributionRules rules;
        rules.idleMinutesRequired = 10;
        const RuleDecision d = declai::evaluateRules(
            rules, machine(at(1, 9), MachineState::Unknown, std::nullopt, std::nullopt));
        QVERIFY(d.run);
        QCOMPARE(d.notes.size(), 3);
        QVERIFY(d.notes.join(QLatin1Char('\n')).contains(QStringLiteral("idle time is unknown")));
        // Rules that are off need nothing and say nothing.
        rules = ContributionRules{};
        rules.pauseOnBattery = rules.pauseWhileFullScreen = false;
        QVERIFY(
            declai::evaluateRules(rules, machine(at(1, 9), MachineState::Unknown, std::nullopt, std::nullopt))
                .notes.isEmpty());
    }

    void gridStringRoundTrip() {
        const WeeklyGrid g = eveningsAndWeekends();
        const QString text = g.toString();
        QCOMPARE(text.size(), 168 + 6);
        QVERIFY(text.startsWith(QStringLiteral("000000000000000000111111 ")));
        auto back = WeeklyGrid::fromString(text);
        QVERIFY(back);
        QVERIFY(*back == g);
        QVERIFY(!WeeklyGrid::fromString(QStringLiteral("111")));
        QString wrongChar = text;
        wrongChar[3] = QLatin1Char('x');
        auto bad = WeeklyGrid::fromString(wrongChar);
        QVERIFY(!bad);
        QVERIFY2(QString::fromStdString(bad.error().message).contains(QStringLiteral("day 1, hour 3")),
                 bad.error().message.c_str());
    }

    void rulesVariantMapRoundTripAndErrorsNameTheKey() {
        ContributionRules rules;
        rules.grid = eveningsAndWeekends();
        rules.idleMinutesRequired = 15;
        rules.pauseOnBattery = false;
        rules.cpuThrottlePercent = 50;
        auto back = ContributionRules::fromVariantMap(rules.toVariantMap());
        QVERIFY(back);
        QVERIFY(*back == rules);
        // As an INI file gives them back: strings.
        const QVariantMap strings{{QStringLiteral("idle_minutes"), QStringLiteral("20")},
                                  {QStringLiteral("pause_on_battery"), QStringLiteral("false")}};
        auto fromStrings = ContributionRules::fromVariantMap(strings);
        QVERIFY(fromStrings);
        QCOMPARE(fromStrings->idleMinutesRequired, 20);
        QCOMPARE(fromStrings->pauseOnBattery, false);
        QCOMPARE(fromStrings->cpuThrottlePercent, 100); // missing: the default

        const std::pair<const char*, QVariant> bad[] = {
            {"idle_minutes", QStringLiteral("ten")},
            {"idle_minutes", 100000},
            {"cpu_throttle_percent", 5},
            {"cpu_throttle_percent", 101},
            {"pause_on_battery", QStringLiteral("maybe")},
            {"grid", QStringLiteral("1")},
        };
        for (const auto& [key, value] : bad) {
            auto r = ContributionRules::fromVariantMap(QVariantMap{{QLatin1StringView(key), value}});
            QVERIFY2(!r, key);
            QVERIFY2(r.error().message.find(std::string("'") + key + "'") != std::string::npos,
                     r.error().message.c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestContributionSchedule)
#include "tst_contribution_schedule.moc"
