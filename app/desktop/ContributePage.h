// Contribute: every device the GPU layer found (with its benchmark figures and date), a Benchmark button
// with a cancellable progress bar, per-device on/off, caps on memory, CPU threads and disk for shards, and
// the shards this machine serves now.
#pragma once

#include "BenchmarkStore.h"
#include "EngineController.h"

#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace declai::desktop {

class ContributePage : public QWidget {
    Q_OBJECT
public:
    ContributePage(EngineController& engine, BenchmarkStore& benchmarks, QWidget* parent = nullptr);

    void setBudgets(const ResourceBudgets& budgets); // does not emit budgetsEdited
    ResourceBudgets budgets() const;
    void showStats(const EngineStats& stats);

    // For tests and the wizard.
    QPushButton* benchmarkButton() const { return m_benchmark; }
    QPushButton* cancelButton() const { return m_cancel; }
    QProgressBar* progressBar() const { return m_progress; }
    QTableWidget* deviceTable() const { return m_devices; }
    QString resultText(const QString& deviceId) const;

Q_SIGNALS:
    void budgetsEdited(const declai::node::ResourceBudgets& budgets);

private:
    void fillDevices(const QList<DeviceInfo>& devices);
    void onBenchmarkProgress(const QString& deviceId, int percent);
    QString deviceName(const QString& id) const;
    void onBenchmarkFinished(const BenchmarkResult& result);
    void emitEdited();
    QString selectedDevice() const;
    int rowOf(const QString& deviceId) const;

    EngineController& m_engine;
    BenchmarkStore& m_benchmarks;
    ResourceBudgets m_budgets;
    QTableWidget* m_devices = nullptr;
    QPushButton* m_benchmark = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_benchmarkStatus = nullptr;
    QSpinBox* m_threads = nullptr;
    QSpinBox* m_memoryGiB = nullptr;
    QSpinBox* m_diskGiB = nullptr;
    QTableWidget* m_shards = nullptr;
    QLabel* m_shardsEmpty = nullptr;
    QString m_running;
    bool m_loading = false;
};

} // namespace declai::desktop
