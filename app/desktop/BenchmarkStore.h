// Benchmark results kept with their date (as BOINC keeps them), in the app's QSettings under
// "benchmarks/<device id>". A result older than kRerunAfterDays is due for a re-run.
#pragma once

#include "ContributorEngine.h"

#include <QSettings>
#include <optional>

namespace declai::desktop {

class BenchmarkStore {
public:
    static constexpr int kRerunAfterDays = 30;

    explicit BenchmarkStore(QSettings& settings) : m_settings(settings) {}
    void save(const node::BenchmarkResult& result);
    std::optional<node::BenchmarkResult> load(const QString& deviceId) const;
    bool isDue(const QString& deviceId, const QDateTime& now) const;

private:
    static QString key(const QString& deviceId);
    QSettings& m_settings;
};

} // namespace declai::desktop
