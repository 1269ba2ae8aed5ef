// Device figures shared by `declai-cli bench` and the contributor engine's Benchmark button: matrix
// throughput with F16 and int8 (Q8_0) weights, a weight-bound GEMV's read rate, and (CPU) the memory read
// bandwidth. Synchronous and CPU/GPU-heavy (a few seconds): call it on a worker thread. Cancellable through
// the progress callback.
#pragma once

#include "declai/core/Error.h"
#include "declai/gpu/ThreadPool.h"

#include <functional>
#include <string>

namespace declai::gpu {

struct DeviceFigures {
    double f16Gflops = 0;         // 0 when the device lacks the op
    double int8Gflops = 0;        // 0 when the device lacks the op
    double gemvBandwidthGbps = 0; // weight-read rate of one-token F16 GEMV
};

// Called with a percentage in [0, 100]; returning false cancels (the call then returns an error "cancelled").
using BenchmarkProgress = std::function<bool(int percent)>;

// A 2048 x 2048 weight matrix (F16, then Q8_0) times 64 tokens, and the F16 matrix times one token, on
// `deviceId` ("cpu", "vulkan:0", ...). An error when the device cannot be opened or the run was cancelled.
Expected<DeviceFigures> measureDeviceFigures(const std::string& deviceId, int threads,
                                             const BenchmarkProgress& progress = {});

// Read bandwidth of this machine as the engine sees it: every pool thread streams through its share of a
// 512 MiB buffer (much larger than the last-level cache); best of four passes, in GB/s.
double measureReadBandwidthGbps(ThreadPool& pool);

} // namespace declai::gpu
