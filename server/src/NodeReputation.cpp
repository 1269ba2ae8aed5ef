#include "declai/server/NodeReputation.h"

#include <QDateTime>
#include <algorithm>

namespace declai::server {

NodeReputation::NodeReputation(ReputationPolicy policy, Clock clock)
    : m_policy(policy), m_clock(std::move(clock)) {
    if (!m_clock)
        m_clock = [] { return QDateTime::currentMSecsSinceEpoch(); };
}

NodeHistory& NodeReputation::record(const std::string& nodeId) {
    ++m_version; // every caller updates the record it gets
    auto [it, inserted] = m_history.try_emplace(nodeId);
    if (inserted)
        it->second.firstSeenMs = now();
    return it->second;
}

void NodeReputation::connected(const std::string& nodeId) {
    ++record(nodeId).connections;
}

void NodeReputation::answered(const std::string& nodeId) {
    NodeHistory& h = record(nodeId);
    ++h.stagesAnswered;
    h.consecutiveFailures = 0;
    h.score = std::min(1.0, h.score + 0.01);
}

void NodeReputation::penalise(NodeHistory& h) {
    ++h.consecutiveFailures;
    h.score = std::max(0.0, h.score * 0.5);
    // 1x, 2x, 4x ... the base backoff: a node that keeps failing is tried less and less often.
    const uint64_t shift = std::min<uint64_t>(h.consecutiveFailures - 1, 20);
    const int64_t backoff = std::min(m_policy.maxBackoffMs, m_policy.backoffMs << shift);
    h.excludedUntilMs = std::max(h.excludedUntilMs, now() + backoff);
}

void NodeReputation::timedOut(const std::string& nodeId) {
    NodeHistory& h = record(nodeId);
    ++h.timeouts;
    penalise(h);
}

void NodeReputation::reportedError(const std::string& nodeId) {
    NodeHistory& h = record(nodeId);
    ++h.stageErrors;
    penalise(h);
}

void NodeReputation::assignmentExpired(const std::string& nodeId) {
    NodeHistory& h = record(nodeId);
    ++h.expiredAssignments;
    penalise(h);
}

void NodeReputation::verified(const std::string& nodeId, bool valid) {
    NodeHistory& h = record(nodeId);
    if (valid) {
        ++h.checksPassed;
        h.score = std::min(1.0, h.score + 0.02);
    } else {
        ++h.checksFailed;
        h.score = 0;
    }
}

void NodeReputation::quarantined(const std::string& nodeId) {
    NodeHistory& h = record(nodeId);
    h.quarantined = true;
    h.score = 0;
}

std::vector<std::string> NodeReputation::quarantinedIds() const {
    std::vector<std::string> ids;
    for (const auto& [id, h] : m_history)
        if (h.quarantined)
            ids.push_back(id);
    return ids;
}

bool NodeReputation::excluded(const std::string& nodeId) const {
    auto it = m_history.find(nodeId);
    return it != m_history.end() && now() < it->second.excludedUntilMs;
}

bool NodeReputation::onProbation(const std::string& nodeId) const {
    auto it = m_history.find(nodeId);
    if (it == m_history.end())
        return true;
    const NodeHistory& h = it->second;
    return h.stagesAnswered < m_policy.probationStages || h.checksPassed < m_policy.probationChecks ||
           now() - h.firstSeenMs < m_policy.probationMinMs || h.checksFailed > 0 || h.quarantined;
}

int NodeReputation::answerTimeoutMs(const std::string& nodeId, int stageTimeoutMs) const {
    auto it = m_history.find(nodeId);
    const bool answeredBefore = it != m_history.end() && it->second.stagesAnswered > 0;
    return answeredBefore ? stageTimeoutMs : std::min(stageTimeoutMs, m_policy.firstAnswerTimeoutMs);
}

int64_t NodeReputation::assignmentDeadlineMs(uint64_t bytes) const {
    const uint64_t rate = std::max<uint64_t>(1, m_policy.assignmentMinBytesPerS);
    return m_policy.assignmentDeadlineMs + static_cast<int64_t>(bytes / rate * 1000);
}

std::optional<std::vector<ChainStage>> NodeReputation::chainFor(LayerRange span,
                                                                const std::vector<NodeShards>& nodes,
                                                                const std::set<std::string>& exclude) const {
    std::set<std::string> always = exclude;
    std::set<std::string> established = exclude; // leaves out every node on probation
    std::set<std::string> withinShare = exclude; // leaves out probation nodes at their session limit
    for (const NodeShards& n : nodes) {
        if (excluded(n.nodeId)) {
            always.insert(n.nodeId);
            established.insert(n.nodeId);
            withinShare.insert(n.nodeId);
        } else if (onProbation(n.nodeId)) {
            established.insert(n.nodeId);
            if (n.activeSessions >= m_policy.probationMaxSessions)
                withinShare.insert(n.nodeId);
        }
    }
    for (const auto* skip : {&established, &withinShare, &always})
        if (auto chain = coverRange(span, nodes, *skip, false))
            return chain;
    return std::nullopt;
}

const NodeHistory* NodeReputation::historyOf(const std::string& nodeId) const {
    auto it = m_history.find(nodeId);
    return it == m_history.end() ? nullptr : &it->second;
}

QJsonObject NodeReputation::toJson(const std::string& nodeId) const {
    const NodeHistory* h = historyOf(nodeId);
    if (!h)
        return QJsonObject{{QStringLiteral("probation"), true}};
    return QJsonObject{{QStringLiteral("score"), h->score},
                       {QStringLiteral("probation"), onProbation(nodeId)},
                       {QStringLiteral("excluded"), excluded(nodeId)},
                       {QStringLiteral("stages_answered"), qint64(h->stagesAnswered)},
                       {QStringLiteral("timeouts"), qint64(h->timeouts)},
                       {QStringLiteral("stage_errors"), qint64(h->stageErrors)},
                       {QStringLiteral("expired_assignments"), qint64(h->expiredAssignments)},
                       {QStringLiteral("checks_passed"), qint64(h->checksPassed)},
                       {QStringLiteral("checks_failed"), qint64(h->checksFailed)},
                       {QStringLiteral("connections"), qint64(h->connections)}};
}

QJsonObject NodeReputation::save() const {
    QJsonObject nodes;
    for (const auto& [id, h] : m_history)
        nodes.insert(QString::fromStdString(id),
                     QJsonObject{{QStringLiteral("first_seen_ms"), qint64(h.firstSeenMs)},
                                 {QStringLiteral("connections"), qint64(h.connections)},
                                 {QStringLiteral("stages_answered"), qint64(h.stagesAnswered)},
                                 {QStringLiteral("timeouts"), qint64(h.timeouts)},
                                 {QStringLiteral("stage_errors"), qint64(h.stageErrors)},
                                 {QStringLiteral("consecutive_failures"), qint64(h.consecutiveFailures)},
                                 {QStringLiteral("expired_assignments"), qint64(h.expiredAssignments)},
                                 {QStringLiteral("checks_passed"), qint64(h.checksPassed)},
                                 {QStringLiteral("checks_failed"), qint64(h.checksFailed)},
                                 {QStringLiteral("excluded_until_ms"), qint64(h.excludedUntilMs)},
                                 {QStringLiteral("score"), h.score},
                                 {QStringLiteral("quarantined"), h.quarantined}});
    return QJsonObject{{QStringLiteral("version"), 1}, {QStringLiteral("nodes"), nodes}};
}

void NodeReputation::restore(const QJsonObject& saved) {
    m_history.clear();
    ++m_version;
    if (saved.value(QStringLiteral("version")).toInt() != 1)
        return;
    const QJsonObject nodes = saved.value(QStringLiteral("nodes")).toObject();
    for (auto it = nodes.begin(); it != nodes.end(); ++it) {
        const QJsonObject o = it.value().toObject();
        // Node ids are hex SHA-256: anything else is not ours.
        if (it.key().size() != 64 || o.isEmpty())
            continue;
        auto count = [&o](const char* key) {
            return static_cast<uint64_t>(std::max<qint64>(0, o.value(QLatin1String(key)).toInteger()));
        };
        NodeHistory h;
        h.firstSeenMs = o.value(QStringLiteral("first_seen_ms")).toInteger();
        h.connections = count("connections");
        h.stagesAnswered = count("stages_answered");
        h.timeouts = count("timeouts");
        h.stageErrors = count("stage_errors");
        h.consecutiveFailures = count("consecutive_failures");
        h.expiredAssignments = count("expired_assignments");
        h.checksPassed = count("checks_passed");
        h.checksFailed = count("checks_failed");
        h.excludedUntilMs = o.value(QStringLiteral("excluded_until_ms")).toInteger();
        h.score = std::clamp(o.value(QStringLiteral("score")).toDouble(0.5), 0.0, 1.0);
        h.quarantined = o.value(QStringLiteral("quarantined")).toBool();
        m_history[it.key().toStdString()] = h;
    }
}

} // namespace declai::server
