// ModelWeights::makeResident: the CPU engine's weights copied into huge-page memory. The copy must hold the
// file's bytes exactly (so every result is bit-identical to running from the file mapping), leave the
// weights it was made from readable and unchanged, share what a donor already holds, and never discard the
// bytes of an in-memory image.
#include "TestData.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/Head.h"
#include "declai/gpu/ModelWeights.h"
#include "declai/gpu/ShardExecutor.h"

#include <QFile>
#include <QTest>
#include <cstring>
#include <vector>

using namespace declai;

namespace {

// Whether this kernel lets anonymous memory have transparent huge pages ("always" or "madvise"): when it
// does not, makeResident must skip and say why.
bool hugePagesOffered() {
    QFile mode(QStringLiteral("/sys/kernel/mm/transparent_hugepage/enabled"));
    if (!mode.open(QIODevice::ReadOnly))
        return false;
    const QByteArray text = mode.readAll();
    return text.contains("[always]") || text.contains("[madvise]");
}

// Whether row-layout `a` and `b` hold the same values: the same bytes, or for `b` in 16-row strips
// (WeightLayout::Strips16) each row's block fields and 4-byte parts where the layout puts them.
bool sameBytes(const WeightMatrix& a, const WeightMatrix& b) {
    if (a.rows != b.rows || a.rowBytes != b.rowBytes || a.type != b.type || a.layout != WeightLayout::Rows)
        return false;
    if (b.layout == WeightLayout::Rows)
        return std::memcmp(a.data, b.data, a.rowBytes * static_cast<size_t>(a.rows)) == 0;
    const size_t halves = a.type == TensorType::Q4_0 || a.type == TensorType::Q8_0 ? 1 : 0;
    if (b.layout != WeightLayout::Strips16 || halves == 0 || a.rows % 16 != 0)
        return false;
    const size_t blockBytes = tensorTypeTraits(a.type).blockBytes;
    const size_t parts = (blockBytes - 2 * halves) / 4;
    for (int64_t r = 0; r < a.rows; ++r)
        for (size_t blk = 0; blk < a.rowBytes / blockBytes; ++blk) {
            const std::byte* block = a.row(r) + blk * blockBytes;
            const std::byte* at =
                b.data + b.rowBytes * static_cast<size_t>(r / 16 * 16) + blk * 16 * blockBytes;
            const auto lane = static_cast<size_t>(r % 16);
            for (size_t h = 0; h < halves; ++h)
                if (std::memcmp(at + 32 * h + 2 * lane, block + 2 * h, 2) != 0)
                    return false;
            for (size_t k = 0; k < parts; ++k)
                if (std::memcmp(at + 32 * halves + 64 * k + 4 * lane, block + 2 * halves + 4 * k, 4) != 0)
                    return false;
        }
    return true;
}

// Hidden states after `layers` and the last position's logits, for a short prompt then two decode steps.
struct Outputs {
    std::vector<float> hidden;
    std::vector<float> logits;
};

Outputs run(const std::shared_ptr<const ModelWeights>& weights, LayerRange layers) {
    ThreadPool pool(2);
    Embedder embedder(weights);
    Head head(weights, pool);
    auto executor = ShardExecutor::create(weights, layers, pool);
    if (!executor)
        return {};
    const int64_t dim = embedder.hiddenSize();
    const std::vector<int32_t> prompt = {1, 7, 42, 5, 99, 3};
    Outputs out;
    int64_t position = 0;
    for (const std::vector<int32_t>& ids : {prompt, std::vector<int32_t>{11}, std::vector<int32_t>{17}}) {
        std::vector<float> hidden(ids.size() * static_cast<size_t>(dim));
        if (!embedder.embed(ids, hidden))
            return {};
        if (!(*executor)->forward(1, position, hidden, static_cast<int64_t>(ids.size())))
            return {};
        position += static_cast<int64_t>(ids.size());
        out.hidden.insert(out.hidden.end(), hidden.begin(), hidden.end());
        out.logits.resize(static_cast<size_t>(head.vocabSize()));
        const std::span<const float> last(hidden.data() + hidden.size() - static_cast<size_t>(dim),
                                          static_cast<size_t>(dim));
        if (!head.logits(last, out.logits))
            return {};
    }
    return out;
}

} // namespace

class TestResidentWeights : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void copyIsTheFileBitForBit_data() {
        QTest::addColumn<QString>("model");
        QTest::newRow("synth-20m Q4_0") << QStringLiteral("synth-20m-Q4_0.gguf");
        QTest::newRow("gemma2 Q4_K_M (tied output)") << QStringLiteral("synth-arch-gemma2-Q4_K_M.gguf");
        QTest::newRow("mixtral Q4_K_M (experts)") << QStringLiteral("synth-arch-mixtral-Q4_K_M.gguf");
    }

    void copyIsTheFileBitForBit() {
        QFETCH(QString, model);
        const QString path = testdata::modelPath(model);
        if (path.isEmpty())
            QSKIP(qPrintable(model + QStringLiteral(" not found on DECLAI_MODEL_PATH")));
        auto loaded = ModelWeights::load(path.toStdString());
        QVERIFY2(loaded, loaded ? "" : loaded.error().message.c_str());
        const std::shared_ptr<const ModelWeights> original = *loaded;
        const int64_t layerCount = original->config().layerCount;
        const Outputs before = run(original, {0, layerCount});
        QVERIFY(!before.logits.empty());

        const ResidentWeights resident = ModelWeights::makeResident(original, {0, layerCount}, true);
        QVERIFY(resident.weights);
        // Layer matrices re-laid in strips where the kernel table multiplies their format so.
        int relaidExpected = 0;
        for (int64_t l = 0; l < layerCount; ++l) {
            const LayerWeights& layer = original->layer(l);
            for (const WeightMatrix* m : layer.matrices())
                if (cpu::canPackStrips(*m) && m != &layer.gateExps && m != &layer.upExps &&
                    m != &layer.downExps)
                    ++relaidExpected;
        }
        const bool relaid = relaidExpected > 0;
        if (!hugePagesOffered() && !relaid) {
            QCOMPARE(resident.weights.get(), original.get());
            QVERIFY2(resident.skipped.find("huge pages") != std::string::npos, resident.skipped.c_str());
            QSKIP("this kernel offers no transparent huge pages: makeResident skipped, as it must");
        }
        QVERIFY2(resident.skipped.empty(), resident.skipped.c_str());
        const ModelWeights& copy = *resident.weights;
        QVERIFY(resident.copiedBytes >= original->layerBytes({0, layerCount}));
        int packed = 0; // Q4_0 matrices re-laid in strips (where the kernel table multiplies them so)
        for (int64_t l = 0; l < layerCount; ++l) {
            QVERIFY(copy.isResident(l));
            QVERIFY(!original->isResident(l));
            const auto a = original->layer(l).matrices();
            const auto b = copy.layer(l).matrices();
            QCOMPARE(a.size(), b.size());
            for (size_t i = 0; i < a.size(); ++i) {
                QVERIFY(a[i]->data != b[i]->data); // a copy, not the mapping
                if (b[i]->layout == WeightLayout::Strips16)
                    ++packed;
                QCOMPARE(reinterpret_cast<uintptr_t>(b[i]->data) % 64, uintptr_t(0));
                QVERIFY(
                    sameBytes(*a[i], *b[i])); // also reads the original back after its pages were unmapped
            }
        }
        QCOMPARE(packed, relaidExpected);
        if (original->layer(0).wq.type == TensorType::Q4_0 &&
            cpu::activeKernels().stripsGemmFor(TensorType::Q4_0))
            QCOMPARE(packed, static_cast<int>(layerCount * original->layer(0).matrices().size()));
        QCOMPARE(copy.output().layout, WeightLayout::Rows); // the embedder reads a tied output's rows
        QVERIFY(copy.isOutputResident());
        QVERIFY(copy.output().data != original->output().data);
        QVERIFY(sameBytes(original->output(), copy.output()));
        if (copy.config().tiedEmbeddings) // the embedder reads the tied matrix's rows from the copy too
            QCOMPARE(copy.tokenEmbedding().data, copy.output().data);
        else
            QCOMPARE(copy.tokenEmbedding().data, original->tokenEmbedding().data);

        // Every float the same, from the copy and from the file.
        const Outputs after = run(resident.weights, {0, layerCount});
        QCOMPARE(after.hidden.size(), before.hidden.size());
        QVERIFY(std::memcmp(after.hidden.data(), before.hidden.data(),
                            before.hidden.size() * sizeof(float)) == 0);
        QVERIFY(std::memcmp(after.logits.data(), before.logits.data(),
                            before.logits.size() * sizeof(float)) == 0);
        const Outputs again = run(original, {0, layerCount});
        QVERIFY(std::memcmp(again.logits.data(), before.logits.data(),
                            before.logits.size() * sizeof(float)) == 0);
    }

    // A node that loads a second layer range maps the file afresh; the layers it already holds in huge pages
    // are shared from the earlier weights, only the new ones copied.
    void donorLayersAreSharedNotCopied() {
        const QString path = testdata::modelPath(QStringLiteral("synth-20m-Q4_0.gguf"));
        if (path.isEmpty())
            QSKIP("synth-20m-Q4_0.gguf not found on DECLAI_MODEL_PATH");
        if (!hugePagesOffered() && !cpu::activeKernels().stripsGemmFor(TensorType::Q4_0))
            QSKIP("this kernel offers no transparent huge pages: nothing is copied to share");
        auto first = ModelWeights::load(path.toStdString());
        auto second = ModelWeights::load(path.toStdString());
        QVERIFY(first && second);
        QVERIFY((*first)->config().layerCount >= 3);
        const ResidentWeights a = ModelWeights::makeResident(*first, {0, 1}, false);
        QVERIFY2(a.skipped.empty(), a.skipped.c_str());
        QCOMPARE(a.copiedBytes >= (*first)->layerBytes({0, 1}), true);
        QVERIFY(!a.weights->isResident(1));
        QVERIFY(!a.weights->isOutputResident());
        const ResidentWeights b = ModelWeights::makeResident(*second, {0, 2}, false, a.weights.get());
        QVERIFY2(b.skipped.empty(), b.skipped.c_str());
        QVERIFY(b.weights->isResident(0) && b.weights->isResident(1) && !b.weights->isResident(2));
        QCOMPARE(b.weights->layer(0).wq.data, a.weights->layer(0).wq.data);  // shared
        QVERIFY(b.weights->layer(1).wq.data != (*second)->layer(1).wq.data); // copied
        QVERIFY(b.copiedBytes < (*second)->layerBytes({0, 2}));              // layer 1 only
        QVERIFY(b.copiedBytes >= (*second)->layerBytes({1, 2}));
        QVERIFY(sameBytes((*first)->layer(1).wDown, b.weights->layer(1).wDown));
    }

    // An in-memory image is not a file mapping: its pages must not be released (for anonymous memory that
    // would zero them), and the weights made from it must still read the image's bytes.
    void inMemoryImageKeepsItsBytes() {
        const QString path = testdata::modelPath(QStringLiteral("stories260K.gguf"));
        if (path.isEmpty())
            QSKIP("stories260K.gguf not found on DECLAI_MODEL_PATH");
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray bytes = file.readAll();
        const QByteArray untouched(bytes.constData(), bytes.size()); // a deep copy, to compare with
        auto image = GgufFile::fromMemory(
            std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.constData()),
                                       size_t(bytes.size())),
            "stories260K (memory)");
        QVERIFY(image);
        QVERIFY(!image->isFileMapping());
        auto weights = ModelWeights::fromFile(std::make_shared<const GgufFile>(std::move(*image)));
        QVERIFY(weights);
        const ResidentWeights resident =
            ModelWeights::makeResident(*weights, {0, (*weights)->config().layerCount}, true);
        QVERIFY(resident.weights);
        QVERIFY2(std::memcmp(bytes.constData(), untouched.constData(), size_t(bytes.size())) == 0,
                 "makeResident changed the in-memory image");
        QVERIFY(sameBytes((*weights)->layer(0).wq, resident.weights->layer(0).wq));
    }
};

QTEST_GUILESS_MAIN(TestResidentWeights)
#include "tst_resident_weights.moc"
