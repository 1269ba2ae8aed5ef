#version 450
// x += y
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; } p;

void main() {
    const uint i = flatIndex();
    if (i >= p.n)
        return;
    x[i] += y[i];
}
