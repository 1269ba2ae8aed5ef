// The OpenCL backend: every device of every platform the ICD loader reports (GPUs, CPUs such as PoCL,
// accelerators). Kernels are OpenCL C 1.2 sources embedded at build time and compiled per device when
// the device is opened.
#pragma once

#include "declai/gpu/backend/BackendRegistry.h"

namespace declai::gpu {

// Probes the platforms once; an empty probe yields a backend that reports why it is unavailable.
std::unique_ptr<Backend> makeOpenClBackend();

} // namespace declai::gpu
