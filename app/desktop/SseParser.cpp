#include "SseParser.h"

namespace declai::desktop {

QList<QByteArray> SseParser::feed(const QByteArray& chunk) {
    QList<QByteArray> events;
    if (m_overflowed)
        return events;
    m_buffer += chunk;
    qsizetype start = 0;
    for (;;) {
        const qsizetype newline = m_buffer.indexOf('\n', start);
        if (newline < 0)
            break;
        QByteArray line = m_buffer.mid(start, newline - start);
        start = newline + 1;
        if (line.endsWith('\r'))
            line.chop(1);
        if (line.isEmpty()) { // blank line: the event is complete
            if (m_hasData)
                events.append(m_data);
            m_data.clear();
            m_hasData = false;
            continue;
        }
        if (line.startsWith(':'))
            continue;
        const qsizetype colon = line.indexOf(':');
        const QByteArray field = colon < 0 ? line : line.left(colon);
        QByteArray value = colon < 0 ? QByteArray() : line.mid(colon + 1);
        if (value.startsWith(' '))
            value.remove(0, 1);
        if (field == "data") {
            if (m_hasData)
                m_data += '\n';
            m_data += value;
            m_hasData = true;
        }
    }
    m_buffer.remove(0, start);
    if (m_buffer.size() + m_data.size() > kMaxEventBytes) {
        m_overflowed = true;
        m_buffer.clear();
        m_data.clear();
    }
    return events;
}

} // namespace declai::desktop
