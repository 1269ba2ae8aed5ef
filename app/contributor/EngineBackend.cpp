#include "EngineBackend.h"

#include "NodeAgent.h"

#include <QDir>

namespace declai::node {

EngineBackend::EngineBackend(NodeSettings settings, std::unique_ptr<MachineProbes> probes,
                             std::shared_ptr<ComputeHooks> hooks, int ruleCheckIntervalMs)
    : m_settings(std::move(settings)), m_probes(std::move(probes)), m_hooks(std::move(hooks)),
      m_ruleTimer(new QTimer(this)), m_snoozeTimer(new QTimer(this)), m_publishTimer(new QTimer(this)) {
    if (!m_probes)
        m_probes = MachineProbes::system();
    m_ruleTimer->setInterval(std::max(10, ruleCheckIntervalMs));
    connect(m_ruleTimer, &QTimer::timeout, this, &EngineBackend::evaluateRules);
    m_snoozeTimer->setSingleShot(true);
    connect(m_snoozeTimer, &QTimer::timeout, this, &EngineBackend::evaluateRules);
    m_publishTimer->setSingleShot(true);
    connect(m_publishTimer, &QTimer::timeout, this, &EngineBackend::publishNow);
    m_stats.serverUrl = m_settings.serverUrl.toString();
}

EngineBackend::~EngineBackend() {
    delete m_agent; // joins the compute thread (a stage in flight finishes first)
}

void EngineBackend::fail(const QString& reason, const QString& whatToDo) {
    m_failed = true;
    m_stats.lastError = reason;
    m_stats.whatToDo = whatToDo;
    publish(true);
    Q_EMIT fatalError(reason);
}

void EngineBackend::start() {
    if (m_agent || m_failed)
        return;
    m_stats.state = EngineState::Starting;
    publish(true);
    if (auto valid = m_settings.validate(); !valid)
        return fail(QStringLiteral("invalid settings: %1").arg(QString::fromStdString(valid.error().message)),
                    QStringLiteral("Correct the settings and start again."));
    if (!QDir().mkpath(m_settings.dataDir))
        return fail(QStringLiteral("cannot create the data folder %1").arg(m_settings.dataDir),
                    QStringLiteral("Choose a data folder this user can write to."));
    // Disk I/O: on the engine thread, never the GUI's.
    auto identity = NodeIdentity::loadOrCreate(m_settings.dataDir.toStdString());
    if (!identity)
        return fail(
            QString::fromStdString(identity.error().message),
            QStringLiteral("Check the data folder's identity files (or choose another data folder)."));
    qInfo("node %s starting (data in %s)", identity->shortId().c_str(), qPrintable(m_settings.dataDir));
    NodeSettings agentSettings = m_settings;
    agentSettings.budgets.threads = computeThreads();
    m_agent = new NodeAgent(agentSettings, *identity, m_hooks, this);
    connect(m_agent, &NodeAgent::statsChanged, this, [this] { publish(false); });
    connect(m_agent, &NodeAgent::connected, this, [this] { publish(true); });
    connect(m_agent, &NodeAgent::disconnectedFromServer, this, [this] { publish(true); });
    connect(m_agent, &NodeAgent::fatalError, this, [this](const QString& reason) {
        fail(reason, QStringLiteral("Check the server address and certificate settings."));
    });
    // Queued: finishStop deletes the agent, and drained() is emitted from inside the agent's own handlers
    // (sessionsChanged, the grace timer), which go on using it after the emit returns.
    connect(m_agent, &NodeAgent::drained, this, &EngineBackend::finishStop, Qt::QueuedConnection);
    // The rules are evaluated before the first connection, so a paused node never looks available.
    evaluateRules();
    m_ruleTimer->start();
    m_agent->start();
    publish(true);
}

int EngineBackend::computeThreads() const {
    const int percent = m_settings.rules.cpuThrottlePercent;
    if (percent >= 100)
        return m_settings.budgets.threads;
    const int all = m_settings.budgets.threads > 0 ? m_settings.budgets.threads : QThread::idealThreadCount();
    return std::max(1, all * percent / 100);
}

void EngineBackend::pauseByUser(std::optional<QDateTime> until) {
    m_userPaused = true;
    m_snoozeUntil = until;
    m_snoozeTimer->stop();
    if (until) {
        // The real clock's timer; a fake clock is checked on each evaluation (tests call evaluateRules).
        const qint64 ms = m_probes->clock ? m_probes->clock->now().msecsTo(*until) : 0;
        m_snoozeTimer->start(int(std::clamp<qint64>(ms + 50, 0, 24ll * 3600 * 1000)));
    }
    evaluateRules();
}

void EngineBackend::resume() {
    m_userPaused = false;
    m_snoozeUntil.reset();
    m_snoozeTimer->stop();
    evaluateRules();
}

void EngineBackend::setBudgets(const ResourceBudgets& budgets) {
    m_settings.budgets = budgets;
    if (m_agent)
        m_agent->setBudgets(budgets, computeThreads());
    evaluateRules(); // an empty device list pauses
}

void EngineBackend::setRules(const ContributionRules& rules) {
    const bool throttleChanged = rules.cpuThrottlePercent != m_settings.rules.cpuThrottlePercent;
    m_settings.rules = rules;
    if (m_agent && throttleChanged)
        m_agent->setBudgets(m_settings.budgets, computeThreads());
    evaluateRules();
}

void EngineBackend::evaluateRules() {
    const MachineState state = m_probes->sample(&m_settings.rules);
    if (m_snoozeUntil && state.now.isValid() && state.now >= *m_snoozeUntil) {
        qInfo("snooze over: contributing again");
        m_userPaused = false;
        m_snoozeUntil.reset();
    }
    m_decision = declai::evaluateRules(m_settings.rules, state);
    applyPause();
}

void EngineBackend::applyPause() {
    PauseKind kind = PauseKind::None;
    QString text;
    QDateTime resumesAt;
    RuleDecision::Reason reason = RuleDecision::None;
    if (m_stopping) {
        kind = PauseKind::Stopping;
        text = QStringLiteral("Stopping: finishing the running sessions");
    } else if (m_userPaused && m_snoozeUntil) {
        kind = PauseKind::Snooze;
        resumesAt = *m_snoozeUntil;
        text =
            QStringLiteral("Snoozed until %1").arg(resumesAt.toLocalTime().toString(QStringLiteral("HH:mm")));
    } else if (m_userPaused) {
        kind = PauseKind::User;
        text = QStringLiteral("Paused until you resume");
    } else if (m_settings.budgets.enabledDevices.isEmpty()) {
        kind = PauseKind::Rule;
        text = QStringLiteral("Paused: no device is enabled");
    } else if (!m_decision.run) {
        kind = m_decision.reason == RuleDecision::OutsideSchedule ? PauseKind::Schedule : PauseKind::Rule;
        reason = m_decision.reason;
        text = m_decision.text;
        if (kind == PauseKind::Schedule)
            resumesAt = m_decision.nextScheduledChange;
    }
    const bool changed = kind != m_stats.pauseKind || reason != m_stats.ruleReason;
    if (changed)
        qInfo("%s", qPrintable(kind == PauseKind::None ? QStringLiteral("contributing") : text));
    m_stats.pauseKind = kind;
    m_stats.ruleReason = reason;
    m_stats.pauseText = text;
    m_stats.resumesAt = resumesAt;
    m_stats.ruleNotes = m_decision.notes;
    if (m_agent && !m_stopping)
        m_agent->setAcceptingSessions(kind == PauseKind::None);
    publish(changed);
}

void EngineBackend::stop() {
    if (m_stopped)
        return;
    if (!m_agent) {
        finishStop();
        return;
    }
    if (m_stopping)
        return;
    m_stopping = true;
    m_ruleTimer->stop();
    m_snoozeTimer->stop();
    applyPause();
    m_agent->drain(); // drained() -> finishStop, bounded by drainGraceMs
}

void EngineBackend::finishStop() {
    if (m_stopped)
        return;
    m_stopped = true;
    m_ruleTimer->stop();
    m_snoozeTimer->stop();
    if (m_agent) {
        m_agent->fillStats(m_stats); // the final counters
        delete m_agent;              // closes the connection, joins the compute thread
        m_agent = nullptr;
    }
    m_stats.state = EngineState::Stopped;
    m_stats.pauseKind = PauseKind::None;
    m_stats.pauseText.clear();
    m_stats.connected = false;
    m_stats.sessionsActive = 0;
    m_stats.reconnectInSeconds = -1;
    m_publishTimer->stop();
    Q_EMIT statsChanged(m_stats);
    Q_EMIT stopped();
}

void EngineBackend::publish(bool immediately) {
    if (m_stopped)
        return;
    if (immediately) {
        publishNow();
        return;
    }
    if (!m_publishTimer->isActive())
        m_publishTimer->start(kPublishIntervalMs);
}

void EngineBackend::publishNow() {
    if (m_stopped)
        return;
    m_publishTimer->stop();
    if (m_agent) {
        const QString error = m_stats.lastError, whatToDo = m_stats.whatToDo;
        m_agent->fillStats(m_stats);
        if (m_failed) { // a fatal error of the engine outranks the agent's
            m_stats.lastError = error;
            m_stats.whatToDo = whatToDo;
        }
    }
    if (m_failed)
        m_stats.state = EngineState::Error;
    else if (!m_agent)
        m_stats.state = EngineState::Starting;
    else if (m_stats.pauseKind != PauseKind::None)
        m_stats.state = EngineState::Paused;
    else if (!m_stats.connected)
        m_stats.state = m_stats.reconnectInSeconds >= 0 ? EngineState::Disconnected : EngineState::Connecting;
    else
        m_stats.state = m_stats.sessionsActive > 0 ? EngineState::Computing : EngineState::Idle;
    // While disconnected, a snapshot a second so that "reconnecting in N s" counts down.
    if (m_stats.state == EngineState::Disconnected)
        m_publishTimer->start(1000);
    Q_EMIT statsChanged(m_stats);
}

} // namespace declai::node
