#include "WorkHistory.h"

namespace declai::desktop {

namespace {
QDateTime hourStart(const QDateTime& t) {
    const QDateTime u = t.toUTC();
    return QDateTime(u.date(), QTime(u.time().hour(), 0), Qt::UTC);
}
} // namespace

void WorkHistory::record(const QDateTime& at, qint64 total) {
    if (m_lastTotal < 0 || total < m_lastTotal) { // first sample, or the engine restarted
        m_lastTotal = total;
        return;
    }
    const qint64 delta = total - m_lastTotal;
    m_lastTotal = total;
    if (delta == 0)
        return;
    const QDateTime hour = hourStart(at);
    if (!m_hours.isEmpty() && m_hours.last().first == hour)
        m_hours.last().second += delta;
    else
        m_hours.append({hour, delta});
    const QDateTime oldest = hour.addSecs(-23 * 3600);
    while (!m_hours.isEmpty() && m_hours.first().first < oldest)
        m_hours.removeFirst();
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
