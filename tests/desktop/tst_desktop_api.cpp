// The desktop's HTTP client pieces that need no server: SSE framing, credit and model answers, the chat
// request body, XDG autostart, benchmark results kept with their date, work per hour.
#include "ApiClient.h"
#include "Autostart.h"
#include "BenchmarkStore.h"
#include "SseParser.h"
#include "WorkHistory.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTest>

using namespace declai::desktop;

class DesktopApiTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sseEventsSplitAnywhere() {
        const QByteArray stream = "data: {\"a\":1}\n\n: keep-alive comment\n\ndata: {\"b\":2}\r\n\r\n"
                                  "event: x\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n";
        // Every split point gives the same events.
        for (int split = 0; split <= stream.size(); ++split) {
            SseParser parser;
            QList<QByteArray> events = parser.feed(stream.left(split));
            events += parser.feed(stream.mid(split));
            QCOMPARE(events, (QList<QByteArray>{"{\"a\":1}", "{\"b\":2}", "line1\nline2", "[DONE]"}));
            QCOMPARE(parser.pendingBytes(), 0);
        }
    }

    void sseIncompleteEventIsPendingNotEmitted() {
        SseParser parser;
        QVERIFY(parser.feed("data: {\"a\":").isEmpty());
        QVERIFY(parser.pendingBytes() > 0);
    }

    void sseOverlongLineIsRefused() {
        SseParser parser;
        const QByteArray big(SseParser::kMaxEventBytes + 10, 'x');
        QVERIFY(parser.feed("data: " + big).isEmpty());
        QVERIFY(parser.overflowed());
        QVERIFY(parser.feed("\n\n").isEmpty());
    }

    void creditsAnswerOfTheServer() {
        // The shape of GET /v1/credits (server/src/api/AccountRoutes.cpp).
        const QByteArray body = R"({"object":"credits","account":"alice","available":12.5,"held":1.25,
            "pending_verification":0.75,"postings":[
              {"tx_id":3,"kind":"earn_release","reference":"r3","created_at_ms":1764669600000,"amount":2.0},
              {"tx_id":2,"kind":"settle","reference":"r2","created_at_ms":1764666000000,"amount":-0.5},
              {"tx_id":1,"kind":"grant","reference":"r1","created_at_ms":1764662400000,"amount":11.0}]})";
        const auto c = ApiClient::parseCredits(QJsonDocument::fromJson(body).object());
        QVERIFY(c.has_value());
        QCOMPARE(c->account, QStringLiteral("alice"));
        QCOMPARE(c->available, 12.5);
        QCOMPARE(c->held, 1.25);
        QCOMPARE(c->pending, 0.75);
        QCOMPARE(c->postings.size(), 3);
        QCOMPARE(c->postings[0].at.toMSecsSinceEpoch(), 1764669600000);
        QVERIFY(isEarning(c->postings[0]));
        QVERIFY(!isEarning(c->postings[1]));
        QVERIFY(!isEarning(c->postings[2])); // a grant is not earned
        QVERIFY(!ApiClient::parseCredits(QJsonObject()).has_value());
    }

    void modelsInBothShapes() {
        const auto openai =
            QJsonDocument::fromJson(R"({"object":"list","data":[{"id":"stories260K"},{"id":"m2"}]})")
                .object();
        QCOMPARE(ApiClient::parseModels(openai),
                 (QStringList{QStringLiteral("stories260K"), QStringLiteral("m2")}));
        const auto legacy = QJsonDocument::fromJson(R"({"models":[{"name":"stories260K"}]})").object();
        QCOMPARE(ApiClient::parseModels(legacy), QStringList{QStringLiteral("stories260K")});
    }

    void chatBodyIsOpenAiShaped() {
        CompletionRequest r;
        r.model = QStringLiteral("stories260K");
        r.messages = {{QStringLiteral("user"), QStringLiteral("Once upon a time")}};
        r.maxTokens = 20;
        const QJsonObject body = ApiClient::completionBody(r, true);
        QCOMPARE(body.value(QStringLiteral("model")).toString(), QStringLiteral("stories260K"));
        QCOMPARE(body.value(QStringLiteral("max_tokens")).toInt(), 20);
        QCOMPARE(body.value(QStringLiteral("stream")).toBool(), true);
        QCOMPARE(body.value(QStringLiteral("messages"))
                     .toArray()
                     .first()
                     .toObject()
                     .value(QStringLiteral("role"))
                     .toString(),
                 QStringLiteral("user"));
        QVERIFY(body.value(QStringLiteral("stream_options"))
                    .toObject()
                    .value(QStringLiteral("include_usage"))
                    .toBool());
    }

    void httpBaseFromServerUrl() {
        QCOMPARE(ApiEndpoint::httpBaseFrom(QUrl(QStringLiteral("wss://h.example:7420"))).toString(),
                 QStringLiteral("https://h.example:7420"));
        QCOMPARE(ApiEndpoint::httpBaseFrom(QUrl(QStringLiteral("ws://127.0.0.1:9"))).toString(),
                 QStringLiteral("http://127.0.0.1:9"));
    }

    void autostartWritesAnXdgEntry() {
        QTemporaryDir dir;
        Autostart autostart(dir.path(), QStringLiteral("/opt/de clai/declai"));
        QVERIFY(!autostart.isEnabled());
        QVERIFY(autostart.setEnabled(true));
        QVERIFY(autostart.isEnabled());
        QFile f(autostart.filePath());
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QString entry = QString::fromUtf8(f.readAll());
        QVERIFY2(entry.contains(QStringLiteral("Exec=\"/opt/de clai/declai\" --minimized")),
                 qPrintable(entry));
        QVERIFY(entry.startsWith(QStringLiteral("[Desktop Entry]")));
        QVERIFY(autostart.setEnabled(false));
        QVERIFY(!QFile::exists(autostart.filePath()));
    }

    void benchmarkResultsKeptWithDate() {
        QTemporaryDir dir;
        QSettings settings(dir.filePath(QStringLiteral("app.ini")), QSettings::IniFormat);
        BenchmarkStore store(settings);
        const QDateTime now = QDateTime::currentDateTimeUtc();
        QVERIFY(store.isDue(QStringLiteral("cpu"), now));
        declai::node::BenchmarkResult r;
        r.deviceId = QStringLiteral("cpu");
        r.ok = true;
        r.f16Gflops = 12.5;
        r.memoryBandwidthGbps = 8;
        r.measuredAt = now.addDays(-3);
        store.save(r);
        const auto loaded = store.load(QStringLiteral("cpu"));
        QVERIFY(loaded.has_value());
        QCOMPARE(loaded->f16Gflops, 12.5);
        QCOMPARE(loaded->measuredAt.date(), now.addDays(-3).date());
        QVERIFY(!store.isDue(QStringLiteral("cpu"), now));
        QVERIFY(store.isDue(QStringLiteral("cpu"), now.addDays(BenchmarkStore::kRerunAfterDays)));
        declai::node::BenchmarkResult failed;
        failed.deviceId = QStringLiteral("cpu");
        failed.error = QStringLiteral("cancelled");
        store.save(failed); // a failed run keeps the previous figures
        QCOMPARE(store.load(QStringLiteral("cpu"))->f16Gflops, 12.5);
    }

    void workPerHour() {
        WorkHistory history;
        const QDateTime t0(QDate(2026, 12, 2), QTime(9, 10), Qt::UTC);
        history.record(t0, 1000); // the first sample is the baseline
        QVERIFY(history.isEmpty());
        history.record(t0.addSecs(60), 1500);
        history.record(t0.addSecs(3600), 1800);
        history.record(t0.addSecs(3700), 100); // the engine restarted: a new baseline, no negative work
        history.record(t0.addSecs(3800), 300);
        const auto day = history.lastDay(t0.addSecs(3800));
        QCOMPARE(day.size(), 24);
        QCOMPARE(day[22].second, 500);
        QCOMPARE(day[23].second, 300 + 200);
    }
};

QTEST_MAIN(DesktopApiTest)
#include "tst_desktop_api.moc"
