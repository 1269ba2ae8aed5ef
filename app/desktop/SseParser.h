// Server-sent events as the OpenAI-compatible API sends them: "data: {json}\n\n" ... "data: [DONE]\n\n".
// Fed arbitrary chunks of the response body; returns the complete events' data fields. Pure.
#pragma once

#include <QByteArray>
#include <QList>

namespace declai::desktop {

class SseParser {
public:
    // Appends a chunk and returns the data of every event it completed, in order. Multi-line data fields
    // of one event are joined by '\n' (as the SSE specification says); comments (":") and other fields are
    // ignored.
    QList<QByteArray> feed(const QByteArray& chunk);
    // Bytes buffered for an event not yet complete (a stream that ends with some is truncated).
    qsizetype pendingBytes() const { return m_buffer.size() + m_data.size(); }

    // Bound on one event: a server that never ends a line cannot grow the buffer without limit.
    static constexpr qsizetype kMaxEventBytes = 4 << 20;
    bool overflowed() const { return m_overflowed; }

private:
    QByteArray m_buffer;
    QByteArray m_data;
    bool m_hasData = false;
    bool m_overflowed = false;
};

} // namespace declai::desktop
