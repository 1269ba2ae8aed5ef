#version 450
// One invocation per rotated pair (token, head, i). theta_i = pos * thetaScale^i by repeated
// multiplication in float, exactly as the CPU reference builds its table (thetaScale = base^(-2/d) is
// computed on the host), so only sin/cos differ. With hasFactors, pair i's angle is divided by factors[i]
// first (Llama 3.1's rope_freqs, LongRoPE's long or short set); without, binding 1 is not read. cos and sin
// are multiplied by attnFactor (LongRoPE's rope.scaling.attn_factor; 1 otherwise), as ggml's mscale.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer F { float factors[]; };
layout(push_constant) uniform Params {
    uint pairs; uint heads; uint headDim; uint ropeDims; uint startPos; float thetaScale; float freqScale;
    uint neox; // pairs (i, i + ropeDims/2) instead of (2i, 2i+1)
    uint hasFactors;
    float attnFactor;
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
    const float angle = p.freqScale * (p.hasFactors != 0u ? theta / factors[i] : theta);
    const float c = cos(angle) * p.attnFactor;
    const float s = sin(angle) * p.attnFactor;
    const uint head = (t * p.heads + h) * p.headDim;
    const uint i0 = head + (p.neox != 0u ? i : 2u * i);
    const uint i1 = head + (p.neox != 0u ? i + halfDims : 2u * i + 1u);
    const float x0 = x[i0];
    const float x1 = x[i1];
    x[i0] = x0 * c - x1 * s;
    x[i1] = x0 * s + x1 * c;
}
