#version 450
// Stores new keys/values as F16 (round to nearest even) at cache rows startPos..; one invocation per
// pair of halves (one 32-bit word), so no two invocations write the same word. kvDim is even.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer V { float v[]; };
layout(std430, binding = 2) writeonly buffer KC { uint kc[]; };
layout(std430, binding = 3) writeonly buffer VC { uint vc[]; };
layout(push_constant) uniform Params { uint words; uint firstWord; } p;

void main() {
    const uint i = flatIndex();
    if (i >= p.words)
        return;
    kc[p.firstWord + i] = f32ToF16(k[2u * i]) | (f32ToF16(k[2u * i + 1u]) << 16);
    vc[p.firstWord + i] = f32ToF16(v[2u * i]) | (f32ToF16(v[2u * i + 1u]) << 16);
}
