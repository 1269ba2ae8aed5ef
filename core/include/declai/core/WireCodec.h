// Envelope encoding for the wire protocol (core/proto/declai.proto). Decoding validates the version,
// the type and the size before anything else looks at the body; every field of a body is validated by
// the code that consumes it.
#pragma once

#include "declai/core/Error.h"
#include "proto/declai.pb.h"

#include <cstdint>
#include <string>

namespace declai::wire {

// Version 2: nodes prove they hold a shard before it is used (ShardChallenge/ShardProof), the first layers
// run on the gateway, and the model file nodes download is the withheld view (docs/protocol.md). Node and
// server ship together, so version 1 peers are refused with a clear reason.
constexpr uint32_t kProtocolVersion = 2;
constexpr uint32_t kMinProtocolVersion = 2;

const char* messageTypeName(MessageType type);

// An unsigned Envelope of this protocol version: the one place an envelope is assembled. Signing is the
// channel's job (net::Channel::sendSigned), over signedPayload() of this envelope.
Envelope makeEnvelope(MessageType type, uint64_t seq, std::string body);

// Serialises `body` into an Envelope of `type` (makeEnvelope), with `signature` when one is given.
std::string encodeEnvelope(MessageType type, uint64_t seq, const google::protobuf::MessageLite& body,
                           const std::string& signature = {});

// Parses one frame. Errors: Unsupported for a protocol version outside [kMinProtocolVersion,
// kProtocolVersion]; Protocol for a malformed protobuf, an unknown type or a frame over maxBytes.
Expected<Envelope> decodeEnvelope(const std::string& frame, uint64_t maxBytes);

// Parses the body of an envelope as `Message`, checking the envelope's type.
template <class Message>
Expected<Message> decodeBody(const Envelope& envelope, MessageType expected) {
    if (envelope.type() != expected)
        return makeError(ErrorCode::Protocol, std::string("expected ") + messageTypeName(expected) +
                                                  ", got " + messageTypeName(envelope.type()));
    Message message;
    if (!message.ParseFromString(envelope.body()))
        return makeError(ErrorCode::Protocol, std::string("malformed ") + messageTypeName(expected) +
                                                  " body (" + std::to_string(envelope.body().size()) +
                                                  " bytes)");
    return message;
}

// The bytes a signature covers: version, type, seq and body, bound to this connection's nonce.
std::string signedPayload(const Envelope& envelope, const std::string& channelBinding);

} // namespace declai::wire
