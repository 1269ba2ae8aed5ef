// What an honest node answers to one stage request: the request's rows run through the node's executor,
// which holds `held`; the last `return_last_rows` rows (all when 0) go back in the request's encoding. Used
// by the in-process honest node (HonestNode.h) and by the fake session host (tst_generation_session).
#pragma once

#include "declai/core/HiddenStates.h"
#include "declai/core/WireCodec.h"
#include "declai/gpu/ShardExecutor.h"

#include <functional>
#include <span>
#include <vector>

namespace declai::testsupport {

// `onInput`, when set, sees the decoded input rows before they run.
inline wire::StageResponse
honestStageAnswer(ShardExecutor* executor, LayerRange held, const wire::StageRequest& r,
                  const std::function<void(const std::vector<float>&)>& onInput = {}) {
    wire::StageResponse response;
    response.set_session_id(r.session_id());
    response.set_step(r.step());
    response.set_layer_begin(r.layer_begin());
    response.set_layer_end(r.layer_end());
    response.set_hidden_size(r.hidden_size());
    response.set_encoding(r.encoding());
    auto rows = wire::decodeHidden(r.hidden(), r.encoding(), r.n_tokens(), r.hidden_size());
    if (!rows || !executor || static_cast<int64_t>(r.layer_begin()) != held.begin ||
        static_cast<int64_t>(r.layer_end()) != held.end) {
        response.set_error("cannot run this stage");
        return response;
    }
    if (onInput)
        onInput(*rows);
    if (r.replay())
        executor->endSession(r.session_id());
    // As a node runs it (ComputeWorker): the prompt length and chunk say how each row rounds.
    const BatchPart part{r.session_id(), r.start_pos(),     *rows,
                         r.n_tokens(),   r.prompt_tokens(), r.prompt_chunk_tokens()};
    if (auto ran = std::move(executor->forwardBatch(std::span<const BatchPart>(&part, 1)).front()); !ran) {
        response.set_error(ran.error().message);
        return response;
    }
    const uint32_t keep = r.return_last_rows() ? r.return_last_rows() : r.n_tokens();
    const size_t values = size_t(keep) * r.hidden_size();
    response.set_n_tokens(keep);
    response.set_hidden(wire::encodeHidden(
        std::span<const float>(rows->data() + rows->size() - values, values), r.encoding()));
    return response;
}

} // namespace declai::testsupport
