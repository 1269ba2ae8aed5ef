#include "declai/core/OpenSslErrors.h"

#include <openssl/err.h>

namespace declai {

std::string drainOpensslErrors() {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!text.empty())
            text.append("; ");
        text.append(buffer);
    }
    return text.empty() ? std::string("unknown OpenSSL error") : text;
}

int refusePassphrase(char*, int, int, void*) {
    return -1;
}

} // namespace declai
