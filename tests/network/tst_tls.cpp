// TLS setup: the server's self-signed certificate, server/client configurations, and real handshakes on
// loopback with a CA file, a wrong CA, a pinned fingerprint and a wrong pin.
#include "declai/network/TlsSetup.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslCertificateExtension>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTemporaryDir>
#include <QTest>
#include <memory>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#endif

using namespace declai::net;

namespace {

constexpr int kTimeoutMs = 10000;

#ifdef Q_OS_UNIX
unsigned modeOf(const QString& path) {
    struct stat info {};
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return 0xffffffffu;
    return static_cast<unsigned>(info.st_mode & 07777);
}
#endif

QByteArray readAll(const QString& path) {
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

QSslCertificate loadCert(const QString& path) {
    const QList<QSslCertificate> certs = QSslCertificate::fromPath(path);
    return certs.isEmpty() ? QSslCertificate() : certs.first();
}

bool mentions(const declai::Error& error, const QString& path) {
    return error.message.find(path.toStdString()) != std::string::npos;
}

struct HandshakeResult {
    bool encrypted = false;
    bool dataArrived = false;
    int sslErrorSignals = 0;
};

} // namespace

class TestTls : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void createsFilesWithOwnerOnlyKey();
    void isIdempotent();
    void certificateContents();
    void refusesBadHostName();
    void refusesHalfAPair();
    void serverConfigurationErrorsNameTheFile();
    void fingerprintFormat();
    void clientConfigurationErrors();
    void pinAcceptanceRules();
    void handshakeWithCaFile();
    void handshakeWithOtherCaFails();
    void handshakeWithPin();
    void handshakeWithWrongPinFails();
    void handshakeInsecureDev();

private:
    HandshakeResult handshake(const QSslConfiguration& clientConfig, const QString& pin = QString());

    QTemporaryDir m_dir;
    QTemporaryDir m_otherDir;
    QString m_certFile;
    QString m_keyFile;
    QString m_otherCertFile;
    QSslConfiguration m_serverConfig;
};

void TestTls::initTestCase() {
    QVERIFY2(QSslSocket::supportsSsl(), "Qt has no working TLS backend");
    QVERIFY(m_dir.isValid() && m_otherDir.isValid());
    const auto made = ensureServerCertificate(
        m_dir.path(), {QStringLiteral("node1.Example.org"), QStringLiteral("10.1.2.3"), QStringLiteral(" ")});
    QVERIFY2(made, made ? "" : made.error().toString().c_str());
    m_certFile = m_dir.filePath(QStringLiteral("tls/server.crt"));
    m_keyFile = m_dir.filePath(QStringLiteral("tls/server.key"));
    const auto other = ensureServerCertificate(m_otherDir.path(), {});
    QVERIFY2(other, other ? "" : other.error().toString().c_str());
    m_otherCertFile = m_otherDir.filePath(QStringLiteral("tls/server.crt"));

    auto config = serverTlsConfiguration(m_certFile, m_keyFile);
    QVERIFY2(config, config ? "" : config.error().toString().c_str());
    m_serverConfig = *config;
}

void TestTls::createsFilesWithOwnerOnlyKey() {
    QVERIFY(QFile::exists(m_certFile));
    QVERIFY(QFile::exists(m_keyFile));
    QVERIFY(readAll(m_keyFile).startsWith("-----BEGIN PRIVATE KEY-----"));
    QVERIFY(readAll(m_certFile).startsWith("-----BEGIN CERTIFICATE-----"));
#ifdef Q_OS_UNIX
    QCOMPARE(modeOf(m_keyFile), 0600u);
    QCOMPARE(modeOf(m_dir.filePath(QStringLiteral("tls"))), 0700u);
#endif
    // Nothing else (no temporary files) is left in the folder.
    QCOMPARE(QDir(m_dir.filePath(QStringLiteral("tls"))).entryList(QDir::Files).size(), 2);
}

void TestTls::isIdempotent() {
    const QString before = certificateFingerprint(loadCert(m_certFile));
    const QByteArray keyBefore = readAll(m_keyFile);
    QVERIFY(before.startsWith(QLatin1String("SHA256:")));
    const auto again = ensureServerCertificate(m_dir.path(), {QStringLiteral("another.example.org")});
    QVERIFY2(again, again ? "" : again.error().toString().c_str());
    QCOMPARE(certificateFingerprint(loadCert(m_certFile)), before);
    QCOMPARE(readAll(m_keyFile), keyBefore);
    QVERIFY(certificateFingerprint(loadCert(m_otherCertFile)) != before);
}

void TestTls::certificateContents() {
    const QSslCertificate cert = loadCert(m_certFile);
    QVERIFY(!cert.isNull());
    QVERIFY(cert.isSelfSigned());
    QCOMPARE(cert.version(), QByteArray("3"));
    QCOMPARE(cert.subjectInfo(QSslCertificate::CommonName), QStringList{QStringLiteral("declai-server")});
    QCOMPARE(cert.issuerInfo(QSslCertificate::CommonName), QStringList{QStringLiteral("declai-server")});
    QCOMPARE(cert.publicKey().algorithm(), QSsl::Ec);
    QCOMPARE(cert.publicKey().length(), 256);

    const auto sans = cert.subjectAlternativeNames();
    const QStringList dns = sans.values(QSsl::DnsEntry);
    const QStringList ips = sans.values(QSsl::IpAddressEntry);
    QVERIFY2(dns.contains(QStringLiteral("localhost")), qPrintable(dns.join(u',')));
    QVERIFY2(dns.contains(QStringLiteral("node1.example.org")), qPrintable(dns.join(u',')));
    QVERIFY2(ips.contains(QStringLiteral("127.0.0.1")), qPrintable(ips.join(u',')));
    QVERIFY2(ips.contains(QStringLiteral("::1")), qPrintable(ips.join(u',')));
    QVERIFY2(ips.contains(QStringLiteral("10.1.2.3")), qPrintable(ips.join(u',')));
    QCOMPARE(dns.size() + ips.size(), 5);

    bool sawCa = false;
    for (const QSslCertificateExtension& ext : cert.extensions()) {
        if (ext.name() == QLatin1String("basicConstraints")) {
            QVERIFY(ext.isCritical());
            QCOMPARE(ext.value().toMap().value(QStringLiteral("ca")).toBool(), true);
            sawCa = true;
        }
    }
    QVERIFY(sawCa);

    const QDateTime now = QDateTime::currentDateTimeUtc();
    QVERIFY(cert.effectiveDate() <= now);
    QVERIFY(cert.expiryDate() > now.addDays(3650 - 2));
    QVERIFY(cert.expiryDate() < now.addDays(3660));
    QVERIFY(cert.serialNumber() != cert.serialNumber().left(0));
    QVERIFY(cert.serialNumber() != loadCert(m_otherCertFile).serialNumber());
}

void TestTls::refusesBadHostName() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    for (const QString& bad : {QStringLiteral("evil,IP:1.2.3.4"), QStringLiteral("a b"),
                               QStringLiteral("-bad.example"), QStringLiteral("under_score.example")}) {
        const auto made = ensureServerCertificate(dir.path(), {bad});
        QVERIFY(!made);
        QVERIFY2(made.error().message.find(bad.toStdString()) != std::string::npos,
                 made.error().message.c_str());
    }
    QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("tls/server.key"))));
    QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("tls/server.crt"))));
}

void TestTls::refusesHalfAPair() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(ensureServerCertificate(dir.path(), {}));
    const QString key = dir.filePath(QStringLiteral("tls/server.key"));
    const QString cert = dir.filePath(QStringLiteral("tls/server.crt"));
    const QByteArray certBefore = readAll(cert);
    QVERIFY(QFile::remove(key));
    const auto made = ensureServerCertificate(dir.path(), {});
    QVERIFY(!made);
    QVERIFY2(mentions(made.error(), key), made.error().message.c_str());
    QCOMPARE(readAll(cert), certBefore); // not overwritten
    QVERIFY(!QFile::exists(key));
}

void TestTls::serverConfigurationErrorsNameTheFile() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString missing = dir.filePath(QStringLiteral("missing.crt"));
    auto result = serverTlsConfiguration(missing, m_keyFile);
    QVERIFY(!result);
    QVERIFY2(mentions(result.error(), missing), result.error().message.c_str());

    const QString garbage = dir.filePath(QStringLiteral("garbage.pem"));
    {
        QFile file(garbage);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n");
    }
    QVERIFY(QFile::setPermissions(garbage, QFile::ReadOwner | QFile::WriteOwner));
    result = serverTlsConfiguration(garbage, m_keyFile);
    QVERIFY(!result);
    QVERIFY2(mentions(result.error(), garbage), result.error().message.c_str());
    result = serverTlsConfiguration(m_certFile, garbage);
    QVERIFY(!result);
    QVERIFY2(mentions(result.error(), garbage), result.error().message.c_str());

    // A key that belongs to another certificate.
    const QString otherKey = m_otherDir.filePath(QStringLiteral("tls/server.key"));
    result = serverTlsConfiguration(m_certFile, otherKey);
    QVERIFY(!result);
    QVERIFY2(mentions(result.error(), otherKey), result.error().message.c_str());
    QVERIFY2(mentions(result.error(), m_certFile), result.error().message.c_str());

#ifdef Q_OS_UNIX
    const QString looseKey = dir.filePath(QStringLiteral("loose.key"));
    QVERIFY(QFile::copy(m_keyFile, looseKey));
    QCOMPARE(::chmod(QFile::encodeName(looseKey).constData(), 0644), 0);
    result = serverTlsConfiguration(m_certFile, looseKey);
    QVERIFY(!result);
    QVERIFY2(mentions(result.error(), looseKey), result.error().message.c_str());
    QVERIFY2(result.error().message.find("chmod 600") != std::string::npos, result.error().message.c_str());
#endif

    QCOMPARE(m_serverConfig.protocol(), QSsl::TlsV1_2OrLater);
    QVERIFY(!m_serverConfig.privateKey().isNull());
    QCOMPARE(m_serverConfig.localCertificate(), loadCert(m_certFile));
}

void TestTls::fingerprintFormat() {
    const QSslCertificate cert = loadCert(m_certFile);
    const QString fingerprint = certificateFingerprint(cert);
    QCOMPARE(fingerprint.size(), 7 + 64);
    QVERIFY(fingerprint.startsWith(QLatin1String("SHA256:")));
    QCOMPARE(fingerprint.mid(7), fingerprint.mid(7).toLower());
    QCOMPARE(fingerprint.mid(7),
             QString::fromLatin1(QCryptographicHash::hash(cert.toDer(), QCryptographicHash::Sha256).toHex()));
    QVERIFY(certificateFingerprint(QSslCertificate()).isEmpty());

    const QString hex = fingerprint.mid(7);
    QCOMPARE(normalizeFingerprint(hex), fingerprint);
    QCOMPARE(normalizeFingerprint(hex.toUpper()), fingerprint);
    QCOMPARE(normalizeFingerprint(QStringLiteral("sha256:") + hex), fingerprint);
    QString colons;
    for (int i = 0; i < hex.size(); i += 2)
        colons += (i ? QStringLiteral(":") : QString()) + hex.mid(i, 2);
    QCOMPARE(normalizeFingerprint(QStringLiteral("SHA256:") + colons), fingerprint);
    QVERIFY(normalizeFingerprint(hex.left(63)).isEmpty());
    QVERIFY(normalizeFingerprint(hex + QStringLiteral("0")).isEmpty());
    QVERIFY(normalizeFingerprint(hex.left(63) + QStringLiteral("g")).isEmpty());
    QVERIFY(normalizeFingerprint(QString()).isEmpty());
    QVERIFY(fingerprintMatches(cert, hex.toUpper()));
    QVERIFY(!fingerprintMatches(cert, certificateFingerprint(loadCert(m_otherCertFile))));
    QVERIFY(!fingerprintMatches(QSslCertificate(), fingerprint));
}

void TestTls::clientConfigurationErrors() {
    QVERIFY(!clientTlsConfiguration({m_certFile, certificateFingerprint(loadCert(m_certFile)), false}));
    QVERIFY(!clientTlsConfiguration({m_certFile, QString(), true}));
    QVERIFY(!clientTlsConfiguration({QString(), QStringLiteral("SHA256:1234"), false}));

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString missing = dir.filePath(QStringLiteral("nope.crt"));
    auto result = clientTlsConfiguration({missing, QString(), false});
    QVERIFY(!result);
    QVERIFY2(mentions(result.error(), missing), result.error().message.c_str());
    const QString garbage = dir.filePath(QStringLiteral("garbage.crt"));
    {
        QFile file(garbage);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("not a certificate");
    }
    result = clientTlsConfiguration({garbage, QString(), false});
    QVERIFY(!result);
    QVERIFY2(mentions(result.error(), garbage), result.error().message.c_str());

    auto withCa = clientTlsConfiguration({m_certFile, QString(), false});
    QVERIFY(withCa);
    QCOMPARE(withCa->caCertificates(), QList<QSslCertificate>{loadCert(m_certFile)});
    QCOMPARE(withCa->peerVerifyMode(), QSslSocket::VerifyPeer);
    QCOMPARE(withCa->protocol(), QSsl::TlsV1_2OrLater);
    auto pinned = clientTlsConfiguration({QString(), certificateFingerprint(loadCert(m_certFile)), false});
    QVERIFY(pinned);
    QVERIFY(pinned->caCertificates().isEmpty());
    QCOMPARE(pinned->peerVerifyMode(), QSslSocket::VerifyPeer);
}

void TestTls::pinAcceptanceRules() {
    const QSslCertificate cert = loadCert(m_certFile);
    const QString pin = certificateFingerprint(cert);
    const QList<QSslError> usual{QSslError(QSslError::SelfSignedCertificate, cert),
                                 QSslError(QSslError::HostNameMismatch, cert)};
    QVERIFY(acceptPinnedCertificate(usual, cert, pin));
    QVERIFY(!acceptPinnedCertificate(usual, cert, certificateFingerprint(loadCert(m_otherCertFile))));
    QVERIFY(!acceptPinnedCertificate(usual, cert, QString()));
    QVERIFY(!acceptPinnedCertificate(usual, QSslCertificate(), pin));
    QVERIFY(!acceptPinnedCertificate({QSslError(QSslError::CertificateExpired, cert)}, cert, pin));
    QVERIFY(!acceptPinnedCertificate({QSslError(QSslError::CertificateSignatureFailed, cert)}, cert, pin));
    QVERIFY(!acceptPinnedCertificate(usual + QList<QSslError>{QSslError(QSslError::CertificateRevoked, cert)},
                                     cert, pin));
}

HandshakeResult TestTls::handshake(const QSslConfiguration& clientConfig, const QString& pin) {
    HandshakeResult result;
    QSslServer server;
    server.setSslConfiguration(m_serverConfig);
    if (!server.listen(QHostAddress::LocalHost, 0)) {
        qWarning("cannot listen on loopback: %s", qPrintable(server.errorString()));
        return result;
    }
    QSignalSpy serverReady(&server, &QTcpServer::pendingConnectionAvailable);

    QSslSocket client;
    client.setSslConfiguration(clientConfig);
    QSignalSpy encrypted(&client, &QSslSocket::encrypted);
    QSignalSpy errors(&client, &QSslSocket::errorOccurred);
    QObject::connect(&client, &QSslSocket::sslErrors, &client, [&](const QList<QSslError>& sslErrors) {
        ++result.sslErrorSignals;
        if (!pin.isEmpty() && acceptPinnedCertificate(sslErrors, client.peerCertificate(), pin))
            client.ignoreSslErrors(sslErrors);
    });
    client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort());

    // Done when the client is encrypted or has given up.
    const bool finished = QTest::qWaitFor(
        [&] {
            return !encrypted.isEmpty() || !errors.isEmpty() ||
                   client.state() == QAbstractSocket::UnconnectedState;
        },
        kTimeoutMs);
    if (!finished)
        qWarning("handshake timed out");
    result.encrypted = !encrypted.isEmpty() && client.isEncrypted();
    if (result.encrypted) {
        // Prove the channel works both ways' setup: the server sees an encrypted socket and its bytes arrive.
        if (QTest::qWaitFor([&] { return !serverReady.isEmpty(); }, kTimeoutMs)) {
            QTcpSocket* accepted = server.nextPendingConnection();
            auto* serverSide = qobject_cast<QSslSocket*>(accepted);
            if (serverSide && serverSide->isEncrypted()) {
                serverSide->write("ping");
                result.dataArrived =
                    QTest::qWaitFor([&] { return client.bytesAvailable() >= 4; }, kTimeoutMs) &&
                    client.read(4) == "ping";
            }
        }
    }
    client.abort();
    return result;
}

void TestTls::handshakeWithCaFile() {
    auto config = clientTlsConfiguration({m_certFile, QString(), false});
    QVERIFY(config);
    const HandshakeResult result = handshake(*config);
    QVERIFY(result.encrypted);
    QVERIFY(result.dataArrived);
    QCOMPARE(result.sslErrorSignals, 0);
}

void TestTls::handshakeWithOtherCaFails() {
    auto config = clientTlsConfiguration({m_otherCertFile, QString(), false});
    QVERIFY(config);
    const HandshakeResult result = handshake(*config);
    QVERIFY(!result.encrypted);
    QVERIFY(result.sslErrorSignals > 0);
}

void TestTls::handshakeWithPin() {
    const QString pin = certificateFingerprint(loadCert(m_certFile));
    auto config = clientTlsConfiguration({QString(), pin, false});
    QVERIFY(config);
    const HandshakeResult result = handshake(*config, pin);
    QVERIFY(result.encrypted);
    QVERIFY(result.dataArrived);
    QVERIFY(result.sslErrorSignals > 0); // the pin was really what let it through
}

void TestTls::handshakeWithWrongPinFails() {
    const QString pin = certificateFingerprint(loadCert(m_otherCertFile));
    auto config = clientTlsConfiguration({QString(), pin, false});
    QVERIFY(config);
    const HandshakeResult result = handshake(*config, pin);
    QVERIFY(!result.encrypted);
    QVERIFY(result.sslErrorSignals > 0);
}

void TestTls::handshakeInsecureDev() {
    auto config = clientTlsConfiguration({QString(), QString(), true});
    QVERIFY(config);
    QCOMPARE(config->peerVerifyMode(), QSslSocket::VerifyNone);
    const HandshakeResult result = handshake(*config);
    QVERIFY(result.encrypted);
    QVERIFY(result.dataArrived);
}

QTEST_GUILESS_MAIN(TestTls)
#include "tst_tls.moc"
