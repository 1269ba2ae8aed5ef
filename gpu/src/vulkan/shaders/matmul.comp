#version 450
// y[t][r] = dot(W.row(r), x[t]). One work-group per (row, block of TOKENS_PER_GROUP tokens): the row's
// units are strided over the group, dequantised once and multiplied with every token of the block.
// x holds the activations round_activations rounded; for Q4_1/Q5_1 (BLOCK_MINS) their block sums follow
// the nTokens * cols values and each block adds m * s. Compiled once per format with -DFMT=n.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Weights { uint w[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint rows; uint cols; uint nTokens; uint rowBytes; } p;
#define SEPARATE_MINS
#include "quant.glsl"
#define TOKENS_PER_GROUP 8u

void main() {
    const uint r = gl_WorkGroupID.x;
    const uint t0 = gl_WorkGroupID.y * TOKENS_PER_GROUP;
    const uint count = min(TOKENS_PER_GROUP, p.nTokens - t0);
    const uint row = r * p.rowBytes;
    const uint units = p.cols / VPU;
    float acc[TOKENS_PER_GROUP];
    for (uint t = 0u; t < TOKENS_PER_GROUP; ++t)
        acc[t] = 0.0;
    float v[VPU];
    for (uint u = gl_LocalInvocationID.x; u < units; u += DECLAI_GROUP) {
        unitValues(row, u, v);
#ifdef BLOCK_MINS
        const float m = blockMin(row, u);
#endif
        for (uint t = 0u; t < count; ++t) {
            const uint xb = (t0 + t) * p.cols + u * VPU;
            float sum = 0.0;
            for (uint l = 0u; l < VPU; ++l)
                sum += v[l] * x[xb + l];
#ifdef BLOCK_MINS
            sum += m * x[p.nTokens * p.cols + (t0 + t) * units + u];
#endif
            acc[t] += sum;
        }
    }
    // count is uniform over the group, so every invocation reaches the same barriers.
    for (uint t = 0u; t < count; ++t) {
        const float total = wgSum(acc[t]);
        if (gl_LocalInvocationID.x == 0u)
            y[(t0 + t) * p.rows + r] = total;
    }
}
