// OpenSSL's error queue as text, for the modules that call OpenSSL (identities, TLS setup). The header
// needs no OpenSSL headers, so users of core still see none.
#pragma once

#include <string>

namespace declai {

// Drains this thread's OpenSSL error queue into one line ("err; err"), or "unknown OpenSSL error" when it
// is empty. Draining also keeps stale errors from being reported by an unrelated later call.
std::string drainOpensslErrors();

} // namespace declai
