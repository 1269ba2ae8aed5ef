// The compute devices CI must have: PoCL (OpenCL) and lavapipe (Vulkan) are installed there, so a backend
// among them without a device is a failure in CI (DECLAI_REQUIRED_DEPS) and a visible skip elsewhere.
#pragma once

#include "TestData.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <QString>
#include <QStringList>
#include <string>
#include <vector>

namespace declai::testdata {

// Dependency names of the device backends that CI requires; each is also the backend's name.
inline const QStringList& requirableDeviceBackends() {
    static const QStringList names{QStringLiteral("opencl"), QStringLiteral("vulkan")};
    return names;
}

// Why `backend` has no usable device, or empty when it has one.
inline QString deviceAbsence(const std::vector<gpu::BackendStatus>& backends, const QString& backend) {
    for (const gpu::BackendStatus& status : backends) {
        if (QString::fromStdString(status.name) != backend)
            continue;
        if (!status.available)
            return QString::fromStdString(status.reason);
        return status.devices.empty() ? QStringLiteral("the backend lists no device") : QString();
    }
    return QStringLiteral("the backend is not registered");
}

// Every required device backend that has no device, with the reason; empty when nothing required is missing.
inline QString missingRequiredDevices(const std::vector<gpu::BackendStatus>& backends) {
    QStringList missing;
    for (const QString& backend : requirableDeviceBackends()) {
        const QString absence = deviceAbsence(backends, backend);
        if (!absence.isEmpty() && dependencyRequired(backend))
            missing << QStringLiteral("%1 (%2)").arg(backend, absence);
    }
    return missing.join(QStringLiteral("; "));
}

} // namespace declai::testdata

// Fails the current test function when a device backend that this run requires has no device.
#define DECLAI_REQUIRE_DEVICES(backends)                                                                     \
    do {                                                                                                     \
        const QString declaiMissingDevices_ = ::declai::testdata::missingRequiredDevices(backends);          \
        if (!declaiMissingDevices_.isEmpty())                                                                \
            QFAIL(qPrintable(QStringLiteral("required device backends are missing: ") +                      \
                             declaiMissingDevices_));                                                        \
    } while (false)
