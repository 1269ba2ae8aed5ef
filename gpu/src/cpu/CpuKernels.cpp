#include "declai/gpu/CpuKernels.h"

#include "declai/core/Quant.h"

#include <algorithm>
#include <cmath>

namespace declai::cpu {

void matmul(const WeightMatrix& w, const float* x, int64_t nTokens, float* y, ThreadPool& pool,
            std::vector<std::byte>& scratch) {
    const size_t actRowBytes = quant::activationRowBytes(w.type, w.cols);
    scratch.resize(actRowBytes * static_cast<size_t>(nTokens));
    for (int64_t t = 0; t < nTokens; ++t)
        quant::quantizeActivationRow(w.type, x + t * w.cols, scratch.data() + actRowBytes * static_cast<size_t>(t),
                                     w.cols);
    const std::byte* act = scratch.data();
    pool.parallelFor(w.rows, 16, [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r) {
            const std::byte* row = w.row(r);
            for (int64_t t = 0; t < nTokens; ++t)
                y[t * w.rows + r] = quant::dotRow(w.type, row, act + actRowBytes * static_cast<size_t>(t), w.cols);
        }
    });
}

void rmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i)
        out[i] = (x[i] * scale) * weight[i];
}

void ropeTable(int64_t position, int64_t ropeDims, float freqBase, float freqScale, const float* freqFactors,
               float* cosSin) {
    // theta_i = pos * base^(-2i/d), computed by repeated multiplication in float like ggml so results match.
    const float thetaScale = std::pow(freqBase, -2.0f / static_cast<float>(ropeDims));
    float theta = static_cast<float>(position);
    for (int64_t i = 0; i < ropeDims / 2; ++i) {
        const float factor = freqFactors ? freqFactors[i] : 1.0f;
        const float angle = freqScale * (theta / factor);
        cosSin[2 * i] = std::cos(angle);
        cosSin[2 * i + 1] = std::sin(angle);
        theta *= thetaScale;
    }
}

void applyRope(float* x, int64_t heads, int64_t headDim, int64_t ropeDims, const float* cosSin) {
    for (int64_t h = 0; h < heads; ++h) {
        float* v = x + h * headDim;
        for (int64_t i = 0; i < ropeDims / 2; ++i) {
            const float c = cosSin[2 * i];
            const float s = cosSin[2 * i + 1];
            const float x0 = v[2 * i];
            const float x1 = v[2 * i + 1];
            v[2 * i] = x0 * c - x1 * s;
            v[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

void swiGlu(const float* gate, float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        x[i] = (g / (1.0f + std::exp(-g))) * x[i];
    }
}

void addInPlace(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        x[i] += y[i];
}

void softmax(float* x, int64_t n) {
    float maxValue = -INFINITY;
    for (int64_t i = 0; i < n; ++i)
        maxValue = std::max(maxValue, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float e = std::exp(x[i] - maxValue);
        x[i] = e;
        sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i)
        x[i] *= inv;
}

} // namespace declai::cpu
