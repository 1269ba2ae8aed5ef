#include "declai/server/Links.h"

#include <algorithm>

namespace declai::server {

double NodeLink::layerTokensPerS() const {
    double best = 0;
    for (const auto& d : status.devices())
        best = std::max(best, d.layer_tokens_per_s());
    return best;
}

} // namespace declai::server
