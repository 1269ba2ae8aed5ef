#include "ApiClient.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>

namespace declai::desktop {

QUrl ApiEndpoint::httpBaseFrom(const QUrl& serverUrl) {
    QUrl url = serverUrl;
    if (url.scheme() == QStringLiteral("wss"))
        url.setScheme(QStringLiteral("https"));
    else if (url.scheme() == QStringLiteral("ws"))
        url.setScheme(QStringLiteral("http"));
    url.setPath(QString());
    return url;
}

// ---- CompletionStream ------------------------------------------------------------------------------

CompletionStream::CompletionStream(QNetworkReply* reply, QObject* parent) : QObject(parent), m_reply(reply) {
    connect(reply, &QNetworkReply::readyRead, this, &CompletionStream::onReadyRead);
    connect(reply, &QNetworkReply::finished, this, &CompletionStream::onFinished);
}

CompletionStream::~CompletionStream() {
    if (QNetworkReply* reply = m_reply.data()) {
        reply->disconnect(this);
        reply->abort();
        reply->deleteLater();
    }
}

void CompletionStream::stop() {
    QNetworkReply* reply = m_reply.data();
    if (m_done || !reply)
        return;
    m_stopped = true;
    reply->abort(); // finished() follows (synchronously) with OperationCanceledError
}

void CompletionStream::onReadyRead() {
    QNetworkReply* reply = m_reply.data();
    if (!reply || m_done)
        return;
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status >= 400)
        return; // the error body is read in onFinished
    for (const QByteArray& event : m_parser.feed(reply->readAll()))
        handleEvent(event);
    if (m_parser.overflowed())
        finishWith(ApiError{ApiError::Kind::BadReply, tr("the server sent an event larger than 4 MiB")});
}

void CompletionStream::handleEvent(const QByteArray& data) {
    if (m_done)
        return;
    if (data.trimmed() == "[DONE]") {
        m_sawDone = true;
        return;
    }
    QJsonParseError parseError{};
    const QJsonObject o = QJsonDocument::fromJson(data, &parseError).object();
    if (parseError.error != QJsonParseError::NoError) {
        finishWith(ApiError{ApiError::Kind::BadReply,
                            tr("unreadable event from the server: %1").arg(parseError.errorString())});
        return;
    }
    if (o.contains(QStringLiteral("error"))) {
        const QJsonValue e = o.value(QStringLiteral("error"));
        const QString message =
            e.isObject() ? e.toObject().value(QStringLiteral("message")).toString() : e.toString();
        finishWith(ApiError{ApiError::Kind::Server, message});
        return;
    }
    const QJsonArray choices = o.value(QStringLiteral("choices")).toArray();
    if (!choices.isEmpty()) {
        const QJsonObject choice = choices.first().toObject();
        QString text =
            choice.value(QStringLiteral("delta")).toObject().value(QStringLiteral("content")).toString();
        if (text.isEmpty())
            text = choice.value(QStringLiteral("text")).toString(); // /v1/completions
        if (!text.isEmpty())
            Q_EMIT delta(text);
        const QString finish = choice.value(QStringLiteral("finish_reason")).toString();
        if (!finish.isEmpty())
            m_usage.finishReason = finish;
    }
    const QJsonObject usage = o.value(QStringLiteral("usage")).toObject();
    if (!usage.isEmpty()) {
        m_usage.promptTokens = usage.value(QStringLiteral("prompt_tokens")).toInteger(m_usage.promptTokens);
        m_usage.completionTokens =
            usage.value(QStringLiteral("completion_tokens")).toInteger(m_usage.completionTokens);
        // DeCLAI extension: what the request cost, in credits.
        for (const QString& key : {QStringLiteral("cost_credits"), QStringLiteral("credits")})
            if (usage.contains(key))
                m_usage.costCredits = usage.value(key).toDouble();
    }
}

void CompletionStream::onFinished() {
    QNetworkReply* reply = m_reply.data();
    if (m_done || !reply)
        return;
    if (m_stopped) {
        m_usage.finishReason = QStringLiteral("stopped");
        finishWith(std::nullopt);
        return;
    }
    if (reply->error() != QNetworkReply::NoError) {
        finishWith(ApiClient::errorOf(reply));
        return;
    }
    for (const QByteArray& event : m_parser.feed(reply->readAll()))
        handleEvent(event);
    if (m_done)
        return;
    if (!m_sawDone)
        finishWith(ApiError{ApiError::Kind::BadReply, tr("the stream ended before [DONE]")});
    else
        finishWith(std::nullopt);
}

void CompletionStream::finishWith(const std::optional<ApiError>& error) {
    if (m_done)
        return;
    m_done = true;
    if (QNetworkReply* reply = m_reply.data()) {
        m_reply = nullptr;
        reply->disconnect(this);
        if (reply->isRunning())
            reply->abort();
        reply->deleteLater();
    }
    if (error)
        Q_EMIT failed(*error);
    else
        Q_EMIT finished(m_usage);
}

// ---- ApiClient -------------------------------------------------------------------------------------

ApiClient::ApiClient(QObject* parent) : QObject(parent) {
    qRegisterMetaType<ApiError>();
    qRegisterMetaType<CompletionUsage>();
}

void ApiClient::setEndpoint(const ApiEndpoint& endpoint) {
    m_endpoint = endpoint;
    m_tls.reset();
    if (m_endpoint.baseUrl.scheme() == QStringLiteral("https")) {
        net::ClientTlsOptions options = m_endpoint.tls;
        options.insecureDev = false;
        if (auto tls = net::clientTlsConfiguration(options))
            m_tls = *tls;
    }
}

QNetworkRequest ApiClient::request(const QString& path) const {
    QUrl url = m_endpoint.baseUrl;
    url.setPath(path);
    QNetworkRequest r(url);
    if (m_tls)
        r.setSslConfiguration(*m_tls);
    if (!m_endpoint.apiKey.isEmpty())
        r.setRawHeader("Authorization", "Bearer " + m_endpoint.apiKey.toUtf8());
    r.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    return r;
}

QNetworkReply* ApiClient::track(QNetworkReply* reply) {
    const QString pin = m_endpoint.tls.pinnedFingerprint;
    if (!pin.isEmpty()) {
        // With a pin only the pinned certificate is trusted (TlsSetup.h explains the split).
        connect(reply, &QNetworkReply::sslErrors, this, [reply, pin](const QList<QSslError>& errors) {
            if (net::acceptPinnedCertificate(errors, reply->sslConfiguration().peerCertificate(), pin))
                reply->ignoreSslErrors(errors);
        });
    }
    return reply;
}

ApiError ApiClient::errorOf(QNetworkReply* reply) {
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QJsonObject body = QJsonDocument::fromJson(reply->readAll()).object();
    QString message =
        body.value(QStringLiteral("error")).isObject()
            ? body.value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString()
            : body.value(QStringLiteral("error")).toString();
    if (message.isEmpty())
        message = reply->errorString();
    if (status == 404 && body.value(QStringLiteral("error")).toObject().value(QStringLiteral("code")) ==
                             QLatin1String("model_not_found"))
        return {ApiError::Kind::Server, message, status};
    if (status == 404 || status == 405)
        return {ApiError::Kind::NotOffered, message, status};
    if (status == 401 || status == 403)
        return {ApiError::Kind::Unauthorized, message, status};
    if (status >= 400)
        return {ApiError::Kind::Server, message, status};
    return {ApiError::Kind::Network, message, status};
}

QStringList ApiClient::parseModels(const QJsonObject& body) {
    QStringList names;
    // OpenAI shape: {"object":"list","data":[{"id":"..."}]}; older servers: {"models":[{"name":"..."}]}.
    for (const QJsonValue& v : body.value(QStringLiteral("data")).toArray())
        names << v.toObject().value(QStringLiteral("id")).toString();
    for (const QJsonValue& v : body.value(QStringLiteral("models")).toArray())
        names << v.toObject().value(QStringLiteral("name")).toString();
    names.removeAll(QString());
    names.removeDuplicates();
    return names;
}

void ApiClient::fetchModels() {
    QNetworkRequest r = request(QStringLiteral("/v1/models"));
    r.setTransferTimeout(m_endpoint.transferTimeoutMs);
    QNetworkReply* reply = track(m_network.get(r));
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        if (reply->error() != QNetworkReply::NoError) {
            Q_EMIT modelsFailed(errorOf(reply));
            return;
        }
        Q_EMIT modelsReady(parseModels(QJsonDocument::fromJson(reply->readAll()).object()));
    });
}

std::optional<CreditSummary> ApiClient::parseCredits(const QJsonObject& body) {
    if (body.isEmpty())
        return std::nullopt;
    auto number = [&body](std::initializer_list<const char*> keys) {
        for (const char* key : keys) {
            const QJsonValue v = body.value(QLatin1String(key));
            if (v.isDouble())
                return v.toDouble();
            if (v.isObject()) // {"available": ..} nested under "balance"
                return v.toObject().value(QStringLiteral("available")).toDouble();
        }
        return 0.0;
    };
    CreditSummary c;
    c.account = body.value(QStringLiteral("account")).toString();
    c.available = number({"available", "balance"});
    auto micro = [&body](const char* key, double credits) {
        const QJsonValue v = body.value(QLatin1String(key));
        return v.isDouble() ? v.toInteger() : qRound64(credits * 1e6);
    };
    c.held = number({"held", "holds"});
    c.pending = number({"pending_verification", "pending"});
    c.availableMicrocredits = micro("available_microcredits", c.available);
    c.heldMicrocredits = micro("held_microcredits", c.held);
    c.pendingMicrocredits = micro("pending_verification_microcredits", c.pending);
    for (const QJsonValue& v : body.value(QStringLiteral("postings")).toArray()) {
        const QJsonObject p = v.toObject();
        Posting posting;
        if (p.contains(QStringLiteral("created_at_ms"))) {
            posting.at = QDateTime::fromMSecsSinceEpoch(p.value(QStringLiteral("created_at_ms")).toInteger());
        } else {
            const QJsonValue at = p.value(QStringLiteral("at"));
            posting.at = at.isDouble() ? QDateTime::fromSecsSinceEpoch(qint64(at.toDouble()))
                                       : QDateTime::fromString(at.toString(), Qt::ISODateWithMs);
        }
        posting.amount = p.value(QStringLiteral("amount")).toDouble();
        posting.amountMicrocredits = p.contains(QStringLiteral("amount_microcredits"))
                                         ? p.value(QStringLiteral("amount_microcredits")).toInteger()
                                         : qRound64(posting.amount * 1e6);
        posting.kind = p.value(QStringLiteral("kind")).toString();
        posting.memo = p.value(QStringLiteral("reference")).toString();
        posting.jobId = p.value(QStringLiteral("job_id")).toString();
        if (posting.at.isValid())
            c.postings << posting;
    }
    return c;
}

void ApiClient::fetchCredits() {
    // One page of the newest postings is enough for the 30-day chart of a volunteer's account.
    QNetworkRequest r = request(QStringLiteral("/v1/credits"));
    QUrl url = r.url();
    url.setQuery(QStringLiteral("limit=500"));
    r.setUrl(url);
    r.setTransferTimeout(m_endpoint.transferTimeoutMs);
    QNetworkReply* reply = track(m_network.get(r));
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        if (reply->error() != QNetworkReply::NoError) {
            Q_EMIT creditsFailed(errorOf(reply));
            return;
        }
        const auto credits = parseCredits(QJsonDocument::fromJson(reply->readAll()).object());
        if (!credits)
            Q_EMIT creditsFailed({ApiError::Kind::BadReply, tr("the server's credit answer was empty")});
        else
            Q_EMIT creditsReady(*credits);
    });
}

void ApiClient::fetchJob(const QString& jobId) {
    QNetworkRequest r =
        request(QStringLiteral("/v1/jobs/") + QString::fromLatin1(QUrl::toPercentEncoding(jobId)));
    r.setTransferTimeout(m_endpoint.transferTimeoutMs);
    QNetworkReply* reply = track(m_network.get(r));
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        if (reply->error() != QNetworkReply::NoError) {
            Q_EMIT jobFailed(errorOf(reply));
            return;
        }
        const QJsonObject o = QJsonDocument::fromJson(reply->readAll()).object();
        if (!o.contains(QStringLiteral("status"))) {
            Q_EMIT jobFailed({ApiError::Kind::BadReply, tr("the server's job answer had no status")});
            return;
        }
        JobStatus job;
        job.id = o.value(QStringLiteral("id")).toString();
        job.status = o.value(QStringLiteral("status")).toString();
        job.costMicrocredits = o.contains(QStringLiteral("cost_microcredits"))
                                   ? o.value(QStringLiteral("cost_microcredits")).toInteger()
                                   : qRound64(o.value(QStringLiteral("cost")).toDouble() * 1e6);
        Q_EMIT jobReady(job);
    });
}

QJsonObject ApiClient::completionBody(const CompletionRequest& request, bool stream) {
    QJsonArray messages;
    for (const ChatMessage& m : request.messages)
        messages.append(
            QJsonObject{{QStringLiteral("role"), m.role}, {QStringLiteral("content"), m.content}});
    QJsonObject body{{QStringLiteral("model"), request.model},
                     {QStringLiteral("messages"), messages},
                     {QStringLiteral("max_tokens"), request.maxTokens},
                     {QStringLiteral("temperature"), request.temperature},
                     {QStringLiteral("top_p"), request.topP},
                     {QStringLiteral("stream"), stream}};
    if (stream)
        body.insert(QStringLiteral("stream_options"), QJsonObject{{QStringLiteral("include_usage"), true}});
    if (request.seed)
        body.insert(QStringLiteral("seed"), *request.seed);
    return body;
}

std::optional<CostQuote> ApiClient::parseQuote(const QJsonObject& o) {
    if (!o.contains(QStringLiteral("cost_microcredits")) && !o.contains(QStringLiteral("cost")))
        return std::nullopt;
    CostQuote q;
    q.model = o.value(QStringLiteral("model")).toString();
    q.promptTokens = o.value(QStringLiteral("prompt_tokens")).toInteger();
    q.maxTokens = o.value(QStringLiteral("max_tokens")).toInteger();
    q.costMicrocredits = o.contains(QStringLiteral("cost_microcredits"))
                             ? o.value(QStringLiteral("cost_microcredits")).toInteger()
                             : qRound64(o.value(QStringLiteral("cost")).toDouble() * 1e6);
    if (o.contains(QStringLiteral("available_microcredits")))
        q.availableMicrocredits = o.value(QStringLiteral("available_microcredits")).toInteger();
    else if (o.value(QStringLiteral("available")).isDouble())
        q.availableMicrocredits = qRound64(o.value(QStringLiteral("available")).toDouble() * 1e6);
    q.sufficient = o.contains(QStringLiteral("sufficient"))
                       ? o.value(QStringLiteral("sufficient")).toBool()
                       : (q.availableMicrocredits < 0 || q.availableMicrocredits >= q.costMicrocredits);
    return q;
}

void ApiClient::requestQuote(const CompletionRequest& completion) {
    if (QNetworkReply* older = m_quoteReply.data()) {
        older->disconnect(this); // its answer is for a request that no longer matches the page
        older->abort();
        older->deleteLater();
    }
    QNetworkRequest r = request(QStringLiteral("/v1/quote"));
    r.setTransferTimeout(m_endpoint.transferTimeoutMs);
    const QByteArray body = QJsonDocument(completionBody(completion, false)).toJson(QJsonDocument::Compact);
    QNetworkReply* reply = track(m_network.post(r, body));
    m_quoteReply = reply;
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        if (m_quoteReply == reply)
            m_quoteReply = nullptr;
        if (reply->error() != QNetworkReply::NoError) {
            Q_EMIT quoteFailed(errorOf(reply));
            return;
        }
        const auto quote = parseQuote(QJsonDocument::fromJson(reply->readAll()).object());
        if (!quote)
            Q_EMIT quoteFailed({ApiError::Kind::BadReply, tr("the server's quote had no cost")});
        else
            Q_EMIT quoteReady(*quote);
    });
}

void ApiClient::createAccount(const QString& name) {
    QNetworkRequest r = request(QStringLiteral("/v1/accounts"));
    r.setRawHeader("Authorization", QByteArray()); // a new account is created without a key
    r.setTransferTimeout(m_endpoint.transferTimeoutMs);
    const QByteArray body =
        QJsonDocument(QJsonObject{{QStringLiteral("name"), name}}).toJson(QJsonDocument::Compact);
    QNetworkReply* reply = track(m_network.post(r, body));
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        if (reply->error() != QNetworkReply::NoError) {
            Q_EMIT accountFailed(errorOf(reply));
            return;
        }
        const QJsonObject o = QJsonDocument::fromJson(reply->readAll()).object();
        QString key = o.value(QStringLiteral("api_key")).toString();
        if (key.isEmpty())
            key = o.value(QStringLiteral("key")).toString();
        if (key.isEmpty()) {
            Q_EMIT accountFailed({ApiError::Kind::BadReply, tr("the server created no key")});
            return;
        }
        Q_EMIT accountCreated(o.value(QStringLiteral("account")).toString(), key);
    });
}

CompletionStream* ApiClient::startCompletion(const CompletionRequest& completion) {
    QNetworkRequest r = request(QStringLiteral("/v1/chat/completions"));
    r.setRawHeader("Accept", "text/event-stream");
    // No transfer timeout: a long answer streams for minutes; Stop aborts it.
    const QByteArray body = QJsonDocument(completionBody(completion, true)).toJson(QJsonDocument::Compact);
    return new CompletionStream(track(m_network.post(r, body)), this);
}

} // namespace declai::desktop
