// Scalar reference implementations of the tensor formats: conversion, dequantisation, activation
// quantisation and dot products. These are the ground truth that SIMD and GPU kernels are tested against,
// so they favour clarity over speed. They mirror llama.cpp's arithmetic (activations are quantised to
// Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL weights, Q8_1 for Q4_1/Q5_1 and Q8_K for K-quants and IQ4_XS; F16/BF16
// weights take F16/BF16 activations).
#pragma once

#include "declai/core/TensorType.h"

#include <cstddef>
#include <cstdint>

namespace declai::quant {

float fp16ToFp32(f16_bits h);
// Every F16 value as a float, indexed by its bits (256 KiB, built on first use, fp16ToFp32's values). The
// SIMD kernels convert their per-block scales through it: two loads, where a scalar conversion takes an
// insert and a convert on the vector ports that their one-token dot products are short of.
const float* fp16ToFp32Table();
f16_bits fp32ToFp16(float f); // round to nearest even, overflow -> inf, NaN preserved
float bf16ToFp32(bf16_bits h);
bf16_bits fp32ToBf16(float f); // round to nearest even, NaN kept quiet

// The activation format a weight type is multiplied against.
TensorType activationTypeFor(TensorType weightType);
// Bytes of one activation row of `n` values in activationTypeFor(weightType).
size_t activationRowBytes(TensorType weightType, int64_t n);
// Converts/quantises one row of float activations into the activation format for `weightType`.
void quantizeActivationRow(TensorType weightType, const float* x, void* out, int64_t n);

// Dequantises one row of `n` values (n is a multiple of the block size; callers check).
void dequantizeRow(TensorType type, const void* row, float* out, int64_t n);

// Dot product of one weight row with one activation row prepared by quantizeActivationRow.
float dotRow(TensorType weightType, const void* weightRow, const void* activationRow, int64_t n);

// Per-format pieces (also used directly by tests).
void quantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantizeRowQ8_K(const float* x, BlockQ8_K* y, int64_t n);
void quantizeRowQ8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantizeRowQ4_K(const float* x, BlockQ4_K* y, int64_t n);
void quantizeRowQ6_K(const float* x, BlockQ6_K* y, int64_t n);
void quantizeRowQ5_K(const float* x, BlockQ5_K* y, int64_t n);
void quantizeRowQ3_K(const float* x, BlockQ3_K* y, int64_t n);
void quantizeRowIQ4_XS(const float* x, BlockIQ4_XS* y, int64_t n);
void quantizeRowQ4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantizeRowQ2_K(const float* x, BlockQ2_K* y, int64_t n);
void quantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantizeRowIQ4_NL(const float* x, BlockIQ4_NL* y, int64_t n);
// Quantises one weight row of `type` (any supported type); used by the model synthesiser.
bool quantizeRow(TensorType type, const float* x, void* out, int64_t n);

void dequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantizeRowQ4_K(const BlockQ4_K* x, float* y, int64_t n);
void dequantizeRowQ6_K(const BlockQ6_K* x, float* y, int64_t n);
void dequantizeRowQ4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantizeRowQ5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantizeRowQ5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantizeRowQ2_K(const BlockQ2_K* x, float* y, int64_t n);
void dequantizeRowQ3_K(const BlockQ3_K* x, float* y, int64_t n);
void dequantizeRowQ5_K(const BlockQ5_K* x, float* y, int64_t n);
void dequantizeRowIQ4_NL(const BlockIQ4_NL* x, float* y, int64_t n);
void dequantizeRowIQ4_XS(const BlockIQ4_XS* x, float* y, int64_t n);

float dotF32(const float* a, const float* b, int64_t n);
float dotF16(const f16_bits* a, const f16_bits* b, int64_t n);
float dotBF16(const bf16_bits* a, const bf16_bits* b, int64_t n);
float dotQ8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n);
float dotQ4_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n);
float dotQ4_K(const BlockQ4_K* w, const BlockQ8_K* x, int64_t n);
// dotQ4_K as llama.cpp's repacked q4_K_8x8 gemm rounds it (the full groups of 4 tokens of a batch): the
// integer sums and FMAs per pair of sub-blocks instead of per super-block.
float dotQ4_KGemm(const BlockQ4_K* w, const BlockQ8_K* x, int64_t n);
float dotQ6_K(const BlockQ6_K* w, const BlockQ8_K* x, int64_t n);
// Q4_1 / Q5_1 take Q8_1 activations, Q5_0 / IQ4_NL Q8_0, the K-quants and IQ4_XS Q8_K (llama.cpp's
// vec_dot_type).
float dotQ4_1(const BlockQ4_1* w, const BlockQ8_1* x, int64_t n);
float dotQ5_0(const BlockQ5_0* w, const BlockQ8_0* x, int64_t n);
float dotQ5_1(const BlockQ5_1* w, const BlockQ8_1* x, int64_t n);
float dotQ2_K(const BlockQ2_K* w, const BlockQ8_K* x, int64_t n);
// Q2_K in the order of llama.cpp's repacked q2_K_8x8 kernels (its AVX-512 builds; the AVX-512 tables use it).
float dotQ2_KRepacked(const BlockQ2_K* w, const BlockQ8_K* x, int64_t n);
// llama.cpp's repacked Q2_K gemm (AVX-512 builds, full groups of 4 prompt tokens): per half super-block.
float dotQ2_KGemm(const BlockQ2_K* w, const BlockQ8_K* x, int64_t n);
float dotQ3_K(const BlockQ3_K* w, const BlockQ8_K* x, int64_t n);
float dotQ5_K(const BlockQ5_K* w, const BlockQ8_K* x, int64_t n);
float dotIQ4_NL(const BlockIQ4_NL* w, const BlockQ8_0* x, int64_t n);
float dotIQ4_XS(const BlockIQ4_XS* w, const BlockQ8_K* x, int64_t n);
// dotIQ4_XS as llama.cpp's IQ panel gemm rounds it (its x86 builds take every IQ4_XS product of 8 or more
// tokens there, when the matrix has a multiple of 8 rows): one exact integer sum per super-block and one FMA
// with (dw * dx), instead of 8 lanes summed at the end.
float dotIQ4_XSPanel(const BlockIQ4_XS* w, const BlockQ8_K* x, int64_t n);

} // namespace declai::quant
