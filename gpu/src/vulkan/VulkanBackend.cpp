#include "vulkan/VulkanBackend.h"

#include "VulkanShaders.h"
#include "backend/OpChecks.h"

#define VK_NO_PROTOTYPES
#include <algorithm>
#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <vector>
#include <vulkan/vulkan.h>

namespace declai::gpu {
namespace {

// Every shader uses one descriptor set of this many storage buffers (unused ones get a dummy buffer) and
// at most this many bytes of push constants (the Vulkan minimum guarantee is 128).
constexpr uint32_t kBindings = 5;
constexpr uint32_t kPushBytes = 48;
constexpr uint32_t kGroupSize = 64;           // local_size_x of every shader
constexpr uint32_t kMatMulTokensPerGroup = 8; // TOKENS_PER_GROUP in matmul.comp
// Descriptor sets per command batch; a full pool forces a submit (see record()).
constexpr uint32_t kSetsPerPool = 1024;

#define DECLAI_VK_FUNCTIONS(X)                                                                               \
    X(vkDestroyInstance)                                                                                     \
    X(vkEnumeratePhysicalDevices)                                                                            \
    X(vkGetPhysicalDeviceProperties)                                                                         \
    X(vkGetPhysicalDeviceMemoryProperties)                                                                   \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkCreateDevice) X(vkDestroyDevice) X(vkGetDeviceQueue)     \
        X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements) X(vkAllocateMemory)            \
            X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory) X(vkCreateShaderModule)    \
                X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout)      \
                    X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) X(vkCreateComputePipelines)         \
                        X(vkDestroyPipeline) X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool)            \
                            X(vkResetDescriptorPool) X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets)   \
                                X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)   \
                                    X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkResetCommandBuffer)    \
                                        X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets)                      \
                                            X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier)   \
                                                X(vkCmdCopyBuffer) X(vkQueueSubmit) X(vkCreateFence)         \
                                                    X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences)    \
                                                        X(vkDeviceWaitIdle)

// The loader, one instance and its entry points. Shared by the backend and every device it opens, so a
// device stays valid after the registry that opened it is gone.
struct VulkanApi {
    void* library = nullptr;
    VkInstance instance = VK_NULL_HANDLE;
    PFN_vkGetInstanceProcAddr getInstanceProcAddr = nullptr;
#define DECLAI_VK_MEMBER(name) PFN_##name name = nullptr;
    DECLAI_VK_FUNCTIONS(DECLAI_VK_MEMBER)
#undef DECLAI_VK_MEMBER

    ~VulkanApi() {
        if (instance && vkDestroyInstance)
            vkDestroyInstance(instance, nullptr);
        if (library)
            dlclose(library);
    }
};

std::string vkResultName(VkResult r) {
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
        return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
        return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_FRAGMENTED_POOL:
        return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
        return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_MEMORY_MAP_FAILED:
        return "VK_ERROR_MEMORY_MAP_FAILED";
    default:
        return std::string("VkResult ").append(std::to_string(static_cast<int>(r)));
    }
}

Error vkError(VkResult r, const char* what) {
    ErrorCode code = ErrorCode::Internal;
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        code = ErrorCode::OutOfMemory;
    else if (r == VK_ERROR_DEVICE_LOST)
        code = ErrorCode::DeviceLost;
    return makeError(code, std::string(what).append(" failed: ").append(vkResultName(r)));
}

// Loads the loader and creates the instance; the error is the backend's unavailability reason.
Expected<std::shared_ptr<VulkanApi>> loadVulkan() {
    auto api = std::make_shared<VulkanApi>();
    api->library = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!api->library)
        return makeError(ErrorCode::DriverMissing, "the Vulkan loader (libvulkan.so.1) is not installed");
    api->getInstanceProcAddr =
        reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(api->library, "vkGetInstanceProcAddr"));
    if (!api->getInstanceProcAddr)
        return makeError(ErrorCode::DriverMissing, "libvulkan.so.1 has no vkGetInstanceProcAddr");
    auto createInstance =
        reinterpret_cast<PFN_vkCreateInstance>(api->getInstanceProcAddr(VK_NULL_HANDLE, "vkCreateInstance"));
    if (!createInstance)
        return makeError(ErrorCode::DriverMissing, "the Vulkan loader has no vkCreateInstance");
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "DeCLAI";
    app.apiVersion = VK_API_VERSION_1_0;
    VkInstanceCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    info.pApplicationInfo = &app;
    if (VkResult r = createInstance(&info, nullptr, &api->instance); r != VK_SUCCESS) {
        api->instance = VK_NULL_HANDLE;
        Error e = vkError(r, "vkCreateInstance");
        e.code = ErrorCode::DriverMissing;
        e.message.append(" (no Vulkan driver (ICD) installed?)");
        return e;
    }
#define DECLAI_VK_LOAD(name)                                                                                 \
    api->name = reinterpret_cast<PFN_##name>(api->getInstanceProcAddr(api->instance, #name));                \
    if (!api->name)                                                                                          \
        return makeError(ErrorCode::DriverMissing, "the Vulkan loader lacks " #name);
    DECLAI_VK_FUNCTIONS(DECLAI_VK_LOAD)
#undef DECLAI_VK_LOAD
    return api;
}

struct VkDeviceEntry {
    VkPhysicalDevice physical = VK_NULL_HANDLE;
    uint32_t queueFamily = 0;
    DeviceInfo info;
};

class VulkanDevice;

class VulkanBuffer final : public DeviceBuffer {
public:
    VulkanBuffer(const Device* device, uint64_t sizeBytes, const VulkanApi& api, VkDevice vkDevice)
        : DeviceBuffer(device, sizeBytes), m_api(api), m_device(vkDevice) {}
    ~VulkanBuffer() override {
        if (m_mapped)
            m_api.vkUnmapMemory(m_device, m_memory);
        if (buffer)
            m_api.vkDestroyBuffer(m_device, buffer, nullptr);
        if (m_memory)
            m_api.vkFreeMemory(m_device, m_memory, nullptr);
    }
    VkBuffer buffer = VK_NULL_HANDLE; // public: VulkanDevice creates and binds it

private:
    friend class VulkanDevice;
    const VulkanApi& m_api;
    VkDevice m_device;
    VkDeviceMemory m_memory = VK_NULL_HANDLE;
    void* m_mapped = nullptr; // persistently mapped when the memory is host-visible
};

const VulkanBuffer& vkBufferOf(const DeviceBuffer& b) {
    // Safe: OpChecks has verified that the buffer belongs to this Vulkan device.
    return static_cast<const VulkanBuffer&>(b);
}

struct Shader {
    const uint32_t* code;
    size_t sizeBytes;
};

class VulkanDevice final : public Device {
public:
    static Expected<std::unique_ptr<Device>> open(std::shared_ptr<VulkanApi> api,
                                                  const VkDeviceEntry& entry) {
        std::unique_ptr<VulkanDevice> device(new VulkanDevice(std::move(api), entry));
        if (auto r = device->init(); !r)
            return r.error();
        return std::unique_ptr<Device>(std::move(device));
    }

    ~VulkanDevice() override {
        if (!m_device)
            return;
        m_api->vkDeviceWaitIdle(m_device);
        m_scores.reset();
        m_ids.reset();
        m_staging.reset();
        m_dummy.reset();
        for (auto& [name, pipeline] : m_pipelines)
            m_api->vkDestroyPipeline(m_device, pipeline, nullptr);
        if (m_pipelineLayout)
            m_api->vkDestroyPipelineLayout(m_device, m_pipelineLayout, nullptr);
        if (m_setLayout)
            m_api->vkDestroyDescriptorSetLayout(m_device, m_setLayout, nullptr);
        if (m_descriptorPool)
            m_api->vkDestroyDescriptorPool(m_device, m_descriptorPool, nullptr);
        if (m_fence)
            m_api->vkDestroyFence(m_device, m_fence, nullptr);
        if (m_commandPool)
            m_api->vkDestroyCommandPool(m_device, m_commandPool, nullptr);
        m_api->vkDestroyDevice(m_device, nullptr);
    }

    const DeviceInfo& info() const override { return m_info; }

    Expected<void> supportsOp(OpKind op, TensorType type) const override {
        if ((op == OpKind::MatMul || op == OpKind::GetRows) && !checks::isComputeFormat(type))
            return makeError(ErrorCode::Unsupported, std::string(opKindName(op))
                                                         .append(" has no Vulkan shader for ")
                                                         .append(tensorTypeName(type)));
        return {};
    }

    Expected<std::unique_ptr<DeviceBuffer>> allocate(uint64_t sizeBytes) override {
        return allocateBuffer(sizeBytes, false);
    }

    Expected<void> upload(DeviceBuffer& buffer, uint64_t offsetBytes, const void* data,
                          uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        if (sizeBytes == 0)
            return {};
        // Queued ops may still read the old contents: finish them first (uploads are rare: weights once,
        // the input hidden states once per forward).
        if (auto r = flush(); !r)
            return r;
        const VulkanBuffer& b = vkBufferOf(buffer);
        if (b.m_mapped) {
            std::memcpy(static_cast<std::byte*>(b.m_mapped) + offsetBytes, data, sizeBytes);
            return {};
        }
        auto staging = stagingFor(sizeBytes);
        if (!staging)
            return staging.error();
        std::memcpy((*staging)->m_mapped, data, sizeBytes);
        if (auto r = begin(); !r)
            return r;
        const VkBufferCopy region{0, offsetBytes, sizeBytes};
        m_api->vkCmdCopyBuffer(m_cmd, (*staging)->buffer, b.buffer, 1, &region);
        return flush();
    }

    Expected<void> download(const DeviceBuffer& buffer, uint64_t offsetBytes, void* data,
                            uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        if (sizeBytes == 0)
            return {};
        const VulkanBuffer& b = vkBufferOf(buffer);
        if (b.m_mapped) {
            if (auto r = flush(); !r)
                return r;
            std::memcpy(data, static_cast<const std::byte*>(b.m_mapped) + offsetBytes, sizeBytes);
            return {};
        }
        auto staging = stagingFor(sizeBytes);
        if (!staging)
            return staging.error();
        if (auto r = begin(); !r)
            return r;
        barrier();
        const VkBufferCopy region{offsetBytes, 0, sizeBytes};
        m_api->vkCmdCopyBuffer(m_cmd, b.buffer, (*staging)->buffer, 1, &region);
        if (auto r = flush(); !r)
            return r;
        std::memcpy(data, (*staging)->m_mapped, sizeBytes);
        return {};
    }

    Expected<void> synchronize() override { return flush(); }

    Expected<void> rmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight, DeviceBuffer& out, int64_t n,
                           int64_t nTokens, float eps) override {
        if (auto r = checks::rmsNorm(*this, x, weight, out, n, nTokens); !r)
            return r;
        struct {
            uint32_t n;
            float eps;
        } push{static_cast<uint32_t>(n), eps};
        return dispatch("rms_norm", {&x, &weight, &out}, &push, sizeof push, static_cast<uint32_t>(nTokens),
                        1);
    }

    Expected<void> matMul(const DeviceBuffer& weights, const MatrixDesc& w, const DeviceBuffer& x,
                          int64_t nTokens, DeviceBuffer& y) override {
        const auto checkedRowBytes = checks::matMul(*this, weights, w, x, nTokens, y);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        const uint64_t rowBytes = *checkedRowBytes;
        if (rowBytes * static_cast<uint64_t>(w.rows) > UINT32_MAX)
            return makeError(ErrorCode::Unsupported, "Vulkan matMul addresses weights with 32-bit offsets");
        struct {
            uint32_t rows, cols, nTokens, rowBytes;
        } push{static_cast<uint32_t>(w.rows), static_cast<uint32_t>(w.cols), static_cast<uint32_t>(nTokens),
               static_cast<uint32_t>(rowBytes)};
        const auto groups =
            static_cast<uint32_t>((nTokens + kMatMulTokensPerGroup - 1) / kMatMulTokensPerGroup);
        return dispatch(std::string("matmul_").append(formatSuffix(w.type)), {&weights, &x, &y}, &push,
                        sizeof push, static_cast<uint32_t>(w.rows), groups);
    }

    Expected<void> rope(DeviceBuffer& x, const RopeParams& p) override {
        if (auto r = checks::rope(*this, x, p); !r)
            return r;
        const float thetaScale = p.thetaScale();
        const auto pairs = static_cast<uint32_t>(p.nTokens * p.heads * (p.ropeDims / 2));
        struct {
            uint32_t pairs, heads, headDim, ropeDims, startPos;
            float thetaScale, freqScale;
            uint32_t neox, hasFactors;
            float attnFactor;
        } push{pairs,
               static_cast<uint32_t>(p.heads),
               static_cast<uint32_t>(p.headDim),
               static_cast<uint32_t>(p.ropeDims),
               static_cast<uint32_t>(p.startPos),
               thetaScale,
               p.freqScale,
               p.neox ? 1u : 0u,
               p.freqFactors ? 1u : 0u,
               p.attnFactor};
        return dispatchFlat("rope", {&x, p.freqFactors ? p.freqFactors : &x}, &push, sizeof push, pairs);
    }

    Expected<void> attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v,
                             DeviceBuffer& keyCache, DeviceBuffer& valueCache, DeviceBuffer& out,
                             const AttentionParams& p) override {
        if (auto r = checks::attention(*this, q, k, v, keyCache, valueCache, out, p); !r)
            return r;
        const int64_t kvDim = p.kvHeadCount * p.headDim;
        if (kvDim % 2 != 0)
            return makeError(ErrorCode::Unsupported,
                             "the Vulkan KV cache stores F16 pairs: kvDim must be even");
        const int64_t maxVisible = p.startPos + p.nTokens;
        if (auto r = scratch(m_scores,
                             static_cast<uint64_t>(p.nTokens * p.headCount * maxVisible) * sizeof(float));
            !r)
            return r;
        struct {
            uint32_t words, firstWord;
        } store{static_cast<uint32_t>(p.nTokens * kvDim / 2), static_cast<uint32_t>(p.startPos * kvDim / 2)};
        if (auto r =
                dispatchFlat("kv_store", {&k, &v, &keyCache, &valueCache}, &store, sizeof store, store.words);
            !r)
            return r;
        const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.headDim));
        struct {
            uint32_t startPos, headCount, kvHeadCount, headDim, maxVisible;
            float scale;
            uint32_t halfAccumulator;
            float softCap;
            uint32_t window;
        } push{static_cast<uint32_t>(p.startPos),    static_cast<uint32_t>(p.headCount),
               static_cast<uint32_t>(p.kvHeadCount), static_cast<uint32_t>(p.headDim),
               static_cast<uint32_t>(maxVisible),    scale,
               p.halfAccumulator ? 1u : 0u,          p.softCap,
               static_cast<uint32_t>(p.window)};
        return dispatch("attention", {&q, &keyCache, &valueCache, &out, m_scores.get()}, &push, sizeof push,
                        static_cast<uint32_t>(p.headCount), static_cast<uint32_t>(p.nTokens));
    }

    Expected<void> swiGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        const auto count = static_cast<uint32_t>(n);
        return dispatchFlat("swiglu", {&gate, &x}, &count, sizeof count, count);
    }

    Expected<void> geluGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        const auto count = static_cast<uint32_t>(n);
        return dispatchFlat("gelu_glu", {&gate, &x}, &count, sizeof count, count);
    }

    Expected<void> add(DeviceBuffer& x, const DeviceBuffer& y, int64_t n) override {
        if (auto r = checks::elementwise(*this, x, y, n); !r)
            return r;
        const auto count = static_cast<uint32_t>(n);
        return dispatchFlat("add", {&x, &y}, &count, sizeof count, count);
    }

    Expected<void> addBias(DeviceBuffer& x, const DeviceBuffer& bias, int64_t rows, int64_t cols) override {
        if (auto r = checks::addBias(*this, x, bias, rows, cols); !r)
            return r;
        struct {
            uint32_t n, cols;
        } push{static_cast<uint32_t>(rows * cols), static_cast<uint32_t>(cols)};
        return dispatchFlat("add_bias", {&x, &bias}, &push, sizeof push, push.n);
    }

    Expected<void> getRows(const DeviceBuffer& table, const MatrixDesc& desc, std::span<const int32_t> ids,
                           DeviceBuffer& out) override {
        const auto checkedRowBytes = checks::getRows(*this, table, desc, ids, out);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        const uint64_t rowBytes = *checkedRowBytes;
        if (rowBytes * static_cast<uint64_t>(desc.rows) > UINT32_MAX)
            return makeError(ErrorCode::Unsupported, "Vulkan getRows addresses tables with 32-bit offsets");
        const uint64_t idBytes = ids.size() * sizeof(int32_t);
        if (auto r = scratch(m_ids, idBytes); !r)
            return r;
        if (auto r = upload(*m_ids, 0, ids.data(), idBytes); !r)
            return r;
        const uint32_t unitValues = desc.type == TensorType::F32 || desc.type == TensorType::F16 ? 1 : 32;
        struct {
            uint32_t cols, count, rowBytes;
        } push{static_cast<uint32_t>(desc.cols), static_cast<uint32_t>(ids.size()),
               static_cast<uint32_t>(rowBytes)};
        return dispatchFlat(std::string("get_rows_").append(formatSuffix(desc.type)),
                            {&table, m_ids.get(), &out}, &push, sizeof push,
                            static_cast<uint32_t>(ids.size() * desc.cols / unitValues));
    }

    Expected<void> roundActivations(const DeviceBuffer& x, DeviceBuffer& out, int64_t cols, int64_t nTokens,
                                    TensorType weightType) override {
        if (auto r = checks::roundActivations(*this, x, out, cols, nTokens, weightType); !r)
            return r;
        const int64_t block = checks::activationBlock(weightType);
        // Q8_1's block sums go after the cols * nTokens values (sumsAt).
        struct {
            uint32_t blocks, kind, block, sumsAt;
        } push{static_cast<uint32_t>(cols * nTokens / block),
               static_cast<uint32_t>(checks::roundKind(weightType)), static_cast<uint32_t>(block),
               static_cast<uint32_t>(cols * nTokens)};
        return dispatchFlat("round_activations", {&x, &out}, &push, sizeof push, push.blocks);
    }

    Expected<void> scatterScaledRows(const DeviceBuffer& src, const DeviceBuffer& slots, int64_t first,
                                     int64_t count, const DeviceBuffer& scales, DeviceBuffer& dst,
                                     int64_t dstRows, int64_t cols) override {
        if (auto r = checks::scatterScaledRows(*this, src, slots, first, count, scales, dst, dstRows, cols);
            !r)
            return r;
        struct {
            uint32_t first, count, dstRows, cols;
        } push{static_cast<uint32_t>(first), static_cast<uint32_t>(count), static_cast<uint32_t>(dstRows),
               static_cast<uint32_t>(cols)};
        return dispatchFlat("scatter_scaled_rows", {&src, &slots, &scales, &dst}, &push, sizeof push,
                            static_cast<uint32_t>(count * cols));
    }

    Expected<void> sumRowGroups(const DeviceBuffer& in, DeviceBuffer& out, int64_t groups, int64_t groupSize,
                                int64_t cols) override {
        if (auto r = checks::sumRowGroups(*this, in, out, groups, groupSize, cols); !r)
            return r;
        struct {
            uint32_t groups, groupSize, cols;
        } push{static_cast<uint32_t>(groups), static_cast<uint32_t>(groupSize), static_cast<uint32_t>(cols)};
        return dispatchFlat("sum_row_groups", {&in, &out}, &push, sizeof push,
                            static_cast<uint32_t>(groups * cols));
    }

private:
    VulkanDevice(std::shared_ptr<VulkanApi> api, const VkDeviceEntry& entry)
        : m_api(std::move(api)), m_physical(entry.physical), m_queueFamily(entry.queueFamily),
          m_info(entry.info) {}

    static const char* formatSuffix(TensorType type) {
        const char* suffix = checks::kernelFormatSuffix(type);
        return suffix ? suffix : "missing"; // checks:: admits only formats with kernels
    }

    Expected<void> init() {
        const float priority = 1.0f;
        VkDeviceQueueCreateInfo queue{};
        queue.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
        queue.queueFamilyIndex = m_queueFamily;
        queue.queueCount = 1;
        queue.pQueuePriorities = &priority;
        VkDeviceCreateInfo info{};
        info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
        info.queueCreateInfoCount = 1;
        info.pQueueCreateInfos = &queue;
        if (VkResult r = m_api->vkCreateDevice(m_physical, &info, nullptr, &m_device); r != VK_SUCCESS) {
            m_device = VK_NULL_HANDLE;
            return vkError(r, "vkCreateDevice");
        }
        m_api->vkGetDeviceQueue(m_device, m_queueFamily, 0, &m_queue);
        VkPhysicalDeviceProperties props{};
        m_api->vkGetPhysicalDeviceProperties(m_physical, &props);
        m_limits = props.limits;
        m_api->vkGetPhysicalDeviceMemoryProperties(m_physical, &m_memory);

        VkCommandPoolCreateInfo poolInfo{};
        poolInfo.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
        poolInfo.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        poolInfo.queueFamilyIndex = m_queueFamily;
        if (VkResult r = m_api->vkCreateCommandPool(m_device, &poolInfo, nullptr, &m_commandPool);
            r != VK_SUCCESS)
            return vkError(r, "vkCreateCommandPool");
        VkCommandBufferAllocateInfo cmdInfo{};
        cmdInfo.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
        cmdInfo.commandPool = m_commandPool;
        cmdInfo.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        cmdInfo.commandBufferCount = 1;
        if (VkResult r = m_api->vkAllocateCommandBuffers(m_device, &cmdInfo, &m_cmd); r != VK_SUCCESS)
            return vkError(r, "vkAllocateCommandBuffers");
        VkFenceCreateInfo fenceInfo{};
        fenceInfo.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
        if (VkResult r = m_api->vkCreateFence(m_device, &fenceInfo, nullptr, &m_fence); r != VK_SUCCESS)
            return vkError(r, "vkCreateFence");

        VkDescriptorSetLayoutBinding bindings[kBindings]{};
        for (uint32_t i = 0; i < kBindings; ++i) {
            bindings[i].binding = i;
            bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            bindings[i].descriptorCount = 1;
            bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
        }
        VkDescriptorSetLayoutCreateInfo setInfo{};
        setInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
        setInfo.bindingCount = kBindings;
        setInfo.pBindings = bindings;
        if (VkResult r = m_api->vkCreateDescriptorSetLayout(m_device, &setInfo, nullptr, &m_setLayout);
            r != VK_SUCCESS)
            return vkError(r, "vkCreateDescriptorSetLayout");
        const VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
        VkPipelineLayoutCreateInfo layoutInfo{};
        layoutInfo.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
        layoutInfo.setLayoutCount = 1;
        layoutInfo.pSetLayouts = &m_setLayout;
        layoutInfo.pushConstantRangeCount = 1;
        layoutInfo.pPushConstantRanges = &range;
        if (VkResult r = m_api->vkCreatePipelineLayout(m_device, &layoutInfo, nullptr, &m_pipelineLayout);
            r != VK_SUCCESS)
            return vkError(r, "vkCreatePipelineLayout");
        const VkDescriptorPoolSize poolSize{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBindings};
        VkDescriptorPoolCreateInfo descriptorInfo{};
        descriptorInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
        descriptorInfo.maxSets = kSetsPerPool;
        descriptorInfo.poolSizeCount = 1;
        descriptorInfo.pPoolSizes = &poolSize;
        if (VkResult r = m_api->vkCreateDescriptorPool(m_device, &descriptorInfo, nullptr, &m_descriptorPool);
            r != VK_SUCCESS)
            return vkError(r, "vkCreateDescriptorPool");

        // Pipelines are created once per device for every embedded shader (the pipeline cache).
        for (const EmbeddedShader& shader : kVulkanShaders) {
            VkShaderModuleCreateInfo moduleInfo{};
            moduleInfo.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
            moduleInfo.codeSize = shader.sizeBytes;
            moduleInfo.pCode = shader.code;
            VkShaderModule module = VK_NULL_HANDLE;
            if (VkResult r = m_api->vkCreateShaderModule(m_device, &moduleInfo, nullptr, &module);
                r != VK_SUCCESS)
                return vkError(r, "vkCreateShaderModule");
            VkComputePipelineCreateInfo pipelineInfo{};
            pipelineInfo.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
            pipelineInfo.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
            pipelineInfo.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
            pipelineInfo.stage.module = module;
            pipelineInfo.stage.pName = "main";
            pipelineInfo.layout = m_pipelineLayout;
            VkPipeline pipeline = VK_NULL_HANDLE;
            const VkResult r = m_api->vkCreateComputePipelines(m_device, VK_NULL_HANDLE, 1, &pipelineInfo,
                                                               nullptr, &pipeline);
            m_api->vkDestroyShaderModule(m_device, module, nullptr);
            if (r != VK_SUCCESS)
                return vkError(
                    r, std::string("vkCreateComputePipelines(").append(shader.name).append(")").c_str());
            m_pipelines[shader.name] = pipeline;
        }
        auto dummy = allocateBuffer(16, false);
        if (!dummy)
            return dummy.error();
        m_dummy = std::move(*dummy);
        return {};
    }

    // Device-local memory when the device has it (host-visible too on UMA devices such as lavapipe, which
    // then needs no staging); host-visible memory otherwise. `hostVisible` forces a mappable type.
    int memoryType(uint32_t allowedTypes, bool hostVisible) const {
        const VkMemoryPropertyFlags mappable =
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        const VkMemoryPropertyFlags deviceLocal = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
        const VkMemoryPropertyFlags preferences[3] = {hostVisible ? mappable : deviceLocal | mappable,
                                                      hostVisible ? mappable : deviceLocal, mappable};
        for (VkMemoryPropertyFlags wanted : preferences) {
            for (uint32_t i = 0; i < m_memory.memoryTypeCount; ++i) {
                if ((allowedTypes & (1u << i)) && (m_memory.memoryTypes[i].propertyFlags & wanted) == wanted)
                    return static_cast<int>(i);
            }
        }
        return -1;
    }

    Expected<std::unique_ptr<DeviceBuffer>> allocateBuffer(uint64_t sizeBytes, bool hostVisible) {
        // Shaders read bytes out of 32-bit words, so round up to whole words (and a little slack).
        const uint64_t padded = (std::max<uint64_t>(sizeBytes, 4) + 15) & ~uint64_t(15);
        if (padded > m_limits.maxStorageBufferRange)
            return makeError(ErrorCode::OutOfMemory,
                             std::string("a buffer of ")
                                 .append(std::to_string(sizeBytes))
                                 .append(" bytes exceeds the device's largest storage buffer (")
                                 .append(std::to_string(m_limits.maxStorageBufferRange))
                                 .append(" bytes)"));
        auto buffer = std::make_unique<VulkanBuffer>(this, sizeBytes, *m_api, m_device);
        VkBufferCreateInfo info{};
        info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
        info.size = padded;
        info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                     VK_BUFFER_USAGE_TRANSFER_DST_BIT;
        info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
        if (VkResult r = m_api->vkCreateBuffer(m_device, &info, nullptr, &buffer->buffer); r != VK_SUCCESS)
            return vkError(r, "vkCreateBuffer");
        VkMemoryRequirements req{};
        m_api->vkGetBufferMemoryRequirements(m_device, buffer->buffer, &req);
        const int type = memoryType(req.memoryTypeBits, hostVisible);
        if (type < 0)
            return makeError(ErrorCode::Unsupported, "no suitable Vulkan memory type for storage buffers");
        const VkMemoryPropertyFlags flags = m_memory.memoryTypes[type].propertyFlags;
        if (req.size > m_memory.memoryHeaps[m_memory.memoryTypes[type].heapIndex].size)
            return makeError(ErrorCode::OutOfMemory, std::string("a buffer of ")
                                                         .append(std::to_string(sizeBytes))
                                                         .append(" bytes exceeds the device's memory heap"));
        VkMemoryAllocateInfo alloc{};
        alloc.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
        alloc.allocationSize = req.size;
        alloc.memoryTypeIndex = static_cast<uint32_t>(type);
        if (VkResult r = m_api->vkAllocateMemory(m_device, &alloc, nullptr, &buffer->m_memory);
            r != VK_SUCCESS) {
            buffer->m_memory = VK_NULL_HANDLE;
            return vkError(r, "vkAllocateMemory");
        }
        if (VkResult r = m_api->vkBindBufferMemory(m_device, buffer->buffer, buffer->m_memory, 0);
            r != VK_SUCCESS)
            return vkError(r, "vkBindBufferMemory");
        const VkMemoryPropertyFlags mappable =
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        if ((flags & mappable) == mappable) {
            if (VkResult r =
                    m_api->vkMapMemory(m_device, buffer->m_memory, 0, VK_WHOLE_SIZE, 0, &buffer->m_mapped);
                r != VK_SUCCESS) {
                buffer->m_mapped = nullptr;
                return vkError(r, "vkMapMemory");
            }
        }
        return std::unique_ptr<DeviceBuffer>(std::move(buffer));
    }

    Expected<VulkanBuffer*> stagingFor(uint64_t sizeBytes) {
        if (!m_staging || m_staging->sizeBytes() < sizeBytes) {
            if (auto r = flush(); !r) // the old staging buffer may be in a queued copy
                return r.error();
            auto grown = allocateBuffer(std::max<uint64_t>(sizeBytes, uint64_t(1) << 20), true);
            if (!grown)
                return grown.error();
            m_staging = std::move(*grown);
        }
        return static_cast<VulkanBuffer*>(m_staging.get());
    }

    Expected<void> scratch(std::unique_ptr<DeviceBuffer>& buffer, uint64_t sizeBytes) {
        if (buffer && buffer->sizeBytes() >= sizeBytes)
            return {};
        if (auto r = flush(); !r) // queued ops may still use the old buffer
            return r;
        auto grown =
            allocateBuffer(std::max<uint64_t>(sizeBytes, buffer ? buffer->sizeBytes() * 2 : 0), false);
        if (!grown)
            return grown.error();
        buffer = std::move(*grown);
        return {};
    }

    Expected<void> begin() {
        if (m_recording)
            return {};
        VkCommandBufferBeginInfo info{};
        info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
        info.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        if (VkResult r = m_api->vkBeginCommandBuffer(m_cmd, &info); r != VK_SUCCESS)
            return vkError(r, "vkBeginCommandBuffer");
        m_recording = true;
        return {};
    }

    // Every op may read what the previous one wrote (one in-order stream): a full memory barrier between
    // dispatches and copies.
    void barrier() {
        VkMemoryBarrier b{};
        b.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
        b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
        b.dstAccessMask =
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT;
        m_api->vkCmdPipelineBarrier(m_cmd,
                                    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                                    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                                    1, &b, 0, nullptr, 0, nullptr);
    }

    // Submits what was recorded and waits for it; descriptor sets are recycled afterwards.
    Expected<void> flush() {
        if (!m_recording)
            return {};
        m_recording = false;
        VkResult r = m_api->vkEndCommandBuffer(m_cmd);
        if (r != VK_SUCCESS)
            return vkError(r, "vkEndCommandBuffer");
        VkSubmitInfo submit{};
        submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        submit.commandBufferCount = 1;
        submit.pCommandBuffers = &m_cmd;
        if ((r = m_api->vkQueueSubmit(m_queue, 1, &submit, m_fence)) != VK_SUCCESS)
            return vkError(r, "vkQueueSubmit");
        if ((r = m_api->vkWaitForFences(m_device, 1, &m_fence, VK_TRUE, UINT64_MAX)) != VK_SUCCESS)
            return vkError(r, "vkWaitForFences");
        m_api->vkResetFences(m_device, 1, &m_fence);
        m_api->vkResetCommandBuffer(m_cmd, 0);
        m_api->vkResetDescriptorPool(m_device, m_descriptorPool, 0);
        m_setsUsed = 0;
        return {};
    }

    Expected<void> dispatch(const std::string& name, std::initializer_list<const DeviceBuffer*> buffers,
                            const void* push, uint32_t pushBytes, uint32_t groupsX, uint32_t groupsY) {
        const auto it = m_pipelines.find(name);
        if (it == m_pipelines.end())
            return makeError(ErrorCode::Internal,
                             std::string("Vulkan shader '").append(name).append("' is missing"));
        if (pushBytes > kPushBytes)
            return makeError(
                ErrorCode::Internal,
                std::string("Vulkan shader '").append(name).append("' has too many push constants"));
        if (groupsX > m_limits.maxComputeWorkGroupCount[0] || groupsY > m_limits.maxComputeWorkGroupCount[1])
            return makeError(
                ErrorCode::Unsupported,
                std::string(name).append(": the dispatch exceeds the device's work-group count limit"));
        if (groupsX == 0 || groupsY == 0)
            return {};
        if (m_setsUsed == kSetsPerPool) {
            if (auto r = flush(); !r)
                return r;
        }
        if (auto r = begin(); !r)
            return r;
        VkDescriptorSetAllocateInfo allocInfo{};
        allocInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
        allocInfo.descriptorPool = m_descriptorPool;
        allocInfo.descriptorSetCount = 1;
        allocInfo.pSetLayouts = &m_setLayout;
        VkDescriptorSet set = VK_NULL_HANDLE;
        if (VkResult r = m_api->vkAllocateDescriptorSets(m_device, &allocInfo, &set); r != VK_SUCCESS)
            return vkError(r, "vkAllocateDescriptorSets");
        ++m_setsUsed;
        VkDescriptorBufferInfo infos[kBindings]{};
        VkWriteDescriptorSet writes[kBindings]{};
        auto next = buffers.begin();
        for (uint32_t i = 0; i < kBindings; ++i) {
            const DeviceBuffer* b = next != buffers.end() ? *next++ : m_dummy.get();
            infos[i] = VkDescriptorBufferInfo{vkBufferOf(*b).buffer, 0, VK_WHOLE_SIZE};
            writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
            writes[i].dstSet = set;
            writes[i].dstBinding = i;
            writes[i].descriptorCount = 1;
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[i].pBufferInfo = &infos[i];
        }
        m_api->vkUpdateDescriptorSets(m_device, kBindings, writes, 0, nullptr);
        m_api->vkCmdBindPipeline(m_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, it->second);
        m_api->vkCmdBindDescriptorSets(m_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, m_pipelineLayout, 0, 1, &set, 0,
                                       nullptr);
        alignas(4) std::byte constants[kPushBytes]{};
        std::memcpy(constants, push, pushBytes);
        m_api->vkCmdPushConstants(m_cmd, m_pipelineLayout, VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes,
                                  constants);
        m_api->vkCmdDispatch(m_cmd, groupsX, groupsY, 1);
        barrier();
        return {};
    }

    // One invocation per item, split over (x, y) groups as flatIndex() in common.glsl expects.
    Expected<void> dispatchFlat(const std::string& name, std::initializer_list<const DeviceBuffer*> buffers,
                                const void* push, uint32_t pushBytes, uint32_t items) {
        const uint32_t groups = (items + kGroupSize - 1) / kGroupSize;
        const uint32_t maxX = std::min<uint32_t>(m_limits.maxComputeWorkGroupCount[0], 65535u);
        const uint32_t x = std::min(groups, maxX);
        const uint32_t y = x == 0 ? 0 : (groups + x - 1) / x;
        return dispatch(name, buffers, push, pushBytes, x, y);
    }

    std::shared_ptr<VulkanApi> m_api;
    VkPhysicalDevice m_physical;
    uint32_t m_queueFamily;
    DeviceInfo m_info;
    VkDevice m_device = VK_NULL_HANDLE;
    VkQueue m_queue = VK_NULL_HANDLE;
    VkPhysicalDeviceLimits m_limits{};
    VkPhysicalDeviceMemoryProperties m_memory{};
    VkCommandPool m_commandPool = VK_NULL_HANDLE;
    VkCommandBuffer m_cmd = VK_NULL_HANDLE;
    VkFence m_fence = VK_NULL_HANDLE;
    VkDescriptorSetLayout m_setLayout = VK_NULL_HANDLE;
    VkPipelineLayout m_pipelineLayout = VK_NULL_HANDLE;
    VkDescriptorPool m_descriptorPool = VK_NULL_HANDLE;
    std::map<std::string, VkPipeline, std::less<>> m_pipelines;
    bool m_recording = false;
    uint32_t m_setsUsed = 0;
    std::unique_ptr<DeviceBuffer> m_dummy;   // bound to unused descriptor slots
    std::unique_ptr<DeviceBuffer> m_staging; // host-visible copy area for non-mappable device memory
    std::unique_ptr<DeviceBuffer> m_scores;  // attention scores scratch
    std::unique_ptr<DeviceBuffer> m_ids;     // getRows ids uploaded from the host
};

class VulkanBackend final : public Backend {
public:
    VulkanBackend() { probe(); }
    std::string_view name() const override { return "vulkan"; }
    const std::string& unavailableReason() const override { return m_reason; }
    int deviceCount() const override { return static_cast<int>(m_devices.size()); }
    Expected<DeviceInfo> deviceInfo(int index) const override {
        if (index < 0 || index >= deviceCount())
            return makeError(ErrorCode::NotFound,
                             std::string("no Vulkan device ").append(std::to_string(index)));
        return m_devices[static_cast<size_t>(index)].info;
    }
    Expected<std::unique_ptr<Device>> openDevice(int index) override {
        if (index < 0 || index >= deviceCount())
            return makeError(ErrorCode::NotFound,
                             std::string("no Vulkan device ").append(std::to_string(index)));
        return VulkanDevice::open(m_api, m_devices[static_cast<size_t>(index)]);
    }

private:
    void probe() {
        auto api = loadVulkan();
        if (!api) {
            m_reason = api.error().message;
            return;
        }
        m_api = std::move(*api);
        uint32_t count = 0;
        if (VkResult r = m_api->vkEnumeratePhysicalDevices(m_api->instance, &count, nullptr);
            r != VK_SUCCESS) {
            m_reason = vkError(r, "vkEnumeratePhysicalDevices").message;
            return;
        }
        std::vector<VkPhysicalDevice> physical(count);
        if (count)
            m_api->vkEnumeratePhysicalDevices(m_api->instance, &count, physical.data());
        for (VkPhysicalDevice p : physical) {
            uint32_t familyCount = 0;
            m_api->vkGetPhysicalDeviceQueueFamilyProperties(p, &familyCount, nullptr);
            std::vector<VkQueueFamilyProperties> families(familyCount);
            m_api->vkGetPhysicalDeviceQueueFamilyProperties(p, &familyCount, families.data());
            int family = -1;
            for (uint32_t i = 0; i < familyCount && family < 0; ++i) {
                if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
                    family = static_cast<int>(i);
            }
            if (family < 0)
                continue;
            VkPhysicalDeviceProperties props{};
            m_api->vkGetPhysicalDeviceProperties(p, &props);
            VkPhysicalDeviceMemoryProperties memory{};
            m_api->vkGetPhysicalDeviceMemoryProperties(p, &memory);
            VkDeviceEntry entry;
            entry.physical = p;
            entry.queueFamily = static_cast<uint32_t>(family);
            DeviceInfo& info = entry.info;
            info.id = DeviceId{"vulkan", static_cast<int>(m_devices.size())};
            info.name = props.deviceName;
            info.vendor = std::string("0x").append([&] {
                char hex[16];
                std::snprintf(hex, sizeof hex, "%04x", props.vendorID);
                return std::string(hex);
            }());
            info.driverVersion = std::string("Vulkan ")
                                     .append(std::to_string(VK_API_VERSION_MAJOR(props.apiVersion)))
                                     .append(".")
                                     .append(std::to_string(VK_API_VERSION_MINOR(props.apiVersion)))
                                     .append(", driver ")
                                     .append(std::to_string(props.driverVersion));
            bool anyDeviceLocal = false;
            for (uint32_t h = 0; h < memory.memoryHeapCount; ++h) {
                if (memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
                    info.memoryTotalBytes += memory.memoryHeaps[h].size;
                    anyDeviceLocal = true;
                }
            }
            if (!anyDeviceLocal && memory.memoryHeapCount)
                info.memoryTotalBytes = memory.memoryHeaps[0].size;
            info.maxAllocationBytes = props.limits.maxStorageBufferRange;
            info.computeUnits = 0; // core Vulkan does not report it
            info.capabilities.unifiedMemory = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                                              props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
            m_devices.push_back(std::move(entry));
        }
        if (m_devices.empty())
            m_reason = "the Vulkan loader reports no device with a compute queue (no ICD installed?)";
    }

    std::shared_ptr<VulkanApi> m_api;
    std::string m_reason;
    std::vector<VkDeviceEntry> m_devices;
};

} // namespace

std::unique_ptr<Backend> makeVulkanBackend() {
    return std::make_unique<VulkanBackend>();
}

} // namespace declai::gpu
