#include "declai/gpu/CpuKernels.h"

#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

namespace declai::cpu {

namespace {

// Multiplies rows [begin, end) of one weight matrix with every token's prepared activation row.
void multiplyRows(const WeightMatrix& w, DotFn dot, const std::byte* act, size_t actRowBytes, int64_t nTokens,
                  float* y, int64_t begin, int64_t end) {
    // A block of kRowBlock weight rows is multiplied against tiles of kMaxTileTokens activation rows: the
    // activation tile stays in L1 across the block and the block stays in L2 across the tiles, so a
    // prefill reads each weight once from memory and reuses every unpacked weight block for 4 tokens.
    constexpr int64_t kRowBlock = 16;
    float out[kMaxTileTokens];
    for (int64_t blockBegin = begin; blockBegin < end; blockBegin += kRowBlock) {
        const int64_t blockEnd = std::min(end, blockBegin + kRowBlock);
        for (int64_t t0 = 0; t0 < nTokens; t0 += kMaxTileTokens) {
            const int tile = static_cast<int>(std::min<int64_t>(kMaxTileTokens, nTokens - t0));
            const std::byte* tileAct = act + actRowBytes * static_cast<size_t>(t0);
            for (int64_t r = blockBegin; r < blockEnd; ++r) {
                if (dot) {
                    dot(w.row(r), tileAct, actRowBytes, tile, w.cols, out);
                } else { // types the kernels lack (refused at load): the reference path
                    for (int i = 0; i < tile; ++i)
                        out[i] = quant::dotRow(w.type, w.row(r),
                                               tileAct + actRowBytes * static_cast<size_t>(i), w.cols);
                }
                for (int i = 0; i < tile; ++i)
                    y[(t0 + i) * w.rows + r] = out[i];
            }
        }
    }
}

// llama.cpp's IQ panel gemm (KernelTable::llamaIqPanelBatches): from this many tokens, for matrices whose
// row count is a multiple of its 8-row panels.
constexpr int64_t kLlamaIqPanelMinTokens = 8;

bool takesLlamaIqPanel(const KernelTable& kernels, const WeightMatrix& w, int64_t nTokens,
                       BatchRounding rounding) {
    return (rounding == BatchRounding::LlamaCpp || rounding == BatchRounding::LlamaCppExperts) &&
           kernels.llamaIqPanelBatches && w.type == TensorType::IQ4_XS && nTokens >= kLlamaIqPanelMinTokens &&
           w.rows % 8 == 0;
}

// Whether `gemm`'s LlamaCpp variant runs this product: Q4_K's for every LlamaCpp batch, IQ4_XS's for the
// batches llama.cpp takes through its IQ panel.
bool takesLlamaBatchKernel(const GemmKernel& gemm, const KernelTable& kernels, const WeightMatrix& w,
                           int64_t batch, BatchRounding rounding) {
    if (!gemm.runLlamaBatch)
        return false;
    if (w.type == TensorType::IQ4_XS)
        return takesLlamaIqPanel(kernels, w, batch, rounding);
    return rounding == BatchRounding::LlamaCpp;
}

// Q4_K on tables without llama.cpp's Q4_K batch kernel (GemmKernel::runLlamaBatch): its gemm order through
// the scalar reference on the Q8_K rows (exact, slow).
void dotQ4_KGemmReference(const void* weightRow, const std::byte* x, size_t xStride, int nTokens, int64_t n,
                          float* out) {
    for (int t = 0; t < nTokens; ++t)
        out[t] =
            quant::dotQ4_KGemm(static_cast<const BlockQ4_K*>(weightRow),
                               reinterpret_cast<const BlockQ8_K*>(x + xStride * static_cast<size_t>(t)), n);
}

// llama.cpp's repacked gemms take full groups of this many prompt tokens (the rest through their gemv).
constexpr int64_t kLlamaGemmGroupTokens = 4;

// The dot product in llama.cpp's repacked gemm order for this LlamaCpp batch's full token groups, where the
// matmul computes them row by row: Q4_K on tables without its batch kernel, Q2_K (llama.cpp repacks matrices
// of 8k rows only). Null: no such groups.
DotFn llamaGroupDot(const KernelTable& kernels, const WeightMatrix& w, int64_t nTokens,
                    BatchRounding rounding) {
    if (rounding != BatchRounding::LlamaCpp || nTokens < kLlamaGemmGroupTokens)
        return nullptr;
    if (w.type == TensorType::Q4_K && kernels.llamaQ4KGemmGroups)
        return &dotQ4_KGemmReference;
    if (w.type == TensorType::Q2_K && w.rows % 8 == 0)
        return kernels.dotQ2_KGemm;
    return nullptr;
}

// llamaGroupDot's products register-tiled over rows and tokens where the table has that (the same floats);
// null: llamaGroupDot row by row.
GemmFn llamaGroupGemm(const KernelTable& kernels, const WeightMatrix& w) {
    return w.type == TensorType::Q2_K ? kernels.gemmQ2_KGroups : nullptr;
}

// The tiled kernel for this matrix: the table's for its layout (WeightLayout::Strips16), else for its
// type; nullptr where the table has none.
const GemmKernel* gemmForMatrix(const KernelTable& kernels, const WeightMatrix& w) {
    if (w.layout == WeightLayout::Strips16)
        return kernels.stripsGemmFor(w.type);
    return kernels.gemmFor(w.type);
}

// Bytes of one part of a strip block: the 16 rows' F16 fields side by side, or their 4-byte parts.
constexpr size_t kStripHalfBytes = 2 * kLayoutStripRows;
constexpr size_t kStripPartBytes = 4 * kLayoutStripRows;

} // namespace

int stripHeaderHalves(TensorType type) {
    switch (type) {
    case TensorType::Q4_0:
    case TensorType::Q8_0:
        return 1;
    default:
        return 0;
    }
}

bool canPackStrips(const WeightMatrix& w) {
    if (w.layout != WeightLayout::Rows || !activeKernels().stripsGemmFor(w.type) || w.rows <= 0 ||
        w.rows % kLayoutStripRows != 0)
        return false;
    const TensorTypeTraits traits = tensorTypeTraits(w.type);
    const size_t headerBytes = 2 * static_cast<size_t>(stripHeaderHalves(w.type));
    return headerBytes > 0 && (traits.blockBytes - headerBytes) % 4 == 0 &&
           w.cols % traits.blockElements == 0 &&
           w.rowBytes == static_cast<size_t>(w.cols / traits.blockElements) * traits.blockBytes;
}

void packStrips(const WeightMatrix& w, std::byte* out) {
    const TensorTypeTraits traits = tensorTypeTraits(w.type);
    const size_t halves = static_cast<size_t>(stripHeaderHalves(w.type));
    const size_t parts = (traits.blockBytes - 2 * halves) / 4;
    const int64_t blocks = w.cols / traits.blockElements;
    const size_t stripBlockBytes = kLayoutStripRows * traits.blockBytes;
    for (int64_t r0 = 0; r0 < w.rows; r0 += kLayoutStripRows) {
        std::byte* strip = out + static_cast<size_t>(r0) * w.rowBytes;
        for (int64_t b = 0; b < blocks; ++b) {
            std::byte* dst = strip + static_cast<size_t>(b) * stripBlockBytes;
            std::byte* partsAt = dst + halves * kStripHalfBytes;
            for (int i = 0; i < kLayoutStripRows; ++i) {
                const std::byte* block = w.row(r0 + i) + static_cast<size_t>(b) * traits.blockBytes;
                for (size_t h = 0; h < halves; ++h)
                    std::memcpy(dst + h * kStripHalfBytes + 2 * i, block + 2 * h, 2);
                for (size_t k = 0; k < parts; ++k)
                    std::memcpy(partsAt + k * kStripPartBytes + 4 * i, block + 2 * halves + 4 * k, 4);
            }
        }
    }
}

void matmul(const WeightMatrix& w, const float* x, int64_t nTokens, float* y, ThreadPool& pool,
            std::vector<std::byte>& scratch, BatchRounding rounding, int64_t batchTokens) {
    const MatmulJob job{&w, y};
    matmulShared(std::span<const MatmulJob>(&job, 1), x, nTokens, pool, scratch, rounding, batchTokens);
}

void matmulShared(std::span<const MatmulJob> jobs, const float* x, int64_t nTokens, ThreadPool& pool,
                  std::vector<std::byte>& scratch, BatchRounding rounding, int64_t batchTokens) {
    if (jobs.empty() || nTokens <= 0)
        return;
    // What llama.cpp's kernel choice sees: the whole batch, when these rows are a chunk of it.
    const int64_t batch = batchTokens > 0 ? batchTokens : nTokens;
    const KernelTable& kernels = activeKernels();
    const int64_t cols = jobs.front().w->cols;
    // Prepare the activations once per distinct activation layout (Q/K/V or gate/up usually share one):
    // a tiled kernel's own prepared layout, or the weight type's activation format for the dot products.
    struct Prepared {
        QuantizeFn prepare; // the tiled kernel's, or nullptr for the dot-product formats
        TensorType actType;
        TensorType weightType; // a weight type using this layout (picks the quantiser)
        size_t rowBytes;
        size_t offset;
    };
    Prepared prepared[kMaxSharedJobs];
    size_t jobSlot[kMaxSharedJobs];
    size_t preparedCount = 0;
    size_t totalBytes = 0;
    const size_t jobCount = std::min(jobs.size(), kMaxSharedJobs);
    for (size_t j = 0; j < jobCount; ++j) {
        const TensorType weightType = jobs[j].w->type;
        const GemmKernel* gemm = gemmForMatrix(kernels, *jobs[j].w);
        if (gemm && (nTokens < gemm->minTokens ||
                     (takesLlamaIqPanel(kernels, *jobs[j].w, batch, rounding) && !gemm->runLlamaBatch)))
            gemm = nullptr; // the dot products' activation rows
        const QuantizeFn prepare = gemm ? gemm->prepare : nullptr;
        const TensorType actType = quant::activationTypeFor(weightType);
        const size_t rowBytes =
            gemm ? gemm->preparedBytes(cols) : quant::activationRowBytes(weightType, cols);
        size_t slot = 0;
        while (slot < preparedCount &&
               !(prepared[slot].prepare == prepare && prepared[slot].actType == actType &&
                 prepared[slot].rowBytes == rowBytes))
            ++slot;
        if (slot == preparedCount) {
            prepared[preparedCount++] = {prepare, actType, weightType, rowBytes, totalBytes};
            // Keep every layout 64-byte aligned relative to the buffer start.
            totalBytes += (rowBytes * static_cast<size_t>(nTokens) + 63) / 64 * 64;
        }
        jobSlot[j] = slot;
    }
    // The kernels' vector loads of the prepared rows stay within cache lines only if the layouts start on a
    // 64-byte boundary; a std::vector's storage is only 16-byte aligned, so skip to the first boundary.
    scratch.resize(totalBytes + 64);
    std::byte* const base = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
    auto quantizeRows = [&](int64_t begin, int64_t end) {
        for (size_t p = 0; p < preparedCount; ++p) {
            const Prepared& layout = prepared[p];
            const QuantizeFn quantize =
                layout.prepare ? layout.prepare : kernels.activationQuantizerFor(layout.weightType);
            for (int64_t t = begin; t < end; ++t) {
                std::byte* dst = base + layout.offset + layout.rowBytes * static_cast<size_t>(t);
                if (quantize)
                    quantize(x + t * cols, dst, cols);
                else
                    quant::quantizeActivationRow(layout.weightType, x + t * cols, dst, cols);
            }
        }
    };
    // Quantising a batch is worth splitting; a single row is not worth waking the pool for.
    if (nTokens >= 8)
        pool.parallelFor(nTokens, 4, [&](int64_t begin, int64_t end, int) { quantizeRows(begin, end); });
    else
        quantizeRows(0, nTokens);

    // One parallel pass over the rows of all jobs back to back: each thread takes one contiguous run (the
    // weights stream through once), and sharing the pass saves a pool wake-up per extra matrix, which
    // matters in decode where a layer is only a few hundred microseconds of work. Runs are made of grains
    // of 16 rows counted from each matrix's first row, so the tiled kernels see whole row tiles and a
    // strip-packed matrix whole strips (results never depend on the split).
    constexpr int64_t kRowGrain = 16;
    int64_t jobFirstGrain[kMaxSharedJobs + 1] = {};
    for (size_t j = 0; j < jobCount; ++j)
        jobFirstGrain[j + 1] = jobFirstGrain[j] + (jobs[j].w->rows + kRowGrain - 1) / kRowGrain;
    pool.parallelFor(jobFirstGrain[jobCount], 4, [&](int64_t grainBegin, int64_t grainEnd, int) {
        for (size_t j = 0; j < jobCount && jobFirstGrain[j] < grainEnd; ++j) {
            const WeightMatrix& w = *jobs[j].w;
            const int64_t rBegin = std::max<int64_t>(grainBegin - jobFirstGrain[j], 0) * kRowGrain;
            const int64_t rEnd = std::min<int64_t>((grainEnd - jobFirstGrain[j]) * kRowGrain, w.rows);
            if (rBegin < rEnd) {
                const Prepared& layout = prepared[jobSlot[j]];
                const std::byte* act = base + layout.offset;
                // F32 in ggml_vec_dot_f32's order where llama.cpp computes it so: its one-token products,
                // hence every token of AsDecode (decode is a batch of one), and LlamaCpp batches that its
                // tinyBLAS declines.
                const bool ggmlF32 = w.type == TensorType::F32 && kernels.dotF32Ggml &&
                                     (rounding != BatchRounding::LlamaCpp || batch == 1 ||
                                      w.cols % kernels.llamaSgemmF32Lanes != 0 || w.rows % 4 != 0);
                // llama.cpp's tinyBLAS order for an F16 batch it takes there (LlamaCpp only).
                const bool sgemmF16 = rounding == BatchRounding::LlamaCpp && w.type == TensorType::F16 &&
                                      kernels.dotF16Sgemm && batch > 1 &&
                                      w.cols % kernels.llamaSgemmF32Lanes == 0 && w.rows % 4 == 0;
                const GemmKernel* gemm = gemmForMatrix(kernels, w);
                if (gemm && nTokens < gemm->minTokens)
                    gemm = nullptr;
                if (takesLlamaIqPanel(kernels, w, batch, rounding) && !(gemm && gemm->runLlamaBatch)) {
                    // Tables without the panel kernel, and single rows: the table's row-at-a-time copy of
                    // that rounding, or the scalar reference (exact, slow).
                    if (kernels.dotIQ4_XSPanel)
                        multiplyRows(w, kernels.dotIQ4_XSPanel, act, layout.rowBytes, nTokens, jobs[j].y,
                                     rBegin, rEnd);
                    else
                        for (int64_t t = 0; t < nTokens; ++t) {
                            const auto* xt = reinterpret_cast<const BlockQ8_K*>(
                                act + layout.rowBytes * static_cast<size_t>(t));
                            for (int64_t r = rBegin; r < rEnd; ++r)
                                jobs[j].y[t * w.rows + r] = quant::dotIQ4_XSPanel(
                                    reinterpret_cast<const BlockIQ4_XS*>(w.row(r)), xt, w.cols);
                        }
                } else if (gemm)
                    (takesLlamaBatchKernel(*gemm, kernels, w, batch, rounding)
                         ? gemm->runLlamaBatch
                         : gemm->run)(w.row(rBegin), w.rowBytes, rEnd - rBegin, act, layout.rowBytes, nTokens,
                                      w.cols, jobs[j].y + rBegin, w.rows);
                else if (const DotFn grouped = llamaGroupDot(kernels, w, nTokens, rounding)) {
                    // llama.cpp's repacked gemm for the full groups of 4 tokens (from the first), its gemv
                    // (decode's floats) for the rest.
                    const int64_t groupedTokens = nTokens - nTokens % kLlamaGemmGroupTokens;
                    if (const GemmFn tiled = llamaGroupGemm(kernels, w))
                        tiled(w.row(rBegin), w.rowBytes, rEnd - rBegin, act, layout.rowBytes, groupedTokens,
                              w.cols, jobs[j].y + rBegin, w.rows);
                    else
                        multiplyRows(w, grouped, act, layout.rowBytes, groupedTokens, jobs[j].y, rBegin,
                                     rEnd);
                    multiplyRows(w, kernels.dotFor(w.type),
                                 act + layout.rowBytes * static_cast<size_t>(groupedTokens), layout.rowBytes,
                                 nTokens - groupedTokens, jobs[j].y + groupedTokens * w.rows, rBegin, rEnd);
                } else if (sgemmF16 && kernels.gemmF16Sgemm)
                    kernels.gemmF16Sgemm(w.row(rBegin), w.rowBytes, rEnd - rBegin, act, layout.rowBytes,
                                         nTokens, w.cols, jobs[j].y + rBegin, w.rows);
                else
                    multiplyRows(w,
                                 ggmlF32    ? kernels.dotF32Ggml
                                 : sgemmF16 ? kernels.dotF16Sgemm
                                            : kernels.dotFor(w.type),
                                 act, layout.rowBytes, nTokens, jobs[j].y, rBegin, rEnd);
            }
        }
    });
}

void rmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i)
        out[i] = (x[i] * scale) * weight[i];
}

void ropeTable(int64_t position, int64_t ropeDims, float freqBase, float freqScale, const float* freqFactors,
               const RopeYarn& yarn, float attnFactor, float* cosSin) {
    // theta_i = pos * base^(-2i/d), computed by repeated multiplication in float like ggml so results match.
    const float thetaScale = std::pow(freqBase, -2.0f / static_cast<float>(ropeDims));
    float theta = static_cast<float>(position);
    for (int64_t i = 0; i < ropeDims / 2; ++i) {
        const float factor = freqFactors ? freqFactors[i] : 1.0f;
        const float angle = yarn.angle(theta / factor, freqScale, i);
        cosSin[2 * i] = std::cos(angle) * attnFactor; // ggml: cosf(theta) * mscale
        cosSin[2 * i + 1] = std::sin(angle) * attnFactor;
        theta *= thetaScale;
    }
}

void applyRope(float* x, int64_t heads, int64_t headDim, int64_t ropeDims, const float* cosSin) {
    for (int64_t h = 0; h < heads; ++h) {
        float* v = x + h * headDim;
        for (int64_t i = 0; i < ropeDims / 2; ++i) {
            const float c = cosSin[2 * i];
            const float s = cosSin[2 * i + 1];
            const float x0 = v[2 * i];
            const float x1 = v[2 * i + 1];
            v[2 * i] = std::fma(x0, c, -(x1 * s));
            v[2 * i + 1] = std::fma(x0, s, x1 * c);
        }
    }
}

void applyRopeNeox(float* x, int64_t heads, int64_t headDim, int64_t ropeDims, const float* cosSin) {
    const int64_t half = ropeDims / 2;
    for (int64_t h = 0; h < heads; ++h) {
        float* v = x + h * headDim;
        for (int64_t i = 0; i < half; ++i) {
            const float c = cosSin[2 * i];
            const float s = cosSin[2 * i + 1];
            const float x0 = v[i];
            const float x1 = v[i + half];
            v[i] = std::fma(x0, c, -(x1 * s));
            v[i + half] = std::fma(x0, s, x1 * c);
        }
    }
}

void swiGlu(const float* gate, float* x, int64_t n) {
    if (const auto simd = activeKernels().swiGlu) {
        simd(gate, x, n);
        return;
    }
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        x[i] = (g / (1.0f + std::exp(-g))) * x[i];
    }
}

void swiGluRows(const float* gate, float* x, int64_t rowLength, int64_t rows, ThreadPool& pool) {
    // A decode row of a few thousand values stays on the calling thread; a batch is split by rows.
    pool.parallelFor(rows, 4, [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r)
            swiGlu(gate + r * rowLength, x + r * rowLength, rowLength);
    });
}

float geluF16(float x) {
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    const float h = quant::fp16ToFp32(quant::fp32ToFp16(x));
    // ggml builds its table with GCC contracting `1.0f + GELU_COEF_A*x*x` into one FMA: unfused, one of the
    // 65536 F16 entries rounds the other way (checked against the build's ggml_table_gelu_f16).
    const float inner = std::fma(0.044715f * h, h, 1.0f);
    const float g = 0.5f * h * (1.0f + std::tanh(0.79788456080286535587989211986876f * h * inner));
    return quant::fp16ToFp32(quant::fp32ToFp16(g));
}

void geluGlu(const float* gate, float* x, int64_t n, ThreadPool& pool) {
    pool.parallelFor(n, 4096, [&](int64_t begin, int64_t end, int) {
        for (int64_t i = begin; i < end; ++i)
            x[i] = geluF16(gate[i]) * x[i];
    });
}

void addInPlace(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        x[i] += y[i];
}

void softmax(float* x, int64_t n) {
    float maxValue = -INFINITY;
    for (int64_t i = 0; i < n; ++i)
        maxValue = std::max(maxValue, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float e = std::exp(x[i] - maxValue);
        x[i] = e;
        sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i)
        x[i] *= inv;
}

double expSumGgml(float* y, const float* x, int64_t n, float max) {
    if (const auto simd = activeKernels().expSumGgml)
        return simd(y, x, n, max);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        y[i] = std::exp(x[i] - max);
        sum += static_cast<double>(y[i]);
    }
    return sum;
}

void softmaxGgml(float* x, int64_t n) {
    float maxValue = -INFINITY;
    for (int64_t i = 0; i < n; ++i)
        maxValue = std::max(maxValue, x[i]);
    const auto inverse = static_cast<float>(1.0 / expSumGgml(x, x, n, maxValue));
    for (int64_t i = 0; i < n; ++i)
        x[i] *= inverse;
}

void routeExperts(float* routerLogits, int64_t nTokens, int64_t experts, int64_t used, int32_t* chosen,
                  float* weights) {
    std::vector<int32_t> order(static_cast<size_t>(experts));
    for (int64_t t = 0; t < nTokens; ++t) {
        float* probs = routerLogits + t * experts;
        softmaxGgml(probs, experts); // llama.cpp's soft_max op: routing follows it bit for bit
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
        int32_t* tokenChosen = chosen + t * used;
        double sum = 0.0;
        for (int64_t s = 0; s < used; ++s) {
            tokenChosen[s] = order[static_cast<size_t>(s)];
            sum += static_cast<double>(probs[tokenChosen[s]]);
        }
        const float total = std::max(static_cast<float>(sum), 6.103515625e-5f);
        for (int64_t s = 0; s < used; ++s)
            weights[t * used + s] = probs[tokenChosen[s]] / total;
    }
}

} // namespace declai::cpu
