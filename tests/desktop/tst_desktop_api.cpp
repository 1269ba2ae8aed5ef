// The desktop's HTTP client pieces that need no server: SSE framing, credit and model answers, the chat
// request body, XDG autostart, benchmark results kept with their date, work per hour, the cost quote and
// the Prompt page's answer to it, credits of a few microcredits, and the histories kept across restarts.
#include "ApiClient.h"
#include "Autostart.h"
#include "BenchmarkStore.h"
#include "CreditFormat.h"
#include "HistoryFile.h"
#include "OverviewPage.h"
#include "PromptHistory.h"
#include "PromptPage.h"
#include "SseParser.h"
#include "Translations.h"
#include "WorkHistory.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPushButton>
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
    void creditsOfAFewMicrocreditsAreNotZero() {
        const QLocale c = QLocale::c();
        QCOMPARE(formatCredits(0, c), QStringLiteral("0.00"));
        QCOMPARE(formatCredits(420, c), QStringLiteral("0.00042"));
        QCOMPARE(formatCredits(1, c), QStringLiteral("0.000001"));
        QCOMPARE(formatCredits(15300, c), QStringLiteral("0.0153"));
        QCOMPARE(formatCredits(10000, c), QStringLiteral("0.01"));
        QCOMPARE(formatCredits(-500, c), QStringLiteral("-0.0005"));
        QCOMPARE(formatCredits(1234567, c), QStringLiteral("1.23"));
        QCOMPARE(formatCredits(5000000, c), QStringLiteral("5.00"));
    }

    void earnedTodayAndThisWeekAddMicrocredits() {
        // Wednesday 2 Dec 2026, 15:00 local; the week starts on Monday 30 Nov.
        const QDateTime now(QDate(2026, 12, 2), QTime(15, 0));
        auto posting = [](const QDateTime& at, qint64 micro, const char* kind) {
            Posting p;
            p.at = at;
            p.amountMicrocredits = micro;
            p.amount = double(micro) / 1e6;
            p.kind = QString::fromLatin1(kind);
            return p;
        };
        CreditSummary c;
        c.postings = {posting(now.addSecs(-3600), 420, "earn_release"),
                      posting(now.addSecs(-7200), 380, "earn_release"),
                      posting(now.addSecs(-600), 5000000, "grant"), // not earned by work
                      posting(now.addSecs(-300), -250, "settle"),   // spent
                      posting(QDateTime(QDate(2026, 11, 30), QTime(9, 0)), 1000000, "earn_release"),
                      posting(QDateTime(QDate(2026, 11, 29), QTime(23, 59)), 500, "earn_release")};
        const OverviewPage::Earned e = OverviewPage::earnedSince(c, now);
        QCOMPARE(e.todayMicrocredits, 800);
        QCOMPARE(e.weekMicrocredits, 1000800);
        // The page shows them, not 0.00.
        OverviewPage page;
        QLocale::setDefault(QLocale::c());
        page.showCredits(c, now);
        QCOMPARE(page.earnedTodayText(), QStringLiteral("0.0008"));
        QCOMPARE(page.earnedWeekText(), QStringLiteral("1.00"));
    }

    void creditPostingsKeepMicrocredits() {
        const QByteArray body = R"({"object":"credits","account":"a","available":0.000842,
            "available_microcredits":842,"held":0,"held_microcredits":0,"pending_verification":0.0001,
            "pending_verification_microcredits":100,"postings":[{"kind":"earn_release","created_at_ms":1764669600000,
            "amount":0.000421,"amount_microcredits":421}]})";
        const auto c = ApiClient::parseCredits(QJsonDocument::fromJson(body).object());
        QVERIFY(c.has_value());
        QCOMPARE(c->availableMicrocredits, 842);
        QCOMPARE(c->pendingMicrocredits, 100);
        QCOMPARE(c->postings.first().amountMicrocredits, 421);
    }

    void quoteAnswerOfTheServer() {
        // The contract of POST /v1/quote (docs/api.md).
        const QByteArray body = R"({"object":"quote","model":"stories260K","prompt_tokens":7,"max_tokens":128,
            "cost":0.000135,"cost_microcredits":135,"available":0.0001,"available_microcredits":100,
            "sufficient":false})";
        const auto q = ApiClient::parseQuote(QJsonDocument::fromJson(body).object());
        QVERIFY(q.has_value());
        QCOMPARE(q->model, QStringLiteral("stories260K"));
        QCOMPARE(q->promptTokens, 7);
        QCOMPARE(q->maxTokens, 128);
        QCOMPARE(q->costMicrocredits, 135);
        QCOMPARE(q->availableMicrocredits, 100);
        QVERIFY(!q->sufficient);
        QVERIFY(!ApiClient::parseQuote(QJsonObject{{QStringLiteral("object"), QStringLiteral("x")}}));
    }

    void promptPageDisablesSendWhenTheAccountCannotPay() {
        QLocale::setDefault(QLocale::c());
        ApiClient api;
        PromptHistory history;
        PromptPage page(api, history);
        QVERIFY(page.sendButton()->isEnabled());
        CostQuote q;
        q.promptTokens = 7;
        q.maxTokens = 128;
        q.costMicrocredits = 135;
        q.availableMicrocredits = 100;
        q.sufficient = false;
        Q_EMIT api.quoteReady(q);
        QVERIFY(!page.sendButton()->isEnabled());
        QVERIFY2(page.quoteText().contains(QStringLiteral("Not enough credits")),
                 qPrintable(page.quoteText()));
        QVERIFY(page.quoteText().contains(QStringLiteral("0.000135")));
        QVERIFY(page.quoteText().contains(QStringLiteral("0.0001")));
        q.maxTokens = 64;
        q.costMicrocredits = 71;
        q.sufficient = true;
        Q_EMIT api.quoteReady(q);
        QVERIFY(page.sendButton()->isEnabled());
        QVERIFY2(page.quoteText().contains(QStringLiteral("0.000071")), qPrintable(page.quoteText()));
        // A request the server would refuse (prompt + max tokens over the context): not sendable, with why.
        Q_EMIT api.quoteFailed(
            {ApiError::Kind::Server, QStringLiteral("max_tokens exceeds the context"), 400});
        QVERIFY(!page.sendButton()->isEnabled());
        QVERIFY2(page.quoteText().contains(QStringLiteral("Cannot be sent")), qPrintable(page.quoteText()));
        // No quote (an older server): Send stays usable, the page says why there is no figure.
        Q_EMIT api.quoteFailed({ApiError::Kind::NotOffered, QStringLiteral("not found")});
        QVERIFY(page.sendButton()->isEnabled());
        QVERIFY(page.quoteText().contains(QStringLiteral("no cost quote")));
    }

    void historyFileCorruptOrTooLargeStartsFresh() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("history/prompts.json"));
        QVERIFY(readHistoryFile(path).problem.isEmpty()); // missing: nothing yet, no complaint
        QCOMPARE(writeHistoryFile(path, QJsonArray{QJsonObject{{QStringLiteral("a"), 1}}}), QString());
        QCOMPARE(readHistoryFile(path).items.size(), 1);
        for (const QByteArray& bad : {QByteArray("{\"not\":\"a list\"}"), QByteArray("[{\"a\":1}, 3]"),
                                      QByteArray("\xff garbage ["), QByteArray()}) {
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(bad);
            f.close();
            const HistoryRead read = readHistoryFile(path);
            QVERIFY2(!read.problem.isEmpty(), bad.constData());
            QVERIFY(read.items.isEmpty());
            QVERIFY(!QFile::exists(path));                             // a fresh start
            QVERIFY(QFile::exists(path + QStringLiteral(".corrupt"))); // kept for a look
        }
        QFile big(path);
        QVERIFY(big.open(QIODevice::WriteOnly));
        big.write(QByteArray(2048, ' ') + "[]");
        big.close();
        const HistoryRead read = readHistoryFile(path, 1024);
        QVERIFY(read.problem.contains(QStringLiteral("larger")));
        QVERIFY(!QFile::exists(path));
    }

    void promptHistoryKeptAcrossRestartsAndBounded() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("history/prompts.json"));
        auto writeNow = [](const QString& p, const QJsonArray& items) {
            QCOMPARE(writeHistoryFile(p, items), QString());
        };
        {
            PromptHistory history;
            QCOMPARE(history.open(path, writeNow), QString());
            for (int i = 0; i < PromptHistory::kMax + 5; ++i) {
                PromptRecord r;
                r.at = QDateTime(QDate(2026, 12, 2), QTime(10, 0), Qt::UTC).addSecs(i);
                r.model = QStringLiteral("stories260K");
                r.prompt = QStringLiteral("prompt %1").arg(i);
                r.answer = i == PromptHistory::kMax + 4
                               ? QString(PromptHistory::kMaxTextChars + 100, QLatin1Char('x'))
                               : QStringLiteral("answer");
                r.tokens = i;
                r.seconds = 1.5;
                r.costCredits = 0.000135;
                r.outcome = QStringLiteral("done");
                history.add(r);
            }
        }
        PromptHistory reopened; // the next start of the app
        QCOMPARE(reopened.open(path, writeNow), QString());
        const QList<PromptRecord> records = reopened.load();
        QCOMPARE(records.size(), PromptHistory::kMax);
        QCOMPARE(records.first().prompt,
                 QStringLiteral("prompt %1").arg(PromptHistory::kMax + 4)); // newest first
        QCOMPARE(records.first().answer.size(), PromptHistory::kMaxTextChars);
        QCOMPARE(records.last().prompt, QStringLiteral("prompt 5"));
        QCOMPARE(records[1].costCredits, 0.000135);
        QCOMPARE(records[1].at,
                 QDateTime(QDate(2026, 12, 2), QTime(10, 0), Qt::UTC).addSecs(PromptHistory::kMax + 3));

        // A damaged file: a message, an empty history, and the next add writes a good file again.
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write("[{\"at\": \"2026-12-02T10:00:00Z\", \"prompt\": \"cut off");
        f.close();
        PromptHistory damaged;
        const QString problem = damaged.open(path, writeNow);
        QVERIFY(problem.contains(QStringLiteral("fresh")));
        QVERIFY(damaged.load().isEmpty());
        damaged.add(records.first());
        PromptHistory again;
        QCOMPARE(again.open(path, writeNow), QString());
        QCOMPARE(again.load().size(), 1);
    }

    void workHistoryKeptAcrossRestarts() {
        WorkHistory history;
        const QDateTime t0(QDate(2026, 12, 2), QTime(9, 10), Qt::UTC);
        history.record(t0, 0);
        QVERIFY(history.record(t0.addSecs(60), 700));
        QVERIFY(!history.record(t0.addSecs(70), 700)); // nothing new: nothing to save
        QVERIFY(history.record(t0.addSecs(3600), 900));
        const WorkHistory back = WorkHistory::fromJson(history.toJson());
        QCOMPARE(back.lastDay(t0.addSecs(3600)), history.lastDay(t0.addSecs(3600)));
        // The engine of the next run starts at 0 again: counting goes on from there.
        WorkHistory next = back;
        next.record(t0.addSecs(3700), 0);
        next.record(t0.addSecs(3800), 50);
        QCOMPARE(next.lastDay(t0.addSecs(3800))[23].second, 200 + 50);
        // Bounded: a week of hours at most; junk entries are skipped.
        QJsonArray many;
        for (int i = 0; i < WorkHistory::kKeepHours + 50; ++i)
            many.append(
                QJsonObject{{QStringLiteral("hour"), t0.addSecs(qint64(i) * 3600).toString(Qt::ISODate)},
                            {QStringLiteral("layer_tokens"), 1}});
        many.append(QJsonObject{{QStringLiteral("hour"), QStringLiteral("not a time")}});
        QCOMPARE(WorkHistory::fromJson(many).toJson().size(), WorkHistory::kKeepHours);
    }
    void germanForAGermanLocale() {
        {
            const Translations german(QLocale(QLocale::German, QLocale::Austria)); // de_AT falls back to de
            QCOMPARE(german.language().left(2), QStringLiteral("de"));
            QCOMPARE(QCoreApplication::translate("declai::desktop::OverviewPage", "Earned today"),
                     QStringLiteral("Heute verdient"));
            QCOMPARE(QCoreApplication::translate("declai::desktop::PromptPage", "Streaming… %n token(s)",
                                                 nullptr, 3),
                     QStringLiteral("Empfange … 3 Token"));
        }
        // Gone with the object; English (and a language without a catalogue) gets the source texts with
        // their plural forms.
        QCOMPARE(QCoreApplication::translate("declai::desktop::OverviewPage", "Earned today"),
                 QStringLiteral("Earned today"));
        for (const QLocale& locale :
             {QLocale(QLocale::English, QLocale::UnitedStates), QLocale(QLocale::Japanese)}) {
            const Translations english(locale);
            QCOMPARE(english.language(), QStringLiteral("en"));
            QCOMPARE(QCoreApplication::translate("declai::desktop::OverviewPage", "Earned today"),
                     QStringLiteral("Earned today"));
            QCOMPARE(QCoreApplication::translate("declai::desktop::PromptPage", "Streaming… %n token(s)",
                                                 nullptr, 1),
                     QStringLiteral("Streaming… 1 token"));
            QCOMPARE(QCoreApplication::translate("declai::desktop::PromptPage", "Streaming… %n token(s)",
                                                 nullptr, 3),
                     QStringLiteral("Streaming… 3 tokens"));
        }
    }
    void promptCostFromTheLedgersPostings() {
        const QDateTime sent(QDate(2026, 12, 2), QTime(10, 0));
        auto posting = [](const QDateTime& at, qint64 micro, const char* kind, const char* ref) {
            Posting p;
            p.at = at;
            p.amountMicrocredits = micro;
            p.kind = QString::fromLatin1(kind);
            p.memo = QString::fromLatin1(ref);
            return p;
        };
        CreditSummary c;                                               // newest first, as /v1/credits answers
        c.postings = {posting(sent.addSecs(3), -900, "hold", "req-2"), // a later request, still open
                      posting(sent.addSecs(2), 900 - 135, "settle", "req-1"),
                      posting(sent.addSecs(1), -900, "hold", "req-1"),
                      posting(sent.addSecs(-60), -500, "hold", "req-0")}; // before this prompt
        QCOMPARE(PromptPage::settledCost(c, sent), std::optional<qint64>(135));
        c.postings.remove(1); // not settled yet
        QCOMPARE(PromptPage::settledCost(c, sent), std::nullopt);
        c.postings.insert(1, posting(sent.addSecs(2), 900, "release", "req-1")); // refunded: nothing paid
        QCOMPARE(PromptPage::settledCost(c, sent), std::optional<qint64>(0));
        // A request that used its whole hold leaves only the hold on the account: the job gives the cost.
        c.postings.remove(1);
        c.postings[1].jobId = QStringLiteral("cmVxLTE");
        c.postings[0].jobId = QStringLiteral("cmVxLTI");
        QCOMPARE(PromptPage::settledCost(c, sent), std::nullopt);
        QCOMPARE(PromptPage::holdJobId(c, sent), QStringLiteral("cmVxLTE")); // the oldest since `sent`
        QCOMPARE(PromptPage::holdJobId(c, sent.addSecs(10)), QString());
    }
};

QTEST_MAIN(DesktopApiTest)
#include "tst_desktop_api.moc"
