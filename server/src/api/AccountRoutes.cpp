#include "AccountRoutes.h"

#include "HttpReply.h"
#include "declai/server/PostTo.h"

#include <QDateTime>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QUrlQuery>
#include <cctype>
#include <memory>

namespace declai::server::api {

namespace {

// One answer (status + JSON body). Produced on any thread (mostly the ledger's store thread); sent from the
// gateway thread by HttpReply, which writes straight to the connection and drops the answer when the client
// has left (Qt 6.4's own deferred answers crash then, see HttpReply.h).
struct Response {
    int status = 200;
    QJsonObject body;
    int retryAfterS = 0;
};
using Reply = std::function<void(Response)>;
constexpr qsizetype kMaxBodyBytes = 64 * 1024;

Response errorResponse(int status, const QString& message, const QString& type, const QString& code,
                       const QString& param = {}) {
    ApiError error;
    error.status = status;
    error.message = message;
    error.type = type;
    error.code = code;
    error.param = param;
    return Response{status, errorJson(error), status == 429 ? 3600 : 0};
}

Response errorFor(const Error& error, const QString& param = {}) {
    const QString message = QString::fromStdString(error.message);
    switch (error.code) {
    case ErrorCode::Unauthorized:
        return errorResponse(401, message, QStringLiteral("invalid_request_error"),
                             QStringLiteral("invalid_api_key"));
    case ErrorCode::Forbidden:
        return errorResponse(403, message, QStringLiteral("permission_error"), QStringLiteral("forbidden"));
    case ErrorCode::NotFound:
        return errorResponse(404, message, QStringLiteral("invalid_request_error"),
                             QStringLiteral("not_found"));
    case ErrorCode::Conflict:
        return errorResponse(409, message, QStringLiteral("invalid_request_error"),
                             QStringLiteral("conflict"));
    case ErrorCode::RateLimited:
        return errorResponse(429, message, QStringLiteral("rate_limit_error"),
                             QStringLiteral("rate_limited"));
    case ErrorCode::InvalidArgument:
    case ErrorCode::Format:
        return errorResponse(400, message, QStringLiteral("invalid_request_error"),
                             QStringLiteral("invalid_value"), param);
    default:
        return errorResponse(500, message, QStringLiteral("server_error"), QString());
    }
}

Response ok(QJsonObject body, int status = 200) {
    return Response{status, std::move(body), 0};
}

// A Reply that may be called on any thread and answers on `socket` from the gateway (context's) thread.
Reply replyOn(QObject* context, QTcpSocket* socket) {
    auto reply = std::make_shared<HttpReply>(socket);
    std::function<void(Expected<Response>)> send = [reply](Expected<Response> response) {
        if (!response)
            return;
        HeaderList headers;
        if (response->retryAfterS > 0)
            headers.append({QByteArrayLiteral("Retry-After"), QByteArray::number(response->retryAfterS)});
        reply->sendJson(response->status, response->body, headers);
    };
    auto posted = postTo<Response>(context, std::move(send));
    return [posted](Response response) { posted(std::move(response)); };
}

std::string bearerKey(const QHttpServerRequest& request) {
    const QByteArray header = request.value(QByteArrayLiteral("authorization")).trimmed();
    if (header.size() < 7 || header.left(7).toLower() != QByteArrayLiteral("bearer "))
        return {};
    return header.mid(7).trimmed().toStdString();
}

// Authenticates the request's bearer key (on the store thread), then runs then(caller, reply) there.
void withCaller(CreditService& credits, const QHttpServerRequest& request, const Reply& reply,
                std::function<void(const credit::Caller&, Reply)> then) {
    const std::string key = bearerKey(request);
    if (key.empty())
        return reply(errorResponse(401, QStringLiteral("an API key is required: Authorization: Bearer KEY"),
                                   QStringLiteral("invalid_request_error"),
                                   QStringLiteral("missing_api_key")));
    credits.accounts().authenticateThen(key,
                                        [then = std::move(then), reply](Expected<credit::Caller> caller) {
                                            if (!caller)
                                                return reply(errorFor(caller.error()));
                                            then(*caller, reply);
                                        });
}

Expected<QJsonObject> jsonBody(const QHttpServerRequest& request) {
    const QByteArray body = request.body();
    if (body.size() > kMaxBodyBytes)
        return makeError(ErrorCode::InvalidArgument, "the request body is larger than 64 KiB");
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &parseError);
    if (!doc.isObject())
        return makeError(ErrorCode::InvalidArgument,
                         "the request body must be a JSON object: " + parseError.errorString().toStdString());
    return doc.object();
}

double credits(credit::Microcredits micro) {
    return static_cast<double>(micro) / credit::kMicrocreditsPerCredit;
}

// A job id is the request's hold id in base64url: hold ids contain '/', which a path segment cannot carry.
QString jobIdOf(const std::string& holdId) {
    return QString::fromLatin1(QByteArray::fromStdString(holdId).toBase64(QByteArray::Base64UrlEncoding |
                                                                          QByteArray::OmitTrailingEquals));
}
std::string holdIdOfJob(const QString& jobId) {
    auto decoded = QByteArray::fromBase64Encoding(
        jobId.toLatin1(), QByteArray::Base64UrlEncoding | QByteArray::AbortOnBase64DecodingErrors);
    return decoded ? decoded.decoded.toStdString() : std::string(); // "" matches no hold: 404
}

QString holdStatus(credit::HoldStatus status) {
    switch (status) {
    case credit::HoldStatus::Open:
        return QStringLiteral("running");
    case credit::HoldStatus::Settled:
        return QStringLiteral("completed");
    case credit::HoldStatus::Released:
        return QStringLiteral("refunded");
    }
    return QStringLiteral("unknown");
}

std::string fromHex(const QJsonValue& value) {
    const QByteArray text = value.toString().toLatin1();
    for (char c : text)
        if (!std::isxdigit(static_cast<unsigned char>(c)))
            return {};
    return QByteArray::fromHex(text).toStdString();
}

} // namespace

namespace {

void registerAccount(CreditService& service, const QHttpServerRequest& request, const Reply& reply) {
    const CreditConfig& config = service.config();
    if (!config.allowRegistration)
        return reply(errorResponse(
            403,
            QStringLiteral("self-registration is disabled on this gateway; ask its operator for an account"),
            QStringLiteral("permission_error"), QStringLiteral("registration_disabled")));
    auto body = jsonBody(request);
    if (!body)
        return reply(errorFor(body.error()));
    const QJsonValue name = body->value(QStringLiteral("name"));
    if (!name.isString())
        return reply(errorResponse(400, QStringLiteral("'name' (a string) is required"),
                                   QStringLiteral("invalid_request_error"), QStringLiteral("invalid_value"),
                                   QStringLiteral("name")));
    credit::NewUser user;
    user.name = name.toString().toStdString();
    user.origin = "registration";
    // The welcome grant waits for the first verified work of a node bound to the account.
    user.welcome = config.registrationGrant > 0 ? credit::WelcomeRule::FirstWork : credit::WelcomeRule::Paid;
    user.welcomeAmount = config.registrationGrant;
    const std::string address = request.remoteAddress().toString().toStdString();
    service.accounts().registerThen(
        user, address, config.registrationsPerAddressPerHour, 3600 * 1000,
        [reply, user](Expected<credit::IssuedKey> issued) {
            if (!issued)
                return reply(errorFor(issued.error(), QStringLiteral("name")));
            reply(ok(QJsonObject{{QStringLiteral("object"), QStringLiteral("account")},
                                 {QStringLiteral("account"), QString::fromStdString(user.name)},
                                 {QStringLiteral("role"), QStringLiteral("user")},
                                 {QStringLiteral("api_key"), QString::fromStdString(issued->key)},
                                 {QStringLiteral("key_id"), QString::fromStdString(issued->record.id)},
                                 {QStringLiteral("welcome_grant_held"), credits(user.welcomeAmount)},
                                 {QStringLiteral("note"),
                                  QStringLiteral(
                                      "the API key is shown only now; a welcome grant is paid after the "
                                      "first verified work of a node bound to this account")}},
                     201));
        });
}

QJsonObject creditsJson(const credit::CreditsView& view) {
    QJsonArray postings;
    for (const auto& p : view.postings) {
        QJsonObject posting{{QStringLiteral("tx_id"), qint64(p.txId)},
                            {QStringLiteral("kind"), QString::fromStdString(p.kind)},
                            {QStringLiteral("reference"), QString::fromStdString(p.reference)},
                            {QStringLiteral("created_at_ms"), qint64(p.createdAtMs)},
                            {QStringLiteral("amount"), credits(p.amount)},
                            {QStringLiteral("amount_microcredits"), qint64(p.amount)}};
        // The money of one request: its hold, settlement or release names the job.
        if (p.kind == "hold" || p.kind == "settle" || p.kind == "release")
            posting.insert(QStringLiteral("job_id"), jobIdOf(p.reference));
        postings.append(posting);
    }
    QJsonArray nodes;
    for (const auto& n : view.nodes)
        nodes.append(QJsonObject{{QStringLiteral("node_id"), QString::fromStdString(n.nodeId)},
                                 {QStringLiteral("bound_at_ms"), qint64(n.boundAtMs)}});
    const credit::Microcredits pending = view.balance.pending + view.nodesPending;
    return QJsonObject{{QStringLiteral("object"), QStringLiteral("credits")},
                       {QStringLiteral("account"), QString::fromStdString(view.account)},
                       {QStringLiteral("available"), credits(view.balance.available)},
                       {QStringLiteral("held"), credits(view.balance.held)},
                       {QStringLiteral("pending_verification"), credits(pending)},
                       {QStringLiteral("welcome_grant_held"), credits(view.welcomeHeld)},
                       {QStringLiteral("available_microcredits"), qint64(view.balance.available)},
                       {QStringLiteral("held_microcredits"), qint64(view.balance.held)},
                       {QStringLiteral("pending_verification_microcredits"), qint64(pending)},
                       {QStringLiteral("welcome_grant_held_microcredits"), qint64(view.welcomeHeld)},
                       {QStringLiteral("nodes"), nodes},
                       {QStringLiteral("postings"), postings},
                       {QStringLiteral("next_cursor"),
                        view.nextCursor > 0 ? QJsonValue(QString::number(view.nextCursor)) : QJsonValue()}};
}

void getCredits(CreditService& service, const QHttpServerRequest& request, const Reply& reply) {
    const QUrlQuery query = request.query();
    bool valid = true;
    int limit = 20;
    if (query.hasQueryItem(QStringLiteral("limit")))
        limit = query.queryItemValue(QStringLiteral("limit")).toInt(&valid);
    if (!valid)
        limit = 0; // refused below, naming the field
    qlonglong cursor = 0;
    if (query.hasQueryItem(QStringLiteral("cursor")))
        cursor = query.queryItemValue(QStringLiteral("cursor")).toLongLong(&valid);
    if (!valid)
        cursor = -1;
    CreditService* credits = &service;
    withCaller(service, request, reply, [credits, cursor, limit](const credit::Caller& caller, Reply out) {
        creditsOperation(*credits, caller.account, cursor, limit, [out](AccountAnswer answer) {
            out(Response{answer.status, answer.body, 0});
        });
    });
}

// `queuePosition`: the request's admission-queue place, read on the gateway thread when the call came in.
void getJob(CreditService& service, const std::string& holdId, std::optional<size_t> queuePosition,
            const QHttpServerRequest& request, const Reply& reply) {
    credit::AccountStore* accounts = &service.accounts();
    withCaller(
        service, request, reply, [accounts, holdId, queuePosition](const credit::Caller& caller, Reply out) {
            accounts->jobThen(caller.account, holdId, [out, queuePosition](Expected<credit::Hold> hold) {
                if (!hold)
                    return out(errorFor(hold.error()));
                QJsonObject job{{QStringLiteral("object"), QStringLiteral("job")},
                                {QStringLiteral("id"), jobIdOf(hold->id)},
                                {QStringLiteral("status"), holdStatus(hold->status)},
                                {QStringLiteral("created_at_ms"), qint64(hold->createdAtMs)},
                                {QStringLiteral("held"), credits(hold->amount)},
                                {QStringLiteral("cost"), credits(hold->settledCost)},
                                {QStringLiteral("cost_microcredits"), qint64(hold->settledCost)}};
                // Waiting for a slot: its hold is open like a running request's, so the queue tells them
                // apart.
                if (queuePosition && hold->status == credit::HoldStatus::Open) {
                    job.insert(QStringLiteral("status"), QStringLiteral("queued"));
                    job.insert(QStringLiteral("queue_position"), qint64(*queuePosition));
                }
                out(ok(job));
            });
        });
}

void bindInfo(CreditService& service, const std::string& audience, const QHttpServerRequest& request,
              const Reply& reply) {
    const int64_t skewMs = service.config().bindingMaxSkewMs;
    withCaller(service, request, reply, [audience, skewMs](const credit::Caller& caller, Reply out) {
        out(ok(QJsonObject{
            {QStringLiteral("account"), QString::fromStdString(caller.account)},
            {QStringLiteral("audience"), QString::fromStdString(audience)},
            {QStringLiteral("server_time_ms"), qint64(QDateTime::currentMSecsSinceEpoch())},
            {QStringLiteral("max_skew_ms"), qint64(skewMs)},
            {QStringLiteral("message_format"),
             QStringLiteral("DECLAI-NODE-BINDING-1\\naccount=A\\nnode=ID\\naudience=AUD\\ntime_ms=T\\n"
                            "nonce=HEX\\n")}}));
    });
}

void bindNode(CreditService& service, const std::string& audience, const QHttpServerRequest& request,
              const Reply& reply) {
    auto body = jsonBody(request);
    if (!body)
        return reply(errorFor(body.error()));
    credit::BindRequest bind;
    bind.account = body->value(QStringLiteral("account")).toString().toStdString();
    bind.publicKey = fromHex(body->value(QStringLiteral("node_public_key")));
    bind.timestampMs = static_cast<int64_t>(body->value(QStringLiteral("timestamp_ms")).toDouble());
    bind.nonceHex = body->value(QStringLiteral("nonce")).toString().toStdString();
    bind.audience = body->value(QStringLiteral("audience")).toString().toStdString();
    bind.signature = fromHex(body->value(QStringLiteral("signature")));
    credit::AccountStore* accounts = &service.accounts();
    const int64_t skewMs = service.config().bindingMaxSkewMs;
    withCaller(
        service, request, reply, [accounts, bind, audience, skewMs](const credit::Caller& caller, Reply out) {
            // Both credentials: the account's key (the caller) and the node's signature.
            if (caller.account != bind.account)
                return out(
                    errorResponse(403, QStringLiteral("the binding names another account than the API key's"),
                                  QStringLiteral("permission_error"), QStringLiteral("forbidden"),
                                  QStringLiteral("account")));
            accounts->bindNodeThen(bind, audience, skewMs, [out, bind](Expected<credit::BindResult> result) {
                if (!result)
                    return out(errorFor(result.error()));
                out(ok(QJsonObject{{QStringLiteral("object"), QStringLiteral("node_binding")},
                                   {QStringLiteral("account"), QString::fromStdString(bind.account)},
                                   {QStringLiteral("node_id"),
                                    QString::fromStdString(NodeIdentity::nodeIdOf(bind.publicKey))},
                                   {QStringLiteral("status"), *result == credit::BindResult::Bound
                                                                  ? QStringLiteral("bound")
                                                                  : QStringLiteral("already_bound")}}));
            });
        });
}

Response methodNotAllowed(const QString& path, const char* allowed) {
    return errorResponse(405, QStringLiteral("%1 takes %2 only").arg(path, QLatin1String(allowed)),
                         QStringLiteral("invalid_request_error"), QStringLiteral("method_not_allowed"));
}

} // namespace

void creditsOperation(CreditService& credits, const std::string& account, qlonglong cursor, int limit,
                      std::function<void(AccountAnswer)> answer) {
    auto refuse = [&answer](const Response& r) { answer(AccountAnswer{r.status, r.body}); };
    if (limit < 1 || limit > 500)
        return refuse(errorResponse(400, QStringLiteral("limit must be an integer from 1 to 500"),
                                    QStringLiteral("invalid_request_error"), QStringLiteral("invalid_value"),
                                    QStringLiteral("limit")));
    if (cursor < 0)
        return refuse(errorResponse(400, QStringLiteral("cursor must be a next_cursor from an earlier page"),
                                    QStringLiteral("invalid_request_error"), QStringLiteral("invalid_value"),
                                    QStringLiteral("cursor")));
    credits.accounts().creditsThen(
        account, cursor, limit, [answer = std::move(answer)](Expected<credit::CreditsView> view) {
            const Response r = view ? ok(creditsJson(*view)) : errorFor(view.error());
            answer(AccountAnswer{r.status, r.body});
        });
}

void registerAccountRoutes(QHttpServer& http, CreditService& service, AccountRoutesOptions options) {
    using Method = QHttpServerRequest::Method;
    CreditService* credits = &service;
    QHttpServer* context = &http;
    // Handlers run on the gateway thread and only queue work; answers come back through replyOn.
    http.route(QStringLiteral("/v1/accounts"),
               [credits, context](const QHttpServerRequest& request, QHttpServerResponder&& responder) {
                   const Reply reply = replyOn(context, responder.socket());
                   if (request.method() != Method::Post)
                       return reply(methodNotAllowed(QStringLiteral("/v1/accounts"), "POST"));
                   registerAccount(*credits, request, reply);
               });
    http.route(QStringLiteral("/v1/credits"),
               [credits, context](const QHttpServerRequest& request, QHttpServerResponder&& responder) {
                   const Reply reply = replyOn(context, responder.socket());
                   if (request.method() != Method::Get)
                       return reply(methodNotAllowed(QStringLiteral("/v1/credits"), "GET"));
                   getCredits(*credits, request, reply);
               });
    const auto queuePosition = options.queuePosition;
    http.route(QStringLiteral("/v1/jobs/<arg>"), [credits, context, queuePosition](
                                                     const QString& id, const QHttpServerRequest& request,
                                                     QHttpServerResponder&& responder) {
        const Reply reply = replyOn(context, responder.socket());
        if (request.method() != Method::Get)
            return reply(methodNotAllowed(QStringLiteral("/v1/jobs/{id}"), "GET"));
        const std::string holdId = holdIdOfJob(id);
        getJob(*credits, holdId, queuePosition ? queuePosition(holdId) : std::nullopt, request, reply);
    });
    const std::string audience = options.audience;
    http.route(
        QStringLiteral("/v1/nodes/bind"),
        [credits, context, audience](const QHttpServerRequest& request, QHttpServerResponder&& responder) {
            const Reply reply = replyOn(context, responder.socket());
            if (request.method() == Method::Get)
                return bindInfo(*credits, audience, request, reply);
            if (request.method() == Method::Post)
                return bindNode(*credits, audience, request, reply);
            reply(methodNotAllowed(QStringLiteral("/v1/nodes/bind"), "GET and POST"));
        });
}

} // namespace declai::server::api
