#include "backend/HipModuleLoader.h"

#include "BackendConfig.h"

#if DECLAI_HAVE_HIP
#include "hip/HipModule.h"

#include <array>
#include <dlfcn.h>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>
#endif

namespace declai::gpu {

#if DECLAI_HAVE_HIP
namespace {

struct LoadedModule {
    hipmodule::Factory factory = nullptr;
    std::string error; // why factory is null
};

LoadedModule openModule() {
    LoadedModule result;
    namespace fs = std::filesystem;
    // The directory of the running executable (build/bin, build/tests or an install's bin/).
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec || !exe.has_parent_path()) {
        result.error = std::string("HIP backend module not loaded: cannot resolve /proc/self/exe (")
                           .append(ec ? ec.message() : std::string("no directory"))
                           .append(")");
        return result;
    }
    const fs::path dir = exe.parent_path();
    // Next to the executable, then lib/ (where the build puts it: build/lib, reached from build/bin and
    // build/tests), then lib/declai/ (where the packages and the tarball install it:
    // cmake/DeclaiPackaging.cmake, a private directory, since the module is no library others link).
    const std::vector<std::string> candidates = {
        (dir / hipmodule::kFileName).string(),
        (dir / ".." / "lib" / hipmodule::kFileName).lexically_normal().string(),
        (dir / ".." / "lib" / "declai" / hipmodule::kFileName).lexically_normal().string()};
    for (const std::string& path : candidates) {
        if (!fs::exists(path, ec))
            continue;
        // RTLD_NOW: a missing runtime symbol fails here, not at the first kernel launch. RTLD_LOCAL: the
        // module's symbols (its own copies of OpChecks, the CUDA-named host code) stay out of the
        // program's namespace.
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            const char* text = ::dlerror();
            result.error = std::string("HIP backend module '")
                               .append(path)
                               .append("' could not be loaded: ")
                               .append(text ? text : "unknown dlopen error");
            return result;
        }
        ::dlerror(); // clear any stale error before dlsym
        void* symbol = ::dlsym(handle, hipmodule::kFactorySymbol);
        if (!symbol) {
            const char* text = ::dlerror();
            result.error = std::string("HIP backend module '")
                               .append(path)
                               .append("' has no ")
                               .append(hipmodule::kFactorySymbol)
                               .append(": ")
                               .append(text ? text : "symbol is null");
            ::dlclose(handle);
            return result;
        }
        // Never dlclose a module that loaded: backends and devices it created (and their vtables) live in
        // it, and the HIP runtime it pulled in does not support being unloaded.
        result.factory = reinterpret_cast<hipmodule::Factory>(symbol);
        return result;
    }
    result.error = std::string("HIP backend module ")
                       .append(hipmodule::kFileName)
                       .append(" not found (looked for ")
                       .append(candidates[0])
                       .append(", ")
                       .append(candidates[1])
                       .append(" and ")
                       .append(candidates[2])
                       .append(")");
    return result;
}

} // namespace

Expected<std::unique_ptr<Backend>> loadHipModuleBackend() {
    static const LoadedModule module = openModule(); // once per process; thread-safe initialisation
    if (!module.factory)
        return makeError(ErrorCode::DriverMissing, module.error);
    std::array<char, 1024> error{};
    std::unique_ptr<Backend> backend(module.factory(hipmodule::kAbiId, error.data(), error.size()));
    if (!backend)
        return makeError(ErrorCode::DriverMissing,
                         error[0] ? std::string(error.data()) : std::string("the HIP backend module failed"));
    if (backend->name() != "hip")
        return makeError(
            ErrorCode::Internal,
            std::string("the HIP backend module returned backend '").append(backend->name()).append("'"));
    return backend;
}

#else

Expected<std::unique_ptr<Backend>> loadHipModuleBackend() {
    return makeError(ErrorCode::DriverMissing, DECLAI_HIP_REASON);
}

#endif

} // namespace declai::gpu
