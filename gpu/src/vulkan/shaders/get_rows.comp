#version 450
// out[i] = table.row(ids[i]) dequantised; one invocation per (id, unit). Ids were range-checked on the
// host. Compiled once per format with -DFMT=n.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Table { uint w[]; };
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params { uint cols; uint count; uint rowBytes; } p;
#include "quant.glsl"

void main() {
    const uint units = p.cols / VPU;
    const uint item = flatIndex();
    if (item >= p.count * units)
        return;
    const uint i = item / units;
    const uint u = item % units;
    float v[VPU];
    unitValues(uint(ids[i]) * p.rowBytes, u, v);
    for (uint l = 0u; l < VPU; ++l)
        o[i * p.cols + u * VPU + l] = v[l];
}
