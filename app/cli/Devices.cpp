#include "Devices.h"

#include "CliIo.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <string>

namespace declai::cli {
namespace {

QString qs(const std::string& text) {
    return QString::fromStdString(text);
}

QJsonObject deviceJson(const gpu::DeviceInfo& d) {
    QJsonObject o;
    o.insert(QStringLiteral("id"), qs(d.id.toString()));
    o.insert(QStringLiteral("index"), d.id.index);
    o.insert(QStringLiteral("name"), qs(d.name));
    o.insert(QStringLiteral("vendor"), qs(d.vendor));
    o.insert(QStringLiteral("driver_version"), qs(d.driverVersion));
    // Byte counts go out as doubles (JSON numbers): exact up to 2^53 bytes.
    o.insert(QStringLiteral("memory_total_bytes"), static_cast<double>(d.memoryTotalBytes));
    o.insert(QStringLiteral("memory_free_bytes"),
             d.memoryFreeBytes ? QJsonValue(static_cast<double>(*d.memoryFreeBytes)) : QJsonValue());
    o.insert(QStringLiteral("max_allocation_bytes"), static_cast<double>(d.maxAllocationBytes));
    o.insert(QStringLiteral("compute_units"), d.computeUnits);
    QJsonObject caps;
    caps.insert(QStringLiteral("fp16"), d.capabilities.fp16);
    caps.insert(QStringLiteral("int8_dot"), d.capabilities.int8Dot);
    caps.insert(QStringLiteral("unified_memory"), d.capabilities.unifiedMemory);
    o.insert(QStringLiteral("capabilities"), caps);
    return o;
}

std::string mib(uint64_t bytes) {
    return std::to_string(bytes / (1024u * 1024u)).append(" MiB");
}

void printText(const std::vector<gpu::BackendStatus>& backends, std::FILE* out) {
    for (const gpu::BackendStatus& b : backends) {
        if (!b.available) {
            std::fprintf(out, "%-7s unavailable: %s\n", b.name.c_str(), b.reason.c_str());
            continue;
        }
        std::fprintf(out, "%-7s available, %zu device(s)\n", b.name.c_str(), b.devices.size());
        for (const gpu::DeviceInfo& d : b.devices) {
            std::string caps;
            caps.append(d.capabilities.fp16 ? "fp16 " : "").append(d.capabilities.int8Dot ? "int8-dot " : "");
            caps.append(d.capabilities.unifiedMemory ? "unified-memory" : "");
            std::fprintf(out, "  %-10s %s\n", d.id.toString().c_str(), d.name.c_str());
            std::fprintf(out, "             vendor %s, driver %s\n", d.vendor.c_str(),
                         d.driverVersion.c_str());
            std::fprintf(out, "             memory %s total, %s free, %d compute units\n",
                         mib(d.memoryTotalBytes).c_str(),
                         d.memoryFreeBytes ? mib(*d.memoryFreeBytes).c_str() : "unknown", d.computeUnits);
            std::fprintf(out, "             capabilities: %s\n", caps.empty() ? "none" : caps.c_str());
        }
    }
}

} // namespace

int runDevices(const QStringList& args, std::FILE* out, std::FILE* err) {
    bool json = false;
    for (qsizetype i = 1; i < args.size(); ++i) {
        if (args[i] == QStringLiteral("--json")) {
            json = true;
        } else if (args[i] == QStringLiteral("-h") || args[i] == QStringLiteral("--help")) {
            std::fputs("usage: declai-cli devices [--json]\n", out);
            return 0;
        } else {
            return CliIo{out, err}.usage("devices: unexpected argument '" + args[i].toStdString() + "'");
        }
    }
    // Probing loads the drivers of every compiled-in backend once; nothing else is started.
    const gpu::BackendRegistry registry;
    const auto backends = registry.backends();
    if (!json) {
        printText(backends, out);
        return 0;
    }
    QJsonArray list;
    for (const gpu::BackendStatus& b : backends) {
        QJsonObject o;
        o.insert(QStringLiteral("backend"), qs(b.name));
        o.insert(QStringLiteral("available"), b.available);
        o.insert(QStringLiteral("reason"), b.available ? QJsonValue() : QJsonValue(qs(b.reason)));
        QJsonArray devices;
        for (const gpu::DeviceInfo& d : b.devices)
            devices.append(deviceJson(d));
        o.insert(QStringLiteral("devices"), devices);
        list.append(o);
    }
    QJsonObject root;
    root.insert(QStringLiteral("backends"), list);
    const QByteArray text = QJsonDocument(root).toJson(QJsonDocument::Indented);
    std::fwrite(text.constData(), 1, static_cast<size_t>(text.size()), out);
    return 0;
}

} // namespace declai::cli
