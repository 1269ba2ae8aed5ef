// ModelStore + ShardDownloader end to end over loopback HTTP: a node fetches layers [2, 5) of
// stories260K as a sparse file, only those bytes cross the wire, the file runs bit-identically to the
// original, a restart resumes without re-downloading, a tampered tensor is caught and named, a too-small
// disk budget fails before any download, and the Range edge cases get the right status codes.
#include "TestData.h"
#include "declai/core/ShardManifest.h"
#include "declai/gpu/ModelWeights.h"
#include "declai/gpu/ShardExecutor.h"
#include "declai/gpu/ThreadPool.h"
#include "declai/network/ShardDownloader.h"
#include "declai/server/ModelStore.h"

#include <QDir>
#include <QFile>
#include <QHttpServer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <sys/stat.h>

using namespace declai;
using declai::net::ShardDownloader;
using declai::server::ByteRange;
using declai::server::ModelStore;
using declai::server::RangeParse;

namespace {

constexpr int kTimeoutMs = 30000;

struct HttpResult {
    int status = -1;
    QByteArray body;
    QByteArray contentRange;
};

struct Outcome {
    bool finished = false;
    bool failed = false;
    QString path;
    QString error;
    int rangeRequests = 0;
    int skipped = 0;
};

// Runs layers `layers` of the model at `path` over fixed inputs: a 4-token prefill then one decode step.
std::vector<float> runShard(const QString& path, LayerRange layers) {
    auto weights = ModelWeights::load(path.toStdString());
    if (!weights) {
        qWarning("%s", weights.error().message.c_str());
        return {};
    }
    ThreadPool pool(2);
    auto executor = ShardExecutor::create(*weights, layers, pool);
    if (!executor) {
        qWarning("%s", executor.error().message.c_str());
        return {};
    }
    const int64_t dim = (*executor)->hiddenSize();
    const int64_t n = 4;
    std::vector<float> hidden(static_cast<size_t>(n * dim));
    for (size_t i = 0; i < hidden.size(); ++i)
        hidden[i] = 0.5f * std::sin(0.37f * float(i)) + 0.01f * float(i % 7);
    if (!(*executor)->forward(1, 0, hidden, n))
        return {};
    std::vector<float> next(static_cast<size_t>(dim));
    for (size_t i = 0; i < next.size(); ++i)
        next[i] = 0.3f * std::cos(0.11f * float(i));
    if (!(*executor)->forward(1, n, next, 1))
        return {};
    hidden.insert(hidden.end(), next.begin(), next.end());
    return hidden;
}

uint64_t allocatedBytes(const QString& path) {
    struct stat st {};
    if (::stat(QFile::encodeName(path).constData(), &st) != 0)
        return UINT64_MAX;
    return uint64_t(st.st_blocks) * 512;
}

} // namespace

class TestModelStore : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_root;
    QString m_originalPath;
    QString m_servedPath;
    std::unique_ptr<ModelStore> m_store;
    std::unique_ptr<QHttpServer> m_http;
    quint16 m_port = 0;
    QNetworkAccessManager m_network;
    ShardManifest m_manifest;
    QString m_digest;
    std::vector<float> m_reference; // layers [2, 5) of the original file

    QUrl url(const QString& path) const {
        QUrl u;
        u.setScheme(QStringLiteral("http"));
        u.setHost(QStringLiteral("127.0.0.1"));
        u.setPort(m_port);
        u.setPath(path);
        return u;
    }
    QUrl manifestUrl() const { return url(QStringLiteral("/v1/models/stories260K/manifest")); }
    QUrl fileUrl() const { return url(QStringLiteral("/v1/models/stories260K/file")); }
    QString cacheDir(const QString& name) const { return m_root.filePath(QStringLiteral("cache-") + name); }

    HttpResult get(const QString& path, const QByteArray& range = {}) {
        QNetworkRequest request(url(path));
        if (!range.isEmpty())
            request.setRawHeader("Range", range);
        request.setTransferTimeout(kTimeoutMs);
        QNetworkReply* reply = m_network.get(request);
        HttpResult r;
        if (!QTest::qWaitFor([&] { return reply->isFinished(); }, kTimeoutMs)) {
            reply->abort();
            reply->deleteLater();
            return r;
        }
        r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        r.body = reply->readAll();
        r.contentRange = reply->rawHeader("Content-Range");
        reply->deleteLater();
        return r;
    }

    Outcome download(ShardDownloader& d, int64_t begin, int64_t end, const QString& digest = {},
                     const QUrl& file = {}) {
        QSignalSpy finished(&d, &ShardDownloader::finished);
        QSignalSpy failed(&d, &ShardDownloader::failed);
        d.start(manifestUrl(), file.isEmpty() ? fileUrl() : file, digest.isEmpty() ? m_digest : digest, begin,
                end);
        Outcome o;
        if (!QTest::qWaitFor([&] { return finished.count() + failed.count() > 0; }, kTimeoutMs)) {
            o.error = QStringLiteral("timed out");
            return o;
        }
        o.finished = finished.count() == 1;
        o.failed = failed.count() == 1;
        if (o.finished)
            o.path = finished.front().front().toString();
        if (o.failed)
            o.error = failed.front().front().toString();
        o.rangeRequests = d.rangeRequestCount();
        o.skipped = d.skippedCount();
        return o;
    }

    Outcome download(const QString& cache, uint64_t budget, int64_t begin, int64_t end) {
        ShardDownloader d(m_network, cache, budget);
        return download(d, begin, end);
    }

    uint64_t shardBytes(int64_t begin, int64_t end) const {
        return m_manifest.dataOffset + m_manifest.bytesForLayers(begin, end);
    }

private Q_SLOTS:
    void initTestCase() {
        m_originalPath = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (m_originalPath.isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf not found in DECLAI_MODEL_PATH"));
        QVERIFY(m_root.isValid());
        const QString modelDir = m_root.filePath(QStringLiteral("models"));
        QVERIFY(QDir().mkpath(modelDir));
        m_servedPath = QDir(modelDir).filePath(QStringLiteral("stories260K.gguf"));
        QVERIFY(QFile::copy(m_originalPath, m_servedPath));
        // The source is read-only; the tamper test writes to the served copy.
        QVERIFY(QFile::setPermissions(m_servedPath, QFile::ReadOwner | QFile::WriteOwner));
        {
            QFile broken(QDir(modelDir).filePath(QStringLiteral("broken.gguf")));
            QVERIFY(broken.open(QIODevice::WriteOnly));
            broken.write("GGUF but not really a model file");
        }
        {
            QFile notes(QDir(modelDir).filePath(QStringLiteral("notes.txt")));
            QVERIFY(notes.open(QIODevice::WriteOnly));
        }

        m_store = std::make_unique<ModelStore>(modelDir, m_root.filePath(QStringLiteral("store-cache")));
        auto scanned = m_store->scan();
        QVERIFY2(scanned, scanned ? "" : scanned.error().message.c_str());
        QCOMPARE(m_store->models().size(), size_t(1));
        QCOMPARE(m_store->rejected().size(), size_t(1));
        QVERIFY(m_store->rejected().front().path.endsWith(QStringLiteral("broken.gguf")));
        QVERIFY(!m_store->rejected().front().reason.isEmpty());
        const ModelStore::Entry* entry = m_store->find(QStringLiteral("stories260K"));
        QVERIFY(entry);
        QVERIFY(!m_store->find(QStringLiteral("broken")));
        m_manifest = entry->manifest;
        m_digest = QString::fromStdString(m_manifest.digest);

        m_http = std::make_unique<QHttpServer>();
        m_store->registerRoutes(*m_http);
        m_port = m_http->listen(QHostAddress::LocalHost, 0);
        QVERIFY(m_port != 0);

        m_reference = runShard(m_originalPath, {2, 5});
        QVERIFY(!m_reference.empty());
    }

    void rangeHeaderParsing() {
        ByteRange r;
        QCOMPARE(server::parseRangeHeader("", 100, r), RangeParse::None);
        QCOMPARE(server::parseRangeHeader("bytes=0-9", 100, r), RangeParse::Ok);
        QCOMPARE(r.first, uint64_t(0));
        QCOMPARE(r.last, uint64_t(9));
        QCOMPARE(server::parseRangeHeader("bytes=90-200", 100, r), RangeParse::Ok);
        QCOMPARE(r.last, uint64_t(99));
        QCOMPARE(server::parseRangeHeader("bytes=-5", 100, r), RangeParse::Ok);
        QCOMPARE(r.first, uint64_t(95));
        QCOMPARE(server::parseRangeHeader("bytes=-500", 100, r), RangeParse::Ok);
        QCOMPARE(r.first, uint64_t(0));
        QCOMPARE(server::parseRangeHeader("bytes=50-", 100, r), RangeParse::Ok);
        QCOMPARE(r.length(), uint64_t(50));
        QCOMPARE(server::parseRangeHeader("bytes=100-", 100, r), RangeParse::Unsatisfiable);
        QCOMPARE(server::parseRangeHeader("bytes=-0", 100, r), RangeParse::Unsatisfiable);
        QCOMPARE(server::parseRangeHeader("bytes=0-1,4-5", 100, r), RangeParse::MultiRange);
        QCOMPARE(server::parseRangeHeader("bytes=5-1", 100, r), RangeParse::Malformed);
        QCOMPARE(server::parseRangeHeader("bytes=x-1", 100, r), RangeParse::Malformed);
        QCOMPARE(server::parseRangeHeader("items=0-1", 100, r), RangeParse::Malformed);
        QCOMPARE(server::parseRangeHeader("bytes=99999999999999999999999-", 100, r), RangeParse::Malformed);
    }

    void httpRoutes() {
        const HttpResult list = get(QStringLiteral("/v1/models"));
        QCOMPARE(list.status, 200);
        const QJsonArray models =
            QJsonDocument::fromJson(list.body).object().value(QStringLiteral("models")).toArray();
        QCOMPARE(models.size(), 1);
        const QJsonObject model = models.at(0).toObject();
        QCOMPARE(model.value(QStringLiteral("name")).toString(), QStringLiteral("stories260K"));
        QCOMPARE(model.value(QStringLiteral("digest")).toString(), m_digest);
        QCOMPARE(model.value(QStringLiteral("layers")).toInteger(), qint64(5));
        QCOMPARE(model.value(QStringLiteral("size")).toInteger(), qint64(m_manifest.fileSizeBytes));

        const HttpResult manifest = get(QStringLiteral("/v1/models/stories260K/manifest"));
        QCOMPARE(manifest.status, 200);
        auto parsed = ShardManifest::fromJson(QJsonDocument::fromJson(manifest.body).object());
        QVERIFY2(parsed, parsed ? "" : parsed.error().message.c_str());
        QVERIFY(*parsed == m_manifest);

        // What is served is the node view: the rewritten header, then the original data section.
        QFile original(m_originalPath);
        QVERIFY(original.open(QIODevice::ReadOnly));
        const ModelStore::Entry* entry = m_store->find(QStringLiteral("stories260K"));
        QVERIFY(entry);
        QByteArray bytes(qsizetype(entry->view.headerBytes()), Qt::Uninitialized);
        QVERIFY(entry->view.read(*entry->file, 0, entry->view.headerBytes(),
                                 reinterpret_cast<std::byte*>(bytes.data())));
        bytes.append(original.readAll().mid(qsizetype(entry->file->dataOffset())));
        const qint64 size = bytes.size();
        QCOMPARE(uint64_t(size), entry->view.size());
        const QString file = QStringLiteral("/v1/models/stories260K/file");
        // A range touching the embedding, output head or final norm is refused; any other is served.
        auto expectRange = [&](const QByteArray& header, qint64 first, qint64 last) {
            const HttpResult r = get(file, header);
            if (entry->view.withheldIn(uint64_t(first), uint64_t(last - first + 1))) {
                QCOMPARE(r.status, 403);
            } else {
                QCOMPARE(r.status, 206);
                QCOMPARE(r.body, bytes.mid(first, last - first + 1));
                QCOMPARE(r.contentRange, QByteArray("bytes ") + QByteArray::number(first) + '-' +
                                             QByteArray::number(last) + '/' + QByteArray::number(size));
            }
        };

        HttpResult r = get(file, "bytes=0-15");
        QCOMPARE(r.status, 206);
        QCOMPARE(r.body, bytes.left(16));
        QCOMPARE(r.contentRange, QByteArray("bytes 0-15/") + QByteArray::number(size));
        expectRange("bytes=-10", size - 10, size - 1);
        expectRange("bytes=1000-", 1000, size - 1);
        expectRange("bytes=1000-99999999999", 1000, size - 1);
        const ShardManifest::Tensor* layerTensor = m_manifest.findTensor(layerTensorName(3, "ffn_up.weight"));
        QVERIFY(layerTensor);
        const qint64 layerFirst = qint64(layerTensor->offset);
        const qint64 layerLast = layerFirst + qint64(layerTensor->sizeBytes) - 1;
        expectRange(QByteArray("bytes=") + QByteArray::number(layerFirst) + '-' +
                        QByteArray::number(layerLast),
                    layerFirst, layerLast);
        // Data-section ranges are served from the memory map without a copy; the header never is.
        const auto mapped =
            entry->view.mappedRange(*entry->file, uint64_t(layerFirst), uint64_t(layerLast - layerFirst + 1));
        QVERIFY(mapped);
        QCOMPARE(QByteArray(reinterpret_cast<const char*>(mapped->data()), qsizetype(mapped->size())),
                 bytes.mid(layerFirst, layerLast - layerFirst + 1));
        const uint64_t headerBytes = entry->view.headerBytes();
        QVERIFY(!entry->view.mappedRange(*entry->file, 0, 16));
        QVERIFY(!entry->view.mappedRange(*entry->file, headerBytes - 1, 2)); // straddles header and data
        QVERIFY(!entry->view.mappedRange(*entry->file, uint64_t(layerFirst), uint64_t(size))); // past the end
        const GgufTensorInfo* embedding = entry->file->findTensor("token_embd.weight");
        QVERIFY(embedding);
        QVERIFY(!entry->view.mappedRange(*entry->file, headerBytes + embedding->offset, 1)); // withheld
        r = get(file); // small enough to be served whole, but the whole file holds the embeddings
        QCOMPARE(r.status, 403);

        r = get(file, QByteArray("bytes=") + QByteArray::number(size) + '-');
        QCOMPARE(r.status, 416);
        QCOMPARE(r.contentRange, QByteArray("bytes */") + QByteArray::number(size));
        r = get(file, "bytes=0-1,10-20");
        QCOMPARE(r.status, 400);
        r = get(file, "bytes=garbage");
        QCOMPARE(r.status, 400);

        r = get(QStringLiteral("/v1/models/nope/file"), "bytes=0-1");
        QCOMPARE(r.status, 404);
        QVERIFY(QJsonDocument::fromJson(r.body)
                    .object()
                    .value(QStringLiteral("error"))
                    .toString()
                    .contains(QStringLiteral("nope")));
        r = get(QStringLiteral("/v1/models/nope/manifest"));
        QCOMPARE(r.status, 404);
        QVERIFY(QJsonDocument::fromJson(r.body).object().contains(QStringLiteral("error")));
    }

    void downloadsOnlyTheShard() {
        const QString cache = cacheDir(QStringLiteral("main"));
        const uint64_t servedBefore = m_store->fileBytesServed();
        const uint64_t requestsBefore = m_store->fileRequestCount();
        ShardDownloader d(m_network, cache, uint64_t(1) << 30);
        QSignalSpy progress(&d, &ShardDownloader::progress);
        const Outcome o = download(d, 2, 5);
        QVERIFY2(o.finished, qPrintable(o.error));
        QCOMPARE(o.path, ShardDownloader::localPathFor(cache, m_digest));
        QCOMPARE(QFileInfo(o.path).size(), qint64(m_manifest.fileSizeBytes));

        // Exactly the header and the 27 tensors of layers 2..4 crossed the wire, one request each.
        const uint64_t needed = shardBytes(2, 5);
        QCOMPARE(m_store->fileBytesServed() - servedBefore, needed);
        QCOMPARE(m_store->fileRequestCount() - requestsBefore, uint64_t(28));
        QCOMPARE(o.rangeRequests, 28);
        QVERIFY(needed < m_manifest.fileSizeBytes * 3 / 4);
        QVERIFY(!progress.isEmpty());
        QCOMPARE(progress.back().at(0).toLongLong(), qint64(needed));
        QCOMPARE(progress.back().at(1).toLongLong(), qint64(needed));

        // Sparse: the disk holds about what was fetched (block rounding at the edges of each piece).
        const uint64_t allocated = allocatedBytes(o.path);
        QVERIFY2(allocated <= needed + 28 * 2 * 4096 && allocated < m_manifest.fileSizeBytes,
                 qPrintable(QStringLiteral("allocated %1, needed %2, file %3")
                                .arg(allocated)
                                .arg(needed)
                                .arg(m_manifest.fileSizeBytes)));

        // The sparse copy runs the shard bit-identically to the original.
        const std::vector<float> out = runShard(o.path, {2, 5});
        QCOMPARE(out.size(), m_reference.size());
        QVERIFY(out == m_reference);
    }

    void resumeSkipsVerifiedPieces() {
        const QString cache = cacheDir(QStringLiteral("main"));
        const QString statePath = ShardDownloader::statePathFor(cache, m_digest);
        QVERIFY(QFileInfo::exists(statePath));

        // A restart with everything verified fetches nothing.
        uint64_t requestsBefore = m_store->fileRequestCount();
        Outcome o = download(cache, uint64_t(1) << 30, 2, 5);
        QVERIFY2(o.finished, qPrintable(o.error));
        QCOMPARE(o.rangeRequests, 0);
        QCOMPARE(o.skipped, 28);
        QCOMPARE(m_store->fileRequestCount(), requestsBefore);

        // An interrupted run (one tensor not recorded) fetches just that tensor.
        const std::string dropped = layerTensorName(3, "attn_k.weight");
        {
            QFile f(statePath);
            QVERIFY(f.open(QIODevice::ReadOnly));
            QJsonObject root = QJsonDocument::fromJson(f.readAll()).object();
            f.close();
            QJsonObject verified = root.value(QStringLiteral("verified")).toObject();
            QVERIFY(verified.contains(QString::fromStdString(dropped)));
            verified.remove(QString::fromStdString(dropped));
            root.insert(QStringLiteral("verified"), verified);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(QJsonDocument(root).toJson());
        }
        requestsBefore = m_store->fileRequestCount();
        uint64_t servedBefore = m_store->fileBytesServed();
        o = download(cache, uint64_t(1) << 30, 2, 5);
        QVERIFY2(o.finished, qPrintable(o.error));
        QCOMPARE(o.rangeRequests, 1);
        QCOMPARE(o.skipped, 27);
        QCOMPARE(m_store->fileRequestCount() - requestsBefore, uint64_t(1));
        QCOMPARE(m_store->fileBytesServed() - servedBefore, m_manifest.findTensor(dropped)->sizeBytes);

        // A recorded piece whose bytes changed on disk is caught by the re-verification and fetched again.
        const ShardManifest::Tensor* damaged = m_manifest.findTensor(layerTensorName(4, "ffn_up.weight"));
        QVERIFY(damaged);
        {
            QFile f(ShardDownloader::localPathFor(cache, m_digest));
            QVERIFY(f.open(QIODevice::ReadWrite));
            QVERIFY(f.seek(qint64(damaged->offset + 17)));
            f.write("\x7f\x7f\x7f", 3);
        }
        servedBefore = m_store->fileBytesServed();
        o = download(cache, uint64_t(1) << 30, 2, 5);
        QVERIFY2(o.finished, qPrintable(o.error));
        QCOMPARE(o.rangeRequests, 1);
        QCOMPARE(m_store->fileBytesServed() - servedBefore, damaged->sizeBytes);
        QVERIFY(runShard(o.path, {2, 5}) == m_reference);

        // Another range of the same model fills the same file; the header is not fetched again.
        servedBefore = m_store->fileBytesServed();
        o = download(cache, uint64_t(1) << 30, 0, 2);
        QVERIFY2(o.finished, qPrintable(o.error));
        QCOMPARE(o.rangeRequests, 18);
        QCOMPARE(m_store->fileBytesServed() - servedBefore, m_manifest.bytesForLayers(0, 2));
        QVERIFY(runShard(o.path, {2, 5}) == m_reference);
        QVERIFY(runShard(o.path, {0, 2}) == runShard(m_originalPath, {0, 2}));
    }

    void diskBudgetFailsBeforeDownloading() {
        const uint64_t requestsBefore = m_store->fileRequestCount();
        const QString cache = cacheDir(QStringLiteral("small"));
        Outcome o = download(cache, 1000, 2, 5);
        QVERIFY(o.failed);
        QVERIFY2(o.error.contains(QStringLiteral("disk budget")), qPrintable(o.error));
        QCOMPARE(m_store->fileRequestCount(), requestsBefore);
        QVERIFY(!QFileInfo::exists(ShardDownloader::localPathFor(cache, m_digest)));

        // Other cached shards count against the budget: alone it would fit, next to them it does not.
        const uint64_t needed = shardBytes(2, 5);
        QVERIFY(QDir().mkpath(cache));
        {
            QFile other(ShardDownloader::statePathFor(cache, QString(64, QLatin1Char('e'))));
            QVERIFY(other.open(QIODevice::WriteOnly));
            QJsonObject entry;
            entry.insert(QStringLiteral("offset"), 0);
            entry.insert(QStringLiteral("size"), qint64(needed));
            QJsonObject verified;
            verified.insert(QStringLiteral("blk.0.attn_q.weight"), entry);
            QJsonObject root;
            root.insert(QStringLiteral("verified"), verified);
            other.write(QJsonDocument(root).toJson());
        }
        o = download(cache, needed + needed / 2, 2, 5);
        QVERIFY(o.failed);
        QVERIFY2(o.error.contains(QStringLiteral("disk budget")), qPrintable(o.error));
        QCOMPARE(m_store->fileRequestCount(), requestsBefore);
        o = download(cache, 2 * needed, 2, 5);
        QVERIFY2(o.finished, qPrintable(o.error));
    }

    void refusesWrongDigestAndHttpErrors() {
        Outcome o;
        {
            ShardDownloader d(m_network, cacheDir(QStringLiteral("digest")), uint64_t(1) << 30);
            o = download(d, 2, 5, QString(64, QLatin1Char('0')));
        }
        QVERIFY(o.failed);
        QVERIFY2(o.error.contains(QStringLiteral("digest")), qPrintable(o.error));
        {
            ShardDownloader d(m_network, cacheDir(QStringLiteral("digest")), uint64_t(1) << 30);
            o = download(d, 2, 9);
        }
        QVERIFY(o.failed);
        QVERIFY2(o.error.contains(QStringLiteral("layer range")), qPrintable(o.error));
        {
            ShardDownloader d(m_network, cacheDir(QStringLiteral("http")), uint64_t(1) << 30);
            o = download(d, 2, 5, {}, url(QStringLiteral("/v1/models/nope/file")));
        }
        QVERIFY(o.failed);
        QVERIFY2(o.error.contains(QStringLiteral("HTTP 404")), qPrintable(o.error));

        // Network errors are retried, then reported.
        quint16 deadPort = 0;
        {
            QTcpServer probe;
            QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
            deadPort = probe.serverPort();
        }
        QUrl dead = fileUrl();
        dead.setPort(deadPort);
        {
            ShardDownloader d(m_network, cacheDir(QStringLiteral("dead")), uint64_t(1) << 30);
            d.setRetryPolicy(2, 20);
            d.setMaxInFlight(1);
            o = download(d, 2, 5, {}, dead);
        }
        QVERIFY(o.failed);
        QVERIFY2(o.error.contains(QStringLiteral("gave up after 3 attempts")), qPrintable(o.error));
        QCOMPARE(o.rangeRequests, 3);
    }

    void tamperedTensorIsNamed() {
        const ShardManifest::Tensor* target = m_manifest.findTensor(layerTensorName(3, "ffn_down.weight"));
        QVERIFY(target);
        // The served file's own offsets (the manifest's are those of the node view).
        const ModelStore::Entry* entry = m_store->find(QStringLiteral("stories260K"));
        QVERIFY(entry);
        const ShardManifest::Tensor* inFile = entry->fileManifest.findTensor(target->name);
        QVERIFY(inFile);
        const qint64 at = qint64(inFile->offset + inFile->sizeBytes / 2);
        char original = 0;
        {
            QFile served(m_servedPath);
            QVERIFY(served.open(QIODevice::ReadWrite));
            QVERIFY(served.seek(at));
            QVERIFY(served.getChar(&original));
            QVERIFY(served.seek(at));
            QVERIFY(served.putChar(char(original ^ 0x5a)));
        }
        const QString cache = cacheDir(QStringLiteral("tamper"));
        Outcome o = download(cache, uint64_t(1) << 30, 2, 5);
        {
            QFile served(m_servedPath); // restore for anything that runs after
            QVERIFY(served.open(QIODevice::ReadWrite));
            QVERIFY(served.seek(at));
            QVERIFY(served.putChar(original));
        }
        QVERIFY(o.failed);
        QVERIFY2(o.error.contains(QStringLiteral("'blk.3.ffn_down.weight'")), qPrintable(o.error));
        QVERIFY2(o.error.contains(QStringLiteral("verification")), qPrintable(o.error));

        // Its bytes were never kept, nor recorded as verified.
        QFile local(ShardDownloader::localPathFor(cache, m_digest));
        QVERIFY(local.open(QIODevice::ReadOnly));
        QVERIFY(local.seek(qint64(target->offset)));
        const QByteArray kept = local.read(qint64(target->sizeBytes));
        QCOMPARE(kept, QByteArray(qsizetype(target->sizeBytes), '\0'));
        QFile state(ShardDownloader::statePathFor(cache, m_digest));
        QVERIFY(state.open(QIODevice::ReadOnly));
        const QJsonObject verified =
            QJsonDocument::fromJson(state.readAll()).object().value(QStringLiteral("verified")).toObject();
        QVERIFY(!verified.contains(QStringLiteral("blk.3.ffn_down.weight")));

        // With the original bytes back the same cache completes, keeping what was verified before.
        o = download(cache, uint64_t(1) << 30, 2, 5);
        QVERIFY2(o.finished, qPrintable(o.error));
        QVERIFY(o.skipped > 0);
        QVERIFY(runShard(o.path, {2, 5}) == m_reference);
    }
};

QTEST_GUILESS_MAIN(TestModelStore)
#include "tst_model_store.moc"
