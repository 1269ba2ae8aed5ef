// Binds this node's identity to a DeCLAI account, so that the node's verified earnings are credited to that
// account (the one its owner spends from) instead of "node:<id>". No widgets: declai-node uses it headlessly
// (--account-key), the desktop app's wizard the same way.
//
// Two requests to the gateway's HTTPS API, both with the account's API key (Authorization: Bearer):
//   GET  /v1/nodes/bind  -> the key's account name, the gateway's audience (its identity) and its clock
//   POST /v1/nodes/bind  <- the binding message (account, node id, audience, time, fresh nonce) signed with
//                           the node's Ed25519 key; the gateway checks both credentials
// Binding a node that is already bound to the same account succeeds (idempotent); one bound to another
// account is refused (only an operator can unbind it). Threading: the thread that owns the object; every
// step is asynchronous (QNetworkAccessManager), nothing blocks.
#pragma once

#include "declai/core/Identity.h"
#include "declai/network/TlsSetup.h"

#include <QNetworkAccessManager>
#include <QObject>
#include <QPointer>
#include <QUrl>

class QNetworkReply;

namespace declai::node {

class AccountBinder : public QObject {
    Q_OBJECT

public:
    // serverUrl: the gateway as nodes know it (wss://HOST:PORT); the API is https:// on the same port.
    AccountBinder(QUrl serverUrl, net::ClientTlsOptions tls, NodeIdentity identity,
                  QObject* parent = nullptr);

    // The HTTPS base of a gateway's WebSocket URL (wss -> https, ws -> http).
    static QUrl apiBase(const QUrl& serverUrl);

    // Starts binding with apiKey; ends in exactly one of bound() or failed(). A second call while one runs
    // is refused with failed().
    void bind(const QString& apiKey);
    bool busy() const { return m_busy; }
    // The HTTP status of the answer that ended the last bind() in failed() (0: no answer, e.g. unreachable).
    // 409: the node is bound to another account and the ledger refuses to move it (trying again won't help).
    int lastFailureHttpStatus() const { return m_lastFailureStatus; }

Q_SIGNALS:
    // alreadyBound: the node was bound to this account before (nothing changed).
    void bound(const QString& account, const QString& nodeId, bool alreadyBound);
    void failed(const QString& reason);

private:
    QNetworkReply* send(const QString& path, const QByteArray* postBody);
    void onBindInfo(QNetworkReply* reply);
    void onBindResult(QNetworkReply* reply);
    void fail(const QString& reason);
    // The error message of an answer: the OpenAI-style error JSON's message, else the transport error.
    static QString describe(QNetworkReply* reply, const QByteArray& body);

    QUrl m_base;
    net::ClientTlsOptions m_tlsOptions;
    NodeIdentity m_identity;
    QNetworkAccessManager m_network;
    QString m_apiKey;
    bool m_busy = false;
    int m_lastFailureStatus = 0;
};

} // namespace declai::node
