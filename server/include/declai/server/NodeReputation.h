// The gateway's memory of node identities: what each node id has done (answers, timeouts, expired
// assignments, verification results) and what follows from it — a per-node answer timeout, exclusion with
// exponential backoff after timeouts, and probation for identities without a record. Records are kept by
// node id (the hash of its public key), not by connection, so a node that reconnects with the same key keeps
// its record; a fresh key starts on probation. docs/security.md ("Node misbehaviour") states the rules.
// Threading: main thread only. The clock is injected so the rules are testable without waiting.
#pragma once

#include "declai/server/Placement.h"

#include <QJsonObject>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace declai::server {

struct ReputationPolicy {
    // A node that has never answered gets a short first-answer timeout: a silent identity costs a session
    // at most this long, not the full stage timeout.
    int firstAnswerTimeoutMs = 10000;
    // After a timeout (or an assignment it never confirmed) a node is left out of new chains and placement
    // for this long, doubling with each consecutive failure, up to maxBackoffMs.
    int64_t backoffMs = 60000;
    int64_t maxBackoffMs = 3600000;
    // An assignment not confirmed ready within base + size / minimum rate is withdrawn and placed elsewhere.
    int64_t assignmentDeadlineMs = 120000;
    uint64_t assignmentMinBytesPerS = 1u << 20;
    // Probation: a new identity is verified on every stage, comes after established nodes when chains are
    // chosen and is in at most probationMaxSessions sessions at once while others can serve. It ends when
    // the node has probationStages accepted stage answers, probationChecks passed checks and is at least
    // probationMinMs old.
    uint64_t probationStages = 20;
    uint64_t probationChecks = 5;
    int64_t probationMinMs = 10 * 60 * 1000;
    uint32_t probationMaxSessions = 2;
};

struct NodeHistory {
    int64_t firstSeenMs = 0;
    uint64_t connections = 0;
    uint64_t stagesAnswered = 0;
    uint64_t timeouts = 0;
    uint64_t stageErrors = 0;
    uint64_t consecutiveFailures = 0; // timeouts and expired assignments since the last good answer
    uint64_t expiredAssignments = 0;
    uint64_t checksPassed = 0;
    uint64_t checksFailed = 0;
    int64_t excludedUntilMs = 0;
    double score = 0.5; // 0..1: new identities start in the middle
    bool quarantined = false;
};

class NodeReputation {
public:
    using Clock = std::function<int64_t()>; // ms, monotonic enough for backoffs
    explicit NodeReputation(ReputationPolicy policy, Clock clock = {});

    const ReputationPolicy& policy() const { return m_policy; }
    bool known(const std::string& nodeId) const { return m_history.count(nodeId) > 0; }
    // A node authenticated (new or returning).
    void connected(const std::string& nodeId);
    // An answer accepted (right shape, finite values).
    void answered(const std::string& nodeId);
    // No answer within its timeout: lowers the score and excludes the node for a backoff.
    void timedOut(const std::string& nodeId);
    // The node answered with an error instead of rows: the same backoff, counted apart.
    void reportedError(const std::string& nodeId);
    // An assignment it accepted was not confirmed ready in time: same backoff as a timeout.
    void assignmentExpired(const std::string& nodeId);
    void verified(const std::string& nodeId, bool valid);
    void quarantined(const std::string& nodeId); // cut off for good (kept with the record)
    std::vector<std::string> quarantinedIds() const;

    bool excluded(const std::string& nodeId) const;
    bool onProbation(const std::string& nodeId) const;
    // The answer timeout for this node: the first-answer timeout until it has answered once.
    int answerTimeoutMs(const std::string& nodeId, int stageTimeoutMs) const;
    int64_t assignmentDeadlineMs(uint64_t bytes) const;
    // A chain for a new session: established nodes only if they cover the model; else with nodes on
    // probation that are in fewer than probationMaxSessions sessions; else any. Excluded nodes never.
    // `span` is the layers nodes serve (those after the gateway's own).
    std::optional<std::vector<ChainStage>> chainFor(LayerRange span, const std::vector<NodeShards>& nodes,
                                                    const std::set<std::string>& exclude) const;
    const NodeHistory* historyOf(const std::string& nodeId) const;
    QJsonObject toJson(const std::string& nodeId) const;

    // Every record, for ReputationStore; restore() replaces the records with those in `saved` and skips
    // entries it cannot read. version() changes with every update (so unchanged records are not rewritten).
    QJsonObject save() const;
    void restore(const QJsonObject& saved);
    uint64_t version() const { return m_version; }

private:
    NodeHistory& record(const std::string& nodeId);
    void penalise(NodeHistory& h);
    int64_t now() const { return m_clock(); }

    ReputationPolicy m_policy;
    Clock m_clock;
    std::map<std::string, NodeHistory> m_history;
    uint64_t m_version = 0;
};

} // namespace declai::server
