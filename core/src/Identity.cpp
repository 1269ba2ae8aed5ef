#include "declai/core/Identity.h"

#include "declai/core/OpenSslErrors.h"
#include "declai/core/StrCat.h"

#include <QtGlobal>
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#else
#include <QDir>
#include <QFile>
#include <QFileInfo>
#endif

namespace declai {

namespace {

struct PkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BioDeleter {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string toHex(const unsigned char* data, size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(size * 2);
    for (size_t i = 0; i < size; ++i) {
        hex.push_back(kDigits[data[i] >> 4]);
        hex.push_back(kDigits[data[i] & 0x0f]);
    }
    return hex;
}

std::string errnoText(int error) {
    return std::string(std::strerror(error));
}

// Wipes a string that held secret material before its memory is released.
void wipe(std::string& secret) {
    if (!secret.empty())
        OPENSSL_cleanse(secret.data(), secret.size());
    secret.clear();
}

} // namespace

// ---- secret files ---------------------------------------------------------------------------------------

#ifdef Q_OS_UNIX

Expected<void> makePrivateDirectory(const std::string& dir) {
    if (dir.empty())
        return makeError(ErrorCode::InvalidArgument, "empty directory name");
    // Create parents one by one; only the last component is ours to restrict, the parents may be shared
    // folders such as the user's home.
    for (size_t pos = dir.find('/', 1); pos != std::string::npos; pos = dir.find('/', pos + 1)) {
        const std::string parent = dir.substr(0, pos);
        if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
            return makeError(ErrorCode::Io, strCat("cannot create folder ", parent, ": ", errnoText(errno)));
    }
    if (::mkdir(dir.c_str(), 0700) == 0) {
        // mkdir's mode is filtered through the umask, which can only remove bits; chmod makes it exact.
        if (::chmod(dir.c_str(), 0700) != 0)
            return makeError(ErrorCode::Io,
                             strCat("cannot set permissions of ", dir, ": ", errnoText(errno)));
        return {};
    }
    if (errno != EEXIST)
        return makeError(ErrorCode::Io, strCat("cannot create folder ", dir, ": ", errnoText(errno)));
    struct stat info {};
    if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
        return makeError(ErrorCode::Io, strCat(dir, " exists but is not a folder"));
    return {};
}

namespace {

Expected<void> writeAll(int fd, std::string_view bytes, const std::string& path) {
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return makeError(ErrorCode::Io, strCat("cannot write ", path, ": ", errnoText(errno)));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0)
        return makeError(ErrorCode::Io, strCat("cannot sync ", path, ": ", errnoText(errno)));
    return {};
}

} // namespace

Expected<void> writeSecretFile(const std::string& path, std::string_view bytes) {
    // A random suffix so that a stale temporary file of a crashed run never blocks the next one.
    const std::string suffix = randomBytes(6);
    std::string temp = path;
    temp.append(".tmp-").append(toHex(reinterpret_cast<const unsigned char*>(suffix.data()), suffix.size()));
    // O_EXCL + O_NOFOLLOW: never write through a link or into a file someone prepared for us.
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return makeError(ErrorCode::Io, strCat("cannot create ", temp, ": ", errnoText(errno)));
    Expected<void> written = writeAll(fd, bytes, temp);
    if (written && ::fchmod(fd, 0600) != 0)
        written =
            makeError(ErrorCode::Io, strCat("cannot set permissions of ", temp, ": ", errnoText(errno)));
    ::close(fd);
    if (!written) {
        ::unlink(temp.c_str());
        return written;
    }
    // link() publishes the complete file atomically and, unlike rename(), refuses to replace an existing
    // one.
    if (::link(temp.c_str(), path.c_str()) != 0) {
        const int error = errno;
        if (error == EEXIST) {
            ::unlink(temp.c_str());
            return makeError(ErrorCode::Io, strCat(path, " already exists; not overwriting it"));
        }
        // Some file systems (FAT, a few FUSE mounts) have no hard links: fall back to rename after
        // checking that the target is still absent.
        struct stat info {};
        if (::lstat(path.c_str(), &info) == 0 || ::rename(temp.c_str(), path.c_str()) != 0) {
            ::unlink(temp.c_str());
            return makeError(ErrorCode::Io, strCat("cannot create ", path, ": ", errnoText(error)));
        }
        return {};
    }
    ::unlink(temp.c_str());
    return {};
}

Expected<std::string> readSecretFile(const std::string& path, size_t maxBytes) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        const int error = errno;
        return makeError(error == ENOENT ? ErrorCode::NotFound : ErrorCode::Io,
                         strCat("cannot open ", path, ": ", errnoText(error)));
    }
    // Check the file we actually opened (fstat), not the name, so that it cannot be swapped in between.
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        const int error = errno;
        ::close(fd);
        return makeError(ErrorCode::Io, strCat("cannot stat ", path, ": ", errnoText(error)));
    }
    if (!S_ISREG(info.st_mode)) {
        ::close(fd);
        return makeError(ErrorCode::Io, strCat(path, " is not a regular file"));
    }
    if ((info.st_mode & 077) != 0) {
        ::close(fd);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        std::string message = "permissions ";
        message.append(mode)
            .append(" of ")
            .append(path)
            .append(" are too open: the private key must be readable by its owner only. Run: chmod 600 ")
            .append(path);
        return makeError(ErrorCode::InvalidArgument, std::move(message));
    }
    if (info.st_size < 0 || static_cast<unsigned long long>(info.st_size) > maxBytes) {
        ::close(fd);
        return makeError(ErrorCode::Format, strCat(path, " is too large to be a key file"));
    }
    std::string data(static_cast<size_t>(info.st_size), '\0');
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int error = n < 0 ? errno : EIO;
            ::close(fd);
            wipe(data);
            return makeError(ErrorCode::Io, strCat("cannot read ", path, ": ", errnoText(error)));
        }
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return data;
}

#else // not Unix: best effort with Qt's file API (owner-only permissions map to the ACL on Windows)

Expected<void> makePrivateDirectory(const std::string& dir) {
    const QString qdir = QString::fromStdString(dir);
    if (QFileInfo(qdir).isDir())
        return {};
    if (!QDir().mkpath(qdir))
        return makeError(ErrorCode::Io, strCat("cannot create folder ", dir));
    QFile::setPermissions(qdir, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
    return {};
}

Expected<void> writeSecretFile(const std::string& path, std::string_view bytes) {
    QFile file(QString::fromStdString(path));
    if (file.exists())
        return makeError(ErrorCode::Io, strCat(path, " already exists; not overwriting it"));
    if (!file.open(QIODevice::WriteOnly | QIODevice::NewOnly))
        return makeError(ErrorCode::Io,
                         strCat("cannot create ", path, ": ", file.errorString().toStdString()));
    file.setPermissions(QFile::ReadOwner | QFile::WriteOwner);
    if (file.write(bytes.data(), static_cast<qint64>(bytes.size())) != static_cast<qint64>(bytes.size()) ||
        !file.flush()) {
        file.remove();
        return makeError(ErrorCode::Io, strCat("cannot write ", path));
    }
    return {};
}

Expected<std::string> readSecretFile(const std::string& path, size_t maxBytes) {
    QFile file(QString::fromStdString(path));
    if (!file.exists())
        return makeError(ErrorCode::NotFound, strCat("cannot open ", path, ": no such file"));
    if (!file.open(QIODevice::ReadOnly))
        return makeError(ErrorCode::Io, strCat("cannot open ", path, ": ", file.errorString().toStdString()));
    if (static_cast<unsigned long long>(file.size()) > maxBytes)
        return makeError(ErrorCode::Format, strCat(path, " is too large to be a key file"));
    const QByteArray data = file.readAll();
    return std::string(data.constData(), static_cast<size_t>(data.size()));
}

#endif

// ---- NodeIdentity ---------------------------------------------------------------------------------------

NodeIdentity::NodeIdentity(std::shared_ptr<evp_pkey_st> key, std::string publicKey, std::string keyFile)
    : m_key(std::move(key)), m_publicKey(std::move(publicKey)), m_nodeId(nodeIdOf(m_publicKey)),
      m_keyFile(std::move(keyFile)) {}

std::string NodeIdentity::nodeIdOf(std::string_view publicKey) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digestSize = 0;
    if (EVP_Digest(publicKey.data(), publicKey.size(), digest, &digestSize, EVP_sha256(), nullptr) != 1)
        return {};
    return toHex(digest, digestSize);
}

Expected<NodeIdentity> NodeIdentity::fromKey(std::shared_ptr<evp_pkey_st> key, std::string keyFile) {
    unsigned char raw[kPublicKeyBytes];
    size_t rawSize = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key.get(), raw, &rawSize) != 1 || rawSize != kPublicKeyBytes)
        return makeError(ErrorCode::Internal,
                         strCat("cannot extract the Ed25519 public key: ", drainOpensslErrors()));
    NodeIdentity identity(std::move(key), std::string(reinterpret_cast<const char*>(raw), rawSize),
                          std::move(keyFile));
    if (identity.m_nodeId.size() != 64)
        return makeError(ErrorCode::Internal, strCat("cannot hash the public key: ", drainOpensslErrors()));
    return identity;
}

Expected<NodeIdentity> NodeIdentity::generateInMemory() {
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
        return makeError(ErrorCode::Internal,
                         strCat("cannot generate an Ed25519 key: ", drainOpensslErrors()));
    return fromKey(std::shared_ptr<evp_pkey_st>(raw, PkeyDeleter{}), {});
}

namespace {

Expected<std::shared_ptr<evp_pkey_st>> parseEd25519Pem(std::string pem, const std::string& path) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) {
        wipe(pem);
        return makeError(ErrorCode::OutOfMemory, strCat("cannot parse ", path, ": ", drainOpensslErrors()));
    }
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, refusePassphrase, nullptr);
    bio.reset();
    wipe(pem);
    if (!raw) {
        return makeError(ErrorCode::Format,
                         strCat(path, " is not a readable unencrypted PEM private key (",
                                drainOpensslErrors(), "); move it away to let a new identity be created"));
    }
    std::shared_ptr<evp_pkey_st> key(raw, PkeyDeleter{});
    if (EVP_PKEY_get_id(raw) != EVP_PKEY_ED25519)
        return makeError(ErrorCode::Format, strCat(path, " does not hold an Ed25519 private key"));
    return key;
}

} // namespace

Expected<NodeIdentity> NodeIdentity::loadOrCreate(const std::string& dataDir, const std::string& fileName) {
    if (dataDir.empty())
        return makeError(ErrorCode::InvalidArgument, "no data folder given for the identity key");
    // The file name comes from our own code, but keep it from escaping the identity folder anyway.
    if (fileName.empty() || fileName == "." || fileName == ".." || fileName.find('/') != std::string::npos ||
        fileName.find('\\') != std::string::npos)
        return makeError(ErrorCode::InvalidArgument, strCat("invalid key file name '", fileName, "'"));

    const std::string dir = strCat(dataDir, "/identity");
    if (Expected<void> made = makePrivateDirectory(dir); !made)
        return made.error();
    const std::string path = strCat(dir, "/", fileName);

    Expected<std::string> existing = readSecretFile(path);
    if (existing) {
        Expected<std::shared_ptr<evp_pkey_st>> key = parseEd25519Pem(std::move(existing.value()), path);
        if (!key)
            return key.error();
        return fromKey(std::move(key.value()), path);
    }
    if (existing.error().code != ErrorCode::NotFound)
        return existing.error();

    Expected<NodeIdentity> fresh = generateInMemory();
    if (!fresh)
        return fresh.error();
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), fresh->m_key.get(), nullptr, nullptr, 0, nullptr,
                                              nullptr) != 1)
        return makeError(ErrorCode::Internal, strCat("cannot encode the new key: ", drainOpensslErrors()));
    char* pemData = nullptr;
    const long pemSize = BIO_get_mem_data(bio.get(), &pemData);
    if (pemSize <= 0 || !pemData)
        return makeError(ErrorCode::Internal, "cannot encode the new key");
    // BIO_free of a memory BIO does not wipe its buffer; wipe it ourselves once the file is written.
    Expected<void> written = writeSecretFile(path, std::string_view(pemData, static_cast<size_t>(pemSize)));
    OPENSSL_cleanse(pemData, static_cast<size_t>(pemSize));
    if (!written) {
        // Another process may have created the key between our read and our write: use theirs.
        Expected<std::string> raced = readSecretFile(path);
        if (!raced)
            return written.error();
        Expected<std::shared_ptr<evp_pkey_st>> key = parseEd25519Pem(std::move(raced.value()), path);
        if (!key)
            return key.error();
        return fromKey(std::move(key.value()), path);
    }
    fresh->m_keyFile = path;
    return fresh;
}

std::string NodeIdentity::sign(std::string_view message) const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    unsigned char signature[kSignatureBytes];
    size_t signatureSize = sizeof signature;
    // Ed25519 hashes internally, so no digest is given, and only the one-shot EVP_DigestSign is allowed.
    if (!ctx || !m_key || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, m_key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), signature, &signatureSize,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
        signatureSize != kSignatureBytes) {
        ERR_clear_error();
        return {};
    }
    return std::string(reinterpret_cast<const char*>(signature), signatureSize);
}

bool NodeIdentity::verify(std::string_view publicKey32, std::string_view message,
                          std::string_view signature) {
    return PublicKey::fromRaw(publicKey32).verify(message, signature);
}

PublicKey PublicKey::fromRaw(std::string_view raw32) {
    PublicKey key;
    if (raw32.size() != NodeIdentity::kPublicKeyBytes)
        return key;
    EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw32.data()), raw32.size());
    if (!raw) {
        ERR_clear_error();
        return key;
    }
    key.m_key = std::shared_ptr<evp_pkey_st>(raw, PkeyDeleter{});
    return key;
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
    if (!m_key || signature.size() != NodeIdentity::kSignatureBytes)
        return false;
    MdCtxPtr ctx(EVP_MD_CTX_new());
    const bool valid =
        ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, m_key.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                         message.size()) == 1;
    // A failed verification leaves entries in the error queue; they are expected, not errors to report.
    ERR_clear_error();
    return valid;
}

std::string authChallengeMessage(std::string_view nonce, std::string_view publicKey) {
    static constexpr std::string_view kDomain = "DECLAI-AUTH-1";
    std::string message;
    message.reserve(kDomain.size() + nonce.size() + publicKey.size());
    message.append(kDomain).append(nonce).append(publicKey);
    return message;
}

std::string randomBytes(size_t n) {
    std::string bytes(n, '\0');
    size_t done = 0;
    while (done < n) {
        const int chunk = static_cast<int>(std::min<size_t>(n - done, INT_MAX));
        if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data() + done), chunk) != 1)
            qFatal("OpenSSL's random number generator failed: %s", drainOpensslErrors().c_str());
        done += static_cast<size_t>(chunk);
    }
    return bytes;
}

} // namespace declai
