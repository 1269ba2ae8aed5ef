#include "declai/core/WireCodec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <utility>

namespace declai::wire {

const char* messageTypeName(MessageType type) {
    switch (type) {
    case HELLO:
        return "Hello";
    case CHALLENGE:
        return "Challenge";
    case CHALLENGE_RESPONSE:
        return "ChallengeResponse";
    case WELCOME:
        return "Welcome";
    case REJECT:
        return "Reject";
    case NODE_STATUS:
        return "NodeStatus";
    case ASSIGN_LAYERS:
        return "AssignLayers";
    case SHARD_READY:
        return "ShardReady";
    case STAGE_REQUEST:
        return "StageRequest";
    case STAGE_RESPONSE:
        return "StageResponse";
    case END_SESSION:
        return "EndSession";
    case RELEASE_SHARD:
        return "ReleaseShard";
    case SHARD_CHALLENGE:
        return "ShardChallenge";
    case SHARD_PROOF:
        return "ShardProof";
    case STAGE_BATCH:
        return "StageBatch";
    case STAGE_BATCH_RESPONSE:
        return "StageBatchResponse";
    case SUBMIT:
        return "Submit";
    case TOKEN:
        return "Token";
    case DONE:
        return "Done";
    case FAILED:
        return "Failed";
    default:
        return "unknown message";
    }
}

Envelope makeEnvelope(MessageType type, uint64_t seq, std::string body) {
    Envelope envelope;
    envelope.set_protocol_version(kProtocolVersion);
    envelope.set_type(type);
    envelope.set_seq(seq);
    envelope.set_body(std::move(body));
    return envelope;
}

std::string encodeEnvelope(MessageType type, uint64_t seq, const google::protobuf::MessageLite& body,
                           const std::string& signature) {
    Envelope envelope = makeEnvelope(type, seq, body.SerializeAsString());
    if (!signature.empty())
        envelope.set_signature(signature);
    return envelope.SerializeAsString();
}

Expected<Envelope> decodeEnvelope(const std::string& frame, uint64_t maxBytes) {
    if (frame.size() > maxBytes)
        return makeError(ErrorCode::Protocol, "frame of " + std::to_string(frame.size()) +
                                                  " bytes exceeds the " + std::to_string(maxBytes) +
                                                  "-byte limit");
    Envelope envelope;
    if (frame.empty() || !envelope.ParseFromString(frame))
        return makeError(ErrorCode::Protocol, "malformed frame (" + std::to_string(frame.size()) +
                                                  " bytes): not a protocol envelope");
    if (envelope.protocol_version() < kMinProtocolVersion || envelope.protocol_version() > kProtocolVersion)
        return makeError(ErrorCode::Unsupported, // the channel answers this one with UNSUPPORTED_VERSION
                         "protocol version " + std::to_string(envelope.protocol_version()) +
                             " is not supported (this side speaks " + std::to_string(kMinProtocolVersion) +
                             ".." + std::to_string(kProtocolVersion) + ")");
    if (!MessageType_IsValid(envelope.type()) || envelope.type() == MESSAGE_TYPE_UNSPECIFIED)
        return makeError(ErrorCode::Protocol, "unknown message type " + std::to_string(int(envelope.type())));
    return envelope;
}

std::string signedPayload(const Envelope& envelope, const std::string& channelBinding) {
    SignedPayload payload;
    payload.set_protocol_version(envelope.protocol_version());
    payload.set_type(envelope.type());
    payload.set_seq(envelope.seq());
    payload.set_body(envelope.body());
    payload.set_channel_binding(channelBinding);
    std::string out;
    {
        // Deterministic serialisation so signer and verifier hash the same bytes; the streams flush
        // into `out` when they go out of scope.
        google::protobuf::io::StringOutputStream stream(&out);
        google::protobuf::io::CodedOutputStream coded(&stream);
        coded.SetSerializationDeterministic(true);
        payload.SerializeToCodedStream(&coded);
    }
    return out;
}

} // namespace declai::wire
