#include "ContributorEngine.h"

#include "EngineBackend.h"
#include "declai/gpu/DeviceBenchmark.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <QMetaObject>

namespace declai::node {
namespace {

void registerMetaTypes() {
    qRegisterMetaType<declai::node::EngineStats>();
    qRegisterMetaType<declai::node::DeviceInfo>();
    qRegisterMetaType<declai::node::BenchmarkResult>();
    qRegisterMetaType<declai::node::ResourceBudgets>();
    qRegisterMetaType<QList<declai::node::DeviceInfo>>();
}

QList<DeviceInfo> enumerateDevices() {
    QList<DeviceInfo> out;
    const gpu::BackendRegistry registry; // probes every compiled-in driver once
    for (const gpu::BackendStatus& b : registry.backends()) {
        if (!b.available) {
            DeviceInfo d;
            d.id = d.backend = QString::fromStdString(b.name);
            d.unavailableReason = QString::fromStdString(b.reason);
            out.append(d);
            continue;
        }
        for (const gpu::DeviceInfo& g : b.devices) {
            DeviceInfo d;
            d.id = QString::fromStdString(g.id.toString());
            d.backend = QString::fromStdString(b.name);
            d.available = true;
            d.name = QString::fromStdString(g.name);
            d.vendor = QString::fromStdString(g.vendor);
            d.driverVersion = QString::fromStdString(g.driverVersion);
            d.memoryTotalBytes = g.memoryTotalBytes;
            if (g.memoryFreeBytes)
                d.memoryFreeBytes = *g.memoryFreeBytes;
            d.computeUnits = g.computeUnits;
            d.fp16 = g.capabilities.fp16;
            d.int8Dot = g.capabilities.int8Dot;
            d.unifiedMemory = g.capabilities.unifiedMemory;
            out.append(d);
        }
    }
    return out;
}

} // namespace

ContributorEngine::ContributorEngine(NodeSettings settings, std::unique_ptr<MachineProbes> probes,
                                     QObject* parent)
    : QObject(parent), m_settings(std::move(settings)), m_probes(std::move(probes)) {
    registerMetaTypes();
    m_stats.serverUrl = m_settings.serverUrl.toString();
}

ContributorEngine::~ContributorEngine() {
    if (m_benchmarkCancel)
        m_benchmarkCancel->store(true);
    // Worker threads first: they post results to this object, which must outlive them.
    for (QThread* t : findChildren<QThread*>(Qt::FindDirectChildrenOnly))
        if (t != m_thread)
            t->wait();
    if (m_thread) {
        m_thread->quit();
        m_thread->wait();
    }
    delete m_backend.data(); // normally deleted on the thread's finish; its thread no longer runs here
}

void ContributorEngine::setComputeHooks(std::shared_ptr<ComputeHooks> hooks) {
    m_hooks = std::move(hooks);
}

void ContributorEngine::setRuleCheckIntervalMs(int intervalMs) {
    m_ruleCheckIntervalMs = intervalMs;
}

bool ContributorEngine::isRunning() const {
    return m_thread != nullptr;
}

void ContributorEngine::start() {
    if (m_thread)
        return;
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("declai-engine"));
    // A restart after stop() gets the system probes again (the first run's were moved to its backend).
    auto* backend = new EngineBackend(m_settings, std::move(m_probes), m_hooks, m_ruleCheckIntervalMs);
    backend->moveToThread(m_thread);
    m_backend = backend;
    connect(m_thread, &QThread::finished, backend, &QObject::deleteLater);
    connect(m_thread, &QThread::finished, this, &ContributorEngine::onThreadFinished);
    // Queued: emitted on the engine thread, delivered here on the caller's.
    connect(backend, &EngineBackend::statsChanged, this, &ContributorEngine::onBackendStats);
    connect(backend, &EngineBackend::fatalError, this, &ContributorEngine::fatalError);
    connect(backend, &EngineBackend::stopped, this, [this] {
        if (m_thread)
            m_thread->quit(); // onThreadFinished emits stopped()
    });
    m_stats = EngineStats{};
    m_stats.serverUrl = m_settings.serverUrl.toString();
    m_stats.state = EngineState::Starting;
    Q_EMIT statsChanged(m_stats);
    m_thread->start();
    QMetaObject::invokeMethod(backend, &EngineBackend::start, Qt::QueuedConnection);
}

void ContributorEngine::onThreadFinished() {
    if (!m_thread)
        return;
    m_thread->deleteLater();
    m_thread = nullptr;
    m_stats.state = EngineState::Stopped;
    Q_EMIT stopped();
}

void ContributorEngine::pauseByUser(std::optional<QDateTime> until) {
    if (m_backend)
        QMetaObject::invokeMethod(
            m_backend.data(), [b = m_backend.data(), until] { b->pauseByUser(until); }, Qt::QueuedConnection);
}

void ContributorEngine::resume() {
    if (m_backend)
        QMetaObject::invokeMethod(m_backend.data(), &EngineBackend::resume, Qt::QueuedConnection);
}

void ContributorEngine::stop() {
    if (m_backend) {
        QMetaObject::invokeMethod(m_backend.data(), &EngineBackend::stop, Qt::QueuedConnection);
        return;
    }
    if (!m_thread) // never started: stopped at once (queued, like the running case)
        QMetaObject::invokeMethod(this, &ContributorEngine::stopped, Qt::QueuedConnection);
}

void ContributorEngine::setBudgets(const ResourceBudgets& budgets) {
    m_settings.budgets = budgets;
    if (m_backend)
        QMetaObject::invokeMethod(
            m_backend.data(), [b = m_backend.data(), budgets] { b->setBudgets(budgets); },
            Qt::QueuedConnection);
}

void ContributorEngine::setRules(const ContributionRules& rules) {
    m_settings.rules = rules;
    if (m_backend)
        QMetaObject::invokeMethod(
            m_backend.data(), [b = m_backend.data(), rules] { b->setRules(rules); }, Qt::QueuedConnection);
}

void ContributorEngine::evaluateRulesNow() {
    if (m_backend)
        QMetaObject::invokeMethod(m_backend.data(), &EngineBackend::evaluateRules, Qt::QueuedConnection);
}

void ContributorEngine::onBackendStats(const EngineStats& stats) {
    if (!m_thread)
        return; // a late snapshot after stopped()
    m_stats = stats;
    Q_EMIT statsChanged(m_stats);
}

void ContributorEngine::startWorker(std::function<void()> job) {
    QThread* thread = QThread::create(std::move(job));
    thread->setParent(this);
    connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    thread->start(QThread::LowPriority);
}

void ContributorEngine::refreshDevices() {
    if (m_enumeratingDevices)
        return; // one enumeration at a time; its result answers this call too
    m_enumeratingDevices = true;
    // The worker posts its result to this object (the destructor joins it first).
    startWorker([this] {
        QList<DeviceInfo> devices = enumerateDevices();
        QMetaObject::invokeMethod(
            this,
            [this, devices] {
                m_enumeratingDevices = false;
                m_devices = devices;
                Q_EMIT devicesChanged(m_devices);
            },
            Qt::QueuedConnection);
    });
}

void ContributorEngine::runBenchmark(const QString& deviceId) {
    if (m_benchmarking) {
        BenchmarkResult refused;
        refused.deviceId = deviceId;
        refused.error = QStringLiteral("a benchmark is already running");
        QMetaObject::invokeMethod(
            this, [this, refused] { Q_EMIT benchmarkFinished(refused); }, Qt::QueuedConnection);
        return;
    }
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    m_benchmarkCancel = cancel;
    const int threads = m_settings.budgets.threads;
    m_benchmarking = true;
    startWorker([this, cancel, deviceId, threads] {
        BenchmarkResult result;
        result.deviceId = deviceId;
        const bool onCpu = deviceId == QStringLiteral("cpu") || deviceId == QStringLiteral("cpu:0");
        auto progress = [&](int percent) {
            // The CPU run adds a bandwidth pass after the matrix figures: 0-80 %, then 80-100 %.
            const int scaled = onCpu ? percent * 8 / 10 : percent;
            QMetaObject::invokeMethod(
                this, [this, deviceId, scaled] { Q_EMIT benchmarkProgress(deviceId, scaled); },
                Qt::QueuedConnection);
            return !cancel->load();
        };
        auto figures = gpu::measureDeviceFigures(deviceId.toStdString(), threads, progress);
        if (!figures) {
            result.error = QString::fromStdString(figures.error().message);
        } else {
            result.f16Gflops = figures->f16Gflops;
            result.int8Gflops = figures->int8Gflops;
            result.memoryBandwidthGbps = figures->gemvBandwidthGbps;
            ThreadPool pool(threads);
            result.threads = pool.threadCount();
            if (onCpu && !cancel->load())
                result.memoryBandwidthGbps = gpu::measureReadBandwidthGbps(pool);
            if (cancel->load()) {
                result.error = QStringLiteral("cancelled");
            } else {
                result.ok = true;
                progress(100 * 10 / 8);
            }
        }
        result.measuredAt = QDateTime::currentDateTimeUtc();
        QMetaObject::invokeMethod(
            this,
            [this, result] {
                m_benchmarking = false;
                Q_EMIT benchmarkFinished(result);
            },
            Qt::QueuedConnection);
    });
}

void ContributorEngine::cancelBenchmark() {
    if (m_benchmarkCancel)
        m_benchmarkCancel->store(true);
}

} // namespace declai::node
