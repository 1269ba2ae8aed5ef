// ShardManifest: computed from stories260K it maps every tensor to its layer and hashes the real bytes;
// it survives a JSON round trip unchanged; every tampered field is refused with an error naming it.
#include "TestData.h"
#include "declai/core/GgufFile.h"
#include "declai/core/ModelConfig.h"
#include "declai/core/ShardManifest.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>
#include <set>

using namespace declai;

namespace {

std::string qtSha(const char* data, qsizetype size) {
    return QCryptographicHash::hash(QByteArrayView(data, size), QCryptographicHash::Sha256)
        .toHex()
        .toStdString();
}

// Returns json with tensors[index].key replaced by value.
QJsonObject withTensorField(QJsonObject json, qsizetype index, const QString& key, const QJsonValue& value) {
    QJsonArray tensors = json.value(QStringLiteral("tensors")).toArray();
    QJsonObject t = tensors.at(index).toObject();
    t.insert(key, value);
    tensors.replace(index, t);
    json.insert(QStringLiteral("tensors"), tensors);
    return json;
}

} // namespace

class TestManifest : public QObject {
    Q_OBJECT

private:
    std::optional<GgufFile> m_file;
    ShardManifest m_manifest;

    void expectFieldError(const QJsonObject& json, const QString& field) {
        auto parsed = ShardManifest::fromJson(json);
        QVERIFY2(!parsed, qPrintable(QStringLiteral("tampered '%1' was accepted").arg(field)));
        const QString message = QString::fromStdString(parsed.error().message);
        QVERIFY2(message.contains(QStringLiteral("'%1'").arg(field)), qPrintable(message));
    }

private Q_SLOTS:
    void initTestCase() {
        const QString path = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (path.isEmpty())
            DECLAI_SKIP_MISSING("models", QStringLiteral("stories260K.gguf not found in DECLAI_MODEL_PATH"));
        auto file = GgufFile::open(path.toStdString());
        QVERIFY2(file, file ? "" : file.error().message.c_str());
        m_file.emplace(std::move(*file));
        auto manifest = ShardManifest::compute(*m_file);
        QVERIFY2(manifest, manifest ? "" : manifest.error().message.c_str());
        m_manifest = std::move(*manifest);
    }

    void computeDescribesTheFile() {
        const ShardManifest& m = m_manifest;
        QCOMPARE(m.modelName, std::string("stories260K"));
        QCOMPARE(m.fileSizeBytes, m_file->fileSize());
        QCOMPARE(m.dataOffset, m_file->dataOffset());
        QCOMPARE(m.layerCount, int64_t(5));
        QCOMPARE(m.tensors.size(), m_file->tensors().size());
        QCOMPARE(m.digest.size(), size_t(64));
        QCOMPARE(m.digest, m.computeDigest());

        // Hashes match an independent hash of the raw file bytes.
        QFile raw(QString::fromStdString(m_file->path()));
        QVERIFY(raw.open(QIODevice::ReadOnly));
        const QByteArray bytes = raw.readAll();
        QCOMPARE(qint64(bytes.size()), qint64(m.fileSizeBytes));
        QCOMPARE(m.headerSha256, qtSha(bytes.constData(), qsizetype(m.dataOffset)));
        for (const ShardManifest::Tensor& t : m.tensors) {
            const GgufTensorInfo* info = m_file->findTensor(t.name);
            QVERIFY(info);
            QCOMPARE(t.offset, m_file->dataOffset() + info->offset);
            QCOMPARE(t.sizeBytes, info->sizeBytes);
            QCOMPARE(t.shape, info->shape);
            QCOMPARE(t.sha256, qtSha(bytes.constData() + t.offset, qsizetype(t.sizeBytes)));
        }
    }

    void layerMapping() {
        const ShardManifest& m = m_manifest;
        std::map<int64_t, int> perLayer;
        for (const ShardManifest::Tensor& t : m.tensors)
            ++perLayer[t.layer];
        for (int64_t layer = 0; layer < 5; ++layer)
            QCOMPARE(perLayer[layer], 9);
        QVERIFY(perLayer[-1] >= 2); // token_embd, output_norm (output is tied in stories260K or present)
        QCOMPARE(perLayer.size(), size_t(6));
        QCOMPARE(m.findTensor("token_embd.weight")->layer, int64_t(-1));
        QCOMPARE(m.findTensor("output_norm.weight")->layer, int64_t(-1));
        QCOMPARE(m.findTensor(layerTensorName(3, "attn_q.weight"))->layer, int64_t(3));

        const auto shard = m.tensorsForLayers(2, 5);
        QCOMPARE(shard.size(), size_t(27));
        uint64_t bytes = 0;
        for (const ShardManifest::Tensor* t : shard) {
            QVERIFY(t->layer >= 2 && t->layer < 5);
            bytes += t->sizeBytes;
        }
        QCOMPARE(m.bytesForLayers(2, 5), bytes);
        const auto withGlobals = m.tensorsForLayers(2, 5, true);
        QCOMPARE(withGlobals.size(), size_t(27 + perLayer[-1]));
        QCOMPARE(m.tensorsForLayers(0, 5, true).size(), m.tensors.size());
        QVERIFY(m.tensorsForLayers(5, 9).empty());

        QCOMPARE(layerOfTensorName("blk.12.attn_q.weight"), int64_t(12));
        QCOMPARE(layerOfTensorName("blk.x.attn_q.weight"), int64_t(-1));
        QCOMPARE(layerOfTensorName("blk.-1.attn_q.weight"), int64_t(-1));
        QCOMPARE(layerOfTensorName("blk.3"), int64_t(-1));
        QCOMPARE(layerOfTensorName("output.weight"), int64_t(-1));
    }

    void jsonRoundTrip() {
        const QJsonObject json = m_manifest.toJson();
        auto parsed = ShardManifest::fromJson(json);
        QVERIFY2(parsed, parsed ? "" : parsed.error().message.c_str());
        QVERIFY(*parsed == m_manifest);
        QCOMPARE(parsed->toJson(), json);
        // Through text as well (what the network carries).
        const QJsonObject reparsed = QJsonDocument::fromJson(QJsonDocument(json).toJson()).object();
        auto fromText = ShardManifest::fromJson(reparsed);
        QVERIFY2(fromText, fromText ? "" : fromText.error().message.c_str());
        QVERIFY(*fromText == m_manifest);
        QCOMPARE(fromText->computeDigest(), m_manifest.digest);
    }

    void tamperedFieldsAreNamed() {
        const QJsonObject json = m_manifest.toJson();
        const qint64 fileSize = qint64(m_manifest.fileSizeBytes);

        QJsonObject j = json;
        j.insert(QStringLiteral("dataOffset"), fileSize + 1);
        expectFieldError(j, QStringLiteral("dataOffset"));
        j = json;
        j.insert(QStringLiteral("headerSha256"), QStringLiteral("abc"));
        expectFieldError(j, QStringLiteral("headerSha256"));
        j = json;
        j.insert(QStringLiteral("fileSize"), QStringLiteral("big"));
        expectFieldError(j, QStringLiteral("fileSize"));
        j = json;
        j.remove(QStringLiteral("layerCount"));
        expectFieldError(j, QStringLiteral("layerCount"));
        j = json;
        j.insert(QStringLiteral("format"), QStringLiteral("something-else"));
        expectFieldError(j, QStringLiteral("format"));
        j = json;
        j.insert(QStringLiteral("model"), QStringLiteral("../etc/passwd"));
        expectFieldError(j, QStringLiteral("model"));

        expectFieldError(withTensorField(json, 3, QStringLiteral("offset"), fileSize - 4),
                         QStringLiteral("tensors[3].offset"));
        expectFieldError(withTensorField(json, 3, QStringLiteral("offset"), 0),
                         QStringLiteral("tensors[3].offset"));
        expectFieldError(withTensorField(json, 2, QStringLiteral("size"), 12),
                         QStringLiteral("tensors[2].size"));
        expectFieldError(withTensorField(json, 4, QStringLiteral("sha256"), QString(64, QLatin1Char('G'))),
                         QStringLiteral("tensors[4].sha256"));
        expectFieldError(withTensorField(json, 4, QStringLiteral("sha256"), QString(63, QLatin1Char('a'))),
                         QStringLiteral("tensors[4].sha256"));
        expectFieldError(withTensorField(json, 5, QStringLiteral("type"), QStringLiteral("q99")),
                         QStringLiteral("tensors[5].type"));
        expectFieldError(withTensorField(json, 5, QStringLiteral("shape"), QJsonArray{}),
                         QStringLiteral("tensors[5].shape"));
        expectFieldError(withTensorField(json, 5, QStringLiteral("layer"), 4),
                         QStringLiteral("tensors[5].layer"));
        expectFieldError(withTensorField(json, 6, QStringLiteral("name"),
                                         QString::fromStdString(m_manifest.tensors[7].name)),
                         QStringLiteral("tensors[7].name"));
        // Two tensors at the same offset with the same shape: an overlap.
        {
            const ShardManifest::Tensor& a = m_manifest.tensors[8];
            qsizetype other = -1;
            for (size_t i = 0; i < m_manifest.tensors.size(); ++i) {
                if (i != 8 && m_manifest.tensors[i].sizeBytes == a.sizeBytes &&
                    m_manifest.tensors[i].type == a.type)
                    other = qsizetype(i);
            }
            QVERIFY(other >= 0);
            QJsonObject overlapped = withTensorField(json, other, QStringLiteral("offset"), qint64(a.offset));
            const auto parsed = ShardManifest::fromJson(overlapped);
            QVERIFY(!parsed);
            QVERIFY2(QString::fromStdString(parsed.error().message).contains(QStringLiteral("overlaps")),
                     parsed.error().message.c_str());
        }

        // A valid-looking change the digest does not cover is caught by the digest.
        j = json;
        j.insert(QStringLiteral("model"), QStringLiteral("other"));
        expectFieldError(j, QStringLiteral("digest"));
        expectFieldError(withTensorField(json, 1, QStringLiteral("sha256"), QString(64, QLatin1Char('0'))),
                         QStringLiteral("digest"));
        j = json;
        j.insert(QStringLiteral("digest"), QString(64, QLatin1Char('f')));
        expectFieldError(j, QStringLiteral("digest"));
    }

    void cacheSkipsRehash() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        auto first = ShardManifest::computeCached(*m_file, dir.path());
        QVERIFY2(first, first ? "" : first.error().message.c_str());
        QVERIFY(*first == m_manifest);
        const QStringList entries = QDir(dir.path()).entryList(QDir::Files);
        QCOMPARE(entries.size(), 1);
        // Make the cached copy recognisably different but valid; a cache hit returns it unchanged.
        const QString cachePath = QDir(dir.path()).filePath(entries.front());
        QFile f(cachePath);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QJsonObject root = QJsonDocument::fromJson(f.readAll()).object();
        f.close();
        ShardManifest changed = m_manifest;
        changed.layerCount = 7;
        changed.digest = changed.computeDigest();
        root.insert(QStringLiteral("manifest"), changed.toJson());
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(QJsonDocument(root).toJson());
        f.close();
        auto second = ShardManifest::computeCached(*m_file, dir.path());
        QVERIFY(second);
        QCOMPARE(second->layerCount, int64_t(7));
        // A different key (mtime) is a miss: recomputed from the file.
        root.insert(QStringLiteral("mtimeMs"), qint64(12345));
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(QJsonDocument(root).toJson());
        f.close();
        auto third = ShardManifest::computeCached(*m_file, dir.path());
        QVERIFY(third);
        QVERIFY(*third == m_manifest);
        // Garbage in the cache is a miss, not an error.
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write("not json");
        f.close();
        auto fourth = ShardManifest::computeCached(*m_file, dir.path());
        QVERIFY(fourth);
        QVERIFY(*fourth == m_manifest);
    }
};

QTEST_GUILESS_MAIN(TestManifest)
#include "tst_manifest.moc"
