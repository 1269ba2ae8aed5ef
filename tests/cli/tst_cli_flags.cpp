// declai-cli's user-facing flags that no other suite runs, each through the real binary: sampling
// (--temp/--seed and the filters) reproducible across thread counts, `bench --json`, exit status 2 for usage
// errors, a model with tied embeddings (no output.weight) against llama.cpp's greedy reference, and a
// byte-level BPE vocabulary (GPT-2's) through `model synth --vocab-from`, `tokenize` and `generate`.
#include "ModelVariants.h"
#include "ProcessRun.h"
#include "TestData.h"
#include "declai/core/Sampler.h"
#include "declai/core/Version.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

namespace {

using Run = declai::testdata::ProcessResult;

Run runProgram(const QString& program, const QStringList& args, int timeoutMs) {
    return declai::testdata::runProcess(program, args, timeoutMs);
}

Run runCli(const QStringList& args, int timeoutMs = 120000) {
    return runProgram(QStringLiteral(DECLAI_CLI_PATH), args, timeoutMs);
}

QJsonObject reference(const QString& name) {
    return declai::testdata::parityReference(name);
}

using declai::testdata::idsToString;

// `generate --tokens` for stories260K with the given extra flags; the ids as printed.
QString sampledIds(const QStringList& extra) {
    const Run r = runCli(QStringList{QStringLiteral("generate"), QStringLiteral("-m"),
                                     QStringLiteral("stories260K.gguf"), QStringLiteral("-p"),
                                     QStringLiteral("Once upon a time"), QStringLiteral("-n"),
                                     QStringLiteral("48"), QStringLiteral("--tokens")} +
                         extra);
    if (r.exitCode != 0)
        return QStringLiteral("exit %1: %2").arg(r.exitCode).arg(QString::fromUtf8(r.err));
    return QString::fromUtf8(r.out).trimmed();
}

struct VocabCase {
    QString text;
    QString ids;
};

// llama.cpp's tokenizer vectors: strings separated by "\n__ggml_vocab_test__\n", one line of ids each.
std::vector<VocabCase> vocabCases(const QString& name) {
    QFile inp(declai::testdata::referencePath(QStringLiteral("tokenizer/") + name + QStringLiteral(".inp")));
    QFile out(declai::testdata::referencePath(QStringLiteral("tokenizer/") + name + QStringLiteral(".out")));
    if (!inp.open(QIODevice::ReadOnly) || !out.open(QIODevice::ReadOnly))
        return {};
    const QList<QByteArray> texts = inp.readAll().split('\n');
    std::vector<VocabCase> cases;
    const QByteArray separator("__ggml_vocab_test__");
    QByteArray current;
    bool firstLine = true;
    for (const QByteArray& line : texts) {
        if (line == separator) {
            cases.push_back({QString::fromUtf8(current), {}});
            current.clear();
            firstLine = true;
            continue;
        }
        if (!firstLine)
            current += '\n';
        current += line;
        firstLine = false;
    }
    const QList<QByteArray> lines = out.readAll().split('\n');
    for (size_t i = 0; i < cases.size() && qsizetype(i) < lines.size(); ++i)
        cases[i].ids = QString::fromUtf8(lines[qsizetype(i)]).simplified();
    return cases;
}

} // namespace

class TestCliFlags : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::referenceDir().isEmpty() ||
            declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty())
            QSKIP("DECLAI_MODEL_PATH and DECLAI_REFERENCE_DIR must point at ../shared");
    }

    // --temp 0.8 --seed 42 gives the same tokens with 1 and 2 threads; another seed gives others, and the
    // sampled text is not the greedy one (so the flags reached the sampler).
    void samplingIsReproducibleAcrossThreadCounts_data() {
        QTest::addColumn<QStringList>("flags");
        QTest::newRow("temp+seed") << QStringList{QStringLiteral("--temp"), QStringLiteral("0.8"),
                                                  QStringLiteral("--seed"), QStringLiteral("42")};
        QTest::newRow("all filters") << QStringList{
            QStringLiteral("--temp"),           QStringLiteral("1.1"),
            QStringLiteral("--seed"),           QStringLiteral("7"),
            QStringLiteral("--top-k"),          QStringLiteral("20"),
            QStringLiteral("--top-p"),          QStringLiteral("0.9"),
            QStringLiteral("--min-p"),          QStringLiteral("0.02"),
            QStringLiteral("--repeat-penalty"), QStringLiteral("1.1")};
    }
    void samplingIsReproducibleAcrossThreadCounts() {
        QFETCH(QStringList, flags);
        const QString one = sampledIds(flags + QStringList{QStringLiteral("--threads"), QStringLiteral("1")});
        const QString two = sampledIds(flags + QStringList{QStringLiteral("--threads"), QStringLiteral("2")});
        QVERIFY2(!one.startsWith(QStringLiteral("exit")), qPrintable(one));
        QCOMPARE(one.split(QLatin1Char(' ')).size(), 48);
        QCOMPARE(two, one);
        QCOMPARE(sampledIds(flags + QStringList{QStringLiteral("--threads"), QStringLiteral("1")}), one);

        QStringList otherSeed = flags;
        otherSeed[otherSeed.indexOf(QStringLiteral("--seed")) + 1] = QStringLiteral("43");
        QVERIFY2(sampledIds(otherSeed) != one, "a different seed gave the same tokens");
        const QJsonObject ref = reference(QStringLiteral("stories260K-p1.json"));
        QVERIFY(!ref.isEmpty());
        const QString greedy = idsToString(ref.value(QStringLiteral("greedy_tokens")).toArray());
        QVERIFY2(!greedy.startsWith(one), "sampling at this temperature gave the greedy tokens");
    }

    void benchJsonHasSaneFields() {
        const Run r =
            runCli({QStringLiteral("bench"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
                    QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("-p"),
                    QStringLiteral("16"), QStringLiteral("-n"), QStringLiteral("8"), QStringLiteral("--reps"),
                    QStringLiteral("1"), QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QJsonParseError error;
        const QJsonObject j = QJsonDocument::fromJson(r.out, &error).object();
        QVERIFY2(error.error == QJsonParseError::NoError,
                 qPrintable(error.errorString() + QString::fromUtf8(r.out)));
        for (const char* key :
             {"prefill_tps", "decode_tps", "bandwidth_gbps", "layer_tps", "decode_ceiling_tps", "peak_rss_mb",
              "matmul_f16_gflops", "matmul_int8_gflops"}) {
            const QJsonValue v = j.value(QLatin1String(key));
            QVERIFY2(v.isDouble(), key);
            QVERIFY2(v.toDouble() > 0.0,
                     qPrintable(QStringLiteral("%1 = %2").arg(QLatin1String(key)).arg(v.toDouble())));
        }
        QCOMPARE(j.value(QStringLiteral("threads")).toInt(), 1);
        QVERIFY2(j.value(QStringLiteral("model")).toString().contains(QStringLiteral("stories260K")),
                 r.out.constData());
        QVERIFY(!j.value(QStringLiteral("device")).toString().isEmpty());
        // A 1 MB model: far below a GiB of RSS. (Its decode may beat the DRAM ceiling: it fits in cache.)
        QVERIFY(j.value(QStringLiteral("peak_rss_mb")).toDouble() < 1024.0);

        const Run text = runCli(
            {QStringLiteral("bench"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
             QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("-p"), QStringLiteral("16"),
             QStringLiteral("-n"), QStringLiteral("8"), QStringLiteral("--reps"), QStringLiteral("1")});
        QVERIFY2(text.exitCode == 0, text.err.constData());
        QVERIFY2(text.out.contains("prefill pp16:") && text.out.contains("decode  tg8:"),
                 text.out.constData());

        // --sessions: several sessions decoded together through forwardBatch; the JSON names the count.
        const Run batched = runCli(
            {QStringLiteral("bench"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
             QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("-p"), QStringLiteral("16"),
             QStringLiteral("-n"), QStringLiteral("8"), QStringLiteral("--reps"), QStringLiteral("1"),
             QStringLiteral("--sessions"), QStringLiteral("3"), QStringLiteral("--json")});
        QVERIFY2(batched.exitCode == 0, batched.err.constData());
        const QJsonObject b = QJsonDocument::fromJson(batched.out).object();
        QCOMPARE(b.value(QStringLiteral("sessions")).toInt(), 3);
        QVERIFY2(b.value(QStringLiteral("decode_tps")).toDouble() > 0.0, batched.out.constData());
        QCOMPARE(j.value(QStringLiteral("sessions")).toInt(), 1);
    }

    // Usage errors (unknown option, bad value, missing argument) exit 2 with the message on stderr; a
    // runtime failure (missing model) exits 1.
    void usageErrorsExitWith2_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("exitCode");
        const QString m = QStringLiteral("stories260K.gguf");
        auto gen = [&](QStringList extra) {
            return QStringList{QStringLiteral("generate"), QStringLiteral("-m"), m, QStringLiteral("-p"),
                               QStringLiteral("hi")} +
                   extra;
        };
        auto submit = [](QStringList extra) {
            return QStringList{QStringLiteral("submit"),
                               QStringLiteral("--server"),
                               QStringLiteral("wss://127.0.0.1:9"),
                               QStringLiteral("-m"),
                               QStringLiteral("x"),
                               QStringLiteral("-p"),
                               QStringLiteral("hi")} +
                   extra;
        };
        QTest::newRow("no command") << QStringList{} << 2;
        QTest::newRow("unknown command") << QStringList{QStringLiteral("frobnicate")} << 2;
        QTest::newRow("generate unknown option") << gen({QStringLiteral("--frobnicate")}) << 2;
        QTest::newRow("generate -n not a number") << gen({QStringLiteral("-n"), QStringLiteral("many")}) << 2;
        QTest::newRow("generate --temp not a number")
            << gen({QStringLiteral("--temp"), QStringLiteral("hot")}) << 2;
        QTest::newRow("generate --seed negative")
            << gen({QStringLiteral("--seed"), QStringLiteral("-1")}) << 2;
        QTest::newRow("generate --threads too many")
            << gen({QStringLiteral("--threads"), QStringLiteral("5000")}) << 2;
        QTest::newRow("generate without -p")
            << QStringList{QStringLiteral("generate"), QStringLiteral("-m"), m} << 2;
        QTest::newRow("tokenize unknown option")
            << QStringList{QStringLiteral("tokenize"), QStringLiteral("--frobnicate")} << 2;
        QTest::newRow("bench unknown option")
            << QStringList{QStringLiteral("bench"), QStringLiteral("-m"), m, QStringLiteral("--frobnicate")}
            << 2;
        QTest::newRow("bench --sessions 0") << QStringList{QStringLiteral("bench"), QStringLiteral("-m"), m,
                                                           QStringLiteral("--sessions"), QStringLiteral("0")}
                                            << 2;
        QTest::newRow("bench --reps not a number")
            << QStringList{QStringLiteral("bench"), QStringLiteral("-m"), m, QStringLiteral("--reps"),
                           QStringLiteral("x")}
            << 2;
        QTest::newRow("submit unknown option") << submit({QStringLiteral("--frobnicate")}) << 2;
        QTest::newRow("submit --temp not a number")
            << submit({QStringLiteral("--temp"), QStringLiteral("hot")}) << 2;
        QTest::newRow("submit --priority not a priority")
            << submit({QStringLiteral("--priority"), QStringLiteral("urgent")}) << 2;
        QTest::newRow("submit ws:// without --insecure-dev")
            << QStringList{QStringLiteral("submit"),
                           QStringLiteral("--server"),
                           QStringLiteral("ws://127.0.0.1:9"),
                           QStringLiteral("-m"),
                           QStringLiteral("x"),
                           QStringLiteral("-p"),
                           QStringLiteral("hi")}
            << 2;
        QTest::newRow("submit bad --server")
            << QStringList{QStringLiteral("submit"), QStringLiteral("--server"), QStringLiteral("http://x"),
                           QStringLiteral("-m"),     QStringLiteral("x"),        QStringLiteral("-p"),
                           QStringLiteral("hi")}
            << 2;
        QTest::newRow("devices unknown option")
            << QStringList{QStringLiteral("devices"), QStringLiteral("--frobnicate")} << 2;
        QTest::newRow("model synth unknown option")
            << QStringList{QStringLiteral("model"), QStringLiteral("synth"), QStringLiteral("--frobnicate")}
            << 2;
        QTest::newRow("model synth bad shape")
            << QStringList{QStringLiteral("model"),   QStringLiteral("synth"),
                           QStringLiteral("--shape"), QStringLiteral("huge"),
                           QStringLiteral("--type"),  QStringLiteral("f16"),
                           QStringLiteral("-o"),      m_dir.filePath(QStringLiteral("never.gguf"))}
            << 2;
        QTest::newRow("missing model is not a usage error")
            << QStringList{QStringLiteral("generate"), QStringLiteral("-m"),
                           QStringLiteral("no-such-model.gguf"), QStringLiteral("-p"), QStringLiteral("hi")}
            << 1;
    }
    void usageErrorsExitWith2() {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        const Run r = runCli(args, 30000);
        QVERIFY2(
            r.exitCode == exitCode,
            qPrintable(QStringLiteral("exit %1, stderr: %2").arg(r.exitCode).arg(QString::fromUtf8(r.err))));
        QVERIFY2(r.err.startsWith("declai-cli: ") || r.err.startsWith("usage:"), r.err.constData());
    }

    // Every binary answers --version with the one generated version (Version.h from CMake's project()).
    void versionFlagPrintsGeneratedVersion_data() {
        QTest::addColumn<QString>("program");
        QTest::addColumn<QString>("name");
        QTest::newRow("declai-cli") << QStringLiteral(DECLAI_CLI_PATH) << QStringLiteral("declai-cli");
#ifdef DECLAI_NODE_PATH
        QTest::newRow("declai-node") << QStringLiteral(DECLAI_NODE_PATH) << QStringLiteral("declai-node");
        QTest::newRow("declai-server")
            << QStringLiteral(DECLAI_SERVER_PATH) << QStringLiteral("declai-server");
#endif
    }
    void versionFlagPrintsGeneratedVersion() {
        QFETCH(QString, program);
        QFETCH(QString, name);
        const Run r = runProgram(program, QStringList{QStringLiteral("--version")}, 30000);
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(QString::fromUtf8(r.out).trimmed(),
                 QString::fromStdString(declai::softwareName(name.toStdString())));
        QVERIFY(r.out.contains(QByteArray::fromStdString(std::string(declai::kVersion))));
        QVERIFY(!declai::kVersion.empty());
    }

    // The help states the sampler defaults, and they are SamplerConfig's (not numbers typed into the text).
    void helpStatesSamplerDefaults() {
        const Run r = runCli(QStringList{QStringLiteral("--help")}, 30000);
        QCOMPARE(r.exitCode, 0);
        const declai::SamplerConfig defaults;
        for (const QString& expected :
             {QStringLiteral("--top-k %1").arg(defaults.topK),
              QStringLiteral("--top-p %1").arg(double(defaults.topP)),
              QStringLiteral("--min-p %1").arg(double(defaults.minP)),
              QStringLiteral("--repeat-penalty %1").arg(double(defaults.repeatPenalty)),
              QStringLiteral("--temp %1").arg(double(defaults.temperature))})
            QVERIFY2(QString::fromUtf8(r.out).contains(expected), qPrintable(expected));
    }

    // stories260K without output.weight: the head reuses token_embd (the converter had copied it), so
    // llama.cpp's greedy tokens for the original file are the reference.
    void tiedEmbeddingsMatchReference() {
        const QString tied = m_dir.filePath(QStringLiteral("stories260K-tied.gguf"));
        const QString error = declai::testdata::writeGgufWithout(
            declai::testdata::modelPath(QStringLiteral("stories260K.gguf")), tied, "output.weight");
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const Run inspect = runCli({QStringLiteral("inspect"), QStringLiteral("-m"), tied});
        QVERIFY2(inspect.exitCode == 0, inspect.err.constData());
        QVERIFY2(inspect.out.contains("tied embeddings"), inspect.out.constData());
        QVERIFY(!inspect.out.contains("\n  output.weight "));

        const QJsonObject ref = reference(QStringLiteral("stories260K-p1.json"));
        QVERIFY(!ref.isEmpty());
        const QJsonArray greedy = ref.value(QStringLiteral("greedy_tokens")).toArray();
        const QStringList common = {QStringLiteral("generate"),
                                    QStringLiteral("-m"),
                                    tied,
                                    QStringLiteral("-p"),
                                    ref.value(QStringLiteral("prompt")).toString(),
                                    QStringLiteral("-n"),
                                    QString::number(greedy.size())};
        const Run ids = runCli(common + QStringList{QStringLiteral("--tokens")});
        QVERIFY2(ids.exitCode == 0, ids.err.constData());
        QCOMPARE(QString::fromUtf8(ids.out).trimmed(), idsToString(greedy));
        const Run text = runCli(common);
        QCOMPARE(QString::fromUtf8(text.out),
                 ref.value(QStringLiteral("greedy_text")).toString() + QLatin1Char('\n'));
    }

    // A llama with GPT-2's byte-level BPE vocabulary, written by `model synth --vocab-from`: `tokenize`
    // gives llama.cpp's ids for every test string, and `generate` runs to the end and is deterministic.
    void bpeVocabularyEndToEnd_data() {
        QTest::addColumn<QString>("vocabulary");
        QTest::addColumn<QString>("modelName");
        QTest::addColumn<int>("stride"); // every stride-th test string (a 128k vocabulary loads in ~2 s)
        QTest::newRow("gpt-2") << QStringLiteral("ggml-vocab-gpt-2.gguf") << QStringLiteral("gpt2") << 1;
        QTest::newRow("llama-bpe (Llama 3)")
            << QStringLiteral("ggml-vocab-llama-bpe.gguf") << QStringLiteral("gpt2") << 9;
    }
    void bpeVocabularyEndToEnd() {
        QFETCH(QString, vocabulary);
        QFETCH(QString, modelName);
        QFETCH(int, stride);
        const QString vocab = declai::testdata::referencePath(QStringLiteral("tokenizer/") + vocabulary);
        if (vocab.isEmpty())
            QSKIP(qPrintable(QStringLiteral("tokenizer/%1 not in DECLAI_REFERENCE_DIR").arg(vocabulary)));
        const QString model = m_dir.filePath(QStringLiteral("synth-") + vocabulary);
        const Run synth =
            runCli({QStringLiteral("model"), QStringLiteral("synth"), QStringLiteral("--shape"),
                    QStringLiteral("llama-20m"), QStringLiteral("--type"), QStringLiteral("q8_0"),
                    QStringLiteral("-o"), model, QStringLiteral("--seed"), QStringLiteral("3"),
                    QStringLiteral("--vocab-from"), vocab});
        QVERIFY2(synth.exitCode == 0, synth.err.constData());
        const Run inspect = runCli({QStringLiteral("inspect"), QStringLiteral("-m"), model});
        QVERIFY2(inspect.out.contains("tokenizer.ggml.model") && inspect.out.contains(modelName.toUtf8()),
                 inspect.out.constData());

        std::vector<VocabCase> cases;
        const auto all = vocabCases(vocabulary);
        QVERIFY(all.size() > 20);
        for (size_t i = 0; i < all.size(); i += size_t(stride))
            cases.push_back(all[i]);
        int compared = 0;
        for (const VocabCase& c : cases) {
            const Run r = runCli({QStringLiteral("tokenize"), QStringLiteral("-m"), model,
                                  QStringLiteral("-p"), c.text, QStringLiteral("--no-bos")});
            QVERIFY2(r.exitCode == 0, r.err.constData());
            QVERIFY2(QString::fromUtf8(r.out).simplified() == c.ids,
                     qPrintable(QStringLiteral("'%1': got '%2', llama.cpp '%3'")
                                    .arg(c.text, QString::fromUtf8(r.out).simplified(), c.ids)));
            ++compared;
        }
        QCOMPARE(compared, int(cases.size()));

        const QStringList gen = {QStringLiteral("generate"),
                                 QStringLiteral("-m"),
                                 model,
                                 QStringLiteral("-p"),
                                 QStringLiteral("Hello world, this is"),
                                 QStringLiteral("-n"),
                                 QStringLiteral("16"),
                                 QStringLiteral("--tokens")};
        const Run a = runCli(gen + QStringList{QStringLiteral("--threads"), QStringLiteral("1")});
        const Run b = runCli(gen + QStringList{QStringLiteral("--threads"), QStringLiteral("2")});
        QVERIFY2(a.exitCode == 0, a.err.constData());
        QVERIFY(!a.out.trimmed().isEmpty());
        QCOMPARE(b.out, a.out);
        const Run text = runCli(QStringList(gen.begin(), gen.end() - 1));
        QVERIFY2(text.exitCode == 0, text.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliFlags)
#include "tst_cli_flags.moc"
