// The HTTP API's pure parts, without a server: stop strings across token boundaries (StopMatcher), request
// checks that name the offending field (parseCompletionRequest), and chat prompts rendered with the model's
// template family (renderChatPrompt over declai/core/ChatTemplate.h) or the generic format.
#include "api/ChatPrompt.h"
#include "api/CompletionsHandler.h"
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
};

QTEST_GUILESS_MAIN(TestApiUnits)
#include "tst_api_units.moc"
