// Normalisation, rotary embedding, attention and elementwise ops.

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

// global = (ropeDims / 2, heads, nTokens): rotates pair i of head h of token t in place.
__kernel void rope(__global float* x, int headDim, int ropeDims, int startPos, float freqBase,
                   float freqScale) {
    const int i = get_global_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    const int heads = get_global_size(1);
    const float theta = (float)(startPos + t) * pow(freqBase, -2.0f * (float)i / (float)ropeDims);
    const float angle = freqScale * theta;
    const float c = cos(angle);
    const float s = sin(angle);
    __global float* v = x + ((ulong)t * (ulong)heads + (ulong)h) * (ulong)headDim + 2 * i;
    const float x0 = v[0];
    const float x1 = v[1];
    v[0] = x0 * c - x1 * s;
    v[1] = x0 * s + x1 * c;
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
                        float scale, __local float* scratch) {
    const int h = get_group_id(0);
    const int t = get_global_id(1);
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    const int kvHead = h / (headCount / kvHeadCount);
    const int visible = startPos + t + 1;
    const ulong kvDim = (ulong)kvHeadCount * (ulong)headDim;
    const ulong qOffset = ((ulong)t * (ulong)headCount + (ulong)h) * (ulong)headDim;
    __global const float* query = q + qOffset;
    __global float* s = scores + ((ulong)t * (ulong)headCount + (ulong)h) * (ulong)maxVisible;

    float localMax = -INFINITY;
    for (int j = lid; j < visible; j += size) {
        __global const half* key = keyCache + (ulong)j * kvDim + (ulong)kvHead * (ulong)headDim;
        float dot = 0.0f;
        for (int d = 0; d < headDim; ++d)
            dot += query[d] * vload_half(d, key);
        const float score = dot * scale;
        s[j] = score;
        localMax = fmax(localMax, score);
    }
    const float maxScore = wg_max(scratch, localMax);
    float localSum = 0.0f;
    for (int j = lid; j < visible; j += size) {
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
        for (int j = 0; j < visible; ++j)
            acc += s[j] * vload_half((ulong)j * kvDim + d, values);
        out[qOffset + d] = acc * inverse;
    }
}

__kernel void swiglu(__global const float* gate, __global float* x) {
    const int i = get_global_id(0);
    const float g = gate[i];
    x[i] = (g / (1.0f + exp(-g))) * x[i];
}

__kernel void add(__global float* x, __global const float* y) {
    const int i = get_global_id(0);
    x[i] += y[i];
}
