#include "declai/network/ShardDownloader.h"

#include "declai/core/GgufFile.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QSaveFile>
#include <QTimer>
#include <algorithm>

#ifdef __linux__
#include <fcntl.h>
#endif

namespace declai::net {
namespace {

QString rangeText(uint64_t first, uint64_t length) {
    return QStringLiteral("bytes %1-%2").arg(first).arg(first + length - 1);
}

// Parses "bytes a-b/size" (Content-Range of a 206).
bool parseContentRange(const QByteArray& header, uint64_t& first, uint64_t& last, uint64_t& size) {
    const QByteArray h = header.trimmed();
    if (!h.startsWith("bytes "))
        return false;
    const QByteArray spec = h.mid(6);
    const qsizetype dash = spec.indexOf('-');
    const qsizetype slash = spec.indexOf('/');
    if (dash <= 0 || slash <= dash + 1)
        return false;
    bool ok1 = false, ok2 = false, ok3 = false;
    first = spec.left(dash).toULongLong(&ok1);
    last = spec.mid(dash + 1, slash - dash - 1).toULongLong(&ok2);
    size = spec.mid(slash + 1).toULongLong(&ok3);
    return ok1 && ok2 && ok3 && first <= last && last < size;
}

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

} // namespace

ShardDownloader::ShardDownloader(QNetworkAccessManager& network, QString cacheDir, uint64_t diskBudgetBytes,
                                 QObject* parent)
    : QObject(parent), m_network(network), m_cacheDir(std::move(cacheDir)),
      m_diskBudgetBytes(diskBudgetBytes) {}

ShardDownloader::~ShardDownloader() {
    abortAll();
}

void ShardDownloader::setRetryPolicy(int maxRetries, int initialBackoffMs) {
    m_maxRetries = std::max(0, maxRetries);
    m_initialBackoffMs = std::max(0, initialBackoffMs);
}

void ShardDownloader::setMaxInFlight(int requests) {
    m_maxInFlight = std::clamp(requests, 1, 4);
}

void ShardDownloader::setChunkBytes(int64_t bytes) {
    m_chunkBytes = std::clamp<int64_t>(bytes, 4096, kMaxChunkBytes);
}

QString ShardDownloader::localPathFor(const QString& cacheDir, const QString& digest) {
    return QDir(cacheDir).filePath(digest + QStringLiteral(".gguf"));
}

QString ShardDownloader::statePathFor(const QString& cacheDir, const QString& digest) {
    return QDir(cacheDir).filePath(digest + QStringLiteral(".state.json"));
}

void ShardDownloader::start(const QUrl& manifestUrl, const QUrl& fileUrl, QString expectedDigest,
                            int64_t layerBegin, int64_t layerEnd, bool includeNonLayer) {
    cancel();
    ++m_generation;
    m_running = true;
    m_manifestUrl = manifestUrl;
    m_fileUrl = fileUrl;
    m_expectedDigest = expectedDigest.trimmed().toLower();
    m_layerBegin = layerBegin;
    m_layerEnd = layerEnd;
    m_includeNonLayer = includeNonLayer;
    m_manifest.reset();
    m_items.clear();
    m_state.clear();
    m_queue.clear();
    m_totalBytes = m_doneBytes = 0;
    m_rangeRequests = 0;
    m_bytesReceived = 0;
    m_skipped = 0;

    // Argument errors are reported like every other failure: asynchronously, once.
    QString argumentError;
    if (m_expectedDigest.size() != 64 ||
        !std::all_of(m_expectedDigest.begin(), m_expectedDigest.end(), [](QChar c) {
            return (c >= QLatin1Char('0') && c <= QLatin1Char('9')) ||
                   (c >= QLatin1Char('a') && c <= QLatin1Char('f'));
        }))
        argumentError = QStringLiteral("expected digest '%1' is not 64 hex digits").arg(expectedDigest);
    else if (layerBegin < 0 || layerEnd < layerBegin || (layerEnd == layerBegin && !includeNonLayer))
        argumentError = QStringLiteral("invalid layer range [%1, %2)").arg(layerBegin).arg(layerEnd);
    else if (m_cacheDir.isEmpty())
        argumentError = QStringLiteral("no cache directory");
    if (!argumentError.isEmpty()) {
        const uint64_t generation = m_generation;
        QTimer::singleShot(0, this, [this, generation, argumentError] {
            if (generation == m_generation && m_running)
                fail(argumentError);
        });
        return;
    }
    m_localPath = localPathFor(m_cacheDir, m_expectedDigest);
    m_statePath = statePathFor(m_cacheDir, m_expectedDigest);
    requestManifest(0);
}

void ShardDownloader::cancel() {
    abortAll();
    m_running = false;
    if (m_file)
        m_file->close();
    m_file.reset();
}

void ShardDownloader::abortAll(bool abortRunning) {
    // Disconnect first: an aborted reply emits finished(), which must not look like a network error.
    // After a failure the other replies are left to finish on their own (at most a few chunks): aborting a
    // reply whose error is already queued makes Qt warn about an internal double error.
    std::vector<QNetworkReply*> replies(m_inFlight.keyBegin(), m_inFlight.keyEnd());
    m_inFlight.clear();
    if (m_manifestReply)
        replies.push_back(m_manifestReply);
    m_manifestReply = nullptr;
    for (QNetworkReply* reply : replies) {
        reply->disconnect(this);
        if (abortRunning && !reply->isFinished()) {
            reply->abort();
            reply->deleteLater();
        } else if (reply->isFinished()) {
            reply->deleteLater();
        } else {
            connect(reply, &QNetworkReply::finished, reply, &QObject::deleteLater);
        }
    }
}

QNetworkReply* ShardDownloader::sendGet(const QUrl& url, const QByteArray& range) {
    QNetworkRequest request(url);
    request.setTransferTimeout(m_requestTimeoutMs);
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
    if (!range.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Range"), range);
    if (m_tls)
        request.setSslConfiguration(*m_tls);
    QNetworkReply* reply = m_network.get(request);
    connect(reply, &QNetworkReply::sslErrors, this, [this, reply](const QList<QSslError>& errors) {
        if (m_pinCheck && m_pinCheck(errors, reply->sslConfiguration().peerCertificate()))
            reply->ignoreSslErrors(errors);
    });
    return reply;
}

bool ShardDownloader::retryOrFail(QNetworkReply* reply, int attempt, const QString& what,
                                  const std::function<void()>& retry) {
    const QVariant status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (status.isValid() && status.toInt() >= 400) {
        // The server answered: retrying the same request would get the same answer.
        QByteArray body = reply->read(512);
        fail(QStringLiteral("%1: HTTP %2 %3 %4")
                 .arg(what)
                 .arg(status.toInt())
                 .arg(reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString(),
                      QString::fromUtf8(body).simplified()));
        return false;
    }
    if (attempt >= m_maxRetries) {
        fail(QStringLiteral("%1: %2 (gave up after %3 attempts)")
                 .arg(what, reply->errorString())
                 .arg(attempt + 1));
        return false;
    }
    const int delayMs = m_initialBackoffMs << std::min(attempt, 10);
    const uint64_t generation = m_generation;
    QTimer::singleShot(delayMs, this, [this, generation, retry] {
        if (generation == m_generation && m_running)
            retry();
    });
    return true;
}

void ShardDownloader::requestManifest(int attempt) {
    QNetworkReply* reply = sendGet(m_manifestUrl, {});
    m_manifestReply = reply;
    connect(reply, &QNetworkReply::downloadProgress, this, [this, reply](qint64 received, qint64) {
        if (received > kMaxManifestBytes && m_manifestReply == reply) {
            m_manifestReply = nullptr;
            reply->disconnect(this);
            reply->abort();
            reply->deleteLater();
            fail(QStringLiteral("manifest %1 is larger than %2 bytes")
                     .arg(m_manifestUrl.toDisplayString())
                     .arg(kMaxManifestBytes));
        }
    });
    connect(reply, &QNetworkReply::finished, this,
            [this, reply, attempt] { onManifestReply(reply, attempt); });
}

void ShardDownloader::onManifestReply(QNetworkReply* reply, int attempt) {
    reply->deleteLater();
    if (m_manifestReply != reply)
        return;
    m_manifestReply = nullptr;
    const QString what = QStringLiteral("manifest %1").arg(m_manifestUrl.toDisplayString());
    if (reply->error() != QNetworkReply::NoError) {
        retryOrFail(reply, attempt, what, [this, attempt] { requestManifest(attempt + 1); });
        return;
    }
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(reply->readAll(), &parseError);
    if (!doc.isObject()) {
        fail(QStringLiteral("%1: not a JSON object (%2)").arg(what, parseError.errorString()));
        return;
    }
    // fromJson validates every field and recomputes the digest from the content (self-consistency).
    auto manifest = ShardManifest::fromJson(doc.object());
    if (!manifest) {
        fail(QStringLiteral("%1: %2").arg(what, qs(manifest.error().message)));
        return;
    }
    if (qs(manifest->digest) != m_expectedDigest) {
        fail(QStringLiteral("%1: digest %2 does not match the expected %3 (the server has a different model)")
                 .arg(what, qs(manifest->digest), m_expectedDigest));
        return;
    }
    if (manifest->layerCount > 0 && m_layerEnd > manifest->layerCount) {
        fail(QStringLiteral("layer range [%1, %2) is outside the model's %3 layers")
                 .arg(m_layerBegin)
                 .arg(m_layerEnd)
                 .arg(manifest->layerCount));
        return;
    }
    m_manifest = std::move(*manifest);
    beginShard();
}

void ShardDownloader::beginShard() {
    const ShardManifest& m = *m_manifest;
    m_items.clear();
    m_items.push_back(Item{kHeaderItemName, 0, m.dataOffset, m.headerSha256, m.dataOffset, false});
    for (const ShardManifest::Tensor* t : m.tensorsForLayers(m_layerBegin, m_layerEnd, m_includeNonLayer))
        m_items.push_back(Item{t->name, t->offset, t->sizeBytes, t->sha256, t->sizeBytes, false});
    if (m_items.size() == 1) {
        fail(QStringLiteral("the manifest has no tensors for layers [%1, %2)")
                 .arg(m_layerBegin)
                 .arg(m_layerEnd));
        return;
    }

    // Resume: the sidecar lists what an earlier run verified. Trust nothing: the pieces this range needs
    // are hashed again (cheap through the map); what fails is zeroed and fetched again.
    loadState();
    if (!m_state.empty()) {
        m_file = std::make_unique<QFile>(m_localPath);
        if (!m_file->open(QIODevice::ReadWrite | QIODevice::Unbuffered)) {
            m_state.clear();
            m_file.reset();
        }
    }
    for (Item& item : m_items) {
        const auto it = m_state.find(item.name);
        if (it == m_state.end())
            continue;
        if (it->second.offset != item.offset || it->second.sizeBytes != item.sizeBytes ||
            it->second.sha256 != item.sha256) {
            m_state.erase(it);
            continue;
        }
        QString error;
        if (verifyRange(item.offset, item.sizeBytes, item.sha256, &error)) {
            item.verified = true;
            item.remainingBytes = 0;
            ++m_skipped;
        } else {
            m_state.erase(it);
            discardRange(item.offset, item.sizeBytes);
        }
    }

    // Disk budget, before any byte is fetched: what this range still needs must fit in what the verified
    // pieces of every cached shard (this model's other ranges included) leave free.
    uint64_t neededBytes = 0;
    for (const Item& item : m_items) {
        m_totalBytes += item.sizeBytes;
        if (item.verified)
            m_doneBytes += item.sizeBytes;
        else
            neededBytes += item.sizeBytes;
    }
    uint64_t usedBytes = otherShardsBytes();
    for (const auto& [name, entry] : m_state)
        usedBytes += entry.sizeBytes;
    const uint64_t freeBytes = m_diskBudgetBytes > usedBytes ? m_diskBudgetBytes - usedBytes : 0;
    if (neededBytes > freeBytes) {
        fail(QStringLiteral(
                 "disk budget exceeded: layers [%1, %2) need %3 more bytes but only %4 of the %5-byte "
                 "budget are free (%6 bytes used by cached shards)")
                 .arg(m_layerBegin)
                 .arg(m_layerEnd)
                 .arg(neededBytes)
                 .arg(freeBytes)
                 .arg(m_diskBudgetBytes)
                 .arg(usedBytes));
        return;
    }

    if (!QDir().mkpath(m_cacheDir)) {
        fail(QStringLiteral("cannot create cache directory %1").arg(m_cacheDir));
        return;
    }
    if (!m_file) {
        m_file = std::make_unique<QFile>(m_localPath);
        if (!m_file->open(QIODevice::ReadWrite | QIODevice::Unbuffered)) {
            fail(QStringLiteral("cannot open %1: %2").arg(m_localPath, m_file->errorString()));
            return;
        }
    }
    // resize() to the full size leaves holes where nothing is written: a sparse file on every filesystem
    // that supports them, so the layers this node does not serve cost no disk.
    if (uint64_t(m_file->size()) != m.fileSizeBytes) {
        if (!m_file->resize(0) || !m_file->resize(qint64(m.fileSizeBytes))) {
            fail(QStringLiteral("cannot size %1 to %2 bytes: %3")
                     .arg(m_localPath)
                     .arg(m.fileSizeBytes)
                     .arg(m_file->errorString()));
            return;
        }
    }
    QString stateError;
    if (!saveState(&stateError)) {
        fail(stateError);
        return;
    }

    for (size_t i = 0; i < m_items.size(); ++i) {
        const Item& item = m_items[i];
        if (item.verified)
            continue;
        for (uint64_t done = 0; done < item.sizeBytes;) {
            const uint64_t length = std::min<uint64_t>(uint64_t(m_chunkBytes), item.sizeBytes - done);
            m_queue.push_back(Chunk{i, item.offset + done, length, 0});
            done += length;
        }
    }
    emitProgress();
    if (m_queue.empty()) {
        // Everything was already verified; finish on the next turn so start() never emits synchronously
        // (beginShard runs from a reply, but keep the rule local).
        const uint64_t generation = m_generation;
        QTimer::singleShot(0, this, [this, generation] {
            if (generation == m_generation && m_running)
                finish();
        });
        return;
    }
    pump();
}

void ShardDownloader::pump() {
    while (m_running && !m_queue.empty() && m_inFlight.size() < m_maxInFlight) {
        Chunk chunk = m_queue.front();
        m_queue.pop_front();
        sendChunk(chunk);
    }
}

void ShardDownloader::sendChunk(Chunk chunk) {
    const QByteArray range = QByteArrayLiteral("bytes=") + QByteArray::number(qulonglong(chunk.offset)) +
                             '-' + QByteArray::number(qulonglong(chunk.offset + chunk.length - 1));
    QNetworkReply* reply = sendGet(m_fileUrl, range);
    ++m_rangeRequests;
    m_inFlight.insert(reply, chunk);
    connect(reply, &QNetworkReply::finished, this, [this, reply, chunk] { onChunkReply(reply, chunk); });
}

void ShardDownloader::onChunkReply(QNetworkReply* reply, Chunk chunk) {
    reply->deleteLater();
    if (!m_inFlight.remove(reply) || !m_running)
        return;
    const Item& item = m_items[chunk.item];
    const QString what =
        QStringLiteral("%1 (%2 of '%3')")
            .arg(m_fileUrl.toDisplayString(), rangeText(chunk.offset, chunk.length), qs(item.name));
    if (reply->error() != QNetworkReply::NoError) {
        Chunk retry = chunk;
        ++retry.attempt;
        retryOrFail(reply, chunk.attempt, what, [this, retry] {
            m_queue.push_front(retry);
            pump();
        });
        return;
    }
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QByteArray body = reply->readAll();
    m_bytesReceived += body.size();
    const uint64_t fileSize = m_manifest->fileSizeBytes;
    QByteArray data;
    uint64_t first = chunk.offset;
    if (status == 206) {
        uint64_t last = 0, size = 0;
        if (!parseContentRange(reply->rawHeader(QByteArrayLiteral("Content-Range")), first, last, size)) {
            fail(QStringLiteral("%1: missing or malformed Content-Range").arg(what));
            return;
        }
        // A server may answer a shorter range than asked (ours caps at 64 MiB), never a different one.
        if (size != fileSize || first != chunk.offset || last >= chunk.offset + chunk.length ||
            uint64_t(body.size()) != last - first + 1) {
            fail(QStringLiteral("%1: the server sent %2 of a %3-byte file (%4 body bytes)")
                     .arg(what, rangeText(first, last - first + 1))
                     .arg(size)
                     .arg(body.size()));
            return;
        }
        data = body;
    } else if (status == 200 && uint64_t(body.size()) == fileSize) {
        // A server that ignores Range sends the whole file; use the part we asked for.
        data = body.mid(qsizetype(chunk.offset), qsizetype(chunk.length));
    } else {
        fail(QStringLiteral("%1: unexpected HTTP %2 with %3 bytes").arg(what).arg(status).arg(body.size()));
        return;
    }

    if (!m_file->seek(qint64(first)) || m_file->write(data) != data.size()) {
        fail(QStringLiteral("cannot write %1 at offset %2: %3")
                 .arg(m_localPath)
                 .arg(first)
                 .arg(m_file->errorString()));
        return;
    }
    const uint64_t written = uint64_t(data.size());
    if (written < chunk.length)
        m_queue.push_front(Chunk{chunk.item, chunk.offset + written, chunk.length - written, 0});
    m_items[chunk.item].remainingBytes -= written;
    m_doneBytes += written;
    emitProgress();
    if (m_items[chunk.item].remainingBytes == 0) {
        completeItem(chunk.item);
        if (!m_running)
            return;
    }
    if (m_queue.empty() && m_inFlight.isEmpty()) {
        finish();
        return;
    }
    pump();
}

void ShardDownloader::completeItem(size_t index) {
    Item& item = m_items[index];
    QString error;
    if (!verifyRange(item.offset, item.sizeBytes, item.sha256, &error)) {
        // Never leave unverified bytes where a later load could read them as weights.
        discardRange(item.offset, item.sizeBytes);
        if (item.name == kHeaderItemName)
            fail(QStringLiteral("the header (bytes [0, %1)) failed verification: %2")
                     .arg(item.offset + item.sizeBytes)
                     .arg(error));
        else
            fail(QStringLiteral("tensor '%1' failed verification: %2").arg(qs(item.name), error));
        return;
    }
    item.verified = true;
    m_state[item.name] = StateEntry{item.offset, item.sizeBytes, item.sha256};
    if (!saveState(&error))
        fail(error);
}

void ShardDownloader::finish() {
    // Last line of defence: the file parses and the tensor table agrees with the manifest for every
    // tensor we fetched (a manifest whose header hash matches but whose tensor offsets lie is refused).
    auto gguf = GgufFile::open(m_localPath.toStdString());
    if (!gguf) {
        fail(QStringLiteral("the downloaded file does not parse: %1").arg(qs(gguf.error().message)));
        return;
    }
    if (gguf->fileSize() != m_manifest->fileSizeBytes || gguf->dataOffset() != m_manifest->dataOffset) {
        fail(QStringLiteral("the downloaded header disagrees with the manifest about the file layout"));
        return;
    }
    for (const Item& item : m_items) {
        if (item.name == kHeaderItemName)
            continue;
        const GgufTensorInfo* t = gguf->findTensor(item.name);
        if (!t || gguf->dataOffset() + t->offset != item.offset || t->sizeBytes != item.sizeBytes) {
            fail(QStringLiteral("tensor '%1' is not where the manifest says").arg(qs(item.name)));
            return;
        }
    }
    if (m_file)
        m_file->close();
    m_file.reset();
    m_running = false;
    Q_EMIT finished(m_localPath);
}

void ShardDownloader::fail(const QString& reason) {
    if (!m_running)
        return;
    abortAll(false);
    m_queue.clear();
    if (m_file)
        m_file->close();
    m_file.reset();
    m_running = false;
    Q_EMIT failed(reason);
}

bool ShardDownloader::verifyRange(uint64_t offset, uint64_t sizeBytes, const std::string& sha256,
                                  QString* error) {
    if (!m_file || uint64_t(m_file->size()) < offset + sizeBytes) {
        *error = QStringLiteral("bytes [%1, +%2) are not in %3").arg(offset).arg(sizeBytes).arg(m_localPath);
        return false;
    }
    uchar* mapped = m_file->map(qint64(offset), qint64(sizeBytes));
    if (!mapped) {
        *error = QStringLiteral("cannot map %1: %2").arg(m_localPath, m_file->errorString());
        return false;
    }
    const std::string actual =
        sha256Hex(std::span<const std::byte>(reinterpret_cast<const std::byte*>(mapped), size_t(sizeBytes)));
    m_file->unmap(mapped);
    if (actual != sha256) {
        *error = QStringLiteral("sha256 %1, the manifest says %2").arg(qs(actual), qs(sha256));
        return false;
    }
    return true;
}

void ShardDownloader::discardRange(uint64_t offset, uint64_t sizeBytes) {
    if (!m_file)
        return;
#ifdef __linux__
    // Punching a hole both zeroes the bytes and gives the disk back.
    if (::fallocate(m_file->handle(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(offset),
                    off_t(sizeBytes)) == 0)
        return;
#endif
    const QByteArray zeros(qsizetype(std::min<uint64_t>(sizeBytes, uint64_t(1) << 20)), '\0');
    if (!m_file->seek(qint64(offset)))
        return;
    for (uint64_t done = 0; done < sizeBytes;) {
        const qint64 piece = qint64(std::min<uint64_t>(uint64_t(zeros.size()), sizeBytes - done));
        if (m_file->write(zeros.constData(), piece) != piece)
            return;
        done += uint64_t(piece);
    }
}

void ShardDownloader::loadState() {
    m_state.clear();
    QFile file(m_statePath);
    if (!QFileInfo::exists(m_localPath) || !file.open(QIODevice::ReadOnly))
        return;
    const QJsonObject root = QJsonDocument::fromJson(file.read(kMaxManifestBytes)).object();
    if (root.value(QStringLiteral("digest")).toString() != m_expectedDigest ||
        root.value(QStringLiteral("fileSize")).toInteger(-1) != qint64(m_manifest->fileSizeBytes) ||
        QFileInfo(m_localPath).size() != qint64(m_manifest->fileSizeBytes))
        return;
    const QJsonObject verified = root.value(QStringLiteral("verified")).toObject();
    for (auto it = verified.begin(); it != verified.end(); ++it) {
        const QJsonObject e = it.value().toObject();
        const qint64 offset = e.value(QStringLiteral("offset")).toInteger(-1);
        const qint64 size = e.value(QStringLiteral("size")).toInteger(-1);
        if (offset < 0 || size <= 0)
            continue;
        m_state[it.key().toStdString()] = StateEntry{
            uint64_t(offset), uint64_t(size), e.value(QStringLiteral("sha256")).toString().toStdString()};
    }
}

bool ShardDownloader::saveState(QString* error) {
    QJsonObject verified;
    for (const auto& [name, entry] : m_state) {
        QJsonObject e;
        e.insert(QStringLiteral("offset"), qint64(entry.offset));
        e.insert(QStringLiteral("size"), qint64(entry.sizeBytes));
        e.insert(QStringLiteral("sha256"), qs(entry.sha256));
        verified.insert(qs(name), e);
    }
    QJsonObject root;
    root.insert(QStringLiteral("digest"), m_expectedDigest);
    root.insert(QStringLiteral("model"), qs(m_manifest->modelName));
    root.insert(QStringLiteral("fileSize"), qint64(m_manifest->fileSizeBytes));
    root.insert(QStringLiteral("verified"), verified);
    // QSaveFile: a crash mid-write leaves the previous sidecar, never a torn one.
    QSaveFile out(m_statePath);
    if (!out.open(QIODevice::WriteOnly) ||
        out.write(QJsonDocument(root).toJson(QJsonDocument::Compact)) < 0 || !out.commit()) {
        *error = QStringLiteral("cannot write %1: %2").arg(m_statePath, out.errorString());
        return false;
    }
    return true;
}

uint64_t ShardDownloader::otherShardsBytes() const {
    uint64_t total = 0;
    const QFileInfoList states =
        QDir(m_cacheDir).entryInfoList({QStringLiteral("*.state.json")}, QDir::Files);
    for (const QFileInfo& info : states) {
        if (info.absoluteFilePath() == QFileInfo(m_statePath).absoluteFilePath())
            continue;
        QFile file(info.absoluteFilePath());
        if (!file.open(QIODevice::ReadOnly))
            continue;
        const QJsonObject verified = QJsonDocument::fromJson(file.read(kMaxManifestBytes))
                                         .object()
                                         .value(QStringLiteral("verified"))
                                         .toObject();
        for (auto it = verified.begin(); it != verified.end(); ++it)
            total += uint64_t(
                std::max<qint64>(0, it.value().toObject().value(QStringLiteral("size")).toInteger(0)));
    }
    return total;
}

void ShardDownloader::emitProgress() {
    Q_EMIT progress(qint64(m_doneBytes), qint64(m_totalBytes));
}

} // namespace declai::net
