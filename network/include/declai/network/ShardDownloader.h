// Downloads the part of a model a node serves. Given the server's manifest URL, the file URL, the digest
// the coordinator announced and a layer range [begin, end), it builds a local SPARSE copy of the GGUF at
// <cacheDir>/<digest>.gguf: the file has the original size (holes cost no disk), and only the header and
// the tensors of the range are fetched with HTTP range requests and written at their original offsets, so
// ModelWeights::load() opens it like the original and gives bit-identical results for those layers.
// Every piece is checked against the manifest's SHA-256 before it is recorded as done in
// <cacheDir>/<digest>.state.json; a restarted download re-verifies what the sidecar lists and fetches only
// the rest. Several layer ranges of one model share the one file (their tensors simply fill more of it).
//
// Threading: a QObject living on the node's network thread; call every method from that thread. Signals
// carry only queued-safe types, so receivers on other threads get them queued. Hashing a finished tensor
// runs on this thread too (about 2 ms per MiB). One downloader per digest at a time: two downloaders
// writing the same <digest> files concurrently are not coordinated.
#pragma once

#include "declai/core/ShardManifest.h"

#include <QHash>
#include <QList>
#include <QObject>
#include <QSslConfiguration>
#include <QSslError>
#include <QString>
#include <QUrl>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

class QFile;
class QNetworkAccessManager;
class QNetworkReply;

namespace declai::net {

class ShardDownloader : public QObject {
    Q_OBJECT

public:
    // Called from QNetworkReply::sslErrors with the errors and the peer's certificate; returning true
    // ignores those errors (the certificate matched a pinned one).
    using PinnedCertificateCheck = std::function<bool(const QList<QSslError>&, const QSslCertificate&)>;

    static constexpr int64_t kMaxChunkBytes = int64_t(16) << 20;
    static constexpr int64_t kMaxManifestBytes = int64_t(32) << 20;
    static inline const char* const kHeaderItemName = "<header>";

    // `network` must outlive the downloader and live on the same thread. diskBudgetBytes bounds the
    // verified bytes of every shard in cacheDir together (this one included).
    ShardDownloader(QNetworkAccessManager& network, QString cacheDir, uint64_t diskBudgetBytes,
                    QObject* parent = nullptr);
    ~ShardDownloader() override;

    void setTlsConfiguration(const QSslConfiguration& configuration) { m_tls = configuration; }
    void setPinnedCertificateCheck(PinnedCertificateCheck check) { m_pinCheck = std::move(check); }
    // Per-request transfer timeout (no bytes for this long aborts the request; it is then retried).
    void setRequestTimeoutMs(int timeoutMs) { m_requestTimeoutMs = timeoutMs; }
    // Network errors (not HTTP errors) are retried maxRetries times, waiting initialBackoffMs, then twice
    // as long each time.
    void setRetryPolicy(int maxRetries, int initialBackoffMs);
    void setMaxInFlight(int requests); // clamped to [1, 4]
    void setChunkBytes(int64_t bytes); // clamped to [4096, kMaxChunkBytes]

    // Starts (or restarts, cancelling a running one) the download of layers [layerBegin, layerEnd) and,
    // with includeNonLayer, of the embedding/head/norm tensors too (for a first or last shard). Ends with
    // exactly one of finished() or failed(), never synchronously inside start().
    void start(const QUrl& manifestUrl, const QUrl& fileUrl, QString expectedDigest, int64_t layerBegin,
               int64_t layerEnd, bool includeNonLayer = false);
    // Aborts the requests in flight; emits nothing. Verified pieces stay recorded for a later resume.
    void cancel();
    bool isRunning() const { return m_running; }

    static QString localPathFor(const QString& cacheDir, const QString& digest);
    static QString statePathFor(const QString& cacheDir, const QString& digest);

    // Statistics of the current (last) start(): range requests sent (retries included), body bytes
    // received for them, and pieces that a resume found already verified and skipped.
    int rangeRequestCount() const { return m_rangeRequests; }
    qint64 bytesReceived() const { return m_bytesReceived; }
    int skippedCount() const { return m_skipped; }
    // The validated manifest once it has been fetched.
    const std::optional<ShardManifest>& manifest() const { return m_manifest; }

Q_SIGNALS:
    void progress(qint64 doneBytes, qint64 totalBytes);
    void finished(QString localPath);
    void failed(QString reason);

private:
    // One piece the shard needs: the header or a tensor.
    struct Item {
        std::string name;
        uint64_t offset = 0;
        uint64_t sizeBytes = 0;
        std::string sha256;
        uint64_t remainingBytes = 0; // not yet written in this run
        bool verified = false;
    };
    struct Chunk {
        size_t item = 0;
        uint64_t offset = 0; // absolute
        uint64_t length = 0;
        int attempt = 0;
    };
    // A verified piece as the sidecar records it.
    struct StateEntry {
        uint64_t offset = 0;
        uint64_t sizeBytes = 0;
        std::string sha256;
    };

    QNetworkReply* sendGet(const QUrl& url, const QByteArray& range);
    void requestManifest(int attempt);
    void onManifestReply(QNetworkReply* reply, int attempt);
    void beginShard();
    void pump();
    void sendChunk(Chunk chunk);
    void onChunkReply(QNetworkReply* reply, Chunk chunk);
    // Returns true when the reply's error should be retried (and schedules it); false when it failed.
    bool retryOrFail(QNetworkReply* reply, int attempt, const QString& what,
                     const std::function<void()>& retry);
    void completeItem(size_t index);
    void finish();
    void fail(const QString& reason);
    void abortAll(bool abortRunning = true);

    bool verifyRange(uint64_t offset, uint64_t sizeBytes, const std::string& sha256, QString* error);
    void discardRange(uint64_t offset, uint64_t sizeBytes);
    void loadState();
    bool saveState(QString* error);
    uint64_t otherShardsBytes() const;
    void emitProgress();

    QNetworkAccessManager& m_network;
    QString m_cacheDir;
    uint64_t m_diskBudgetBytes;
    std::optional<QSslConfiguration> m_tls;
    PinnedCertificateCheck m_pinCheck;
    int m_requestTimeoutMs = 30000;
    int m_maxRetries = 3;
    int m_initialBackoffMs = 500;
    int m_maxInFlight = 3;
    int64_t m_chunkBytes = kMaxChunkBytes;

    // Per start().
    uint64_t m_generation = 0; // invalidates retry timers of an earlier start()
    bool m_running = false;
    QUrl m_manifestUrl;
    QUrl m_fileUrl;
    QString m_expectedDigest;
    int64_t m_layerBegin = 0;
    int64_t m_layerEnd = 0;
    bool m_includeNonLayer = false;
    std::optional<ShardManifest> m_manifest;
    QString m_localPath;
    QString m_statePath;
    std::unique_ptr<QFile> m_file;
    std::vector<Item> m_items;
    std::map<std::string, StateEntry> m_state; // verified pieces of this digest (any range)
    std::deque<Chunk> m_queue;
    QHash<QNetworkReply*, Chunk> m_inFlight;
    QNetworkReply* m_manifestReply = nullptr;
    uint64_t m_totalBytes = 0;
    uint64_t m_doneBytes = 0;
    int m_rangeRequests = 0;
    qint64 m_bytesReceived = 0;
    int m_skipped = 0;
};

} // namespace declai::net
