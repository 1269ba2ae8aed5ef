// HttpRequestScanner: finds header ends across chunk boundaries, skips bodies, and refuses oversize
// headers, too many lines and unwanted bodies after a bounded amount of work.
#include "declai/network/HttpRequestScanner.h"

#include <QElapsedTimer>
#include <QTest>

using declai::net::HttpLimits;
using declai::net::HttpRequestScanner;
using Verdict = HttpRequestScanner::Verdict;

class TestHttpRequestScanner : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void pipelinedRequestsInOddChunksPass() {
        HttpRequestScanner scanner;
        const QByteArray stream = "GET /v1/status HTTP/1.1\r\nHost: a\r\n\r\n"
                                  "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                                  "GET /v1/models HTTP/1.1\nHost: a\n\n";
        for (qsizetype i = 0; i < stream.size(); i += 3)
            QCOMPARE(scanner.feed(QByteArrayView(stream).sliced(i, std::min<qsizetype>(3, stream.size() - i)))
                         .verdict,
                     Verdict::Continue);
        QCOMPARE(scanner.requestsSeen(), uint64_t(3));
        QVERIFY(!scanner.inHeader());
    }

    void oversizeHeaderIsRefusedWithoutReadingIt() {
        HttpRequestScanner scanner;
        QCOMPARE(scanner.feed("GET / HTTP/1.1\r\nX-Big: ").verdict, Verdict::Continue);
        QVERIFY(scanner.inHeader());
        const QByteArray chunk(1 << 20, 'a');
        QElapsedTimer clock;
        clock.start();
        HttpRequestScanner::Result r;
        for (int i = 0; i < 64 && r.verdict == Verdict::Continue; ++i)
            r = scanner.feed(chunk);
        QCOMPARE(r.verdict, Verdict::Reject);
        QCOMPARE(r.status, 431);
        QVERIFY(clock.elapsed() < 100);
        QCOMPARE(scanner.feed("more").verdict, Verdict::Reject); // stays refused
    }

    void tooManyLinesAreRefused() {
        HttpRequestScanner scanner;
        QByteArray request = "GET / HTTP/1.1\r\n";
        for (int i = 0; i < 65; ++i)
            request += "X: y\r\n";
        request += "\r\n";
        const auto r = scanner.feed(request);
        QCOMPARE(r.verdict, Verdict::Reject);
        QCOMPARE(r.status, 431);
    }

    void bodiesAreBounded() {
        HttpRequestScanner a;
        QCOMPARE(a.feed("POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").status, 413);
        HttpRequestScanner b;
        QCOMPARE(b.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").status, 400);
        HttpRequestScanner c;
        QCOMPARE(c.feed("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").status, 400);
    }

    void upgradeEndsTheScan() {
        HttpRequestScanner scanner;
        const auto r =
            scanner.feed("GET / HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n\x82\xff");
        QCOMPARE(r.verdict, Verdict::Upgrade);
    }
};

QTEST_GUILESS_MAIN(TestHttpRequestScanner)
#include "tst_http_request_scanner.moc"
