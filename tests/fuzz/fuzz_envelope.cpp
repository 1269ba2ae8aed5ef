// libFuzzer target: one WebSocket frame through the envelope decoder, then its body through the decoder of
// every message type, and the hidden states of stage messages through decodeHidden, as the gateway and the
// node do before a handler looks at a field.
#include "declai/core/HiddenStates.h"
#include "declai/core/WireCodec.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

template <class Message>
void decodeAs(const declai::wire::Envelope& envelope, declai::wire::MessageType type) {
    declai::wire::Envelope retyped = envelope;
    retyped.set_type(type);
    (void)declai::wire::decodeBody<Message>(retyped, type);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai::wire;
    const std::string frame(reinterpret_cast<const char*>(data), size);
    auto envelope = decodeEnvelope(frame, 1u << 20);
    if (!envelope)
        return 0;
    (void)signedPayload(*envelope, "binding");
    decodeAs<Hello>(*envelope, HELLO);
    decodeAs<Challenge>(*envelope, CHALLENGE);
    decodeAs<ChallengeResponse>(*envelope, CHALLENGE_RESPONSE);
    decodeAs<Welcome>(*envelope, WELCOME);
    decodeAs<Reject>(*envelope, REJECT);
    decodeAs<NodeStatus>(*envelope, NODE_STATUS);
    decodeAs<AssignLayers>(*envelope, ASSIGN_LAYERS);
    decodeAs<ShardReady>(*envelope, SHARD_READY);
    decodeAs<ShardChallenge>(*envelope, SHARD_CHALLENGE);
    decodeAs<ShardProof>(*envelope, SHARD_PROOF);
    decodeAs<EndSession>(*envelope, END_SESSION);
    decodeAs<ReleaseShard>(*envelope, RELEASE_SHARD);
    decodeAs<Submit>(*envelope, SUBMIT);
    decodeAs<Token>(*envelope, TOKEN);
    decodeAs<Done>(*envelope, DONE);
    decodeAs<Failed>(*envelope, FAILED);
    decodeAs<StageBatch>(*envelope, STAGE_BATCH);
    decodeAs<StageBatchResponse>(*envelope, STAGE_BATCH_RESPONSE);
    StageBatch batch;
    if (batch.ParseFromString(envelope->body()))
        for (const StageRequest& r : batch.requests())
            (void)decodeHidden(r.hidden(), r.encoding(), r.n_tokens(), r.hidden_size());
    StageBatchResponse answers;
    if (answers.ParseFromString(envelope->body()))
        for (const StageResponse& r : answers.responses())
            (void)decodeHidden(r.hidden(), r.encoding(), r.n_tokens(), r.hidden_size());
    StageRequest request;
    if (request.ParseFromString(envelope->body()))
        (void)decodeHidden(request.hidden(), request.encoding(), request.n_tokens(), request.hidden_size());
    StageResponse response;
    if (response.ParseFromString(envelope->body()))
        (void)decodeHidden(response.hidden(), response.encoding(), response.n_tokens(),
                           response.hidden_size());
    return 0;
}
