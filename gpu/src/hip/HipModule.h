// The contract between declai-gpu and the HIP backend module (libdeclai-backend-hip.so).
//
// The HIP backend is gpu/src/cuda (kernels and host side) compiled by hipcc with -DDECLAI_HIP, linked into
// its own shared module with libamdhip64; declai-gpu dlopens it at run time (backend/HipModuleLoader.cpp),
// so the executables never depend on the ROCm runtime and start on machines without it.
//
// Interface choice: the module hands back the existing pure virtual declai::gpu::Backend (and through it
// Device, DeviceBuffer, Expected<T>, std::string, std::unique_ptr, std::span) rather than a narrow C ABI.
// A C ABI would mean a second, hand-written copy of every DeviceOps call as C functions plus a host-side
// adapter, for no gain here: hipcc is clang, the rest is g++, but both follow the Itanium C++ ABI (same
// vtable layout, same name mangling) and compile against the same libstdc++ headers, so the types are
// laid out identically and new/delete reach the same allocator. What could still differ is checked at
// load time: kAbiId pins the hash of the interface headers (DECLAI_BACKEND_INTERFACE_ID, computed by
// gpu/CMakeLists.txt), the libstdc++ release and its string/list ABI as the *hipcc side* saw them; the
// factory refuses (nullptr plus a reason) when the program's id differs, so a stale or foreign module
// never gets to misread a vtable. Only the one extern "C" factory is exported; everything else in the
// module is hidden, and no C++ exception crosses the boundary (every call returns Expected).
#pragma once

#include "BackendConfig.h"
#include "declai/gpu/backend/BackendRegistry.h"

#include <cstddef>

#define DECLAI_HIP_MODULE_STR2(x) #x
#define DECLAI_HIP_MODULE_STR(x) DECLAI_HIP_MODULE_STR2(x)
#define DECLAI_HIP_MODULE_LIBSTDCXX DECLAI_HIP_MODULE_STR(_GLIBCXX_RELEASE)
#define DECLAI_HIP_MODULE_CXX11_ABI DECLAI_HIP_MODULE_STR(_GLIBCXX_USE_CXX11_ABI)

namespace declai::gpu::hipmodule {

// Identity of the C++ interface the module and the program must share. _GLIBCXX_* come from any
// libstdc++ header (<cstddef> above); a build against another standard library yields another id.
inline constexpr const char kAbiId[] =
    "interface " DECLAI_BACKEND_INTERFACE_ID "; libstdc++ " DECLAI_HIP_MODULE_LIBSTDCXX
    "; cxx11-abi " DECLAI_HIP_MODULE_CXX11_ABI;

// The module's file name and its one exported symbol.
inline constexpr const char kFileName[] = DECLAI_HIP_MODULE_FILE;
inline constexpr const char kFactorySymbol[] = "declai_hip_create_backend";

// Creates the HIP backend (it probes hipGetDeviceCount; no device yields a backend that says why). The
// caller owns the result and deletes it through Backend's virtual destructor. Returns nullptr and writes
// a NUL-terminated reason into error[0, errorSize) when `abiId` is not the module's kAbiId or creation
// fails. Never throws.
using Factory = Backend* (*)(const char* abiId, char* error, std::size_t errorSize);

} // namespace declai::gpu::hipmodule
