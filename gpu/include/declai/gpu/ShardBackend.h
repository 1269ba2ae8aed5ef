// The engine-facing view of "something that runs layers [begin, end) of a model with one KV cache per
// session": the CPU ShardExecutor (through an adapter) and DeviceShardExecutor (any DeviceOps device)
// both implement it, so callers pick the device with a string ("cpu", "opencl:0", "vulkan:0", ...).
// Threading: like ShardExecutor, every call comes from one compute thread.
#pragma once

#include "declai/gpu/ModelWeights.h"
#include "declai/gpu/ShardExecutor.h"
#include "declai/gpu/ThreadPool.h"

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace declai {

class ShardBackend {
public:
    virtual ~ShardBackend() = default;

    virtual LayerRange layers() const = 0;
    virtual int64_t hiddenSize() const = 0;
    virtual int64_t maxContext() const = 0;
    // The device the layers run on, as parseDeviceId spells it ("cpu:0", "opencl:0", ...).
    virtual std::string deviceName() const = 0;

    // Same contract as ShardExecutor::forward: hidden holds nTokens x hiddenSize floats (updated in
    // place) at positions startPos.. of `session`; startPos must equal the session's cached length.
    [[nodiscard]] virtual Expected<void> forward(SessionId session, int64_t startPos, std::span<float> hidden,
                                                 int64_t nTokens) = 0;
    // Several sessions' parts in one pass (ShardExecutor::forwardBatch's contract: each part's result is
    // bit-identical to forward() on it alone; one result per part). This default runs them one after the
    // other; the CPU engine shares every matrix product between the parts.
    [[nodiscard]] virtual std::vector<Expected<void>> forwardBatch(std::span<const BatchPart> parts) {
        std::vector<Expected<void>> results;
        results.reserve(parts.size());
        for (const BatchPart& part : parts)
            results.push_back(forward(part.session, part.startPos, part.hidden, part.nTokens));
        return results;
    }
    // ShardExecutor::setBatchRounding on the CPU; other devices keep their own arithmetic and ignore it.
    virtual void setBatchRounding(cpu::BatchRounding) {}
    virtual int64_t sessionLength(SessionId session) const = 0; // 0 for unknown sessions
    virtual void truncateSession(SessionId session, int64_t length) = 0;
    virtual void endSession(SessionId session) = 0;
    virtual size_t sessionCount() const = 0;
    virtual uint64_t kvBytesPerToken() const = 0;
};

// True when `deviceId` names the CPU ("cpu", "cpu:0" or empty): the layers then read their weights from
// host memory, where ModelWeights::makeResident pays.
bool isCpuDevice(std::string_view deviceId);

// Opens the shard on `deviceId` ("cpu" keeps the reference ShardExecutor with `pool`; any other id opens
// that device through a BackendRegistry and uploads the shard's weights to it once). maxContext <= 0
// uses the model's context length.
Expected<std::unique_ptr<ShardBackend>> makeShardBackend(std::shared_ptr<const ModelWeights> weights,
                                                         LayerRange layers, std::string_view deviceId,
                                                         ThreadPool& pool, int64_t maxContext = 0);

} // namespace declai
