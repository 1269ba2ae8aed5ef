// The engine-facing view of "something that runs layers [begin, end) of a model with one KV cache per
// session": the CPU ShardExecutor (through an adapter) and DeviceShardExecutor (any DeviceOps device)
// both implement it, so callers pick the device with a string ("cpu", "opencl:0", "vulkan:0", ...).
// Threading: like ShardExecutor, every call comes from one compute thread.
#pragma once

#include "declai/core/Sampler.h"
#include "declai/gpu/Embedder.h"
#include "declai/gpu/Head.h"
#include "declai/gpu/LocalGenerator.h"
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
    virtual int64_t sessionLength(SessionId session) const = 0; // 0 for unknown sessions
    virtual void truncateSession(SessionId session, int64_t length) = 0;
    virtual void endSession(SessionId session) = 0;
    virtual size_t sessionCount() const = 0;
    virtual uint64_t kvBytesPerToken() const = 0;
};

// Opens the shard on `deviceId` ("cpu" keeps the reference ShardExecutor with `pool`; any other id opens
// that device through a BackendRegistry and uploads the shard's weights to it once). maxContext <= 0
// uses the model's context length.
Expected<std::unique_ptr<ShardBackend>> makeShardBackend(std::shared_ptr<const ModelWeights> weights,
                                                         LayerRange layers, std::string_view deviceId,
                                                         ThreadPool& pool, int64_t maxContext = 0);

// LocalGenerator over a ShardBackend: Embedder (host) -> shard on the chosen device -> Head (host) ->
// Sampler. With deviceId "cpu" it computes exactly what LocalGenerator computes.
class DeviceLocalGenerator {
public:
    static Expected<std::unique_ptr<DeviceLocalGenerator>> create(std::shared_ptr<const ModelWeights> weights,
                                                                  ThreadPool& pool, std::string_view deviceId,
                                                                  int64_t maxContext = 0);

    const ModelWeights& weights() const { return *m_weights; }
    const ShardBackend& shard() const { return *m_shard; }

    // Same contracts as LocalGenerator's.
    Expected<std::vector<float>> promptLogits(std::span<const int32_t> prompt);
    Expected<std::vector<int32_t>> generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                                            const std::function<bool(int32_t)>& onToken = {});

private:
    DeviceLocalGenerator(std::shared_ptr<const ModelWeights> weights, ThreadPool& pool,
                         std::unique_ptr<ShardBackend> shard);
    Expected<void> step(SessionId session, std::span<const int32_t> tokens, int64_t startPos);

    std::shared_ptr<const ModelWeights> m_weights;
    Embedder m_embedder;
    Head m_head;
    std::unique_ptr<ShardBackend> m_shard;
    std::vector<float> m_hidden;
    std::vector<float> m_logits;
    SessionId m_nextSession = 1;
};

} // namespace declai
