// Issue 11, finding 2: volunteers must never be able to recover prompt tokens by a nearest-neighbour lookup.
// Against a real gateway (ServerApp, TLS on loopback) and nodes that speak the protocol from this test with
// their own Ed25519 identities:
//  - a node that claims every layer without holding any is never used (claims need a possession proof);
//  - the node serving the lowest node layer receives hidden states after the gateway's own layer 0, not
//    rows of token_embd (each row is far from every embedding row), and the text is still llama.cpp's;
//  - the model file nodes may download has no vocabulary, and ranges covering token_embd / output /
//    output_norm are refused.
#include "HonestNode.h"
#include "ProtocolPeer.h"
#include "TestData.h"
#include "declai/core/GgufFile.h"
#include "declai/core/HiddenStates.h"
#include "declai/core/Identity.h"
#include "declai/core/NodeFileView.h"
#include "declai/core/ShardManifest.h"
#include "declai/core/ShardProof.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/ShardExecutor.h"
#include "declai/network/ShardDownloader.h"
#include "declai/server/Links.h"
#include "declai/server/ServerApp.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>

using namespace declai;
using testdata::HonestNode;
using testdata::ProtocolPeer;

namespace {

constexpr int kTimeoutMs = 20000;

struct HttpResult {
    int status = 0;
    QByteArray body;
};

// A gateway in this process, free service, on a free loopback port.
struct Gateway {
    QTemporaryDir dir;
    std::unique_ptr<server::ServerApp> app;
    quint16 port = 0;
    QString error;

    explicit Gateway(QStringList extra = {}) {
        const QString model = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        QDir(dir.path()).mkpath(QStringLiteral("models"));
        QFile::link(model, QDir(dir.path()).filePath(QStringLiteral("models/stories260K.gguf")));
        auto config = server::ServerConfig::fromArguments(
            QStringList{QStringLiteral("declai-server"), QStringLiteral("--listen"),
                        QStringLiteral("127.0.0.1:0"), QStringLiteral("--model-dir"),
                        QDir(dir.path()).filePath(QStringLiteral("models")), QStringLiteral("--data-dir"),
                        QDir(dir.path()).filePath(QStringLiteral("data")), QStringLiteral("--no-credits"),
                        QStringLiteral("--threads"), QStringLiteral("1"),
                        QStringLiteral("--verify-initial-rate"), QStringLiteral("0")} +
            extra);
        if (!config) {
            error = QString::fromStdString(config.error().message);
            return;
        }
        app = std::make_unique<server::ServerApp>(*config);
        auto started = app->start();
        if (!started) {
            error = QString::fromStdString(started.error().message);
            return;
        }
        port = *started;
    }
    QString ca() const { return QDir(dir.path()).filePath(QStringLiteral("data/tls/server.crt")); }
    QString base() const { return QStringLiteral("https://127.0.0.1:%1").arg(port); }

    HttpResult get(const QString& path, const QByteArray& range = {}) {
        QNetworkAccessManager network;
        QNetworkRequest request{QUrl(base() + path)};
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(ca()));
        request.setSslConfiguration(tls);
        if (!range.isEmpty())
            request.setRawHeader("Range", range);
        request.setTransferTimeout(kTimeoutMs);
        QNetworkReply* reply = network.get(request);
        HttpResult r;
        if (QTest::qWaitFor([&] { return reply->isFinished(); }, kTimeoutMs)) {
            r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            r.body = reply->readAll();
        }
        reply->abort();
        delete reply;
        return r;
    }
    // The digest nodes know the model by (GET /v1/models).
    std::string digest() {
        const QJsonArray models = QJsonDocument::fromJson(get(QStringLiteral("/v1/models")).body)
                                      .object()
                                      .value(QStringLiteral("models"))
                                      .toArray();
        return models.isEmpty()
                   ? std::string()
                   : models.first().toObject().value(QStringLiteral("digest")).toString().toStdString();
    }
};

// What a client got back from one Submit.
struct Generation {
    bool done = false;
    bool failed = false;
    QString failure;
    std::string text;
};

Generation submit(ProtocolPeer& client, const std::string& prompt, uint32_t tokens, uint64_t requestId) {
    wire::Submit s;
    s.set_model("stories260K");
    s.set_prompt(prompt);
    s.set_max_tokens(tokens);
    s.set_request_id(requestId);
    client.send(wire::SUBMIT, s);
    Generation g;
    (void)QTest::qWaitFor(
        [&] {
            for (const auto& e : client.received) {
                if (e.type() == wire::DONE) {
                    wire::Done d;
                    d.ParseFromString(e.body());
                    g.done = d.request_id() == requestId;
                } else if (e.type() == wire::FAILED) {
                    wire::Failed f;
                    f.ParseFromString(e.body());
                    g.failed = f.request_id() == requestId;
                    g.failure = QString::fromStdString(f.reason());
                }
            }
            return g.done || g.failed;
        },
        60000);
    for (const auto& e : client.received) {
        if (e.type() == wire::TOKEN) {
            wire::Token t;
            t.ParseFromString(e.body());
            if (t.request_id() == requestId)
                g.text += t.text();
        } else if (e.type() == wire::DONE) {
            wire::Done d;
            d.ParseFromString(e.body());
            if (d.request_id() == requestId)
                g.text += d.text_tail();
        }
    }
    return g;
}

QJsonObject reference(const QString& name) {
    QFile f(testdata::referencePath(QStringLiteral("parity/") + name));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

} // namespace

class TestPromptPrivacy : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            QSKIP("stories260K.gguf not in DECLAI_MODEL_PATH");
    }

    // The attack: claim every layer of the public digest in one NodeStatus, hold nothing, and wait to be
    // the one-hop chain that sees every prompt. Claims without a correct possession proof are ignored.
    void claimedLayersWithoutProofAreNeverUsed() {
        Gateway gateway({QStringLiteral("--chain-wait-ms"), QStringLiteral("2500")});
        QVERIFY2(gateway.port, qPrintable(gateway.error));
        const std::string digest = gateway.digest();
        QVERIFY(!digest.empty());
        auto id = NodeIdentity::generateInMemory();
        QVERIFY(id);
        ProtocolPeer claimer(gateway.ca());
        int stageRequests = 0;
        int challenges = 0;
        claimer.onEnvelope = [&](const wire::Envelope& e) {
            if (e.type() == wire::STAGE_REQUEST)
                ++stageRequests;
            if (e.type() == wire::SHARD_CHALLENGE) {
                ++challenges;
                // It holds nothing, so it can only guess.
                wire::ShardChallenge c;
                c.ParseFromString(e.body());
                wire::ShardProof proof;
                proof.set_challenge_id(c.challenge_id());
                proof.set_proof(randomBytes(32));
                claimer.sendSigned(wire::SHARD_PROOF, proof, *id);
            }
        };
        QVERIFY(claimer.nodeHandshake(gateway.port, *id));
        wire::NodeStatus status;
        status.set_accepting_sessions(true);
        status.set_memory_budget_bytes(0); // takes no assignment: it only claims
        wire::DeviceInfo* device = status.add_devices();
        device->set_id("cpu");
        device->set_layer_tokens_per_s(1e12); // and says it is very fast
        // Every layer at once (including the gateway's layer 0), and every sub-range of the node layers: a
        // flood of claims must not make the gateway hash without bound (at most 8 open challenges).
        std::vector<std::pair<uint32_t, uint32_t>> claims{{0u, 5u}};
        for (uint32_t b = 1; b < 5; ++b)
            for (uint32_t e = b + 1; e <= 5; ++e)
                claims.emplace_back(b, e);
        for (const auto& [begin, end] : claims) {
            wire::ShardHeld* held = status.add_shards();
            held->set_model("stories260K");
            held->set_model_digest(digest);
            held->set_layer_begin(begin);
            held->set_layer_end(end);
        }
        claimer.send(wire::NODE_STATUS, status);

        ProtocolPeer client(gateway.ca());
        QVERIFY(client.clientHandshake(gateway.port));
        const Generation g = submit(client, "Once upon a time", 4, 1);
        QCOMPARE(stageRequests, 0);
        QVERIFY2(g.failed, "the request was served by a node that only claimed its layers");
        QVERIFY2(g.failure.contains(QStringLiteral("no chain")), qPrintable(g.failure));
        QVERIFY2(challenges >= 1, "the claim of the node layers was never challenged");
        QVERIFY2(challenges <= 8, qPrintable(QStringLiteral("%1 challenges for one status").arg(challenges)));
        const QJsonArray nodes =
            gateway.app->orchestrator().statusJson().value(QStringLiteral("nodes")).toArray();
        QCOMPARE(nodes.size(), 1);
        QVERIFY(nodes.first().toObject().value(QStringLiteral("shards")).toArray().isEmpty());
    }

    // The node that serves the lowest layer a node can serve gets hidden states after the gateway's layer 0:
    // no received row is (close to) a row of the embedding table. The output stays llama.cpp's.
    void firstNodeNeverReceivesEmbeddingRows() {
        Gateway gateway;
        QVERIFY2(gateway.port, qPrintable(gateway.error));
        auto id = NodeIdentity::generateInMemory();
        QVERIFY(id);
        QTemporaryDir cache;
        HonestNode node(gateway.ca(), cache.path(), std::move(*id));
        QVERIFY(node.join(gateway.port));
        QVERIFY2(
            QTest::qWaitFor(
                [&] {
                    const QJsonArray nodes =
                        gateway.app->orchestrator().statusJson().value(QStringLiteral("nodes")).toArray();
                    return !nodes.isEmpty() &&
                           !nodes.first().toObject().value(QStringLiteral("shards")).toArray().isEmpty();
                },
                kTimeoutMs),
            qPrintable(QStringLiteral("the honest node was never placed: ") + node.problem));

        const QJsonObject ref = reference(QStringLiteral("stories260K-p1.json"));
        const std::string prompt = ref.isEmpty()
                                       ? std::string("Once upon a time")
                                       : ref.value(QStringLiteral("prompt")).toString().toStdString();
        const uint32_t tokens =
            ref.isEmpty() ? 16u : uint32_t(ref.value(QStringLiteral("greedy_tokens")).toArray().size());
        ProtocolPeer client(gateway.ca());
        QVERIFY(client.clientHandshake(gateway.port));
        const Generation g = submit(client, prompt, tokens, 7);
        QVERIFY2(g.done, qPrintable(g.failure));
        if (!ref.isEmpty())
            QCOMPARE(QString::fromStdString(g.text), ref.value(QStringLiteral("greedy_text")).toString());

        // Every embedding row, dequantised from the original file.
        auto weights =
            ModelWeights::load(testdata::modelPath(QStringLiteral("stories260K.gguf")).toStdString());
        QVERIFY(weights);
        const int64_t dim = (*weights)->config().embeddingLength;
        const int64_t vocab = (*weights)->config().vocabSize;
        std::vector<int32_t> ids(static_cast<size_t>(vocab));
        for (int32_t i = 0; i < vocab; ++i)
            ids[size_t(i)] = i;
        std::vector<float> table(size_t(vocab * dim));
        QVERIFY(Embedder(*weights).embed(ids, table));

        QVERIFY(!node.layerBegins.empty());
        const size_t rows = node.inputs.size() / size_t(dim);
        QVERIFY(rows >= size_t(tokens));
        double closest = 1e30; // smallest nearest-neighbour distance over all rows, relative to the row
        for (size_t r = 0; r < rows; ++r) {
            const float* row = node.inputs.data() + r * size_t(dim);
            double norm = 0;
            for (int64_t d = 0; d < dim; ++d)
                norm += double(row[d]) * row[d];
            double nearest = 1e30;
            for (int64_t v = 0; v < vocab; ++v) {
                const float* e = table.data() + size_t(v * dim);
                double dist = 0;
                for (int64_t d = 0; d < dim; ++d)
                    dist += (double(row[d]) - e[d]) * (double(row[d]) - e[d]);
                nearest = std::min(nearest, dist);
            }
            closest = std::min(closest, std::sqrt(nearest) / std::max(std::sqrt(norm), 1e-12));
        }
        qInfo("%zu rows received by the first node; nearest embedding row at >= %.3f x the row's norm", rows,
              closest);
        QVERIFY2(
            closest > 0.1,
            qPrintable(QStringLiteral("a received row is %1 x its norm from an embedding row").arg(closest)));
        // It is the lowest layer a node can serve: the gateway keeps layer 0 (default --gateway-layers 1).
        QCOMPARE(node.held.begin, int64_t(1));
        QCOMPARE(node.held.end, int64_t(5));
        for (uint32_t begin : node.layerBegins)
            QCOMPARE(begin, 1u);
    }

    // A node's self-reported speed never orders it: only the gateway's timing of its stage round trips.
    void selfReportedSpeedIsIgnored() {
        server::NodeLink node;
        node.statusReceived = true;
        node.status.add_devices()->set_layer_tokens_per_s(1e12);
        QCOMPARE(node.layerTokensPerS(), 0.0); // unknown until measured: weight 1 like any new node
        node.recordStageTiming(4 * 10, 2000);  // 40 layer-tokens in 2 ms
        QCOMPARE(node.layerTokensPerS(), 20000.0);
        node.recordStageTiming(4 * 10, 4000); // smoothed, not replaced
        QVERIFY(node.layerTokensPerS() > 10000.0 && node.layerTokensPerS() < 20000.0);
    }

    // What a node can download: the view. No vocabulary in its header, no withheld tensor in its manifest,
    // and every range that touches token_embd / output / output_norm is refused.
    void withheldTensorsAndVocabularyAreNeverServed() {
        Gateway gateway;
        QVERIFY2(gateway.port, qPrintable(gateway.error));
        const HttpResult manifestReply = gateway.get(QStringLiteral("/v1/models/stories260K/manifest"));
        QCOMPARE(manifestReply.status, 200);
        auto manifest = ShardManifest::fromJson(QJsonDocument::fromJson(manifestReply.body).object());
        QVERIFY2(manifest, manifest ? "" : manifest.error().message.c_str());
        for (const char* name : {"token_embd.weight", "output.weight", "output_norm.weight"})
            QVERIFY2(!manifest->findTensor(name), name);
        QVERIFY(manifest->findTensor(layerTensorName(0, "attn_q.weight")));

        const QString file = QStringLiteral("/v1/models/stories260K/file");
        const HttpResult header = gateway.get(
            file, QByteArray("bytes=0-") + QByteArray::number(qulonglong(manifest->dataOffset - 1)));
        QCOMPARE(header.status, 206);
        QCOMPARE(qulonglong(header.body.size()), qulonglong(manifest->dataOffset));
        QVERIFY2(!header.body.contains("tokenizer."), "the header nodes get carries the vocabulary");

        // Where the withheld tensors lie in what is served: parse the served header (data left as zeros).
        QByteArray image = header.body;
        image.append(QByteArray(qsizetype(manifest->fileSizeBytes - manifest->dataOffset), '\0'));
        auto served = GgufFile::fromMemory(
            std::span(reinterpret_cast<const std::byte*>(image.constData()), size_t(image.size())), "served");
        QVERIFY2(served, served ? "" : served.error().message.c_str());
        QVERIFY(!served->contains("tokenizer.ggml.tokens"));
        QVERIFY(served->contains("llama.block_count"));

        // The original file, for the embedding bytes a leak would contain.
        auto original = GgufFile::open(testdata::modelPath(QStringLiteral("stories260K.gguf")).toStdString());
        QVERIFY(original);
        const GgufTensorInfo* embd = original->findTensor("token_embd.weight");
        QVERIFY(embd);
        const std::span<const std::byte> embdBytes = original->tensorData(*embd);
        const QByteArray embdProbe(reinterpret_cast<const char*>(embdBytes.data()), 64);

        int withheldSeen = 0;
        for (const char* name : {"token_embd.weight", "output.weight", "output_norm.weight"}) {
            const GgufTensorInfo* t = served->findTensor(name);
            if (!t)
                continue; // tied embeddings: no output.weight
            ++withheldSeen;
            const uint64_t first = served->dataOffset() + t->offset;
            for (const auto& [a, b] : {std::pair{first, first + t->sizeBytes - 1}, std::pair{first, first},
                                       std::pair{first + t->sizeBytes - 1, first + t->sizeBytes + 4096},
                                       std::pair{first > 64 ? first - 64 : 0, first + 1}}) {
                const HttpResult r =
                    gateway.get(file, QByteArray("bytes=") + QByteArray::number(qulonglong(a)) + '-' +
                                          QByteArray::number(qulonglong(b)));
                QVERIFY2(r.status == 403, qPrintable(QStringLiteral("%1 bytes %2-%3: status %4")
                                                         .arg(QLatin1String(name))
                                                         .arg(a)
                                                         .arg(b)
                                                         .arg(r.status)));
            }
        }
        QVERIFY(withheldSeen >= 2);
        // The whole file at once (it is small enough to be served without Range) is refused too.
        QCOMPARE(gateway.get(file).status, 403);
        // Asking by the original file's offsets never yields embedding bytes either.
        const uint64_t originalFirst = original->dataOffset() + embd->offset;
        const HttpResult byOriginal =
            gateway.get(file, QByteArray("bytes=") + QByteArray::number(qulonglong(originalFirst)) + '-' +
                                  QByteArray::number(qulonglong(originalFirst + embd->sizeBytes - 1)));
        QVERIFY(byOriginal.status != 206 || !byOriginal.body.contains(embdProbe));
        // Layer tensors still come through.
        const ShardManifest::Tensor* q = manifest->findTensor(layerTensorName(1, "attn_q.weight"));
        const HttpResult layer =
            gateway.get(file, QByteArray("bytes=") + QByteArray::number(qulonglong(q->offset)) + '-' +
                                  QByteArray::number(qulonglong(q->offset + q->sizeBytes - 1)));
        QCOMPARE(layer.status, 206);
        QCOMPARE(sha256Hex(std::as_bytes(std::span(layer.body.constData(), size_t(layer.body.size())))),
                 q->sha256);
    }
};

QTEST_GUILESS_MAIN(TestPromptPrivacy)
#include "tst_prompt_privacy.moc"
