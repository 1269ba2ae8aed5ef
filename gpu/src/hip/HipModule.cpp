// The exported factory of libdeclai-backend-hip.so (see HipModule.h). Compiled by hipcc with the rest of
// the module's HIP code, so kAbiId here is what clang saw; the program passes what g++ saw.
#include "hip/HipModule.h"

#include "cuda/CudaBackend.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

namespace {

void writeError(char* error, std::size_t errorSize, const std::string& text) {
    if (error && errorSize > 0)
        std::snprintf(error, errorSize, "%s", text.c_str());
}

} // namespace

extern "C" __attribute__((visibility("default"))) declai::gpu::Backend*
declai_hip_create_backend(const char* abiId, char* error, std::size_t errorSize) {
    namespace hm = declai::gpu::hipmodule;
    if (!abiId || std::strcmp(abiId, hm::kAbiId) != 0) {
        writeError(error, errorSize,
                   std::string("the HIP backend module was built for another interface (module: ")
                       .append(hm::kAbiId)
                       .append("; program: ")
                       .append(abiId ? abiId : "none")
                       .append("); rebuild both from the same tree"));
        return nullptr;
    }
    try {
        // makeCudaBackend is the shared gpu/src/cuda host side; built with -DDECLAI_HIP it is the HIP one.
        return declai::gpu::makeCudaBackend().release();
    } catch (const std::exception& e) {
        writeError(error, errorSize, std::string("creating the HIP backend failed: ").append(e.what()));
    } catch (...) {
        writeError(error, errorSize, "creating the HIP backend failed");
    }
    return nullptr;
}
