// Work per hour for the Overview's bar chart: fed the engine's running layer-token total, keeps the
// increase per clock hour for the last 24 hours. Pure (the caller passes the time); a restart of the
// engine (the total going down) starts counting again from the new total.
#pragma once

#include <QDateTime>
#include <QList>
#include <QPair>

namespace declai::desktop {

class WorkHistory {
public:
    void record(const QDateTime& at, qint64 layerTokensServedTotal);
    // 24 entries, oldest first: (start of the hour, layer-tokens computed in it), ending with the hour of
    // `now`.
    QList<QPair<QDateTime, qint64>> lastDay(const QDateTime& now) const;
    bool isEmpty() const;

private:
    QList<QPair<QDateTime, qint64>> m_hours; // hour start (UTC) -> layer-tokens, ascending
    qint64 m_lastTotal = -1;
};

} // namespace declai::desktop
