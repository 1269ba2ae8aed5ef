// Work per hour for the Overview's bar chart: fed the engine's running layer-token total, keeps the
// increase per clock hour for the last 24 hours. Pure (the caller passes the time); a restart of the
// engine (the total going down) starts counting again from the new total. toJson/fromJson: the hours kept
// across restarts (the app stores them in the data folder, HistoryFile.h); at most kKeepHours.
#pragma once

#include <QDateTime>
#include <QJsonArray>
#include <QList>
#include <QPair>

namespace declai::desktop {

class WorkHistory {
public:
    static constexpr int kKeepHours = 7 * 24;
    // Returns true when an hour's figure changed (worth saving).
    bool record(const QDateTime& at, qint64 layerTokensServedTotal);
    // 24 entries, oldest first: (start of the hour, layer-tokens computed in it), ending with the hour of
    // `now`.
    QList<QPair<QDateTime, qint64>> lastDay(const QDateTime& now) const;
    bool isEmpty() const;
    QJsonArray toJson() const;
    // Entries that are not {hour (ISO UTC), layer_tokens > 0} are skipped; the newest kKeepHours are kept.
    static WorkHistory fromJson(const QJsonArray& items);

private:
    QList<QPair<QDateTime, qint64>> m_hours; // hour start (UTC) -> layer-tokens, ascending
    qint64 m_lastTotal = -1;
};

} // namespace declai::desktop
