// Reproducible test data: n normally distributed floats (mean 0) from a fixed seed. Qt-free, so the
// cross-compiled NEON check and the Google Benchmark programs can use it too.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace declai::testdata {

inline std::vector<float> randomValues(int64_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v)
        x = dist(rng);
    return v;
}

} // namespace declai::testdata
