#include "AccountBinder.h"

#include "declai/core/NodeBinding.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QNetworkRequest>

namespace declai::node {

namespace {

constexpr int kTransferTimeoutMs = 20000;

} // namespace

AccountBinder::AccountBinder(QUrl serverUrl, net::ClientTlsOptions tls, NodeIdentity identity,
                             QObject* parent)
    : QObject(parent), m_base(apiBase(serverUrl)), m_tlsOptions(std::move(tls)),
      m_identity(std::move(identity)), m_network(this) {}

QUrl AccountBinder::apiBase(const QUrl& serverUrl) {
    QUrl base = serverUrl;
    base.setScheme(serverUrl.scheme() == QStringLiteral("ws") ? QStringLiteral("http")
                                                              : QStringLiteral("https"));
    base.setPath(QString());
    return base;
}

void AccountBinder::bind(const QString& apiKey) {
    if (m_busy) {
        Q_EMIT failed(QStringLiteral("a binding is already in progress"));
        return;
    }
    if (apiKey.trimmed().isEmpty()) {
        Q_EMIT failed(QStringLiteral("an account API key is required to bind this node"));
        return;
    }
    m_busy = true;
    m_lastFailureStatus = 0;
    m_apiKey = apiKey.trimmed();
    QNetworkReply* reply = send(QStringLiteral("/v1/nodes/bind"), nullptr);
    if (reply)
        connect(reply, &QNetworkReply::finished, this, [this, reply] { onBindInfo(reply); });
}

QNetworkReply* AccountBinder::send(const QString& path, const QByteArray* postBody) {
    QUrl url = m_base;
    url.setPath(path);
    QNetworkRequest request(url);
    request.setRawHeader(QByteArrayLiteral("Authorization"), "Bearer " + m_apiKey.toUtf8());
    request.setTransferTimeout(kTransferTimeoutMs);
    if (url.scheme() == QStringLiteral("https")) {
        net::ClientTlsOptions options = m_tlsOptions;
        options.insecureDev = false;
        auto tls = net::clientTlsConfiguration(options);
        if (!tls) {
            fail(QString::fromStdString(tls.error().message));
            return nullptr;
        }
        request.setSslConfiguration(*tls);
    }
    QNetworkReply* reply = nullptr;
    if (postBody) {
        request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
        reply = m_network.post(request, *postBody);
    } else {
        reply = m_network.get(request);
    }
    if (!m_tlsOptions.pinnedFingerprint.isEmpty()) {
        const QString pin = m_tlsOptions.pinnedFingerprint;
        connect(reply, &QNetworkReply::sslErrors, reply, [reply, pin](const QList<QSslError>& errors) {
            // With a pin, only the pinned certificate is trusted (see TlsSetup.h).
            if (net::acceptPinnedCertificate(errors, reply->sslConfiguration().peerCertificate(), pin))
                reply->ignoreSslErrors(errors);
        });
    }
    return reply;
}

QString AccountBinder::describe(QNetworkReply* reply, const QByteArray& body) {
    const QJsonObject error =
        QJsonDocument::fromJson(body).object().value(QStringLiteral("error")).toObject();
    const QString message = error.value(QStringLiteral("message")).toString();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (!message.isEmpty())
        return QStringLiteral("the gateway refused the binding (HTTP %1): %2").arg(status).arg(message);
    return QStringLiteral("binding request failed: %1").arg(reply->errorString());
}

void AccountBinder::onBindInfo(QNetworkReply* reply) {
    reply->deleteLater();
    const QByteArray body = reply->readAll();
    if (reply->error() != QNetworkReply::NoError) {
        m_lastFailureStatus = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        return fail(describe(reply, body));
    }
    const QJsonObject info = QJsonDocument::fromJson(body).object();
    const std::string account = info.value(QStringLiteral("account")).toString().toStdString();
    const std::string audience = info.value(QStringLiteral("audience")).toString().toStdString();
    if (account.empty() || audience.empty())
        return fail(QStringLiteral("the gateway's binding answer lacks the account or audience"));
    // The gateway's clock, not ours: a node with a wrong clock can still bind (the time only bounds replays).
    qint64 timestampMs = static_cast<qint64>(info.value(QStringLiteral("server_time_ms")).toDouble());
    if (timestampMs <= 0)
        timestampMs = QDateTime::currentMSecsSinceEpoch();
    const std::string nonceHex = QByteArray::fromStdString(randomBytes(16)).toHex().toStdString();
    const std::string message =
        nodeBindingMessage(account, m_identity.nodeId(), audience, timestampMs, nonceHex);
    const std::string signature = m_identity.sign(message);
    const QJsonObject request{
        {QStringLiteral("account"), QString::fromStdString(account)},
        {QStringLiteral("node_public_key"),
         QString::fromLatin1(QByteArray::fromStdString(m_identity.publicKey()).toHex())},
        {QStringLiteral("timestamp_ms"), timestampMs},
        {QStringLiteral("nonce"), QString::fromStdString(nonceHex)},
        {QStringLiteral("audience"), QString::fromStdString(audience)},
        {QStringLiteral("signature"), QString::fromLatin1(QByteArray::fromStdString(signature).toHex())}};
    const QByteArray post = QJsonDocument(request).toJson(QJsonDocument::Compact);
    QNetworkReply* next = send(QStringLiteral("/v1/nodes/bind"), &post);
    if (next)
        connect(next, &QNetworkReply::finished, this, [this, next] { onBindResult(next); });
}

void AccountBinder::onBindResult(QNetworkReply* reply) {
    reply->deleteLater();
    const QByteArray body = reply->readAll();
    if (reply->error() != QNetworkReply::NoError) {
        m_lastFailureStatus = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        return fail(describe(reply, body));
    }
    const QJsonObject answer = QJsonDocument::fromJson(body).object();
    m_busy = false;
    m_apiKey.clear();
    Q_EMIT bound(answer.value(QStringLiteral("account")).toString(),
                 answer.value(QStringLiteral("node_id")).toString(),
                 answer.value(QStringLiteral("status")).toString() == QStringLiteral("already_bound"));
}

void AccountBinder::fail(const QString& reason) {
    m_busy = false;
    m_apiKey.clear();
    Q_EMIT failed(reason);
}

} // namespace declai::node
