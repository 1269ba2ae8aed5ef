// Helpers shared by every DeCLAI OpenCL kernel (OpenCL C 1.2; no extensions required: halves are read
// with vload_half and written with vstore_half_rte, which are core).

// Work-group sum/max over local id 0. Every work-item of the group must call it; `scratch` holds
// get_local_size(0) floats and the size is a power of two.
float wg_sum(__local float* scratch, float value) {
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = (int)get_local_size(0) / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            scratch[lid] += scratch[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); // scratch is reused by the next call
    return result;
}

float wg_max(__local float* scratch, float value) {
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = (int)get_local_size(0) / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            scratch[lid] = fmax(scratch[lid], scratch[lid + stride]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

// Reads the little-endian F16 at byte address p (always 2-byte aligned in GGUF blocks).
float load_f16(__global const uchar* p) {
    return vload_half(0, (__global const half*)p);
}
