// The gateway's OpenAI-compatible HTTP API against a real server and nodes: the official `openai` npm
// client gets exactly the text of local generation (streaming and not, completions and chat), usage counts
// match, every error answers OpenAI's error JSON with its status, SSE framing is checked byte by byte, the
// OpenAPI document is the one committed and matches live answers, /metrics describes the swarm, and a client
// that disconnects mid-stream stops the nodes' work and pays only for the tokens produced.
#include "../api/NpmTools.h"
#include "../api/OpenApiCheck.h"
#include "../api/RawHttp.h"
#include "SwarmHarness.h"

#include <QJsonArray>
#include <QRegularExpression>

using namespace declai::testdata;

namespace {

const QString kPrompt = QStringLiteral("Once upon a time");
constexpr int kTokens = 20;

QString genericChatPrompt(const QString& user) {
    return QStringLiteral("user: ") + user + QStringLiteral("\nassistant:");
}

ProcessResult cli(const QStringList& args) {
    return runProcess(QStringLiteral(DECLAI_CLI_PATH), args, 120000);
}

// declai-cli generate: the continuation, greedy, without its trailing newline.
QString localText(const QString& prompt, int tokens) {
    const ProcessResult r = cli({QStringLiteral("generate"), QStringLiteral("-m"),
                                 QStringLiteral("stories260K.gguf"), QStringLiteral("-p"), prompt,
                                 QStringLiteral("-n"), QString::number(tokens), QStringLiteral("--temp"),
                                 QStringLiteral("0"), QStringLiteral("--threads"), QStringLiteral("1")});
    QString out = QString::fromUtf8(r.out);
    if (out.endsWith(QLatin1Char('\n')))
        out.chop(1);
    return r.exitCode == 0 ? out : QStringLiteral("<generate failed: %1>").arg(QString::fromUtf8(r.err));
}

int localPromptTokens(const QString& prompt) {
    const ProcessResult r = cli({QStringLiteral("tokenize"), QStringLiteral("-m"),
                                 QStringLiteral("stories260K.gguf"), QStringLiteral("-p"), prompt});
    return r.exitCode == 0
               ? static_cast<int>(QString::fromUtf8(r.out).simplified().split(QLatin1Char(' ')).size())
               : -1;
}

QString addUser(Swarm& s, const QString& name) {
    return s.admin({QStringLiteral("user"), QStringLiteral("add"), name}).trimmed();
}

QByteArray json(const QJsonObject& o) {
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

QJsonObject completionBody(bool stream = false) {
    QJsonObject o{{QStringLiteral("model"), QStringLiteral("stories260K")},
                  {QStringLiteral("prompt"), kPrompt},
                  {QStringLiteral("max_tokens"), kTokens},
                  {QStringLiteral("temperature"), 0}};
    if (stream)
        o.insert(QStringLiteral("stream"), true);
    return o;
}

// What is wrong with an error answer ("" when it is OpenAI's error JSON with these values).
QString errorProblems(const HttpResponse& r, int status, const QString& param, const QString& code) {
    QString p;
    if (r.status != status)
        p += QStringLiteral("status %1, expected %2; ").arg(r.status).arg(status);
    if (!r.header("content-type").startsWith("application/json"))
        p += QStringLiteral("content-type '%1'; ").arg(QString::fromUtf8(r.header("content-type")));
    const QJsonObject e = r.json().value(QStringLiteral("error")).toObject();
    if (e.value(QStringLiteral("message")).toString().isEmpty())
        p += QStringLiteral("no error.message; ");
    if (e.value(QStringLiteral("type")).toString().isEmpty())
        p += QStringLiteral("no error.type; ");
    if (!e.contains(QStringLiteral("param")) || !e.contains(QStringLiteral("code")))
        p += QStringLiteral("error.param or error.code missing; ");
    const QJsonValue gotParam = e.value(QStringLiteral("param"));
    if (param.isEmpty() ? !gotParam.isNull() : gotParam.toString() != param)
        p += QStringLiteral("param %1, expected '%2'; ")
                 .arg(QString::fromUtf8(QJsonDocument(QJsonArray{gotParam}).toJson(QJsonDocument::Compact)),
                      param);
    if (!code.isEmpty() && e.value(QStringLiteral("code")).toString() != code)
        p += QStringLiteral("code '%1', expected '%2'; ")
                 .arg(e.value(QStringLiteral("code")).toString(), code);
    return p.isEmpty() ? QString() : p + QString::fromUtf8(r.body.left(400));
}

// Server-Sent Events of a de-chunked body: the data of each event, in order.
QStringList sseData(const QByteArray& body, QString* framingProblem) {
    QStringList out;
    // Events are "data: X\n\n": lines alternate between data and blank.
    QByteArray text = body;
    if (!text.endsWith("\n\n"))
        *framingProblem = QStringLiteral("the stream does not end with a blank line");
    for (const QByteArray& event : text.split('\n')) {
        if (event.isEmpty())
            continue;
        if (!event.startsWith("data: ")) {
            *framingProblem =
                QStringLiteral("a line that is not 'data: ': ") + QString::fromUtf8(event.left(80));
            continue;
        }
        out.append(QString::fromUtf8(event.mid(6)));
    }
    if (text.count("\n\n") != out.size())
        *framingProblem =
            QStringLiteral("%1 events but %2 blank-line separators").arg(out.size()).arg(text.count("\n\n"));
    return out;
}

qint64 metricValue(const QByteArray& metrics, const QByteArray& series) {
    for (const QByteArray& line : metrics.split('\n'))
        if (line.startsWith(QByteArray(series + ' ')))
            return static_cast<qint64>(line.mid(series.size() + 1).toDouble());
    return -1;
}

} // namespace

class TestHttpApi : public QObject {
    Q_OBJECT

    std::unique_ptr<Swarm> m_swarm;
    QString m_alice; // operator
    QString m_bob;
    quint16 m_apiPort = 0;

    HttpResponse call(const QByteArray& method, const QByteArray& path, const QByteArray& body = {},
                      const QString& key = {}, quint16 port = 0) {
        return httpExchange(port ? port : m_swarm->port(), m_swarm->caFile(),
                            httpRequest(method, path, body, key.toUtf8()));
    }

private Q_SLOTS:
    void initTestCase() {
        DECLAI_REQUIRE_MODEL("stories260K.gguf");
        m_apiPort = freePort();
        m_swarm = std::make_unique<Swarm>(
            QStringList{QStringLiteral("--min-nodes"), QStringLiteral("2"), QStringLiteral("--api-operator"),
                        QStringLiteral("alice"), QStringLiteral("--api-max-body-kib"), QStringLiteral("16"),
                        QStringLiteral("--http-listen"), QStringLiteral("127.0.0.1:%1").arg(m_apiPort)},
            [&](Swarm& s) {
                m_alice = addUser(s, QStringLiteral("alice"));
                m_bob = addUser(s, QStringLiteral("bob"));
            });
        QVERIFY2(m_alice.startsWith(QStringLiteral("dk_")) && m_bob.startsWith(QStringLiteral("dk_")),
                 qPrintable(m_alice + m_bob));
        QVERIFY2(m_swarm->waitForServer(), qPrintable(m_swarm->log(QStringLiteral("server"))));
    }

    void cleanupTestCase() { m_swarm.reset(); }

    // Before any node joined: 503 with the reason and Retry-After; /readyz says why. Then the nodes join.
    void noCapacityBeforeNodesJoin() {
        const HttpResponse r = call("POST", "/v1/completions", json(completionBody()), m_bob);
        QVERIFY2(errorProblems(r, 503, {}, QStringLiteral("no_capacity")).isEmpty(),
                 qPrintable(errorProblems(r, 503, {}, QStringLiteral("no_capacity"))));
        QVERIFY(r.json()
                    .value(QStringLiteral("error"))
                    .toObject()
                    .value(QStringLiteral("message"))
                    .toString()
                    .contains(QStringLiteral("no capacity for model 'stories260K'")));
        QVERIFY(r.header("retry-after").toInt() > 0);
        const HttpResponse notReady = call("GET", "/readyz");
        QCOMPARE(notReady.status, 503);
        QCOMPARE(notReady.json().value(QStringLiteral("ready")).toBool(true), false);
        QVERIFY(!notReady.json().value(QStringLiteral("reason")).toString().isEmpty());

        m_swarm->addNode();
        m_swarm->addNode();
        QVERIFY2(m_swarm->waitForShards(2), qPrintable(m_swarm->log(QStringLiteral("server"))));
        QTRY_COMPARE_WITH_TIMEOUT(call("GET", "/readyz").status, 200, 10000);
        QCOMPARE(call("GET", "/healthz").body, QByteArray("ok"));
    }

    // The official openai npm client: completions and chat, streaming and not, equal local generation.
    void openaiClientMatchesLocalGeneration() {
        const NpmInstall npm =
            npmInstall({QStringLiteral("openai"), QStringLiteral("parse-prometheus-text-format")},
                       QStringLiteral("parse-prometheus-text-format"));
        if (!npm.error.isEmpty())
            DECLAI_SKIP_MISSING("npm", npm.error);
        const QString chatMessage = QStringLiteral("Tell me about the cat.");
        const QString stopAt = QStringLiteral("e gi"); // inside "little girl": spans tokens
        QProcessEnvironment env = nodeEnvironment(npm.nodeModules, m_swarm->caFile());
        env.insert(QStringLiteral("DECLAI_BASE_URL"),
                   QStringLiteral("https://127.0.0.1:%1/v1").arg(m_swarm->port()));
        env.insert(QStringLiteral("DECLAI_API_KEY"), m_bob);
        env.insert(QStringLiteral("DECLAI_MODEL"), QStringLiteral("stories260K"));
        env.insert(QStringLiteral("DECLAI_PROMPT"), kPrompt);
        env.insert(QStringLiteral("DECLAI_CHAT_MESSAGE"), chatMessage);
        env.insert(QStringLiteral("DECLAI_MAX_TOKENS"), QString::number(kTokens));
        env.insert(QStringLiteral("DECLAI_STOP"), stopAt);
        const ProcessResult r =
            runProcess(QStringLiteral("node"),
                       {QStringLiteral(DECLAI_SOURCE_DIR "/tests/api/openai_client.cjs")}, 180000, env);
        QVERIFY2(r.exitCode == 0, qPrintable(QString::fromUtf8(r.err)));
        const QJsonObject out = QJsonDocument::fromJson(r.out).object();
        QVERIFY2(!out.isEmpty(), r.out.constData());

        const QString local = localText(kPrompt, kTokens);
        const QString localChat = localText(genericChatPrompt(chatMessage), kTokens);
        const int promptTokens = localPromptTokens(kPrompt);
        const int chatPromptTokens = localPromptTokens(genericChatPrompt(chatMessage));
        QVERIFY(promptTokens > 1 && chatPromptTokens > promptTokens);
        QCOMPARE(out.value(QStringLiteral("models")).toArray(), QJsonArray{QStringLiteral("stories260K")});
        struct Case {
            const char* key;
            QString text;
            int prompt;
        };
        for (const Case& c :
             {Case{"completion", local, promptTokens}, Case{"completionStream", local, promptTokens},
              Case{"chat", localChat, chatPromptTokens}, Case{"chatStream", localChat, chatPromptTokens}}) {
            const QJsonObject o = out.value(QLatin1String(c.key)).toObject();
            QVERIFY2(o.value(QStringLiteral("text")).toString() == c.text,
                     qPrintable(
                         QStringLiteral("%1: '%2' != local '%3'")
                             .arg(QLatin1String(c.key), o.value(QStringLiteral("text")).toString(), c.text)));
            QCOMPARE(o.value(QStringLiteral("finish")).toString(), QStringLiteral("length"));
            const QJsonObject usage = o.value(QStringLiteral("usage")).toObject();
            QCOMPARE(usage.value(QStringLiteral("prompt_tokens")).toInt(), c.prompt);
            QCOMPARE(usage.value(QStringLiteral("completion_tokens")).toInt(), kTokens);
            QCOMPARE(usage.value(QStringLiteral("total_tokens")).toInt(), c.prompt + kTokens);
        }
        QCOMPARE(out.value(QStringLiteral("chat")).toObject().value(QStringLiteral("role")).toString(),
                 QStringLiteral("assistant"));
        QCOMPARE(out.value(QStringLiteral("chatTemplateHeader")).toString(), QStringLiteral("generic"));
        QCOMPARE(out.value(QStringLiteral("chatMaxCompletionTokens")).toInt(), kTokens);
        // A streamed answer comes in several events (one per token), not in one piece at the end.
        QVERIFY(out.value(QStringLiteral("completionStream"))
                    .toObject()
                    .value(QStringLiteral("chunks"))
                    .toInt() >= kTokens);

        // stop: the text ends right before the first occurrence, the stop string is not returned.
        QVERIFY(local.contains(stopAt));
        const QString expected = local.left(local.indexOf(stopAt));
        for (const char* key : {"stop", "stopStream"}) {
            const QJsonObject o = out.value(QLatin1String(key)).toObject();
            QCOMPARE(o.value(QStringLiteral("text")).toString(), expected);
            QCOMPARE(o.value(QStringLiteral("finish")).toString(), QStringLiteral("stop"));
            const int produced = o.value(QStringLiteral("usage"))
                                     .toObject()
                                     .value(QStringLiteral("completion_tokens"))
                                     .toInt();
            QVERIFY2(produced > 0 && produced < kTokens, qPrintable(QString::number(produced)));
        }
        // Errors as the client library reports them.
        const auto err = [&](const char* key) { return out.value(QLatin1String(key)).toObject(); };
        QCOMPARE(err("errUnauthorized").value(QStringLiteral("status")).toInt(), 401);
        QCOMPARE(err("errUnknownModel").value(QStringLiteral("status")).toInt(), 404);
        QCOMPARE(err("errUnknownModel")
                     .value(QStringLiteral("error"))
                     .toObject()
                     .value(QStringLiteral("param"))
                     .toString(),
                 QStringLiteral("model"));
        QCOMPARE(err("errN").value(QStringLiteral("status")).toInt(), 400);
        QCOMPARE(
            err("errN").value(QStringLiteral("error")).toObject().value(QStringLiteral("param")).toString(),
            QStringLiteral("n"));
        // /metrics parsed by a real Prometheus text parser.
        const QJsonArray families = out.value(QStringLiteral("metricFamilies")).toArray();
        for (const char* name : {"declai_nodes_connected", "declai_queue_depth", "declai_tokens_per_second",
                                 "declai_time_to_first_token_seconds", "declai_token_latency_seconds",
                                 "declai_ledger_postings_total", "declai_verifications_total",
                                 "declai_relayed_bytes_total", "declai_sessions_active",
                                 "declai_stage_batch_frames_total", "declai_stage_batched_requests_total"})
            QVERIFY2(families.contains(QLatin1String(name)), name);
    }

    // POST /v1/quote: the worst-case price the submit path holds, for a completion or a chat body, checked
    // like generation; nothing runs and nothing is held.
    void quoteIsTheWorstCaseHold() {
        const QJsonObject credits = call("GET", "/v1/credits", {}, m_bob).json();
        const qint64 available = credits.value(QStringLiteral("available_microcredits")).toInteger(-1);
        QVERIFY2(available > 0, qPrintable(QString::fromUtf8(QJsonDocument(credits).toJson())));
        const HttpResponse q = call("POST", "/v1/quote", json(completionBody()), m_bob);
        QCOMPARE(q.status, 200);
        const QJsonObject o = q.json();
        QCOMPARE(o.value(QStringLiteral("object")).toString(), QStringLiteral("quote"));
        QCOMPARE(o.value(QStringLiteral("model")).toString(), QStringLiteral("stories260K"));
        const int promptTokens = localPromptTokens(kPrompt);
        QCOMPARE(o.value(QStringLiteral("prompt_tokens")).toInt(), promptTokens);
        QCOMPARE(o.value(QStringLiteral("max_tokens")).toInt(), kTokens);
        const qint64 cost = o.value(QStringLiteral("cost_microcredits")).toInteger(-1);
        QVERIFY2(cost > 0, q.body.constData());
        QCOMPARE(o.value(QStringLiteral("cost")).toDouble(), static_cast<double>(cost) / 1e6);
        QCOMPARE(o.value(QStringLiteral("available_microcredits")).toInteger(), available);
        QCOMPARE(o.value(QStringLiteral("available")).toDouble(), static_cast<double>(available) / 1e6);
        QCOMPARE(o.value(QStringLiteral("sufficient")).toBool(), true);
        // Nothing was held by the quote.
        QCOMPARE(call("GET", "/v1/credits", {}, m_bob)
                     .json()
                     .value(QStringLiteral("available_microcredits"))
                     .toInteger(),
                 available);
        // The same request, run to max_tokens, is charged exactly the quoted worst case.
        const HttpResponse ran = call("POST", "/v1/completions", json(completionBody()), m_bob);
        QCOMPARE(ran.status, 200);
        QCOMPARE(ran.json()
                     .value(QStringLiteral("choices"))
                     .toArray()[0]
                     .toObject()
                     .value(QStringLiteral("finish_reason"))
                     .toString(),
                 QStringLiteral("length"));
        const QRegularExpression charged(
            QStringLiteral("charged (\\d+) microcredits for %1 prompt \\+ %2 generated tokens")
                .arg(promptTokens)
                .arg(kTokens));
        QRegularExpressionMatch m;
        QTRY_VERIFY_WITH_TIMEOUT((m = charged.match(m_swarm->log(QStringLiteral("server")))).hasMatch(),
                                 10000);
        QCOMPARE(m.captured(1).toLongLong(), cost);
        // A high-priority request costs more (--high-priority-price).
        QJsonObject high = completionBody();
        high.insert(QStringLiteral("priority"), QStringLiteral("high"));
        const HttpResponse qh = call("POST", "/v1/quote", json(high), m_bob);
        QCOMPARE(qh.status, 200);
        QVERIFY(qh.json().value(QStringLiteral("cost_microcredits")).toInteger() > cost);

        // A chat body: its prompt is the rendered template, as the chat completion counts it.
        const QJsonObject chat{
            {QStringLiteral("model"), QStringLiteral("stories260K")},
            {QStringLiteral("messages"),
             QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                    {QStringLiteral("content"), QStringLiteral("Hi there")}}}},
            {QStringLiteral("max_completion_tokens"), 7}};
        const HttpResponse qc = call("POST", "/v1/quote", json(chat), m_bob);
        QCOMPARE(qc.status, 200);
        QCOMPARE(qc.json().value(QStringLiteral("prompt_tokens")).toInt(),
                 localPromptTokens(genericChatPrompt(QStringLiteral("Hi there"))));
        QCOMPARE(qc.json().value(QStringLiteral("max_tokens")).toInt(), 7);
        // Without max_tokens: the completions default (16).
        QJsonObject noMax = completionBody();
        noMax.remove(QStringLiteral("max_tokens"));
        QCOMPARE(
            call("POST", "/v1/quote", json(noMax), m_bob).json().value(QStringLiteral("max_tokens")).toInt(),
            16);

        // Errors as the other endpoints.
        QVERIFY2(errorProblems(call("POST", "/v1/quote", json(completionBody())), 401, {},
                               QStringLiteral("invalid_api_key"))
                     .isEmpty(),
                 "no key");
        const auto check = [&](const QByteArray& body, int status, const QString& param) {
            const HttpResponse r = call("POST", "/v1/quote", body, m_bob);
            const QString problems = errorProblems(r, status, param, {});
            QVERIFY2(problems.isEmpty(),
                     qPrintable(QString::fromUtf8(body) + QStringLiteral(": ") + problems));
        };
        check("{\"prompt\":\"a\"}", 400, QStringLiteral("model"));
        check("{\"model\":\"stories260K\"}", 400, QStringLiteral("prompt"));
        check("{\"model\":\"stories260K\",\"prompt\":\"a\",\"max_tokens\":0}", 400,
              QStringLiteral("max_tokens"));
        check("{\"model\":\"stories260K\",\"prompt\":\"a\",\"max_tokens\":100000}", 400,
              QStringLiteral("max_tokens"));
        check("{\"model\":\"stories260K\",\"prompt\":\"a\",\"messages\":[]}", 400,
              QStringLiteral("messages"));
        check("{\"model\":\"stories260K\",\"messages\":[{\"role\":\"x\"}]}", 400, QStringLiteral("messages"));
        check("{\"model\":\"nope\",\"prompt\":\"a\"}", 404, QStringLiteral("model"));
        check("not json", 400, {});
        QCOMPARE(call("GET", "/v1/quote", {}, m_bob).status, 405);
    }

    // docs/api.md's JavaScript example, run as written, prints local generation's text.
    void jsExampleFromDocsRuns() {
        const NpmInstall npm =
            npmInstall({QStringLiteral("openai"), QStringLiteral("parse-prometheus-text-format")},
                       QStringLiteral("parse-prometheus-text-format"));
        if (!npm.error.isEmpty())
            DECLAI_SKIP_MISSING("npm", npm.error);
        QFile example(QStringLiteral(DECLAI_SOURCE_DIR "/docs/api/examples/openai-js.cjs"));
        QFile doc(QStringLiteral(DECLAI_SOURCE_DIR "/docs/api.md"));
        QVERIFY(example.open(QIODevice::ReadOnly) && doc.open(QIODevice::ReadOnly));
        const QByteArray code = example.readAll();
        QVERIFY2(doc.readAll().contains(code.trimmed()),
                 "docs/api.md does not show docs/api/examples/openai-js.cjs as it is");
        QProcessEnvironment env = nodeEnvironment(npm.nodeModules, m_swarm->caFile());
        env.insert(QStringLiteral("DECLAI_API_KEY"), m_bob);
        const ProcessResult r =
            runProcess(QStringLiteral("node"),
                       {example.fileName(), QStringLiteral("https://127.0.0.1:%1/v1").arg(m_swarm->port())},
                       120000, env);
        QVERIFY2(r.exitCode == 0, qPrintable(QString::fromUtf8(r.err)));
        QCOMPARE(QString::fromUtf8(r.out),
                 localText(genericChatPrompt(QStringLiteral("Tell me a story.")), 24) + QLatin1Char('\n'));
    }

    void errorsAreOpenAiJson() {
        struct Case {
            const char* name;
            QByteArray method, path, body;
            QString key;
            int status;
            QString param, code;
        };
        const QString bad = QStringLiteral("dk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        auto with = [](QJsonObject o, const char* k, const QJsonValue& v) {
            if (v.isUndefined())
                o.remove(QLatin1String(k));
            else
                o.insert(QLatin1String(k), v);
            return json(o);
        };
        const QJsonObject chat{{QStringLiteral("model"), QStringLiteral("stories260K")},
                               {QStringLiteral("messages"),
                                QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                                       {QStringLiteral("content"), QStringLiteral("Hi")}}}}};
        const QList<Case> cases{
            {"no key",
             "POST",
             "/v1/completions",
             json(completionBody()),
             {},
             401,
             {},
             QStringLiteral("invalid_api_key")},
            {"unknown key",
             "POST",
             "/v1/completions",
             json(completionBody()),
             bad,
             401,
             {},
             QStringLiteral("invalid_api_key")},
            {"models without key", "GET", "/v1/models", {}, {}, 401, {}, QStringLiteral("invalid_api_key")},
            {"not json",
             "POST",
             "/v1/completions",
             "{\"model\": ",
             m_bob,
             400,
             {},
             QStringLiteral("invalid_json")},
            {"not an object",
             "POST",
             "/v1/completions",
             "[1,2]",
             m_bob,
             400,
             {},
             QStringLiteral("invalid_json")},
            {"no model",
             "POST",
             "/v1/completions",
             with(completionBody(), "model", QJsonValue::Undefined),
             m_bob,
             400,
             QStringLiteral("model"),
             {}},
            {"no prompt",
             "POST",
             "/v1/completions",
             with(completionBody(), "prompt", QJsonValue::Undefined),
             m_bob,
             400,
             QStringLiteral("prompt"),
             {}},
            {"temperature 3",
             "POST",
             "/v1/completions",
             with(completionBody(), "temperature", 3),
             m_bob,
             400,
             QStringLiteral("temperature"),
             {}},
            {"top_p 0",
             "POST",
             "/v1/completions",
             with(completionBody(), "top_p", 0),
             m_bob,
             400,
             QStringLiteral("top_p"),
             {}},
            {"max_tokens 0",
             "POST",
             "/v1/completions",
             with(completionBody(), "max_tokens", 0),
             m_bob,
             400,
             QStringLiteral("max_tokens"),
             {}},
            {"max_tokens 2.5",
             "POST",
             "/v1/completions",
             with(completionBody(), "max_tokens", 2.5),
             m_bob,
             400,
             QStringLiteral("max_tokens"),
             {}},
            {"beyond the context",
             "POST",
             "/v1/completions",
             with(completionBody(), "max_tokens", 100000),
             m_bob,
             400,
             QStringLiteral("max_tokens"),
             {}},
            {"n 2",
             "POST",
             "/v1/completions",
             with(completionBody(), "n", 2),
             m_bob,
             400,
             QStringLiteral("n"),
             {}},
            {"five stops",
             "POST",
             "/v1/completions",
             with(completionBody(), "stop",
                  QJsonArray{QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c"),
                             QStringLiteral("d"), QStringLiteral("e")}),
             m_bob,
             400,
             QStringLiteral("stop"),
             {}},
            {"stop not text",
             "POST",
             "/v1/completions",
             with(completionBody(), "stop", 5),
             m_bob,
             400,
             QStringLiteral("stop"),
             {}},
            {"seed not integer",
             "POST",
             "/v1/completions",
             with(completionBody(), "seed", QStringLiteral("x")),
             m_bob,
             400,
             QStringLiteral("seed"),
             {}},
            {"stream_options without stream",
             "POST",
             "/v1/completions",
             with(completionBody(), "stream_options", QJsonObject{{QStringLiteral("include_usage"), true}}),
             m_bob,
             400,
             QStringLiteral("stream_options"),
             {}},
            {"logprobs",
             "POST",
             "/v1/chat/completions",
             with(chat, "logprobs", true),
             m_bob,
             400,
             QStringLiteral("logprobs"),
             {}},
            {"no messages",
             "POST",
             "/v1/chat/completions",
             with(chat, "messages", QJsonArray{}),
             m_bob,
             400,
             QStringLiteral("messages"),
             {}},
            {"bad role",
             "POST",
             "/v1/chat/completions",
             with(chat, "messages",
                  QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("wizard")}}}),
             m_bob,
             400,
             QStringLiteral("messages"),
             {}},
            {"unknown model", "POST", "/v1/chat/completions", with(chat, "model", QStringLiteral("gpt-9")),
             m_bob, 404, QStringLiteral("model"), QStringLiteral("model_not_found")},
            {"unknown path", "GET", "/v1/engines", {}, m_bob, 404, {}, QStringLiteral("unknown_url")},
            {"wrong method",
             "GET",
             "/v1/completions",
             {},
             m_bob,
             405,
             {},
             QStringLiteral("method_not_allowed")},
            {"nodes for users", "GET", "/v1/nodes", {}, m_bob, 403, {}, QStringLiteral("permission_denied")},
        };
        for (const Case& c : cases) {
            const HttpResponse r = call(c.method, c.path, c.body, c.key);
            const QString problems = errorProblems(r, c.status, c.param, c.code);
            QVERIFY2(problems.isEmpty(), qPrintable(QLatin1String(c.name) + QStringLiteral(": ") + problems));
        }
        // The operator sees the nodes.
        const HttpResponse nodes = call("GET", "/v1/nodes", {}, m_alice);
        QCOMPARE(nodes.status, 200);
        QCOMPARE(nodes.json().value(QStringLiteral("data")).toArray().size(), 2);
    }

    // A body over --api-max-body-kib is refused from its Content-Length, before it is read: 413, error JSON.
    void bodyCapAnswers413() {
        QJsonObject big = completionBody();
        big.insert(QStringLiteral("prompt"), QString(20 * 1024, QLatin1Char('a')));
        const HttpResponse r = call("POST", "/v1/completions", json(big), m_bob);
        QVERIFY2(errorProblems(r, 413, {}, QStringLiteral("request_too_large")).isEmpty(),
                 qPrintable(errorProblems(r, 413, {}, QStringLiteral("request_too_large"))));
        // The gateway still answers.
        QCOMPARE(call("GET", "/healthz").status, 200);
    }

    // SSE on the wire: chunked text/event-stream, "data: <json>\n\n" per token, usage last, "data: [DONE]".
    void sseFramingOverRawHttp() {
        QJsonObject body{
            {QStringLiteral("model"), QStringLiteral("stories260K")},
            {QStringLiteral("messages"),
             QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                    {QStringLiteral("content"), QStringLiteral("Hi")}}}},
            {QStringLiteral("max_tokens"), kTokens},
            {QStringLiteral("temperature"), 0},
            {QStringLiteral("stream"), true},
            {QStringLiteral("stream_options"), QJsonObject{{QStringLiteral("include_usage"), true}}}};
        const HttpResponse r = call("POST", "/v1/chat/completions", json(body), m_bob);
        QVERIFY(r.complete);
        QCOMPARE(r.status, 200);
        QVERIFY2(r.header("content-type").startsWith("text/event-stream"),
                 r.header("content-type").constData());
        QCOMPARE(r.header("transfer-encoding"), QByteArray("chunked"));
        QCOMPARE(r.header("x-declai-chat-template"), QByteArray("generic"));
        QString framing;
        const QStringList events = sseData(r.body, &framing);
        QVERIFY2(framing.isEmpty(), qPrintable(framing));
        QVERIFY(events.size() >= kTokens + 3);
        QCOMPARE(events.last(), QStringLiteral("[DONE]"));
        QString text;
        QString finish;
        QJsonObject usage;
        for (int i = 0; i + 1 < events.size(); ++i) {
            const QJsonObject chunk = QJsonDocument::fromJson(events[i].toUtf8()).object();
            QCOMPARE(chunk.value(QStringLiteral("object")).toString(),
                     QStringLiteral("chat.completion.chunk"));
            QVERIFY(chunk.value(QStringLiteral("id")).toString().startsWith(QStringLiteral("chatcmpl-")));
            const QJsonArray choices = chunk.value(QStringLiteral("choices")).toArray();
            if (i == 0)
                QCOMPARE(choices[0]
                             .toObject()
                             .value(QStringLiteral("delta"))
                             .toObject()
                             .value(QStringLiteral("role"))
                             .toString(),
                         QStringLiteral("assistant"));
            for (const QJsonValue& c : choices) {
                text += c.toObject()
                            .value(QStringLiteral("delta"))
                            .toObject()
                            .value(QStringLiteral("content"))
                            .toString();
                if (c.toObject().value(QStringLiteral("finish_reason")).isString())
                    finish = c.toObject().value(QStringLiteral("finish_reason")).toString();
            }
            if (chunk.value(QStringLiteral("usage")).isObject()) {
                QCOMPARE(i, events.size() - 2); // usage comes last, in a chunk with no choices
                QVERIFY(choices.isEmpty());
                usage = chunk.value(QStringLiteral("usage")).toObject();
            } else {
                QVERIFY(chunk.value(QStringLiteral("usage")).isNull());
            }
        }
        QCOMPARE(text, localText(genericChatPrompt(QStringLiteral("Hi")), kTokens));
        QCOMPARE(finish, QStringLiteral("length"));
        QCOMPARE(usage.value(QStringLiteral("completion_tokens")).toInt(), kTokens);

        // Without include_usage the chunks carry no usage key at all.
        const HttpResponse plain = call("POST", "/v1/completions", json(completionBody(true)), m_bob);
        QCOMPARE(plain.status, 200);
        const QStringList plainEvents = sseData(plain.body, &framing);
        QVERIFY2(framing.isEmpty(), qPrintable(framing));
        QCOMPARE(plainEvents.last(), QStringLiteral("[DONE]"));
        QString plainText;
        for (int i = 0; i + 1 < plainEvents.size(); ++i) {
            const QJsonObject chunk = QJsonDocument::fromJson(plainEvents[i].toUtf8()).object();
            QVERIFY(!chunk.contains(QStringLiteral("usage")));
            QCOMPARE(chunk.value(QStringLiteral("object")).toString(), QStringLiteral("text_completion"));
            plainText += chunk.value(QStringLiteral("choices"))
                             .toArray()[0]
                             .toObject()
                             .value(QStringLiteral("text"))
                             .toString();
        }
        QCOMPARE(plainText, localText(kPrompt, kTokens));
    }

    // /openapi.json is the committed document, every documented path answers, and live answers fit it.
    void openApiDocumentMatchesLiveAnswers() {
        QFile file(QStringLiteral(DECLAI_SOURCE_DIR "/docs/api/openapi.yaml"));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray committed = file.readAll();
        const HttpResponse served = call("GET", "/openapi.json");
        QCOMPARE(served.status, 200);
        QCOMPARE(served.body, committed);
        const QJsonObject doc = QJsonDocument::fromJson(committed).object();
        QVERIFY(doc.value(QStringLiteral("openapi")).toString().startsWith(QStringLiteral("3.")));

        struct Live {
            QString path, method, status;
            HttpResponse answer;
        };
        QJsonObject chatBody{{QStringLiteral("model"), QStringLiteral("stories260K")},
                             {QStringLiteral("messages"),
                              QJsonArray{QJsonObject{{QStringLiteral("role"), QStringLiteral("user")},
                                                     {QStringLiteral("content"), QStringLiteral("Hi")}}}},
                             {QStringLiteral("max_tokens"), 4}};
        QString jobId; // a request of bob's, from his postings
        for (const QJsonValue& v : call("GET", "/v1/credits?limit=50", {}, m_bob)
                                       .json()
                                       .value(QStringLiteral("postings"))
                                       .toArray())
            if (jobId.isEmpty())
                jobId = v.toObject().value(QStringLiteral("job_id")).toString();
        QVERIFY(!jobId.isEmpty());
        const QList<Live> live{
            {QStringLiteral("/v1/models"), QStringLiteral("get"), QStringLiteral("200"),
             call("GET", "/v1/models", {}, m_bob)},
            {QStringLiteral("/v1/models"), QStringLiteral("get"), QStringLiteral("401"),
             call("GET", "/v1/models")},
            {QStringLiteral("/v1/completions"), QStringLiteral("post"), QStringLiteral("200"),
             call("POST", "/v1/completions", json(completionBody()), m_bob)},
            {QStringLiteral("/v1/completions"), QStringLiteral("post"), QStringLiteral("400"),
             call("POST", "/v1/completions", "{}", m_bob)},
            {QStringLiteral("/v1/chat/completions"), QStringLiteral("post"), QStringLiteral("200"),
             call("POST", "/v1/chat/completions", json(chatBody), m_bob)},
            {QStringLiteral("/v1/chat/completions"), QStringLiteral("post"), QStringLiteral("404"),
             call("POST", "/v1/chat/completions",
                  "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}", m_bob)},
            {QStringLiteral("/v1/quote"), QStringLiteral("post"), QStringLiteral("200"),
             call("POST", "/v1/quote", json(chatBody), m_bob)},
            {QStringLiteral("/v1/quote"), QStringLiteral("post"), QStringLiteral("400"),
             call("POST", "/v1/quote", "{}", m_bob)},
            {QStringLiteral("/v1/quote"), QStringLiteral("post"), QStringLiteral("404"),
             call("POST", "/v1/quote", "{\"model\":\"x\",\"prompt\":\"a\"}", m_bob)},
            {QStringLiteral("/v1/credits"), QStringLiteral("get"), QStringLiteral("200"),
             call("GET", "/v1/credits?limit=2", {}, m_bob)},
            {QStringLiteral("/v1/credits"), QStringLiteral("get"), QStringLiteral("400"),
             call("GET", "/v1/credits?limit=0", {}, m_bob)},
            {QStringLiteral("/v1/credits"), QStringLiteral("get"), QStringLiteral("401"),
             call("GET", "/v1/credits")},
            {QStringLiteral("/v1/jobs/{id}"), QStringLiteral("get"), QStringLiteral("200"),
             call("GET", "/v1/jobs/" + jobId.toUtf8(), {}, m_bob)},
            {QStringLiteral("/v1/jobs/{id}"), QStringLiteral("get"), QStringLiteral("404"),
             call("GET", "/v1/jobs/bm9uZQ", {}, m_bob)},
            {QStringLiteral("/v1/nodes/bind"), QStringLiteral("get"), QStringLiteral("200"),
             call("GET", "/v1/nodes/bind", {}, m_bob)},
            {QStringLiteral("/v1/nodes/bind"), QStringLiteral("post"),
             QStringLiteral("403"), // not bob's account
             call("POST", "/v1/nodes/bind", "{}", m_bob)},
            {QStringLiteral("/v1/accounts"), QStringLiteral("post"), QStringLiteral("403"),
             call("POST", "/v1/accounts", "{\"name\":\"zed\"}")},
            {QStringLiteral("/readyz"), QStringLiteral("get"), QStringLiteral("200"), call("GET", "/readyz")},
            {QStringLiteral("/v1/status"), QStringLiteral("get"), QStringLiteral("200"),
             call("GET", "/v1/status")},
            {QStringLiteral("/v1/nodes"), QStringLiteral("get"), QStringLiteral("200"),
             call("GET", "/v1/nodes", {}, m_alice)},
            {QStringLiteral("/v1/nodes"), QStringLiteral("get"), QStringLiteral("403"),
             call("GET", "/v1/nodes", {}, m_bob)},
        };
        for (const Live& l : live) {
            QCOMPARE(QString::number(l.answer.status), l.status);
            const QJsonObject schema = responseSchema(doc, l.path, l.method, l.status);
            QVERIFY2(!schema.isEmpty(),
                     qPrintable(QStringLiteral("no schema for %1 %2 %3").arg(l.method, l.path, l.status)));
            const QString problems = checkAgainstSchema(doc, schema, l.answer.json(), l.path);
            QVERIFY2(problems.isEmpty(), qPrintable(problems + QString::fromUtf8(l.answer.body.left(300))));
        }
        // Every documented path and method is served (not answered "no such endpoint" or "wrong method"), and
        // answers a documented status.
        const QJsonObject paths = doc.value(QStringLiteral("paths")).toObject();
        QCOMPARE(paths.size(), 14);
        for (auto it = paths.begin(); it != paths.end(); ++it) {
            QString path = it.key();
            path.replace(QStringLiteral("{id}"), QStringLiteral("bm9uZQ")); // a job id: "none" in base64url
            const QJsonObject methods = it.value().toObject();
            for (const QString& method : methods.keys()) {
                const bool post = method == QStringLiteral("post");
                const HttpResponse r =
                    call(post ? "POST" : "GET", path.toUtf8(), post ? "{}" : QByteArray(), m_alice);
                QVERIFY2(r.status != 405 &&
                             (r.status != 404 || r.json().value(QStringLiteral("error"))
                                                         .toObject()
                                                         .value(QStringLiteral("code"))
                                                         .toString() != QStringLiteral("unknown_url")),
                         qPrintable(method + QLatin1Char(' ') + path + QStringLiteral(": ") +
                                    QString::number(r.status)));
                QVERIFY2(methods.value(method)
                             .toObject()
                             .value(QStringLiteral("responses"))
                             .toObject()
                             .contains(QString::number(r.status)),
                         qPrintable(method + QLatin1Char(' ') + path +
                                    QStringLiteral(" answered an undocumented status %1").arg(r.status)));
            }
        }
    }

    void metricsDescribeTheSwarm() {
        const HttpResponse r = call("GET", "/metrics");
        QCOMPARE(r.status, 200);
        QVERIFY(r.header("content-type").startsWith("text/plain; version=0.0.4"));
        static const QRegularExpression sample(QStringLiteral(
            "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\",?)*\\})? [-+0-9.eE]+(Inf)?$"));
        for (const QByteArray& line : r.body.split('\n'))
            if (!line.isEmpty() && !line.startsWith('#'))
                QVERIFY2(sample.match(QString::fromUtf8(line)).hasMatch(), line.constData());
        QCOMPARE(metricValue(r.body, "declai_nodes_connected"), 2);
        QVERIFY(metricValue(r.body, "declai_tokens_generated_total") >= 4 * kTokens);
        QVERIFY(metricValue(r.body, "declai_time_to_first_token_seconds_count") >= 4);
        QVERIFY(metricValue(r.body, "declai_token_latency_seconds_count") >= 4);
        QVERIFY(metricValue(r.body, "declai_ledger_postings_total{kind=\"settle\"}") >= 4);
        QVERIFY(metricValue(r.body, "declai_relayed_bytes_total") > 0);
        QCOMPARE(metricValue(r.body, "declai_queue_depth{priority=\"normal\"}"), 0);
        QVERIFY(metricValue(r.body,
                            "declai_http_responses_total{route=\"/v1/completions\",status=\"200\"}") >= 2);
        QVERIFY(metricValue(r.body,
                            "declai_http_responses_total{route=\"/v1/completions\",status=\"400\"}") >= 1);
    }

    // --http-listen: the API on a port of its own, with the gateway's certificate, and nothing else there.
    void httpListenServesTheApiAlone() {
        const HttpResponse models = call("GET", "/v1/models", {}, m_bob, m_apiPort);
        QCOMPARE(models.status, 200);
        QCOMPARE(models.json().value(QStringLiteral("data")).toArray().size(), 1);
        const HttpResponse gen = call("POST", "/v1/completions", json(completionBody()), m_bob, m_apiPort);
        QCOMPARE(gen.status, 200);
        QCOMPARE(gen.json()
                     .value(QStringLiteral("choices"))
                     .toArray()[0]
                     .toObject()
                     .value(QStringLiteral("text"))
                     .toString(),
                 localText(kPrompt, kTokens));
        QCOMPARE(call("GET", "/", {}, {}, m_apiPort).status, 404); // no WebSocket front page here
        QCOMPARE(call("GET", "/v1/models/stories260K/manifest", {}, {}, m_apiPort).status,
                 404); // nor shard downloads
    }

    // 402 before anything runs or is held: a gateway whose accounts start with nothing.
    void insufficientCreditsAnswers402() {
        QString key;
        Swarm poor({QStringLiteral("--grant-credits"), QStringLiteral("0")},
                   [&](Swarm& s) { key = addUser(s, QStringLiteral("dan")); });
        QVERIFY(poor.waitForServer());
        const HttpResponse r =
            httpExchange(poor.port(), poor.caFile(),
                         httpRequest("POST", "/v1/completions", json(completionBody()), key.toUtf8()));
        QVERIFY2(errorProblems(r, 402, {}, QStringLiteral("insufficient_credits")).isEmpty(),
                 qPrintable(errorProblems(r, 402, {}, QStringLiteral("insufficient_credits"))));
        // A quote says so before anything is sent: 200 with sufficient false.
        const HttpResponse q =
            httpExchange(poor.port(), poor.caFile(),
                         httpRequest("POST", "/v1/quote", json(completionBody()), key.toUtf8()));
        QCOMPARE(q.status, 200);
        QCOMPARE(q.json().value(QStringLiteral("sufficient")).toBool(), false);
        QCOMPARE(q.json().value(QStringLiteral("available_microcredits")).toInteger(), 0);
        QVERIFY(q.json().value(QStringLiteral("cost_microcredits")).toInteger() > 0);
        QVERIFY(r.json()
                    .value(QStringLiteral("error"))
                    .toObject()
                    .value(QStringLiteral("message"))
                    .toString()
                    .contains(QStringLiteral("insufficient credits")));
    }

    // A slow swarm: a second request of the same account is rate limited (429, Retry-After); a client that
    // disconnects mid-stream stops the nodes at once and pays only for the tokens produced.
    void disconnectMidStreamStopsWorkAndCharge() {
        QString key;
        Swarm slow({QStringLiteral("--min-nodes"), QStringLiteral("1"),
                    QStringLiteral("--max-requests-per-account"), QStringLiteral("1")},
                   [&](Swarm& s) { key = addUser(s, QStringLiteral("erin")); });
        QVERIFY(slow.waitForServer());
        slow.addTestNode({QStringLiteral("--stage-delay-ms"), QStringLiteral("200")});
        QVERIFY(slow.waitForShards(1));
        constexpr int kMax = 60;
        QJsonObject body = completionBody(true);
        body.insert(QStringLiteral("max_tokens"), kMax);
        auto socket = connectTls(slow.port(), slow.caFile());
        QVERIFY(socket);
        socket->write(httpRequest("POST", "/v1/completions", json(body), key.toUtf8()));
        const QByteArray head = readUntil(
            *socket, [](const QByteArray& raw) { return raw.count("data: ") >= 3; }, 30000);
        QVERIFY2(head.count("data: ") >= 3, head.constData());

        const HttpResponse limited =
            httpExchange(slow.port(), slow.caFile(),
                         httpRequest("POST", "/v1/completions", json(completionBody()), key.toUtf8()));
        QVERIFY2(errorProblems(limited, 429, {}, QStringLiteral("rate_limit_exceeded")).isEmpty(),
                 qPrintable(errorProblems(limited, 429, {}, QStringLiteral("rate_limit_exceeded"))));
        QCOMPARE(limited.header("retry-after"), QByteArray("1"));

        socket->abort(); // the client is gone
        QElapsedTimer clock;
        clock.start();
        // The session ends at once (well before the ~12 s the remaining tokens would take)...
        QTRY_VERIFY_WITH_TIMEOUT(slow.status().value(QStringLiteral("sessions")).toArray().isEmpty(), 3000);
        const qint64 stoppedMs = clock.elapsed();
        // ...the node stops working on it...
        const auto served = [&] {
            return slow.status()
                .value(QStringLiteral("nodes"))
                .toArray()[0]
                .toObject()
                .value(QStringLiteral("stages_served"))
                .toInt();
        };
        const int before = served();
        QTest::qWait(1000);
        QCOMPARE(served(), before);
        // ...and only what was produced is charged.
        static const QRegularExpression charged(
            QStringLiteral("hold \\S+ \\(client left\\): charged (\\d+) microcredits for (\\d+) prompt \\+ "
                           "(\\d+) generated tokens"));
        QRegularExpressionMatch m;
        QTRY_VERIFY_WITH_TIMEOUT((m = charged.match(slow.log(QStringLiteral("server")))).hasMatch(), 10000);
        const int generated = m.captured(3).toInt();
        QVERIFY2(generated >= 3 && generated < kMax / 2, qPrintable(QString::number(generated)));
        QVERIFY(m.captured(1).toLongLong() > 0);
        qInfo("client left after %d of %d tokens; session gone %lld ms after the disconnect", generated, kMax,
              stoppedMs);
        const QByteArray metrics =
            httpExchange(slow.port(), slow.caFile(), httpRequest("GET", "/metrics")).body;
        QCOMPARE(
            metricValue(metrics, "declai_requests_ended_total{outcome=\"cancelled\",finish_reason=\"\"}"), 1);
        // Nobody was left to answer: counted as 499 (client closed), the 429 as itself.
        QCOMPARE(
            metricValue(metrics, "declai_http_responses_total{route=\"/v1/completions\",status=\"499\"}"), 1);
        QCOMPARE(
            metricValue(metrics, "declai_http_responses_total{route=\"/v1/completions\",status=\"429\"}"), 1);
    }
};

QTEST_GUILESS_MAIN(TestHttpApi)
#include "tst_http_api.moc"
