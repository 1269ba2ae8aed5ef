#version 450
// x = silu(gate) * x
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Gate { float gate[]; };
layout(std430, binding = 1) buffer X { float x[]; };
layout(push_constant) uniform Params { uint n; } p;

void main() {
    const uint i = flatIndex();
    if (i >= p.n)
        return;
    const float g = gate[i];
    x[i] = (g / (1.0 + exp(-g))) * x[i];
}
