// The server's model files: scans a directory of GGUF files, computes (or loads from cache) each one's
// ShardManifest, and serves the list, the manifests and byte ranges over HTTP so nodes can download
// exactly the layers they are assigned. What is served is each file's NodeFileView: the embedding table,
// output head, final norm and tokenizer never leave the gateway (ranges touching them get 403).
// Threading: everything runs on the server's main thread (QHttpServer is single-threaded there); handlers
// only copy at most 64 MiB out of a memory map, so they stay short.
#pragma once

#include "declai/core/Error.h"
#include "declai/core/GgufFile.h"
#include "declai/core/ModelConfig.h"
#include "declai/core/NodeFileView.h"
#include "declai/core/ShardManifest.h"

#include <QByteArray>
#include <QString>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

class QHttpServer;

namespace declai::server {

// A parsed HTTP Range header: one range "bytes=a-b", "bytes=a-" or "bytes=-n". Pure so it is easy to test.
struct ByteRange {
    uint64_t first = 0; // inclusive
    uint64_t last = 0;  // inclusive
    uint64_t length() const { return last - first + 1; }
};
enum class RangeParse { None, Ok, Malformed, MultiRange, Unsatisfiable };
// Parses `header` against a file of fileSizeBytes; on Ok, `out` is clamped to the file (not yet capped).
RangeParse parseRangeHeader(const QByteArray& header, uint64_t fileSizeBytes, ByteRange& out);

class ModelStore {
public:
    // A range response carries at most this many bytes (a longer request is answered with a shorter 206,
    // which HTTP allows). The TLS socket still encrypts a response on the gateway's event loop, so this
    // bounds how long one download request holds it (16 MiB: ~10-20 ms); nodes ask for 16 MiB chunks.
    static constexpr uint64_t kMaxRangeBytes = uint64_t(16) << 20;
    // A request without Range gets the whole file only when it is at most this large.
    static constexpr uint64_t kMaxFullFileBytes = uint64_t(64) << 20;

    struct Entry {
        QString name; // file name without .gguf; the URL key
        QString path;
        std::shared_ptr<const GgufFile> file;
        ModelConfig config;
        ShardManifest fileManifest; // the whole file (never served)
        NodeFileView view;          // what nodes may download: no embeddings, head or vocabulary
        ShardManifest manifest;     // the view's manifest: served to nodes; its digest names the model
        QByteArray manifestBody;    // compact JSON of the manifest, serialized once
    };
    struct Rejected {
        QString path;
        QString reason;
    };

    // cacheDir keeps computed manifests so restarts do not rehash unchanged files (may be empty: no cache).
    explicit ModelStore(QString modelDir, QString cacheDir);
    ~ModelStore();
    ModelStore(const ModelStore&) = delete;
    ModelStore& operator=(const ModelStore&) = delete;

    // Loads every *.gguf directly in modelDir whose ModelConfig parses; files that do not are listed in
    // rejected() with the reason. Only an unreadable modelDir is an error. Replaces the previous scan.
    Expected<void> scan();

    const std::vector<std::unique_ptr<Entry>>& models() const { return m_entries; }
    const std::vector<Rejected>& rejected() const { return m_rejected; }
    const Entry* find(const QString& name) const;

    // GET /v1/models, GET /v1/models/<name>/manifest, GET /v1/models/<name>/file (single Range).
    // The routes capture `this`: the store must outlive `http`.
    // GET /v1/models/NAME/manifest and /file (for nodes); withList: also the plain GET /v1/models list (the
    // gateway serves its OpenAI-compatible list from the HTTP API instead).
    void registerRoutes(QHttpServer& http, bool withList = true);

    // Counters of the file route (monitoring and tests): requests answered with file bytes, bytes sent.
    uint64_t fileRequestCount() const { return m_fileRequests; }
    uint64_t fileBytesServed() const { return m_fileBytesServed; }
    uint64_t refusedRequestCount() const { return m_refusedRequests; } // ranges touching withheld tensors

private:
    QString m_modelDir;
    QString m_cacheDir;
    std::vector<std::unique_ptr<Entry>> m_entries;
    std::vector<Rejected> m_rejected;
    uint64_t m_fileRequests = 0;
    uint64_t m_fileBytesServed = 0;
    uint64_t m_refusedRequests = 0;
};

} // namespace declai::server
