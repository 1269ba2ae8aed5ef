// OpenSSL's error queue as text, and the passphrase callback, for the modules that call OpenSSL (identities,
// TLS setup). The header needs no OpenSSL headers, so users of core still see none.
#pragma once

#include <string>

namespace declai {

// Drains this thread's OpenSSL error queue into one line ("err; err"), or "unknown OpenSSL error" when it
// is empty. Draining also keeps stale errors from being reported by an unrelated later call.
std::string drainOpensslErrors();

// A pem_password_cb that refuses every passphrase. Passing it keeps OpenSSL from prompting on the terminal
// (its default when no callback is given): a server or node must not block on stdin, and we do not support
// encrypted keys, so an encrypted PEM fails to load with an error instead.
int refusePassphrase(char* buffer, int size, int rwflag, void* userData);

} // namespace declai
