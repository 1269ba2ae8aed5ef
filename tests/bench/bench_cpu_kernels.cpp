// Micro-benchmarks: one dot-product call per format (scalar reference vs the active SIMD table, 1 and 4
// token tiles), activation quantisation, and cpu::matmul at TinyLlama shapes for decode and prefill.
//   build-perf/bench/bench_cpu_kernels --benchmark_filter=Matmul
#include "RandomValues.h"
#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/ThreadPool.h"

#include <benchmark/benchmark.h>
#include <random>
#include <vector>

using namespace declai;

namespace {

using testdata::randomValues;

constexpr TensorType kTypes[] = {TensorType::F16,  TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K,
                                 TensorType::Q6_K, TensorType::Q5_K, TensorType::Q3_K, TensorType::IQ4_XS};

struct Matrix {
    std::vector<std::byte> bytes;
    WeightMatrix view;
};

Matrix makeMatrix(TensorType type, int64_t rows, int64_t cols) {
    Matrix m;
    const size_t rowBytes = static_cast<size_t>(*tensorBytes(type, static_cast<uint64_t>(cols)));
    m.bytes.resize(rowBytes * static_cast<size_t>(rows));
    const auto row = randomValues(cols, 1);
    for (int64_t r = 0; r < rows; ++r)
        quant::quantizeRow(type, row.data(), m.bytes.data() + rowBytes * static_cast<size_t>(r), cols);
    m.view = WeightMatrix{type, rows, cols, m.bytes.data(), rowBytes};
    return m;
}

// args: type index, table (0 scalar, 1 active), tile tokens
void BM_Dot(benchmark::State& state) {
    const TensorType type = kTypes[state.range(0)];
    const cpu::KernelTable& table = state.range(1) ? cpu::activeKernels() : cpu::scalarKernels();
    const int tile = static_cast<int>(state.range(2));
    const int64_t n = 2048;
    const Matrix w = makeMatrix(type, 1, n);
    const auto xValues = randomValues(n * tile, 2);
    const size_t stride = quant::activationRowBytes(type, n);
    std::vector<std::byte> x(stride * static_cast<size_t>(tile));
    for (int t = 0; t < tile; ++t)
        quant::quantizeActivationRow(type, xValues.data() + t * n, x.data() + stride * static_cast<size_t>(t),
                                     n);
    const cpu::DotFn dot = table.dotFor(type);
    float out[cpu::kMaxTileTokens];
    for (auto _ : state) {
        dot(w.view.data, x.data(), stride, tile, n, out);
        benchmark::DoNotOptimize(out);
    }
    state.SetLabel(std::string(tensorTypeName(type)).append(" ").append(table.name));
    state.SetItemsProcessed(state.iterations() * n * tile);
}
BENCHMARK(BM_Dot)->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7}, {0, 1}, {1, 4}});

void BM_QuantizeActivations(benchmark::State& state) {
    const TensorType type = kTypes[state.range(0)];
    const cpu::KernelTable& table = state.range(1) ? cpu::activeKernels() : cpu::scalarKernels();
    const int64_t n = 5632;
    const auto x = randomValues(n, 3);
    std::vector<std::byte> out(quant::activationRowBytes(type, n));
    const cpu::QuantizeFn quantize = table.activationQuantizerFor(type);
    for (auto _ : state) {
        quantize(x.data(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetLabel(
        std::string(tensorTypeName(quant::activationTypeFor(type))).append(" ").append(table.name));
    state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_QuantizeActivations)->ArgsProduct({{0, 1, 3}, {0, 1}});

// args: type index, tokens, threads. 5632 x 2048 is TinyLlama's ffn_gate / ffn_up.
void BM_Matmul(benchmark::State& state) {
    const TensorType type = kTypes[state.range(0)];
    const int64_t tokens = state.range(1);
    ThreadPool pool(static_cast<int>(state.range(2)));
    const Matrix w = makeMatrix(type, 5632, 2048);
    const auto x = randomValues(tokens * 2048, 4);
    std::vector<float> y(static_cast<size_t>(tokens * 5632));
    std::vector<std::byte> scratch;
    for (auto _ : state) {
        cpu::matmul(w.view, x.data(), tokens, y.data(), pool, scratch);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetLabel(std::string(tensorTypeName(type)).append(" ").append(cpu::activeKernels().name));
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
    state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * 5632.0 * 2048.0 *
                                                      static_cast<double>(tokens) / 1e9,
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Matmul)->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7}, {1, 64}, {1, 2}})->UseRealTime();

} // namespace

BENCHMARK_MAIN();
