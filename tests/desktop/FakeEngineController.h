// An EngineController whose stats the test sets: for the tray and page tests that need every state
// without a server. Records what the UI asked for.
#pragma once

#include "EngineController.h"

namespace declai::desktop::testing {

class FakeEngineController : public EngineController {
public:
    using EngineController::EngineController;

    void setStats(const EngineStats& stats) {
        m_stats = stats;
        Q_EMIT statsChanged(stats);
    }
    EngineStats stats() const override { return m_stats; }
    bool isRunning() const override { return m_running; }
    void start() override { m_running = true; }
    void pauseByUser(std::optional<QDateTime> until) override {
        ++pauses;
        lastPauseUntil = until;
    }
    void resume() override { ++resumes; }
    void stop() override {
        m_running = false;
        Q_EMIT stopped();
    }
    void setRules(const ContributionRules& rules) override { lastRules = rules; }
    void setBudgets(const ResourceBudgets& budgets) override { lastBudgets = budgets; }
    void reconfigure(const node::NodeSettings&) override {}
    QList<DeviceInfo> devices() const override { return m_devices; }
    void setDevices(const QList<DeviceInfo>& devices) {
        m_devices = devices;
        Q_EMIT devicesChanged(devices);
    }
    void runBenchmark(const QString&) override {}
    void cancelBenchmark() override {}

    int pauses = 0;
    int resumes = 0;
    std::optional<QDateTime> lastPauseUntil;
    ContributionRules lastRules;
    ResourceBudgets lastBudgets;

private:
    EngineStats m_stats;
    QList<DeviceInfo> m_devices;
    bool m_running = false;
};

} // namespace declai::desktop::testing
