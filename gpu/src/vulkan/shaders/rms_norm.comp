#version 450
// One work-group per token.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float weight[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params { uint n; float eps; } p;

void main() {
    const uint base = gl_WorkGroupID.x * p.n;
    float sum = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += DECLAI_GROUP)
        sum += x[base + i] * x[base + i];
    sum = wgSum(sum);
    const float scale = 1.0 / sqrt(sum / float(p.n) + p.eps);
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += DECLAI_GROUP)
        o[base + i] = (x[base + i] * scale) * weight[i];
}
