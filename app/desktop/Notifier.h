// Which desktop notifications a volunteer gets: first work, first credits, milestones of layer-tokens
// served, errors that need them. Rate-limited (one per kind per kKindGapS, none closer than kAnyGapS) and
// switchable off. Pure: it decides, the tray shows; callers pass the time.
#pragma once

#include "EngineStats.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QHash>
#include <optional>

namespace declai::desktop {

struct Notification {
    enum Kind { FirstWork, FirstCredits, Milestone, Problem };
    Kind kind = FirstWork;
    QString title;
    QString body;
    bool warning = false;
};

class Notifier {
    Q_DECLARE_TR_FUNCTIONS(Notifier)
public:
    static constexpr int kKindGapS = 600;
    static constexpr int kAnyGapS = 60;

    void setEnabled(bool enabled) { m_enabled = enabled; }
    bool isEnabled() const { return m_enabled; }
    std::optional<Notification> onStats(const node::EngineStats& stats, const QDateTime& now);
    std::optional<Notification> onBalance(double available, const QDateTime& now);

private:
    std::optional<Notification> emitIfAllowed(Notification n, const QDateTime& now);

    bool m_enabled = true;
    bool m_sawWork = false;
    bool m_sawCredits = false;
    double m_lastBalance = -1;
    qint64 m_nextMilestone = 1000;
    node::EngineState m_lastState = node::EngineState::Stopped;
    QDateTime m_lastAny;
    QHash<int, QDateTime> m_lastOfKind;
};

} // namespace declai::desktop
