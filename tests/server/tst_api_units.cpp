// The HTTP API's pure parts, without a server: stop strings across token boundaries (StopMatcher), request
// checks that name the offending field (parseCompletionRequest), and chat prompts rendered with the model's
// template family (renderChatPrompt over declai/core/ChatTemplate.h) or the generic format.
#include "api/ApiOperations.h"
#include "api/ChatPrompt.h"
#include "api/CompletionsHandler.h"
#include "api/JsonRpcServer.h"
#include "api/StopMatcher.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace declai;
using namespace declai::server::api;

namespace {

std::string feed(StopMatcher& m, const std::vector<std::string>& pieces, bool* stopped) {
    std::string out;
    *stopped = false;
    for (const std::string& p : pieces) {
        const StopMatcher::Step step = m.push(p);
        out += step.text;
        if (step.stopped) {
            *stopped = true;
            return out;
        }
    }
    return out + m.flush();
}

const std::string kChatMl = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                            "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";

} // namespace

class TestApiUnits : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void stopAcrossTokens() {
        bool stopped = false;
        StopMatcher split({"e gi"});
        QCOMPARE(feed(split, {", there", " was a litt", "le", " g", "irl"}, &stopped),
                 std::string(", there was a littl"));
        QVERIFY(stopped);
        // A held-back prefix that does not complete is released, in order.
        StopMatcher none({"END"});
        QCOMPARE(feed(none, {"abc E", "N", "d E"}, &stopped), std::string("abc ENd E"));
        QVERIFY(!stopped);
        // The earliest of several stop strings wins; nothing after it is returned.
        StopMatcher two({"cat", "a c"});
        QCOMPARE(feed(two, {"I saw a cat"}, &stopped), std::string("I saw "));
        QVERIFY(stopped);
        // No stop strings: text passes through at once.
        StopMatcher off;
        QCOMPARE(off.push("abc").text, std::string("abc"));
    }

    void requestChecksNameTheField() {
        const auto noTemplate = [](const std::string&) { return std::string(); };
        struct Case {
            const char* body;
            bool chat;
            const char* param;
        };
        const Case cases[] = {
            {R"({"prompt":"x"})", false, "model"},
            {R"({"model":"m","prompt":1})", false, "prompt"},
            {R"({"model":"m","prompt":"x","temperature":-1})", false, "temperature"},
            {R"({"model":"m","prompt":"x","top_p":1.5})", false, "top_p"},
            {R"({"model":"m","prompt":"x","max_tokens":0})", false, "max_tokens"},
            {R"({"model":"m","prompt":"x","max_completion_tokens":"3"})", false, "max_completion_tokens"},
            {R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})", false, "stop"},
            {R"({"model":"m","prompt":"x","stop":[""]})", false, "stop"},
            {R"({"model":"m","prompt":"x","n":3})", false, "n"},
            {R"({"model":"m","prompt":"x","stream":"yes"})", false, "stream"},
            {R"({"model":"m","prompt":"x","frequency_penalty":0.5})", false, "frequency_penalty"},
            {R"({"model":"m","prompt":"x","echo":true})", false, "echo"},
            {R"({"model":"m","prompt":"x","priority":"urgent"})", false, "priority"},
            {R"({"model":"m","messages":[]})", true, "messages"},
            {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", true, "messages"},
            {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", true,
             "messages"},
            {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})",
             true, "tools"},
        };
        for (const Case& c : cases) {
            auto parsed = parseCompletionRequest(QByteArray(c.body), c.chat, noTemplate);
            QVERIFY2(std::holds_alternative<ApiError>(parsed), c.body);
            const ApiError& e = std::get<ApiError>(parsed);
            QCOMPARE(e.status, 400);
            QVERIFY2(e.param == QLatin1String(c.param),
                     qPrintable(QLatin1String(c.body) + QStringLiteral(" -> ") + e.param));
            QVERIFY(!e.message.isEmpty());
        }
        // A good request: OpenAI's defaults, the later max_completion_tokens wins, stop as a string.
        auto ok = parseCompletionRequest(
            R"({"model":"m","prompt":["x"],"max_tokens":5,"max_completion_tokens":7,"stop":"\n","seed":3,"stream":true,"stream_options":{"include_usage":true}})",
            false, noTemplate);
        QVERIFY(std::holds_alternative<CompletionParams>(ok));
        const CompletionParams& p = std::get<CompletionParams>(ok);
        QCOMPARE(p.maxTokens, 7u);
        QVERIFY(p.maxTokensGiven);
        QCOMPARE(p.stop, std::vector<std::string>{"\n"});
        QCOMPARE(p.sampler.seed, uint64_t(3));
        QCOMPARE(p.sampler.temperature, 1.0f);
        QCOMPARE(p.sampler.topK, 0);
        QVERIFY(p.stream && p.includeUsage);
        // Without max_tokens the default may shrink to fit the context.
        auto unset = parseCompletionRequest(R"({"model":"m","prompt":"x"})", false, noTemplate);
        QVERIFY(!std::get<CompletionParams>(unset).maxTokensGiven);
    }

    void chatUsesTheModelsTemplate() {
        const std::vector<ChatMessage> messages{{"developer", "Be brief."}, {"user", "Hi"}};
        auto generic = renderChatPrompt(messages, std::string());
        QVERIFY(generic);
        QCOMPARE(generic->family, QStringLiteral("generic"));
        QCOMPARE(generic->prompt, std::string("system: Be brief.\nuser: Hi\nassistant:"));
        auto chatml = renderChatPrompt(messages, kChatMl);
        QVERIFY(chatml);
        QCOMPARE(chatml->family, QStringLiteral("chatml"));
        // The same bytes as the core renderer (tested against llama.cpp there), "developer" as "system".
        const std::vector<ChatMessage> asSystem{{"system", "Be brief."}, {"user", "Hi"}};
        QCOMPARE(chatml->prompt, *renderChat(ChatFamily::ChatMl, asSystem, true));
        QVERIFY(!chatml->markup.empty());
        // Through the request parser: the family travels with the prompt.
        auto parsed = parseCompletionRequest(
            R"({"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]})",
            true, [](const std::string&) { return kChatMl; });
        QCOMPARE(std::get<CompletionParams>(parsed).chatTemplateFamily, QStringLiteral("chatml"));
        QCOMPARE(std::get<CompletionParams>(parsed).prompt, chatml->prompt);
    }

    // JSON-RPC framing (JsonRpcServer's parser): any bytes give a call or the right error object.
    void jsonRpcMessagesAreChecked() {
        struct Case {
            QByteArray message;
            int code; // 0: a call
        };
        const QList<Case> cases{
            {R"({"jsonrpc":"2.0","id":1,"method":"quote","params":{"model":"m"}})", 0},
            {R"({"jsonrpc":"2.0","id":"a","method":"balance"})", 0},
            {R"({"jsonrpc":"2.0","method":"cancel","params":{"id":3}})", 0},
            {"", kRpcParseError},
            {"\xff\xfe", kRpcParseError},
            {"{", kRpcParseError},
            {QByteArray(3000, '['), kRpcParseError},
            {"[]", kRpcInvalidRequest},
            {R"([{"jsonrpc":"2.0","id":1,"method":"balance"}])", kRpcInvalidRequest},
            {"7", kRpcInvalidRequest},
            {R"({"id":1,"method":"balance"})", kRpcInvalidRequest},
            {R"({"jsonrpc":2,"id":1,"method":"balance"})", kRpcInvalidRequest},
            {R"({"jsonrpc":"2.0","id":true,"method":"balance"})", kRpcInvalidRequest},
            {R"({"jsonrpc":"2.0","id":1e300,"method":"balance"})", kRpcInvalidRequest},
            {R"({"jsonrpc":"2.0","id":1,"method":""})", kRpcInvalidRequest},
            {R"({"jsonrpc":"2.0","id":1,"method":"quote","params":"x"})", kRpcInvalidParams},
            {R"({"jsonrpc":"2.0","id":1,"method":"quote","params":[1]})", kRpcInvalidParams},
        };
        for (const Case& c : cases) {
            auto parsed = parseRpcMessage(c.message);
            if (c.code == 0) {
                QVERIFY2(std::holds_alternative<RpcCall>(parsed), c.message.constData());
                continue;
            }
            QVERIFY2(std::holds_alternative<RpcError>(parsed), c.message.left(60).constData());
            QVERIFY2(std::get<RpcError>(parsed).code == c.code,
                     qPrintable(QString::fromUtf8(c.message.left(60)) + QStringLiteral(": ") +
                                QString::number(std::get<RpcError>(parsed).code)));
            const QJsonObject answer = rpcErrorResponse(std::get<RpcError>(parsed));
            QCOMPARE(answer.value(QStringLiteral("jsonrpc")).toString(), QStringLiteral("2.0"));
            QVERIFY(answer.contains(QStringLiteral("id")));
        }
        // The id of a well-formed call with a bad version is echoed; a bad id is answered with null.
        QCOMPARE(std::get<RpcError>(parseRpcMessage(R"({"jsonrpc":"1.0","id":5,"method":"x"})")).id,
                 QJsonValue(5));
        QCOMPARE(std::get<RpcError>(parseRpcMessage(R"({"jsonrpc":"2.0","id":[1],"method":"x"})")).id,
                 QJsonValue(QJsonValue::Null));
        // A notification has no id.
        QVERIFY(
            std::get<RpcCall>(parseRpcMessage(R"({"jsonrpc":"2.0","method":"cancel"})")).id.isUndefined());
        // HTTP statuses -> JSON-RPC codes (docs/api.md).
        QCOMPARE(rpcCodeOf(400), kRpcInvalidParams);
        QCOMPARE(rpcCodeOf(401), -32001);
        QCOMPARE(rpcCodeOf(402), -32002);
        QCOMPARE(rpcCodeOf(404), -32004);
        QCOMPARE(rpcCodeOf(429), -32029);
        QCOMPARE(rpcCodeOf(499), kRpcCancelled);
        QCOMPARE(rpcCodeOf(503), -32050);
        QCOMPARE(rpcCodeOf(500), kRpcInternalError);
    }

    // A quote's or JSON-RPC call's body: prompt or messages, not both, not neither.
    void anyCompletionBodyNamesTheField() {
        const auto param = [](const char* body) {
            auto parsed = parseAnyCompletionParams(QJsonDocument::fromJson(body).object(),
                                                   [](const std::string&) { return std::string(); });
            return std::holds_alternative<ApiError>(parsed) ? std::get<ApiError>(parsed).param
                                                            : QStringLiteral("<accepted>");
        };
        QCOMPARE(param(R"({"model":"m","prompt":"a"})"), QStringLiteral("<accepted>"));
        QCOMPARE(param(R"({"model":"m","messages":[{"role":"user","content":"a"}]})"),
                 QStringLiteral("<accepted>"));
        QCOMPARE(param(R"({"model":"m"})"), QStringLiteral("prompt"));
        QCOMPARE(param(R"({"model":"m","prompt":"a","messages":[]})"), QStringLiteral("messages"));
        QCOMPARE(param(R"({"prompt":"a"})"), QStringLiteral("model"));
    }
};

QTEST_GUILESS_MAIN(TestApiUnits)
#include "tst_api_units.moc"
