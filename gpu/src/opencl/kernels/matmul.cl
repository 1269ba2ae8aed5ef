// y[t][r] = dot(W.row(r), x[t]). One work-group per (row, block of TOKENS_PER_GROUP tokens): global =
// (rows * L, ceil(nTokens / TOKENS_PER_GROUP)), local = (L, 1). The row's units (32 values; single
// values for F32/F16) are strided over the group; each unit is dequantised once into private memory and
// multiplied with every token of the block, so a prefill batch reads the weights once per 8 tokens.
// Partial sums are reduced in local memory. x holds the activations round_activations rounded.
#define TOKENS_PER_GROUP 8

void unit_f32(__global const uchar* row, int u, float* w) { w[0] = ((__global const float*)row)[u]; }
void unit_f16(__global const uchar* row, int u, float* w) { w[0] = vload_half(u, (__global const half*)row); }

// DECODE(row, u, w) dequantises a unit into w and returns the block minimum it left out: Q4_1/Q5_1
// (BLOCK_MINS = 1) add m times the activations' block sum s, which follows the nTokens * cols values in
// x (round_activations' Q8_1 layout), once per block as llama.cpp's Q4_1 x Q8_1 dot does. The other
// formats decode whole values and return 0.
#define DECLAI_NO_MIN(UNIT)                                                                            \
    float UNIT##_no_min(__global const uchar* row, int u, float* w) {                                 \
        UNIT(row, u, w);                                                                               \
        return 0.0f;                                                                                   \
    }

DECLAI_NO_MIN(unit_f32)
DECLAI_NO_MIN(unit_f16)
DECLAI_NO_MIN(unit_q8_0)
DECLAI_NO_MIN(unit_q4_0)
DECLAI_NO_MIN(unit_q4_k)
DECLAI_NO_MIN(unit_q6_k)
DECLAI_NO_MIN(unit_q5_0)
DECLAI_NO_MIN(unit_q2_k)
DECLAI_NO_MIN(unit_q3_k)
DECLAI_NO_MIN(unit_q5_k)
DECLAI_NO_MIN(unit_iq4_nl)
DECLAI_NO_MIN(unit_iq4_xs)

#define DECLAI_MATMUL(NAME, DECODE, VALUES_PER_UNIT, BLOCK_MINS)                                       \
    __kernel void NAME(__global const uchar* w, ulong rowBytes, __global const float* x,              \
                       __global float* y, int rows, int cols, int nTokens, __local float* scratch) {   \
        const int r = get_group_id(0);                                                                 \
        const int t0 = get_group_id(1) * TOKENS_PER_GROUP;                                             \
        const int count = min(TOKENS_PER_GROUP, nTokens - t0);                                         \
        __global const uchar* row = w + (ulong)r * rowBytes;                                           \
        const int units = cols / VALUES_PER_UNIT;                                                      \
        __global const float* blockSums = x + (ulong)nTokens * (ulong)cols;                            \
        float acc[TOKENS_PER_GROUP];                                                                   \
        for (int t = 0; t < TOKENS_PER_GROUP; ++t)                                                     \
            acc[t] = 0.0f;                                                                             \
        float values[VALUES_PER_UNIT];                                                                 \
        for (int u = get_local_id(0); u < units; u += get_local_size(0)) {                             \
            const float blockMin = DECODE(row, u, values);                                             \
            for (int t = 0; t < count; ++t) {                                                          \
                __global const float* xt = x + (ulong)(t0 + t) * (ulong)cols + u * VALUES_PER_UNIT;    \
                float sum = 0.0f;                                                                      \
                for (int l = 0; l < VALUES_PER_UNIT; ++l)                                              \
                    sum += values[l] * xt[l];                                                          \
                if (BLOCK_MINS)                                                                        \
                    sum += blockMin * blockSums[(ulong)(t0 + t) * (ulong)units + u];                   \
                acc[t] += sum;                                                                         \
            }                                                                                          \
        }                                                                                              \
        /* count is the same for the whole group, so every work-item reaches the same barriers */      \
        for (int t = 0; t < count; ++t) {                                                              \
            const float total = wg_sum(scratch, acc[t]);                                               \
            if (get_local_id(0) == 0)                                                                  \
                y[(ulong)(t0 + t) * (ulong)rows + r] = total;                                          \
        }                                                                                              \
    }

DECLAI_MATMUL(matmul_f32, unit_f32_no_min, 1, 0)
DECLAI_MATMUL(matmul_f16, unit_f16_no_min, 1, 0)
DECLAI_MATMUL(matmul_q8_0, unit_q8_0_no_min, 32, 0)
DECLAI_MATMUL(matmul_q4_0, unit_q4_0_no_min, 32, 0)
DECLAI_MATMUL(matmul_q4_k, unit_q4_k_no_min, 32, 0)
DECLAI_MATMUL(matmul_q6_k, unit_q6_k_no_min, 32, 0)
DECLAI_MATMUL(matmul_q4_1, unit_q4_1_scaled, 32, 1)
DECLAI_MATMUL(matmul_q5_0, unit_q5_0_no_min, 32, 0)
DECLAI_MATMUL(matmul_q5_1, unit_q5_1_scaled, 32, 1)
DECLAI_MATMUL(matmul_q2_k, unit_q2_k_no_min, 32, 0)
DECLAI_MATMUL(matmul_q3_k, unit_q3_k_no_min, 32, 0)
DECLAI_MATMUL(matmul_q5_k, unit_q5_k_no_min, 32, 0)
DECLAI_MATMUL(matmul_iq4_nl, unit_iq4_nl_no_min, 32, 0)
DECLAI_MATMUL(matmul_iq4_xs, unit_iq4_xs_no_min, 32, 0)

// out[i] = table.row(ids[i]) dequantised; global = (cols, count). Ids were range-checked on the host.
#define DECLAI_GET_ROWS(NAME, VALUE)                                                                   \
    __kernel void NAME(__global const uchar* table, ulong rowBytes, __global const int* ids,          \
                       __global float* out, int cols) {                                                \
        const int c = get_global_id(0);                                                                \
        const int i = get_global_id(1);                                                                \
        out[(ulong)i * (ulong)cols + c] = VALUE(table + (ulong)ids[i] * rowBytes, c);                 \
    }

DECLAI_GET_ROWS(get_rows_f32, value_f32)
DECLAI_GET_ROWS(get_rows_f16, value_f16)
DECLAI_GET_ROWS(get_rows_q8_0, value_q8_0)
DECLAI_GET_ROWS(get_rows_q4_0, value_q4_0)
DECLAI_GET_ROWS(get_rows_q4_k, value_q4_k)
DECLAI_GET_ROWS(get_rows_q6_k, value_q6_k)
DECLAI_GET_ROWS(get_rows_q4_1, value_q4_1)
DECLAI_GET_ROWS(get_rows_q5_0, value_q5_0)
DECLAI_GET_ROWS(get_rows_q5_1, value_q5_1)
DECLAI_GET_ROWS(get_rows_q2_k, value_q2_k)
DECLAI_GET_ROWS(get_rows_q3_k, value_q3_k)
DECLAI_GET_ROWS(get_rows_q5_k, value_q5_k)
DECLAI_GET_ROWS(get_rows_iq4_nl, value_iq4_nl)
DECLAI_GET_ROWS(get_rows_iq4_xs, value_iq4_xs)
