#include "Notifier.h"

#include "CreditFormat.h"

#include <QLocale>

namespace declai::desktop {

std::optional<Notification> Notifier::emitIfAllowed(Notification n, const QDateTime& now) {
    if (!m_enabled)
        return std::nullopt;
    if (m_lastAny.isValid() && m_lastAny.secsTo(now) < kAnyGapS)
        return std::nullopt;
    const auto last = m_lastOfKind.constFind(int(n.kind));
    if (last != m_lastOfKind.constEnd() && last->secsTo(now) < kKindGapS)
        return std::nullopt;
    m_lastAny = now;
    m_lastOfKind.insert(int(n.kind), now);
    return n;
}

std::optional<Notification> Notifier::onStats(const node::EngineStats& s, const QDateTime& now) {
    std::optional<Notification> out;
    const bool enteredError = s.state == node::EngineState::Error && m_lastState != node::EngineState::Error;
    m_lastState = s.state;
    if (enteredError) {
        out = emitIfAllowed(
            {Notification::Problem, tr("DeCLAI needs you"),
             s.whatToDo.isEmpty() ? s.lastError : s.lastError + QLatin1Char('\n') + s.whatToDo, true},
            now);
    } else if (!m_sawWork && s.state == node::EngineState::Computing) {
        m_sawWork = true;
        out = emitIfAllowed({Notification::FirstWork, tr("Your computer is contributing"),
                             tr("DeCLAI is computing for the network. Right-click the tray icon to snooze.")},
                            now);
    } else if (s.layerTokensServed >= m_nextMilestone) {
        const qint64 reached = m_nextMilestone;
        while (m_nextMilestone <= s.layerTokensServed)
            m_nextMilestone *= 10;
        out =
            emitIfAllowed({Notification::Milestone, tr("Milestone"),
                           tr("This computer has served %1 layer-tokens.").arg(QLocale().toString(reached))},
                          now);
    }
    return out;
}

std::optional<Notification> Notifier::onBalance(double available, const QDateTime& now) {
    const bool first = !m_sawCredits && m_lastBalance >= 0 && available > m_lastBalance;
    m_lastBalance = available;
    if (!first)
        return std::nullopt;
    m_sawCredits = true;
    return emitIfAllowed({Notification::FirstCredits, tr("First credits earned"),
                          tr("Your balance is now %1 credits. Spend them on the Prompt page.")
                              .arg(formatCredits(toMicrocredits(available)))},
                         now);
}

} // namespace declai::desktop
