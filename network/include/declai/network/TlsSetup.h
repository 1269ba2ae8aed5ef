// TLS for the server's WebSocket endpoint and for the nodes and clients that connect to it.
//
// The server makes itself a self-signed certificate on first start (DATA_DIR/tls/server.crt + server.key).
// The certificate is also a CA certificate, so the very same server.crt can be handed to nodes as --ca.
// A node can instead pin the certificate's fingerprint (--pin SHA256:...), which needs no file at all.
// A public certificate (Let's Encrypt ...) works too: give its files to serverTlsConfiguration and let the
// clients use the system's CAs.
#pragma once

#include "declai/core/Error.h"

#include <QList>
#include <QSslConfiguration>
#include <QSslError>
#include <QString>
#include <QStringList>

class QSslCertificate;

namespace declai::net {

// Creates DATA_DIR/tls/server.crt and DATA_DIR/tls/server.key unless both exist: EC P-256, ECDSA-SHA256,
// valid 10 years, CN=declai-server, CA:TRUE, subjectAltName = localhost, 127.0.0.1, ::1 plus hostNames
// (DNS names or IP addresses). The key file is 0600 and the folder 0700. If only one of the two files
// exists nothing is overwritten and an error says what to do.
Expected<void> ensureServerCertificate(const QString& dataDir, const QStringList& hostNames);

// Server side: TLS 1.2 or later, the certificate chain from certFile (leaf first) and the unencrypted PEM
// private key from keyFile, which must match the leaf and must not be readable by others. Errors name the
// file at fault.
Expected<QSslConfiguration> serverTlsConfiguration(const QString& certFile, const QString& keyFile);

// "SHA256:" + lowercase hex of the SHA-256 of the certificate's DER encoding; empty for a null certificate.
QString certificateFingerprint(const QSslCertificate& certificate);

// Accepts "SHA256:ab12...", "sha256:AB:12:..." or the bare 64 hex digits; returns the canonical
// "SHA256:<64 lowercase hex>" form, or an empty string if pin is not a SHA-256 fingerprint.
QString normalizeFingerprint(const QString& pin);

// True if certificate is not null and its fingerprint equals pin (any form normalizeFingerprint accepts).
bool fingerprintMatches(const QSslCertificate& certificate, const QString& pin);

// How a node or client checks the server. Give at most one of the three:
//  - caFile: trust exactly the certificates in this PEM (or DER) file, nothing else; full verification,
//    including that the host name or IP connected to is in the certificate.
//  - pinnedFingerprint: trust exactly the server certificate with this fingerprint; see
//    acceptPinnedCertificate.
//  - insecureDev: no verification at all. Still encrypted, but anyone on the path can impersonate the
//    server. Local development only.
// With none of them the system's CAs are used, with full verification.
struct ClientTlsOptions {
    QString caFile;
    QString pinnedFingerprint;
    bool insecureDev = false;
};

Expected<QSslConfiguration> clientTlsConfiguration(const ClientTlsOptions& options);

// Pinning. Certificate pinning cannot be expressed in QSslConfiguration alone, so it is split in two:
// clientTlsConfiguration() sets an EMPTY CA list for a pin. Then no certificate, self-signed or issued by a
// public CA, can verify on its own, so every handshake stops at QSslSocket::sslErrors (QWebSocket::
// sslErrors). The caller connects that signal and does
//
//     if (acceptPinnedCertificate(errors, socket->peerCertificate(), pin))
//         socket->ignoreSslErrors(errors); // exactly these errors, never the argument-less overload
//
// This returns true only if the peer certificate's fingerprint equals the pin AND every error is one that a
// pin legitimately replaces: the certificate is self-signed / its issuer is unknown or untrusted, or the
// host name differs (the pin identifies the key, so the name connected to does not matter). Errors that a
// pin does not excuse (expired or not yet valid, bad signature, revoked ...) make it return false. If the
// handler does not ignore the errors, Qt aborts the handshake.
bool acceptPinnedCertificate(const QList<QSslError>& errors, const QSslCertificate& peer, const QString& pin);

} // namespace declai::net
