// When a volunteer's machine contributes: a weekly grid of hours and a few rules (idle, battery, full-screen,
// CPU throttle), as plain data, with one pure function that turns the rules and what the machine is doing now
// into "run" or "pause, because ...". The app edits these; the contributor engine enforces them (it samples
// the machine through injected probes and calls evaluateRules). No clock, file or system call in here.
#pragma once

#include "declai/core/Error.h"

#include <QDateTime>
#include <QString>
#include <QVariantMap>
#include <bitset>
#include <optional>

namespace declai {

// 168 hours, Monday 00:00-01:00 local time first, Sunday 23:00-24:00 last. A set bit = contributing is
// allowed in that hour. Default: every hour on.
class WeeklyGrid {
public:
    static constexpr int kHours = 7 * 24;

    WeeklyGrid() { m_hours.set(); }
    static WeeklyGrid allOn() { return WeeklyGrid(); }
    static WeeklyGrid allOff() {
        WeeklyGrid g;
        g.m_hours.reset();
        return g;
    }

    // hourOfWeek in [0, 168); out-of-range indexes read as off and are ignored on write.
    bool isOn(int hourOfWeek) const {
        return hourOfWeek >= 0 && hourOfWeek < kHours && m_hours[size_t(hourOfWeek)];
    }
    void set(int hourOfWeek, bool on) {
        if (hourOfWeek >= 0 && hourOfWeek < kHours)
            m_hours[size_t(hourOfWeek)] = on;
    }
    // day as Qt::DayOfWeek (1 = Monday ... 7 = Sunday), hour in [0, 24).
    bool isOn(int dayOfWeek, int hour) const { return isOn(index(dayOfWeek, hour)); }
    void set(int dayOfWeek, int hour, bool on) { set(index(dayOfWeek, hour), on); }
    // The hour `time` falls in, in local time (time is converted to local time first).
    bool isOn(const QDateTime& time) const { return isOn(hourOfWeek(time)); }

    bool allSet() const { return m_hours.all(); }
    bool noneSet() const { return m_hours.none(); }
    int countOn() const { return static_cast<int>(m_hours.count()); }

    // Monday 00:00 = 0 ... Sunday 23:00 = 167, in local time; -1 for an invalid time.
    static int hourOfWeek(const QDateTime& time);
    static int index(int dayOfWeek, int hour) {
        return dayOfWeek >= 1 && dayOfWeek <= 7 && hour >= 0 && hour < 24 ? (dayOfWeek - 1) * 24 + hour : -1;
    }

    // Settings form: seven groups of 24 '0'/'1' characters (Monday first, hour 0 first), separated by one
    // space, e.g. "000000001111111111000000 ..." (readable and editable in an INI file).
    QString toString() const;
    static Expected<WeeklyGrid> fromString(const QString& text);

    bool operator==(const WeeklyGrid&) const = default;

private:
    std::bitset<kHours> m_hours;
};

struct ContributionRules {
    WeeklyGrid grid;
    int idleMinutesRequired = 0; // 0 = do not require the user to be idle; else in [1, 1440]
    bool pauseOnBattery = true;  // pause while the machine runs on battery
    bool pauseWhileFullScreen =
        true;                     // pause while a full-screen application runs (where the platform can tell)
    int cpuThrottlePercent = 100; // share of the compute threads to use, in [10, 100] (at least one thread)

    static constexpr int kMaxIdleMinutes = 1440;
    static constexpr int kMinThrottlePercent = 10;

    // Settings form: keys "grid" (WeeklyGrid::toString), "idle_minutes", "pause_on_battery",
    // "pause_while_full_screen", "cpu_throttle_percent". Missing keys keep their defaults; a malformed value
    // is an error that names its key and says why. fromVariantMap accepts strings for numbers and booleans
    // (QSettings INI files give strings back).
    QVariantMap toVariantMap() const;
    static Expected<ContributionRules> fromVariantMap(const QVariantMap& values);
    // Every field in range (the same checks as fromVariantMap); the error names the field.
    Expected<void> validate() const;

    bool operator==(const ContributionRules&) const = default;
};

// What the machine is doing, sampled by the engine's probes. Unknown (nullopt / Unknown) means the platform
// cannot tell; a rule that depends on an unknown value does not pause (and the decision says so in `notes`).
struct MachineState {
    enum PowerSource { Unknown, Mains, Battery };

    QDateTime now;                            // the engine's clock (local time is taken from it)
    std::optional<int> userIdleSeconds;       // seconds since the last keyboard/mouse input
    PowerSource power = Unknown;              // Unknown also on desktops that report nothing
    std::optional<bool> fullScreenAppRunning; // unknown on headless Linux and where the platform cannot tell
};

struct RuleDecision {
    enum Reason { None, OutsideSchedule, UserActive, OnBattery, FullScreen };

    bool run = true;
    Reason reason = None;
    // English, one short sentence for the volunteer ("Paused: outside the contribution schedule"); the app
    // may translate by `reason` instead. Empty when running with nothing to say.
    QString text;
    // When the weekly grid next flips between on and off after `now` (the start of that hour, local time);
    // invalid when the grid is all on or all off or `now` is invalid.
    QDateTime nextScheduledChange;
    // Rules that are on but could not be checked (e.g. "idle time is unknown on this system"), in English.
    QStringList notes;

    bool operator==(const RuleDecision&) const = default;
};

// Pure: same inputs, same answer. Order of precedence when several rules pause: OutsideSchedule, OnBattery,
// FullScreen, UserActive (the first one that applies is the reason reported).
RuleDecision evaluateRules(const ContributionRules& rules, const MachineState& state);

// The hour after `from` at which grid.isOn flips (the first such hour start within the next week); invalid if
// it never flips or `from` is invalid.
QDateTime nextGridChange(const WeeklyGrid& grid, const QDateTime& from);

} // namespace declai
