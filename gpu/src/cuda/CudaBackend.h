// The CUDA backend (and, built through cuda/vendor.h, its HIP twin): every device the runtime reports.
// Kernels are compiled ahead of time by nvcc (CudaKernels.cu); this host side is plain C++ against the
// runtime API. Without a driver or a GPU the backend reports why and is unavailable; it never aborts.
// The HIP build of these sources goes into the run-time module libdeclai-backend-hip.so, whose factory
// calls makeCudaBackend (see hip/HipModule.h); declai-gpu itself only holds the CUDA build.
#pragma once

#include "declai/gpu/backend/BackendRegistry.h"

namespace declai::gpu {

// Probes the runtime once (cudaGetDeviceCount); no device yields a backend that says why.
std::unique_ptr<Backend> makeCudaBackend();

} // namespace declai::gpu
