// The user-facing flags of a swarm that no other suite runs, with real processes on loopback: --pin
// (fingerprint as the only trust, shard downloads included), --insecure-dev on both ends (plaintext only when
// server and peer both opt in), submit --priority, DECLAI_API_KEY, sampling flags through the swarm equal to
// local `generate`, --wire-encoding f16, models with tied embeddings and with a BPE vocabulary served end to
// end, and exit status 2 for usage errors of declai-node and declai-server.
#include "ModelVariants.h"
#include "ProcessRun.h"
#include "SwarmHarness.h"

#include <QCryptographicHash>

using declai::testdata::Processes;
using declai::testdata::ProcessResult;
using declai::testdata::runProcess;
using declai::testdata::Swarm;

namespace {

const QString kPrompt = QStringLiteral("Once upon a time");

QJsonObject reference(const QString& name) {
    QFile f(declai::testdata::referencePath(QStringLiteral("parity/") + name));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

// llama.cpp's first `count` greedy tokens of stories260K for "Once upon a time", space separated.
QString referenceIds(int count) {
    const QJsonArray ids =
        reference(QStringLiteral("stories260K-p1.json")).value(QStringLiteral("greedy_tokens")).toArray();
    QStringList parts;
    for (int i = 0; i < count && i < ids.size(); ++i)
        parts << QString::number(ids[i].toInt());
    return parts.join(QLatin1Char(' '));
}

ProcessResult cli(const QStringList& args,
                  const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
    return runProcess(QStringLiteral(DECLAI_CLI_PATH), args, 120000, env);
}

QString describe(const ProcessResult& r) {
    return QStringLiteral("exit %1\nstdout: %2\nstderr: %3")
        .arg(r.exitCode)
        .arg(QString::fromUtf8(r.out), QString::fromUtf8(r.err));
}

QStringList submitArgs(const QString& url, const QStringList& trust, const QString& model,
                       const QString& prompt, int tokens, const QStringList& extra = {}) {
    return QStringList{QStringLiteral("submit"), QStringLiteral("--server"), url} + trust +
           QStringList{QStringLiteral("-m"),          model,
                       QStringLiteral("-p"),          prompt,
                       QStringLiteral("-n"),          QString::number(tokens),
                       QStringLiteral("--timeout-s"), QStringLiteral("90")} +
           extra;
}

// GET /v1/status over plaintext HTTP (an --insecure-dev server).
QJsonObject plainStatus(quint16 port) {
    QNetworkAccessManager network;
    QNetworkRequest request(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/status").arg(port)));
    request.setTransferTimeout(3000);
    QNetworkReply* reply = network.get(request);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(4000, &loop, &QEventLoop::quit);
    loop.exec();
    const QJsonObject result = QJsonDocument::fromJson(reply->readAll()).object();
    reply->deleteLater();
    return result;
}

int nodeCount(const QJsonObject& status) {
    return int(status.value(QStringLiteral("nodes")).toArray().size());
}

int nodesWithShards(const QJsonObject& status) {
    int ready = 0;
    for (const QJsonValue& n : status.value(QStringLiteral("nodes")).toArray())
        if (!n.toObject().value(QStringLiteral("shards")).toArray().isEmpty())
            ++ready;
    return ready;
}

// Polls `probe` until it is true or timeoutMs passed.
bool waitUntil(const std::function<bool()>& probe, int timeoutMs) {
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < timeoutMs) {
        if (probe())
            return true;
        QTest::qWait(100);
    }
    return probe();
}

QString fingerprintOf(const QString& certFile) {
    const auto certs = QSslCertificate::fromPath(certFile);
    if (certs.isEmpty())
        return {};
    return QStringLiteral("SHA256:") +
           QString::fromLatin1(certs.first().digest(QCryptographicHash::Sha256).toHex());
}

QStringList nodeArgs(const QString& url, const QString& dataDir, const QStringList& extra) {
    return QStringList{QStringLiteral("--server"),   url,
                       QStringLiteral("--data-dir"), dataDir,
                       QStringLiteral("--threads"),  QStringLiteral("1")} +
           extra;
}

} // namespace

class TestSwarmFlags : public QObject {
    Q_OBJECT

    QString m_tiedName = QStringLiteral("stories260K-tied");
    QString m_bpeName = QStringLiteral("synth-gpt2-vocab");
    QTemporaryDir m_models; // derived model files shared by the tests
    QString m_bpeModel;

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty() ||
            declai::testdata::referenceDir().isEmpty())
            QSKIP("stories260K.gguf (DECLAI_MODEL_PATH) and DECLAI_REFERENCE_DIR are needed");
        QVERIFY(!referenceIds(100).isEmpty());
    }

    // Exit status 2 for usage errors of the two server-side binaries; the message goes to stderr.
    void usageErrorsExitWith2_data() {
        QTest::addColumn<QString>("program");
        QTest::addColumn<QStringList>("args");
        const QString node = QStringLiteral(DECLAI_NODE_PATH);
        const QString server = QStringLiteral(DECLAI_SERVER_PATH);
        const QStringList nodeBase{QStringLiteral("--server"), QStringLiteral("wss://127.0.0.1:9"),
                                   QStringLiteral("--data-dir"), QStringLiteral("/nonexistent-declai")};
        const QStringList serverBase{QStringLiteral("--listen"),    QStringLiteral("127.0.0.1:0"),
                                     QStringLiteral("--model-dir"), QStringLiteral("/nonexistent-declai"),
                                     QStringLiteral("--data-dir"),  QStringLiteral("/nonexistent-declai")};
        QTest::newRow("node: no arguments") << node << QStringList{};
        QTest::newRow("node: unknown option")
            << node << nodeBase + QStringList{QStringLiteral("--frobnicate")};
        QTest::newRow("node: --threads not a number")
            << node << nodeBase + QStringList{QStringLiteral("--threads"), QStringLiteral("many")};
        QTest::newRow("node: --max-sessions 0")
            << node << nodeBase + QStringList{QStringLiteral("--max-sessions"), QStringLiteral("0")};
        QTest::newRow("node: --server not a URL")
            << node
            << QStringList{QStringLiteral("--server"), QStringLiteral("http://x"),
                           QStringLiteral("--data-dir"), QStringLiteral("/nonexistent-declai")};
        QTest::newRow("node: ws:// without --insecure-dev")
            << node
            << QStringList{QStringLiteral("--server"), QStringLiteral("ws://127.0.0.1:9"),
                           QStringLiteral("--data-dir"), QStringLiteral("/nonexistent-declai")};
        QTest::newRow("server: no arguments") << server << QStringList{};
        QTest::newRow("server: unknown option")
            << server << serverBase + QStringList{QStringLiteral("--frobnicate")};
        QTest::newRow("server: --replicas not a number")
            << server << serverBase + QStringList{QStringLiteral("--replicas"), QStringLiteral("x")};
        QTest::newRow("server: bad --wire-encoding")
            << server << serverBase + QStringList{QStringLiteral("--wire-encoding"), QStringLiteral("f8")};
        QTest::newRow("server: bad --ledger")
            << server << serverBase + QStringList{QStringLiteral("--ledger"), QStringLiteral("csv")};
    }
    void usageErrorsExitWith2() {
        QFETCH(QString, program);
        QFETCH(QStringList, args);
        const ProcessResult r = runProcess(program, args, 20000);
        QVERIFY2(r.exitCode == 2, qPrintable(describe(r)));
        QVERIFY2(!r.err.trimmed().isEmpty(), "no message on stderr");
        QVERIFY2(r.out.isEmpty(), r.out.constData());
    }

    // A node and a client that pin the server certificate's fingerprint need no CA file; a wrong pin, or no
    // trust at all, keeps them out; a plaintext node cannot join a TLS server.
    void pinnedFingerprintIsTheOnlyTrust() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("1")});
        QVERIFY(swarm.waitForServer());
        const QString pin = fingerprintOf(swarm.caFile());
        QVERIFY(pin.size() == 7 + 64);
        Processes extra;
        extra.start(
            QStringLiteral(DECLAI_NODE_PATH),
            nodeArgs(swarm.url(), swarm.path(QStringLiteral("pinned")), {QStringLiteral("--pin"), pin}),
            swarm.path(QStringLiteral("pinned.log")));
        // Joined and downloaded its shard over HTTPS with the pin alone.
        QVERIFY2(swarm.waitForShards(1), qPrintable(swarm.log(QStringLiteral("pinned"))));

        const ProcessResult pinned =
            cli(submitArgs(swarm.url(), {QStringLiteral("--pin"), pin}, QStringLiteral("stories260K"),
                           kPrompt, 24, {QStringLiteral("--tokens")}));
        QVERIFY2(pinned.exitCode == 0, qPrintable(describe(pinned)));
        QCOMPARE(QString::fromUtf8(pinned.out).trimmed(), referenceIds(24));

        // The pin as openssl prints it (upper case, colon-separated) is the same pin.
        QStringList pairs;
        for (int i = 7; i < pin.size(); i += 2)
            pairs << pin.mid(i, 2).toUpper();
        const QString opensslPin = QStringLiteral("sha256:") + pairs.join(QLatin1Char(':'));
        const ProcessResult colons =
            cli(submitArgs(swarm.url(), {QStringLiteral("--pin"), opensslPin}, QStringLiteral("stories260K"),
                           kPrompt, 8, {QStringLiteral("--tokens")}));
        QVERIFY2(colons.exitCode == 0, qPrintable(opensslPin + describe(colons)));
        QCOMPARE(QString::fromUtf8(colons.out).trimmed(), referenceIds(8));

        const QString wrongPin = QStringLiteral("SHA256:") + QString(64, QLatin1Char('0'));
        extra.start(QStringLiteral(DECLAI_NODE_PATH),
                    nodeArgs(swarm.url(), swarm.path(QStringLiteral("wrongpin")),
                             {QStringLiteral("--pin"), wrongPin}),
                    swarm.path(QStringLiteral("wrongpin.log")));
        extra.start(QStringLiteral(DECLAI_NODE_PATH),
                    nodeArgs(QStringLiteral("ws://127.0.0.1:%1").arg(swarm.port()),
                             swarm.path(QStringLiteral("plaintext")), {QStringLiteral("--insecure-dev")}),
                    swarm.path(QStringLiteral("plaintext.log")));
        QTest::qWait(4000);
        QCOMPARE(nodeCount(swarm.status()), 1);

        const ProcessResult wrong = cli(submitArgs(swarm.url(), {QStringLiteral("--pin"), wrongPin},
                                                   QStringLiteral("stories260K"), kPrompt, 4));
        QVERIFY2(wrong.exitCode == 1, qPrintable(describe(wrong)));
        QVERIFY2(wrong.err.contains("TLS"), wrong.err.constData());
        const ProcessResult untrusted =
            cli(submitArgs(swarm.url(), {}, QStringLiteral("stories260K"), kPrompt, 4));
        QVERIFY2(untrusted.exitCode == 1, qPrintable(describe(untrusted)));
        QVERIFY2(untrusted.err.contains("TLS"), untrusted.err.constData());
    }

    // Plaintext works only when both ends say --insecure-dev; an opted-in node still refuses to speak TLS to
    // a plaintext server by accident (it asked for wss://).
    void plaintextNeedsInsecureDevOnBothEnds() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--insecure-dev"),
                     QStringLiteral("--min-nodes"), QStringLiteral("1")});
        const quint16 port = swarm.port();
        QVERIFY2(waitUntil([&] { return plainStatus(port).contains(QStringLiteral("nodes")); }, 20000),
                 qPrintable(swarm.log(QStringLiteral("server"))));
        QVERIFY(!QFile::exists(swarm.caFile())); // no certificate was made: nothing speaks TLS here
        const QString plainUrl = QStringLiteral("ws://127.0.0.1:%1").arg(port);

        const ProcessResult refused =
            runProcess(QStringLiteral(DECLAI_NODE_PATH),
                       nodeArgs(plainUrl, swarm.path(QStringLiteral("refused")), {}), 20000);
        QVERIFY2(refused.exitCode == 2, qPrintable(describe(refused)));
        QVERIFY2(refused.err.contains("--insecure-dev"), refused.err.constData());

        Processes extra;
        extra.start(QStringLiteral(DECLAI_NODE_PATH),
                    nodeArgs(QStringLiteral("wss://127.0.0.1:%1").arg(port),
                             swarm.path(QStringLiteral("tlsnode")), {QStringLiteral("--insecure-dev")}),
                    swarm.path(QStringLiteral("tlsnode.log")));
        extra.start(
            QStringLiteral(DECLAI_NODE_PATH),
            nodeArgs(plainUrl, swarm.path(QStringLiteral("plain")), {QStringLiteral("--insecure-dev")}),
            swarm.path(QStringLiteral("plain.log")));
        QVERIFY2(waitUntil([&] { return nodesWithShards(plainStatus(port)) >= 1; }, 30000),
                 qPrintable(swarm.log(QStringLiteral("plain"))));
        QTest::qWait(1000);
        QCOMPARE(nodeCount(plainStatus(port)), 1); // the wss:// node never got in

        const ProcessResult plain =
            cli(submitArgs(plainUrl, {QStringLiteral("--insecure-dev")}, QStringLiteral("stories260K"),
                           kPrompt, 24, {QStringLiteral("--tokens")}));
        QVERIFY2(plain.exitCode == 0, qPrintable(describe(plain)));
        QCOMPARE(QString::fromUtf8(plain.out).trimmed(), referenceIds(24));

        const ProcessResult notOptedIn =
            cli(submitArgs(plainUrl, {}, QStringLiteral("stories260K"), kPrompt, 4));
        QVERIFY2(notOptedIn.exitCode == 2, qPrintable(describe(notOptedIn))); // as declai-node
        QVERIFY2(notOptedIn.err.contains("--insecure-dev"), notOptedIn.err.constData());
    }

    // One TLS swarm serving stories260K, its tied-embedding twin and a GPT-2-vocabulary llama: priorities,
    // sampling flags, tied embeddings and BPE, each compared with local `generate` or llama.cpp's tokens.
    void servedModelsAndSamplingFlags() {
        const QString vocab =
            declai::testdata::referencePath(QStringLiteral("tokenizer/ggml-vocab-gpt-2.gguf"));
        if (vocab.isEmpty())
            QSKIP("tokenizer/ggml-vocab-gpt-2.gguf not in DECLAI_REFERENCE_DIR");
        QString prepareError;
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2")},
                    [&](Swarm& s) {
                        prepareError = declai::testdata::writeGgufWithout(
                            declai::testdata::modelPath(QStringLiteral("stories260K.gguf")),
                            s.path(QStringLiteral("models/%1.gguf").arg(m_tiedName)), "output.weight");
                        m_bpeModel = s.path(QStringLiteral("models/%1.gguf").arg(m_bpeName));
                        const ProcessResult synth = cli(
                            {QStringLiteral("model"), QStringLiteral("synth"), QStringLiteral("--shape"),
                             QStringLiteral("llama-20m"), QStringLiteral("--type"), QStringLiteral("q8_0"),
                             QStringLiteral("-o"), m_bpeModel, QStringLiteral("--seed"), QStringLiteral("3"),
                             QStringLiteral("--vocab-from"), vocab});
                        if (synth.exitCode != 0)
                            prepareError += describe(synth);
                    });
        QVERIFY2(prepareError.isEmpty(), qPrintable(prepareError));
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        swarm.addNode();
        swarm.addNode({QStringLiteral("--threads"), QStringLiteral("2")}); // the last --threads wins
        QVERIFY(swarm.waitForShards(2));
        const QStringList trust{QStringLiteral("--ca"), swarm.caFile()};

        // --priority: each class is served, with the same greedy text.
        for (const QString& priority :
             {QStringLiteral("low"), QStringLiteral("normal"), QStringLiteral("high")}) {
            const ProcessResult r =
                cli(submitArgs(swarm.url(), trust, QStringLiteral("stories260K"), kPrompt, 24,
                               {QStringLiteral("--tokens"), QStringLiteral("--priority"), priority}));
            QVERIFY2(r.exitCode == 0, qPrintable(priority + describe(r)));
            QCOMPARE(QString::fromUtf8(r.out).trimmed(), referenceIds(24));
        }

        // Sampling flags through the swarm give exactly what local generate gives with the same seed.
        const QList<QStringList> samplings{
            {QStringLiteral("--temp"), QStringLiteral("0.8"), QStringLiteral("--seed"), QStringLiteral("42")},
            {QStringLiteral("--temp"), QStringLiteral("1.1"), QStringLiteral("--seed"), QStringLiteral("7"),
             QStringLiteral("--top-k"), QStringLiteral("20"), QStringLiteral("--top-p"),
             QStringLiteral("0.9"), QStringLiteral("--min-p"), QStringLiteral("0.02"),
             QStringLiteral("--repeat-penalty"), QStringLiteral("1.1")}};
        for (const QStringList& flags : samplings) {
            const ProcessResult local =
                cli(QStringList{QStringLiteral("generate"), QStringLiteral("-m"),
                                QStringLiteral("stories260K.gguf"), QStringLiteral("-p"), kPrompt,
                                QStringLiteral("-n"), QStringLiteral("48"), QStringLiteral("--tokens"),
                                QStringLiteral("--threads"), QStringLiteral("2")} +
                    flags);
            QVERIFY2(local.exitCode == 0, qPrintable(describe(local)));
            const ProcessResult remote =
                cli(submitArgs(swarm.url(), trust, QStringLiteral("stories260K"), kPrompt, 48,
                               QStringList{QStringLiteral("--tokens")} + flags));
            QVERIFY2(remote.exitCode == 0, qPrintable(describe(remote)));
            QVERIFY2(QString::fromUtf8(remote.out).trimmed() == QString::fromUtf8(local.out).trimmed(),
                     qPrintable(flags.join(QLatin1Char(' ')) + QStringLiteral("\nswarm: ") +
                                QString::fromUtf8(remote.out) + QStringLiteral("local: ") +
                                QString::fromUtf8(local.out)));
            QVERIFY(QString::fromUtf8(local.out).trimmed() != referenceIds(48));
        }

        // Tied embeddings (no output.weight): llama.cpp's greedy tokens of the original file.
        const ProcessResult tied =
            cli(submitArgs(swarm.url(), trust, m_tiedName, kPrompt, 100, {QStringLiteral("--tokens")}));
        QVERIFY2(tied.exitCode == 0, qPrintable(describe(tied)));
        QCOMPARE(QString::fromUtf8(tied.out).trimmed(), referenceIds(100));

        // GPT-2 BPE vocabulary: the swarm's ids and text equal local generate's.
        const QString bpePrompt = QStringLiteral("Hello world, this is");
        for (const bool ids : {true, false}) {
            const QStringList idFlag = ids ? QStringList{QStringLiteral("--tokens")} : QStringList{};
            const ProcessResult local =
                cli(QStringList{QStringLiteral("generate"), QStringLiteral("-m"), m_bpeModel,
                                QStringLiteral("-p"), bpePrompt, QStringLiteral("-n"), QStringLiteral("16")} +
                    idFlag);
            QVERIFY2(local.exitCode == 0, qPrintable(describe(local)));
            const ProcessResult remote =
                cli(submitArgs(swarm.url(), trust, m_bpeName, bpePrompt, 16, idFlag));
            QVERIFY2(remote.exitCode == 0, qPrintable(describe(remote)));
            QCOMPARE(remote.out, local.out);
        }
    }

    // submit reads the API key from DECLAI_API_KEY; a wrong key is refused, and --api-key wins over it.
    void apiKeyFromEnvironment() {
        QString key;
        Swarm swarm({QStringLiteral("--min-nodes"), QStringLiteral("1")}, [&](Swarm& s) {
            key = s.admin({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("alice")}).trimmed();
        });
        QVERIFY2(key.startsWith(QStringLiteral("dk_")), qPrintable(key));
        QVERIFY(swarm.waitForServer());
        swarm.addNode();
        QVERIFY(swarm.waitForShards(1));
        const QStringList trust{QStringLiteral("--ca"), swarm.caFile()};
        auto withKey = [](const QString& value) {
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.insert(QStringLiteral("DECLAI_API_KEY"), value);
            return env;
        };
        QProcessEnvironment noKey = QProcessEnvironment::systemEnvironment();
        noKey.remove(QStringLiteral("DECLAI_API_KEY"));

        const ProcessResult good = cli(submitArgs(swarm.url(), trust, QStringLiteral("stories260K"), kPrompt,
                                                  12, {QStringLiteral("--tokens")}),
                                       withKey(key));
        QVERIFY2(good.exitCode == 0, qPrintable(describe(good)));
        QCOMPARE(QString::fromUtf8(good.out).trimmed(), referenceIds(12));

        const QString wrongKey = QStringLiteral("dk_") + QString(40, QLatin1Char('a'));
        const ProcessResult wrong = cli(
            submitArgs(swarm.url(), trust, QStringLiteral("stories260K"), kPrompt, 12), withKey(wrongKey));
        QVERIFY2(wrong.exitCode == 1, qPrintable(describe(wrong)));
        QVERIFY2(wrong.err.contains("refused"), wrong.err.constData());
        QVERIFY(wrong.out.isEmpty());

        const ProcessResult none =
            cli(submitArgs(swarm.url(), trust, QStringLiteral("stories260K"), kPrompt, 12), noKey);
        QVERIFY2(none.exitCode == 1, qPrintable(describe(none)));

        const ProcessResult flagWins = cli(submitArgs(swarm.url(), trust, QStringLiteral("stories260K"),
                                                      kPrompt, 12, {QStringLiteral("--api-key"), wrongKey}),
                                           withKey(key));
        QVERIFY2(flagWins.exitCode == 1, qPrintable(describe(flagWins)));
    }

    // --wire-encoding f16 halves the hidden-state bytes on the wire and still gives llama.cpp's greedy
    // tokens for stories260K (two stages, so every token crosses the wire twice each way).
    void wireEncodingF16() {
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2"),
                     QStringLiteral("--replicas"), QStringLiteral("1"), QStringLiteral("--wire-encoding"),
                     QStringLiteral("f16")});
        QVERIFY(swarm.waitForServer());
        swarm.addNode();
        swarm.addNode();
        QVERIFY(swarm.waitForShards(2));
        const ProcessResult r =
            cli(submitArgs(swarm.url(), {QStringLiteral("--ca"), swarm.caFile()},
                           QStringLiteral("stories260K"), kPrompt, 100, {QStringLiteral("--tokens")}));
        QVERIFY2(r.exitCode == 0, qPrintable(describe(r)));
        QCOMPARE(QString::fromUtf8(r.out).trimmed(), referenceIds(100));
        const QJsonObject status = swarm.status();
        const qint64 hops = status.value(QStringLiteral("stage_hops")).toInteger();
        const qint64 bytes = status.value(QStringLiteral("hidden_bytes_sent")).toInteger();
        QVERIFY2(hops >= 200, qPrintable(QString::number(hops))); // 2 stages x 100 tokens: really two stages
        // In F32 every hop carries at least one row of 64 x 4 bytes; F16 carries 64 x 2 per row.
        QVERIFY2(bytes < hops * 64 * 4,
                 qPrintable(QStringLiteral("%1 bytes in %2 hops").arg(bytes).arg(hops)));
        QVERIFY2(bytes >= hops * 64 * 2,
                 qPrintable(QStringLiteral("%1 bytes in %2 hops").arg(bytes).arg(hops)));
    }
};

QTEST_GUILESS_MAIN(TestSwarmFlags)
#include "tst_swarm_flags.moc"
