#include "opencl/OpenClBackend.h"

#include "OpenClKernels.h"
#include "backend/OpChecks.h"

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace declai::gpu {
namespace {

// Vendor query (cl_amd_device_attribute_query): free memory in KiB.
constexpr cl_device_info kGlobalFreeMemoryAmd = 0x4039;
// Largest work-group our reduction kernels use; a power of two.
constexpr size_t kMaxGroupSize = 64;
// Tokens one matmul work-group handles (TOKENS_PER_GROUP in kernels/matmul.cl).
constexpr int64_t kMatMulTokensPerGroup = 8;

std::string clStatusName(cl_int status) {
    switch (status) {
    case CL_DEVICE_NOT_FOUND:
        return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE:
        return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE:
        return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
        return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES:
        return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY:
        return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE:
        return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE:
        return "CL_INVALID_VALUE";
    case CL_INVALID_BUFFER_SIZE:
        return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_KERNEL_ARGS:
        return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_GROUP_SIZE:
        return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE:
        return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE:
        return "CL_INVALID_GLOBAL_WORK_SIZE";
    case -1001:
        return "CL_PLATFORM_NOT_FOUND_KHR";
    default:
        return std::string("OpenCL status ").append(std::to_string(status));
    }
}

Error clError(cl_int status, const char* what) {
    ErrorCode code = ErrorCode::Internal;
    if (status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES ||
        status == CL_OUT_OF_HOST_MEMORY || status == CL_INVALID_BUFFER_SIZE)
        code = ErrorCode::OutOfMemory;
    else if (status == CL_DEVICE_NOT_AVAILABLE)
        code = ErrorCode::DeviceLost;
    return makeError(code, std::string(what).append(" failed: ").append(clStatusName(status)));
}

std::string deviceString(cl_device_id device, cl_device_info param) {
    size_t size = 0;
    if (clGetDeviceInfo(device, param, 0, nullptr, &size) != CL_SUCCESS || size == 0)
        return {};
    std::string text(size, '\0');
    if (clGetDeviceInfo(device, param, size, text.data(), nullptr) != CL_SUCCESS)
        return {};
    while (!text.empty() && (text.back() == '\0' || text.back() == ' '))
        text.pop_back();
    return text;
}

template <class T>
T deviceValue(cl_device_id device, cl_device_info param, T fallback) {
    T value{};
    return clGetDeviceInfo(device, param, sizeof(T), &value, nullptr) == CL_SUCCESS ? value : fallback;
}

bool hasExtension(const std::string& extensions, std::string_view name) {
    size_t pos = 0;
    while ((pos = extensions.find(name, pos)) != std::string::npos) {
        const size_t end = pos + name.size();
        if ((pos == 0 || extensions[pos - 1] == ' ') && (end == extensions.size() || extensions[end] == ' '))
            return true;
        pos = end;
    }
    return false;
}

struct ClDeviceEntry {
    cl_device_id device = nullptr;
    DeviceInfo info;
};

DeviceInfo describe(cl_device_id device, int index) {
    DeviceInfo info;
    info.id = DeviceId{"opencl", index};
    info.name = deviceString(device, CL_DEVICE_NAME);
    info.vendor = deviceString(device, CL_DEVICE_VENDOR);
    info.driverVersion = deviceString(device, CL_DRIVER_VERSION);
    info.memoryTotalBytes = deviceValue<cl_ulong>(device, CL_DEVICE_GLOBAL_MEM_SIZE, 0);
    info.maxAllocationBytes = deviceValue<cl_ulong>(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, 0);
    info.computeUnits = static_cast<int>(deviceValue<cl_uint>(device, CL_DEVICE_MAX_COMPUTE_UNITS, 0));
    const std::string extensions = deviceString(device, CL_DEVICE_EXTENSIONS);
    info.capabilities.fp16 = hasExtension(extensions, "cl_khr_fp16");
    info.capabilities.int8Dot = hasExtension(extensions, "cl_khr_integer_dot_product") ||
                                hasExtension(extensions, "cl_arm_integer_dot_product_int8");
    info.capabilities.unifiedMemory =
        deviceValue<cl_bool>(device, CL_DEVICE_HOST_UNIFIED_MEMORY, CL_FALSE) == CL_TRUE;
    if (hasExtension(extensions, "cl_amd_device_attribute_query")) {
        size_t freeKib[2] = {0, 0};
        if (clGetDeviceInfo(device, kGlobalFreeMemoryAmd, sizeof(freeKib), freeKib, nullptr) == CL_SUCCESS)
            info.memoryFreeBytes = static_cast<uint64_t>(freeKib[0]) * 1024u;
    }
    return info;
}

class OpenClBuffer final : public DeviceBuffer {
public:
    OpenClBuffer(const Device* device, uint64_t sizeBytes, cl_mem mem)
        : DeviceBuffer(device, sizeBytes), m_mem(mem) {}
    ~OpenClBuffer() override { clReleaseMemObject(m_mem); }
    cl_mem mem() const { return m_mem; }

private:
    cl_mem m_mem;
};

cl_mem memOf(const DeviceBuffer& b) {
    // Safe: OpChecks has verified that the buffer belongs to this OpenCL device.
    return static_cast<const OpenClBuffer&>(b).mem();
}

// Local-memory kernel argument of `bytes` bytes.
struct LocalBytes {
    size_t bytes;
};

const char* formatSuffix(TensorType type) {
    return checks::kernelFormatSuffix(type);
}

class OpenClDevice final : public Device {
public:
    static Expected<std::unique_ptr<Device>> open(const ClDeviceEntry& entry) {
        std::unique_ptr<OpenClDevice> device(new OpenClDevice(entry));
        if (auto r = device->init(); !r)
            return r.error();
        return std::unique_ptr<Device>(std::move(device));
    }

    ~OpenClDevice() override {
        m_scores.reset();
        m_ids.reset();
        for (auto& [name, kernel] : m_kernels)
            clReleaseKernel(kernel);
        if (m_program)
            clReleaseProgram(m_program);
        if (m_queue) {
            clFinish(m_queue);
            clReleaseCommandQueue(m_queue);
        }
        if (m_context)
            clReleaseContext(m_context);
    }

    const DeviceInfo& info() const override { return m_info; }

    Expected<void> supportsOp(OpKind op, TensorType type) const override {
        if ((op == OpKind::MatMul || op == OpKind::GetRows) && !checks::isComputeFormat(type))
            return makeError(ErrorCode::Unsupported, std::string(opKindName(op))
                                                         .append(" has no OpenCL kernel for ")
                                                         .append(tensorTypeName(type)));
        return {};
    }

    Expected<std::unique_ptr<DeviceBuffer>> allocate(uint64_t sizeBytes) override {
        if (m_info.maxAllocationBytes && sizeBytes > m_info.maxAllocationBytes)
            return makeError(ErrorCode::OutOfMemory,
                             std::string("a buffer of ")
                                 .append(std::to_string(sizeBytes))
                                 .append(" bytes exceeds the device's largest allocation (")
                                 .append(std::to_string(m_info.maxAllocationBytes))
                                 .append(" bytes)"));
        cl_int status = CL_SUCCESS;
        cl_mem mem =
            clCreateBuffer(m_context, CL_MEM_READ_WRITE, std::max<uint64_t>(sizeBytes, 4), nullptr, &status);
        if (status != CL_SUCCESS)
            return clError(status, "clCreateBuffer");
        return std::unique_ptr<DeviceBuffer>(std::make_unique<OpenClBuffer>(this, sizeBytes, mem));
    }

    Expected<void> upload(DeviceBuffer& buffer, uint64_t offsetBytes, const void* data,
                          uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        if (sizeBytes == 0)
            return {};
        const cl_int status = clEnqueueWriteBuffer(m_queue, memOf(buffer), CL_TRUE, offsetBytes, sizeBytes,
                                                   data, 0, nullptr, nullptr);
        if (status != CL_SUCCESS)
            return clError(status, "clEnqueueWriteBuffer");
        return {};
    }

    Expected<void> download(const DeviceBuffer& buffer, uint64_t offsetBytes, void* data,
                            uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        if (sizeBytes == 0)
            return {};
        // The queue is in order, so a blocking read also waits for every kernel enqueued before it.
        const cl_int status = clEnqueueReadBuffer(m_queue, memOf(buffer), CL_TRUE, offsetBytes, sizeBytes,
                                                  data, 0, nullptr, nullptr);
        if (status != CL_SUCCESS)
            return clError(status, "clEnqueueReadBuffer");
        return {};
    }

    Expected<void> synchronize() override {
        const cl_int status = clFinish(m_queue);
        if (status != CL_SUCCESS)
            return clError(status, "clFinish");
        return {};
    }

    Expected<void> rmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight, DeviceBuffer& out, int64_t n,
                           int64_t nTokens, float eps) override {
        if (auto r = checks::rmsNorm(*this, x, weight, out, n, nTokens); !r)
            return r;
        const size_t global[] = {m_groupSize * static_cast<size_t>(nTokens)};
        const size_t local[] = {m_groupSize};
        return run("rms_norm", 1, global, local, memOf(x), memOf(weight), memOf(out), static_cast<cl_int>(n),
                   eps, LocalBytes{m_groupSize * sizeof(float)});
    }

    Expected<void> matMul(const DeviceBuffer& weights, const MatrixDesc& w, const DeviceBuffer& x,
                          int64_t nTokens, DeviceBuffer& y) override {
        const auto checkedRowBytes = checks::matMul(*this, weights, w, x, nTokens, y);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        const cl_ulong rowBytes = *checkedRowBytes;
        const auto tokenGroups =
            static_cast<size_t>((nTokens + kMatMulTokensPerGroup - 1) / kMatMulTokensPerGroup);
        const size_t global[] = {m_groupSize * static_cast<size_t>(w.rows), tokenGroups};
        const size_t local[] = {m_groupSize, 1};
        return run(std::string("matmul_").append(formatSuffix(w.type)), 2, global, local, memOf(weights),
                   rowBytes, memOf(x), memOf(y), static_cast<cl_int>(w.rows), static_cast<cl_int>(w.cols),
                   static_cast<cl_int>(nTokens), LocalBytes{m_groupSize * sizeof(float)});
    }

    Expected<void> rope(DeviceBuffer& x, const RopeParams& p) override {
        if (auto r = checks::rope(*this, x, p); !r)
            return r;
        const size_t global[] = {static_cast<size_t>(p.ropeDims / 2), static_cast<size_t>(p.heads),
                                 static_cast<size_t>(p.nTokens)};
        return run("rope", 3, global, nullptr, memOf(x), static_cast<cl_int>(p.headDim),
                   static_cast<cl_int>(p.ropeDims), static_cast<cl_int>(p.startPos), p.thetaScale(),
                   p.freqScale, static_cast<cl_int>(p.neox ? 1 : 0),
                   memOf(p.freqFactors ? *p.freqFactors : x), static_cast<cl_int>(p.freqFactors ? 1 : 0),
                   p.attnFactor);
    }

    Expected<void> attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v,
                             DeviceBuffer& keyCache, DeviceBuffer& valueCache, DeviceBuffer& out,
                             const AttentionParams& p) override {
        if (auto r = checks::attention(*this, q, k, v, keyCache, valueCache, out, p); !r)
            return r;
        const int64_t kvDim = p.kvHeadCount * p.headDim;
        const int64_t maxVisible = p.startPos + p.nTokens;
        auto scores =
            scratch(m_scores, static_cast<uint64_t>(p.nTokens * p.headCount * maxVisible) * sizeof(float));
        if (!scores)
            return scores.error();
        const size_t storeGlobal[] = {static_cast<size_t>(p.nTokens * kvDim)};
        if (auto r = run("kv_store", 1, storeGlobal, nullptr, memOf(k), memOf(v), memOf(keyCache),
                         memOf(valueCache), static_cast<cl_int>(p.startPos), static_cast<cl_int>(kvDim));
            !r)
            return r;
        const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.headDim));
        const size_t global[] = {m_groupSize * static_cast<size_t>(p.headCount),
                                 static_cast<size_t>(p.nTokens)};
        const size_t local[] = {m_groupSize, 1};
        if (p.halfAccumulator)
            return run("attention_half", 2, global, local, memOf(q), memOf(keyCache), memOf(valueCache),
                       memOf(out), *scores, static_cast<cl_int>(p.startPos), static_cast<cl_int>(p.headCount),
                       static_cast<cl_int>(p.kvHeadCount), static_cast<cl_int>(p.headDim),
                       static_cast<cl_int>(maxVisible), scale, p.softCap, static_cast<cl_int>(p.window));
        return run("attention", 2, global, local, memOf(q), memOf(keyCache), memOf(valueCache), memOf(out),
                   *scores, static_cast<cl_int>(p.startPos), static_cast<cl_int>(p.headCount),
                   static_cast<cl_int>(p.kvHeadCount), static_cast<cl_int>(p.headDim),
                   static_cast<cl_int>(maxVisible), scale, p.softCap, static_cast<cl_int>(p.window),
                   LocalBytes{m_groupSize * sizeof(float)});
    }

    Expected<void> swiGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        const size_t global[] = {static_cast<size_t>(n)};
        return run("swiglu", 1, global, nullptr, memOf(gate), memOf(x));
    }

    Expected<void> geluGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        const size_t global[] = {static_cast<size_t>(n)};
        return run("gelu_glu", 1, global, nullptr, memOf(gate), memOf(x));
    }

    Expected<void> add(DeviceBuffer& x, const DeviceBuffer& y, int64_t n) override {
        if (auto r = checks::elementwise(*this, x, y, n); !r)
            return r;
        const size_t global[] = {static_cast<size_t>(n)};
        return run("add", 1, global, nullptr, memOf(x), memOf(y));
    }

    Expected<void> addBias(DeviceBuffer& x, const DeviceBuffer& bias, int64_t rows, int64_t cols) override {
        if (auto r = checks::addBias(*this, x, bias, rows, cols); !r)
            return r;
        const size_t global[] = {static_cast<size_t>(rows * cols)};
        return run("add_bias", 1, global, nullptr, memOf(x), memOf(bias), static_cast<cl_int>(cols));
    }

    Expected<void> getRows(const DeviceBuffer& table, const MatrixDesc& desc, std::span<const int32_t> ids,
                           DeviceBuffer& out) override {
        const auto checkedRowBytes = checks::getRows(*this, table, desc, ids, out);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        const uint64_t idBytes = ids.size() * sizeof(int32_t);
        auto idMem = scratch(m_ids, idBytes);
        if (!idMem)
            return idMem.error();
        if (auto r = upload(*m_ids, 0, ids.data(), idBytes); !r)
            return r;
        const cl_ulong rowBytes = *checkedRowBytes;
        const size_t global[] = {static_cast<size_t>(desc.cols), ids.size()};
        return run(std::string("get_rows_").append(formatSuffix(desc.type)), 2, global, nullptr, memOf(table),
                   rowBytes, *idMem, memOf(out), static_cast<cl_int>(desc.cols));
    }

    Expected<void> roundActivations(const DeviceBuffer& x, DeviceBuffer& out, int64_t cols, int64_t nTokens,
                                    TensorType weightType) override {
        if (auto r = checks::roundActivations(*this, x, out, cols, nTokens, weightType); !r)
            return r;
        const int64_t block = checks::activationBlock(weightType);
        const size_t global[] = {static_cast<size_t>(cols * nTokens / block)};
        // Q8_1's block sums go after the cols * nTokens values.
        return run("round_activations", 1, global, nullptr, memOf(x), memOf(out),
                   static_cast<cl_int>(checks::roundKind(weightType)), static_cast<cl_int>(block),
                   static_cast<cl_ulong>(cols * nTokens));
    }

    Expected<void> scatterScaledRows(const DeviceBuffer& src, const DeviceBuffer& slots, int64_t first,
                                     int64_t count, const DeviceBuffer& scales, DeviceBuffer& dst,
                                     int64_t dstRows, int64_t cols) override {
        if (auto r = checks::scatterScaledRows(*this, src, slots, first, count, scales, dst, dstRows, cols);
            !r)
            return r;
        const size_t global[] = {static_cast<size_t>(cols), static_cast<size_t>(count)};
        return run("scatter_scaled_rows", 2, global, nullptr, memOf(src), memOf(slots),
                   static_cast<cl_int>(first), memOf(scales), memOf(dst), static_cast<cl_int>(dstRows),
                   static_cast<cl_int>(cols));
    }

    Expected<void> sumRowGroups(const DeviceBuffer& in, DeviceBuffer& out, int64_t groups, int64_t groupSize,
                                int64_t cols) override {
        if (auto r = checks::sumRowGroups(*this, in, out, groups, groupSize, cols); !r)
            return r;
        const size_t global[] = {static_cast<size_t>(cols), static_cast<size_t>(groups)};
        return run("sum_row_groups", 2, global, nullptr, memOf(in), memOf(out),
                   static_cast<cl_int>(groupSize), static_cast<cl_int>(cols));
    }

private:
    explicit OpenClDevice(const ClDeviceEntry& entry) : m_device(entry.device), m_info(entry.info) {}

    Expected<void> init() {
        cl_int status = CL_SUCCESS;
        m_context = clCreateContext(nullptr, 1, &m_device, nullptr, nullptr, &status);
        if (status != CL_SUCCESS)
            return clError(status, "clCreateContext");
        m_queue = clCreateCommandQueue(m_context, m_device, 0, &status);
        if (status != CL_SUCCESS)
            return clError(status, "clCreateCommandQueue");
        const char* source = kOpenClKernelSource;
        m_program = clCreateProgramWithSource(m_context, 1, &source, nullptr, &status);
        if (status != CL_SUCCESS)
            return clError(status, "clCreateProgramWithSource");
        status = clBuildProgram(m_program, 1, &m_device, "-cl-std=CL1.2", nullptr, nullptr);
        if (status != CL_SUCCESS) {
            size_t logSize = 0;
            clGetProgramBuildInfo(m_program, m_device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &logSize);
            std::string log(logSize, '\0');
            clGetProgramBuildInfo(m_program, m_device, CL_PROGRAM_BUILD_LOG, logSize, log.data(), nullptr);
            Error error = clError(status, "building the OpenCL kernels");
            error.message.append(":\n").append(log.substr(0, 4000));
            return error;
        }
        cl_uint kernelCount = 0;
        status = clCreateKernelsInProgram(m_program, 0, nullptr, &kernelCount);
        if (status != CL_SUCCESS)
            return clError(status, "clCreateKernelsInProgram");
        std::vector<cl_kernel> kernels(kernelCount);
        status = clCreateKernelsInProgram(m_program, kernelCount, kernels.data(), nullptr);
        if (status != CL_SUCCESS)
            return clError(status, "clCreateKernelsInProgram");
        // The reduction kernels share one group size: the largest power of two every one of them allows.
        size_t groupLimit =
            std::min(kMaxGroupSize, deviceValue<size_t>(m_device, CL_DEVICE_MAX_WORK_GROUP_SIZE, 1));
        for (cl_kernel kernel : kernels) {
            char name[128] = {};
            clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof(name) - 1, name, nullptr);
            size_t kernelLimit = 0;
            if (clGetKernelWorkGroupInfo(kernel, m_device, CL_KERNEL_WORK_GROUP_SIZE, sizeof(kernelLimit),
                                         &kernelLimit, nullptr) == CL_SUCCESS &&
                kernelLimit > 0)
                groupLimit = std::min(groupLimit, kernelLimit);
            m_kernels[name] = kernel;
        }
        m_groupSize = 1;
        while (m_groupSize * 2 <= groupLimit)
            m_groupSize *= 2;
        return {};
    }

    // Returns the cl_mem of a scratch buffer of at least `sizeBytes`, growing it when needed. Safe to
    // replace while earlier kernels still use the old one: OpenCL keeps a released buffer alive until
    // the commands that use it have finished.
    Expected<cl_mem> scratch(std::unique_ptr<DeviceBuffer>& buffer, uint64_t sizeBytes) {
        if (!buffer || buffer->sizeBytes() < sizeBytes) {
            auto grown = allocate(std::max<uint64_t>(sizeBytes, buffer ? buffer->sizeBytes() * 2 : 0));
            if (!grown)
                return grown.error();
            buffer = std::move(*grown);
        }
        return memOf(*buffer);
    }

    template <class T>
    cl_int setArg(cl_kernel kernel, cl_uint index, const T& value) {
        return clSetKernelArg(kernel, index, sizeof(T), &value);
    }
    cl_int setArg(cl_kernel kernel, cl_uint index, const LocalBytes& local) {
        return clSetKernelArg(kernel, index, local.bytes, nullptr);
    }

    template <class... Args>
    Expected<void> run(const std::string& name, cl_uint dims, const size_t* global, const size_t* local,
                       const Args&... args) {
        const auto it = m_kernels.find(name);
        if (it == m_kernels.end())
            return makeError(ErrorCode::Internal,
                             std::string("OpenCL kernel '").append(name).append("' is missing"));
        cl_kernel kernel = it->second;
        cl_uint index = 0;
        cl_int status = CL_SUCCESS;
        ((status = status == CL_SUCCESS ? setArg(kernel, index++, args) : status), ...);
        if (status != CL_SUCCESS)
            return clError(status, std::string("clSetKernelArg(").append(name).append(")").c_str());
        status = clEnqueueNDRangeKernel(m_queue, kernel, dims, nullptr, global, local, 0, nullptr, nullptr);
        if (status != CL_SUCCESS)
            return clError(status, std::string("clEnqueueNDRangeKernel(").append(name).append(")").c_str());
        return {};
    }

    cl_device_id m_device;
    DeviceInfo m_info;
    cl_context m_context = nullptr;
    cl_command_queue m_queue = nullptr;
    cl_program m_program = nullptr;
    std::map<std::string, cl_kernel, std::less<>> m_kernels;
    size_t m_groupSize = 1;
    std::unique_ptr<DeviceBuffer> m_scores; // attention scores scratch
    std::unique_ptr<DeviceBuffer> m_ids;    // getRows ids uploaded from the host
};

class OpenClBackend final : public Backend {
public:
    OpenClBackend() { probe(); }
    std::string_view name() const override { return "opencl"; }
    const std::string& unavailableReason() const override { return m_reason; }
    int deviceCount() const override { return static_cast<int>(m_devices.size()); }
    Expected<DeviceInfo> deviceInfo(int index) const override {
        if (index < 0 || index >= deviceCount())
            return makeError(ErrorCode::NotFound,
                             std::string("no OpenCL device ").append(std::to_string(index)));
        return m_devices[static_cast<size_t>(index)].info;
    }
    Expected<std::unique_ptr<Device>> openDevice(int index) override {
        if (index < 0 || index >= deviceCount())
            return makeError(ErrorCode::NotFound,
                             std::string("no OpenCL device ").append(std::to_string(index)));
        return OpenClDevice::open(m_devices[static_cast<size_t>(index)]);
    }

private:
    void probe() {
        cl_uint platformCount = 0;
        cl_int status = clGetPlatformIDs(0, nullptr, &platformCount);
        if (status != CL_SUCCESS || platformCount == 0) {
            m_reason = "no OpenCL platform found (the ICD loader reports no installed driver";
            m_reason.append(
                status == CL_SUCCESS ? ")" : std::string(": ").append(clStatusName(status)).append(")"));
            return;
        }
        std::vector<cl_platform_id> platforms(platformCount);
        if ((status = clGetPlatformIDs(platformCount, platforms.data(), nullptr)) != CL_SUCCESS) {
            m_reason = std::string("clGetPlatformIDs failed: ").append(clStatusName(status));
            return;
        }
        for (cl_platform_id platform : platforms) {
            cl_uint count = 0;
            if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, nullptr, &count) != CL_SUCCESS || count == 0)
                continue;
            std::vector<cl_device_id> devices(count);
            if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, devices.data(), nullptr) != CL_SUCCESS)
                continue;
            for (cl_device_id device : devices)
                m_devices.push_back(
                    ClDeviceEntry{device, describe(device, static_cast<int>(m_devices.size()))});
        }
        if (m_devices.empty())
            m_reason = std::string("no OpenCL device found on ")
                           .append(std::to_string(platformCount))
                           .append(" platform(s)");
    }

    std::string m_reason;
    std::vector<ClDeviceEntry> m_devices;
};

} // namespace

std::unique_ptr<Backend> makeOpenClBackend() {
    return std::make_unique<OpenClBackend>();
}

} // namespace declai::gpu
