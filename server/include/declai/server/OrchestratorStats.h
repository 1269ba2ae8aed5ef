// The orchestrator's counters since start (GET /v1/status, /metrics). Threading: main thread only.
#pragma once

#include <cstdint>

namespace declai::server {

struct OrchestratorStats {
    uint64_t sessionsStarted = 0;
    uint64_t sessionsCompleted = 0;
    uint64_t sessionsFailed = 0;
    uint64_t failovers = 0;
    uint64_t badSignatures = 0;
    // Frames from authenticated nodes that the channel refused (a replayed seq, a malformed frame ...).
    uint64_t protocolViolations = 0;
    // Signed stage answers dropped: for a session that ended, or one or a step the node was not given.
    uint64_t strayStageAnswers = 0;
    uint64_t hiddenBytesSent = 0; // gateway -> node payload bytes of completed sessions
    uint64_t stageHops = 0;       // stage requests of completed sessions
    uint64_t tokensGenerated = 0;
    uint64_t verificationsPassed = 0;
    uint64_t verificationsFailed = 0;
    uint64_t verificationsSkipped = 0; // sampled, but the verifier's queue was full
    uint64_t cheatersQuarantined = 0;
    uint64_t nodeComputeUs = 0; // as reported in accepted stage answers
};

} // namespace declai::server
