#include "declai/core/ContributionSchedule.h"

#include <QStringList>

namespace declai {
namespace {

Error keyError(const char* key, const QString& why) {
    return makeError(ErrorCode::InvalidArgument,
                     QStringLiteral("key '%1': %2").arg(QLatin1StringView(key), why).toStdString());
}

// QSettings INI files give strings back; a QVariant from code may hold the real type.
std::optional<bool> toBool(const QVariant& v) {
    if (v.typeId() == QMetaType::Bool)
        return v.toBool();
    const QString s = v.toString().trimmed().toLower();
    if (s == QStringLiteral("true") || s == QStringLiteral("1") || s == QStringLiteral("yes"))
        return true;
    if (s == QStringLiteral("false") || s == QStringLiteral("0") || s == QStringLiteral("no"))
        return false;
    return std::nullopt;
}

std::optional<int> toInt(const QVariant& v) {
    bool ok = false;
    const int value = v.toString().trimmed().toInt(&ok);
    return ok ? std::optional<int>(value) : std::nullopt;
}

} // namespace

int WeeklyGrid::hourOfWeek(const QDateTime& time) {
    if (!time.isValid())
        return -1;
    const QDateTime local = time.toLocalTime();
    return index(local.date().dayOfWeek(), local.time().hour());
}

QString WeeklyGrid::toString() const {
    QString out;
    out.reserve(kHours + 6);
    for (int h = 0; h < kHours; ++h) {
        if (h > 0 && h % 24 == 0)
            out.append(QLatin1Char(' '));
        out.append(m_hours[size_t(h)] ? QLatin1Char('1') : QLatin1Char('0'));
    }
    return out;
}

Expected<WeeklyGrid> WeeklyGrid::fromString(const QString& text) {
    const QStringList days = text.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (days.size() != 7)
        return makeError(
            ErrorCode::Format,
            QStringLiteral("a weekly grid is 7 groups of 24 '0'/'1' characters (found %1 groups)")
                .arg(days.size())
                .toStdString());
    WeeklyGrid grid;
    for (int d = 0; d < 7; ++d) {
        if (days[d].size() != 24)
            return makeError(ErrorCode::Format,
                             QStringLiteral("day %1 of the weekly grid has %2 hours, not 24")
                                 .arg(d + 1)
                                 .arg(days[d].size())
                                 .toStdString());
        for (int h = 0; h < 24; ++h) {
            const QChar c = days[d][h];
            if (c != QLatin1Char('0') && c != QLatin1Char('1'))
                return makeError(ErrorCode::Format,
                                 QStringLiteral("day %1, hour %2 of the weekly grid is '%3', not 0 or 1")
                                     .arg(d + 1)
                                     .arg(h)
                                     .arg(c)
                                     .toStdString());
            grid.m_hours[size_t(d * 24 + h)] = c == QLatin1Char('1');
        }
    }
    return grid;
}

QVariantMap ContributionRules::toVariantMap() const {
    return QVariantMap{{QStringLiteral("grid"), grid.toString()},
                       {QStringLiteral("idle_minutes"), idleMinutesRequired},
                       {QStringLiteral("pause_on_battery"), pauseOnBattery},
                       {QStringLiteral("pause_while_full_screen"), pauseWhileFullScreen},
                       {QStringLiteral("cpu_throttle_percent"), cpuThrottlePercent}};
}

Expected<void> ContributionRules::validate() const {
    if (idleMinutesRequired < 0 || idleMinutesRequired > kMaxIdleMinutes)
        return keyError(
            "idle_minutes",
            QStringLiteral("%1 is outside [0, %2]").arg(idleMinutesRequired).arg(kMaxIdleMinutes));
    if (cpuThrottlePercent < kMinThrottlePercent || cpuThrottlePercent > 100)
        return keyError(
            "cpu_throttle_percent",
            QStringLiteral("%1 is outside [%2, 100]").arg(cpuThrottlePercent).arg(kMinThrottlePercent));
    return {};
}

Expected<ContributionRules> ContributionRules::fromVariantMap(const QVariantMap& values) {
    ContributionRules rules;
    if (values.contains(QStringLiteral("grid"))) {
        auto grid = WeeklyGrid::fromString(values.value(QStringLiteral("grid")).toString());
        if (!grid)
            return keyError("grid", QString::fromStdString(grid.error().message));
        rules.grid = *grid;
    }
    struct IntKey {
        const char* key;
        int* target;
    };
    for (const IntKey& k : {IntKey{"idle_minutes", &rules.idleMinutesRequired},
                            IntKey{"cpu_throttle_percent", &rules.cpuThrottlePercent}}) {
        const QString key = QLatin1StringView(k.key);
        if (!values.contains(key))
            continue;
        auto v = toInt(values.value(key));
        if (!v)
            return keyError(k.key,
                            QStringLiteral("'%1' is not an integer").arg(values.value(key).toString()));
        *k.target = *v;
    }
    struct BoolKey {
        const char* key;
        bool* target;
    };
    for (const BoolKey& k : {BoolKey{"pause_on_battery", &rules.pauseOnBattery},
                             BoolKey{"pause_while_full_screen", &rules.pauseWhileFullScreen}}) {
        const QString key = QLatin1StringView(k.key);
        if (!values.contains(key))
            continue;
        auto v = toBool(values.value(key));
        if (!v)
            return keyError(k.key,
                            QStringLiteral("'%1' is not true or false").arg(values.value(key).toString()));
        *k.target = *v;
    }
    if (auto valid = rules.validate(); !valid)
        return valid.error();
    return rules;
}

QDateTime nextGridChange(const WeeklyGrid& grid, const QDateTime& from) {
    if (!from.isValid() || grid.allSet() || grid.noneSet())
        return {};
    const QDateTime local = from.toLocalTime();
    const bool onNow = grid.isOn(local);
    // Start of the current local hour, then hour by hour (a DST day has 23 or 25 hours: stepping in
    // absolute seconds and re-reading the local hour handles both).
    QDateTime t(local.date(), QTime(local.time().hour(), 0));
    for (int step = 0; step <= WeeklyGrid::kHours + 2; ++step) {
        t = t.addSecs(3600);
        if (grid.isOn(t) != onNow)
            return t;
    }
    return {};
}

RuleDecision evaluateRules(const ContributionRules& rules, const MachineState& state) {
    RuleDecision d;
    d.nextScheduledChange = nextGridChange(rules.grid, state.now);
    if (rules.idleMinutesRequired > 0 && !state.userIdleSeconds)
        d.notes.append(QStringLiteral("idle time is unknown on this system: the idle rule is not applied"));
    if (rules.pauseWhileFullScreen && !state.fullScreenAppRunning)
        d.notes.append(QStringLiteral(
            "full-screen applications cannot be detected on this system: that rule is not applied"));
    if (rules.pauseOnBattery && state.power == MachineState::Unknown)
        d.notes.append(
            QStringLiteral("the power source is unknown on this system: the battery rule is not applied"));
    auto pause = [&](RuleDecision::Reason reason, QString text) {
        d.run = false;
        d.reason = reason;
        d.text = std::move(text);
        return d;
    };
    if (!rules.grid.allSet() && !rules.grid.isOn(state.now)) // an invalid `now` is never inside the grid
        return pause(RuleDecision::OutsideSchedule,
                     QStringLiteral("Paused: outside the contribution schedule"));
    if (rules.pauseOnBattery && state.power == MachineState::Battery)
        return pause(RuleDecision::OnBattery, QStringLiteral("Paused: running on battery"));
    if (rules.pauseWhileFullScreen && state.fullScreenAppRunning.value_or(false))
        return pause(RuleDecision::FullScreen,
                     QStringLiteral("Paused: a full-screen application is running"));
    if (rules.idleMinutesRequired > 0 && state.userIdleSeconds &&
        *state.userIdleSeconds < rules.idleMinutesRequired * 60)
        return pause(RuleDecision::UserActive,
                     QStringLiteral("Paused: the computer is in use (contributing after %1 idle minutes)")
                         .arg(rules.idleMinutesRequired));
    return d;
}

} // namespace declai
