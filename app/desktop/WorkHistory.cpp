#include "WorkHistory.h"

#include <QJsonObject>
#include <algorithm>

namespace declai::desktop {

namespace {
QDateTime hourStart(const QDateTime& t) {
    const QDateTime u = t.toUTC();
    return QDateTime(u.date(), QTime(u.time().hour(), 0), Qt::UTC);
}
} // namespace

bool WorkHistory::record(const QDateTime& at, qint64 total) {
    if (m_lastTotal < 0 || total < m_lastTotal) { // first sample, or the engine restarted
        m_lastTotal = total;
        return false;
    }
    const qint64 delta = total - m_lastTotal;
    m_lastTotal = total;
    if (delta == 0)
        return false;
    const QDateTime hour = hourStart(at);
    if (!m_hours.isEmpty() && m_hours.last().first == hour)
        m_hours.last().second += delta;
    else
        m_hours.append({hour, delta});
    const QDateTime oldest = hour.addSecs(-qint64(kKeepHours - 1) * 3600);
    while (!m_hours.isEmpty() && m_hours.first().first < oldest)
        m_hours.removeFirst();
    return true;
}

QJsonArray WorkHistory::toJson() const {
    QJsonArray items;
    for (const auto& [hour, tokens] : m_hours)
        items.append(QJsonObject{{QStringLiteral("hour"), hour.toString(Qt::ISODate)},
                                 {QStringLiteral("layer_tokens"), tokens}});
    return items;
}

WorkHistory WorkHistory::fromJson(const QJsonArray& items) {
    WorkHistory h;
    for (const QJsonValue& v : items) {
        const QJsonObject o = v.toObject();
        const QDateTime hour = QDateTime::fromString(o.value(QStringLiteral("hour")).toString(), Qt::ISODate);
        const qint64 tokens = o.value(QStringLiteral("layer_tokens")).toInteger();
        if (!hour.isValid() || tokens <= 0)
            continue;
        h.m_hours.append({hourStart(hour), tokens});
    }
    std::sort(h.m_hours.begin(), h.m_hours.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    while (h.m_hours.size() > kKeepHours)
        h.m_hours.removeFirst();
    return h;
}

bool WorkHistory::isEmpty() const {
    return m_hours.isEmpty();
}

QList<QPair<QDateTime, qint64>> WorkHistory::lastDay(const QDateTime& now) const {
    QList<QPair<QDateTime, qint64>> out;
    const QDateTime last = hourStart(now);
    for (int i = 23; i >= 0; --i) {
        const QDateTime h = last.addSecs(-i * 3600);
        qint64 value = 0;
        for (const auto& entry : m_hours)
            if (entry.first == h)
                value = entry.second;
        out.append({h, value});
    }
    return out;
}

} // namespace declai::desktop
