#version 450
// Mixture-of-experts combine, step 1 (DeviceOps::scatterScaledRows): dst row slots[first + i] = src row i *
// scales[that row]; one invocation per value of src. A lone multiply, so nothing can be contracted into an
// FMA; rows outside [0, dstRows) are skipped (the indices are device data, never range-checked on the host).
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) readonly buffer Slots { int slots[]; };
layout(std430, binding = 2) readonly buffer Scales { float scales[]; };
layout(std430, binding = 3) writeonly buffer Dst { float dst[]; };
layout(push_constant) uniform Params { uint first; uint count; uint dstRows; uint cols; } p;

void main() {
    const uint v = flatIndex();
    if (v >= p.count * p.cols)
        return;
    const uint i = v / p.cols;
    const uint c = v % p.cols;
    const int j = slots[p.first + i];
    if (j < 0 || uint(j) >= p.dstRows)
        return;
    dst[uint(j) * p.cols + c] = src[v] * scales[j];
}
