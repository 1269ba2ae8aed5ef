// The contributor engine as one object for a GUI (or declai-node): lives on the caller's thread (the GUI
// thread in the app) and runs the NodeAgent (network, downloads, hashing) on its own QThread, compute on the
// agent's compute thread, benchmarks and device enumeration on worker threads. No call here ever waits on the
// network, the disk or compute; results come back as queued signals on the caller's thread.
//
// Lifecycle: Stopped -> start() -> Starting -> Connecting -> Idle/Computing <-> Paused; Disconnected while it
// reconnects; stop() drains (no new sessions, running ones finish within settings.drainGraceMs), then
// stopped() is emitted and the engine thread has finished. Pausing (by the user, a snooze, the schedule or a
// rule) tells the gateway the node takes no new sessions (NodeStatus.accepting_sessions = false, leave_in_ms
// = 0: see docs/protocol.md), lets running stages finish and keeps the shards; resuming reverses it.
//
// Rules (declai/core/ContributionSchedule.h) are evaluated on the engine thread every ruleCheckIntervalMs
// (30 s by default), at once after setRules()/start()/resume(), and on evaluateRulesNow(); the probes
// (MachineProbes.h) are sampled there too.
#pragma once

#include "ComputeHooks.h"
#include "EngineStats.h"
#include "MachineProbes.h"
#include "NodeSettings.h"

#include <QDateTime>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QThread>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>

namespace declai::node {

class EngineBackend;

// One compute device as the GPU layer sees it (an unavailable backend is listed once, with the reason).
struct DeviceInfo {
    QString id;      // "cpu", "opencl:0", ...; the backend name for an unavailable backend
    QString backend; // "cpu", "opencl", "vulkan", "cuda", "hip"
    bool available = false;
    QString unavailableReason; // why the backend cannot be used here
    QString name;
    QString vendor;
    QString driverVersion;
    quint64 memoryTotalBytes = 0;
    std::optional<quint64> memoryFreeBytes; // unknown on some APIs (plain OpenCL)
    int computeUnits = 0;
    bool fp16 = false;
    bool int8Dot = false;
    bool unifiedMemory = false;
};

struct BenchmarkResult {
    QString deviceId;
    bool ok = false;
    QString error;                  // when !ok: why (including "cancelled")
    double f16Gflops = 0;           // matrix throughput with F16 weights
    double int8Gflops = 0;          // with int8 (Q8_0) weights
    double memoryBandwidthGbps = 0; // CPU: streaming read; a device: weight-bound GEMV read rate
    int threads = 0;
    QDateTime measuredAt; // UTC
};

class ContributorEngine : public QObject {
    Q_OBJECT

public:
    // probes == nullptr: the system's (MachineProbes::system()). The settings are taken as they are
    // (validate them first: start() reports invalid ones through fatalError()).
    explicit ContributorEngine(NodeSettings settings, std::unique_ptr<MachineProbes> probes = nullptr,
                               QObject* parent = nullptr);
    // Stops the engine thread if still running (drains nothing: call stop() and wait for stopped() for a
    // graceful exit). Waits for the threads to finish (a stage in flight, at most one stage's time).
    ~ContributorEngine() override;

    // Test seam (tests/support): compute hooks for the worker; call before start(). Shipped binaries pass
    // none.
    void setComputeHooks(std::shared_ptr<ComputeHooks> hooks);
    // How often rules are re-evaluated while running (default 30000 ms); call before start().
    void setRuleCheckIntervalMs(int intervalMs);

    void start();
    // Pause by the volunteer; with `until` a snooze that ends by itself at that time (on the probes' clock).
    void pauseByUser(std::optional<QDateTime> until = std::nullopt);
    // Ends a user pause or snooze (schedule and rules still apply).
    void resume();
    // Drains (bounded by settings.drainGraceMs), disconnects, then emits stopped(). Idempotent.
    void stop();

    void setBudgets(const ResourceBudgets& budgets);
    void setRules(const ContributionRules& rules);
    void evaluateRulesNow();

    const NodeSettings& settings() const { return m_settings; } // as last set (budgets and rules included)
    EngineStats stats() const { return m_stats; }               // the latest snapshot (caller's thread)
    bool isRunning() const;

    // Devices: enumerated on a worker thread by refreshDevices() (probing loads every compiled-in driver, so
    // nothing does it unasked); devicesChanged() when the list is known. devices() is empty until then.
    QList<DeviceInfo> devices() const { return m_devices; }
    void refreshDevices();

    // One benchmark at a time, on a worker thread; a second call while one runs is refused through
    // benchmarkFinished (ok = false, "a benchmark is already running").
    void runBenchmark(const QString& deviceId);
    void cancelBenchmark();

Q_SIGNALS:
    // Throttled to at most ~2 per second, plus at once on a change of state or pause.
    void statsChanged(const declai::node::EngineStats& stats);
    void stopped();
    void fatalError(const QString& reason);
    void devicesChanged(const QList<declai::node::DeviceInfo>& devices);
    void benchmarkProgress(const QString& deviceId, int percent);
    void benchmarkFinished(const declai::node::BenchmarkResult& result);

private:
    void onBackendStats(const EngineStats& stats);
    void onThreadFinished();
    // Runs `job` on a new worker thread (a child of this, joined by the destructor).
    void startWorker(std::function<void()> job);

    NodeSettings m_settings;
    std::unique_ptr<MachineProbes> m_probes; // moved to the backend on start()
    std::shared_ptr<ComputeHooks> m_hooks;
    int m_ruleCheckIntervalMs = 30000;
    QThread* m_thread = nullptr;       // child of this; runs the backend
    QPointer<EngineBackend> m_backend; // lives on m_thread; deleted when it finishes
    EngineStats m_stats;
    QList<DeviceInfo> m_devices;
    bool m_enumeratingDevices = false;
    bool m_benchmarking = false;
    std::shared_ptr<std::atomic<bool>> m_benchmarkCancel;
};

} // namespace declai::node

Q_DECLARE_METATYPE(declai::node::DeviceInfo)
Q_DECLARE_METATYPE(declai::node::BenchmarkResult)
