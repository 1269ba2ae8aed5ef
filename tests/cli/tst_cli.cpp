// declai-cli's contract (the one our acceptance checks use): generate prints only the continuation,
// --tokens prints ids, tokenize prints ids, logits writes raw float32, errors go to stderr with a
// non-zero exit. Expected outputs come from llama.cpp's reference files.
#include "ModelVariants.h"
#include "ProcessRun.h"
#include "TestData.h"
#include "declai/core/GgufFile.h"
#include "declai/core/Quant.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace {

using Run = declai::testdata::ProcessResult;

Run runCli(const QStringList& args, int timeoutMs = 120000) {
    return declai::testdata::runProcess(QStringLiteral(DECLAI_CLI_PATH), args, timeoutMs);
}

QJsonObject reference(const QString& name) {
    return declai::testdata::parityReference(name);
}

using declai::testdata::idsToString;

} // namespace

class TestCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::referenceDir().isEmpty() || qEnvironmentVariable("DECLAI_MODEL_PATH").isEmpty())
            DECLAI_SKIP_MISSING(
                "models",
                QStringLiteral("DECLAI_MODEL_PATH and DECLAI_REFERENCE_DIR must point at ../shared"));
    }

    void generatePrintsReferenceContinuation_data() {
        QTest::addColumn<QString>("reference");
        QTest::newRow("p1") << QStringLiteral("stories260K-p1.json");
        QTest::newRow("p2") << QStringLiteral("stories260K-p2.json");
        QTest::newRow("p3") << QStringLiteral("stories260K-p3.json");
    }

    void generatePrintsReferenceContinuation() {
        QFETCH(QString, reference);
        const QJsonObject ref = ::reference(reference);
        QVERIFY(!ref.isEmpty());
        const QJsonArray greedy = ref.value(QStringLiteral("greedy_tokens")).toArray();
        const QStringList common = {QStringLiteral("-m"), ref.value(QStringLiteral("model")).toString(),
                                    QStringLiteral("-p"), ref.value(QStringLiteral("prompt")).toString(),
                                    QStringLiteral("-n"), QString::number(greedy.size())};
        const Run text = runCli(QStringList{QStringLiteral("generate")} + common);
        QCOMPARE(text.exitCode, 0);
        QCOMPARE(QString::fromUtf8(text.out),
                 ref.value(QStringLiteral("greedy_text")).toString() + QLatin1Char('\n'));
        const Run ids = runCli(QStringList{QStringLiteral("generate")} + common +
                               QStringList{QStringLiteral("--tokens")});
        QCOMPARE(ids.exitCode, 0);
        QCOMPARE(QString::fromUtf8(ids.out).trimmed(), idsToString(greedy));
    }

    void tokenizeMatchesReference() {
        const QJsonObject ref = reference(QStringLiteral("tiny-random-p1.json"));
        const Run r = runCli({QStringLiteral("tokenize"), QStringLiteral("-m"),
                              ref.value(QStringLiteral("model")).toString(), QStringLiteral("-p"),
                              ref.value(QStringLiteral("prompt")).toString()});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(QString::fromUtf8(r.out).trimmed(),
                 idsToString(ref.value(QStringLiteral("prompt_tokens")).toArray()));
        const Run noBos =
            runCli({QStringLiteral("tokenize"), QStringLiteral("-m"),
                    ref.value(QStringLiteral("model")).toString(), QStringLiteral("-p"),
                    ref.value(QStringLiteral("prompt")).toString(), QStringLiteral("--no-bos")});
        QCOMPARE(noBos.exitCode, 0);
        QVERIFY(!QString::fromUtf8(noBos.out).startsWith(QStringLiteral("1 ")));
    }

    void logitsWritesRawFloats() {
        QTemporaryDir dir;
        const QString out = dir.filePath(QStringLiteral("l.f32"));
        const Run r =
            runCli({QStringLiteral("logits"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf"),
                    QStringLiteral("-p"), QStringLiteral("Once upon a time"), QStringLiteral("-o"), out});
        QCOMPARE(r.exitCode, 0);
        QFile mine(out),
            theirs(declai::testdata::referencePath(QStringLiteral("parity/stories260K-p1.logits.f32")));
        QVERIFY(mine.open(QIODevice::ReadOnly) && theirs.open(QIODevice::ReadOnly));
        const QByteArray a = mine.readAll(), b = theirs.readAll();
        QCOMPARE(a.size(), b.size());
        const auto* fa = reinterpret_cast<const float*>(a.constData());
        const auto* fb = reinterpret_cast<const float*>(b.constData());
        const auto [lo, hi] = std::minmax_element(fb, fb + b.size() / 4);
        const float range = *hi - *lo;
        // Same numbers up to float summation order (SIMD lanes): within 1e-4 of the logit range.
        for (qsizetype i = 0; i < a.size() / 4; ++i)
            QVERIFY2(std::fabs(fa[i] - fb[i]) <= 1e-4f * range,
                     qPrintable(
                         QStringLiteral("logit %1: %2 vs %3").arg(i).arg(double(fa[i])).arg(double(fb[i]))));
    }

    void inspectShowsMetadataAndTensors() {
        const Run r =
            runCli({QStringLiteral("inspect"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf")});
        QCOMPARE(r.exitCode, 0);
        const QString text = QString::fromUtf8(r.out);
        QVERIFY(text.contains(QStringLiteral("general.architecture")));
        QVERIFY(text.contains(QStringLiteral("blk.4.ffn_down.weight")));
        QVERIFY(text.contains(QStringLiteral("5 layers")));
        QVERIFY2(text.contains(QStringLiteral("devices: CPU, OpenCL, Vulkan, CUDA and HIP\n")),
                 r.out.constData());
    }

    // Issue 15 §3: inspect names every type the engine cannot compute, the unsupported architecture, and the
    // chat-template family. IQ4_XS (and the other types of issue 15 §2) are computed now; a file in a type we
    // cannot compute (IQ3_S: a copy of the Q3_K_M file with its Q3_K tensors relabelled, same block size) is
    // read, not refused as unknown, and loading it is refused with the type's name.
    void inspectSaysWhatIsUnsupported() {
        DECLAI_REQUIRE_MODEL("synth-arch-llama-IQ4_XS.gguf");
        DECLAI_REQUIRE_MODEL("synth-arch-llama-Q3_K_M.gguf");
        DECLAI_REQUIRE_MODEL("synth-arch-qwen2-f16.gguf");
        Run r = runCli({QStringLiteral("inspect"), QStringLiteral("-m"),
                        QStringLiteral("synth-arch-llama-IQ4_XS.gguf")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(!r.out.contains("model: not runnable:"), r.out.constData());
        QVERIFY2(r.out.contains("tensor types: F32 x5, IQ4_XS x15, Q6_K x1\n"), r.out.constData());
        QVERIFY2(!r.out.contains("unsupported tensor type"), r.out.constData());
        QVERIFY2(r.out.contains("chat template: none"), r.out.constData());

        QTemporaryDir dir;
        const QString iq3 = dir.filePath(QStringLiteral("llama-IQ3_S.gguf"));
        const QString written = declai::testdata::writeGgufWithout(
            declai::testdata::modelPath(QStringLiteral("synth-arch-llama-Q3_K_M.gguf")), iq3, std::string(),
            static_cast<uint32_t>(declai::TensorType::Q3_K),
            static_cast<uint32_t>(declai::TensorType::IQ3_S));
        QVERIFY2(written.isEmpty(), qPrintable(written));
        r = runCli({QStringLiteral("inspect"), QStringLiteral("-m"), iq3});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("model: not runnable:") && r.out.contains("has type IQ3_S"),
                 r.out.constData());
        QVERIFY2(r.out.contains("unsupported tensor type: IQ3_S ("), r.out.constData());
        // Loading it is refused with the type's name, not a parse error.
        r = runCli({QStringLiteral("generate"), QStringLiteral("-m"), iq3, QStringLiteral("-p"),
                    QStringLiteral("x"), QStringLiteral("-n"), QStringLiteral("1")});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("IQ3_S") && !r.err.contains("unknown type"), r.err.constData());

        r = runCli(
            {QStringLiteral("inspect"), QStringLiteral("-m"), QStringLiteral("synth-arch-qwen2-f16.gguf")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("architecture: qwen2, supported\n"), r.out.constData());
        QVERIFY2(r.out.contains("devices: CPU, OpenCL, Vulkan, CUDA and HIP (device ops beyond llama's: NeoX "
                                "RoPE, Q/K/V biases)\n"),
                 r.out.constData());
        r = runCli(
            {QStringLiteral("inspect"), QStringLiteral("-m"), QStringLiteral("synth-arch-gemma2-f16.gguf")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("devices: CPU, OpenCL, Vulkan, CUDA and HIP (device ops beyond llama's: NeoX "
                                "RoPE, GELU, attention soft-capping, sliding-window attention)\n"),
                 r.out.constData());
        r = runCli(
            {QStringLiteral("inspect"), QStringLiteral("-m"), QStringLiteral("synth-arch-qwen2-f16.gguf")});
        QVERIFY2(r.out.contains("\nmodel: qwen2, 2 layers"), r.out.constData());
        QVERIFY2(!r.out.contains("unsupported tensor type"), r.out.constData());
        QVERIFY2(!r.out.contains("experts:"), r.out.constData());
        r = runCli(
            {QStringLiteral("inspect"), QStringLiteral("-m"), QStringLiteral("synth-arch-mixtral-f16.gguf")});
        QVERIFY2(r.out.contains("\nexperts: 4, 2 used per token, FFN 512 each\n"), r.out.constData());

        // An architecture without a description (a GGUF that says `mamba`) is read and named, not run.
        const QString mamba = dir.filePath(QStringLiteral("mamba.gguf"));
        QFile original(declai::testdata::modelPath(QStringLiteral("synth-arch-qwen2-f16.gguf")));
        QVERIFY(original.open(QIODevice::ReadOnly));
        QByteArray bytes = original.readAll();
        // Same length, so every offset stays valid: "qwen2" -> "mamba" in the architecture value and keys.
        bytes.replace("qwen2", "mamba");
        QFile out(mamba);
        QVERIFY(out.open(QIODevice::WriteOnly) && out.write(bytes) == bytes.size());
        out.close();
        r = runCli({QStringLiteral("inspect"), QStringLiteral("-m"), mamba});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("architecture: mamba, not supported (supported: llama, qwen2"),
                 r.out.constData());
        QVERIFY2(r.out.contains("model: not runnable:") &&
                     r.out.contains("architecture 'mamba' is not supported"),
                 r.out.constData());
        r = runCli({QStringLiteral("generate"), QStringLiteral("-m"), mamba, QStringLiteral("-p"),
                    QStringLiteral("x"), QStringLiteral("-n"), QStringLiteral("1")});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("architecture 'mamba' is not supported"), r.err.constData());

        r = runCli({QStringLiteral("inspect"), QStringLiteral("-m"), QStringLiteral("stories260K.gguf")});
        QVERIFY2(r.out.contains("tensor types: F32 x48\n") && !r.out.contains("unsupported tensor type"),
                 r.out.constData());
        // Its padding id is 2^32-1 (no padding), out of range: llama.cpp warns and keeps no id, and so do we.
        QVERIFY2(
            r.out.contains("\ntokenizer: SentencePiece, 512 tokens\n") &&
                r.out.contains("tokenizer warning: bad special token id tokenizer.ggml.padding_token_id"),
            r.out.constData());

        // A pre-tokenizer the engine does not know is named: its ids may differ from the model's.
        const QString gpt2 =
            declai::testdata::referencePath(QStringLiteral("tokenizer/ggml-vocab-gpt-2.gguf"));
        if (!gpt2.isEmpty()) {
            QFile vocab(gpt2);
            QVERIFY(vocab.open(QIODevice::ReadOnly));
            QByteArray vocabBytes = vocab.readAll();
            // tokenizer.ggml.pre = "gpt-2" (type 8, length 5) -> "gpt-9": same length, offsets stay valid.
            QByteArray entry("tokenizer.ggml.pre\x08\0\0\0\x05\0\0\0\0\0\0\0gpt-2", 18 + 12 + 5);
            QVERIFY(vocabBytes.contains(entry));
            vocabBytes.replace(entry, QByteArray(entry).replace("gpt-2", "gpt-9"));
            const QString unknownPre = dir.filePath(QStringLiteral("unknown-pre.gguf"));
            QFile write(unknownPre);
            QVERIFY(write.open(QIODevice::WriteOnly) && write.write(vocabBytes) == vocabBytes.size());
            write.close();
            r = runCli({QStringLiteral("inspect"), QStringLiteral("-m"), unknownPre});
            QVERIFY2(r.exitCode == 0, r.err.constData());
            QVERIFY2(r.out.contains("pre-tokenizer 'gpt-9'") &&
                         r.out.contains("tokenizer warning: unknown pre-tokenizer 'gpt-9'"),
                     r.out.constData());
        }
    }

    void errorsGoToStderrWithNonZeroExit_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        QTest::newRow("no command") << QStringList{} << QStringLiteral("usage");
        QTest::newRow("unknown command")
            << QStringList{QStringLiteral("frobnicate")} << QStringLiteral("unknown command");
        QTest::newRow("missing model")
            << QStringList{QStringLiteral("generate"), QStringLiteral("-m"), QStringLiteral("nope.gguf"),
                           QStringLiteral("-p"), QStringLiteral("x")}
            << QStringLiteral("not found");
        QTest::newRow("bad -n") << QStringList{QStringLiteral("generate"),
                                               QStringLiteral("-m"),
                                               QStringLiteral("stories260K.gguf"),
                                               QStringLiteral("-p"),
                                               QStringLiteral("x"),
                                               QStringLiteral("-n"),
                                               QStringLiteral("many")}
                                << QStringLiteral("-n");
        QTest::newRow("bad temperature") << QStringList{QStringLiteral("generate"),
                                                        QStringLiteral("-m"),
                                                        QStringLiteral("stories260K.gguf"),
                                                        QStringLiteral("-p"),
                                                        QStringLiteral("x"),
                                                        QStringLiteral("--temp"),
                                                        QStringLiteral("-1")}
                                         << QStringLiteral("temperature");
        QTest::newRow("unavailable device") << QStringList{QStringLiteral("generate"),
                                                           QStringLiteral("-m"),
                                                           QStringLiteral("stories260K.gguf"),
                                                           QStringLiteral("-p"),
                                                           QStringLiteral("x"),
                                                           QStringLiteral("--device"),
                                                           QStringLiteral("cuda:7")}
                                            << QStringLiteral("cuda:7");
        QTest::newRow("context overflow") << QStringList{QStringLiteral("generate"),
                                                         QStringLiteral("-m"),
                                                         QStringLiteral("stories260K.gguf"),
                                                         QStringLiteral("-p"),
                                                         QStringLiteral("x"),
                                                         QStringLiteral("-n"),
                                                         QStringLiteral("100000")}
                                          << QStringLiteral("context length");
    }

    void errorsGoToStderrWithNonZeroExit() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const Run r = runCli(args);
        QVERIFY2(r.exitCode > 0, qPrintable(QStringLiteral("exit %1").arg(r.exitCode)));
        QVERIFY2(QString::fromUtf8(r.err).contains(expected), r.err.constData());
    }

    // model synth must write what llama-quantize would: ../shared holds llama-20m files that llama.cpp's
    // own tools wrote, so the tensor list (names, types, shapes) and the hyperparameters of a synthesized
    // file must equal theirs. The weights themselves are random: check their distribution instead.
    void modelSynthMatchesLlamaCppLayout_data() {
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("reference");
        QTest::newRow("f16") << QStringLiteral("f16") << QStringLiteral("synth-20m-f16.gguf");
        QTest::newRow("q8_0") << QStringLiteral("q8_0") << QStringLiteral("synth-20m-Q8_0.gguf");
        QTest::newRow("q4_0") << QStringLiteral("q4_0") << QStringLiteral("synth-20m-Q4_0.gguf");
        QTest::newRow("q4_k_m") << QStringLiteral("q4_k_m") << QStringLiteral("synth-20m-Q4_K_M.gguf");
    }

    void modelSynthMatchesLlamaCppLayout() {
        QFETCH(QString, type);
        QFETCH(QString, reference);
        const QString referencePath = declai::testdata::modelPath(reference);
        if (referencePath.isEmpty())
            DECLAI_SKIP_MISSING("models", reference + QStringLiteral(" is not on DECLAI_MODEL_PATH"));
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("synth.gguf"));
        const Run r = runCli({QStringLiteral("model"), QStringLiteral("synth"), QStringLiteral("--shape"),
                              QStringLiteral("llama-20m"), QStringLiteral("--type"), type,
                              QStringLiteral("-o"), path, QStringLiteral("--seed"), QStringLiteral("7"),
                              QStringLiteral("--vocab-from"), referencePath});
        QVERIFY2(r.exitCode == 0, r.err.constData());

        auto ours = declai::GgufFile::open(path.toStdString());
        QVERIFY2(ours.hasValue(), ours ? "" : ours.error().message.c_str());
        auto theirs = declai::GgufFile::open(referencePath.toStdString());
        QVERIFY2(theirs.hasValue(), theirs ? "" : theirs.error().message.c_str());

        for (const char* key : {"general.architecture", "tokenizer.ggml.model"})
            QCOMPARE(*ours->getString(key), *theirs->getString(key));
        for (const char* key : {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                                "llama.attention.head_count", "llama.attention.head_count_kv",
                                "llama.rope.dimension_count", "llama.context_length", "general.file_type",
                                "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"})
            QVERIFY2(*ours->getInt(key) == *theirs->getInt(key), key);
        for (const char* key :
             {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
            const auto a = *ours->getArray(key);
            const auto b = *theirs->getArray(key);
            QVERIFY2(a->strings == b->strings && a->integers == b->integers && a->floats == b->floats, key);
        }

        std::map<std::string, const declai::GgufTensorInfo*> expected;
        for (const declai::GgufTensorInfo& t : theirs->tensors())
            expected[t.name] = &t;
        QCOMPARE(ours->tensors().size(), expected.size());
        for (const declai::GgufTensorInfo& t : ours->tensors()) {
            const auto it = expected.find(t.name);
            QVERIFY2(it != expected.end(), t.name.c_str());
            QVERIFY2(t.type == it->second->type, t.name.c_str());
            QVERIFY2(t.shape == it->second->shape, t.name.c_str());
        }

        // Norms are 1; matrices are normal with std 0.02 (the quantizer's rounding adds a little).
        const declai::GgufTensorInfo* norm = ours->findTensor("blk.0.attn_norm.weight");
        QVERIFY(norm != nullptr);
        std::vector<float> values(norm->elementCount());
        declai::quant::dequantizeRow(norm->type, ours->tensorData(*norm).data(), values.data(),
                                     static_cast<int64_t>(values.size()));
        QVERIFY(std::all_of(values.begin(), values.end(), [](float v) { return v == 1.0f; }));
        for (const char* name : {"blk.1.ffn_gate.weight", "blk.2.ffn_down.weight", "blk.3.attn_v.weight"}) {
            const declai::GgufTensorInfo* t = ours->findTensor(name);
            QVERIFY(t != nullptr);
            values.resize(t->elementCount());
            const auto bytes = ours->tensorData(*t);
            const size_t rowBytes = bytes.size() / t->rowCount();
            for (uint64_t row = 0; row < t->rowCount(); ++row)
                declai::quant::dequantizeRow(t->type, bytes.data() + row * rowBytes,
                                             values.data() + row * t->rowLength(),
                                             static_cast<int64_t>(t->rowLength()));
            double sum = 0.0, sumSquares = 0.0;
            for (float v : values) {
                sum += v;
                sumSquares += double(v) * v;
            }
            const double mean = sum / double(values.size());
            const double std = std::sqrt(sumSquares / double(values.size()) - mean * mean);
            QVERIFY2(std::abs(mean) < 1e-3, name);
            QVERIFY2(std > 0.019 && std < 0.0215,
                     qPrintable(QString::fromUtf8(name) + QStringLiteral(": std ") + QString::number(std)));
        }
    }

    // The mixes without a llama-quantize file of this shape in ../shared: the tensor types follow
    // llama_tensor_get_type, and the engine runs them. The expected counts are what llama-quantize (the
    // llama.cpp that node-llama-cpp 3.21.1 bundles) wrote for F16 files of the same shapes made with its
    // gguf-py: llama-20m (4 layers, 4 query heads per 2 KV heads); qwen2.5-0.5b, whose 896-wide rows take
    // the 32-value fallbacks (Q5_0, Q5_1, IQ4_NL, Q8_0) and whose tied embedding is quantised as the output;
    // mixtral-tiny, where 8 experts bring attn_k / attn_v to Q8_0 and attn_output to Q5_K.
    void modelSynthNewerMixes_data() {
        QTest::addColumn<QString>("shape");
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("expectedTypes");
        const QString llama20m = QStringLiteral("llama-20m");
        QTest::newRow("q5_k_m") << llama20m << QStringLiteral("q5_k_m")
                                << QStringLiteral("F32 x9, Q5_K x25, Q6_K x5");
        QTest::newRow("q3_k_m") << llama20m << QStringLiteral("q3_k_m")
                                << QStringLiteral("F32 x9, Q3_K x17, Q4_K x10, Q5_K x2, Q6_K x1");
        QTest::newRow("iq4_xs") << llama20m << QStringLiteral("iq4_xs")
                                << QStringLiteral("F32 x9, IQ4_XS x29, Q6_K x1");
        QTest::newRow("qwen2.5-0.5b q4_k_m")
            << QStringLiteral("qwen2.5-0.5b") << QStringLiteral("q4_k_m")
            << QStringLiteral("F32 x121, Q4_K x12, Q5_0 x132, Q6_K x12, Q8_0 x13");
        QTest::newRow("qwen2.5-0.5b iq4_xs")
            << QStringLiteral("qwen2.5-0.5b") << QStringLiteral("iq4_xs")
            << QStringLiteral("F32 x121, IQ4_NL x120, IQ4_XS x21, Q5_1 x24, Q5_K x3, Q8_0 x1");
        QTest::newRow("mixtral-tiny q3_k_m")
            << QStringLiteral("mixtral-tiny") << QStringLiteral("q3_k_m")
            << QStringLiteral("F32 x25, Q3_K x25, Q4_K x8, Q5_K x8, Q6_K x1, Q8_0 x16");
        // The 32-value types and Q2_K / Q6_K / IQ4_NL (2026-12-05: the same llama-quantize on F16 files of
        // these shapes written by `model synth --type f16`; compared then tensor by tensor, all equal; here
        // the counts, as above).
        // Q2_K: attn_v, attn_output and ffn_down as Q3_K (attn_v Q4_K from 4 queries per KV head), 896-wide
        // rows falling back to Q4_0; IQ4_NL: the IQ4_XS rules; Q6_K: every matrix, Q8_0 where 896 is too
        // short.
        QTest::newRow("q4_1") << llama20m << QStringLiteral("q4_1")
                              << QStringLiteral("F32 x9, Q4_1 x29, Q6_K x1");
        QTest::newRow("q5_0") << llama20m << QStringLiteral("q5_0")
                              << QStringLiteral("F32 x9, Q5_0 x29, Q6_K x1");
        QTest::newRow("q5_1") << llama20m << QStringLiteral("q5_1")
                              << QStringLiteral("F32 x9, Q5_1 x29, Q6_K x1");
        QTest::newRow("q2_k") << llama20m << QStringLiteral("q2_k")
                              << QStringLiteral("F32 x9, Q2_K x17, Q3_K x12, Q6_K x1");
        QTest::newRow("q6_k") << llama20m << QStringLiteral("q6_k") << QStringLiteral("F32 x9, Q6_K x30");
        QTest::newRow("iq4_nl") << llama20m << QStringLiteral("iq4_nl")
                                << QStringLiteral("F32 x9, IQ4_NL x29, Q6_K x1");
        QTest::newRow("qwen2.5-0.5b q2_k")
            << QStringLiteral("qwen2.5-0.5b") << QStringLiteral("q2_k")
            << QStringLiteral("F32 x121, Q3_K x24, Q4_0 x120, Q5_0 x24, Q8_0 x1");
        QTest::newRow("qwen2.5-0.5b q6_k") << QStringLiteral("qwen2.5-0.5b") << QStringLiteral("q6_k")
                                           << QStringLiteral("F32 x121, Q6_K x24, Q8_0 x145");
        QTest::newRow("qwen2.5-0.5b iq4_nl")
            << QStringLiteral("qwen2.5-0.5b") << QStringLiteral("iq4_nl")
            << QStringLiteral("F32 x121, IQ4_NL x141, Q5_1 x24, Q5_K x3, Q8_0 x1");
        QTest::newRow("mixtral-tiny q2_k")
            << QStringLiteral("mixtral-tiny") << QStringLiteral("q2_k")
            << QStringLiteral("F32 x25, Q2_K x25, Q3_K x8, Q5_K x8, Q6_K x1, Q8_0 x16");
        QTest::newRow("mixtral-tiny iq4_nl")
            << QStringLiteral("mixtral-tiny") << QStringLiteral("iq4_nl")
            << QStringLiteral("F32 x25, IQ4_NL x32, Q5_K x9, Q6_K x1, Q8_0 x16");
        // The _S and _L K-quant mixes (the same way): Q4_K_S bumps the first 4 attn_v and the first eighth
        // of ffn_down to Q5_K, Q3_K_L puts attn_v, attn_output and ffn_down in Q5_K.
        QTest::newRow("q3_k_s") << llama20m << QStringLiteral("q3_k_s")
                                << QStringLiteral("F32 x9, Q3_K x29, Q6_K x1");
        QTest::newRow("q3_k_l") << llama20m << QStringLiteral("q3_k_l")
                                << QStringLiteral("F32 x9, Q3_K x17, Q5_K x12, Q6_K x1");
        QTest::newRow("q4_k_s") << llama20m << QStringLiteral("q4_k_s")
                                << QStringLiteral("F32 x9, Q4_K x25, Q5_K x4, Q6_K x1");
        QTest::newRow("q5_k_s") << llama20m << QStringLiteral("q5_k_s")
                                << QStringLiteral("F32 x9, Q5_K x29, Q6_K x1");
        QTest::newRow("qwen2.5-0.5b q3_k_l")
            << QStringLiteral("qwen2.5-0.5b") << QStringLiteral("q3_k_l")
            << QStringLiteral("F32 x121, Q4_0 x96, Q5_1 x48, Q5_K x24, Q8_0 x1");
        QTest::newRow("qwen2.5-0.5b q4_k_s")
            << QStringLiteral("qwen2.5-0.5b") << QStringLiteral("q4_k_s")
            << QStringLiteral("F32 x121, Q4_K x21, Q5_0 x140, Q5_1 x4, Q5_K x3, Q8_0 x1");
        QTest::newRow("mixtral-tiny q4_k_s")
            << QStringLiteral("mixtral-tiny") << QStringLiteral("q4_k_s")
            << QStringLiteral("F32 x25, Q4_K x32, Q5_K x9, Q6_K x1, Q8_0 x16");
    }

    void modelSynthNewerMixes() {
        QFETCH(QString, shape);
        QFETCH(QString, type);
        QFETCH(QString, expectedTypes);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("synth.gguf"));
        Run r = runCli({QStringLiteral("model"), QStringLiteral("synth"), QStringLiteral("--shape"), shape,
                        QStringLiteral("--type"), type, QStringLiteral("-o"), path});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        r = runCli({QStringLiteral("inspect"), QStringLiteral("-m"), path});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains(QStringLiteral("tensor types: %1\n").arg(expectedTypes).toUtf8()),
                 r.out.constData());
        QVERIFY2(!r.out.contains("not runnable"), r.out.constData());
        r = runCli({QStringLiteral("generate"), QStringLiteral("-m"), path, QStringLiteral("-p"),
                    QStringLiteral("Hello"), QStringLiteral("-n"), QStringLiteral("4")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
    }

    // Without --vocab-from: a byte-level SentencePiece-style vocabulary of 32000 tokens that our tokenizer
    // loads and that round-trips any text through byte tokens.
    void modelSynthDefaultVocabularyRoundTrips() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("synth.gguf"));
        const Run r = runCli({QStringLiteral("model"), QStringLiteral("synth"), QStringLiteral("--shape"),
                              QStringLiteral("llama-20m"), QStringLiteral("--type"), QStringLiteral("q8_0"),
                              QStringLiteral("-o"), path});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        auto file = declai::GgufFile::open(path.toStdString());
        QVERIFY(file.hasValue());
        const auto tokens = *file->getArray("tokenizer.ggml.tokens");
        QCOMPARE(tokens->strings.size(), size_t(32000));
        QCOMPARE(tokens->strings[3], std::string("<0x00>"));
        QCOMPARE(tokens->strings[258], std::string("<0xFF>"));
        const Run ids = runCli({QStringLiteral("tokenize"), QStringLiteral("-m"), path, QStringLiteral("-p"),
                                QStringLiteral("Grüße, world 42")});
        QVERIFY2(ids.exitCode == 0, ids.err.constData());
        QVERIFY(!ids.out.trimmed().isEmpty());
    }

    void malformedModelFileIsRefusedCleanly() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("broken.gguf"));
        QFile source(declai::testdata::modelPath(QStringLiteral("stories260K.gguf")));
        QVERIFY(source.open(QIODevice::ReadOnly));
        QByteArray bytes = source.read(4000); // header and part of the vocabulary only
        QFile broken(path);
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write(bytes);
        broken.close();
        for (const QString& command : {QStringLiteral("inspect"), QStringLiteral("generate")}) {
            const Run r =
                runCli({command, QStringLiteral("-m"), path, QStringLiteral("-p"), QStringLiteral("x")});
            QCOMPARE(r.exitCode, 1);
            QVERIFY2(r.err.contains("broken.gguf") && r.err.contains("at byte"), r.err.constData());
        }
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
