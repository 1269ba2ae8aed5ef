// Errors are values: every fallible call returns Expected<T>. Nothing that comes from disk or the network
// is ever checked with assert() or abort().
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace declai {

enum class ErrorCode {
    InvalidArgument,
    NotFound,
    Io,
    Format,      // malformed file or frame
    Unsupported, // well-formed but a feature we do not implement
    OutOfMemory,
    DeviceLost,
    DriverMissing,
    Protocol,
    Internal,
    // Account and API outcomes that a caller maps to distinct answers (HTTP 401, 403, 409, 429).
    Unauthorized, // no valid credential
    Forbidden,    // a valid credential that may not do this
    Conflict,     // the state does not allow it (e.g. a node bound to another account)
    RateLimited,  // try again later
};

const char* errorCodeName(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;

    std::string toString() const { return std::string(errorCodeName(code)) + ": " + message; }
};

inline Error makeError(ErrorCode code, std::string message) {
    return Error{code, std::move(message)};
}

// Minimal std::expected stand-in (C++20 has none): holds either a value or an Error.
template <class T>
class [[nodiscard]] Expected {
public:
    Expected(T value) : m_state(std::in_place_index<0>, std::move(value)) {}
    Expected(Error error) : m_state(std::in_place_index<1>, std::move(error)) {}

    bool hasValue() const { return m_state.index() == 0; }
    explicit operator bool() const { return hasValue(); }

    T& value() & { return std::get<0>(m_state); }
    const T& value() const& { return std::get<0>(m_state); }
    T&& value() && { return std::get<0>(std::move(m_state)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(m_state); }

private:
    std::variant<T, Error> m_state;
};

template <>
class [[nodiscard]] Expected<void> {
public:
    Expected() = default;
    Expected(Error error) : m_error(std::move(error)), m_failed(true) {}

    bool hasValue() const { return !m_failed; }
    explicit operator bool() const { return hasValue(); }
    const Error& error() const { return m_error; }

private:
    Error m_error;
    bool m_failed = false;
};

} // namespace declai
