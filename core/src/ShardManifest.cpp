#include "declai/core/ShardManifest.h"

#include "declai/core/ModelConfig.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <algorithm>
#include <charconv>
#include <limits>
#include <set>

namespace declai {
namespace {

// Hash input is fed in pieces of this size: QByteArrayView takes a qsizetype, and bounded pieces keep the
// page-cache working set of a huge tensor moving rather than faulting in a whole gigabyte at once.
constexpr size_t kHashPieceBytes = size_t(8) << 20;
// Integers in JSON are kept within the range a double holds exactly, so any JSON reader agrees on them.
constexpr int64_t kMaxJsonInteger = int64_t(1) << 53;
constexpr int kMaxDims = 4;

std::string toStd(const QString& s) {
    return s.toStdString();
}

Error fieldError(const std::string& field, const std::string& problem) {
    std::string message = "manifest field '";
    message.append(field).append("': ").append(problem);
    return makeError(ErrorCode::Format, std::move(message));
}

bool isLowerHex(const std::string& s, size_t length) {
    if (s.size() != length)
        return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Expected<int64_t> readInteger(const QJsonObject& obj, const char* key, const std::string& field,
                              int64_t minValue, int64_t maxValue = kMaxJsonInteger) {
    const QJsonValue v = obj.value(QLatin1String(key));
    if (v.isUndefined())
        return fieldError(field, "missing");
    if (!v.isDouble())
        return fieldError(field, "expected an integer");
    const qint64 invalid = std::numeric_limits<qint64>::min();
    const qint64 i = v.toInteger(invalid);
    if (i == invalid)
        return fieldError(field, "expected an integer");
    if (i < minValue || i > maxValue)
        return fieldError(field, "value " + std::to_string(i) + " is out of range [" +
                                     std::to_string(minValue) + ", " + std::to_string(maxValue) + "]");
    return int64_t(i);
}

Expected<std::string> readString(const QJsonObject& obj, const char* key, const std::string& field) {
    const QJsonValue v = obj.value(QLatin1String(key));
    if (v.isUndefined())
        return fieldError(field, "missing");
    if (!v.isString())
        return fieldError(field, "expected a string");
    return toStd(v.toString());
}

Expected<std::string> readSha(const QJsonObject& obj, const char* key, const std::string& field) {
    auto s = readString(obj, key, field);
    if (!s)
        return s.error();
    if (!isLowerHex(*s, 64))
        return fieldError(field, "expected 64 lower-case hex digits, got " + std::to_string(s->size()) +
                                     " characters");
    return s;
}

std::string fieldName(const char* prefix, size_t index, const char* member) {
    std::string s(prefix);
    s.append("[").append(std::to_string(index)).append("]");
    if (member)
        s.append(".").append(member);
    return s;
}

Expected<ShardManifest::Tensor> tensorFromJson(const QJsonValue& value, size_t index) {
    if (!value.isObject())
        return fieldError(fieldName("tensors", index, nullptr), "expected an object");
    const QJsonObject o = value.toObject();
    ShardManifest::Tensor t;
    auto name = readString(o, "name", fieldName("tensors", index, "name"));
    if (!name)
        return name.error();
    if (name->empty())
        return fieldError(fieldName("tensors", index, "name"), "empty");
    t.name = *name;

    const std::string typeField = fieldName("tensors", index, "type");
    auto typeName = readString(o, "type", typeField);
    if (!typeName)
        return typeName.error();
    const auto type = tensorTypeFromName(*typeName);
    if (!type)
        return fieldError(typeField, "unknown tensor type '" + *typeName + "'");
    t.type = *type;

    const std::string shapeField = fieldName("tensors", index, "shape");
    const QJsonValue shapeValue = o.value(QLatin1String("shape"));
    if (!shapeValue.isArray())
        return fieldError(shapeField, shapeValue.isUndefined() ? "missing" : "expected an array");
    const QJsonArray shape = shapeValue.toArray();
    if (shape.isEmpty() || shape.size() > kMaxDims)
        return fieldError(shapeField, "expected 1 to 4 dimensions, got " + std::to_string(shape.size()));
    uint64_t elements = 1;
    for (qsizetype d = 0; d < shape.size(); ++d) {
        const qint64 extent = shape.at(d).toInteger(0);
        if (!shape.at(d).isDouble() || extent <= 0 || extent > kMaxJsonInteger)
            return fieldError(shapeField, "dimension " + std::to_string(d) + " is not a positive integer");
        if (elements > std::numeric_limits<uint64_t>::max() / uint64_t(extent))
            return fieldError(shapeField, "element count overflows");
        elements *= uint64_t(extent);
        t.shape.push_back(uint64_t(extent));
    }

    auto offset = readInteger(o, "offset", fieldName("tensors", index, "offset"), 0);
    if (!offset)
        return offset.error();
    t.offset = uint64_t(*offset);
    const std::string sizeField = fieldName("tensors", index, "size");
    auto size = readInteger(o, "size", sizeField, 1);
    if (!size)
        return size.error();
    t.sizeBytes = uint64_t(*size);
    const auto expectedSize = tensorBytes(t.type, elements);
    if (!expectedSize || *expectedSize != t.sizeBytes)
        return fieldError(
            sizeField,
            std::to_string(t.sizeBytes) + " bytes does not match type " + *typeName + " and the shape (" +
                (expectedSize ? std::to_string(*expectedSize) + " bytes" : "not whole blocks") + ")");

    auto sha = readSha(o, "sha256", fieldName("tensors", index, "sha256"));
    if (!sha)
        return sha.error();
    t.sha256 = *sha;

    const std::string layerField = fieldName("tensors", index, "layer");
    auto layer = readInteger(o, "layer", layerField, -1);
    if (!layer)
        return layer.error();
    t.layer = *layer;
    if (t.layer != layerOfTensorName(t.name))
        return fieldError(layerField, "layer " + std::to_string(t.layer) +
                                          " does not match the tensor name '" + t.name + "'");
    return t;
}

QJsonObject canonicalObject(const ShardManifest& m) {
    QJsonObject o;
    o.insert(QStringLiteral("format"), QLatin1String(ShardManifest::kFormat));
    o.insert(QStringLiteral("version"), ShardManifest::kVersion);
    o.insert(QStringLiteral("model"), QString::fromStdString(m.modelName));
    o.insert(QStringLiteral("fileSize"), qint64(m.fileSizeBytes));
    o.insert(QStringLiteral("dataOffset"), qint64(m.dataOffset));
    o.insert(QStringLiteral("headerSha256"), QString::fromStdString(m.headerSha256));
    o.insert(QStringLiteral("layerCount"), qint64(m.layerCount));
    QJsonArray tensors;
    for (const ShardManifest::Tensor& t : m.tensors) {
        QJsonObject j;
        j.insert(QStringLiteral("name"), QString::fromStdString(t.name));
        j.insert(QStringLiteral("type"),
                 QString::fromUtf8(tensorTypeName(t.type).data(), qsizetype(tensorTypeName(t.type).size())));
        QJsonArray shape;
        for (uint64_t extent : t.shape)
            shape.append(qint64(extent));
        j.insert(QStringLiteral("shape"), shape);
        j.insert(QStringLiteral("offset"), qint64(t.offset));
        j.insert(QStringLiteral("size"), qint64(t.sizeBytes));
        j.insert(QStringLiteral("sha256"), QString::fromStdString(t.sha256));
        j.insert(QStringLiteral("layer"), qint64(t.layer));
        tensors.append(j);
    }
    o.insert(QStringLiteral("tensors"), tensors);
    return o;
}

QString cacheFileFor(const QString& cacheDir, const QString& absolutePath) {
    const QByteArray key =
        QCryptographicHash::hash(absolutePath.toUtf8(), QCryptographicHash::Sha256).toHex();
    return QDir(cacheDir).filePath(QFileInfo(absolutePath).completeBaseName() + QLatin1Char('.') +
                                   QString::fromLatin1(key.left(16)) + QStringLiteral(".manifest.json"));
}

} // namespace

std::string sha256Hex(std::span<const std::byte> bytes) {
    QCryptographicHash hash(QCryptographicHash::Sha256);
    size_t done = 0;
    while (done < bytes.size()) {
        const size_t piece = std::min(kHashPieceBytes, bytes.size() - done);
        hash.addData(QByteArrayView(reinterpret_cast<const char*>(bytes.data() + done), qsizetype(piece)));
        done += piece;
    }
    return hash.result().toHex().toStdString();
}

std::span<const std::byte> mappedFileBytes(const GgufFile& file) {
    const auto anchor = std::find_if(file.tensors().begin(), file.tensors().end(),
                                     [](const GgufTensorInfo& t) { return t.sizeBytes > 0; });
    if (anchor == file.tensors().end())
        return {};
    const std::byte* start = file.tensorData(*anchor).data() - (file.dataOffset() + anchor->offset);
    return {start, size_t(file.fileSize())};
}

int64_t layerOfTensorName(const std::string& name) {
    static constexpr std::string_view prefix = "blk.";
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0)
        return -1;
    const char* begin = name.data() + prefix.size();
    const char* end = name.data() + name.size();
    int64_t layer = -1;
    const auto [ptr, ec] = std::from_chars(begin, end, layer);
    // "blk.<digits>." exactly: no sign, no leading '+', something after the dot.
    if (ec != std::errc() || ptr == begin || ptr == end || *ptr != '.' || layer < 0 ||
        !(*begin >= '0' && *begin <= '9'))
        return -1;
    return layer;
}

Expected<ShardManifest> ShardManifest::compute(const GgufFile& file) {
    ShardManifest m;
    QString base = QFileInfo(QString::fromStdString(file.path())).fileName();
    if (base.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive))
        base.chop(5);
    if (base.isEmpty())
        return makeError(ErrorCode::InvalidArgument, "cannot derive a model name from '" + file.path() + "'");
    m.modelName = toStd(base);
    m.fileSizeBytes = file.fileSize();
    m.dataOffset = file.dataOffset();
    if (m.dataOffset > m.fileSizeBytes)
        return makeError(ErrorCode::Format,
                         "model '" + file.path() + "': data offset past the end of the file");
    if (file.tensors().empty())
        return makeError(ErrorCode::Format, "model '" + file.path() + "' has no tensors");

    const std::span<const std::byte> whole = mappedFileBytes(file);
    if (whole.size() != m.fileSizeBytes)
        return makeError(ErrorCode::Format, "model '" + file.path() + "' has only empty tensors");
    m.headerSha256 = sha256Hex(whole.first(size_t(m.dataOffset)));

    auto config = ModelConfig::fromGguf(file);
    m.layerCount = config ? config->layerCount : 0;

    m.tensors.reserve(file.tensors().size());
    for (const GgufTensorInfo& info : file.tensors()) {
        Tensor t;
        t.name = info.name;
        t.type = info.type;
        t.shape = info.shape;
        t.offset = file.dataOffset() + info.offset;
        t.sizeBytes = info.sizeBytes;
        t.sha256 = sha256Hex(file.tensorData(info));
        t.layer = layerOfTensorName(info.name);
        m.tensors.push_back(std::move(t));
    }
    m.digest = m.computeDigest();
    // Round-trip through the validator so the server never publishes a manifest a node would refuse.
    auto checked = fromJson(m.toJson());
    if (!checked)
        return makeError(ErrorCode::Format, "model '" + file.path() + "': " + checked.error().message);
    return m;
}

Expected<ShardManifest> ShardManifest::computeCached(const GgufFile& file, const QString& cacheDir) {
    const QFileInfo info(QString::fromStdString(file.path()));
    const QString absolutePath = info.absoluteFilePath();
    const qint64 mtimeMs = info.lastModified().toMSecsSinceEpoch();
    const QString cachePath = cacheFileFor(cacheDir, absolutePath);

    QFile cached(cachePath);
    if (cached.open(QIODevice::ReadOnly)) {
        const QJsonObject root = QJsonDocument::fromJson(cached.readAll()).object();
        if (root.value(QStringLiteral("path")).toString() == absolutePath &&
            root.value(QStringLiteral("sizeBytes")).toInteger(-1) == qint64(file.fileSize()) &&
            root.value(QStringLiteral("mtimeMs")).toInteger(-1) == mtimeMs) {
            auto manifest = fromJson(root.value(QStringLiteral("manifest")).toObject());
            if (manifest && manifest->fileSizeBytes == file.fileSize() &&
                manifest->dataOffset == file.dataOffset() &&
                manifest->tensors.size() == file.tensors().size())
                return manifest;
        }
    }

    auto manifest = compute(file);
    if (!manifest)
        return manifest;
    if (QDir().mkpath(cacheDir)) {
        QJsonObject root;
        root.insert(QStringLiteral("path"), absolutePath);
        root.insert(QStringLiteral("sizeBytes"), qint64(file.fileSize()));
        root.insert(QStringLiteral("mtimeMs"), mtimeMs);
        root.insert(QStringLiteral("manifest"), manifest->toJson());
        QSaveFile out(cachePath);
        if (out.open(QIODevice::WriteOnly)) {
            out.write(QJsonDocument(root).toJson(QJsonDocument::Compact));
            (void)out.commit();
        }
    }
    return manifest;
}

Expected<ShardManifest> ShardManifest::fromJson(const QJsonObject& json) {
    ShardManifest m;
    auto format = readString(json, "format", "format");
    if (!format)
        return format.error();
    if (*format != kFormat)
        return fieldError("format", "expected '" + std::string(kFormat) + "', got '" + *format + "'");
    auto version = readInteger(json, "version", "version", 0);
    if (!version)
        return version.error();
    if (*version != kVersion)
        return fieldError("version", "unsupported version " + std::to_string(*version));

    auto model = readString(json, "model", "model");
    if (!model)
        return model.error();
    if (model->empty() || model->find('/') != std::string::npos || model->find('\\') != std::string::npos)
        return fieldError("model", "expected a non-empty name without path separators");
    m.modelName = *model;

    auto fileSize = readInteger(json, "fileSize", "fileSize", 1);
    if (!fileSize)
        return fileSize.error();
    m.fileSizeBytes = uint64_t(*fileSize);
    auto dataOffset = readInteger(json, "dataOffset", "dataOffset", 1);
    if (!dataOffset)
        return dataOffset.error();
    m.dataOffset = uint64_t(*dataOffset);
    if (m.dataOffset > m.fileSizeBytes)
        return fieldError("dataOffset", std::to_string(m.dataOffset) + " is past the end of the file (" +
                                            std::to_string(m.fileSizeBytes) + " bytes)");
    auto headerSha = readSha(json, "headerSha256", "headerSha256");
    if (!headerSha)
        return headerSha.error();
    m.headerSha256 = *headerSha;
    auto layerCount = readInteger(json, "layerCount", "layerCount", 0, 1 << 20);
    if (!layerCount)
        return layerCount.error();
    m.layerCount = *layerCount;

    const QJsonValue tensorsValue = json.value(QStringLiteral("tensors"));
    if (!tensorsValue.isArray())
        return fieldError("tensors", tensorsValue.isUndefined() ? "missing" : "expected an array");
    const QJsonArray tensors = tensorsValue.toArray();
    if (tensors.isEmpty())
        return fieldError("tensors", "empty");
    std::set<std::string> names;
    for (qsizetype i = 0; i < tensors.size(); ++i) {
        const size_t index = size_t(i);
        auto t = tensorFromJson(tensors.at(i), index);
        if (!t)
            return t.error();
        if (t->offset < m.dataOffset)
            return fieldError(fieldName("tensors", index, "offset"),
                              std::to_string(t->offset) + " lies in the header (data starts at " +
                                  std::to_string(m.dataOffset) + ")");
        if (t->offset > m.fileSizeBytes || t->sizeBytes > m.fileSizeBytes - t->offset)
            return fieldError(fieldName("tensors", index, "offset"),
                              "bytes [" + std::to_string(t->offset) + ", +" + std::to_string(t->sizeBytes) +
                                  ") run past the end of the file (" + std::to_string(m.fileSizeBytes) +
                                  " bytes)");
        if (m.layerCount > 0 && t->layer >= m.layerCount)
            return fieldError(fieldName("tensors", index, "layer"), "layer " + std::to_string(t->layer) +
                                                                        " >= layerCount " +
                                                                        std::to_string(m.layerCount));
        if (!names.insert(t->name).second)
            return fieldError(fieldName("tensors", index, "name"), "duplicate tensor '" + t->name + "'");
        m.tensors.push_back(std::move(*t));
    }
    // No two tensors may share bytes: a node writes each one at its offset, and an overlap would let one
    // verified tensor be overwritten by another.
    std::vector<size_t> order(m.tensors.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return m.tensors[a].offset < m.tensors[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const Tensor& prev = m.tensors[order[k - 1]];
        const Tensor& cur = m.tensors[order[k]];
        if (prev.offset + prev.sizeBytes > cur.offset)
            return fieldError(fieldName("tensors", order[k], "offset"),
                              "tensor '" + cur.name + "' overlaps '" + prev.name + "'");
    }

    auto digest = readSha(json, "digest", "digest");
    if (!digest)
        return digest.error();
    m.digest = *digest;
    const std::string recomputed = m.computeDigest();
    if (recomputed != m.digest)
        return fieldError("digest", "does not match the content (computed " + recomputed + ")");
    return m;
}

QJsonObject ShardManifest::toJson() const {
    QJsonObject o = canonicalObject(*this);
    o.insert(QStringLiteral("digest"), QString::fromStdString(digest));
    return o;
}

std::string ShardManifest::computeDigest() const {
    // QJsonObject keeps its keys sorted and Compact output has no optional whitespace, so equal content
    // always gives equal bytes.
    const QByteArray canonical = QJsonDocument(canonicalObject(*this)).toJson(QJsonDocument::Compact);
    return sha256Hex(std::span<const std::byte>(reinterpret_cast<const std::byte*>(canonical.constData()),
                                                size_t(canonical.size())));
}

const ShardManifest::Tensor* ShardManifest::findTensor(const std::string& name) const {
    for (const Tensor& t : tensors) {
        if (t.name == name)
            return &t;
    }
    return nullptr;
}

std::vector<const ShardManifest::Tensor*>
ShardManifest::tensorsForLayers(int64_t layerBegin, int64_t layerEnd, bool includeNonLayer) const {
    std::vector<const Tensor*> out;
    for (const Tensor& t : tensors) {
        if (t.layer < 0 ? includeNonLayer : (t.layer >= layerBegin && t.layer < layerEnd))
            out.push_back(&t);
    }
    return out;
}

uint64_t ShardManifest::bytesForLayers(int64_t layerBegin, int64_t layerEnd, bool includeNonLayer) const {
    uint64_t total = 0;
    for (const Tensor* t : tensorsForLayers(layerBegin, layerEnd, includeNonLayer))
        total += t->sizeBytes;
    return total;
}

} // namespace declai
