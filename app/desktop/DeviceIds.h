// The GPU layer names the CPU "cpu:0"; settings and declai-node's --device say "cpu". One spelling for
// settings (the short one), so a listed device and an enabled one compare equal.
#pragma once

#include <QString>

namespace declai::desktop {

inline QString settingsDeviceId(const QString& deviceId) {
    return deviceId == QLatin1String("cpu:0") ? QStringLiteral("cpu") : deviceId;
}

} // namespace declai::desktop
