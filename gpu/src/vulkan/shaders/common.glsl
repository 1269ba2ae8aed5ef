// Helpers shared by every DeCLAI Vulkan compute shader (GLSL 4.50, no extensions: bytes and halves are
// unpacked from 32-bit words so the shaders run on any Vulkan 1.0 device, lavapipe included).
// Every shader uses work-groups of 64 invocations (DECLAI_GROUP) and one push-constant block.
#define DECLAI_GROUP 64u

shared float declaiReduce[DECLAI_GROUP];

float wgSum(float value) {
    const uint lid = gl_LocalInvocationID.x;
    declaiReduce[lid] = value;
    memoryBarrierShared();
    barrier();
    for (uint stride = DECLAI_GROUP / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride)
            declaiReduce[lid] += declaiReduce[lid + stride];
        memoryBarrierShared();
        barrier();
    }
    const float result = declaiReduce[0];
    barrier(); // nobody may overwrite the scratch before everyone has read the result
    return result;
}

float wgMax(float value) {
    const uint lid = gl_LocalInvocationID.x;
    declaiReduce[lid] = value;
    memoryBarrierShared();
    barrier();
    for (uint stride = DECLAI_GROUP / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride)
            declaiReduce[lid] = max(declaiReduce[lid], declaiReduce[lid + stride]);
        memoryBarrierShared();
        barrier();
    }
    const float result = declaiReduce[0];
    barrier();
    return result;
}

// Flat invocation index of an element-wise dispatch: large counts are split over (x, y) groups because
// one dimension allows only 65535 groups.
uint flatIndex() {
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * DECLAI_GROUP + gl_LocalInvocationID.x;
}

// F16 element e of a packed (two halves per word) array.
#define HALF_AT(array, e) unpackHalf2x16((array)[(e) >> 1] >> (((e) & 1u) * 16u)).x

// float -> F16 bits with round-to-nearest-even (packHalf2x16 leaves the rounding mode to the driver, and
// the KV cache must round like the CPU reference).
uint f32ToF16(float f) {
    const uint x = floatBitsToUint(f);
    const uint sign = (x >> 16) & 0x8000u;
    const uint e = (x >> 23) & 0xFFu;
    uint m = x & 0x7FFFFFu;
    if (e == 255u)
        return sign | 0x7C00u | (m != 0u ? 0x200u : 0u);
    const int exponent = int(e) - 127 + 15;
    if (exponent >= 31)
        return sign | 0x7C00u;
    if (exponent <= 0) {
        if (exponent < -10)
            return sign;
        m |= 0x800000u;
        const uint shift = uint(14 - exponent);
        uint h = m >> shift;
        const uint rest = m & ((1u << shift) - 1u);
        const uint halfway = 1u << (shift - 1u);
        if (rest > halfway || (rest == halfway && (h & 1u) != 0u))
            ++h;
        return sign | h;
    }
    uint h = sign | (uint(exponent) << 10) | (m >> 13);
    const uint rest = m & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0u))
        ++h; // a carry into the exponent is the correct rounding (up to infinity)
    return h;
}

float roundF16(float v) { return unpackHalf2x16(f32ToF16(v)).x; }
