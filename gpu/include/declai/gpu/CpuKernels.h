// The CPU backend's kernels: the reference every other backend is compared with. Matrix products
// quantise the activations to the weight's partner format once, then run the format's dot product per
// row (as llama.cpp does), split over the thread pool by output rows.
#pragma once

#include "declai/gpu/ModelWeights.h"
#include "declai/gpu/ThreadPool.h"

#include <cstddef>
#include <span>
#include <vector>

namespace declai::cpu {

// How a product over several tokens rounds. llama.cpp's CPU backend does not give a batch the floats of
// token-by-token decode for every format: its repacked Q4_K gemm, which takes each full group of 4 tokens
// of a batch (other tokens, and every token of its mixture-of-experts product, go through its gemv), steps
// its float sums per pair of sub-blocks instead of per super-block (quant::dotQ4_KGemm).
enum class BatchRounding {
    AsDecode, // every token as in a batch of one: prefill bit-identical to decode (failover replays rely on
              // it)
    LlamaCpp, // as llama.cpp rounds this batch (parity with its prompt evaluation, bit for bit)
    // As llama.cpp's MUL_MAT_ID rounds one expert's routed tokens: decode's arithmetic for each token (no
    // batch gemm, no tinyBLAS), except that 8 or more tokens of an IQ4_XS expert take its IQ panel.
    LlamaCppExperts,
};

// y[t][r] = dot(W.row(r), x[t]) for t < nTokens; x is nTokens x W.cols, y is nTokens x W.rows.
// `scratch` holds the quantised activations (grown as needed, reused between calls). Under LlamaCpp,
// `batchTokens` is the size of the llama.cpp batch these rows belong to (a prompt run in chunks: the whole
// prompt's, which decides llama.cpp's kernels); 0 means nTokens. Chunks must start at a multiple of 4 rows
// of that batch (llama.cpp's Q4_K gemm groups 4 tokens).
void matmul(const WeightMatrix& w, const float* x, int64_t nTokens, float* y, ThreadPool& pool,
            std::vector<std::byte>& scratch, BatchRounding rounding = BatchRounding::AsDecode,
            int64_t batchTokens = 0);

// Several matrices with the same input (Q/K/V, gate/up) in one parallel pass: the activations are
// prepared once per format and the pool is woken once. Every w->cols must be equal; at most
// kMaxSharedJobs jobs (extra ones are ignored).
struct MatmulJob {
    const WeightMatrix* w = nullptr;
    float* y = nullptr; // nTokens x w->rows
};
constexpr size_t kMaxSharedJobs = 4;
void matmulShared(std::span<const MatmulJob> jobs, const float* x, int64_t nTokens, ThreadPool& pool,
                  std::vector<std::byte>& scratch, BatchRounding rounding = BatchRounding::AsDecode,
                  int64_t batchTokens = 0);

// Weights in 16-row strips (WeightLayout::Strips16), for the formats whose one-token products the active
// kernel table runs faster so (KernelTable::stripsGemmFor; Q4_0 on AVX2 and AVX-512, Q8_0 on AVX-512): the 16
// rows of a block stream as one sequential range, their scales come in with one load, and every multiply has
// the 16 rows in its lanes, with the floats of the row layout. ModelWeights::makeResident re-lays the layer
// matrices it copies. Per strip and block: the block's leading F16 fields (Q4_0 and Q8_0: d), each
// as the 16 rows' values side by side (32 bytes), then the rest of the block in 4-byte parts, each part as
// the 16 rows' 4 bytes side by side (64 bytes, row i at bytes 4i..4i+3).
constexpr int kLayoutStripRows = 16;
// The leading F16 fields of a block of `type` in the strip layout; 0 for formats without one.
int stripHeaderHalves(TensorType type);
// Whether `w` may be re-laid: the active table has a strip kernel for its type, and `w` is whole strips in
// row layout.
bool canPackStrips(const WeightMatrix& w);
// Writes `w` (canPackStrips) re-laid in strips into `out`, rows * rowBytes bytes (the same size).
void packStrips(const WeightMatrix& w, std::byte* out);

// out = x / rms(x) * weight (computed in double for the mean, as ggml does).
void rmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// Cos/sin table for one position: ropeDims/2 pairs of (cos, sin), each multiplied by attnFactor; pair i's
// angle is divided by freqFactors[i] when given, then scaled by freqScale or, with YaRN, mixed by `yarn`.
void ropeTable(int64_t position, int64_t ropeDims, float freqBase, float freqScale, const float* freqFactors,
               const RopeYarn& yarn, float attnFactor, float* cosSin);
// Rotates adjacent pairs (x[2i], x[2i+1]) of the first ropeDims values of each head (llama "normal" mode).
void applyRope(float* x, int64_t heads, int64_t headDim, int64_t ropeDims, const float* cosSin);
// NeoX-style RoPE: rotates (x[i], x[i + ropeDims/2]) of each head with the pair-i angle of the table.
void applyRopeNeox(float* x, int64_t heads, int64_t headDim, int64_t ropeDims, const float* cosSin);

// x = silu(gate) * x over one row of n values, with the active kernel table's kernel: like llama.cpp's
// ggml_vec_swiglu_f32, whole vector groups from the row start take the SIMD exp and the tail libm's, so a
// value depends on its position in the row. swiGluRows applies it to `rows` rows of rowLength values each
// (a batch), split over the pool by rows; each row gives the same floats as a one-row call.
void swiGlu(const float* gate, float* x, int64_t n);
void swiGluRows(const float* gate, float* x, int64_t rowLength, int64_t rows, ThreadPool& pool);
// gelu_tanh as llama.cpp's CPU backend computes it: the input rounded to F16, looked up in a table of F16
// values of 0.5x(1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), saturated outside [-10, 10].
float geluF16(float x);
// x[i] = geluF16(gate[i]) * x[i] (GeGLU, Gemma 2's gated FFN) over n values, split over the pool.
void geluGlu(const float* gate, float* x, int64_t n, ThreadPool& pool);

void addInPlace(float* x, const float* y, int64_t n);

// Softmax in place over n values (max-subtracted, sum in double).
void softmax(float* x, int64_t n);
// llama.cpp's soft_max pieces as the active table's build computes them (KernelTable::expSumGgml): y =
// exp(x - max) and the sum of y in double; and a whole row's softmax (max, exp and sum, times float(1 /
// sum)).
double expSumGgml(float* y, const float* x, int64_t n, float max);
void softmaxGgml(float* x, int64_t n);

// Mixture-of-experts routing as llama.cpp's build_moe_ffn runs Mixtral, for nTokens rows of `experts`
// router logits (softmaxed in place): each token's `used` most probable experts in rank order go to
// chosen (nTokens x used), their probabilities renormalised to sum 1 (the sum clamped below as llama.cpp
// does) to weights (nTokens x used).
void routeExperts(float* routerLogits, int64_t nTokens, int64_t experts, int64_t used, int32_t* chosen,
                  float* weights);

} // namespace declai::cpu
