// The GPU layer names the CPU "cpu:0"; settings and declai-node's --device say "cpu". One spelling for
// settings (the short one), so a listed device and an enabled one compare equal.
#pragma once

#include <QString>

namespace declai::desktop {

inline QString settingsDeviceId(const QString& deviceId) {
    return deviceId == QLatin1String("cpu:0") || deviceId.startsWith(QLatin1String("cpu:"))
               ? QStringLiteral("cpu")
               : deviceId;
}
// The same for a listed device: the CPU backend is "cpu" whatever index the layer gives it.
template <class Device>
QString settingsDeviceId(const Device& device) {
    return device.backend.compare(QLatin1String("cpu"), Qt::CaseInsensitive) == 0
               ? QStringLiteral("cpu")
               : settingsDeviceId(device.id);
}

} // namespace declai::desktop
