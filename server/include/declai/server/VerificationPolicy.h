// How often the gateway re-checks a node's work, and how close an honest answer must be.
#pragma once

namespace declai::server {

struct VerificationPolicy {
    double initialRate = 0.5;  // a new node: every other stage is checked
    double floorRate = 0.03;   // never below (a cheater on every step escapes n checks with (1-p)^n)
    double recordScale = 10.0; // rate = max(floor, initial / (1 + consecutiveValid / recordScale))
    // Tolerance: honest nodes on CPU, OpenCL, Vulkan or CUDA differ only by float rounding; cheats differ by
    // orders of magnitude more. Measured in tests/server/tst_verifier.cpp.
    double minCosine = 0.999;
    double maxNormalizedError = 0.05; // max |a - b| / max |reference|
    // Checks waiting for the verifier's (low-priority) thread; past this a session's work is not sampled, so
    // a gateway too busy to verify holds bounded memory (each job holds a stage's whole input history).
    int maxQueuedChecks = 64;
};

} // namespace declai::server
