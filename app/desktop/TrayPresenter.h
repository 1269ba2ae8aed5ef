// Maps the engine's stats to what the tray shows: an icon per state a volunteer tells apart at a glance,
// a one-line status, a tooltip and which menu actions make sense. Pure: no widgets, no clock of its own
// (callers pass `now`), so every state is tested without a tray.
#pragma once

#include "EngineStats.h"

#include <QCoreApplication>
#include <QString>

namespace declai::desktop {

struct TrayPresentation {
    QString iconPath;       // a resource under :/icons/tray/
    QString status;         // one line, e.g. "Computing — 42.0 tokens/s"
    QString tooltip;        // "DeCLAI\n" + status (+ what to do on errors)
    bool canResume = false; // paused or snoozed by the volunteer
    bool canPause = false;  // Snooze / Pause make sense
};

class TrayPresenter {
    Q_DECLARE_TR_FUNCTIONS(TrayPresenter)
public:
    static TrayPresentation present(const node::EngineStats& stats, const QDateTime& now);
    // The rule that paused, in the volunteer's language ("running on battery").
    static QString ruleReasonText(RuleDecision::Reason reason);
    // "14:05", or "Mon 08:00" when not today.
    static QString clockTime(const QDateTime& when, const QDateTime& now);
};

} // namespace declai::desktop
