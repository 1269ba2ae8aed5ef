// Privacy canary (issue 17 §3): over 1,000 prompts, each with its own canary string, sent by several
// clients with an API key of a distinctively named account through a relay that gives them a distinctive
// address (127.0.0.77), to a real declai-server with credits on. Two honest volunteers that speak the
// protocol from this test (tests/server/HonestNode.h: real downloads, real stages on the CPU engine) keep
// every frame the gateway sends them. Searched, raw and decoded: 0 occurrences of prompt text, canaries,
// token ids (as int32 and as varint runs), the account's name or ledger id, the API key, or the client
// address; every stage request carries hidden states and nothing else. DECLAI_CANARY_PROMPTS: how many.
#include "AbuseClients.h"
#include "HonestNode.h"
#include "declai/core/GgufFile.h"
#include "declai/core/Tokenizer.h"

#include <QTcpServer>
#include <QTcpSocket>
#include <algorithm>
#include <map>
#include <set>

using namespace declai;
using testdata::HonestNode;
using testdata::PipelinedClient;
using testdata::Swarm;

namespace {

const char* kClientAddress = "127.0.0.77";
const char* kAccountName = "canary-account-7f3q";

// A TCP relay on 127.0.0.1 whose connections to the gateway leave from `from`: the gateway sees the
// clients at that address. Bytes are passed through untouched (TLS is end to end). Test event loop.
class Relay : public QObject {
public:
    Relay(quint16 target, QHostAddress from) : m_target(target), m_from(std::move(from)) {
        m_server.listen(QHostAddress::LocalHost, 0);
        QObject::connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* in = m_server.nextPendingConnection()) {
                auto* out = new QTcpSocket(in);
                out->bind(m_from);
                QObject::connect(in, &QIODevice::readyRead, out, [in, out] {
                    if (out->state() == QAbstractSocket::ConnectedState)
                        out->write(in->readAll());
                });
                QObject::connect(out, &QAbstractSocket::connected, in, [this, in, out] {
                    m_bound += out->localAddress() == m_from ? 1 : 0;
                    out->write(in->readAll());
                });
                QObject::connect(out, &QIODevice::readyRead, in, [in, out] { in->write(out->readAll()); });
                QObject::connect(out, &QAbstractSocket::disconnected, in, [in] { in->disconnectFromHost(); });
                QObject::connect(in, &QAbstractSocket::disconnected, in, [in, out] {
                    out->disconnectFromHost();
                    in->deleteLater();
                });
                out->connectToHost(QHostAddress::LocalHost, m_target);
            }
        });
    }
    quint16 port() const { return m_server.serverPort(); }
    // Connections that reached the gateway from `from` (so the gateway saw that address).
    int boundConnections() const { return m_bound; }

private:
    QTcpServer m_server;
    quint16 m_target;
    QHostAddress m_from;
    int m_bound = 0;
};

QByteArray int32Run(const std::vector<int32_t>& ids, size_t at, size_t n) {
    QByteArray b;
    for (size_t i = at; i < at + n; ++i)
        for (int k = 0; k < 4; ++k)
            b.append(char((uint32_t(ids[i]) >> (8 * k)) & 0xff));
    return b;
}

QByteArray varintRun(const std::vector<int32_t>& ids, size_t at, size_t n) {
    QByteArray b;
    for (size_t i = at; i < at + n; ++i) {
        uint32_t v = uint32_t(ids[i]);
        while (v >= 0x80) {
            b.append(char((v & 0x7f) | 0x80));
            v >>= 7;
        }
        b.append(char(v));
    }
    return b;
}

// True when the frame carries nothing but the fields this test knows (the lite runtime keeps unknown fields
// and serializes them back: a rebuilt copy of the known fields must give the same bytes).
// The request rebuilt from the fields we know: equal bytes mean it carries nothing else.
wire::StageRequest knownFieldsOf(const wire::StageRequest& r) {
    wire::StageRequest k;
    k.set_session_id(r.session_id());
    k.set_step(r.step());
    k.set_model(r.model());
    k.set_layer_begin(r.layer_begin());
    k.set_layer_end(r.layer_end());
    k.set_start_pos(r.start_pos());
    k.set_n_tokens(r.n_tokens());
    k.set_hidden_size(r.hidden_size());
    k.set_encoding(r.encoding());
    k.set_hidden(r.hidden());
    k.set_return_last_rows(r.return_last_rows());
    k.set_replay(r.replay());
    // The prompt length (llama.cpp's prompt-batch rounding): metadata a node already sees as the row count of
    // the prompt's steps (docs/security.md), never a token id.
    k.set_prompt_tokens(r.prompt_tokens());
    // The gateway's prefill chunk: one server setting, the same in every request (checked below).
    k.set_prompt_chunk_tokens(r.prompt_chunk_tokens());
    return k;
}

// The envelope carries nothing beyond its body (`knownBody`: the body rebuilt from known fields).
bool onlyKnownFields(const wire::Envelope& e, const std::string& knownBody) {
    wire::Envelope ke;
    ke.set_protocol_version(e.protocol_version());
    ke.set_type(e.type());
    ke.set_seq(e.seq());
    ke.set_body(e.body());
    ke.set_signature(e.signature());
    return knownBody == e.body() && ke.SerializeAsString() == e.SerializeAsString() && e.signature().empty();
}

} // namespace

class TestPrivacyCanary : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void canariesNeverReachNodes() {
        const QString model = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (model.isEmpty())
            QSKIP("stories260K.gguf not in DECLAI_MODEL_PATH");
        {
            QTcpSocket probe; // the distinctive address must be usable as a source here
            if (!probe.bind(QHostAddress(QLatin1String(kClientAddress))))
                QSKIP("cannot bind 127.0.0.77 here");
        }
        bool ok = false;
        const int prompts = qEnvironmentVariableIntValue("DECLAI_CANARY_PROMPTS", &ok);
        const int count = ok && prompts > 0 ? prompts : 1000;

        QString apiKey;
        Swarm swarm(
            {QStringLiteral("--max-requests-per-account"), QStringLiteral("64"),
             QStringLiteral("--grant-credits"), QStringLiteral("1000000"),
             QStringLiteral("--verify-initial-rate"), QStringLiteral("0")},
            [&](Swarm& s) {
                apiKey = s.admin({QStringLiteral("user"), QStringLiteral("add"), QLatin1String(kAccountName)})
                             .trimmed();
            });
        QVERIFY2(apiKey.startsWith(QStringLiteral("dk_")), qPrintable(apiKey));
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));

        // Two volunteers: the gateway splits the node layers between them or replicates; both are searched.
        std::vector<std::unique_ptr<QTemporaryDir>> caches;
        std::vector<std::unique_ptr<HonestNode>> nodes;
        for (int i = 0; i < 2; ++i) {
            auto id = NodeIdentity::generateInMemory();
            QVERIFY(id);
            caches.push_back(std::make_unique<QTemporaryDir>());
            nodes.push_back(
                std::make_unique<HonestNode>(swarm.caFile(), caches.back()->path(), std::move(*id)));
            nodes.back()->peer.keepRawFrames = true;
            nodes.back()->takesBatches = true; // requests that leave together come in one StageBatch frame
            QVERIFY(nodes.back()->join(swarm.port()));
        }
        QVERIFY2(swarm.waitForShards(1, 60000), qPrintable(nodes[0]->problem + nodes[1]->problem));

        auto file = GgufFile::open(model.toStdString());
        QVERIFY(file);
        auto tokenizer = Tokenizer::fromGguf(*file);
        QVERIFY(tokenizer);

        Relay relay(swarm.port(), QHostAddress(QLatin1String(kClientAddress)));
        const QUrl url(QStringLiteral("wss://127.0.0.1:%1").arg(relay.port()));
        const int clients = 4;
        const int inFlightPerClient = 3;
        std::vector<std::unique_ptr<PipelinedClient>> pool;
        for (int c = 0; c < clients; ++c) {
            pool.push_back(std::make_unique<PipelinedClient>(swarm, apiKey, url));
            QVERIFY(pool.back()->waitWelcome());
        }
        std::vector<std::string> promptTexts;
        std::vector<std::string> canaries;
        for (int i = 0; i < count; ++i) {
            canaries.push_back("Zqv" + std::to_string(100000 + i) + "canary");
            promptTexts.push_back("Once upon a time " + canaries.back() + " found a little dog");
        }
        QElapsedTimer clock;
        clock.start();
        std::vector<int> submitted(size_t(clients), 0);
        int next = 0;
        while (clock.elapsed() < 600000) {
            size_t answered = 0;
            for (int c = 0; c < clients; ++c) {
                PipelinedClient& client = *pool[size_t(c)];
                answered += client.answers();
                while (next < count && submitted[size_t(c)] - int(client.answers()) < inFlightPerClient) {
                    client.submit(uint64_t(next), 2, "normal", false, promptTexts[size_t(next)]);
                    ++submitted[size_t(c)];
                    ++next;
                }
            }
            if (next == count && answered == size_t(count))
                break;
            QTest::qWait(5);
        }
        int done = 0;
        QString failure;
        for (const auto& client : pool) {
            done += int(client->done.size());
            if (!client->failed.empty())
                failure = client->failed.begin()->second;
        }
        qInfo("%d prompts with canaries, %d done in %lld ms by %d clients from %s", count, done,
              clock.elapsed(), clients, kClientAddress);
        QVERIFY2(done == count, qPrintable(failure));
        QTest::qWait(300);

        // What to look for.
        std::vector<QByteArray> needles{
            QByteArray(kAccountName),   QByteArray("user:") + kAccountName, apiKey.toUtf8(),
            QByteArray(kClientAddress), QByteArray::fromHex("7f00004d"),    QByteArray("found a little dog")};
        // Runs of prompt token ids, as int32 little-endian (4 ids, 16 bytes) and as varints (8 ids: at least
        // 8 bytes, so that random hidden-state bytes do not match by chance).
        std::vector<QByteArray> tokenRuns;
        for (size_t i = 0; i < promptTexts.size(); i += 50) {
            const std::vector<int32_t> ids = (*tokenizer)->encode(promptTexts[i], false);
            for (size_t at = 0; at + 4 <= ids.size(); ++at)
                tokenRuns.push_back(int32Run(ids, at, 4));
            for (size_t at = 0; at + 8 <= ids.size(); ++at)
                tokenRuns.push_back(varintRun(ids, at, 8));
        }
        size_t frames = 0;
        size_t stageRequests = 0;
        size_t batchFrames = 0; // StageBatch frames among them (checked request by request like the rest)
        size_t extraFieldRequests = 0;
        struct PromptLength {
            std::set<uint32_t> values; // every prompt_tokens the session's requests carried
            int64_t endPos = 0;        // the furthest position its rows reached
        };
        std::map<uint64_t, PromptLength> promptLengths; // by session id
        std::set<uint32_t> promptChunks;                // every prompt_chunk_tokens of every request
        QByteArray all;                                 // every frame both nodes received, back to back
        for (const auto& node : nodes) {
            for (const QByteArray& frame : node->peer.rawFrames) {
                ++frames;
                all += frame;
                wire::Envelope e;
                QVERIFY(e.ParseFromArray(frame.constData(), int(frame.size())));
                std::vector<wire::StageRequest> requests;
                std::string knownBody;
                if (e.type() == wire::STAGE_REQUEST) {
                    wire::StageRequest r;
                    QVERIFY(r.ParseFromString(e.body()));
                    knownBody = knownFieldsOf(r).SerializeAsString();
                    requests.push_back(r);
                } else if (e.type() == wire::STAGE_BATCH) {
                    ++batchFrames;
                    wire::StageBatch batch, known;
                    QVERIFY(batch.ParseFromString(e.body()));
                    for (const wire::StageRequest& r : batch.requests()) {
                        requests.push_back(r);
                        *known.add_requests() = knownFieldsOf(r);
                    }
                    knownBody = known.SerializeAsString();
                } else {
                    continue;
                }
                const bool frameClean = onlyKnownFields(e, knownBody);
                for (const wire::StageRequest& r : requests) {
                    ++stageRequests;
                    PromptLength& length = promptLengths[r.session_id()];
                    length.values.insert(r.prompt_tokens());
                    promptChunks.insert(r.prompt_chunk_tokens());
                    length.endPos = std::max<int64_t>(length.endPos, int64_t(r.start_pos()) + r.n_tokens());
                    // Decoded: the request holds hidden states of the announced shape and nothing else.
                    const size_t width = r.encoding() == wire::F16 ? 2 : 4;
                    const bool onlyHidden =
                        r.hidden().size() == size_t(r.n_tokens()) * r.hidden_size() * width &&
                        r.model() == "stories260K" && frameClean;
                    extraFieldRequests += onlyHidden ? 0 : 1;
                }
            }
        }
        // prompt_tokens must be the session's prompt length, nothing that could carry a token id: one value
        // per session, at least 1 and within the positions the session's rows reached.
        size_t badPromptLengths = 0;
        for (const auto& [session, length] : promptLengths) {
            const bool one = length.values.size() == 1;
            const int64_t value = one ? int64_t(*length.values.begin()) : 0;
            badPromptLengths += one && value >= 1 && value <= length.endPos ? 0 : 1;
        }
        const size_t bytes = size_t(all.size());
        size_t hits = 0;
        QString firstHit;
        const auto search = [&](const QByteArray& needle) {
            if (all.contains(needle)) {
                ++hits;
                if (firstHit.isEmpty())
                    firstHit = QString::fromLatin1(needle.toHex());
            }
        };
        for (const QByteArray& needle : needles)
            search(needle);
        for (const std::string& canary : canaries)
            search(QByteArray::fromStdString(canary));
        for (const std::string& prompt : promptTexts)
            search(QByteArray::fromStdString(prompt));
        size_t tokenHits = 0;
        for (const QByteArray& run : tokenRuns)
            tokenHits += all.contains(run) ? 1 : 0;
        qInfo(
            "nodes received %zu frames (%zu bytes), %zu stage requests; hits: %zu text/key/account/address, "
            "%zu token-id runs (%zu runs searched), %zu stage requests with anything besides hidden states; "
            "%zu StageBatch frames",
            frames, bytes, stageRequests, hits, tokenHits, tokenRuns.size(), extraFieldRequests, batchFrames);
        QVERIFY(stageRequests >= size_t(count)); // every prompt went through the nodes
        QVERIFY(batchFrames > 0);                // twelve prompts in flight: batched frames were searched too
        QVERIFY(all.contains("stories260K"));    // the search sees what is there
        QVERIFY2(hits == 0, qPrintable(QStringLiteral("found %1 in what nodes received").arg(firstHit)));
        QCOMPARE(tokenHits, size_t(0));
        QCOMPARE(extraFieldRequests, size_t(0));
        QVERIFY(!promptLengths.empty());
        QCOMPARE(badPromptLengths, size_t(0));
        // prompt_chunk_tokens is the server's setting: one value in every request of every session.
        QCOMPARE(promptChunks.size(), size_t(1));
        QVERIFY2(relay.boundConnections() >= clients,
                 "the clients did not reach the gateway from the distinctive address");
    }
};

QTEST_GUILESS_MAIN(TestPrivacyCanary)
#include "tst_privacy_canary.moc"
