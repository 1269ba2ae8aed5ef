// Lists every compute backend this build knows (cpu, opencl, vulkan, cuda, hip), whether each is usable
// here and why not, and opens devices by id. Constructed explicitly by a composition root (no singleton);
// construction probes the drivers once. Not thread-safe; devices it opens are independent of it.
#pragma once

#include "declai/gpu/backend/Device.h"

#include <memory>
#include <string>
#include <vector>

namespace declai::gpu {

// One backend: a driver API with zero or more devices.
class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string_view name() const = 0;
    // Empty when the backend can be used; otherwise the reason it cannot (built without it, no driver...).
    virtual const std::string& unavailableReason() const = 0;
    bool available() const { return unavailableReason().empty(); }
    virtual int deviceCount() const = 0;
    virtual Expected<DeviceInfo> deviceInfo(int index) const = 0;
    [[nodiscard]] virtual Expected<std::unique_ptr<Device>> openDevice(int index) = 0;
};

struct BackendStatus {
    std::string name;
    bool available = false;
    std::string reason; // why not available; empty when available
    std::vector<DeviceInfo> devices;
};

class BackendRegistry {
public:
    // cpuThreads <= 0 uses every hardware thread for the CPU device's kernels.
    explicit BackendRegistry(int cpuThreads = 0);
    ~BackendRegistry();
    BackendRegistry(const BackendRegistry&) = delete;
    BackendRegistry& operator=(const BackendRegistry&) = delete;

    // Every known backend, available or not, in kBackendNames order.
    std::vector<BackendStatus> backends() const;
    const Backend* backend(std::string_view name) const;

    [[nodiscard]] Expected<std::unique_ptr<Device>> openDevice(const DeviceId& id);
    [[nodiscard]] Expected<std::unique_ptr<Device>> openDevice(std::string_view id);

private:
    std::vector<std::unique_ptr<Backend>> m_backends;
};

} // namespace declai::gpu
