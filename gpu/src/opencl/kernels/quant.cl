// Dequantisation straight from the GGUF block layouts (see core/include/declai/core/TensorType.h):
//   Q8_0: 34 bytes = f16 d, 32 x int8          value = d * q
//   Q4_0: 18 bytes = f16 d, 16 bytes nibbles   value = d * (q - 8); low nibbles are values 0..15
//   Q4_K: 144 bytes = f16 d, f16 dmin, 12 bytes of packed 6-bit scales/mins, 128 bytes nibbles
//   Q6_K: 210 bytes = 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 x int8 scales, f16 d
// Every format is handled in "units" of 32 consecutive values so a matrix row splits evenly over a
// work-group (a K-quant super-block is 8 units).

#define Q8_0_BYTES 34
#define Q4_0_BYTES 18
#define Q4_K_BYTES 144
#define Q6_K_BYTES 210

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
