#include "EngineController.h"

namespace declai::desktop {

LocalEngineController::LocalEngineController(node::NodeSettings settings, QObject* parent)
    : EngineController(parent), m_engine(std::make_unique<node::ContributorEngine>(std::move(settings))) {
    attach();
}

LocalEngineController::~LocalEngineController() = default;

void LocalEngineController::attach() {
    // The engine lives on this (the GUI) thread; its own threads report to it queued, so these arrive here.
    node::ContributorEngine* e = m_engine.get();
    connect(e, &node::ContributorEngine::statsChanged, this, &EngineController::statsChanged);
    connect(e, &node::ContributorEngine::devicesChanged, this, [this](const QList<DeviceInfo>& devices) {
        m_devices = devices;
        Q_EMIT devicesChanged(devices);
    });
    // Enumerated on a worker thread; devicesChanged() follows.
    QMetaObject::invokeMethod(e, &node::ContributorEngine::refreshDevices, Qt::QueuedConnection);
    connect(e, &node::ContributorEngine::benchmarkProgress, this, &EngineController::benchmarkProgress);
    connect(e, &node::ContributorEngine::benchmarkFinished, this, &EngineController::benchmarkFinished);
    connect(e, &node::ContributorEngine::fatalError, this, &EngineController::fatalError);
    connect(e, &node::ContributorEngine::stopped, this, [this] {
        if (!m_pending) {
            Q_EMIT stopped();
            return;
        }
        // Replace the engine after this signal has returned (the sender must outlive its emission).
        QMetaObject::invokeMethod(
            this,
            [this] {
                node::NodeSettings settings = std::move(*m_pending);
                m_pending.reset();
                m_engine = std::make_unique<node::ContributorEngine>(std::move(settings));
                attach();
                m_engine->start();
                Q_EMIT statsChanged(m_engine->stats());
            },
            Qt::QueuedConnection);
    });
}

EngineStats LocalEngineController::stats() const {
    return m_engine->stats();
}
bool LocalEngineController::isRunning() const {
    return m_engine->isRunning();
}
void LocalEngineController::start() {
    m_engine->start();
}
void LocalEngineController::pauseByUser(std::optional<QDateTime> until) {
    m_engine->pauseByUser(until);
}
void LocalEngineController::resume() {
    m_engine->resume();
}
void LocalEngineController::stop() {
    m_pending.reset();
    m_engine->stop();
}
void LocalEngineController::setRules(const ContributionRules& rules) {
    m_engine->setRules(rules);
}
void LocalEngineController::setBudgets(const ResourceBudgets& budgets) {
    m_engine->setBudgets(budgets);
}
QList<DeviceInfo> LocalEngineController::devices() const {
    const QList<DeviceInfo> now = m_engine->devices();
    return now.isEmpty() ? m_devices : now;
}
void LocalEngineController::runBenchmark(const QString& deviceId) {
    m_engine->runBenchmark(deviceId);
}
void LocalEngineController::cancelBenchmark() {
    m_engine->cancelBenchmark();
}

void LocalEngineController::reconfigure(const node::NodeSettings& settings) {
    if (m_engine->isRunning()) {
        m_pending = settings;
        m_engine->stop();
        return;
    }
    m_engine = std::make_unique<node::ContributorEngine>(settings);
    attach();
    Q_EMIT statsChanged(m_engine->stats());
}

} // namespace declai::desktop
