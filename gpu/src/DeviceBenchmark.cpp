#include "declai/gpu/DeviceBenchmark.h"

#include "declai/core/Quant.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace declai::gpu {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

// Read bandwidth of this machine as the engine sees it: every pool thread streams through its share of
// a buffer much larger than the last-level cache. Best of a few passes (the first also faults pages in).
double measureReadBandwidthGbps(ThreadPool& pool) {
    constexpr size_t kBytes = size_t{512} << 20;
    const size_t words = kBytes / sizeof(uint64_t);
    std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
    pool.parallelFor(static_cast<int64_t>(words), 1 << 16, [&](int64_t begin, int64_t end, int) {
        for (int64_t i = begin; i < end; ++i)
            buffer[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
    });
    std::vector<uint64_t> sums(static_cast<size_t>(pool.threadCount()), 0);
    double best = 0.0;
    for (int pass = 0; pass < 4; ++pass) {
        const auto start = Clock::now();
        // One word per 64-byte line: the whole line still comes from memory, and the loop does so little
        // that the memory system, not the load ports, is the limit (as in a decode step). The range is
        // split in whole lines over the threads, eight lines in flight per iteration.
        constexpr int64_t kWordsPerLine = 64 / sizeof(uint64_t);
        const auto lines = static_cast<int64_t>(words) / kWordsPerLine;
        pool.parallelFor(lines, 1 << 12, [&](int64_t begin, int64_t end, int thread) {
            uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            const uint64_t* p = buffer.get();
            int64_t line = begin;
            for (; line + 8 <= end; line += 8)
                for (int k = 0; k < 8; ++k)
                    acc[k] += p[static_cast<size_t>((line + k) * kWordsPerLine)];
            for (; line < end; ++line)
                acc[0] += p[static_cast<size_t>(line * kWordsPerLine)];
            uint64_t total = 0;
            for (uint64_t v : acc)
                total += v;
            sums[static_cast<size_t>(thread)] += total;
        });
        const double seconds = secondsSince(start);
        best = std::max(best, static_cast<double>(kBytes) / seconds / 1e9);
    }
    // Keeps the reads observable so the compiler cannot drop them.
    volatile uint64_t sink = 0;
    for (uint64_t s : sums)
        sink = sink + s;
    return best;
}

// Matrix throughput on a device through its ops: a 2048 x 2048 weight matrix (F16, then Q8_0 whose dot
// products are int8) times 64 tokens; and the weight-read rate of the F16 matrix times one token (GEMV,
// bound by memory). Figures are 0 when the device lacks the op.
Expected<DeviceFigures> measureDeviceFigures(const std::string& deviceId, int threads,
                                             const BenchmarkProgress& progress) {
    auto report = [&](int percent) { return !progress || progress(percent); };
    auto cancelled = [] { return makeError(ErrorCode::Internal, "cancelled"); };
    if (!report(0))
        return cancelled();
    DeviceFigures figures;
    BackendRegistry registry(threads);
    auto device = registry.openDevice(deviceId);
    if (!device)
        return device.error();
    constexpr int64_t kRows = 2048, kCols = 2048, kTokens = 64;
    std::vector<float> values(static_cast<size_t>(kCols));
    std::vector<float> activations(static_cast<size_t>(kCols * kTokens));
    uint32_t state = 12345;
    auto next = [&] {
        state = state * 1664525u + 1013904223u;
        return static_cast<float>(static_cast<int32_t>(state >> 8) % 2001 - 1000) / 50000.0f;
    };
    for (float& a : activations)
        a = next();
    auto run = [&](TensorType type, int64_t tokens, double* seconds) -> bool {
        const uint64_t rowBytes = *tensorBytes(type, kCols);
        std::vector<std::byte> matrix(rowBytes * kRows);
        for (int64_t r = 0; r < kRows; ++r) {
            for (float& v : values)
                v = next();
            quant::quantizeRow(type, values.data(), matrix.data() + r * rowBytes, kCols);
        }
        auto w = (*device)->allocate(matrix.size());
        auto x = (*device)->allocate(static_cast<uint64_t>(kCols * tokens) * 4);
        auto y = (*device)->allocate(static_cast<uint64_t>(kRows * tokens) * 4);
        if (!w || !x || !y || !(*device)->upload(**w, 0, matrix.data(), matrix.size()) ||
            !(*device)->upload(**x, 0, activations.data(), static_cast<uint64_t>(kCols * tokens) * 4))
            return false;
        const MatrixDesc desc{type, kRows, kCols};
        if (!(*device)->matMul(**w, desc, **x, tokens, **y) || !(*device)->synchronize()) // warm-up
            return false;
        const int reps = 5;
        const auto start = Clock::now();
        for (int i = 0; i < reps; ++i)
            if (!(*device)->matMul(**w, desc, **x, tokens, **y))
                return false;
        if (!(*device)->synchronize())
            return false;
        *seconds = secondsSince(start) / reps;
        return true;
    };
    const double flops = 2.0 * kRows * kCols * kTokens;
    double seconds = 0;
    if ((*device)->supportsOp(OpKind::MatMul, TensorType::F16) && run(TensorType::F16, kTokens, &seconds))
        figures.f16Gflops = flops / seconds / 1e9;
    if (!report(40))
        return cancelled();
    if ((*device)->supportsOp(OpKind::MatMul, TensorType::Q8_0) && run(TensorType::Q8_0, kTokens, &seconds))
        figures.int8Gflops = flops / seconds / 1e9;
    if (!report(80))
        return cancelled();
    if ((*device)->supportsOp(OpKind::MatMul, TensorType::F16) && run(TensorType::F16, 1, &seconds))
        figures.gemvBandwidthGbps = static_cast<double>(kRows * kCols * 2) / seconds / 1e9;
    if (!report(100))
        return cancelled();
    return figures;
}

} // namespace declai::gpu
