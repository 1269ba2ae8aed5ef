#include "declai/network/HttpRequestScanner.h"

#include <algorithm>

namespace declai::net {
namespace {

HttpRequestScanner::Result reject(int status, QByteArray reason) {
    return {HttpRequestScanner::Verdict::Reject, status, std::move(reason)};
}

// "prefix<n>suffix" for a refusal reason.
QByteArray limitText(const char* prefix, qint64 n, const char* suffix) {
    QByteArray text(prefix);
    text.append(QByteArray::number(n));
    text.append(suffix);
    return text;
}

// The end of a header: CRLF CRLF, or LF LF (which HTTP parsers accept too). Returns the index just past it,
// or -1. `from` is where new bytes begin; the search starts a little before it so an end split across
// two chunks is found.
qsizetype headerEnd(const QByteArray& header, qsizetype from) {
    for (qsizetype i = std::max<qsizetype>(1, from - 3); i < header.size(); ++i) {
        if (header[i] != '\n')
            continue;
        if (header[i - 1] == '\n')
            return i + 1;
        if (i >= 3 && header[i - 1] == '\r' && header[i - 2] == '\n' && header[i - 3] == '\r')
            return i + 1;
    }
    return -1;
}

} // namespace

HttpRequestScanner::Result HttpRequestScanner::feed(QByteArrayView bytes) {
    if (m_final.verdict != Verdict::Continue)
        return m_final;
    qsizetype pos = 0;
    while (pos < bytes.size()) {
        if (m_bodyLeft > 0) {
            const qsizetype skip = static_cast<qsizetype>(std::min<int64_t>(m_bodyLeft, bytes.size() - pos));
            m_bodyLeft -= skip;
            pos += skip;
            continue;
        }
        // Copy only what could still belong to an allowed header: the state stays bounded.
        const qsizetype room = m_limits.maxHeaderBytes + 4 - m_header.size();
        const qsizetype take = std::min<qsizetype>(room, bytes.size() - pos);
        const qsizetype before = m_header.size();
        m_header.append(bytes.data() + pos, take);
        const qsizetype end = headerEnd(m_header, before);
        if (end < 0) {
            pos += take;
            if (m_header.size() > m_limits.maxHeaderBytes)
                return m_final = reject(
                           431, limitText("request header larger than ", m_limits.maxHeaderBytes, " bytes"));
            continue;
        }
        pos += end - before;
        const QByteArray header = m_header.left(end);
        m_header.clear();
        if (header.trimmed().isEmpty())
            continue; // blank lines between requests are allowed (RFC 9112, 2.2)
        Result r = finishHeader(header);
        if (r.verdict != Verdict::Continue)
            return m_final = r;
    }
    return {};
}

HttpRequestScanner::Result HttpRequestScanner::finishHeader(QByteArrayView header) {
    ++m_requests;
    if (header.size() > m_limits.maxHeaderBytes)
        return reject(431, limitText("request header larger than ", m_limits.maxHeaderBytes, " bytes"));
    const qsizetype lines = header.count('\n') - 1; // the last newline ends the blank line
    if (lines > m_limits.maxHeaderLines)
        return reject(431, limitText("more than ", m_limits.maxHeaderLines, " header lines"));
    bool upgrade = false;
    int64_t contentLength = 0;
    qsizetype lineStart = header.indexOf('\n') + 1; // skip the request line
    while (lineStart < header.size()) {
        qsizetype lineEnd = header.indexOf('\n', lineStart);
        if (lineEnd < 0)
            lineEnd = header.size();
        const QByteArrayView line = header.sliced(lineStart, lineEnd - lineStart).trimmed();
        lineStart = lineEnd + 1;
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue; // the blank line, or something Qt's parser will refuse itself
        const QByteArray name = line.first(colon).trimmed().toByteArray().toLower();
        const QByteArray value = line.sliced(colon + 1).trimmed().toByteArray().toLower();
        if (name == "content-length") {
            bool ok = false;
            const qlonglong n = value.toLongLong(&ok);
            if (!ok || n < 0)
                return reject(400, QByteArrayLiteral("Content-Length is not a number"));
            contentLength = n;
        } else if (name == "transfer-encoding") {
            return reject(400, QByteArrayLiteral("request bodies with Transfer-Encoding are not accepted"));
        } else if (name == "upgrade" && value.contains("websocket")) {
            upgrade = true;
        }
    }
    if (contentLength > m_limits.maxBodyBytes)
        return reject(413, limitText("request body larger than ", m_limits.maxBodyBytes, " bytes"));
    if (upgrade)
        return {Verdict::Upgrade, 0, {}};
    m_bodyLeft = contentLength;
    return {};
}

} // namespace declai::net
