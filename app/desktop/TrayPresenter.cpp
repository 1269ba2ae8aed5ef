#include "TrayPresenter.h"

#include <QLocale>

namespace declai::desktop {

using node::EngineState;
using node::PauseKind;

QString TrayPresenter::clockTime(const QDateTime& when, const QDateTime& now) {
    const QDateTime local = when.toLocalTime();
    const QString time = local.toString(QStringLiteral("HH:mm"));
    // A resume on another day names the day, so "08:00" is not read as today.
    if (local.date() != now.toLocalTime().date())
        return QLocale().toString(local.date(), QStringLiteral("ddd")) + QLatin1Char(' ') + time;
    return time;
}

QString TrayPresenter::ruleReasonText(RuleDecision::Reason reason) {
    switch (reason) {
    case RuleDecision::OnBattery:
        return tr("running on battery");
    case RuleDecision::UserActive:
        return tr("you are using the computer");
    case RuleDecision::FullScreen:
        return tr("a full-screen application is running");
    case RuleDecision::OutsideSchedule:
        return tr("outside your schedule");
    case RuleDecision::None:
        break;
    }
    return {};
}

TrayPresentation TrayPresenter::present(const node::EngineStats& s, const QDateTime& now) {
    TrayPresentation p;
    const QString root = QStringLiteral(":/icons/tray/");
    switch (s.state) {
    case EngineState::Stopped:
        p.iconPath = root + QStringLiteral("stopped.svg");
        p.status = tr("Not contributing (stopped)");
        break;
    case EngineState::Starting:
    case EngineState::Connecting:
        p.iconPath = root + QStringLiteral("disconnected.svg");
        p.status = tr("Connecting to %1…").arg(s.serverUrl.isEmpty() ? tr("the server") : s.serverUrl);
        p.canPause = true;
        break;
    case EngineState::Idle:
        p.iconPath = root + QStringLiteral("idle.svg");
        if (s.download.totalBytes > 0)
            p.status = tr("Idle — downloading a shard of %1 (%2%)")
                           .arg(s.download.model)
                           .arg(int(100.0 * double(s.download.doneBytes) / double(s.download.totalBytes)));
        else
            p.status = tr("Idle — connected, waiting for work");
        p.canPause = true;
        break;
    case EngineState::Computing:
        p.iconPath = root + QStringLiteral("computing.svg");
        p.status = tr("Computing — %1 tokens/s").arg(QLocale().toString(s.tokensPerSecond, 'f', 1));
        p.canPause = true;
        break;
    case EngineState::Paused:
        switch (s.pauseKind) {
        case PauseKind::Schedule:
            p.iconPath = root + QStringLiteral("paused-schedule.svg");
            p.status = s.resumesAt.isValid()
                           ? tr("Paused by your schedule until %1").arg(clockTime(s.resumesAt, now))
                           : tr("Paused by your schedule");
            p.canPause = true; // a pause by hand outlasts the next scheduled hour
            break;
        case PauseKind::Rule: {
            p.iconPath = root + QStringLiteral("paused-rule.svg");
            QString reason = ruleReasonText(s.ruleReason);
            if (reason.isEmpty())
                reason = s.pauseText;
            p.status = reason.isEmpty() ? tr("Paused by a rule") : tr("Paused: %1").arg(reason);
            p.canPause = true;
            break;
        }
        case PauseKind::Snooze:
            p.iconPath = root + QStringLiteral("paused-user.svg");
            p.status = s.resumesAt.isValid() ? tr("Snoozed until %1").arg(clockTime(s.resumesAt, now))
                                             : tr("Snoozed");
            p.canResume = true;
            break;
        case PauseKind::Stopping:
            p.iconPath = root + QStringLiteral("stopped.svg");
            p.status = tr("Stopping — finishing running requests");
            break;
        case PauseKind::User:
        case PauseKind::None:
            p.iconPath = root + QStringLiteral("paused-user.svg");
            p.status = tr("Paused until you resume");
            p.canResume = true;
            break;
        }
        break;
    case EngineState::Disconnected:
        p.iconPath = root + QStringLiteral("disconnected.svg");
        p.status = s.reconnectInSeconds >= 0
                       ? tr("Disconnected — reconnecting in %n s", nullptr, s.reconnectInSeconds)
                       : tr("Disconnected — reconnecting");
        p.canPause = true;
        break;
    case EngineState::Error:
        p.iconPath = root + QStringLiteral("error.svg");
        p.status = s.lastError.isEmpty() ? tr("Error") : tr("Error: %1").arg(s.lastError);
        break;
    }
    p.tooltip = tr("DeCLAI") + QLatin1Char('\n') + p.status;
    if (s.state == EngineState::Error)
        p.tooltip +=
            QLatin1Char('\n') +
            (s.whatToDo.isEmpty() ? tr("Open the dashboard (Account & settings) to fix it.") : s.whatToDo);
    return p;
}

} // namespace declai::desktop
