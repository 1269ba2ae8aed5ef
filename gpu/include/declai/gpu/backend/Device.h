// One compute device of one backend (ggml-style registry -> device -> buffer/queue split). A Device owns
// its context and its single in-order queue. Not thread-safe: drive a device and its buffers from one
// thread at a time (the engine's compute thread).
#pragma once

#include "declai/gpu/backend/DeviceId.h"
#include "declai/gpu/backend/DeviceOps.h"

#include <memory>
#include <optional>
#include <string>

namespace declai::gpu {

struct DeviceCapabilities {
    bool fp16 = false;          // native half arithmetic
    bool int8Dot = false;       // packed int8 dot-product instructions
    bool unifiedMemory = false; // device memory is host memory (no copies needed)
};

struct DeviceInfo {
    DeviceId id;
    std::string name;
    std::string vendor;
    std::string driverVersion;
    uint64_t memoryTotalBytes = 0;
    std::optional<uint64_t> memoryFreeBytes; // nullopt when the API cannot say (plain OpenCL)
    uint64_t maxAllocationBytes = 0;         // largest single buffer
    int computeUnits = 0;
    DeviceCapabilities capabilities;
};

class Device : public DeviceOps {
public:
    ~Device() override = default;

    virtual const DeviceInfo& info() const = 0;
    const DeviceId& id() const { return info().id; }

    // Whether `op` with weights/tables in `type` runs here; the error says why not. `type` is ignored by
    // ops without a weight operand.
    [[nodiscard]] virtual Expected<void> supportsOp(OpKind op, TensorType type) const = 0;

    // OutOfMemory when the device cannot hold `sizeBytes` more bytes.
    [[nodiscard]] virtual Expected<std::unique_ptr<DeviceBuffer>> allocate(uint64_t sizeBytes) = 0;
    // Blocking copies between host memory and [offsetBytes, offsetBytes + sizeBytes) of `buffer`.
    // download waits for every op enqueued before it.
    [[nodiscard]] virtual Expected<void> upload(DeviceBuffer& buffer, uint64_t offsetBytes, const void* data,
                                                uint64_t sizeBytes) = 0;
    [[nodiscard]] virtual Expected<void> download(const DeviceBuffer& buffer, uint64_t offsetBytes,
                                                  void* data, uint64_t sizeBytes) = 0;
    // Waits until every enqueued op has finished; DeviceLost when the device went away meanwhile.
    [[nodiscard]] virtual Expected<void> synchronize() = 0;
};

} // namespace declai::gpu
