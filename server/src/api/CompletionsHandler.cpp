#include "CompletionsHandler.h"

#include "MetricsRegistry.h"
#include "SseWriter.h"
#include "declai/server/Orchestrator.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QPointer>
#include <QRandomGenerator>
#include <cmath>

namespace declai::server::api {
namespace {

constexpr uint32_t kDefaultCompletionTokens = 16; // OpenAI's default for /v1/completions
constexpr uint32_t kDefaultChatTokens = 256;      // chat has no OpenAI default short of the context
constexpr int kMaxStops = 4;

bool isInteger(const QJsonValue& v) {
    if (!v.isDouble())
        return false;
    const double d = v.toDouble();
    return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15;
}

// Content of a chat message: a string, or an array of {"type": "text", "text": ...} parts.
std::optional<std::string> messageText(const QJsonValue& content) {
    if (content.isString())
        return content.toString().toStdString();
    if (content.isNull() || content.isUndefined())
        return std::string();
    if (!content.isArray())
        return std::nullopt;
    std::string out;
    for (const QJsonValue& part : content.toArray()) {
        const QJsonObject o = part.toObject();
        if (o.value(QStringLiteral("type")).toString() != QStringLiteral("text") ||
            !o.value(QStringLiteral("text")).isString())
            return std::nullopt;
        out += o.value(QStringLiteral("text")).toString().toStdString();
    }
    return out;
}

QJsonObject usageJson(const SessionStats& s) {
    return QJsonObject{{QStringLiteral("prompt_tokens"), qint64(s.promptTokens)},
                       {QStringLiteral("completion_tokens"), qint64(s.generatedTokens)},
                       {QStringLiteral("total_tokens"), qint64(s.promptTokens) + qint64(s.generatedTokens)}};
}

} // namespace

ApiError refusalError(const SubmitRefused& r) {
    ApiError e;
    e.message = QString::fromStdString(r.message);
    e.param = QString::fromStdString(r.field);
    switch (r.kind) {
    case SubmitRefusal::InvalidRequest:
        e.status = 400;
        e.code = QStringLiteral("invalid_value");
        break;
    case SubmitRefusal::UnknownModel:
        e.status = 404;
        e.code = QStringLiteral("model_not_found");
        break;
    case SubmitRefusal::InsufficientCredits:
        e.status = 402;
        e.type = QStringLiteral("insufficient_credits");
        e.code = QStringLiteral("insufficient_credits");
        break;
    case SubmitRefusal::RateLimited:
        e.status = 429;
        e.type = QStringLiteral("rate_limit_error");
        e.code = QStringLiteral("rate_limit_exceeded");
        e.retryAfterS = 1;
        break;
    case SubmitRefusal::NoCapacity:
        e.status = 503;
        e.type = QStringLiteral("service_unavailable");
        e.code = QStringLiteral("no_capacity");
        e.retryAfterS = 5;
        break;
    case SubmitRefusal::Internal:
        e.status = 500;
        e.type = QStringLiteral("server_error");
        break;
    }
    return e;
}

SubmitRequest submitRequestOf(const CompletionParams& params, const ApiIdentity& caller,
                              std::string connectionId, uint64_t requestId) {
    SubmitRequest request;
    request.account = caller.account;
    request.keyId = caller.keyId;
    request.connectionId = std::move(connectionId);
    request.requestId = requestId;
    request.model = params.model;
    request.prompt = params.prompt;
    if (params.chat)
        request.promptMarkup = params.promptMarkup;
    request.maxTokens = params.maxTokens;
    request.fitMaxTokensToContext = !params.maxTokensGiven;
    request.sampler = params.sampler;
    request.priority = params.priority;
    request.refuseWithoutCapacity = true;
    return request;
}

std::variant<QJsonObject, ApiError> parseJsonObject(const QByteArray& body) {
    QJsonParseError parseError{};
    const QJsonDocument doc = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return invalidRequest(QStringLiteral("the request body is not valid JSON (%1 at byte %2)")
                                  .arg(parseError.errorString())
                                  .arg(parseError.offset),
                              {}, QStringLiteral("invalid_json"));
    if (!doc.isObject())
        return invalidRequest(QStringLiteral("the request body must be a JSON object"), {},
                              QStringLiteral("invalid_json"));
    return doc.object();
}

std::variant<CompletionParams, ApiError>
parseCompletionRequest(const QByteArray& body, bool chat,
                       const std::function<std::string(const std::string&)>& templateOf) {
    auto object = parseJsonObject(body);
    if (auto* error = std::get_if<ApiError>(&object))
        return *error;
    return parseCompletionParams(std::get<QJsonObject>(object), chat, templateOf);
}

std::variant<CompletionParams, ApiError>
parseCompletionParams(const QJsonObject& o, bool chat,
                      const std::function<std::string(const std::string&)>& templateOf) {
    auto has = [&o](const char* key) {
        const QJsonValue v = o.value(QLatin1String(key));
        return !v.isUndefined() && !v.isNull();
    };
    auto bad = [](const char* field, const QString& message) {
        return invalidRequest(message, QString::fromLatin1(field));
    };
    CompletionParams p;
    p.chat = chat;

    if (!o.value(QStringLiteral("model")).isString() || o.value(QStringLiteral("model")).toString().isEmpty())
        return bad("model", QStringLiteral("'model' is required: a model name from GET /v1/models"));
    p.model = o.value(QStringLiteral("model")).toString().toStdString();

    if (chat) {
        const QJsonValue messages = o.value(QStringLiteral("messages"));
        if (!messages.isArray() || messages.toArray().isEmpty())
            return bad("messages", QStringLiteral("'messages' must be a non-empty array of messages"));
        std::vector<ChatMessage> list;
        int index = 0;
        for (const QJsonValue& m : messages.toArray()) {
            const QJsonObject mo = m.toObject();
            const QString role = mo.value(QStringLiteral("role")).toString();
            static const QStringList roles{QStringLiteral("system"), QStringLiteral("developer"),
                                           QStringLiteral("user"), QStringLiteral("assistant")};
            if (!m.isObject() || !roles.contains(role))
                return bad("messages", QStringLiteral("messages[%1].role must be one of %2")
                                           .arg(index)
                                           .arg(roles.join(QStringLiteral(", "))));
            auto text = messageText(mo.value(QStringLiteral("content")));
            if (!text)
                return bad("messages", QStringLiteral("messages[%1].content must be a string or an array of "
                                                      "text parts")
                                           .arg(index));
            list.push_back(ChatMessage{role.toStdString(), std::move(*text)});
            ++index;
        }
        auto rendered = renderChatPrompt(list, templateOf(p.model));
        if (!rendered)
            return bad("messages", QString::fromStdString(rendered.error().message));
        p.prompt = std::move(rendered->prompt);
        p.promptMarkup = std::move(rendered->markup);
        p.chatTemplateFamily = rendered->family;
    } else {
        QJsonValue prompt = o.value(QStringLiteral("prompt"));
        if (prompt.isArray() && prompt.toArray().size() == 1 && prompt.toArray().first().isString())
            prompt = prompt.toArray().first();
        if (!prompt.isString())
            return bad("prompt", QStringLiteral("'prompt' must be a string (or an array of one string)"));
        p.prompt = prompt.toString().toStdString();
        if (has("echo") && o.value(QStringLiteral("echo")).toBool())
            return bad("echo", QStringLiteral("echo is not supported"));
        if (has("suffix") && !o.value(QStringLiteral("suffix")).toString().isEmpty())
            return bad("suffix", QStringLiteral("suffix is not supported"));
        if (has("best_of") && !(isInteger(o.value(QStringLiteral("best_of"))) &&
                                o.value(QStringLiteral("best_of")).toInteger() == 1))
            return bad("best_of", QStringLiteral("best_of must be 1"));
    }

    p.maxTokens = chat ? kDefaultChatTokens : kDefaultCompletionTokens;
    for (const char* field : {"max_tokens", "max_completion_tokens"}) {
        if (!has(field))
            continue;
        const QJsonValue v = o.value(QLatin1String(field));
        if (!isInteger(v) || v.toInteger() < 1 || v.toInteger() > 1000000)
            return bad(field,
                       QStringLiteral("%1 must be an integer from 1 to 1000000").arg(QLatin1String(field)));
        p.maxTokens = static_cast<uint32_t>(v.toInteger()); // max_completion_tokens (later) wins
        p.maxTokensGiven = true;
    }

    // OpenAI's sampling: temperature then nucleus; no top-k or min-p unless asked (they are not OpenAI's).
    p.sampler = SamplerConfig{};
    p.sampler.topK = 0;
    p.sampler.minP = 0;
    p.sampler.temperature = 1.0f;
    p.sampler.topP = 1.0f;
    if (has("temperature")) {
        const QJsonValue v = o.value(QStringLiteral("temperature"));
        if (!v.isDouble() || v.toDouble() < 0 || v.toDouble() > 2)
            return bad("temperature", QStringLiteral("temperature must be a number from 0 to 2"));
        p.sampler.temperature = static_cast<float>(v.toDouble());
    }
    if (has("top_p")) {
        const QJsonValue v = o.value(QStringLiteral("top_p"));
        // Checked as the float the sampler gets: a positive double below float's range becomes 0.
        const float topP = static_cast<float>(v.toDouble());
        if (!v.isDouble() || !(topP > 0.0f && topP <= 1.0f))
            return bad("top_p", QStringLiteral("top_p must be a number in (0, 1]"));
        p.sampler.topP = topP;
    }
    if (has("seed")) {
        const QJsonValue v = o.value(QStringLiteral("seed"));
        if (!isInteger(v))
            return bad("seed", QStringLiteral("seed must be an integer"));
        p.sampler.seed = static_cast<uint64_t>(v.toInteger());
    } else {
        p.sampler.seed = QRandomGenerator::global()->generate64();
    }
    if (has("stop")) {
        const QJsonValue v = o.value(QStringLiteral("stop"));
        QJsonArray stops;
        if (v.isString())
            stops.append(v);
        else if (v.isArray())
            stops = v.toArray();
        else
            return bad("stop", QStringLiteral("stop must be a string or an array of strings"));
        if (stops.size() > kMaxStops)
            return bad("stop", QStringLiteral("stop takes at most %1 strings").arg(kMaxStops));
        for (const QJsonValue& s : stops) {
            if (!s.isString() || s.toString().isEmpty())
                return bad("stop", QStringLiteral("each stop must be a non-empty string"));
            p.stop.push_back(s.toString().toStdString());
        }
    }
    if (has("n") &&
        !(isInteger(o.value(QStringLiteral("n"))) && o.value(QStringLiteral("n")).toInteger() == 1))
        return bad("n", QStringLiteral("n must be 1: one choice per request"));
    if (has("stream")) {
        if (!o.value(QStringLiteral("stream")).isBool())
            return bad("stream", QStringLiteral("stream must be true or false"));
        p.stream = o.value(QStringLiteral("stream")).toBool();
    }
    if (has("stream_options")) {
        if (!p.stream)
            return bad("stream_options", QStringLiteral("stream_options is only allowed with stream: true"));
        const QJsonValue v = o.value(QStringLiteral("stream_options"));
        if (!v.isObject())
            return bad("stream_options", QStringLiteral("stream_options must be an object"));
        const QJsonValue usage = v.toObject().value(QStringLiteral("include_usage"));
        if (!usage.isUndefined() && !usage.isNull() && !usage.isBool())
            return bad("stream_options",
                       QStringLiteral("stream_options.include_usage must be true or false"));
        p.includeUsage = usage.toBool();
    }
    for (const char* field : {"presence_penalty", "frequency_penalty"})
        if (has(field) && o.value(QLatin1String(field)).toDouble() != 0)
            return bad(field, QStringLiteral("%1 is not supported (only 0)").arg(QLatin1String(field)));
    if (has("logprobs") &&
        !(o.value(QStringLiteral("logprobs")).isBool() && !o.value(QStringLiteral("logprobs")).toBool()))
        return bad("logprobs", QStringLiteral("logprobs are not supported"));
    if (has("logit_bias") && !o.value(QStringLiteral("logit_bias")).toObject().isEmpty())
        return bad("logit_bias", QStringLiteral("logit_bias is not supported"));
    if (has("tools") && !o.value(QStringLiteral("tools")).toArray().isEmpty())
        return bad("tools", QStringLiteral("tools are not supported"));
    if (has("response_format") &&
        o.value(QStringLiteral("response_format")).toObject().value(QStringLiteral("type")).toString() !=
            QStringLiteral("text"))
        return bad("response_format",
                   QStringLiteral("only response_format {\"type\": \"text\"} is supported"));
    if (has("priority")) { // DeCLAI's extension: low, normal or high (high costs more)
        auto priority = priorityFromName(o.value(QStringLiteral("priority")).toString().toStdString());
        if (!priority)
            return bad("priority", QStringLiteral("priority must be low, normal or high"));
        p.priority = *priority;
    }
    return p;
}

void HttpCompletionSink::chunk(const QJsonObject& chunk) {
    m_sse.event(chunk);
}

void HttpCompletionSink::completed(const QJsonObject& completion) {
    if (m_stream)
        m_sse.done();
    else
        m_reply.sendJson(200, completion, m_headers);
}

void HttpCompletionSink::failed(const ApiError& error) {
    if (m_sse.started())
        m_sse.fail(errorJson(error));
    else
        m_reply.sendError(error, m_headers);
}

struct CompletionsHandler::Call {
    uint64_t id = 0;
    CompletionParams params;
    std::unique_ptr<CompletionSink> sink;
    StopMatcher stop;
    QString route;
    QString responseId;
    qint64 created = 0;
    uint64_t sessionId = 0; // known from submit() on, before the decision
    bool decided = false;   // accepted by the orchestrator (its hold is in the ledger)
    bool ended = false;
    bool stopMatched = false;
    bool cancelled = false; // by its caller (JSON-RPC cancel), who is still there to be answered
    bool roleSent = false;
    std::string text; // the answer so far
    QMetaObject::Connection gone1, gone2;

    Call(CompletionParams p, std::unique_ptr<CompletionSink> s)
        : params(std::move(p)), sink(std::move(s)), stop(params.stop) {}

    QJsonObject chunk(const QJsonObject& choice) const {
        QJsonObject o{{QStringLiteral("id"), responseId},
                      {QStringLiteral("object"), params.chat ? QStringLiteral("chat.completion.chunk")
                                                             : QStringLiteral("text_completion")},
                      {QStringLiteral("created"), created},
                      {QStringLiteral("model"), QString::fromStdString(params.model)},
                      {QStringLiteral("choices"), choice.isEmpty() ? QJsonArray() : QJsonArray{choice}}};
        if (params.includeUsage)
            o.insert(QStringLiteral("usage"), QJsonValue::Null);
        return o;
    }
    QJsonObject textChoice(const std::string& piece, const QJsonValue& finishReason) {
        QJsonObject c{{QStringLiteral("index"), 0},
                      {QStringLiteral("logprobs"), QJsonValue::Null},
                      {QStringLiteral("finish_reason"), finishReason}};
        if (params.chat) {
            QJsonObject delta;
            if (!roleSent) {
                delta.insert(QStringLiteral("role"), QStringLiteral("assistant"));
                roleSent = true;
            }
            if (!piece.empty() || finishReason.isNull())
                delta.insert(QStringLiteral("content"), QString::fromStdString(piece));
            c.insert(QStringLiteral("delta"), delta);
        } else {
            c.insert(QStringLiteral("text"), QString::fromStdString(piece));
        }
        return c;
    }
    void emitText(const std::string& piece) {
        if (piece.empty())
            return;
        text += piece;
        if (params.stream)
            sink->chunk(chunk(textChoice(piece, QJsonValue::Null)));
    }
};

CompletionsHandler::CompletionsHandler(Orchestrator& orchestrator, MetricsRegistry& metrics,
                                       std::function<std::string(const std::string&)> templateOf,
                                       QObject* parent)
    : QObject(parent), m_orchestrator(orchestrator), m_metrics(metrics), m_templateOf(std::move(templateOf)) {
}

CompletionsHandler::~CompletionsHandler() {
    // The gateway is going down: cancelled requests still settle what they produced.
    std::vector<uint64_t> sessions;
    for (auto& [id, call] : m_calls) {
        QObject::disconnect(call->gone1);
        QObject::disconnect(call->gone2);
        if (!call->ended && call->sessionId)
            sessions.push_back(call->sessionId);
        call->ended = true;
    }
    for (uint64_t s : sessions)
        m_orchestrator.cancel(s, QStringLiteral("the gateway is shutting down"));
}

CompletionsHandler::Call* CompletionsHandler::find(uint64_t id) {
    auto it = m_calls.find(id);
    return it == m_calls.end() ? nullptr : it->second.get();
}

void CompletionsHandler::handle(const QByteArray& body, bool chat, const ApiIdentity& caller, HttpReply reply,
                                const QString& route) {
    auto parsed = parseCompletionRequest(body, chat, m_templateOf);
    if (auto* error = std::get_if<ApiError>(&parsed)) {
        reply.sendError(*error);
        m_metrics.httpAnswered(route, error->status);
        return;
    }
    CompletionParams params = std::move(std::get<CompletionParams>(parsed));
    HeaderList headers;
    if (chat)
        headers.append({QByteArrayLiteral("X-DeCLAI-Chat-Template"), params.chatTemplateFamily.toUtf8()});
    QPointer<QTcpSocket> socket = reply.socket();
    auto sink = std::make_unique<HttpCompletionSink>(std::move(reply), headers, params.stream);
    HttpCompletionSink* httpSink = sink.get();
    const uint64_t id = start(std::move(params), caller, {}, std::move(sink), route);
    Call* call = find(id);
    if (!call || call->ended)
        return;
    if (socket) {
        // The client left (or the front door closed an idle connection): stop the generation now.
        call->gone1 = connect(socket, &QAbstractSocket::disconnected, this, [this, id] { clientGone(id); });
        call->gone2 = connect(socket, &QObject::destroyed, this, [this, id] { clientGone(id); });
    }
    if (!httpSink->connected())
        clientGone(id);
}

uint64_t CompletionsHandler::start(CompletionParams params, const ApiIdentity& caller,
                                   std::string connectionId, std::unique_ptr<CompletionSink> sink,
                                   const QString& route) {
    const uint64_t id = m_nextId++;
    const bool chat = params.chat;
    auto owned = std::make_unique<Call>(std::move(params), std::move(sink));
    Call* call = owned.get();
    call->id = id;
    call->route = route;
    call->created = QDateTime::currentSecsSinceEpoch();
    call->responseId = (chat ? QStringLiteral("chatcmpl-") : QStringLiteral("cmpl-")) +
                       QString::number(QRandomGenerator::global()->generate64(), 16);
    m_calls[id] = std::move(owned);

    // Without a connection of its own (HTTP): one request per exchange.
    if (connectionId.empty())
        connectionId = "http-" + std::to_string(id);
    SubmitRequest request = submitRequestOf(call->params, caller, std::move(connectionId), id);
    SubmitCallbacks callbacks;
    // All run on the gateway thread: the decision inside submit() or once the ledger placed the hold, the
    // others from inside the session; `ended` after settlement, so possibly after this handler is gone. The
    // call may be gone by then (finishCall): find() says so.
    QPointer<CompletionsHandler> self(this);
    callbacks.decided = [self, id](const SubmitDecision& decision) {
        if (self)
            self->onDecided(id, decision);
    };
    callbacks.token = [self, id](int32_t, const std::string& text) {
        if (self)
            self->onToken(id, text);
    };
    callbacks.ended = [self, id](const SubmitEnd& end) {
        if (self)
            self->onEnded(id, end);
    };
    const uint64_t sessionId = m_orchestrator.submit(std::move(request), std::move(callbacks));
    if (Call* still = find(id); still && !still->ended && sessionId != 0)
        still->sessionId = sessionId; // else refused (or already ended) inside submit()
    return id;
}

void CompletionsHandler::onDecided(uint64_t id, const SubmitDecision& decision) {
    Call* call = find(id);
    if (!call || call->ended)
        return;
    if (const auto* refused = std::get_if<SubmitRefused>(&decision)) {
        const ApiError error = refusalError(*refused);
        call->ended = true;
        call->sink->failed(error);
        return finishCall(id, error.status);
    }
    call->decided = true;
    call->sessionId = std::get<SubmitAccepted>(decision).sessionId;
}

void CompletionsHandler::endUndecided(uint64_t id, const QString& reason) {
    Call* call = find(id);
    if (!call || call->ended)
        return;
    // The orchestrator releases the hold when it lands and never decides this request: answer it here.
    m_orchestrator.cancel(call->sessionId, reason);
    call->ended = true;
    if (!call->cancelled || !call->sink->connected())
        return finishCall(id, 499);
    ApiError error;
    error.status = 499;
    error.type = QStringLiteral("cancelled");
    error.code = QStringLiteral("cancelled");
    error.message = QStringLiteral("cancelled by the caller before it started");
    call->sink->failed(error);
    finishCall(id, error.status);
}

bool CompletionsHandler::active(uint64_t id) const {
    auto it = m_calls.find(id);
    return it != m_calls.end() && !it->second->ended;
}

bool CompletionsHandler::cancel(uint64_t id, const QString& reason) {
    Call* call = find(id);
    if (!call || call->ended || !call->sessionId)
        return false;
    call->cancelled = true;
    if (!call->decided) {
        endUndecided(id, reason);
        return true;
    }
    m_orchestrator.cancel(call->sessionId, reason);
    return true;
}

void CompletionsHandler::onToken(uint64_t id, const std::string& text) {
    Call* call = find(id);
    if (!call || call->ended || call->stopMatched)
        return;
    StopMatcher::Step step = call->stop.push(text);
    call->emitText(step.text);
    if (step.stopped) {
        call->stopMatched = true;
        // Ends the session from inside its token callback; it charges what was produced and calls onEnded.
        if (call->sessionId)
            m_orchestrator.cancel(call->sessionId, QStringLiteral("a stop sequence matched"));
    }
}

void CompletionsHandler::clientGone(uint64_t id) {
    Call* call = find(id);
    if (!call || call->ended || !call->sessionId)
        return;
    qInfo("API request %llu: the client left; cancelling its generation",
          static_cast<unsigned long long>(id));
    if (!call->decided)
        return endUndecided(id, QStringLiteral("the client disconnected"));
    m_orchestrator.cancel(call->sessionId, QStringLiteral("the client disconnected"));
}

void CompletionsHandler::onEnded(uint64_t id, const SubmitEnd& end) {
    Call* call = find(id);
    if (!call || call->ended)
        return;
    call->ended = true;
    const SessionStats& stats = end.stats;
    if (end.failed && !call->stopMatched) {
        if (!call->sink->connected())
            return finishCall(id, 499); // the client left first: nobody to answer (nginx's "client closed")
        ApiError error;
        if (call->cancelled) {
            error.status = 499;
            error.type = QStringLiteral("cancelled");
            error.code = QStringLiteral("cancelled");
            error.message =
                QStringLiteral("cancelled by the caller after %1 token(s)").arg(stats.generatedTokens);
        } else {
            error.status = 503;
            error.type = QStringLiteral("service_unavailable");
            error.code = QStringLiteral("generation_failed");
            error.message = QString::fromStdString(end.reason);
            error.retryAfterS = 5;
        }
        if (end.costMicrocredits > 0)
            error.message +=
                QStringLiteral(" (charged for the %1 token(s) produced)").arg(stats.generatedTokens);
        call->sink->failed(error);
        return finishCall(id, error.status);
    }
    if (!call->stopMatched) {
        StopMatcher::Step step = call->stop.push(end.tail);
        call->emitText(step.text);
        if (step.stopped)
            call->stopMatched = true;
        else
            call->emitText(call->stop.flush());
    }
    const QString finishReason =
        call->stopMatched ? QStringLiteral("stop") : QString::fromStdString(end.reason);
    if (call->params.stream) {
        call->sink->chunk(call->chunk(call->textChoice({}, finishReason)));
        if (call->params.includeUsage) {
            QJsonObject last = call->chunk({});
            last.insert(QStringLiteral("usage"), usageJson(stats));
            call->sink->chunk(last);
        }
    }
    QJsonObject choice{{QStringLiteral("index"), 0},
                       {QStringLiteral("logprobs"), QJsonValue::Null},
                       {QStringLiteral("finish_reason"), finishReason}};
    if (call->params.chat)
        choice.insert(QStringLiteral("message"),
                      QJsonObject{{QStringLiteral("role"), QStringLiteral("assistant")},
                                  {QStringLiteral("content"), QString::fromStdString(call->text)}});
    else
        choice.insert(QStringLiteral("text"), QString::fromStdString(call->text));
    call->sink->completed(
        QJsonObject{{QStringLiteral("id"), call->responseId},
                    {QStringLiteral("object"), call->params.chat ? QStringLiteral("chat.completion")
                                                                 : QStringLiteral("text_completion")},
                    {QStringLiteral("created"), call->created},
                    {QStringLiteral("model"), QString::fromStdString(call->params.model)},
                    {QStringLiteral("choices"), QJsonArray{choice}},
                    {QStringLiteral("usage"), usageJson(stats)}});
    finishCall(id, 200);
}

void CompletionsHandler::finishCall(uint64_t id, int status) {
    Call* call = find(id);
    if (!call)
        return;
    m_metrics.httpAnswered(call->route, status);
    QObject::disconnect(call->gone1);
    QObject::disconnect(call->gone2);
    // Deferred: we may be inside the session's own callback.
    QMetaObject::invokeMethod(
        this, [this, id] { m_calls.erase(id); }, Qt::QueuedConnection);
}

} // namespace declai::server::api
