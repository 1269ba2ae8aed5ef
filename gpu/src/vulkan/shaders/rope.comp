#version 450
// One invocation per rotated pair (token, head, i). theta_i = pos * thetaScale^i by repeated
// multiplication in float, exactly as the CPU reference builds its table (thetaScale = base^(-2/d) is
// computed on the host), so only sin/cos differ.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(push_constant) uniform Params {
    uint pairs; uint heads; uint headDim; uint ropeDims; uint startPos; float thetaScale; float freqScale;
} p;

void main() {
    const uint item = flatIndex();
    if (item >= p.pairs)
        return;
    const uint halfDims = p.ropeDims / 2u;
    const uint i = item % halfDims;
    const uint h = (item / halfDims) % p.heads;
    const uint t = item / (halfDims * p.heads);
    float theta = float(p.startPos + t);
    for (uint k = 0u; k < i; ++k)
        theta *= p.thetaScale;
    const float angle = p.freqScale * theta;
    const float c = cos(angle);
    const float s = sin(angle);
    const uint base = (t * p.heads + h) * p.headDim + 2u * i;
    const float x0 = x[base];
    const float x1 = x[base + 1u];
    x[base] = x0 * c - x1 * s;
    x[base + 1u] = x0 * s + x1 * c;
}
