#include "cuda/CudaBackend.h"

#include "backend/OpChecks.h"
#include "cuda/CudaKernels.h"
#include "cuda/vendor.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace declai::gpu {
namespace {

constexpr const char* kBackendName = DECLAI_GPU_VENDOR_HIP ? "hip" : "cuda";

std::string statusText(cudaError_t status) {
    const char* text = cudaGetErrorString(status);
    return text ? std::string(text) : std::string("error ").append(std::to_string(static_cast<int>(status)));
}

ErrorCode codeFor(cudaError_t status) {
    if (status == cudaErrorMemoryAllocation)
        return ErrorCode::OutOfMemory;
    if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver ||
        status == cudaErrorInitializationError)
        return ErrorCode::DriverMissing;
    if (status == cudaErrorLaunchFailure || status == cudaErrorIllegalAddress ||
        status == cudaErrorLaunchTimeout || status == cudaErrorECCUncorrectable ||
        status == cudaErrorInvalidDevice)
        return ErrorCode::DeviceLost;
    return ErrorCode::Internal;
}

Error apiError(cudaError_t status, const std::string& what) {
    return makeError(codeFor(status), std::string(what).append(" failed: ").append(statusText(status)));
}

Expected<void> check(cudaError_t status, const char* what) {
    if (status != cudaSuccess)
        return apiError(status, what);
    return {};
}

cuda::Format formatOf(TensorType type) {
    switch (type) {
    case TensorType::F16:
        return cuda::Format::F16;
    case TensorType::Q8_0:
        return cuda::Format::Q8_0;
    case TensorType::Q4_0:
        return cuda::Format::Q4_0;
    case TensorType::Q4_K:
        return cuda::Format::Q4_K;
    case TensorType::Q6_K:
        return cuda::Format::Q6_K;
    case TensorType::Q4_1:
        return cuda::Format::Q4_1;
    case TensorType::Q5_0:
        return cuda::Format::Q5_0;
    case TensorType::Q5_1:
        return cuda::Format::Q5_1;
    case TensorType::Q2_K:
        return cuda::Format::Q2_K;
    case TensorType::Q3_K:
        return cuda::Format::Q3_K;
    case TensorType::Q5_K:
        return cuda::Format::Q5_K;
    case TensorType::IQ4_NL:
        return cuda::Format::IQ4_NL;
    case TensorType::IQ4_XS:
        return cuda::Format::IQ4_XS;
    default: // supportsOp has ruled out everything else
        return cuda::Format::F32;
    }
}

DeviceInfo describe(int index) {
    DeviceInfo info;
    info.id = DeviceId{kBackendName, index};
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, index) == cudaSuccess) {
        info.name = prop.name;
        info.memoryTotalBytes = prop.totalGlobalMem;
        info.maxAllocationBytes = prop.totalGlobalMem;
        info.computeUnits = prop.multiProcessorCount;
        info.capabilities.fp16 = prop.major >= 6;
        info.capabilities.int8Dot = prop.major > 6 || (prop.major == 6 && prop.minor >= 1);
        info.capabilities.unifiedMemory = prop.integrated != 0;
    }
    info.vendor = DECLAI_GPU_VENDOR_HIP ? "AMD" : "NVIDIA";
    int driver = 0;
    if (cudaDriverGetVersion(&driver) == cudaSuccess) {
        // CUDA encodes 1000 * major + 10 * minor; HIP reports its runtime version as
        // 10000000 * major + 100000 * minor + patch (HIP_VERSION).
        const int major = DECLAI_GPU_VENDOR_HIP ? driver / 10000000 : driver / 1000;
        const int minor = DECLAI_GPU_VENDOR_HIP ? (driver / 100000) % 100 : (driver % 1000) / 10;
        info.driverVersion = std::string(DECLAI_GPU_API_NAME " ")
                                 .append(std::to_string(major))
                                 .append(".")
                                 .append(std::to_string(minor));
    }
    if (cudaSetDevice(index) == cudaSuccess) {
        size_t freeBytes = 0;
        size_t totalBytes = 0;
        if (cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess)
            info.memoryFreeBytes = freeBytes;
    }
    return info;
}

class CudaBuffer final : public DeviceBuffer {
public:
    CudaBuffer(const Device* device, uint64_t sizeBytes, void* ptr)
        : DeviceBuffer(device, sizeBytes), m_ptr(ptr) {}
    // Synchronises with the work that still uses it; a destructor has no one to report a failure to.
    ~CudaBuffer() override { (void)cudaFree(m_ptr); }
    void* ptr() const { return m_ptr; }

private:
    void* m_ptr;
};

// Safe casts: OpChecks has verified that every buffer belongs to this CUDA device.
template <class T = float>
T* ptrOf(const DeviceBuffer& b) {
    return static_cast<T*>(static_cast<const CudaBuffer&>(b).ptr());
}

class CudaDevice final : public Device {
public:
    static Expected<std::unique_ptr<Device>> open(int index, const DeviceInfo& info) {
        std::unique_ptr<CudaDevice> device(new CudaDevice(index, info));
        if (auto r = device->init(); !r)
            return r.error();
        return std::unique_ptr<Device>(std::move(device));
    }

    ~CudaDevice() override {
        m_scores.reset();
        m_ids.reset();
        if (m_stream) {
            // Best effort: a destructor has no one to report a failure to.
            (void)cudaSetDevice(m_index);
            (void)cudaStreamSynchronize(m_stream);
            (void)cudaStreamDestroy(m_stream);
        }
    }

    const DeviceInfo& info() const override { return m_info; }

    Expected<void> supportsOp(OpKind op, TensorType type) const override {
        if ((op == OpKind::MatMul || op == OpKind::GetRows) && !checks::isComputeFormat(type))
            return makeError(ErrorCode::Unsupported,
                             std::string(opKindName(op))
                                 .append(" has no " DECLAI_GPU_API_NAME " kernel for ")
                                 .append(tensorTypeName(type)));
        return {};
    }

    Expected<std::unique_ptr<DeviceBuffer>> allocate(uint64_t sizeBytes) override {
        if (auto r = bind(); !r)
            return r.error();
        void* ptr = nullptr;
        const cudaError_t status = cudaMalloc(&ptr, std::max<uint64_t>(sizeBytes, 4));
        if (status != cudaSuccess) {
            (void)cudaGetLastError(); // an allocation failure is not sticky: clear it
            return apiError(status, std::string(DECLAI_GPU_API_PREFIX "Malloc(")
                                        .append(std::to_string(sizeBytes))
                                        .append(" bytes)"));
        }
        return std::unique_ptr<DeviceBuffer>(std::make_unique<CudaBuffer>(this, sizeBytes, ptr));
    }

    Expected<void> upload(DeviceBuffer& buffer, uint64_t offsetBytes, const void* data,
                          uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        return copySync(ptrOf<char>(buffer) + offsetBytes, data, sizeBytes, cudaMemcpyHostToDevice, "upload");
    }

    Expected<void> download(const DeviceBuffer& buffer, uint64_t offsetBytes, void* data,
                            uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        return copySync(data, ptrOf<char>(buffer) + offsetBytes, sizeBytes, cudaMemcpyDeviceToHost,
                        "download");
    }

    Expected<void> synchronize() override {
        if (auto r = bind(); !r)
            return r;
        return check(cudaStreamSynchronize(m_stream), DECLAI_GPU_API_PREFIX "StreamSynchronize");
    }

    Expected<void> rmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight, DeviceBuffer& out, int64_t n,
                           int64_t nTokens, float eps) override {
        if (auto r = checks::rmsNorm(*this, x, weight, out, n, nTokens); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchRmsNorm(m_stream, ptrOf(x), ptrOf(weight), ptrOf(out), n, nTokens, eps),
                     "rms_norm launch");
    }

    Expected<void> matMul(const DeviceBuffer& weights, const MatrixDesc& w, const DeviceBuffer& x,
                          int64_t nTokens, DeviceBuffer& y) override {
        const auto checkedRowBytes = checks::matMul(*this, weights, w, x, nTokens, y);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchMatMul(m_stream, formatOf(w.type), ptrOf<void>(weights), *checkedRowBytes,
                                        ptrOf(x), ptrOf(y), w.rows, w.cols, nTokens),
                     "matmul launch");
    }

    Expected<void> rope(DeviceBuffer& x, const RopeParams& p) override {
        if (auto r = checks::rope(*this, x, p); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchRope(m_stream, ptrOf(x), p.nTokens, p.heads, p.headDim, p.ropeDims,
                                      p.startPos, p.thetaScale(), p.freqScale, p.neox,
                                      p.freqFactors ? ptrOf(*p.freqFactors) : nullptr, p.attnFactor),
                     "rope launch");
    }

    Expected<void> attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v,
                             DeviceBuffer& keyCache, DeviceBuffer& valueCache, DeviceBuffer& out,
                             const AttentionParams& p) override {
        if (auto r = checks::attention(*this, q, k, v, keyCache, valueCache, out, p); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        const int64_t kvDim = p.kvHeadCount * p.headDim;
        const int64_t maxVisible = p.startPos + p.nTokens;
        auto scores =
            scratch(m_scores, static_cast<uint64_t>(p.nTokens * p.headCount * maxVisible) * sizeof(float));
        if (!scores)
            return scores.error();
        if (auto r = check(cuda::launchKvStore(m_stream, ptrOf(k), ptrOf(v), ptrOf<uint16_t>(keyCache),
                                               ptrOf<uint16_t>(valueCache), p.startPos, p.nTokens, kvDim),
                           "kv_store launch");
            !r)
            return r;
        const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.headDim));
        return check(cuda::launchAttention(m_stream, p.halfAccumulator, ptrOf(q), ptrOf<uint16_t>(keyCache),
                                           ptrOf<uint16_t>(valueCache), ptrOf(out), *scores, p.nTokens,
                                           p.startPos, p.headCount, p.kvHeadCount, p.headDim, maxVisible,
                                           scale, p.softCap, p.window),
                     "attention launch");
    }

    Expected<void> swiGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchSwiGlu(m_stream, ptrOf(gate), ptrOf(x), n), "swiglu launch");
    }

    Expected<void> geluGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchGeluGlu(m_stream, ptrOf(gate), ptrOf(x), n), "gelu_glu launch");
    }

    Expected<void> add(DeviceBuffer& x, const DeviceBuffer& y, int64_t n) override {
        if (auto r = checks::elementwise(*this, x, y, n); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchAdd(m_stream, ptrOf(x), ptrOf(y), n), "add launch");
    }

    Expected<void> addBias(DeviceBuffer& x, const DeviceBuffer& bias, int64_t rows, int64_t cols) override {
        if (auto r = checks::addBias(*this, x, bias, rows, cols); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchAddBias(m_stream, ptrOf(x), ptrOf(bias), rows, cols), "add_bias launch");
    }

    Expected<void> scatterScaledRows(const DeviceBuffer& src, const DeviceBuffer& slots, int64_t first,
                                     int64_t count, const DeviceBuffer& scales, DeviceBuffer& dst,
                                     int64_t dstRows, int64_t cols) override {
        if (auto r = checks::scatterScaledRows(*this, src, slots, first, count, scales, dst, dstRows, cols);
            !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchScatterScaledRows(m_stream, ptrOf(src), ptrOf<int32_t>(slots) + first,
                                                   ptrOf(scales), ptrOf(dst), count, dstRows, cols),
                     "scatter_scaled_rows launch");
    }

    Expected<void> sumRowGroups(const DeviceBuffer& in, DeviceBuffer& out, int64_t groups, int64_t groupSize,
                                int64_t cols) override {
        if (auto r = checks::sumRowGroups(*this, in, out, groups, groupSize, cols); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        return check(cuda::launchSumRowGroups(m_stream, ptrOf(in), ptrOf(out), groups, groupSize, cols),
                     "sum_row_groups launch");
    }

    Expected<void> getRows(const DeviceBuffer& table, const MatrixDesc& desc, std::span<const int32_t> ids,
                           DeviceBuffer& out) override {
        const auto checkedRowBytes = checks::getRows(*this, table, desc, ids, out);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        if (ids.empty())
            return {};
        const uint64_t idBytes = ids.size() * sizeof(int32_t);
        if (auto r = scratch(m_ids, idBytes); !r)
            return r.error();
        // Blocking upload: the host span may go away as soon as this returns.
        if (auto r = upload(*m_ids, 0, ids.data(), idBytes); !r)
            return r;
        return check(cuda::launchGetRows(m_stream, formatOf(desc.type), ptrOf<void>(table), *checkedRowBytes,
                                         ptrOf<int32_t>(*m_ids), static_cast<int64_t>(ids.size()), ptrOf(out),
                                         desc.cols),
                     "get_rows launch");
    }

    Expected<void> roundActivations(const DeviceBuffer& x, DeviceBuffer& out, int64_t cols, int64_t nTokens,
                                    TensorType weightType) override {
        if (auto r = checks::roundActivations(*this, x, out, cols, nTokens, weightType); !r)
            return r;
        if (auto r = bind(); !r)
            return r;
        const int64_t block = checks::activationBlock(weightType);
        static_assert(static_cast<int>(cuda::RoundKind::Q8_1) == static_cast<int>(checks::RoundKind::Q8_1));
        const auto kind = static_cast<cuda::RoundKind>(checks::roundKind(weightType));
        return check(cuda::launchRoundActivations(m_stream, kind, ptrOf(x), ptrOf(out),
                                                  cols * nTokens / block, block, cols * nTokens),
                     "round_activations launch");
    }

private:
    CudaDevice(int index, const DeviceInfo& info) : m_index(index), m_info(info) {}

    Expected<void> init() {
        if (auto r = bind(); !r)
            return r;
        return check(cudaStreamCreateWithFlags(&m_stream, cudaStreamNonBlocking),
                     DECLAI_GPU_API_PREFIX "StreamCreateWithFlags");
    }

    // Makes this device current on the calling thread (the runtime's current device is per thread).
    Expected<void> bind() const { return check(cudaSetDevice(m_index), DECLAI_GPU_API_PREFIX "SetDevice"); }
    // One copy on the device's stream, waited for. The stream is in order, so a download runs after every op
    // enqueued before it. `what` names the direction in errors.
    Expected<void> copySync(void* dst, const void* src, uint64_t sizeBytes, cudaMemcpyKind kind,
                            const char* what) {
        if (sizeBytes == 0)
            return {};
        if (auto r = bind(); !r)
            return r;
        if (auto r =
                check(cudaMemcpyAsync(dst, src, sizeBytes, kind, m_stream),
                      std::string(DECLAI_GPU_API_PREFIX "MemcpyAsync (").append(what).append(")").c_str());
            !r)
            return r;
        return check(
            cudaStreamSynchronize(m_stream),
            std::string(DECLAI_GPU_API_PREFIX "StreamSynchronize (").append(what).append(")").c_str());
    }

    // A scratch buffer of at least `sizeBytes`, grown when needed (cudaFree of the old one waits for the
    // work that still reads it).
    Expected<float*> scratch(std::unique_ptr<DeviceBuffer>& buffer, uint64_t sizeBytes) {
        if (!buffer || buffer->sizeBytes() < sizeBytes) {
            auto grown = allocate(std::max<uint64_t>(sizeBytes, buffer ? buffer->sizeBytes() * 2 : 0));
            if (!grown)
                return grown.error();
            buffer = std::move(*grown);
        }
        return ptrOf(*buffer);
    }

    int m_index;
    DeviceInfo m_info;
    cudaStream_t m_stream = nullptr;
    std::unique_ptr<DeviceBuffer> m_scores; // attention scores scratch
    std::unique_ptr<DeviceBuffer> m_ids;    // getRows ids uploaded from the host
};

class CudaBackend final : public Backend {
public:
    CudaBackend() { probe(); }
    std::string_view name() const override { return kBackendName; }
    const std::string& unavailableReason() const override { return m_reason; }
    int deviceCount() const override { return static_cast<int>(m_devices.size()); }
    Expected<DeviceInfo> deviceInfo(int index) const override {
        if (index < 0 || index >= deviceCount())
            return makeError(ErrorCode::NotFound,
                             std::string("no " DECLAI_GPU_API_NAME " device ").append(std::to_string(index)));
        return m_devices[static_cast<size_t>(index)];
    }
    Expected<std::unique_ptr<Device>> openDevice(int index) override {
        if (index < 0 || index >= deviceCount())
            return makeError(ErrorCode::NotFound,
                             std::string("no " DECLAI_GPU_API_NAME " device ").append(std::to_string(index)));
        return CudaDevice::open(index, m_devices[static_cast<size_t>(index)]);
    }

private:
    void probe() {
        int count = 0;
        const cudaError_t status = cudaGetDeviceCount(&count);
        if (status != cudaSuccess || count <= 0) {
            (void)cudaGetLastError(); // leave no pending error behind for later runtime calls
            m_reason =
                std::string("no " DECLAI_GPU_API_NAME " device (" DECLAI_GPU_API_PREFIX "GetDeviceCount: ")
                    .append(status == cudaSuccess ? std::string("0 devices") : statusText(status))
                    .append(")");
            return;
        }
        for (int i = 0; i < count; ++i)
            m_devices.push_back(describe(i));
    }

    std::string m_reason;
    std::vector<DeviceInfo> m_devices;
};

} // namespace

std::unique_ptr<Backend> makeCudaBackend() {
    return std::make_unique<CudaBackend>();
}

} // namespace declai::gpu
