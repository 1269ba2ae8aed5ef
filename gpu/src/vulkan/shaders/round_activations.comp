#version 450
// Rounds activations to the format the CPU reference multiplies with (DeviceOps::roundActivations):
// one invocation per block. kind: 0 copy (block 1), 1 F16 (block 1), 2 Q8_0 (block 32, F16 scale),
// 3 Q8_K (block 256, float scale), 4 Q8_1 (Q8_0, and block b's sum s = fp16(d * sum(q)) with the
// unrounded d in o[sumsAt + b], as llama.cpp's quantize_row_q8_1). roundEven matches the reference's
// nearbyint; F16 rounding uses the exact round-to-nearest-even f32ToF16.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params { uint blocks; uint kind; uint block; uint sumsAt; } p;

void main() {
    const uint b = flatIndex();
    if (b >= p.blocks)
        return;
    const uint base = b * p.block;
    if (p.kind == 0u) {
        o[base] = x[base];
    } else if (p.kind == 1u) {
        o[base] = roundF16(x[base]);
    } else if (p.kind == 2u || p.kind == 4u) {
        float amax = 0.0;
        for (uint i = 0u; i < p.block; ++i)
            amax = max(amax, abs(x[base + i]));
        const float d = amax / 127.0;
        const float id = amax != 0.0 ? 127.0 / amax : 0.0; // llama.cpp's x86 quantize_row_q8_0
        const float storedScale = roundF16(d);
        int sum = 0;
        for (uint i = 0u; i < p.block; ++i) {
            const float q = roundEven(x[base + i] * id);
            o[base + i] = storedScale * q;
            sum += int(q);
        }
        if (p.kind == 4u)
            o[p.sumsAt + b] = roundF16(d * float(sum));
    } else {
        float amax = 0.0;
        float signedMax = 0.0;
        for (uint i = 0u; i < p.block; ++i) {
            if (abs(x[base + i]) > amax) {
                amax = abs(x[base + i]);
                signedMax = x[base + i];
            }
        }
        if (amax == 0.0) {
            for (uint i = 0u; i < p.block; ++i)
                o[base + i] = 0.0;
            return;
        }
        const float iscale = -127.0 / signedMax;
        const float d = 1.0 / iscale;
        for (uint i = 0u; i < p.block; ++i)
            o[base + i] = d * min(127.0, roundEven(iscale * x[base + i]));
    }
}
