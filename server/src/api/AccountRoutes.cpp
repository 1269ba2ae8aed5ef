#include "AccountRoutes.h"

#include <QFuture>
#include <QHttpServerRequest>
#include <QHttpServerResponse>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPromise>
#include <QUrlQuery>
#include <memory>

namespace declai::server::api {

namespace {

using Response = QHttpServerResponse;
using Reply = std::function<void(Response)>;
constexpr qsizetype kMaxBodyBytes = 64 * 1024;

// OpenAI's error JSON: {"error": {"message", "type", "param", "code"}}.
Response errorResponse(int status, const QString& message, const QString& type, const QString& code,
                       const QString& param = {}) {
    QJsonObject error{{QStringLiteral("message"), message},
                      {QStringLiteral("type"), type},
                      {QStringLiteral("param"), param.isEmpty() ? QJsonValue() : QJsonValue(param)},
                      {QStringLiteral("code"), code.isEmpty() ? QJsonValue() : QJsonValue(code)}};
    Response response(QJsonObject{{QStringLiteral("error"), error}},
                      static_cast<Response::StatusCode>(status));
    if (status == 429)
        response.addHeader(QByteArrayLiteral("Retry-After"), QByteArrayLiteral("3600"));
    if (status == 401)
        response.addHeader(QByteArrayLiteral("WWW-Authenticate"), QByteArrayLiteral("Bearer"));
    return response;
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

// An answer produced later, on any thread: Qt sends it from the gateway thread once the promise is done.
QFuture<Response> later(const std::function<void(Reply)>& start) {
    auto promise = std::make_shared<QPromise<Response>>();
    promise->start();
    QFuture<Response> future = promise->future();
    start([promise](Response response) {
        promise->addResult(std::move(response));
        promise->finish();
    });
    return future;
}

QFuture<Response> now(Response response) {
    return later([&response](const Reply& reply) { reply(std::move(response)); });
}

std::string bearerKey(const QHttpServerRequest& request) {
    const QByteArray header = request.value(QByteArrayLiteral("authorization")).trimmed();
    if (header.size() < 7 || header.left(7).toLower() != QByteArrayLiteral("bearer "))
        return {};
    return header.mid(7).trimmed().toStdString();
}

// Authenticates the request's bearer key (store thread), then runs then(caller, reply) there.
QFuture<Response> withCaller(CreditService& credits, const QHttpServerRequest& request,
                             std::function<void(const credit::Caller&, Reply)> then) {
    const std::string key = bearerKey(request);
    credit::AccountStore* accounts = &credits.accounts();
    return later([accounts, key, then = std::move(then)](Reply reply) {
        if (key.empty())
            return reply(
                errorResponse(401, QStringLiteral("an API key is required: Authorization: Bearer KEY"),
                              QStringLiteral("invalid_request_error"), QStringLiteral("missing_api_key")));
        accounts->authenticateThen(key, [then, reply](Expected<credit::Caller> caller) {
            if (!caller)
                return reply(errorFor(caller.error()));
            then(*caller, reply);
        });
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

void registerAccountRoutes(QHttpServer& http, CreditService& service, AccountRoutesOptions options) {
    CreditService* creditsPtr = &service;

    http.route(
        QStringLiteral("/v1/accounts"), QHttpServerRequest::Method::Post,
        [creditsPtr](const QHttpServerRequest& request) -> QFuture<Response> {
            const CreditConfig& config = creditsPtr->config();
            if (!config.allowRegistration)
                return now(errorResponse(403,
                                         QStringLiteral("self-registration is disabled on this gateway; "
                                                        "ask its operator for an account"),
                                         QStringLiteral("permission_error"),
                                         QStringLiteral("registration_disabled")));
            auto body = jsonBody(request);
            if (!body)
                return now(errorFor(body.error()));
            const QJsonValue name = body->value(QStringLiteral("name"));
            if (!name.isString())
                return now(errorResponse(400, QStringLiteral("'name' (a string) is required"),
                                         QStringLiteral("invalid_request_error"),
                                         QStringLiteral("invalid_value"), QStringLiteral("name")));
            credit::NewUser user;
            user.name = name.toString().toStdString();
            user.origin = "registration";
            user.welcome =
                config.registrationGrant > 0 ? credit::WelcomeRule::FirstWork : credit::WelcomeRule::Paid;
            user.welcomeAmount = config.registrationGrant;
            const std::string address = request.remoteAddress().toString().toStdString();
            credit::AccountStore* accounts = &creditsPtr->accounts();
            const int perHour = config.registrationsPerAddressPerHour;
            return later([accounts, user, address, perHour](Reply reply) {
                accounts->registerThen(
                    user, address, perHour, 3600 * 1000, [reply, user](Expected<credit::IssuedKey> issued) {
                        if (!issued)
                            return reply(errorFor(issued.error(), QStringLiteral("name")));
                        reply(Response(
                            QJsonObject{
                                {QStringLiteral("object"), QStringLiteral("account")},
                                {QStringLiteral("account"), QString::fromStdString(user.name)},
                                {QStringLiteral("role"), QStringLiteral("user")},
                                {QStringLiteral("api_key"), QString::fromStdString(issued->key)},
                                {QStringLiteral("key_id"), QString::fromStdString(issued->record.id)},
                                {QStringLiteral("welcome_grant_held"), credits(user.welcomeAmount)},
                                {QStringLiteral("note"),
                                 QStringLiteral("the API key is shown only now; a welcome grant is paid "
                                                "after the first verified work of a node bound to this "
                                                "account")}},
                            Response::StatusCode::Created));
                    });
            });
        });

    http.route(
        QStringLiteral("/v1/credits"), QHttpServerRequest::Method::Get,
        [creditsPtr](const QHttpServerRequest& request) -> QFuture<Response> {
            const QUrlQuery query = request.query();
            bool ok = true;
            int limit = 20;
            if (query.hasQueryItem(QStringLiteral("limit")))
                limit = query.queryItemValue(QStringLiteral("limit")).toInt(&ok);
            if (!ok || limit < 1 || limit > 500)
                return now(errorResponse(400, QStringLiteral("limit must be an integer from 1 to 500"),
                                         QStringLiteral("invalid_request_error"),
                                         QStringLiteral("invalid_value"), QStringLiteral("limit")));
            qlonglong cursor = 0;
            if (query.hasQueryItem(QStringLiteral("cursor")))
                cursor = query.queryItemValue(QStringLiteral("cursor")).toLongLong(&ok);
            if (!ok || cursor < 0)
                return now(errorResponse(400,
                                         QStringLiteral("cursor must be a next_cursor from an earlier page"),
                                         QStringLiteral("invalid_request_error"),
                                         QStringLiteral("invalid_value"), QStringLiteral("cursor")));
            credit::AccountStore* accounts = &creditsPtr->accounts();
            return withCaller(
                *creditsPtr, request, [accounts, cursor, limit](const credit::Caller& caller, Reply reply) {
                    accounts->creditsThen(
                        caller.account, cursor, limit, [reply](Expected<credit::CreditsView> view) {
                            if (!view)
                                return reply(errorFor(view.error()));
                            QJsonArray postings;
                            for (const auto& p : view->postings)
                                postings.append(QJsonObject{
                                    {QStringLiteral("tx_id"), qint64(p.txId)},
                                    {QStringLiteral("kind"), QString::fromStdString(p.kind)},
                                    {QStringLiteral("reference"), QString::fromStdString(p.reference)},
                                    {QStringLiteral("created_at_ms"), qint64(p.createdAtMs)},
                                    {QStringLiteral("amount"), credits(p.amount)},
                                    {QStringLiteral("amount_microcredits"), qint64(p.amount)}});
                            QJsonArray nodes;
                            for (const auto& n : view->nodes)
                                nodes.append(
                                    QJsonObject{{QStringLiteral("node_id"), QString::fromStdString(n.nodeId)},
                                                {QStringLiteral("bound_at_ms"), qint64(n.boundAtMs)}});
                            const credit::Microcredits pending = view->balance.pending + view->nodesPending;
                            reply(Response(QJsonObject{
                                {QStringLiteral("object"), QStringLiteral("credits")},
                                {QStringLiteral("account"), QString::fromStdString(view->account)},
                                {QStringLiteral("available"), credits(view->balance.available)},
                                {QStringLiteral("held"), credits(view->balance.held)},
                                {QStringLiteral("pending_verification"), credits(pending)},
                                {QStringLiteral("welcome_grant_held"), credits(view->welcomeHeld)},
                                {QStringLiteral("available_microcredits"), qint64(view->balance.available)},
                                {QStringLiteral("held_microcredits"), qint64(view->balance.held)},
                                {QStringLiteral("pending_verification_microcredits"), qint64(pending)},
                                {QStringLiteral("welcome_grant_held_microcredits"),
                                 qint64(view->welcomeHeld)},
                                {QStringLiteral("nodes"), nodes},
                                {QStringLiteral("postings"), postings},
                                {QStringLiteral("next_cursor"),
                                 view->nextCursor > 0 ? QJsonValue(QString::number(view->nextCursor))
                                                      : QJsonValue()}}));
                        });
                });
        });

    http.route(QStringLiteral("/v1/jobs/<arg>"), QHttpServerRequest::Method::Get,
               [creditsPtr](const QString& id, const QHttpServerRequest& request) -> QFuture<Response> {
                   const std::string holdId = QUrl::fromPercentEncoding(id.toUtf8()).toStdString();
                   credit::AccountStore* accounts = &creditsPtr->accounts();
                   return withCaller(
                       *creditsPtr, request, [accounts, holdId](const credit::Caller& caller, Reply reply) {
                           accounts->jobThen(caller.account, holdId, [reply](Expected<credit::Hold> hold) {
                               if (!hold)
                                   return reply(errorFor(hold.error()));
                               reply(Response(QJsonObject{
                                   {QStringLiteral("object"), QStringLiteral("job")},
                                   {QStringLiteral("id"), QString::fromStdString(hold->id)},
                                   {QStringLiteral("status"), holdStatus(hold->status)},
                                   {QStringLiteral("created_at_ms"), qint64(hold->createdAtMs)},
                                   {QStringLiteral("held"), credits(hold->amount)},
                                   {QStringLiteral("cost"), credits(hold->settledCost)},
                                   {QStringLiteral("cost_microcredits"), qint64(hold->settledCost)}}));
                           });
                       });
               });

    const std::string audience = options.audience;
    http.route(
        QStringLiteral("/v1/nodes/bind"), QHttpServerRequest::Method::Get,
        [creditsPtr, audience](const QHttpServerRequest& request) -> QFuture<Response> {
            const int64_t skewMs = creditsPtr->config().bindingMaxSkewMs;
            return withCaller(
                *creditsPtr, request, [audience, skewMs](const credit::Caller& caller, Reply reply) {
                    reply(Response(QJsonObject{
                        {QStringLiteral("account"), QString::fromStdString(caller.account)},
                        {QStringLiteral("audience"), QString::fromStdString(audience)},
                        {QStringLiteral("server_time_ms"), qint64(QDateTime::currentMSecsSinceEpoch())},
                        {QStringLiteral("max_skew_ms"), qint64(skewMs)},
                        {QStringLiteral("message_format"),
                         QStringLiteral("DECLAI-NODE-BINDING-1\\naccount=A\\nnode=ID\\naudience="
                                        "AUD\\ntime_ms=T\\nnonce=HEX\\n")}}));
                });
        });

    http.route(
        QStringLiteral("/v1/nodes/bind"), QHttpServerRequest::Method::Post,
        [creditsPtr, audience](const QHttpServerRequest& request) -> QFuture<Response> {
            auto body = jsonBody(request);
            if (!body)
                return now(errorFor(body.error()));
            credit::BindRequest bind;
            bind.account = body->value(QStringLiteral("account")).toString().toStdString();
            bind.publicKey = fromHex(body->value(QStringLiteral("node_public_key")));
            bind.timestampMs = static_cast<int64_t>(body->value(QStringLiteral("timestamp_ms")).toDouble());
            bind.nonceHex = body->value(QStringLiteral("nonce")).toString().toStdString();
            bind.audience = body->value(QStringLiteral("audience")).toString().toStdString();
            bind.signature = fromHex(body->value(QStringLiteral("signature")));
            credit::AccountStore* accounts = &creditsPtr->accounts();
            const int64_t skewMs = creditsPtr->config().bindingMaxSkewMs;
            return withCaller(
                *creditsPtr, request,
                [accounts, bind, audience, skewMs](const credit::Caller& caller, Reply reply) {
                    // Both credentials: the account's key (the caller) and the node's signature.
                    if (caller.account != bind.account)
                        return reply(errorResponse(
                            403, QStringLiteral("the binding names another account than the API key's"),
                            QStringLiteral("permission_error"), QStringLiteral("forbidden"),
                            QStringLiteral("account")));
                    accounts->bindNodeThen(
                        bind, audience, skewMs, [reply, bind](Expected<credit::BindResult> result) {
                            if (!result)
                                return reply(errorFor(result.error()));
                            reply(Response(QJsonObject{
                                {QStringLiteral("object"), QStringLiteral("node_binding")},
                                {QStringLiteral("account"), QString::fromStdString(bind.account)},
                                {QStringLiteral("node_id"),
                                 QString::fromStdString(NodeIdentity::nodeIdOf(bind.publicKey))},
                                {QStringLiteral("status"), *result == credit::BindResult::Bound
                                                               ? QStringLiteral("bound")
                                                               : QStringLiteral("already_bound")}}));
                        });
                });
        });
}

} // namespace declai::server::api
