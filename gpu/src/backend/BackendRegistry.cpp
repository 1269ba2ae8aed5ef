#include "declai/gpu/backend/BackendRegistry.h"

#include "BackendConfig.h"
#include "backend/CpuBackend.h"
#include "backend/HipModuleLoader.h"
#if DECLAI_HAVE_OPENCL
#include "opencl/OpenClBackend.h"
#endif
#if DECLAI_HAVE_VULKAN
#include "vulkan/VulkanBackend.h"
#endif
#if DECLAI_HAVE_CUDA
#include "cuda/CudaBackend.h"
#endif

namespace declai::gpu {
namespace {

// A backend this build does not contain (or cannot use here); it only reports why.
class UnavailableBackend final : public Backend {
public:
    UnavailableBackend(std::string name, std::string reason)
        : m_name(std::move(name)), m_reason(std::move(reason)) {}
    std::string_view name() const override { return m_name; }
    const std::string& unavailableReason() const override { return m_reason; }
    int deviceCount() const override { return 0; }
    Expected<DeviceInfo> deviceInfo(int) const override {
        return makeError(ErrorCode::DriverMissing, m_reason);
    }
    Expected<std::unique_ptr<Device>> openDevice(int) override {
        return makeError(ErrorCode::DriverMissing, m_reason);
    }

private:
    std::string m_name;
    std::string m_reason;
};

} // namespace

BackendRegistry::BackendRegistry(int cpuThreads) {
    m_backends.push_back(makeCpuBackend(cpuThreads));
#if DECLAI_HAVE_OPENCL
    m_backends.push_back(makeOpenClBackend());
#else
    m_backends.push_back(std::make_unique<UnavailableBackend>("opencl", DECLAI_OPENCL_REASON));
#endif
#if DECLAI_HAVE_VULKAN
    m_backends.push_back(makeVulkanBackend());
#else
    m_backends.push_back(std::make_unique<UnavailableBackend>("vulkan", DECLAI_VULKAN_REASON));
#endif
#if DECLAI_HAVE_CUDA
    m_backends.push_back(makeCudaBackend());
#else
    m_backends.push_back(std::make_unique<UnavailableBackend>("cuda", DECLAI_CUDA_REASON));
#endif
    // HIP lives in a run-time module (hip/HipModule.h) so the binaries start without the ROCm runtime; a
    // build without it, or a module or runtime that cannot be loaded, makes hip unavailable with the reason.
    if (auto hip = loadHipModuleBackend())
        m_backends.push_back(std::move(*hip));
    else
        m_backends.push_back(std::make_unique<UnavailableBackend>("hip", hip.error().message));
}

BackendRegistry::~BackendRegistry() = default;

std::vector<BackendStatus> BackendRegistry::backends() const {
    std::vector<BackendStatus> result;
    for (const auto& b : m_backends) {
        BackendStatus status{std::string(b->name()), b->available(), b->unavailableReason(), {}};
        for (int i = 0; i < b->deviceCount(); ++i) {
            if (auto info = b->deviceInfo(i))
                status.devices.push_back(std::move(*info));
        }
        result.push_back(std::move(status));
    }
    return result;
}

const Backend* BackendRegistry::backend(std::string_view name) const {
    for (const auto& b : m_backends) {
        if (b->name() == name)
            return b.get();
    }
    return nullptr;
}

Expected<std::unique_ptr<Device>> BackendRegistry::openDevice(const DeviceId& id) {
    for (const auto& b : m_backends) {
        if (b->name() != id.backend)
            continue;
        if (!b->available())
            return makeError(
                ErrorCode::DriverMissing,
                std::string("device '").append(id.toString()).append("': ").append(b->unavailableReason()));
        if (id.index < 0 || id.index >= b->deviceCount())
            return makeError(ErrorCode::NotFound, std::string("device '")
                                                      .append(id.toString())
                                                      .append("' does not exist (the backend has ")
                                                      .append(std::to_string(b->deviceCount()))
                                                      .append(" devices)"));
        return b->openDevice(id.index);
    }
    return makeError(ErrorCode::NotFound, std::string("unknown backend '").append(id.backend).append("'"));
}

Expected<std::unique_ptr<Device>> BackendRegistry::openDevice(std::string_view id) {
    auto parsed = parseDeviceId(id);
    if (!parsed)
        return parsed.error();
    return openDevice(*parsed);
}

} // namespace declai::gpu
