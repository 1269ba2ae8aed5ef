// Dequantisation straight from the GGUF block layouts (see core/include/declai/core/TensorType.h):
//   Q8_0: 34 bytes = f16 d, 32 x int8          value = d * q
//   Q4_0: 18 bytes = f16 d, 16 bytes nibbles   value = d * (q - 8); low nibbles are values 0..15
//   Q4_K: 144 bytes = f16 d, f16 dmin, 12 bytes of packed 6-bit scales/mins, 128 bytes nibbles
//   Q6_K: 210 bytes = 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 x int8 scales, f16 d
//   Q4_1: 20 bytes = f16 d, f16 m, 16 bytes nibbles                   value = d * q + m
//   Q5_0: 22 bytes = f16 d, 32 fifth bits, 16 bytes nibbles           value = d * (q - 16)
//   Q5_1: 24 bytes = f16 d, f16 m, 32 fifth bits, 16 bytes nibbles    value = d * q + m
//   Q2_K: 84 bytes = 16 scale/min nibble pairs, 64 bytes of 2-bit values, f16 d, f16 dmin
//   Q3_K: 110 bytes = 32 bytes high-bit mask, 64 bytes of 2-bit values, 12 bytes of 6-bit scales, f16 d
//   Q5_K: 176 bytes = f16 d, f16 dmin, 12 bytes scales/mins as Q4_K, 32 bytes fifth bits, 128 bytes nibbles
//   IQ4_NL: 18 bytes = f16 d, 16 bytes nibbles indexing the non-linear table
//   IQ4_XS: 136 bytes = f16 d, u16 high scale bits, 4 bytes low scale nibbles, 128 bytes nibbles
// Every format is handled in "units" of 32 consecutive values so a matrix row splits evenly over a
// work-group (a K-quant super-block is 8 units).

#define Q8_0_BYTES 34
#define Q4_0_BYTES 18
#define Q4_K_BYTES 144
#define Q6_K_BYTES 210
#define Q4_1_BYTES 20
#define Q5_0_BYTES 22
#define Q5_1_BYTES 24
#define Q2_K_BYTES 84
#define Q3_K_BYTES 110
#define Q5_K_BYTES 176
#define IQ4_NL_BYTES 18
#define IQ4_XS_BYTES 136

// What an IQ4_NL / IQ4_XS nibble stands for (core's kIQ4NLValues).
__constant float kIq4NlValues[16] = {-127.0f, -104.0f, -83.0f, -65.0f, -49.0f, -35.0f, -22.0f, -10.0f,
                                     1.0f,    13.0f,   25.0f,  38.0f,  53.0f,  69.0f,  89.0f,  113.0f};

// Little-endian 32-bit word at any byte offset.
uint load_u32(__global const uchar* p) {
    return (uint)p[0] | ((uint)p[1] << 8) | ((uint)p[2] << 16) | ((uint)p[3] << 24);
}

// 6-bit scale and min of sub-block j (0..7) of a Q4_K block; `s` points at the 12 packed bytes.
void q4_k_scale_min(int j, __global const uchar* s, float* scale, float* min) {
    if (j < 4) {
        *scale = (float)(s[j] & 63);
        *min = (float)(s[j + 4] & 63);
    } else {
        *scale = (float)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *min = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// Integer value (already centred) of element l (0..31) of unit u of a Q6_K row, and its scale index.
int q6_k_value(__global const uchar* block, int sub, int l, int* scaleIndex) {
    const int half_ = sub / 4;   // which 128-value half of the super-block
    const int part = sub % 4;    // which of the four 32-value parts of that half
    __global const uchar* ql = block + half_ * 64 + (part & 1) * 32;
    __global const uchar* qh = block + 128 + half_ * 32;
    const int low = (ql[l] >> ((part >> 1) * 4)) & 0xF;
    const int high = (qh[l] >> (2 * part)) & 3;
    *scaleIndex = half_ * 8 + part * 2 + l / 16;
    return (low | (high << 4)) - 32;
}

// Dequantises unit u (values 32u .. 32u+31) of a row into w.
void unit_q8_0(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + u * Q8_0_BYTES;
    __global const char* q = (__global const char*)(b + 2);
    const float d = load_f16(b);
    for (int l = 0; l < 32; ++l)
        w[l] = d * (float)q[l];
}

void unit_q4_0(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + u * Q4_0_BYTES;
    const float d = load_f16(b);
    for (int l = 0; l < 16; ++l) {
        const uchar q = b[2 + l];
        w[l] = d * (float)((int)(q & 0xF) - 8);
        w[l + 16] = d * (float)((int)(q >> 4) - 8);
    }
}

void unit_q4_k(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + (u / 8) * Q4_K_BYTES;
    const int sub = u % 8;
    float scale, min;
    q4_k_scale_min(sub, b + 4, &scale, &min);
    const float d = load_f16(b) * scale;
    const float m = load_f16(b + 2) * min;
    __global const uchar* q = b + 16 + (sub / 2) * 32;
    const int shift = (sub & 1) * 4;
    for (int l = 0; l < 32; ++l)
        w[l] = d * (float)((q[l] >> shift) & 0xF) - m;
}

void unit_q6_k(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + (u / 8) * Q6_K_BYTES;
    const int sub = u % 8;
    __global const char* scales = (__global const char*)(b + 192);
    const float d = load_f16(b + 208);
    int scaleIndex = 0;
    for (int l = 0; l < 32; ++l) {
        const int v = q6_k_value(b, sub, l, &scaleIndex);
        w[l] = d * (float)scales[scaleIndex] * (float)v;
    }
}

// Q4_1 / Q5_0 / Q5_1 / IQ4_NL: one block per unit. The Q4_1/Q5_1 "scaled" decoders leave d * q in w and
// return the block minimum m, which MatMul adds once per block times the activations' block sum (as
// llama.cpp's Q4_1 x Q8_1 dot); d * q is exact in float, so adding m afterwards gives the same values.
float unit_q4_1_scaled(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + u * Q4_1_BYTES;
    const float d = load_f16(b);
    for (int l = 0; l < 16; ++l) {
        const uchar q = b[4 + l];
        w[l] = (float)(q & 0xF) * d;
        w[l + 16] = (float)(q >> 4) * d;
    }
    return load_f16(b + 2);
}

void unit_q4_1(__global const uchar* row, int u, float* w) {
    const float m = unit_q4_1_scaled(row, u, w);
    for (int l = 0; l < 32; ++l)
        w[l] += m;
}

// The 5-bit value l (0..31) of a Q5_0 / Q5_1 block: nibble l % 16 of qs, plus bit l of qh as bit 4.
int five_bit_value(__global const uchar* qs, uint qh, int l) {
    const int nibble = l < 16 ? (qs[l] & 0xF) : (qs[l - 16] >> 4);
    return nibble | (int)(((qh >> l) & 1u) << 4);
}

void unit_q5_0(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + u * Q5_0_BYTES;
    const float d = load_f16(b);
    const uint qh = load_u32(b + 2);
    for (int l = 0; l < 32; ++l)
        w[l] = (float)(five_bit_value(b + 6, qh, l) - 16) * d;
}

float unit_q5_1_scaled(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + u * Q5_1_BYTES;
    const float d = load_f16(b);
    const uint qh = load_u32(b + 4);
    for (int l = 0; l < 32; ++l)
        w[l] = (float)five_bit_value(b + 8, qh, l) * d;
    return load_f16(b + 2);
}

void unit_q5_1(__global const uchar* row, int u, float* w) {
    const float m = unit_q5_1_scaled(row, u, w);
    for (int l = 0; l < 32; ++l)
        w[l] += m;
}

void unit_iq4_nl(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + u * IQ4_NL_BYTES;
    const float d = load_f16(b);
    for (int l = 0; l < 16; ++l) {
        w[l] = d * kIq4NlValues[b[2 + l] & 0xF];
        w[l + 16] = d * kIq4NlValues[b[2 + l] >> 4];
    }
}

// K-quant super-blocks: unit u is values 32 * (u % 8) .. +31 of super-block u / 8. Value 32s + l sits in
// byte 32 * (s / 4) + l of a 2-bit array at bits 2 * (s % 4) (Q2_K, Q3_K).
void unit_q2_k(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + (u / 8) * Q2_K_BYTES;
    const int sub = u % 8;
    const float d = load_f16(b + 80);
    const float dmin = load_f16(b + 82);
    __global const uchar* q = b + 16 + (sub / 4) * 32;
    const int shift = 2 * (sub % 4);
    for (int l = 0; l < 32; ++l) {
        const uchar sc = b[sub * 2 + l / 16];
        w[l] = d * (float)(sc & 0xF) * (float)((q[l] >> shift) & 3) - dmin * (float)(sc >> 4);
    }
}

// Scale s (0..15) of a Q3_K block: 6 bits, offset by 32; `p` points at the 12 packed bytes.
int q3_k_scale(__global const uchar* p, int s) {
    const int low = s < 8 ? (p[s] & 0xF) : (p[s - 8] >> 4);
    const int high = (p[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (low | (high << 4)) - 32;
}

void unit_q3_k(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + (u / 8) * Q3_K_BYTES;
    const int sub = u % 8;
    const float d = load_f16(b + 108);
    __global const uchar* q = b + 32 + (sub / 4) * 32;
    const int shift = 2 * (sub % 4);
    const int maskBit = 4 * (sub / 4) + sub % 4;
    for (int l = 0; l < 32; ++l) {
        const int low = (q[l] >> shift) & 3;
        const int value = low - (((b[l] >> maskBit) & 1) ? 0 : 4);
        w[l] = d * (float)q3_k_scale(b + 96, sub * 2 + l / 16) * (float)value;
    }
}

void unit_q5_k(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + (u / 8) * Q5_K_BYTES;
    const int sub = u % 8;
    float scale, min;
    q4_k_scale_min(sub, b + 4, &scale, &min);
    const float d = load_f16(b) * scale;
    const float m = load_f16(b + 2) * min;
    __global const uchar* q = b + 48 + (sub / 2) * 32;
    const int shift = (sub & 1) * 4;
    for (int l = 0; l < 32; ++l) {
        const int value = ((q[l] >> shift) & 0xF) + (((b[16 + l] >> sub) & 1) << 4);
        w[l] = d * (float)value - m;
    }
}

void unit_iq4_xs(__global const uchar* row, int u, float* w) {
    __global const uchar* b = row + (u / 8) * IQ4_XS_BYTES;
    const int sub = u % 8;
    const uint high = (uint)b[2] | ((uint)b[3] << 8);
    const int scale = (int)(((b[4 + sub / 2] >> (4 * (sub % 2))) & 0xF) | (((high >> (2 * sub)) & 3u) << 4)) - 32;
    const float d = load_f16(b) * (float)scale;
    __global const uchar* q = b + 8 + 16 * sub;
    for (int l = 0; l < 16; ++l) {
        w[l] = d * kIq4NlValues[q[l] & 0xF];
        w[l + 16] = d * kIq4NlValues[q[l] >> 4];
    }
}

// Element i of a row, for gathers.
float value_f32(__global const uchar* row, int i) { return ((__global const float*)row)[i]; }
float value_f16(__global const uchar* row, int i) { return vload_half(i, (__global const half*)row); }
float value_q8_0(__global const uchar* row, int i) {
    __global const uchar* b = row + (i / 32) * Q8_0_BYTES;
    return load_f16(b) * (float)((__global const char*)(b + 2))[i % 32];
}
float value_q4_0(__global const uchar* row, int i) {
    __global const uchar* b = row + (i / 32) * Q4_0_BYTES;
    const int l = i % 32;
    const uchar q = b[2 + (l % 16)];
    const int v = l < 16 ? (q & 0xF) : (q >> 4);
    return load_f16(b) * (float)(v - 8);
}
float value_q4_k(__global const uchar* row, int i) {
    __global const uchar* b = row + (i / 256) * Q4_K_BYTES;
    const int sub = (i % 256) / 32;
    float scale, min;
    q4_k_scale_min(sub, b + 4, &scale, &min);
    const uchar q = b[16 + (sub / 2) * 32 + i % 32];
    const int v = (q >> ((sub & 1) * 4)) & 0xF;
    return load_f16(b) * scale * (float)v - load_f16(b + 2) * min;
}
float value_q6_k(__global const uchar* row, int i) {
    __global const uchar* b = row + (i / 256) * Q6_K_BYTES;
    int scaleIndex = 0;
    const int v = q6_k_value(b, (i % 256) / 32, i % 32, &scaleIndex);
    return load_f16(b + 208) * (float)((__global const char*)(b + 192))[scaleIndex] * (float)v;
}

// The newer formats gather through their unit decoder (gathers read embedding rows only, once per token).
#define DECLAI_VALUE_FROM_UNIT(NAME, UNIT)                                                             \
    float NAME(__global const uchar* row, int i) {                                                     \
        float w[32];                                                                                   \
        UNIT(row, i / 32, w);                                                                          \
        return w[i % 32];                                                                              \
    }
DECLAI_VALUE_FROM_UNIT(value_q4_1, unit_q4_1)
DECLAI_VALUE_FROM_UNIT(value_q5_0, unit_q5_0)
DECLAI_VALUE_FROM_UNIT(value_q5_1, unit_q5_1)
DECLAI_VALUE_FROM_UNIT(value_q2_k, unit_q2_k)
DECLAI_VALUE_FROM_UNIT(value_q3_k, unit_q3_k)
DECLAI_VALUE_FROM_UNIT(value_q5_k, unit_q5_k)
DECLAI_VALUE_FROM_UNIT(value_iq4_nl, unit_iq4_nl)
DECLAI_VALUE_FROM_UNIT(value_iq4_xs, unit_iq4_xs)
