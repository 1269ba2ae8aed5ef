#include "declai/network/TlsSetup.h"

#include "declai/core/Identity.h"
#include "declai/core/OpenSslErrors.h"
#include "declai/core/StrCat.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QSaveFile>
#include <QSslCertificate>
#include <QSslKey>
#include <QSslSocket>
#include <functional>
#include <memory>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace declai::net {

namespace {

constexpr qint64 kMaxPemFileBytes = 1024 * 1024;
constexpr int kValidityDays = 3653; // ten years, leap days included
constexpr const char* kCommonName = "declai-server";

struct Free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(BIO* p) const { BIO_free(p); }
    void operator()(BIGNUM* p) const { BN_free(p); }
    void operator()(ASN1_INTEGER* p) const { ASN1_INTEGER_free(p); }
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
    void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

std::string str(const QString& s) {
    return s.toStdString();
}

Error fileError(ErrorCode code, const QString& file, const std::string& what) {
    std::string message = str(file);
    message.append(": ").append(what);
    return makeError(code, std::move(message));
}

Expected<QByteArray> readSmallFile(const QString& path, const char* what) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        std::string message = "cannot read ";
        message.append(what).append(" ").append(str(path)).append(": ").append(str(file.errorString()));
        return makeError(file.exists() ? ErrorCode::Io : ErrorCode::NotFound, std::move(message));
    }
    if (file.size() > kMaxPemFileBytes)
        return fileError(ErrorCode::Format, path, strCat("too large to be a ", what));
    return file.readAll();
}

Expected<std::string> pemOf(const std::function<int(BIO*)>& write) {
    Owned<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || write(bio.get()) != 1)
        return makeError(ErrorCode::Internal, strCat("cannot encode PEM: ", drainOpensslErrors()));
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    if (size <= 0 || !data)
        return makeError(ErrorCode::Internal, "cannot encode PEM");
    std::string pem(data, static_cast<size_t>(size));
    // The memory BIO is not wiped when freed and may hold a private key.
    OPENSSL_cleanse(data, static_cast<size_t>(size));
    return pem;
}

bool isDnsName(const QString& name) {
    if (name.isEmpty() || name.size() > 253)
        return false;
    const QStringList labels = name.split(QLatin1Char('.'));
    for (qsizetype i = 0; i < labels.size(); ++i) {
        const QString& label = labels[i];
        if (i == 0 && label == QLatin1String("*") && labels.size() > 2)
            continue; // a leading wildcard label, as certificates allow
        if (label.isEmpty() || label.size() > 63 || label.startsWith(QLatin1Char('-')) ||
            label.endsWith(QLatin1Char('-')))
            return false;
        for (const QChar c : label) {
            const bool ok = (c >= QLatin1Char('a') && c <= QLatin1Char('z')) ||
                            (c >= QLatin1Char('0') && c <= QLatin1Char('9')) || c == QLatin1Char('-');
            if (!ok)
                return false;
        }
    }
    return true;
}

// One subjectAltName entry, built directly rather than from an OpenSSL config string, so that a host name
// holding a ',' or ':' cannot smuggle in extra entries.
Expected<void> addAltName(GENERAL_NAMES* names, int type, const std::string& value) {
    Owned<GENERAL_NAME> name(GENERAL_NAME_new());
    if (!name)
        return makeError(ErrorCode::OutOfMemory, "cannot allocate a subjectAltName");
    if (type == GEN_IPADD) {
        ASN1_OCTET_STRING* ip = a2i_IPADDRESS(value.c_str());
        if (!ip)
            return makeError(ErrorCode::InvalidArgument, strCat("invalid IP address '", value, "'"));
        GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip);
    } else {
        ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
        if (!dns || ASN1_STRING_set(dns, value.data(), static_cast<int>(value.size())) != 1) {
            ASN1_IA5STRING_free(dns);
            return makeError(ErrorCode::OutOfMemory, "cannot allocate a subjectAltName");
        }
        GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns);
    }
    if (sk_GENERAL_NAME_push(names, name.get()) <= 0)
        return makeError(ErrorCode::OutOfMemory, "cannot allocate a subjectAltName");
    name.release(); // now owned by names
    return {};
}

Expected<void> addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
        return makeError(ErrorCode::Internal,
                         strCat("cannot add certificate extension ", value, ": ", drainOpensslErrors()));
    return {};
}

struct GeneratedPair {
    std::string certPem;
    std::string keyPem;
};

Expected<GeneratedPair> generateSelfSigned(const QStringList& hostNames) {
    // Collect the names first so that a bad one fails before any key is made.
    QStringList dnsNames{QStringLiteral("localhost")};
    QStringList ipAddresses{QStringLiteral("127.0.0.1"), QStringLiteral("::1")};
    for (QString name : hostNames) {
        name = name.trimmed();
        if (name.startsWith(QLatin1Char('[')) && name.endsWith(QLatin1Char(']')))
            name = name.mid(1, name.size() - 2); // "[2001:db8::1]" as written in URLs
        if (name.isEmpty())
            continue;
        const QHostAddress address(name);
        if (!address.isNull()) {
            const QString canonical = address.toString();
            if (!ipAddresses.contains(canonical))
                ipAddresses.append(canonical);
            continue;
        }
        const QString lower = name.toLower();
        if (!isDnsName(lower))
            return makeError(ErrorCode::InvalidArgument,
                             strCat("'", str(name), "' is neither a host name nor an IP address"));
        if (!dnsNames.contains(lower))
            dnsNames.append(lower);
    }

    Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
    if (!key)
        return makeError(ErrorCode::Internal,
                         strCat("cannot generate an EC P-256 key: ", drainOpensslErrors()));
    Owned<X509> cert(X509_new());
    if (!cert)
        return makeError(ErrorCode::OutOfMemory, "cannot allocate a certificate");

    // 159 random bits: positive (top bit clear, as DER INTEGERs are signed), never zero, and unique
    // enough that two servers' certificates never share issuer+serial.
    std::string serialBytes = randomBytes(20);
    serialBytes[0] = static_cast<char>((static_cast<unsigned char>(serialBytes[0]) & 0x7f) | 0x40);
    Owned<BIGNUM> serialNumber(
        BN_bin2bn(reinterpret_cast<const unsigned char*>(serialBytes.data()), 20, nullptr));
    Owned<ASN1_INTEGER> serial(serialNumber ? BN_to_ASN1_INTEGER(serialNumber.get(), nullptr) : nullptr);

    X509_NAME* subject = X509_get_subject_name(cert.get());
    // notBefore is an hour back so that clients whose clock is a little behind accept a fresh certificate.
    if (!serial || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
        X509_set_serialNumber(cert.get(), serial.get()) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(cert.get()), kValidityDays, 0, nullptr) ||
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(kCommonName), -1, -1, 0) != 1 ||
        X509_set_issuer_name(cert.get(), subject) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1)
        return makeError(ErrorCode::Internal,
                         strCat("cannot fill in the certificate: ", drainOpensslErrors()));

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    // CA:TRUE lets clients use this very file as their trust anchor (--ca); keyCertSign goes with it.
    for (const auto& [nid, value] :
         {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
          std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"},
          std::pair{NID_ext_key_usage, "serverAuth"}, std::pair{NID_subject_key_identifier, "hash"},
          std::pair{NID_authority_key_identifier, "keyid:always"}}) {
        if (Expected<void> added = addExtension(cert.get(), &ctx, nid, value); !added)
            return added.error();
    }

    Owned<GENERAL_NAMES> altNames(sk_GENERAL_NAME_new_null());
    if (!altNames)
        return makeError(ErrorCode::OutOfMemory, "cannot allocate subjectAltName");
    for (const QString& dns : dnsNames) {
        if (Expected<void> added = addAltName(altNames.get(), GEN_DNS, str(dns)); !added)
            return added.error();
    }
    for (const QString& ip : ipAddresses) {
        if (Expected<void> added = addAltName(altNames.get(), GEN_IPADD, str(ip)); !added)
            return added.error();
    }
    if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, altNames.get(), 0, X509V3_ADD_DEFAULT) != 1)
        return makeError(ErrorCode::Internal, strCat("cannot add subjectAltName: ", drainOpensslErrors()));

    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0)
        return makeError(ErrorCode::Internal, strCat("cannot sign the certificate: ", drainOpensslErrors()));

    Expected<std::string> certPem = pemOf([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); });
    if (!certPem)
        return certPem.error();
    Expected<std::string> keyPem = pemOf([&](BIO* bio) {
        return PEM_write_bio_PKCS8PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    if (!keyPem)
        return keyPem.error();
    return GeneratedPair{std::move(certPem.value()), std::move(keyPem.value())};
}

} // namespace

Expected<void> ensureServerCertificate(const QString& dataDir, const QStringList& hostNames) {
    if (dataDir.isEmpty())
        return makeError(ErrorCode::InvalidArgument, "no data folder given for the TLS certificate");
    const QString dir = QDir(dataDir).filePath(QStringLiteral("tls"));
    const QString certFile = QDir(dir).filePath(QStringLiteral("server.crt"));
    const QString keyFile = QDir(dir).filePath(QStringLiteral("server.key"));
    const bool haveCert = QFileInfo::exists(certFile);
    const bool haveKey = QFileInfo::exists(keyFile);
    if (haveCert && haveKey)
        return {}; // never rewrite: clients trust (or pin) exactly this certificate
    if (haveCert != haveKey) {
        // Regenerating would silently replace a certificate that clients trust, or orphan a key that may
        // be the only copy. Let the user decide.
        const QString& present = haveCert ? certFile : keyFile;
        const QString& missing = haveCert ? keyFile : certFile;
        std::string message = str(missing);
        message.append(" is missing but ")
            .append(str(present))
            .append(" exists: restore the missing file, or delete ")
            .append(str(present))
            .append(
                " to create a new certificate (clients will then need the new server.crt or fingerprint)");
        return makeError(ErrorCode::NotFound, std::move(message));
    }

    if (Expected<void> made = makePrivateDirectory(str(dir)); !made)
        return made;
    Expected<GeneratedPair> pair = generateSelfSigned(hostNames);
    if (!pair)
        return pair.error();

    // The key first, with O_EXCL: if another process created it meanwhile we fail instead of mixing pairs.
    Expected<void> keyWritten = writeSecretFile(str(keyFile), pair->keyPem);
    OPENSSL_cleanse(pair->keyPem.data(), pair->keyPem.size());
    if (!keyWritten)
        return keyWritten;

    QSaveFile cert(certFile);
    const bool certWritten = cert.open(QIODevice::WriteOnly) &&
                             cert.write(pair->certPem.data(), static_cast<qint64>(pair->certPem.size())) ==
                                 static_cast<qint64>(pair->certPem.size()) &&
                             cert.commit();
    if (!certWritten) {
        const std::string why = str(cert.errorString());
        // Without its certificate the key is useless and would block the next attempt; remove it.
        QFile::remove(keyFile);
        return fileError(ErrorCode::Io, certFile, strCat("cannot write: ", why));
    }
    return {};
}

Expected<QSslConfiguration> serverTlsConfiguration(const QString& certFile, const QString& keyFile) {
    Expected<QByteArray> certData = readSmallFile(certFile, "certificate file");
    if (!certData)
        return certData.error();
    const QList<QSslCertificate> chain = QSslCertificate::fromData(*certData, QSsl::Pem);
    if (chain.isEmpty() || chain.first().isNull())
        return fileError(ErrorCode::Format, certFile, "no PEM certificate found");
    const QSslCertificate& leaf = chain.first();
    if (leaf.expiryDate() < QDateTime::currentDateTimeUtc())
        return fileError(ErrorCode::InvalidArgument, certFile,
                         strCat("certificate expired on ", str(leaf.expiryDate().toString(Qt::ISODate))));

#ifdef Q_OS_UNIX
    // A TLS key that every local user can read is as good as published. Group access is tolerated: keys
    // of public CAs are often shared with a group such as ssl-cert.
    if (QFileInfo(keyFile).permissions() & (QFileDevice::ReadOther | QFileDevice::WriteOther))
        return fileError(ErrorCode::InvalidArgument, keyFile,
                         strCat("private key is accessible by other users. Run: chmod 600 ", str(keyFile)));
#endif
    Expected<QByteArray> keyData = readSmallFile(keyFile, "private key file");
    if (!keyData)
        return keyData.error();

    // Parse both with OpenSSL as well: Qt cannot tell whether a key belongs to a certificate.
    Owned<BIO> keyBio(BIO_new_mem_buf(keyData->constData(), static_cast<int>(keyData->size())));
    Owned<EVP_PKEY> key(keyBio ? PEM_read_bio_PrivateKey(keyBio.get(), nullptr, refusePassphrase, nullptr)
                               : nullptr);
    if (!key)
        return fileError(ErrorCode::Format, keyFile,
                         strCat("not an unencrypted PEM private key (", drainOpensslErrors(), ")"));
    const QByteArray leafPem = leaf.toPem();
    Owned<BIO> certBio(BIO_new_mem_buf(leafPem.constData(), static_cast<int>(leafPem.size())));
    Owned<X509> x509(certBio ? PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!x509)
        return fileError(ErrorCode::Format, certFile,
                         strCat("unreadable certificate (", drainOpensslErrors(), ")"));
    if (X509_check_private_key(x509.get(), key.get()) != 1) {
        ERR_clear_error();
        std::string message = "does not match the certificate in ";
        message.append(str(certFile));
        return fileError(ErrorCode::InvalidArgument, keyFile, message);
    }

    QSsl::KeyAlgorithm algorithm = QSsl::Opaque;
    switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_EC:
        algorithm = QSsl::Ec;
        break;
    case EVP_PKEY_RSA:
        algorithm = QSsl::Rsa;
        break;
    case EVP_PKEY_DSA:
        algorithm = QSsl::Dsa;
        break;
    default:
        return fileError(ErrorCode::Unsupported, keyFile, "key type not supported (use an EC or RSA key)");
    }
    const QSslKey sslKey(*keyData, algorithm, QSsl::Pem, QSsl::PrivateKey);
    if (sslKey.isNull())
        return fileError(ErrorCode::Format, keyFile, "Qt cannot load this private key");

    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setProtocol(QSsl::TlsV1_2OrLater);
    config.setLocalCertificateChain(chain);
    config.setPrivateKey(sslKey);
    // Nodes authenticate inside the channel (Ed25519 challenge), not with client certificates.
    config.setPeerVerifyMode(QSslSocket::VerifyNone);
    return config;
}

QString certificateFingerprint(const QSslCertificate& certificate) {
    if (certificate.isNull())
        return {};
    return QStringLiteral("SHA256:") +
           QString::fromLatin1(certificate.digest(QCryptographicHash::Sha256).toHex());
}

QString normalizeFingerprint(const QString& pin) {
    QString hex = pin.trimmed();
    if (hex.startsWith(QLatin1String("sha256:"), Qt::CaseInsensitive))
        hex = hex.mid(7);
    hex.remove(QLatin1Char(':'));
    hex = hex.toLower();
    if (hex.size() != 64)
        return {};
    for (const QChar c : hex) {
        if (!((c >= QLatin1Char('0') && c <= QLatin1Char('9')) ||
              (c >= QLatin1Char('a') && c <= QLatin1Char('f'))))
            return {};
    }
    return QStringLiteral("SHA256:") + hex;
}

bool fingerprintMatches(const QSslCertificate& certificate, const QString& pin) {
    const QString normalized = normalizeFingerprint(pin);
    return !normalized.isEmpty() && !certificate.isNull() &&
           certificateFingerprint(certificate) == normalized;
}

Expected<QSslConfiguration> clientTlsConfiguration(const ClientTlsOptions& options) {
    const int modes =
        int(!options.caFile.isEmpty()) + int(!options.pinnedFingerprint.isEmpty()) + int(options.insecureDev);
    if (modes > 1)
        return makeError(ErrorCode::InvalidArgument,
                         "give only one of a CA file, a pinned fingerprint and insecure mode");

    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setProtocol(QSsl::TlsV1_2OrLater);
    config.setPeerVerifyMode(QSslSocket::VerifyPeer);

    if (!options.caFile.isEmpty()) {
        Expected<QByteArray> data = readSmallFile(options.caFile, "CA file");
        if (!data)
            return data.error();
        QList<QSslCertificate> cas = QSslCertificate::fromData(*data, QSsl::Pem);
        if (cas.isEmpty())
            cas = QSslCertificate::fromData(*data, QSsl::Der);
        if (cas.isEmpty() || cas.first().isNull())
            return fileError(ErrorCode::Format, options.caFile, "no PEM or DER certificate found");
        // Replaces the system CAs (and turns off their on-demand loading): only this file is trusted.
        config.setCaCertificates(cas);
    } else if (!options.pinnedFingerprint.isEmpty()) {
        if (normalizeFingerprint(options.pinnedFingerprint).isEmpty())
            return makeError(ErrorCode::InvalidArgument, strCat("'", str(options.pinnedFingerprint),
                                                                "' is not a SHA256 certificate fingerprint"));
        // No CA at all: every server certificate fails verification, so the handshake always reaches the
        // sslErrors handler, where acceptPinnedCertificate compares the fingerprint. With the system CAs
        // left in, a certificate from a public CA would pass without the pin ever being checked.
        config.setCaCertificates({});
    } else if (options.insecureDev) {
        config.setPeerVerifyMode(QSslSocket::VerifyNone);
    }
    return config;
}

bool acceptPinnedCertificate(const QList<QSslError>& errors, const QSslCertificate& peer,
                             const QString& pin) {
    if (!fingerprintMatches(peer, pin))
        return false;
    for (const QSslError& error : errors) {
        switch (error.error()) {
        // What a pin stands in for: the chain to a trusted CA, and the host name check.
        case QSslError::SelfSignedCertificate:
        case QSslError::SelfSignedCertificateInChain:
        case QSslError::UnableToGetLocalIssuerCertificate:
        case QSslError::UnableToGetIssuerCertificate:
        case QSslError::UnableToVerifyFirstCertificate:
        case QSslError::CertificateUntrusted:
        case QSslError::HostNameMismatch:
            break;
        default:
            return false;
        }
    }
    return true;
}

} // namespace declai::net
