// The API as JSON-RPC 2.0 over the gateway's WebSocket (wss://HOST:PORT/v1/rpc), against a real server with a
// node, through a real QWebSocket over TLS: submit and stream give the same text as the HTTP API (and as
// local generation) for the same prompt and seed; cancel stops the nodes' work and charges what was produced;
// a closed socket does the same; quote, balance and history answer what the HTTP endpoints answer; malformed
// calls (bad JSON, batches, wrong version, unknown method, missing params, bad ids) get JSON-RPC error
// objects and never crash the gateway; an oversize message is refused; no key, no connection.
#include "../ProcessRun.h"
#include "../api/RawHttp.h"
#include "SwarmHarness.h"

#include <QJsonArray>
#include <QRegularExpression>
#include <QWebSocket>

using namespace declai::testdata;

namespace {

const QString kPrompt = QStringLiteral("Once upon a time");
constexpr int kTokens = 20;

QByteArray json(const QJsonObject& o) {
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

QString localText(const QString& prompt, int tokens) {
    const ProcessResult r = runProcess(
        QStringLiteral(DECLAI_CLI_PATH),
        {QStringLiteral("generate"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
         QStringLiteral("-p"), prompt, QStringLiteral("-n"), QString::number(tokens),
         QStringLiteral("--temp"), QStringLiteral("0"), QStringLiteral("--threads"), QStringLiteral("1")},
        120000);
    QString out = QString::fromUtf8(r.out);
    if (out.endsWith(QLatin1Char('\n')))
        out.chop(1);
    return r.exitCode == 0 ? out : QStringLiteral("<generate failed: %1>").arg(QString::fromUtf8(r.err));
}

// A JSON-RPC client on a QWebSocket: every message it receives is kept, in order.
class RpcClient {
public:
    bool open(quint16 port, const QString& caFile, const QString& key) {
        QNetworkRequest request(QUrl(QStringLiteral("wss://127.0.0.1:%1/v1/rpc").arg(port)));
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(caFile));
        request.setSslConfiguration(tls);
        m_socket.setSslConfiguration(tls); // QWebSocket (6.4) takes TLS settings from itself, not the request
        if (!key.isEmpty())
            request.setRawHeader("Authorization", "Bearer " + key.toUtf8());
        QObject::connect(&m_socket, &QWebSocket::textMessageReceived, [this](const QString& m) {
            m_received.append(QJsonDocument::fromJson(m.toUtf8()).object());
        });
        QObject::connect(&m_socket, &QWebSocket::disconnected, [this] { m_closed = true; });
        m_socket.open(request);
        QElapsedTimer clock;
        clock.start();
        while (m_socket.state() != QAbstractSocket::ConnectedState && !m_closed && clock.elapsed() < 10000)
            QTest::qWait(20);
        if (m_socket.state() != QAbstractSocket::ConnectedState)
            qWarning("WebSocket to /v1/rpc: %s", qPrintable(m_socket.errorString()));
        return m_socket.state() == QAbstractSocket::ConnectedState;
    }
    void sendRaw(const QByteArray& text) { m_socket.sendTextMessage(QString::fromUtf8(text)); }
    void call(const QJsonValue& id, const QString& method, const QJsonValue& params = QJsonValue::Undefined) {
        QJsonObject o{{QStringLiteral("jsonrpc"), QStringLiteral("2.0")},
                      {QStringLiteral("id"), id},
                      {QStringLiteral("method"), method}};
        if (!params.isUndefined())
            o.insert(QStringLiteral("params"), params);
        sendRaw(json(o));
    }
    // The answer (result or error) to the call `id`; {} after timeoutMs.
    QJsonObject answer(const QJsonValue& id, int timeoutMs = 60000) {
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < timeoutMs) {
            for (const QJsonObject& m : m_received)
                if (m.value(QStringLiteral("id")) == id &&
                    (m.contains(QStringLiteral("result")) || m.contains(QStringLiteral("error"))))
                    return m;
            if (m_closed)
                return {};
            QTest::qWait(10);
        }
        return {};
    }
    // The "chunk" notifications of call `id` so far.
    QList<QJsonObject> chunks(const QJsonValue& id) const {
        QList<QJsonObject> out;
        for (const QJsonObject& m : m_received)
            if (m.value(QStringLiteral("method")).toString() == QStringLiteral("chunk") &&
                m.value(QStringLiteral("params")).toObject().value(QStringLiteral("id")) == id)
                out.append(
                    m.value(QStringLiteral("params")).toObject().value(QStringLiteral("chunk")).toObject());
        return out;
    }
    QWebSocket& socket() { return m_socket; }
    QString dump() const {
        QStringList out;
        for (const QJsonObject& m : m_received)
            out.append(QString::fromUtf8(json(m).left(300)));
        return out.join(QLatin1Char('\n'));
    }
    bool closed() const { return m_closed; }
    const QList<QJsonObject>& received() const { return m_received; }

private:
    QWebSocket m_socket;
    QList<QJsonObject> m_received;
    bool m_closed = false;
};

QString text(const QJsonObject& completion) {
    const QJsonObject choice = completion.value(QStringLiteral("choices")).toArray()[0].toObject();
    return choice.contains(QStringLiteral("message")) ? choice.value(QStringLiteral("message"))
                                                            .toObject()
                                                            .value(QStringLiteral("content"))
                                                            .toString()
                                                      : choice.value(QStringLiteral("text")).toString();
}

// What is wrong with a JSON-RPC error answer ("" when it is one with this code and id).
QString rpcErrorProblems(const QJsonObject& m, int code, const QJsonValue& id) {
    QString p;
    if (m.value(QStringLiteral("jsonrpc")).toString() != QStringLiteral("2.0"))
        p += QStringLiteral("no jsonrpc 2.0; ");
    if (m.value(QStringLiteral("id")) != id)
        p += QStringLiteral("wrong id; ");
    if (m.contains(QStringLiteral("result")))
        p += QStringLiteral("a result beside the error; ");
    const QJsonObject e = m.value(QStringLiteral("error")).toObject();
    if (e.value(QStringLiteral("code")).toInt() != code)
        p += QStringLiteral("code %1, expected %2; ").arg(e.value(QStringLiteral("code")).toInt()).arg(code);
    if (e.value(QStringLiteral("message")).toString().isEmpty())
        p += QStringLiteral("no message; ");
    return p.isEmpty() ? QString() : p + QString::fromUtf8(json(m));
}

} // namespace

class TestJsonRpcApi : public QObject {
    Q_OBJECT

    std::unique_ptr<Swarm> m_swarm;
    QString m_bob;

    HttpResponse http(const QByteArray& method, const QByteArray& path, const QByteArray& body = {}) {
        return httpExchange(m_swarm->port(), m_swarm->caFile(),
                            httpRequest(method, path, body, m_bob.toUtf8()));
    }
    QJsonObject completionBody(int tokens = kTokens) const {
        return QJsonObject{{QStringLiteral("model"), QStringLiteral("stories260K")},
                           {QStringLiteral("prompt"), kPrompt},
                           {QStringLiteral("max_tokens"), tokens},
                           {QStringLiteral("temperature"), 0}};
    }
    int stagesServed() {
        return m_swarm->status()
            .value(QStringLiteral("nodes"))
            .toArray()[0]
            .toObject()
            .value(QStringLiteral("stages_served"))
            .toInt();
    }
    // "hold X (client left): charged C microcredits for P prompt + G generated tokens": the n-th such line.
    QRegularExpressionMatch clientLeftCharge(int n) {
        static const QRegularExpression charged(
            QStringLiteral("hold \\S+ \\(client left\\): charged (\\d+) microcredits for (\\d+) prompt \\+ "
                           "(\\d+) generated tokens"));
        auto it = charged.globalMatch(m_swarm->log(QStringLiteral("server")));
        QRegularExpressionMatch m;
        for (int i = 0; i <= n && it.hasNext(); ++i)
            m = it.next();
        return m;
    }

private Q_SLOTS:
    void initTestCase() {
        DECLAI_REQUIRE_MODEL("stories260K.gguf");
        m_swarm = std::make_unique<Swarm>(
            QStringList{QStringLiteral("--min-nodes"), QStringLiteral("1"),
                        QStringLiteral("--api-max-body-kib"), QStringLiteral("16")},
            [&](Swarm& s) {
                m_bob =
                    s.admin({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("bob")}).trimmed();
            });
        QVERIFY2(m_bob.startsWith(QStringLiteral("dk_")), qPrintable(m_bob));
        QVERIFY2(m_swarm->waitForServer(), qPrintable(m_swarm->log(QStringLiteral("server"))));
        // A slow node (50 ms per stage) so that a cancel lands mid-generation.
        m_swarm->addTestNode({QStringLiteral("--stage-delay-ms"), QStringLiteral("50")});
        QVERIFY2(m_swarm->waitForShards(1), qPrintable(m_swarm->log(QStringLiteral("server"))));
    }

    void cleanupTestCase() { m_swarm.reset(); }

    // submit and stream: the HTTP API's text (and local generation's) for the same body; chunks add up.
    void submitAndStreamMatchHttp() {
        RpcClient rpc;
        QVERIFY(rpc.open(m_swarm->port(), m_swarm->caFile(), m_bob));
        const QString local = localText(kPrompt, kTokens);
        const HttpResponse viaHttp = http("POST", "/v1/completions", json(completionBody()));
        QCOMPARE(viaHttp.status, 200);
        QCOMPARE(text(viaHttp.json()), local);

        rpc.call(1, QStringLiteral("submit"), completionBody());
        const QJsonObject submitted = rpc.answer(1);
        QVERIFY2(submitted.contains(QStringLiteral("result")), json(submitted).constData());
        const QJsonObject result = submitted.value(QStringLiteral("result")).toObject();
        QCOMPARE(text(result), local);
        QCOMPARE(result.value(QStringLiteral("usage")), viaHttp.json().value(QStringLiteral("usage")));
        QVERIFY(rpc.chunks(1).isEmpty());

        rpc.call(QStringLiteral("s-2"), QStringLiteral("stream"), completionBody());
        const QJsonObject streamed = rpc.answer(QStringLiteral("s-2"));
        QVERIFY2(streamed.contains(QStringLiteral("result")), json(streamed).constData());
        QCOMPARE(text(streamed.value(QStringLiteral("result")).toObject()), local);
        const QList<QJsonObject> chunks = rpc.chunks(QStringLiteral("s-2"));
        QVERIFY2(chunks.size() >= kTokens, qPrintable(QString::number(chunks.size())));
        QString joined;
        for (const QJsonObject& c : chunks)
            joined += text(c);
        QCOMPARE(joined, local);
        QCOMPARE(chunks.last()
                     .value(QStringLiteral("choices"))
                     .toArray()[0]
                     .toObject()
                     .value(QStringLiteral("finish_reason"))
                     .toString(),
                 QStringLiteral("length"));

        // A chat, sampled with a seed: the same text over HTTP and JSON-RPC.
        const QJsonObject chat{
            {QStringLiteral("model"), QStringLiteral("stories260K")},
            {QStringLiteral("messages"),
             QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                    {QStringLiteral("content"), QStringLiteral("A cat")}}}},
            {QStringLiteral("max_tokens"), 12},
            {QStringLiteral("temperature"), 0.9},
            {QStringLiteral("seed"), 1234}};
        const HttpResponse chatHttp = http("POST", "/v1/chat/completions", json(chat));
        QCOMPARE(chatHttp.status, 200);
        rpc.call(3, QStringLiteral("stream"), chat);
        const QJsonObject chatRpc = rpc.answer(3);
        QVERIFY2(chatRpc.contains(QStringLiteral("result")), json(chatRpc).constData());
        QCOMPARE(text(chatRpc.value(QStringLiteral("result")).toObject()), text(chatHttp.json()));
        QVERIFY(!text(chatHttp.json()).isEmpty());
    }

    // cancel by id: the stream call ends with -32800, the node stops, only what was produced is charged.
    void cancelStopsTheWork() {
        RpcClient rpc;
        QVERIFY(rpc.open(m_swarm->port(), m_swarm->caFile(), m_bob));
        constexpr int kMax = 100; // the model's context is 128 tokens
        rpc.call(7, QStringLiteral("stream"), completionBody(kMax));
        QTRY_VERIFY2_WITH_TIMEOUT(rpc.chunks(7).size() >= 3, qPrintable(rpc.dump()), 30000);
        rpc.call(8, QStringLiteral("cancel"), QJsonObject{{QStringLiteral("id"), 7}});
        const QJsonObject cancel = rpc.answer(8, 10000);
        QCOMPARE(
            cancel.value(QStringLiteral("result")).toObject().value(QStringLiteral("cancelled")).toBool(),
            true);
        const QJsonObject ended = rpc.answer(7, 10000);
        QVERIFY2(rpcErrorProblems(ended, -32800, 7).isEmpty(),
                 qPrintable(rpcErrorProblems(ended, -32800, 7)));
        QCOMPARE(ended.value(QStringLiteral("error"))
                     .toObject()
                     .value(QStringLiteral("data"))
                     .toObject()
                     .value(QStringLiteral("status")),
                 QJsonValue(499));
        QTRY_VERIFY_WITH_TIMEOUT(m_swarm->status().value(QStringLiteral("sessions")).toArray().isEmpty(),
                                 3000);
        const int before = stagesServed();
        QTest::qWait(1000);
        QCOMPARE(stagesServed(), before);
        QRegularExpressionMatch m;
        QTRY_VERIFY_WITH_TIMEOUT((m = clientLeftCharge(0)).hasMatch(), 10000);
        const int generated = m.captured(3).toInt();
        QVERIFY2(generated >= 3 && generated < kMax / 2, qPrintable(QString::number(generated)));
        QVERIFY(m.captured(1).toLongLong() > 0);
        // Cancelling again, or an unknown id: nothing to cancel.
        rpc.call(9, QStringLiteral("cancel"), QJsonObject{{QStringLiteral("id"), 7}});
        QCOMPARE(rpc.answer(9)
                     .value(QStringLiteral("result"))
                     .toObject()
                     .value(QStringLiteral("cancelled"))
                     .toBool(true),
                 false);
    }

    // A closed socket cancels its generations: the session ends at once and pays what was produced.
    void closedSocketCancels() {
        auto rpc = std::make_unique<RpcClient>();
        QVERIFY(rpc->open(m_swarm->port(), m_swarm->caFile(), m_bob));
        rpc->call(1, QStringLiteral("stream"), completionBody(100));
        QTRY_VERIFY2_WITH_TIMEOUT(rpc->chunks(1).size() >= 3, qPrintable(rpc->dump()), 30000);
        rpc->socket().abort();
        rpc.reset();
        QTRY_VERIFY_WITH_TIMEOUT(m_swarm->status().value(QStringLiteral("sessions")).toArray().isEmpty(),
                                 3000);
        QRegularExpressionMatch m;
        QTRY_VERIFY_WITH_TIMEOUT((m = clientLeftCharge(1)).hasMatch(), 10000);
        QVERIFY2(m.captured(3).toInt() < 50, qPrintable(m.captured(0)));
    }

    // quote, balance and history: what POST /v1/quote and GET /v1/credits answer.
    void quoteBalanceHistory() {
        RpcClient rpc;
        QVERIFY(rpc.open(m_swarm->port(), m_swarm->caFile(), m_bob));
        rpc.call(1, QStringLiteral("quote"), completionBody());
        const QJsonObject quote = rpc.answer(1).value(QStringLiteral("result")).toObject();
        const HttpResponse httpQuote = http("POST", "/v1/quote", json(completionBody()));
        QCOMPARE(httpQuote.status, 200);
        QCOMPARE(quote, httpQuote.json());
        QCOMPARE(quote.value(QStringLiteral("object")).toString(), QStringLiteral("quote"));

        const QJsonObject credits = http("GET", "/v1/credits?limit=3").json();
        rpc.call(2, QStringLiteral("balance"));
        const QJsonObject balance = rpc.answer(2).value(QStringLiteral("result")).toObject();
        QCOMPARE(balance.value(QStringLiteral("object")).toString(), QStringLiteral("balance"));
        QCOMPARE(balance.value(QStringLiteral("available_microcredits")),
                 credits.value(QStringLiteral("available_microcredits")));
        QVERIFY(balance.value(QStringLiteral("available_microcredits")).toInteger() > 0);
        QVERIFY(!balance.contains(QStringLiteral("postings")));

        rpc.call(3, QStringLiteral("history"), QJsonObject{{QStringLiteral("limit"), 3}});
        const QJsonObject history = rpc.answer(3).value(QStringLiteral("result")).toObject();
        QCOMPARE(history.value(QStringLiteral("postings")), credits.value(QStringLiteral("postings")));
        QCOMPARE(history.value(QStringLiteral("postings")).toArray().size(), 3);
        QVERIFY(history.value(QStringLiteral("next_cursor")).isString());
        rpc.call(4, QStringLiteral("history"),
                 QJsonObject{{QStringLiteral("cursor"), history.value(QStringLiteral("next_cursor"))}});
        const QJsonObject older = rpc.answer(4).value(QStringLiteral("result")).toObject();
        QVERIFY(!older.value(QStringLiteral("postings")).toArray().isEmpty());
        QVERIFY(older.value(QStringLiteral("postings"))
                    .toArray()[0]
                    .toObject()
                    .value(QStringLiteral("tx_id"))
                    .toInteger() < history.value(QStringLiteral("postings"))
                                       .toArray()[2]
                                       .toObject()
                                       .value(QStringLiteral("tx_id"))
                                       .toInteger());
        rpc.call(5, QStringLiteral("history"), QJsonObject{{QStringLiteral("limit"), 0}});
        const QJsonObject bad = rpc.answer(5);
        QVERIFY2(rpcErrorProblems(bad, -32602, 5).isEmpty(), qPrintable(rpcErrorProblems(bad, -32602, 5)));
        QCOMPARE(bad.value(QStringLiteral("error"))
                     .toObject()
                     .value(QStringLiteral("data"))
                     .toObject()
                     .value(QStringLiteral("param")),
                 QJsonValue(QStringLiteral("limit")));
    }

    // Malformed JSON-RPC: an error object each time, the connection and the gateway keep working.
    void malformedCallsGetErrorObjects() {
        RpcClient rpc;
        QVERIFY(rpc.open(m_swarm->port(), m_swarm->caFile(), m_bob));
        struct Case {
            QByteArray message;
            int code;
            QJsonValue id;
        };
        QByteArray deep(5000, '[');
        QByteArray batch = "[";
        for (int i = 0; i < 100; ++i) // under the 16 KiB cap: a batch, not an oversize message
            batch += "{\"jsonrpc\":\"2.0\",\"id\":" + QByteArray::number(i) + ",\"method\":\"balance\"},";
        batch.chop(1);
        batch += "]";
        const QList<Case> cases{
            {"not json", -32700, QJsonValue::Null},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,", -32700, QJsonValue::Null},
            {deep, -32700, QJsonValue::Null},
            {"[]", -32600, QJsonValue::Null},
            {batch, -32600, QJsonValue::Null},
            {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"quote\"}", -32600, 1},
            {"{\"id\":2,\"method\":\"quote\"}", -32600, 2},
            {"{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"quote\"}", -32600, QJsonValue::Null},
            {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"quote\"}", -32600, QJsonValue::Null},
            {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":7}", -32600, 3},
            {"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"nope\",\"params\":{}}", -32601, 4},
            {"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"submit\"}", -32602, 5},
            {"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"stream\",\"params\":[1,2]}", -32602, 6},
            {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"submit\",\"params\":{\"model\":\"stories260K\"}}",
             -32602, 7},
            {"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"submit\",\"params\":{\"model\":\"x\",\"prompt\":"
             "\"a\"}}",
             -32004, 8},
            {"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"submit\",\"params\":{\"model\":\"stories260K\","
             "\"prompt\":"
             "\"a\",\"stream\":true}}",
             -32602, 9},
            {"{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"cancel\",\"params\":{}}", -32602, 10},
            {"{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"quote\",\"params\":{\"model\":\"stories260K\","
             "\"prompt\":"
             "\"a\",\"max_tokens\":-1}}",
             -32602, 11},
        };
        for (const Case& c : cases) {
            const qsizetype before = rpc.received().size();
            rpc.sendRaw(c.message);
            QTRY_VERIFY2_WITH_TIMEOUT(rpc.received().size() > before, c.message.left(80).constData(), 10000);
            QCOMPARE(rpc.received().size(), before + 1); // one answer, also for a batch
            const QJsonObject m = rpc.received().last();
            const QString problems = rpcErrorProblems(m, c.code, c.id);
            QVERIFY2(problems.isEmpty(),
                     qPrintable(QString::fromUtf8(c.message.left(80)) + QStringLiteral(": ") + problems));
        }
        // The HTTP status and OpenAI's error ride along in data.
        const QJsonObject data = rpc.received()[rpc.received().size() - 1]
                                     .value(QStringLiteral("error"))
                                     .toObject()
                                     .value(QStringLiteral("data"))
                                     .toObject();
        QCOMPARE(data.value(QStringLiteral("status")).toInt(), 400);
        QCOMPARE(data.value(QStringLiteral("param")).toString(), QStringLiteral("max_tokens"));
        // A binary message, and a notification (no id) of anything but cancel: no answer.
        rpc.socket().sendBinaryMessage(QByteArrayLiteral("\x00\x01"));
        QTRY_VERIFY(rpc.received()
                        .last()
                        .value(QStringLiteral("error"))
                        .toObject()
                        .value(QStringLiteral("code"))
                        .toInt() == -32600);
        const qsizetype before = rpc.received().size();
        rpc.sendRaw("{\"jsonrpc\":\"2.0\",\"method\":\"balance\"}");
        QTest::qWait(500);
        QCOMPARE(rpc.received().size(), before);
        // Still served.
        rpc.call(99, QStringLiteral("balance"));
        QVERIFY(rpc.answer(99).contains(QStringLiteral("result")));
        QCOMPARE(m_swarm->server().state(), QProcess::Running);
    }

    // A message over the cap (--api-max-body-kib 16) closes the connection with 1009; others are unaffected.
    void oversizeMessageRefused() {
        RpcClient rpc;
        QVERIFY(rpc.open(m_swarm->port(), m_swarm->caFile(), m_bob));
        QJsonObject body = completionBody();
        body.insert(QStringLiteral("prompt"), QString(64 * 1024, QLatin1Char('a')));
        rpc.call(1, QStringLiteral("quote"), body);
        QTRY_VERIFY_WITH_TIMEOUT(rpc.closed(), 10000);
        QCOMPARE(rpc.socket().closeCode(), QWebSocketProtocol::CloseCodeTooMuchData);
        RpcClient again;
        QVERIFY(again.open(m_swarm->port(), m_swarm->caFile(), m_bob));
        again.call(2, QStringLiteral("quote"), completionBody());
        QVERIFY(again.answer(2).contains(QStringLiteral("result")));
    }

    // No key or a bad key: one error (-32001) and the socket closes.
    void keyRequired() {
        for (const QString& key : {QString(), QStringLiteral("dk_not_a_key")}) {
            RpcClient rpc;
            rpc.open(m_swarm->port(), m_swarm->caFile(), key);
            QTRY_VERIFY_WITH_TIMEOUT(rpc.closed(), 10000);
            QVERIFY(!rpc.received().isEmpty());
            const QString problems = rpcErrorProblems(rpc.received().first(), -32001, QJsonValue::Null);
            QVERIFY2(problems.isEmpty(), qPrintable(problems));
        }
        // A plain GET of the path says how to connect.
        const HttpResponse plain = http("GET", "/v1/rpc");
        QCOMPARE(plain.status, 426);
    }
};

QTEST_GUILESS_MAIN(TestJsonRpcApi)
#include "tst_jsonrpc_api.moc"
