#include "BenchmarkStore.h"

namespace declai::desktop {

QString BenchmarkStore::key(const QString& deviceId) {
    QString safe = deviceId;
    safe.replace(QLatin1Char(':'), QLatin1Char('_')).replace(QLatin1Char('/'), QLatin1Char('_'));
    return QStringLiteral("benchmarks/") + safe;
}

void BenchmarkStore::save(const node::BenchmarkResult& r) {
    if (!r.ok)
        return; // a failed or cancelled run keeps the previous figures
    m_settings.beginGroup(key(r.deviceId));
    m_settings.setValue(QStringLiteral("device"), r.deviceId);
    m_settings.setValue(QStringLiteral("f16_gflops"), r.f16Gflops);
    m_settings.setValue(QStringLiteral("int8_gflops"), r.int8Gflops);
    m_settings.setValue(QStringLiteral("bandwidth_gbps"), r.memoryBandwidthGbps);
    m_settings.setValue(QStringLiteral("threads"), r.threads);
    m_settings.setValue(QStringLiteral("measured_at"), r.measuredAt.toUTC().toString(Qt::ISODate));
    m_settings.endGroup();
}

std::optional<node::BenchmarkResult> BenchmarkStore::load(const QString& deviceId) const {
    const QString group = key(deviceId);
    if (!m_settings.contains(group + QStringLiteral("/measured_at")))
        return std::nullopt;
    node::BenchmarkResult r;
    r.deviceId = deviceId;
    r.ok = true;
    r.f16Gflops = m_settings.value(group + QStringLiteral("/f16_gflops")).toDouble();
    r.int8Gflops = m_settings.value(group + QStringLiteral("/int8_gflops")).toDouble();
    r.memoryBandwidthGbps = m_settings.value(group + QStringLiteral("/bandwidth_gbps")).toDouble();
    r.threads = m_settings.value(group + QStringLiteral("/threads")).toInt();
    r.measuredAt = QDateTime::fromString(m_settings.value(group + QStringLiteral("/measured_at")).toString(),
                                         Qt::ISODate);
    if (!r.measuredAt.isValid())
        return std::nullopt; // a hand-edited, unreadable entry counts as never measured
    return r;
}

bool BenchmarkStore::isDue(const QString& deviceId, const QDateTime& now) const {
    const auto r = load(deviceId);
    return !r || r->measuredAt.daysTo(now) >= kRerunAfterDays;
}

} // namespace declai::desktop
