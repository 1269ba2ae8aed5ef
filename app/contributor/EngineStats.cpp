#include "EngineStats.h"

namespace declai::node {

QString engineStateName(EngineState state) {
    switch (state) {
    case EngineState::Stopped:
        return QStringLiteral("stopped");
    case EngineState::Starting:
        return QStringLiteral("starting");
    case EngineState::Connecting:
        return QStringLiteral("connecting");
    case EngineState::Idle:
        return QStringLiteral("idle");
    case EngineState::Computing:
        return QStringLiteral("computing");
    case EngineState::Paused:
        return QStringLiteral("paused");
    case EngineState::Disconnected:
        return QStringLiteral("disconnected");
    case EngineState::Error:
        return QStringLiteral("error");
    }
    return QStringLiteral("unknown");
}

QString pauseKindName(PauseKind kind) {
    switch (kind) {
    case PauseKind::None:
        return QStringLiteral("none");
    case PauseKind::User:
        return QStringLiteral("user");
    case PauseKind::Snooze:
        return QStringLiteral("snooze");
    case PauseKind::Schedule:
        return QStringLiteral("schedule");
    case PauseKind::Rule:
        return QStringLiteral("rule");
    case PauseKind::Stopping:
        return QStringLiteral("stopping");
    }
    return QStringLiteral("unknown");
}

} // namespace declai::node
