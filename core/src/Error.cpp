#include "declai/core/Error.h"

namespace declai {

const char* errorCodeName(ErrorCode code) {
    switch (code) {
    case ErrorCode::InvalidArgument:
        return "invalid argument";
    case ErrorCode::NotFound:
        return "not found";
    case ErrorCode::Io:
        return "I/O error";
    case ErrorCode::Format:
        return "format error";
    case ErrorCode::Unsupported:
        return "unsupported";
    case ErrorCode::OutOfMemory:
        return "out of memory";
    case ErrorCode::DeviceLost:
        return "device lost";
    case ErrorCode::DriverMissing:
        return "driver missing";
    case ErrorCode::Protocol:
        return "protocol error";
    case ErrorCode::Internal:
        return "internal error";
    case ErrorCode::Unauthorized:
        return "unauthorized";
    case ErrorCode::Forbidden:
        return "forbidden";
    case ErrorCode::Conflict:
        return "conflict";
    case ErrorCode::RateLimited:
        return "rate limited";
    }
    return "error";
}

} // namespace declai
