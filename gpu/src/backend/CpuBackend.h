// The CPU backend: one device whose buffers are host memory and whose ops call the reference kernels
// (cpu:: and quant::). It is the ground truth every other backend is compared with.
#pragma once

#include "declai/gpu/backend/BackendRegistry.h"

namespace declai::gpu {

// threadCount <= 0 uses every hardware thread.
std::unique_ptr<Backend> makeCpuBackend(int threadCount);

} // namespace declai::gpu
