// Normalisation, rotary embedding, attention and elementwise ops.

// float -> nearest F16 -> float (storage through a ushort: a `half` variable needs cl_khr_fp16).
float round_f16(float v) {
    ushort bits;
    vstore_half_rte(v, 0, (__private half*)&bits);
    return vload_half(0, (__private const half*)&bits);
}


// One work-group per token: global = (L * nTokens), local = (L).
__kernel void rms_norm(__global const float* x, __global const float* weight, __global float* out, int n,
                       float eps, __local float* scratch) {
    const int t = get_group_id(0);
    __global const float* row = x + (ulong)t * (ulong)n;
    float sum = 0.0f;
    for (int i = get_local_id(0); i < n; i += get_local_size(0))
        sum += row[i] * row[i];
    sum = wg_sum(scratch, sum);
    const float scale = 1.0f / sqrt(sum / (float)n + eps);
    __global float* o = out + (ulong)t * (ulong)n;
    for (int i = get_local_id(0); i < n; i += get_local_size(0))
        o[i] = (row[i] * scale) * weight[i];
}

// global = (ropeDims / 2, heads, nTokens): rotates pair i of head h of token t in place; the pair is
// (2i, 2i+1), or (i, i + ropeDims/2) when neox is set. theta_i = pos * thetaScale^i by repeated
// multiplication in float, as the CPU reference builds its table (thetaScale = base^(-2/d) computed on the
// host), so only sin/cos differ. With hasFactors, pair i's angle is divided by factors[i] first (Llama 3.1's
// rope_freqs, LongRoPE's long or short set); without, `factors` is not read. cos and sin are multiplied by
// attnFactor (LongRoPE's rope.scaling.attn_factor; 1 otherwise), as ggml's mscale.
__kernel void rope(__global float* x, int headDim, int ropeDims, int startPos, float thetaScale,
                   float freqScale, int neox, __global const float* factors, int hasFactors,
                   float attnFactor) {
    const int i = get_global_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    const int heads = get_global_size(1);
    float theta = (float)(startPos + t);
    for (int k = 0; k < i; ++k)
        theta *= thetaScale;
    const float angle = freqScale * (hasFactors ? theta / factors[i] : theta);
    const float c = cos(angle) * attnFactor;
    const float s = sin(angle) * attnFactor;
    __global float* v = x + ((ulong)t * (ulong)heads + (ulong)h) * (ulong)headDim;
    const int i0 = neox ? i : 2 * i;
    const int i1 = neox ? i + ropeDims / 2 : 2 * i + 1;
    const float x0 = v[i0];
    const float x1 = v[i1];
    v[i0] = x0 * c - x1 * s;
    v[i1] = x0 * s + x1 * c;
}

// global = (nTokens * kvDim): stores new keys and values as F16 at cache row startPos + t.
__kernel void kv_store(__global const float* k, __global const float* v, __global half* keyCache,
                       __global half* valueCache, int startPos, int kvDim) {
    const int i = get_global_id(0);
    const ulong dst = (ulong)startPos * (ulong)kvDim + i;
    vstore_half_rte(k[i], dst, keyCache);
    vstore_half_rte(v[i], dst, valueCache);
}

// One work-group per (head, token): global = (L * headCount, nTokens), local = (L, 1). Scores go to
// `scores` (maxVisible floats per (token, head)) so any context length fits; the group computes them,
// reduces max and sum in local memory, then each work-item produces some of the output dimensions.
__kernel void attention(__global const float* q, __global const half* keyCache,
                        __global const half* valueCache, __global float* out, __global float* scores,
                        int startPos, int headCount, int kvHeadCount, int headDim, int maxVisible,
                        float scale, float softCap, int window, __local float* scratch) {
    const int h = get_group_id(0);
    const int t = get_global_id(1);
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    const int kvHead = h / (headCount / kvHeadCount);
    const int visible = startPos + t + 1;
    // Sliding-window layers see the last `window` positions only (AttentionParams::window).
    const int first = window > 0 ? max(0, visible - window) : 0;
    const ulong kvDim = (ulong)kvHeadCount * (ulong)headDim;
    const ulong qOffset = ((ulong)t * (ulong)headCount + (ulong)h) * (ulong)headDim;
    __global const float* query = q + qOffset;
    __global float* s = scores + ((ulong)t * (ulong)headCount + (ulong)h) * (ulong)maxVisible;

    float localMax = -INFINITY;
    for (int j = first + lid; j < visible; j += size) {
        __global const half* key = keyCache + (ulong)j * kvDim + (ulong)kvHead * (ulong)headDim;
        float dot = 0.0f;
        for (int d = 0; d < headDim; ++d)
            dot += query[d] * vload_half(d, key);
        const float score = softCap > 0.0f ? softCap * tanh(dot * scale) : dot * scale;
        s[j] = score;
        localMax = fmax(localMax, score);
    }
    const float maxScore = wg_max(scratch, localMax);
    float localSum = 0.0f;
    for (int j = first + lid; j < visible; j += size) {
        const float e = exp(s[j] - maxScore);
        s[j] = e;
        localSum += e;
    }
    const float sum = wg_sum(scratch, localSum);
    // The weights written above by other work-items of this group must be visible below.
    barrier(CLK_GLOBAL_MEM_FENCE);
    const float inverse = 1.0f / sum;
    __global const half* values = valueCache + (ulong)kvHead * (ulong)headDim;
    for (int d = lid; d < headDim; d += size) {
        float acc = 0.0f;
        for (int j = first; j < visible; ++j)
            acc += s[j] * vload_half((ulong)j * kvDim + d, values);
        out[qOffset + d] = acc * inverse;
    }
}

__kernel void swiglu(__global const float* gate, __global float* x) {
    const int i = get_global_id(0);
    const float g = gate[i];
    x[i] = (g / (1.0f + exp(-g))) * x[i];
}

// gelu_tanh(gate) * x with the gate and the GELU value rounded to F16 as llama.cpp's CPU table does
// (saturated outside [-10, 10]).
__kernel void gelu_glu(__global const float* gate, __global float* x) {
    const int i = get_global_id(0);
    const float g = gate[i];
    float gelu;
    if (g <= -10.0f) {
        gelu = 0.0f;
    } else if (g >= 10.0f) {
        gelu = g;
    } else {
        const float h = round_f16(g);
        const float inner = 0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h);
        gelu = round_f16(0.5f * h * (1.0f + tanh(inner)));
    }
    x[i] = gelu * x[i];
}

__kernel void add(__global float* x, __global const float* y) {
    const int i = get_global_id(0);
    x[i] += y[i];
}

// global = (rows * cols): x[r][c] += bias[c].
__kernel void add_bias(__global float* x, __global const float* bias, int cols) {
    const int i = get_global_id(0);
    x[i] += bias[i % cols];
}

// Mixture-of-experts combine, step 1 (DeviceOps::scatterScaledRows): global = (cols, count); dst row
// slots[first + i] = src row i * scales[that row]. A lone multiply, so nothing can be contracted into an
// FMA; rows outside [0, dstRows) are skipped (the indices are device data, never range-checked on the host).
__kernel void scatter_scaled_rows(__global const float* src, __global const int* slots, int first,
                                  __global const float* scales, __global float* dst, int dstRows, int cols) {
    const int c = get_global_id(0);
    const int i = get_global_id(1);
    const int j = slots[first + i];
    if (j < 0 || j >= dstRows)
        return;
    dst[(ulong)j * (ulong)cols + c] = src[(ulong)i * (ulong)cols + c] * scales[j];
}

// Step 2 (DeviceOps::sumRowGroups): global = (cols, groups); out row g = in rows g*groupSize.. added left
// to right, one rounded float add per row, as the CPU engine's addInPlace per slot.
__kernel void sum_row_groups(__global const float* in, __global float* out, int groupSize, int cols) {
    const int c = get_global_id(0);
    const int g = get_global_id(1);
    __global const float* rows = in + (ulong)g * (ulong)groupSize * (ulong)cols + c;
    float sum = rows[0];
    for (int k = 1; k < groupSize; ++k)
        sum = sum + rows[(ulong)k * (ulong)cols];
    out[(ulong)g * (ulong)cols + c] = sum;
}

// Rounds activations to the format the CPU reference multiplies with (see DeviceOps::roundActivations):
// one work-item per block, global = (nTokens * cols / block). kind: 0 copy (block 1), 1 F16 (block 1),
// 2 Q8_0 (block 32, F16 scale), 3 Q8_K (block 256, float scale), 4 Q8_1 (Q8_0, and block b's sum
// s = fp16(d * sum(q)) with the unrounded d in out[sumsAt + b], as llama.cpp's quantize_row_q8_1).
// rint() is round-half-even, like the reference's nearbyint.
__kernel void round_activations(__global const float* x, __global float* out, int kind, int block,
                                ulong sumsAt) {
    const ulong base = (ulong)get_global_id(0) * (ulong)block;
    __global const float* xb = x + base;
    __global float* ob = out + base;
    if (kind == 0) {
        ob[0] = xb[0];
    } else if (kind == 1) {
        ob[0] = round_f16(xb[0]);
    } else if (kind == 2 || kind == 4) {
        float amax = 0.0f;
        for (int i = 0; i < block; ++i)
            amax = fmax(amax, fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f; /* llama.cpp's x86 quantize_row_q8_0 */
        const float storedScale = round_f16(d);
        int sum = 0;
        for (int i = 0; i < block; ++i) {
            const float q = rint(xb[i] * id);
            ob[i] = storedScale * q;
            sum += (int)q;
        }
        if (kind == 4)
            out[sumsAt + get_global_id(0)] = round_f16(d * (float)sum);
    } else {
        float amax = 0.0f;
        float signedMax = 0.0f;
        for (int i = 0; i < block; ++i) {
            if (fabs(xb[i]) > amax) {
                amax = fabs(xb[i]);
                signedMax = xb[i];
            }
        }
        if (amax == 0.0f) {
            for (int i = 0; i < block; ++i)
                ob[i] = 0.0f;
            return;
        }
        const float iscale = -127.0f / signedMax;
        const float d = 1.0f / iscale;
        for (int i = 0; i < block; ++i)
            ob[i] = d * fmin(127.0f, rint(iscale * xb[i]));
    }
}

// AttentionParams::halfAccumulator (llama.cpp CPU numerics): the query rounded to F16, then for each
// output dimension a one-pass online softmax over rows 0.. in order with the weighted value sum rounded
// to F16 after every step. A separate kernel because PoCL mis-handles barriers in kernel-argument-
// dependent branches. Same launch shape and arguments as `attention` (minus the local scratch).
__kernel void attention_half(__global const float* q, __global const half* keyCache,
                             __global const half* valueCache, __global float* out, __global float* scores,
                             int startPos, int headCount, int kvHeadCount, int headDim, int maxVisible,
                             float scale, float softCap, int window) {
    const int h = get_group_id(0);
    const int t = get_global_id(1);
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    const int kvHead = h / (headCount / kvHeadCount);
    const int visible = startPos + t + 1;
    // Sliding-window layers see the last `window` positions only (AttentionParams::window).
    const int first = window > 0 ? max(0, visible - window) : 0;
    const ulong kvDim = (ulong)kvHeadCount * (ulong)headDim;
    const ulong qOffset = ((ulong)t * (ulong)headCount + (ulong)h) * (ulong)headDim;
    __global const float* query = q + qOffset;
    __global float* s = scores + ((ulong)t * (ulong)headCount + (ulong)h) * (ulong)maxVisible;
    for (int j = first + lid; j < visible; j += size) {
        __global const half* key = keyCache + (ulong)j * kvDim + (ulong)kvHead * (ulong)headDim;
        float dot = 0.0f;
        for (int d = 0; d < headDim; ++d)
            dot += round_f16(query[d]) * vload_half(d, key);
        s[j] = softCap > 0.0f ? softCap * tanh(dot * scale) : dot * scale;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    __global const half* values = valueCache + (ulong)kvHead * (ulong)headDim;
    for (int d = lid; d < headDim; d += size) {
        float acc = 0.0f;
        float maxScore = -INFINITY;
        float sum = 0.0f;
        for (int j = first; j < visible; ++j) {
            const float score = s[j];
            float oldScale = 1.0f;
            float weight = 1.0f;
            if (score > maxScore) {
                oldScale = exp(maxScore - score);
                maxScore = score;
                acc = round_f16(acc * oldScale);
            } else {
                weight = exp(score - maxScore);
            }
            acc = round_f16(acc + vload_half((ulong)j * kvDim + d, values) * weight);
            sum = sum * oldScale + weight;
        }
        out[qOffset + d] = acc * (sum == 0.0f ? 0.0f : 1.0f / sum);
    }
}
