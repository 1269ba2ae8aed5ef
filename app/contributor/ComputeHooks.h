// A seam in the compute path for test-only behaviour (a slow node, a cheating node). The shipped declai-node
// passes none; tests/support/declai-test-node injects one. Threading: every hook runs on the compute thread,
// inside ComputeWorker::runStage.
#pragma once

#include "proto/declai.pb.h"

#include <span>
#include <vector>

namespace declai::node {

class ComputeHooks {
public:
    virtual ~ComputeHooks() = default;
    // Before the stage is computed (e.g. sleep to simulate a slow node).
    virtual void beforeStage(const wire::StageRequest& request) { (void)request; }
    // After the layers ran: `input` is the stage's input hidden states, `output` what the layers computed
    // (all rows); a hook may change `output`.
    virtual void afterForward(uint64_t stageIndex, std::span<const float> input, std::vector<float>& output) {
        (void)stageIndex, (void)input, (void)output;
    }
    // Just before the answer is signed and sent; a hook may change it.
    virtual void beforeAnswer(wire::StageResponse& response) { (void)response; }
};

} // namespace declai::node
