// Dequantisation straight from the GGUF block layouts, reading the weight words `w[]` declared by the
// including shader (see gpu/src/opencl/kernels/quant.cl for the same layouts in OpenCL C):
//   FMT 0 F32, 1 F16, 2 Q8_0 (34 B / 32), 3 Q4_0 (18 B / 32), 4 Q4_K (144 B / 256), 5 Q6_K (210 B / 256),
//   6 Q4_1 (20 B / 32), 7 Q5_0 (22 B / 32), 8 Q5_1 (24 B / 32), 9 Q2_K (84 B / 256), 10 Q3_K (110 B / 256),
//   11 Q5_K (176 B / 256), 12 IQ4_NL (18 B / 32), 13 IQ4_XS (136 B / 256).
// Values come in units of VPU (1 for F32/F16, else 32) so a row splits evenly over a work-group.
#if FMT <= 1
#define VPU 1
#else
#define VPU 32
#endif

uint byteAt(uint off) { return (w[off >> 2] >> ((off & 3u) * 8u)) & 0xFFu; }
int sbyteAt(uint off) { return int(byteAt(off) << 24) >> 24; }
// Little-endian F16 at a 2-byte aligned offset.
float f16At(uint off) { return unpackHalf2x16((w[off >> 2] >> ((off & 2u) * 8u)) & 0xFFFFu).x; }
// Little-endian 32-bit word at any byte offset.
uint u32At(uint off) {
    return byteAt(off) | (byteAt(off + 1u) << 8) | (byteAt(off + 2u) << 16) | (byteAt(off + 3u) << 24);
}
#if FMT == 6 || FMT == 8
// Q4_1 / Q5_1 carry a block minimum m. matmul.comp adds m once per block times the activations' block sum
// (llama.cpp's Q4_1 x Q8_1 dot) and so defines SEPARATE_MINS to have unitValues leave it out; d * q is
// exact in float, so both ways give the same values.
#define BLOCK_MINS
float blockMin(uint row, uint u) { return f16At(row + u * (FMT == 6 ? 20u : 24u) + 2u); }
#ifdef SEPARATE_MINS
#define UNIT_MIN(row, u) 0.0
#else
#define UNIT_MIN(row, u) blockMin(row, u)
#endif
#endif
#if FMT == 12 || FMT == 13
// What an IQ4_NL / IQ4_XS nibble stands for (core's kIQ4NLValues).
const float kIq4NlValues[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0,
                                         25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
#endif
#if FMT == 7 || FMT == 8
// The 5-bit value l (0..31) of a Q5_0 / Q5_1 block: nibble l % 16 of qs, plus bit l of qh as bit 4.
uint fiveBitValue(uint qs, uint qh, uint l) {
    const uint nibble = l < 16u ? (byteAt(qs + l) & 15u) : (byteAt(qs + l - 16u) >> 4);
    return nibble | (((qh >> l) & 1u) << 4);
}
#endif
#if FMT == 4 || FMT == 11
// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block whose packed scales start at byte s.
void scaleMinK4(uint s, uint j, out float scale, out float mn) {
    if (j < 4u) {
        scale = float(byteAt(s + j) & 63u);
        mn = float(byteAt(s + j + 4u) & 63u);
    } else {
        scale = float((byteAt(s + j + 4u) & 15u) | ((byteAt(s + j - 4u) >> 6) << 4));
        mn = float((byteAt(s + j + 4u) >> 4) | ((byteAt(s + j) >> 6) << 4));
    }
}
#endif

// Values VPU*u .. VPU*u + VPU-1 of the row starting at byte `row`.
void unitValues(uint row, uint u, out float v[VPU]) {
#if FMT == 0
    v[0] = uintBitsToFloat(w[(row >> 2) + u]);
#elif FMT == 1
    v[0] = f16At(row + 2u * u);
#elif FMT == 2
    const uint b = row + u * 34u;
    const float d = f16At(b);
    for (uint l = 0u; l < 32u; ++l)
        v[l] = d * float(sbyteAt(b + 2u + l));
#elif FMT == 3
    const uint b = row + u * 18u;
    const float d = f16At(b);
    for (uint l = 0u; l < 16u; ++l) {
        const uint q = byteAt(b + 2u + l);
        v[l] = d * float(int(q & 15u) - 8);
        v[l + 16u] = d * float(int(q >> 4) - 8);
    }
#elif FMT == 4
    const uint b = row + (u / 8u) * 144u;
    const uint sub = u % 8u;
    float scale, mn;
    scaleMinK4(b + 4u, sub, scale, mn);
    const float d = f16At(b) * scale;
    const float m = f16At(b + 2u) * mn;
    const uint q = b + 16u + (sub / 2u) * 32u;
    const uint shift = (sub & 1u) * 4u;
    for (uint l = 0u; l < 32u; ++l)
        v[l] = d * float((byteAt(q + l) >> shift) & 15u) - m;
#elif FMT == 5
    const uint b = row + (u / 8u) * 210u;
    const uint sub = u % 8u;
    const float d = f16At(b + 208u);
    const uint half_ = sub / 4u;
    const uint part = sub % 4u;
    const uint ql = b + half_ * 64u + (part & 1u) * 32u;
    const uint qh = b + 128u + half_ * 32u;
    for (uint l = 0u; l < 32u; ++l) {
        const uint low = (byteAt(ql + l) >> ((part >> 1) * 4u)) & 15u;
        const uint high = (byteAt(qh + l) >> (2u * part)) & 3u;
        const uint scaleIndex = half_ * 8u + part * 2u + l / 16u;
        v[l] = d * float(sbyteAt(b + 192u + scaleIndex)) * float(int(low | (high << 4)) - 32);
    }
#elif FMT == 6
    const uint b = row + u * 20u;
    const float d = f16At(b);
    const float m = UNIT_MIN(row, u);
    for (uint l = 0u; l < 16u; ++l) {
        const uint q = byteAt(b + 4u + l);
        v[l] = float(q & 15u) * d + m;
        v[l + 16u] = float(q >> 4) * d + m;
    }
#elif FMT == 7
    const uint b = row + u * 22u;
    const float d = f16At(b);
    const uint qh = u32At(b + 2u);
    for (uint l = 0u; l < 32u; ++l)
        v[l] = float(int(fiveBitValue(b + 6u, qh, l)) - 16) * d;
#elif FMT == 8
    const uint b = row + u * 24u;
    const float d = f16At(b);
    const float m = UNIT_MIN(row, u);
    const uint qh = u32At(b + 4u);
    for (uint l = 0u; l < 32u; ++l)
        v[l] = float(fiveBitValue(b + 8u, qh, l)) * d + m;
#elif FMT == 9
    // Value 32 sub + l: bits 2 (sub % 4) of byte 32 (sub / 4) + l of the 2-bit array; scale byte 2 sub + l / 16.
    const uint b = row + (u / 8u) * 84u;
    const uint sub = u % 8u;
    const float d = f16At(b + 80u);
    const float dmin = f16At(b + 82u);
    const uint q = b + 16u + (sub / 4u) * 32u;
    const uint shift = 2u * (sub % 4u);
    for (uint l = 0u; l < 32u; ++l) {
        const uint sc = byteAt(b + sub * 2u + l / 16u);
        v[l] = d * float(sc & 15u) * float((byteAt(q + l) >> shift) & 3u) - dmin * float(sc >> 4);
    }
#elif FMT == 10
    const uint b = row + (u / 8u) * 110u;
    const uint sub = u % 8u;
    const float d = f16At(b + 108u);
    const uint q = b + 32u + (sub / 4u) * 32u;
    const uint shift = 2u * (sub % 4u);
    const uint maskBit = 4u * (sub / 4u) + sub % 4u;
    for (uint l = 0u; l < 32u; ++l) {
        const uint s = sub * 2u + l / 16u; // scale s: 6 bits, offset by 32
        const uint low = s < 8u ? (byteAt(b + 96u + s) & 15u) : (byteAt(b + 96u + s - 8u) >> 4);
        const uint high = (byteAt(b + 104u + s % 4u) >> (2u * (s / 4u))) & 3u;
        const int value = int((byteAt(q + l) >> shift) & 3u) - (((byteAt(b + l) >> maskBit) & 1u) != 0u ? 0 : 4);
        v[l] = d * float(int(low | (high << 4)) - 32) * float(value);
    }
#elif FMT == 11
    const uint b = row + (u / 8u) * 176u;
    const uint sub = u % 8u;
    float scale, mn;
    scaleMinK4(b + 4u, sub, scale, mn);
    const float d = f16At(b) * scale;
    const float m = f16At(b + 2u) * mn;
    const uint q = b + 48u + (sub / 2u) * 32u;
    const uint shift = (sub & 1u) * 4u;
    for (uint l = 0u; l < 32u; ++l) {
        const uint value = ((byteAt(q + l) >> shift) & 15u) + (((byteAt(b + 16u + l) >> sub) & 1u) << 4);
        v[l] = d * float(value) - m;
    }
#elif FMT == 12
    const uint b = row + u * 18u;
    const float d = f16At(b);
    for (uint l = 0u; l < 16u; ++l) {
        const uint q = byteAt(b + 2u + l);
        v[l] = d * kIq4NlValues[q & 15u];
        v[l + 16u] = d * kIq4NlValues[q >> 4];
    }
#elif FMT == 13
    const uint b = row + (u / 8u) * 136u;
    const uint sub = u % 8u;
    const uint high = byteAt(b + 2u) | (byteAt(b + 3u) << 8);
    const int scale = int(((byteAt(b + 4u + sub / 2u) >> (4u * (sub % 2u))) & 15u) | (((high >> (2u * sub)) & 3u) << 4)) - 32;
    const float d = f16At(b) * float(scale);
    const uint q = b + 8u + 16u * sub;
    for (uint l = 0u; l < 16u; ++l) {
        const uint x = byteAt(q + l);
        v[l] = d * kIq4NlValues[x & 15u];
        v[l + 16u] = d * kIq4NlValues[x >> 4];
    }
#endif
}
