// Loads the HIP backend from its run-time module (libdeclai-backend-hip.so, see hip/HipModule.h).
#pragma once

#include "declai/gpu/backend/BackendRegistry.h"

namespace declai::gpu {

// A new HIP backend from the module next to the executable (<exe dir>/ or <exe dir>/../lib/). The module
// is opened once per process and never closed (backends, devices and the HIP runtime live in it). The
// error, used by the registry as the backend's unavailable reason, carries dlopen's text when the module
// or the ROCm runtime it needs (libamdhip64) cannot be loaded, and the build-time reason in a build
// without the module (no hipcc, DECLAI_GPU_HIP=OFF). Thread-safe.
Expected<std::unique_ptr<Backend>> loadHipModuleBackend();

} // namespace declai::gpu
