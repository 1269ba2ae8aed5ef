// A snapshot of the contributor engine for a GUI or a log: state, why it is paused, throughput, sessions,
// shards, download, last error. Plain data, copied across threads (registered for queued connections).
#pragma once

#include "declai/core/ContributionSchedule.h"

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>

namespace declai::node {

enum class EngineState {
    Stopped,      // not started, or stopped() was emitted
    Starting,     // loading the identity, opening devices
    Connecting,   // first connection attempt in progress
    Idle,         // connected, accepting sessions, none running
    Computing,    // connected, at least one session active
    Paused,       // connected (or not), taking no new sessions: see pauseKind
    Disconnected, // lost the server; reconnectInSeconds says when it tries again
    Error,        // cannot go on without the volunteer (bad settings, certificate refused): see lastError
};

enum class PauseKind {
    None,
    User,     // "Pause until resumed"
    Snooze,   // paused by the user until resumesAt
    Schedule, // outside the weekly grid; resumesAt = the grid's next change
    Rule,     // a rule (on battery, user active, full screen, no device enabled): see ruleReason
    Stopping, // stop() was called: finishing running sessions
};

struct ShardStats {
    QString model;
    qint64 layerBegin = 0;
    qint64 layerEnd = 0;
    qint64 bytes = 0; // on disk: the sparse shard file of this model (ranges of one model share one file)
    qint64 sessionsServed = 0; // distinct sessions this shard computed for, since start
    bool operator==(const ShardStats&) const = default;
};

struct DownloadStats {
    QString model; // empty when nothing downloads
    qint64 doneBytes = 0;
    qint64 totalBytes = 0;
    bool operator==(const DownloadStats&) const = default;
};

struct EngineStats {
    EngineState state = EngineState::Stopped;
    PauseKind pauseKind = PauseKind::None;
    RuleDecision::Reason ruleReason = RuleDecision::None; // with PauseKind::Rule / Schedule
    QString pauseText;     // English, e.g. "Paused: running on battery"; empty when not paused
    QDateTime resumesAt;   // snooze end or the schedule's next change; invalid when unknown
    QStringList ruleNotes; // rules that are on but cannot be checked here (RuleDecision::notes)

    QString nodeId;      // hex of the Ed25519 public key
    QString fingerprint; // short form shown to volunteers
    QString serverUrl;
    bool connected = false;
    int reconnectInSeconds = -1; // Disconnected: seconds until the next attempt; -1 otherwise

    double tokensPerSecond = 0;   // layer-tokens per second over the last ~10 s
    qint64 layerTokensServed = 0; // since start: tokens x layers computed
    qint64 stagesServed = 0;
    int sessionsActive = 0;
    qint64 sessionsServed = 0;                // distinct sessions since start
    double benchmarkLayerTokensPerSecond = 0; // the node's self-measured figure for its last shard

    QList<ShardStats> shards;
    DownloadStats download;

    QString device;  // the device computing now
    int threads = 0; // compute threads in use (after the CPU throttle)

    QString lastError; // English; empty when none
    QString whatToDo;  // English advice for lastError
};

// English names, for logs and tests ("computing", "paused").
QString engineStateName(EngineState state);
QString pauseKindName(PauseKind kind);

} // namespace declai::node

Q_DECLARE_METATYPE(declai::node::EngineStats)
