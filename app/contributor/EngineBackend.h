// ContributorEngine's half on the engine thread (internal to the library): owns the NodeAgent, the machine
// probes and the rule timer, decides whether the node takes sessions (user pause, snooze, schedule, rules,
// no device enabled) and publishes EngineStats snapshots, coalesced to at most one per publishIntervalMs
// except on a change of state. Threading: created on the caller's thread, moved to the engine thread before
// any slot runs; every slot and signal below is on the engine thread.
#pragma once

#include "ComputeHooks.h"
#include "EngineStats.h"
#include "MachineProbes.h"
#include "NodeSettings.h"

#include <QObject>
#include <QTimer>
#include <memory>
#include <optional>

namespace declai::node {

class NodeAgent;

class EngineBackend : public QObject {
    Q_OBJECT

public:
    static constexpr int kPublishIntervalMs = 500;

    EngineBackend(NodeSettings settings, std::unique_ptr<MachineProbes> probes,
                  std::shared_ptr<ComputeHooks> hooks, int ruleCheckIntervalMs);
    ~EngineBackend() override;

    void start();
    void pauseByUser(std::optional<QDateTime> until);
    void resume();
    void stop();
    void setBudgets(const ResourceBudgets& budgets);
    void setRules(const ContributionRules& rules);
    void evaluateRules();

Q_SIGNALS:
    void statsChanged(const declai::node::EngineStats& stats);
    void stopped();
    void fatalError(const QString& reason);

private:
    // Recomputes the pause (user, snooze, rules), tells the agent, publishes.
    void applyPause();
    // Compute threads after the CPU throttle (0 = all cores when not throttled).
    int computeThreads() const;
    void publish(bool immediately);
    void publishNow();
    void fail(const QString& reason, const QString& whatToDo);
    void finishStop();

    NodeSettings m_settings;
    std::unique_ptr<MachineProbes> m_probes;
    std::shared_ptr<ComputeHooks> m_hooks;
    NodeAgent* m_agent = nullptr; // child
    QTimer* m_ruleTimer;
    QTimer* m_snoozeTimer;
    QTimer* m_publishTimer;
    bool m_userPaused = false;
    std::optional<QDateTime> m_snoozeUntil;
    RuleDecision m_decision;
    bool m_stopping = false;
    bool m_stopped = false;
    bool m_failed = false;
    EngineStats m_stats; // pause and error fields; the agent fills the rest
};

} // namespace declai::node
