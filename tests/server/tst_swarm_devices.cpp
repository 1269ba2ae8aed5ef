// Nodes computing on an OpenCL or Vulkan device (declai-node --device opencl:0 | vulkan:0) in a real swarm:
// two nodes, one stage each, must give llama.cpp's greedy tokens for stories260K. PoCL and lavapipe
// provide the devices on CPU-only machines; a device that `declai-cli devices` does not list skips its row
// with the reason given there, a listed one must work.
#include "ProcessRun.h"
#include "SwarmHarness.h"

using declai::testdata::Swarm;

namespace {

QString referenceIds(int count) {
    return declai::testdata::idsToString(
        declai::testdata::parityReference(QStringLiteral("stories260K-p1.json"))
            .value(QStringLiteral("greedy_tokens"))
            .toArray(),
        count);
}

// Empty when `declai-cli devices` lists `device`; else why it is absent. Once listed, the swarm must work
// on it (a broken backend fails, it does not skip).
QString absentReason(const QString& device) {
    const auto listing = declai::testdata::runProcess(QStringLiteral(DECLAI_CLI_PATH),
                                                      {QStringLiteral("devices"), QStringLiteral("--json")});
    if (listing.exitCode != 0)
        return QStringLiteral("declai-cli devices failed: ") + QString::fromUtf8(listing.err);
    const QString backendName = device.section(QLatin1Char(':'), 0, 0);
    bool listed = false;
    QString reason = QStringLiteral("backend not listed");
    for (const QJsonValue& b :
         QJsonDocument::fromJson(listing.out).object().value(QStringLiteral("backends")).toArray()) {
        const QJsonObject backend = b.toObject();
        if (backend.value(QStringLiteral("backend")).toString() != backendName)
            continue;
        reason = backend.value(QStringLiteral("reason")).toString(QStringLiteral("no device %1").arg(device));
        for (const QJsonValue& d : backend.value(QStringLiteral("devices")).toArray())
            listed = listed || d.toObject().value(QStringLiteral("id")).toString() == device;
    }
    return listed ? QString() : device + QStringLiteral(" is not available here: ") + reason;
}

} // namespace

class TestSwarmDevices : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (declai::testdata::modelPath(QStringLiteral("stories260K.gguf")).isEmpty() ||
            referenceIds(1).isEmpty())
            QSKIP("stories260K.gguf (DECLAI_MODEL_PATH) and DECLAI_REFERENCE_DIR are needed");
    }

    void deviceNodesGiveReferenceTokens_data() {
        QTest::addColumn<QString>("device");
        QTest::newRow("opencl:0") << QStringLiteral("opencl:0");
        QTest::newRow("vulkan:0") << QStringLiteral("vulkan:0");
    }
    void deviceNodesGiveReferenceTokens() {
        QFETCH(QString, device);
        if (const QString absent = absentReason(device); !absent.isEmpty())
            QSKIP(qPrintable(absent));
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2"),
                     QStringLiteral("--replicas"), QStringLiteral("1")});
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        swarm.addNode({QStringLiteral("--device"), device});
        swarm.addNode({QStringLiteral("--device"), device});
        QVERIFY2(swarm.waitForShards(2, 60000), qPrintable(swarm.log(QStringLiteral("node0"))));
        auto run = swarm.submit(QStringLiteral("Once upon a time"), 100, {QStringLiteral("--tokens")});
        QVERIFY(run->waitForFinished(120000));
        QVERIFY2(run->exitCode() == 0, run->readAllStandardError().constData());
        QCOMPARE(QString::fromUtf8(run->readAllStandardOutput()).trimmed(), referenceIds(100));
        // Both nodes computed (one stage each), so the device path carried the whole model: a node never
        // falls back to the CPU (makeShardBackend fails the stage when the device cannot be opened).
        int serving = 0;
        for (const QJsonValue& n : swarm.status().value(QStringLiteral("nodes")).toArray())
            if (n.toObject().value(QStringLiteral("stages_served")).toInteger() > 0)
                ++serving;
        QCOMPARE(serving, 2);
    }

    // Issue 15: the other architectures on device nodes (gemma2: GELU, post-norms, soft-capping and the
    // 32-token sliding window the 64 tokens cross; mixtral: experts routed on the node's host). One layer
    // per node; the tokens must be llama.cpp's (measured equal for all 64 on PoCL and lavapipe; quantised
    // files are not held to token equality on devices, see docs/architecture.md).
    void otherArchitecturesOnDeviceNodes_data() {
        QTest::addColumn<QString>("device");
        QTest::addColumn<QString>("model");
        for (const char* device : {"opencl:0", "vulkan:0"})
            for (const char* model : {"synth-arch-gemma2-f16", "synth-arch-mixtral-f16"})
                QTest::newRow(
                    qPrintable(QStringLiteral("%1 %2").arg(QLatin1String(device), QLatin1String(model))))
                    << QString::fromLatin1(device) << QString::fromLatin1(model);
    }
    void otherArchitecturesOnDeviceNodes() {
        QFETCH(QString, device);
        QFETCH(QString, model);
        if (declai::testdata::modelPath(model + QStringLiteral(".gguf")).isEmpty())
            QSKIP(qPrintable(model + QStringLiteral(".gguf is not in DECLAI_MODEL_PATH")));
        if (const QString absent = absentReason(device); !absent.isEmpty())
            QSKIP(qPrintable(absent));
        const QJsonObject ref = declai::testdata::parityReference(model + QStringLiteral("-p1.json"));
        const QJsonArray greedy = ref.value(QStringLiteral("greedy_tokens")).toArray();
        QVERIFY2(!greedy.isEmpty(), "reference missing");
        Swarm swarm({QStringLiteral("--no-credits"), QStringLiteral("--min-nodes"), QStringLiteral("2"),
                     QStringLiteral("--replicas"), QStringLiteral("2")},
                    {}, model);
        QVERIFY2(swarm.waitForServer(), qPrintable(swarm.log(QStringLiteral("server"))));
        swarm.addNode({QStringLiteral("--device"), device});
        swarm.addNode({QStringLiteral("--device"), device});
        QVERIFY2(swarm.waitForShards(2, 60000), qPrintable(swarm.log(QStringLiteral("node0"))));
        auto run = swarm.submit(ref.value(QStringLiteral("prompt")).toString(), int(greedy.size()),
                                {QStringLiteral("--tokens")});
        QVERIFY(run->waitForFinished(120000));
        QVERIFY2(run->exitCode() == 0, run->readAllStandardError().constData());
        QCOMPARE(QString::fromUtf8(run->readAllStandardOutput()).trimmed(),
                 declai::testdata::idsToString(greedy, int(greedy.size())));
        int serving = 0;
        for (const QJsonValue& n : swarm.status().value(QStringLiteral("nodes")).toArray())
            if (n.toObject().value(QStringLiteral("stages_served")).toInteger() > 0)
                ++serving;
        QVERIFY(serving >= 1);
    }
};

QTEST_GUILESS_MAIN(TestSwarmDevices)
#include "tst_swarm_devices.moc"
