#version 450
// Causal softmax attention over the F16 cache. One work-group per (head, token): the group computes the
// scores into `scores` (maxVisible floats per (token, head), so any context fits), reduces max and sum,
// then each invocation produces some output dimensions. Same algorithm as the OpenCL kernel.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer KC { uint kc[]; };
layout(std430, binding = 2) readonly buffer VC { uint vc[]; };
layout(std430, binding = 3) writeonly buffer Out { float o[]; };
layout(std430, binding = 4) coherent buffer Scores { float s[]; };
layout(push_constant) uniform Params {
    uint startPos; uint headCount; uint kvHeadCount; uint headDim; uint maxVisible; float scale; uint halfAccumulator;
    float softCap; uint window;
} p;

void main() {
    const uint h = gl_WorkGroupID.x;
    const uint t = gl_WorkGroupID.y;
    const uint lid = gl_LocalInvocationID.x;
    const uint kvHead = h / (p.headCount / p.kvHeadCount);
    const uint visible = p.startPos + t + 1u;
    // Sliding-window layers see the last `window` positions only (AttentionParams::window).
    const uint first = (p.window > 0u && visible > p.window) ? visible - p.window : 0u;
    const uint kvDim = p.kvHeadCount * p.headDim;
    const uint qOffset = (t * p.headCount + h) * p.headDim;
    const uint sOffset = (t * p.headCount + h) * p.maxVisible;

    float localMax = -1.0 / 0.0;
    for (uint j = first + lid; j < visible; j += DECLAI_GROUP) {
        const uint key = j * kvDim + kvHead * p.headDim;
        float dot = 0.0;
        for (uint d = 0u; d < p.headDim; ++d)
            dot += (p.halfAccumulator != 0u ? roundF16(q[qOffset + d]) : q[qOffset + d]) * HALF_AT(kc, key + d);
        const float score = p.softCap > 0.0 ? p.softCap * tanh(dot * p.scale) : dot * p.scale;
        s[sOffset + j] = score;
        localMax = max(localMax, score);
    }
    if (p.halfAccumulator != 0u) {
        // llama.cpp CPU numerics (AttentionParams::halfAccumulator): rows in order, F16 running sum.
        memoryBarrierBuffer();
        barrier();
        const uint valueBase = kvHead * p.headDim;
        for (uint d = lid; d < p.headDim; d += DECLAI_GROUP) {
            float acc = 0.0;
            float maxScore = -1.0 / 0.0;
            float sum = 0.0;
            for (uint j = first; j < visible; ++j) {
                const float score = s[sOffset + j];
                float oldScale = 1.0;
                float weight = 1.0;
                if (score > maxScore) {
                    oldScale = exp(maxScore - score);
                    maxScore = score;
                    acc = roundF16(acc * oldScale);
                } else {
                    weight = exp(score - maxScore);
                }
                acc = roundF16(acc + HALF_AT(vc, j * kvDim + valueBase + d) * weight);
                sum = sum * oldScale + weight;
            }
            o[qOffset + d] = acc * (sum == 0.0 ? 0.0 : 1.0 / sum);
        }
        return;
    }
    const float maxScore = wgMax(localMax);
    float localSum = 0.0;
    for (uint j = first + lid; j < visible; j += DECLAI_GROUP) {
        const float e = exp(s[sOffset + j] - maxScore);
        s[sOffset + j] = e;
        localSum += e;
    }
    const float sum = wgSum(localSum);
    // The weights other invocations of this group wrote above must be visible below.
    memoryBarrierBuffer();
    barrier();
    const float inverse = 1.0 / sum;
    const uint valueBase = kvHead * p.headDim;
    for (uint d = lid; d < p.headDim; d += DECLAI_GROUP) {
        float acc = 0.0;
        for (uint j = first; j < visible; ++j)
            acc += s[sOffset + j] * HALF_AT(vc, j * kvDim + valueBase + d);
        o[qOffset + d] = acc * inverse;
    }
}
