#version 450
// Mixture-of-experts combine, step 2 (DeviceOps::sumRowGroups): out row g = in rows g*groupSize.. added left
// to right, one rounded float add per row as the CPU engine's addInPlace per slot; one invocation per value
// of out.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };
layout(push_constant) uniform Params { uint groups; uint groupSize; uint cols; } p;

void main() {
    const uint v = flatIndex();
    if (v >= p.groups * p.cols)
        return;
    const uint g = v / p.cols;
    const uint c = v % p.cols;
    const uint base = g * p.groupSize * p.cols + c;
    float sum = x[base];
    for (uint k = 1; k < p.groupSize; ++k)
        sum = sum + x[base + k * p.cols];
    y[v] = sum;
}
