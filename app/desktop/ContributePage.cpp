#include "ContributePage.h"

#include "DeviceIds.h"

#include <QDate>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QThread>
#include <QVBoxLayout>

namespace declai::desktop {

namespace {
enum DeviceColumn { ColUse, ColDevice, ColKind, ColMemory, ColBenchmark, ColMeasured, DeviceColumns };
} // namespace

ContributePage::ContributePage(EngineController& engine, BenchmarkStore& benchmarks, QWidget* parent)
    : QWidget(parent), m_engine(engine), m_benchmarks(benchmarks) {
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(tr("<h2>Contribute</h2>"), this));

    auto* devicesBox = new QGroupBox(tr("Devices"), this);
    auto* dv = new QVBoxLayout(devicesBox);
    m_devices = new QTableWidget(0, DeviceColumns, devicesBox);
    m_devices->setHorizontalHeaderLabels(
        {tr("Use"), tr("Device"), tr("Type"), tr("Memory"), tr("Benchmark"), tr("Measured")});
    m_devices->verticalHeader()->hide();
    m_devices->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_devices->setSelectionMode(QAbstractItemView::SingleSelection);
    m_devices->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_devices->horizontalHeader()->setSectionResizeMode(ColDevice, QHeaderView::Stretch);
    m_devices->horizontalHeader()->setSectionResizeMode(ColBenchmark, QHeaderView::ResizeToContents);
    m_devices->setAccessibleName(tr("Devices"));
    m_devices->setMinimumHeight(120);
    dv->addWidget(m_devices);
    auto* benchRow = new QHBoxLayout;
    m_benchmark = new QPushButton(tr("&Benchmark selected device"), devicesBox);
    m_cancel = new QPushButton(tr("&Cancel"), devicesBox);
    m_cancel->setEnabled(false);
    m_progress = new QProgressBar(devicesBox);
    m_progress->setRange(0, 100);
    m_progress->setValue(0);
    m_progress->setVisible(false);
    m_benchmarkStatus = new QLabel(devicesBox);
    benchRow->addWidget(m_benchmark);
    benchRow->addWidget(m_cancel);
    benchRow->addWidget(m_progress, 1);
    benchRow->addWidget(m_benchmarkStatus, 1);
    dv->addLayout(benchRow);
    layout->addWidget(devicesBox, 2);

    auto* capsBox = new QGroupBox(tr("Limits"), this);
    auto* caps = new QFormLayout(capsBox);
    m_threads = new QSpinBox(capsBox);
    m_threads->setRange(0, std::max(1, QThread::idealThreadCount()));
    m_threads->setSpecialValueText(tr("all cores"));
    caps->addRow(tr("CPU &threads:"), m_threads);
    m_memoryGiB = new QSpinBox(capsBox);
    m_memoryGiB->setRange(0, 4096);
    m_memoryGiB->setSuffix(tr(" GiB"));
    m_memoryGiB->setSpecialValueText(tr("automatic (half of RAM / device memory)"));
    caps->addRow(tr("&Memory for models:"), m_memoryGiB);
    m_diskGiB = new QSpinBox(capsBox);
    m_diskGiB->setRange(1, 100000);
    m_diskGiB->setSuffix(tr(" GiB"));
    caps->addRow(tr("&Disk for cached shards:"), m_diskGiB);
    for (QSpinBox* box : {m_threads, m_memoryGiB, m_diskGiB})
        box->setMaximumWidth(box->fontMetrics().horizontalAdvance(m_memoryGiB->specialValueText()) + 60);
    layout->addWidget(capsBox);

    auto* shardsBox = new QGroupBox(tr("Shards this computer serves"), this);
    auto* sv = new QVBoxLayout(shardsBox);
    m_shards = new QTableWidget(0, 4, shardsBox);
    m_shards->setHorizontalHeaderLabels({tr("Model"), tr("Layers"), tr("Size"), tr("Sessions served")});
    m_shards->verticalHeader()->hide();
    m_shards->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_shards->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_shards->setAccessibleName(tr("Shards"));
    m_shardsEmpty =
        new QLabel(tr("None yet — the server places shards on nodes once they are connected."), shardsBox);
    m_shardsEmpty->setForegroundRole(QPalette::PlaceholderText);
    sv->addWidget(m_shardsEmpty);
    sv->addWidget(m_shards);
    m_shards->setVisible(false);
    layout->addWidget(shardsBox, 1);

    connect(m_benchmark, &QPushButton::clicked, this, [this] {
        const QString device = selectedDevice();
        if (device.isEmpty())
            return;
        m_running = device;
        m_benchmark->setEnabled(false);
        m_cancel->setEnabled(true);
        m_progress->setValue(0);
        m_progress->setVisible(true);
        m_benchmarkStatus->setText(tr("Measuring %1…").arg(deviceName(device)));
        m_engine.runBenchmark(device); // runs on a worker thread; progress arrives queued
    });
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        m_cancel->setEnabled(false);
        m_benchmarkStatus->setText(tr("Cancelling…"));
        m_engine.cancelBenchmark();
    });
    connect(&m_engine, &EngineController::devicesChanged, this, &ContributePage::fillDevices);
    connect(&m_engine, &EngineController::benchmarkProgress, this, &ContributePage::onBenchmarkProgress);
    connect(&m_engine, &EngineController::benchmarkFinished, this, &ContributePage::onBenchmarkFinished);
    connect(m_devices, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
        if (item->column() == ColUse && !m_loading)
            emitEdited();
    });
    for (QSpinBox* box : {m_threads, m_memoryGiB, m_diskGiB})
        connect(box, &QSpinBox::valueChanged, this, &ContributePage::emitEdited);
    fillDevices(m_engine.devices());
}

QString ContributePage::selectedDevice() const {
    const auto rows = m_devices->selectionModel()->selectedRows();
    const int row = rows.isEmpty() ? (m_devices->rowCount() > 0 ? 0 : -1) : rows.first().row();
    if (row < 0)
        return {};
    return m_devices->item(row, ColDevice)->data(Qt::UserRole).toString();
}

int ContributePage::rowOf(const QString& deviceId) const {
    for (int row = 0; row < m_devices->rowCount(); ++row)
        if (m_devices->item(row, ColDevice)->data(Qt::UserRole).toString() == deviceId)
            return row;
    return -1;
}

QString ContributePage::resultText(const QString& deviceId) const {
    const int row = rowOf(deviceId);
    return row < 0 ? QString() : m_devices->item(row, ColBenchmark)->text();
}

void ContributePage::fillDevices(const QList<DeviceInfo>& devices) {
    m_loading = true;
    m_devices->setRowCount(0);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    for (const DeviceInfo& d : devices) {
        const int row = m_devices->rowCount();
        m_devices->insertRow(row);
        auto* use = new QTableWidgetItem;
        use->setFlags(d.available ? Qt::ItemIsUserCheckable | Qt::ItemIsEnabled | Qt::ItemIsSelectable
                                  : Qt::ItemIsSelectable);
        use->setCheckState(m_budgets.enabledDevices.contains(settingsDeviceId(d)) ? Qt::Checked : Qt::Unchecked);
        use->setData(Qt::AccessibleTextRole, tr("Use %1").arg(d.id));
        m_devices->setItem(row, ColUse, use);
        auto* name =
            new QTableWidgetItem(d.available ? (d.name.isEmpty() ? d.id : d.name)
                                             : tr("%1 — not usable: %2").arg(d.id, d.unavailableReason));
        name->setData(Qt::UserRole, settingsDeviceId(d));
        name->setToolTip(d.available ? tr("%1 (%2, driver %3)").arg(d.id, d.vendor, d.driverVersion)
                                     : d.unavailableReason);
        m_devices->setItem(row, ColDevice, name);
        m_devices->setItem(row, ColKind, new QTableWidgetItem(d.backend.toUpper()));
        m_devices->setItem(row, ColMemory,
                           new QTableWidgetItem(d.memoryTotalBytes
                                                    ? QLocale().formattedDataSize(qint64(d.memoryTotalBytes))
                                                    : QString()));
        const auto result = m_benchmarks.load(settingsDeviceId(d));
        m_devices->setItem(
            row, ColBenchmark,
            new QTableWidgetItem(result ? tr("%1 GFLOP/s f16 · %2 GB/s")
                                              .arg(QLocale().toString(result->f16Gflops, 'f', 1),
                                                   QLocale().toString(result->memoryBandwidthGbps, 'f', 1))
                                        : (d.available ? tr("not measured") : QString())));
        QString measured;
        if (result) {
            measured = QLocale().toString(result->measuredAt.toLocalTime().date(), QLocale::ShortFormat);
            if (m_benchmarks.isDue(settingsDeviceId(d), now))
                measured += tr(" (re-run due)");
        }
        m_devices->setItem(row, ColMeasured, new QTableWidgetItem(measured));
    }
    m_devices->resizeColumnToContents(ColUse);
    if (m_devices->rowCount() > 0 && m_devices->selectionModel()->selectedRows().isEmpty())
        m_devices->selectRow(0);
    m_loading = false;
}

void ContributePage::onBenchmarkProgress(const QString& deviceId, int percent) {
    if (deviceId != m_running)
        return;
    m_progress->setValue(std::clamp(percent, 0, 100));
}

QString ContributePage::deviceName(const QString& id) const {
    // "AMD EPYC (CPU)" rather than the engine's id "cpu".
    for (const DeviceInfo& d : m_engine.devices())
        if ((d.id == id || settingsDeviceId(d) == id) && !d.name.isEmpty())
            return tr("%1 (%2)").arg(d.name, d.backend.toUpper());
    return id;
}

void ContributePage::onBenchmarkFinished(const BenchmarkResult& result) {
    m_benchmark->setEnabled(true);
    m_cancel->setEnabled(false);
    m_progress->setVisible(false);
    m_running.clear();
    if (result.ok) {
        m_benchmarks.save(result);
        m_benchmarkStatus->setText(tr("%1 measured on %2.")
                                       .arg(deviceName(result.deviceId),
                                            QLocale().toString(QDate::currentDate(), QLocale::ShortFormat)));
        fillDevices(m_engine.devices());
    } else {
        m_benchmarkStatus->setText(
            tr("Benchmark of %1 did not finish: %2").arg(deviceName(result.deviceId), result.error));
    }
}

void ContributePage::setBudgets(const ResourceBudgets& budgets) {
    m_loading = true;
    m_budgets = budgets;
    m_threads->setValue(budgets.threads);
    m_memoryGiB->setValue(int(budgets.memoryBytes >> 30));
    m_diskGiB->setValue(std::max(1, int(budgets.diskBytes >> 30)));
    m_loading = false;
    fillDevices(m_engine.devices());
}

ResourceBudgets ContributePage::budgets() const {
    ResourceBudgets b = m_budgets;
    b.threads = m_threads->value();
    b.memoryBytes = uint64_t(m_memoryGiB->value()) << 30;
    b.diskBytes = uint64_t(m_diskGiB->value()) << 30;
    // Keep the volunteer's preference order for devices still listed, then newly ticked ones.
    QStringList enabled;
    for (int row = 0; row < m_devices->rowCount(); ++row)
        if (m_devices->item(row, ColUse)->checkState() == Qt::Checked)
            enabled << m_devices->item(row, ColDevice)->data(Qt::UserRole).toString();
    QStringList ordered;
    for (const QString& id : m_budgets.enabledDevices)
        if (enabled.contains(id))
            ordered << id;
    for (const QString& id : enabled)
        if (!ordered.contains(id))
            ordered << id;
    if (m_devices->rowCount() > 0)
        b.enabledDevices = ordered;
    return b;
}

void ContributePage::emitEdited() {
    if (m_loading)
        return;
    m_budgets = budgets();
    Q_EMIT budgetsEdited(m_budgets);
}

void ContributePage::showStats(const EngineStats& stats) {
    m_shards->setRowCount(0);
    for (const auto& shard : stats.shards) {
        const int row = m_shards->rowCount();
        m_shards->insertRow(row);
        m_shards->setItem(row, 0, new QTableWidgetItem(shard.model));
        m_shards->setItem(row, 1,
                          new QTableWidgetItem(tr("%1–%2").arg(shard.layerBegin).arg(shard.layerEnd - 1)));
        m_shards->setItem(row, 2, new QTableWidgetItem(QLocale().formattedDataSize(shard.bytes)));
        m_shards->setItem(row, 3, new QTableWidgetItem(QLocale().toString(shard.sessionsServed)));
    }
    m_shards->setVisible(!stats.shards.isEmpty());
    m_shardsEmpty->setVisible(stats.shards.isEmpty());
}

} // namespace declai::desktop
