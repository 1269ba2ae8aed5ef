#include "declai/server/ModelStore.h"

#include <QDir>
#include <QFileInfo>
#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponse>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <algorithm>

namespace declai::server {
namespace {

using Status = QHttpServerResponse::StatusCode;

QHttpServerResponse jsonError(Status status, const QString& message) {
    QJsonObject body;
    body.insert(QStringLiteral("error"), message);
    return QHttpServerResponse(body, status);
}

bool parseDigits(QByteArrayView text, uint64_t& out) {
    if (text.isEmpty() || text.size() > 19) // 19 digits always fit in uint64
        return false;
    uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + uint64_t(c - '0');
    }
    out = value;
    return true;
}

QByteArray contentRange(uint64_t first, uint64_t last, uint64_t size) {
    QByteArray s("bytes ");
    s.append(QByteArray::number(qulonglong(first)))
        .append('-')
        .append(QByteArray::number(qulonglong(last)))
        .append('/')
        .append(QByteArray::number(qulonglong(size)));
    return s;
}

} // namespace

RangeParse parseRangeHeader(const QByteArray& header, uint64_t fileSizeBytes, ByteRange& out) {
    const QByteArray h = header.trimmed();
    if (h.isEmpty())
        return RangeParse::None;
    static const QByteArray unit("bytes=");
    if (!h.toLower().startsWith(unit))
        return RangeParse::Malformed;
    const QByteArray spec = h.mid(unit.size()).trimmed();
    if (spec.contains(','))
        return RangeParse::MultiRange;
    const qsizetype dash = spec.indexOf('-');
    if (dash < 0)
        return RangeParse::Malformed;
    const QByteArray firstText = spec.left(dash).trimmed();
    const QByteArray lastText = spec.mid(dash + 1).trimmed();
    if (firstText.isEmpty()) {
        // Suffix range: the last n bytes.
        uint64_t n = 0;
        if (!parseDigits(lastText, n))
            return RangeParse::Malformed;
        if (n == 0 || fileSizeBytes == 0)
            return RangeParse::Unsatisfiable;
        out.first = fileSizeBytes - std::min(n, fileSizeBytes);
        out.last = fileSizeBytes - 1;
        return RangeParse::Ok;
    }
    uint64_t first = 0;
    if (!parseDigits(firstText, first))
        return RangeParse::Malformed;
    uint64_t last = UINT64_MAX;
    if (!lastText.isEmpty()) {
        if (!parseDigits(lastText, last))
            return RangeParse::Malformed;
        if (last < first)
            return RangeParse::Malformed;
    }
    if (first >= fileSizeBytes)
        return RangeParse::Unsatisfiable;
    out.first = first;
    out.last = std::min(last, fileSizeBytes - 1);
    return RangeParse::Ok;
}

ModelStore::ModelStore(QString modelDir, QString cacheDir)
    : m_modelDir(std::move(modelDir)), m_cacheDir(std::move(cacheDir)) {}

ModelStore::~ModelStore() = default;

Expected<void> ModelStore::scan() {
    const QDir dir(m_modelDir);
    if (!dir.exists() || !dir.isReadable())
        return makeError(ErrorCode::NotFound,
                         "model directory '" + m_modelDir.toStdString() + "' is not readable");
    std::vector<std::unique_ptr<Entry>> entries;
    std::vector<Rejected> rejected;
    const QFileInfoList files = dir.entryInfoList({QStringLiteral("*.gguf")}, QDir::Files | QDir::Readable,
                                                  QDir::Name | QDir::IgnoreCase);
    for (const QFileInfo& info : files) {
        const QString path = info.absoluteFilePath();
        auto reject = [&](const std::string& reason) {
            rejected.push_back({path, QString::fromStdString(reason)});
        };
        auto file = GgufFile::open(path.toStdString());
        if (!file) {
            reject(file.error().toString());
            continue;
        }
        auto shared = std::make_shared<const GgufFile>(std::move(*file));
        auto config = ModelConfig::fromGguf(*shared);
        if (!config) {
            reject(config.error().toString());
            continue;
        }
        auto manifest = m_cacheDir.isEmpty() ? ShardManifest::compute(*shared)
                                             : ShardManifest::computeCached(*shared, m_cacheDir);
        if (!manifest) {
            reject(manifest.error().toString());
            continue;
        }
        auto entry = std::make_unique<Entry>();
        entry->name = QString::fromStdString(manifest->modelName);
        if (std::any_of(entries.begin(), entries.end(),
                        [&](const auto& e) { return e->name == entry->name; })) {
            reject("another file already provides the model name '" + manifest->modelName + "'");
            continue;
        }
        entry->path = path;
        entry->file = std::move(shared);
        entry->config = std::move(*config);
        auto view = NodeFileView::create(*entry->file, *manifest);
        if (!view) {
            reject(view.error().toString());
            continue;
        }
        entry->fileManifest = std::move(*manifest);
        entry->view = std::move(*view);
        entry->manifest = entry->view.manifest();
        entry->manifestBody = QJsonDocument(entry->manifest.toJson()).toJson(QJsonDocument::Compact);
        entries.push_back(std::move(entry));
    }
    m_entries = std::move(entries);
    m_rejected = std::move(rejected);
    return {};
}

const ModelStore::Entry* ModelStore::find(const QString& name) const {
    for (const auto& e : m_entries) {
        if (e->name == name)
            return e.get();
    }
    return nullptr;
}

void ModelStore::registerRoutes(QHttpServer& http, bool withList) {
    using Method = QHttpServerRequest::Method;

    if (withList) {
        http.route(QStringLiteral("/v1/models"), Method::Get, [this]() {
            QJsonArray list;
            for (const auto& e : m_entries) {
                QJsonObject o;
                o.insert(QStringLiteral("name"), e->name);
                o.insert(QStringLiteral("digest"), QString::fromStdString(e->manifest.digest));
                o.insert(QStringLiteral("layers"), qint64(e->manifest.layerCount));
                o.insert(QStringLiteral("size"), qint64(e->manifest.fileSizeBytes));
                list.append(o);
            }
            QJsonObject body;
            body.insert(QStringLiteral("models"), list);
            return QHttpServerResponse(body);
        });
    }

    http.route(QStringLiteral("/v1/models/<arg>/manifest"), Method::Get, [this](const QString& name) {
        const Entry* e = find(name);
        if (!e)
            return jsonError(Status::NotFound, QStringLiteral("unknown model '%1'").arg(name));
        return QHttpServerResponse(QByteArrayLiteral("application/json"), e->manifestBody);
    });

    http.route(
        QStringLiteral("/v1/models/<arg>/file"), Method::Get,
        [this](const QString& name, const QHttpServerRequest& request) {
            const Entry* e = find(name);
            if (!e)
                return jsonError(Status::NotFound, QStringLiteral("unknown model '%1'").arg(name));
            // Nodes get the view: the same data section behind a header without the vocabulary.
            const uint64_t size = e->view.size();
            ByteRange range;
            const RangeParse parsed =
                parseRangeHeader(request.value(QByteArrayLiteral("Range")), size, range);
            switch (parsed) {
            case RangeParse::Malformed:
                return jsonError(Status::BadRequest, QStringLiteral("malformed Range header"));
            case RangeParse::MultiRange:
                return jsonError(Status::BadRequest, QStringLiteral("multiple ranges are not supported"));
            case RangeParse::Unsatisfiable: {
                QHttpServerResponse r =
                    jsonError(Status::RequestRangeNotSatisfiable,
                              QStringLiteral("range outside the file (%1 bytes)").arg(size));
                r.addHeader(QByteArrayLiteral("Content-Range"),
                            QByteArrayLiteral("bytes */") + QByteArray::number(qulonglong(size)));
                return r;
            }
            case RangeParse::None:
                if (size > kMaxFullFileBytes)
                    return jsonError(
                        Status::BadRequest,
                        QStringLiteral("the file is %1 bytes: request it with Range headers of at "
                                       "most %2 bytes")
                            .arg(size)
                            .arg(kMaxRangeBytes));
                range = ByteRange{0, size - 1};
                break;
            case RangeParse::Ok:
                range.last = std::min(range.last, range.first + kMaxRangeBytes - 1);
                break;
            }
            // The embedding, output head and final norm stay on the gateway: with them a node could
            // turn the hidden states it sees back into tokens.
            if (auto withheld = e->view.withheldIn(range.first, range.length())) {
                ++m_refusedRequests;
                return jsonError(Status::Forbidden,
                                 QStringLiteral("bytes %1-%2 cover tensor '%3', which this gateway does not "
                                                "serve")
                                     .arg(range.first)
                                     .arg(range.last)
                                     .arg(QString::fromStdString(*withheld)));
            }
            // Tensor data goes out straight from the memory map (GgufFile maps the whole file), without a
            // copy: QHttpServer writes the response into the socket's own buffer before this handler's
            // caller returns to the event loop, and only the event loop (this thread) rescans and unmaps
            // files, so the raw bytes outlive their use. Ranges that touch the rebuilt header are copied.
            QByteArray body;
            if (auto mapped = e->view.mappedRange(*e->file, range.first, range.length())) {
                body = QByteArray::fromRawData(reinterpret_cast<const char*>(mapped->data()),
                                               qsizetype(mapped->size()));
            } else {
                body = QByteArray(qsizetype(range.length()), Qt::Uninitialized);
                if (auto read = e->view.read(*e->file, range.first, range.length(),
                                             reinterpret_cast<std::byte*>(body.data()));
                    !read)
                    return jsonError(Status::InternalServerError,
                                     QString::fromStdString(read.error().message));
            }
            ++m_fileRequests;
            m_fileBytesServed += range.length();
            const bool partial = parsed == RangeParse::Ok;
            QHttpServerResponse r(QByteArrayLiteral("application/octet-stream"), std::move(body),
                                  partial ? Status::PartialContent : Status::Ok);
            r.addHeader(QByteArrayLiteral("Accept-Ranges"), QByteArrayLiteral("bytes"));
            if (partial)
                r.addHeader(QByteArrayLiteral("Content-Range"), contentRange(range.first, range.last, size));
            return r;
        });
}

} // namespace declai::server
