// Watches the bytes of an HTTP/1.x connection in arrival order and finds where each request header ends,
// without consuming anything: the front door feeds it every chunk before Qt's HTTP parser sees it, so a
// header too large, with too many lines, or announcing a body the API does not take is refused before it
// is parsed (Qt 6.4's parsers grow quadratically on huge headers). Work per byte is constant and the state
// is bounded by HttpLimits::maxHeaderBytes. Pure value type; no threads.
#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <cstdint>

namespace declai::net {

struct HttpLimits {
    int maxHeaderBytes = 16 * 1024;     // request line + header fields + the blank line
    int maxHeaderLines = 64;            // request line + header fields
    int64_t maxBodyBytes = 1024 * 1024; // POST bodies of the HTTP API (--api-max-body-kib)
};

class HttpRequestScanner {
public:
    enum class Verdict {
        Continue, // nothing wrong so far
        Upgrade,  // a complete header asked for a WebSocket upgrade: what follows is no longer HTTP
        Reject,   // refuse: answer `status` with `reason` and close
    };
    struct Result {
        Verdict verdict = Verdict::Continue;
        int status = 0;    // HTTP status for Reject (400, 413, 431)
        QByteArray reason; // one line for the reply body and the log
    };

    explicit HttpRequestScanner(HttpLimits limits = {}) : m_limits(limits) {}

    // Feeds the next bytes received. Once Upgrade or Reject was returned, the scanner keeps returning it.
    Result feed(QByteArrayView bytes);
    // True while part of a request header has arrived but not its end (for the header deadline).
    bool inHeader() const { return m_bodyLeft == 0 && !m_header.isEmpty(); }
    uint64_t requestsSeen() const { return m_requests; }

private:
    Result finishHeader(QByteArrayView header);

    HttpLimits m_limits;
    QByteArray m_header; // the unfinished header so far (at most maxHeaderBytes + a few bytes)
    int64_t m_bodyLeft = 0;
    uint64_t m_requests = 0;
    Result m_final; // set once the verdict is Upgrade or Reject
};

} // namespace declai::net
