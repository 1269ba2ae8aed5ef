// The HIP backend is a run-time module (libdeclai-backend-hip.so in build/lib, see gpu/src/hip/HipModule.h):
// when this build has it, `declai-cli devices --json` and a registry in this process (build/tests, so the
// loader's <exe dir>/../lib path) must list hip with a run-time verdict — a device, or the HIP runtime's
// reason — never a build-time "not linked"/"built without" one. Skipped when the build has no hipcc.
#include "TestData.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTest>

#ifndef DECLAI_TEST_HIP_MODULE
#define DECLAI_TEST_HIP_MODULE 0
#endif

namespace {

// Empty when `reason` is an acceptable unavailable reason for a built-in HIP module, else what is wrong.
QString badReason(const QString& reason) {
    if (reason.isEmpty())
        return QStringLiteral("hip is unavailable without a reason");
    if (reason.contains(QStringLiteral("not linked")) || reason.startsWith(QStringLiteral("built without")))
        return QStringLiteral("hip reports a build-time reason: ") + reason;
    if (!reason.contains(QStringLiteral("HIP")))
        return QStringLiteral("hip's reason does not name HIP: ") + reason;
    return {};
}

} // namespace

class TestDevices : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        if (!DECLAI_TEST_HIP_MODULE)
            DECLAI_SKIP_MISSING("hip", QStringLiteral("this build has no HIP backend module "
                                                      "(DECLAI_GPU_HIP=OFF, or no hipcc/libamdhip64)"));
    }

    void cliListsHipWithRuntimeVerdict() {
        QProcess p;
        p.start(QStringLiteral(DECLAI_CLI_PATH), {QStringLiteral("devices"), QStringLiteral("--json")});
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 0);
        QJsonParseError parseError{};
        const QJsonDocument doc = QJsonDocument::fromJson(p.readAllStandardOutput(), &parseError);
        QVERIFY2(parseError.error == QJsonParseError::NoError, qPrintable(parseError.errorString()));
        QJsonObject hip;
        for (const QJsonValue& v : doc.object().value(QStringLiteral("backends")).toArray()) {
            if (v.toObject().value(QStringLiteral("backend")).toString() == QStringLiteral("hip"))
                hip = v.toObject();
        }
        QVERIFY2(!hip.isEmpty(), "hip is not listed");
        const int deviceCount = static_cast<int>(hip.value(QStringLiteral("devices")).toArray().size());
        if (hip.value(QStringLiteral("available")).toBool()) {
            QVERIFY2(deviceCount > 0, "hip is available but lists no device");
            return;
        }
        QCOMPARE(deviceCount, 0);
        const QString problem = badReason(hip.value(QStringLiteral("reason")).toString());
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        qInfo("declai-cli: hip unavailable: %s", qPrintable(hip.value(QStringLiteral("reason")).toString()));
    }

    void registryLoadsModuleFromLibDir() {
        const declai::gpu::BackendRegistry registry(1);
        const declai::gpu::Backend* hip = registry.backend("hip");
        QVERIFY(hip);
        QCOMPARE(hip->name(), std::string_view("hip"));
        if (hip->available()) {
            QVERIFY(hip->deviceCount() > 0);
            auto info = hip->deviceInfo(0);
            QVERIFY2(info.hasValue(), info.hasValue() ? "" : info.error().message.c_str());
            QCOMPARE(info->id.backend, std::string("hip"));
            return;
        }
        QCOMPARE(hip->deviceCount(), 0);
        const QString reason = QString::fromStdString(hip->unavailableReason());
        const QString problem = badReason(reason);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        // The module itself must load from build/lib; only the runtime's verdict may make hip unavailable.
        QVERIFY2(!reason.contains(QStringLiteral("module")), qPrintable(reason));
        // Opening a device of an unavailable backend is a clean error carrying the same reason.
        declai::gpu::BackendRegistry mutableRegistry(1);
        auto device = mutableRegistry.openDevice("hip:0");
        QVERIFY(!device.hasValue());
        QVERIFY2(QString::fromStdString(device.error().message).contains(reason),
                 device.error().message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestDevices)
#include "tst_devices.moc"
