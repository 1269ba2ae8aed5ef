// Names a compute device as the user types it: "cpu", "opencl:0", "vulkan:1", "cuda:0", "hip:0".
#pragma once

#include "declai/core/Error.h"

#include <string>
#include <string_view>

namespace declai::gpu {

struct DeviceId {
    std::string backend; // "cpu", "opencl", "vulkan", "cuda" or "hip"
    int index = 0;

    std::string toString() const { return std::string(backend).append(":").append(std::to_string(index)); }
    bool operator==(const DeviceId&) const = default;
};

// Parses "backend" (index 0) or "backend:N". The backend name is lower-cased; unknown names and
// malformed indices are InvalidArgument.
Expected<DeviceId> parseDeviceId(std::string_view text);

// Every backend name the registry knows, in listing order.
inline constexpr std::string_view kBackendNames[] = {"cpu", "opencl", "vulkan", "cuda", "hip"};

} // namespace declai::gpu
