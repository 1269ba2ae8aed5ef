#version 450
// x[r][c] += bias[c]; one invocation per value of x.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Bias { float bias[]; };
layout(push_constant) uniform Params { uint n; uint cols; } p;

void main() {
    const uint i = flatIndex();
    if (i >= p.n)
        return;
    x[i] += bias[i % p.cols];
}
