// The one interface the tray and the dashboard drive the contributor engine through. Today it is backed by
// the in-process ContributorEngine (LocalEngineController); a client of a local control API can implement it
// when the app attaches to a declai-node running as a service. The values are the engine's own plain types
// (EngineStats, DeviceInfo, BenchmarkResult, ContributionRules, ResourceBudgets), so nothing is copied twice.
// Threading: lives on the GUI thread; every call returns at once (work runs on the engine's threads) and
// every signal is emitted on the GUI thread.
#pragma once

#include "ContributorEngine.h"
#include "EngineStats.h"
#include "NodeSettings.h"

#include <QDateTime>
#include <QList>
#include <QObject>
#include <optional>

namespace declai::desktop {

using node::BenchmarkResult;
using node::DeviceInfo;
using node::EngineState;
using node::EngineStats;
using node::PauseKind;
using node::ResourceBudgets;

class EngineController : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;
    ~EngineController() override = default;

    virtual EngineStats stats() const = 0;
    virtual bool isRunning() const = 0;
    virtual void start() = 0;
    virtual void pauseByUser(std::optional<QDateTime> until) = 0; // nullopt = until resume()
    virtual void resume() = 0;
    // Drains and stops; stopped() follows once the engine's threads have finished.
    virtual void stop() = 0;
    virtual void setRules(const ContributionRules& rules) = 0;
    virtual void setBudgets(const ResourceBudgets& budgets) = 0;
    // New server, certificate or data folder: a running engine is stopped (drained) and started again with
    // them; a stopped one just takes them.
    virtual void reconfigure(const node::NodeSettings& settings) = 0;

    virtual QList<DeviceInfo> devices() const = 0;
    virtual void runBenchmark(const QString& deviceId) = 0;
    virtual void cancelBenchmark() = 0;

Q_SIGNALS:
    void statsChanged(const declai::node::EngineStats& stats);
    void devicesChanged(const QList<declai::node::DeviceInfo>& devices);
    void benchmarkProgress(const QString& deviceId, int percent);
    void benchmarkFinished(const declai::node::BenchmarkResult& result);
    void fatalError(const QString& reason);
    void stopped();
};

// The in-process engine. Owns it; forwards its signals (already on the GUI thread: the engine lives here).
class LocalEngineController : public EngineController {
    Q_OBJECT
public:
    explicit LocalEngineController(node::NodeSettings settings, QObject* parent = nullptr);
    ~LocalEngineController() override;

    EngineStats stats() const override;
    bool isRunning() const override;
    void start() override;
    void pauseByUser(std::optional<QDateTime> until) override;
    void resume() override;
    void stop() override;
    void setRules(const ContributionRules& rules) override;
    void setBudgets(const ResourceBudgets& budgets) override;
    void reconfigure(const node::NodeSettings& settings) override;
    QList<DeviceInfo> devices() const override;
    void runBenchmark(const QString& deviceId) override;
    void cancelBenchmark() override;

private:
    void attach();

    std::unique_ptr<node::ContributorEngine> m_engine;
    std::optional<node::NodeSettings> m_pending; // settings waiting for the running engine to stop
    QList<DeviceInfo> m_devices;                 // survives a reconfigure (enumeration is not repeated)
};

} // namespace declai::desktop
