// Dequantisation straight from the GGUF block layouts, reading the weight words `w[]` declared by the
// including shader (see gpu/src/opencl/kernels/quant.cl for the same layouts in OpenCL C):
//   FMT 0 F32, 1 F16, 2 Q8_0 (34 B / 32), 3 Q4_0 (18 B / 32), 4 Q4_K (144 B / 256), 5 Q6_K (210 B / 256).
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
    if (sub < 4u) {
        scale = float(byteAt(b + 4u + sub) & 63u);
        mn = float(byteAt(b + 8u + sub) & 63u);
    } else {
        scale = float((byteAt(b + 8u + sub) & 15u) | ((byteAt(b + sub) >> 6) << 4));
        mn = float((byteAt(b + 8u + sub) >> 4) | ((byteAt(b + 4u + sub) >> 6) << 4));
    }
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
#endif
}
