#include "declai/server/Links.h"

#include <algorithm>

namespace declai::server {

void NodeLink::recordStageTiming(uint64_t layerTokens, qint64 roundTripUs) {
    if (layerTokens == 0)
        return;
    const double seconds = static_cast<double>(std::max<qint64>(roundTripUs, 1)) / 1e6;
    const double sample = static_cast<double>(layerTokens) / seconds;
    // Exponential smoothing: one slow answer (a long prompt, a busy moment) does not reorder the swarm.
    measuredLayerTokensPerS =
        measuredLayerTokensPerS > 0 ? 0.7 * measuredLayerTokensPerS + 0.3 * sample : sample;
}

} // namespace declai::server
