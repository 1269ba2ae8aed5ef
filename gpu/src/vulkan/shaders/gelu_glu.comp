#version 450
// x = gelu_tanh(gate) * x, the gate and the GELU value rounded to F16 as llama.cpp's CPU table does
// (saturated outside [-10, 10]); the same formula as the OpenCL kernel.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Gate { float gate[]; };
layout(std430, binding = 1) buffer X { float x[]; };
layout(push_constant) uniform Params { uint n; } p;

void main() {
    const uint i = flatIndex();
    if (i >= p.n)
        return;
    const float g = gate[i];
    float gelu = g;
    if (g <= -10.0) {
        gelu = 0.0;
    } else if (g < 10.0) {
        const float h = roundF16(g);
        const float inner = 0.79788456080286535587989211986876 * h * (1.0 + 0.044715 * h * h);
        gelu = roundF16(0.5 * h * (1.0 + tanh(inner)));
    }
    x[i] = gelu * x[i];
}
