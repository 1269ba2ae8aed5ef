#include "backend/CpuBackend.h"

#include "backend/OpChecks.h"
#include "declai/core/Quant.h"
#include "declai/gpu/CpuFeatures.h"
#include "declai/gpu/CpuKernels.h"
#include "declai/gpu/ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>
#include <unistd.h>
#include <vector>

namespace declai::gpu {
namespace {

class CpuBuffer final : public DeviceBuffer {
public:
    CpuBuffer(const Device* device, uint64_t sizeBytes, std::unique_ptr<std::byte[]> data)
        : DeviceBuffer(device, sizeBytes), m_data(std::move(data)) {}
    std::byte* data() const { return m_data.get(); }

private:
    std::unique_ptr<std::byte[]> m_data; // operator new[] alignment, enough for float and double
};

std::byte* bytesOf(const DeviceBuffer& b) {
    // Safe: OpChecks has verified that the buffer belongs to this (CPU) device.
    return static_cast<const CpuBuffer&>(b).data();
}
float* floatsOf(const DeviceBuffer& b) {
    return reinterpret_cast<float*>(bytesOf(b));
}

std::string cpuInfoField(const char* key) {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos)
                return line.substr(line.find_first_not_of(" \t", colon + 1));
        }
    }
    return {};
}

// MemAvailable from /proc/meminfo (what the kernel could hand out without swapping); 0 if unreadable.
uint64_t availableMemoryBytes() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (in >> key >> kib >> unit) {
        if (key == "MemAvailable:")
            return kib * 1024u;
    }
    return 0;
}

DeviceInfo cpuDeviceInfo(int threadCount) {
    DeviceInfo info;
    info.id = DeviceId{"cpu", 0};
    info.name = cpuInfoField("model name");
    if (info.name.empty())
        info.name = "CPU";
    info.vendor = cpuInfoField("vendor_id");
    info.driverVersion = "reference kernels";
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long pageSize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && pageSize > 0)
        info.memoryTotalBytes = static_cast<uint64_t>(pages) * static_cast<uint64_t>(pageSize);
    info.memoryFreeBytes = availableMemoryBytes();
    info.maxAllocationBytes = info.memoryTotalBytes;
    info.computeUnits = threadCount > 0 ? threadCount : static_cast<int>(std::thread::hardware_concurrency());
#if defined(__x86_64__) || defined(__i386__)
    // From the project's own CPUID reading (clang 14's __builtin_cpu_supports knows neither feature name).
    const cpu::CpuFeatures& features = cpu::cpuFeatures();
    info.capabilities.fp16 = features.avx512fp16 && features.osZmm;
    info.capabilities.int8Dot =
        (features.avx512vnni && features.osZmm) || (features.avxVnni && features.osYmm);
#elif defined(__aarch64__)
    info.capabilities.fp16 = true;
    info.capabilities.int8Dot = true;
#endif
    info.capabilities.unifiedMemory = true;
    return info;
}

float roundToHalf(float x) {
    return quant::fp16ToFp32(quant::fp32ToFp16(x));
}

// The scores of one (token, head) over cache rows [first, visible): dot(q, key) * scale, soft-capped when
// softCap > 0. keys point at the head's first value in row 0, rows are `stride` halves apart.
void attentionScores(const float* q, const f16_bits* keys, int64_t stride, int64_t first, int64_t visible,
                     int64_t headDim, float scale, float softCap, float* scores) {
    for (int64_t j = first; j < visible; ++j) {
        float dot = 0.0f;
        for (int64_t d = 0; d < headDim; ++d)
            dot += q[d] * quant::fp16ToFp32(keys[j * stride + d]);
        float score = dot * scale;
        if (softCap > 0.0f)
            score = softCap * std::tanh(score);
        scores[j - first] = score;
    }
}

// AttentionParams::halfAccumulator for one (token, head) over cache rows [first, visible): values point at
// the head's first value in row 0. Mirrors ShardExecutor::attention with the scalar kernels.
void halfAccumulatorAttention(const float* query, const f16_bits* keys, const f16_bits* values,
                              int64_t stride, int64_t first, int64_t visible, int64_t headDim, float scale,
                              float softCap, float* out) {
    std::vector<float> q(static_cast<size_t>(headDim));
    std::vector<float> acc(static_cast<size_t>(headDim), 0.0f);
    std::vector<float> scores(static_cast<size_t>(visible - first));
    for (int64_t d = 0; d < headDim; ++d)
        q[static_cast<size_t>(d)] = roundToHalf(query[d]);
    attentionScores(q.data(), keys, stride, first, visible, headDim, scale, softCap, scores.data());
    float maxScore = -INFINITY;
    float sum = 0.0f;
    for (int64_t j = first; j < visible; ++j) {
        const float score = scores[static_cast<size_t>(j - first)];
        float oldScale = 1.0f;
        float weight = 1.0f;
        if (score > maxScore) {
            oldScale = std::exp(maxScore - score);
            maxScore = score;
            for (float& a : acc)
                a = roundToHalf(a * oldScale);
        } else {
            weight = std::exp(score - maxScore);
        }
        for (int64_t d = 0; d < headDim; ++d)
            acc[static_cast<size_t>(d)] =
                roundToHalf(acc[static_cast<size_t>(d)] + quant::fp16ToFp32(values[j * stride + d]) * weight);
        sum = sum * oldScale + weight;
    }
    const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (int64_t d = 0; d < headDim; ++d)
        out[d] = acc[static_cast<size_t>(d)] * inverse;
}

class CpuDevice final : public Device {
public:
    explicit CpuDevice(int threadCount) : m_info(cpuDeviceInfo(threadCount)), m_pool(threadCount) {}

    const DeviceInfo& info() const override { return m_info; }

    Expected<void> supportsOp(OpKind op, TensorType type) const override {
        if ((op == OpKind::MatMul || op == OpKind::GetRows) && !checks::isComputeFormat(type))
            return makeError(
                ErrorCode::Unsupported,
                std::string(opKindName(op)).append(" does not support ").append(tensorTypeName(type)));
        return {};
    }

    Expected<std::unique_ptr<DeviceBuffer>> allocate(uint64_t sizeBytes) override {
        std::unique_ptr<std::byte[]> data(new (std::nothrow) std::byte[sizeBytes == 0 ? 1 : sizeBytes]);
        if (!data)
            return makeError(
                ErrorCode::OutOfMemory,
                std::string("cannot allocate ").append(std::to_string(sizeBytes)).append(" bytes"));
        return std::unique_ptr<DeviceBuffer>(std::make_unique<CpuBuffer>(this, sizeBytes, std::move(data)));
    }

    Expected<void> upload(DeviceBuffer& buffer, uint64_t offsetBytes, const void* data,
                          uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        if (sizeBytes)
            std::memcpy(bytesOf(buffer) + offsetBytes, data, sizeBytes);
        return {};
    }

    Expected<void> download(const DeviceBuffer& buffer, uint64_t offsetBytes, void* data,
                            uint64_t sizeBytes) override {
        if (auto r = checks::copyRange(*this, buffer, offsetBytes, sizeBytes); !r)
            return r;
        if (sizeBytes)
            std::memcpy(data, bytesOf(buffer) + offsetBytes, sizeBytes);
        return {};
    }

    // Ops run synchronously on the calling thread (and the pool), so there is nothing to wait for.
    Expected<void> synchronize() override { return {}; }

    Expected<void> rmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight, DeviceBuffer& out, int64_t n,
                           int64_t nTokens, float eps) override {
        if (auto r = checks::rmsNorm(*this, x, weight, out, n, nTokens); !r)
            return r;
        for (int64_t t = 0; t < nTokens; ++t)
            cpu::rmsNorm(floatsOf(x) + t * n, floatsOf(weight), n, eps, floatsOf(out) + t * n);
        return {};
    }

    Expected<void> matMul(const DeviceBuffer& weights, const MatrixDesc& w, const DeviceBuffer& x,
                          int64_t nTokens, DeviceBuffer& y) override {
        const auto checkedRowBytes = checks::matMul(*this, weights, w, x, nTokens, y);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        WeightMatrix matrix;
        matrix.type = w.type;
        matrix.rows = w.rows;
        matrix.cols = w.cols;
        matrix.data = bytesOf(weights);
        matrix.rowBytes = static_cast<size_t>(*checkedRowBytes);
        if (quant::activationTypeFor(w.type) == TensorType::Q8_1) {
            matMulWithBlockSums(matrix, floatsOf(x), nTokens, floatsOf(y));
            return {};
        }
        cpu::matmul(matrix, floatsOf(x), nTokens, floatsOf(y), m_pool, m_scratch);
        return {};
    }

    // Q4_1/Q5_1: x carries the Q8_1 block sums after its values (DeviceOps::matMul). Each token's values
    // are quantised to Q8_1 (roundActivations' output quantises back to itself), their s replaced by the
    // given sums, and every row goes through the reference dot.
    static void matMulWithBlockSums(const WeightMatrix& w, const float* x, int64_t nTokens, float* y) {
        const int64_t blocks = w.cols / kQK8_1;
        const float* sums = x + w.cols * nTokens;
        std::vector<BlockQ8_1> activations(static_cast<size_t>(blocks));
        for (int64_t t = 0; t < nTokens; ++t) {
            quant::quantizeRowQ8_1(x + t * w.cols, activations.data(), w.cols);
            for (int64_t b = 0; b < blocks; ++b)
                activations[static_cast<size_t>(b)].s = quant::fp32ToFp16(sums[t * blocks + b]);
            for (int64_t r = 0; r < w.rows; ++r)
                y[t * w.rows + r] = quant::dotRow(w.type, w.row(r), activations.data(), w.cols);
        }
    }

    Expected<void> rope(DeviceBuffer& x, const RopeParams& p) override {
        if (auto r = checks::rope(*this, x, p); !r)
            return r;
        std::vector<float> table(static_cast<size_t>(p.ropeDims));
        for (int64_t t = 0; t < p.nTokens; ++t) {
            cpu::ropeTable(p.startPos + t, p.ropeDims, p.freqBase, p.freqScale,
                           p.freqFactors ? floatsOf(*p.freqFactors) : nullptr, RopeYarn{}, p.attnFactor,
                           table.data()); // a device's Rope op: YaRN arrives folded into the factors
            (p.neox ? cpu::applyRopeNeox : cpu::applyRope)(floatsOf(x) + t * p.heads * p.headDim, p.heads,
                                                           p.headDim, p.ropeDims, table.data());
        }
        return {};
    }

    Expected<void> attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v,
                             DeviceBuffer& keyCache, DeviceBuffer& valueCache, DeviceBuffer& out,
                             const AttentionParams& p) override {
        if (auto r = checks::attention(*this, q, k, v, keyCache, valueCache, out, p); !r)
            return r;
        const int64_t kvDim = p.kvHeadCount * p.headDim;
        const int64_t qDim = p.headCount * p.headDim;
        const int64_t group = p.headCount / p.kvHeadCount;
        const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.headDim));
        auto* keys = reinterpret_cast<f16_bits*>(bytesOf(keyCache));
        auto* values = reinterpret_cast<f16_bits*>(bytesOf(valueCache));
        for (int64_t i = 0; i < p.nTokens * kvDim; ++i) {
            keys[p.startPos * kvDim + i] = quant::fp32ToFp16(floatsOf(k)[i]);
            values[p.startPos * kvDim + i] = quant::fp32ToFp16(floatsOf(v)[i]);
        }
        // Plain two-pass softmax in float over F16 keys/values: the textbook definition, which every
        // device kernel must reproduce up to summation order.
        const float* queries = floatsOf(q);
        float* result = floatsOf(out);
        m_pool.parallelFor(p.nTokens * p.headCount, 1, [&](int64_t begin, int64_t end, int) {
            std::vector<float> scores(static_cast<size_t>(p.startPos + p.nTokens));
            for (int64_t item = begin; item < end; ++item) {
                const int64_t t = item / p.headCount;
                const int64_t h = item % p.headCount;
                const int64_t kvHead = h / group;
                const int64_t visible = p.startPos + t + 1;
                const int64_t first = p.window > 0 ? std::max<int64_t>(0, visible - p.window) : 0;
                const float* query = queries + t * qDim + h * p.headDim;
                const f16_bits* headKeys = keys + kvHead * p.headDim;
                const f16_bits* headValues = values + kvHead * p.headDim;
                float* o = result + t * qDim + h * p.headDim;
                if (p.halfAccumulator) {
                    halfAccumulatorAttention(query, headKeys, headValues, kvDim, first, visible, p.headDim,
                                             scale, p.softCap, o);
                    continue;
                }
                const int64_t count = visible - first;
                attentionScores(query, headKeys, kvDim, first, visible, p.headDim, scale, p.softCap,
                                scores.data());
                cpu::softmax(scores.data(), count);
                for (int64_t d = 0; d < p.headDim; ++d) {
                    float sum = 0.0f;
                    for (int64_t j = first; j < visible; ++j)
                        sum += scores[static_cast<size_t>(j - first)] *
                               quant::fp16ToFp32(headValues[j * kvDim + d]);
                    o[d] = sum;
                }
            }
        });
        return {};
    }

    Expected<void> swiGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        cpu::swiGlu(floatsOf(gate), floatsOf(x), n);
        return {};
    }

    Expected<void> geluGlu(const DeviceBuffer& gate, DeviceBuffer& x, int64_t n) override {
        if (auto r = checks::elementwise(*this, gate, x, n); !r)
            return r;
        cpu::geluGlu(floatsOf(gate), floatsOf(x), n, m_pool);
        return {};
    }

    Expected<void> add(DeviceBuffer& x, const DeviceBuffer& y, int64_t n) override {
        if (auto r = checks::elementwise(*this, x, y, n); !r)
            return r;
        cpu::addInPlace(floatsOf(x), floatsOf(y), n);
        return {};
    }

    Expected<void> addBias(DeviceBuffer& x, const DeviceBuffer& bias, int64_t rows, int64_t cols) override {
        if (auto r = checks::addBias(*this, x, bias, rows, cols); !r)
            return r;
        const float* b = floatsOf(bias);
        for (int64_t r = 0; r < rows; ++r) {
            float* row = floatsOf(x) + r * cols;
            for (int64_t c = 0; c < cols; ++c)
                row[c] += b[c];
        }
        return {};
    }

    Expected<void> getRows(const DeviceBuffer& table, const MatrixDesc& desc, std::span<const int32_t> ids,
                           DeviceBuffer& out) override {
        const auto checkedRowBytes = checks::getRows(*this, table, desc, ids, out);
        if (!checkedRowBytes)
            return checkedRowBytes.error();
        const uint64_t rowBytes = *checkedRowBytes;
        for (size_t i = 0; i < ids.size(); ++i)
            quant::dequantizeRow(desc.type, bytesOf(table) + static_cast<uint64_t>(ids[i]) * rowBytes,
                                 floatsOf(out) + static_cast<int64_t>(i) * desc.cols, desc.cols);
        return {};
    }

    Expected<void> roundActivations(const DeviceBuffer& x, DeviceBuffer& out, int64_t cols, int64_t nTokens,
                                    TensorType weightType) override {
        if (auto r = checks::roundActivations(*this, x, out, cols, nTokens, weightType); !r)
            return r;
        // The reference: quantise exactly as the CPU matmul does (quant::quantizeActivationRow), then
        // widen back to float.
        const TensorType actType = quant::activationTypeFor(weightType);
        std::vector<std::byte> packed(quant::activationRowBytes(weightType, cols));
        for (int64_t t = 0; t < nTokens; ++t) {
            const float* src = floatsOf(x) + t * cols;
            float* dst = floatsOf(out) + t * cols;
            quant::quantizeActivationRow(weightType, src, packed.data(), cols);
            if (actType == TensorType::Q8_K) {
                const auto* blocks = reinterpret_cast<const BlockQ8_K*>(packed.data());
                for (int64_t i = 0; i < cols; ++i)
                    dst[i] = blocks[i / kQKK].d * static_cast<float>(blocks[i / kQKK].qs[i % kQKK]);
            } else if (actType == TensorType::Q8_0 || actType == TensorType::Q8_1 ||
                       actType == TensorType::F16) {
                quant::dequantizeRow(actType, packed.data(), dst, cols);
            } else {
                std::memcpy(dst, src, static_cast<size_t>(cols) * sizeof(float));
            }
            if (actType == TensorType::Q8_1) {
                const auto* blocks = reinterpret_cast<const BlockQ8_1*>(packed.data());
                const int64_t blockCount = cols / kQK8_1;
                float* sums = floatsOf(out) + cols * nTokens + t * blockCount;
                for (int64_t b = 0; b < blockCount; ++b)
                    sums[b] = quant::fp16ToFp32(blocks[b].s);
            }
        }
        return {};
    }

    Expected<void> scatterScaledRows(const DeviceBuffer& src, const DeviceBuffer& slots, int64_t first,
                                     int64_t count, const DeviceBuffer& scales, DeviceBuffer& dst,
                                     int64_t dstRows, int64_t cols) override {
        if (auto r = checks::scatterScaledRows(*this, src, slots, first, count, scales, dst, dstRows, cols);
            !r)
            return r;
        const auto* ids = reinterpret_cast<const int32_t*>(bytesOf(slots)) + first;
        const float* weights = floatsOf(scales);
        for (int64_t i = 0; i < count; ++i) {
            const int32_t j = ids[i];
            if (j < 0 || j >= dstRows)
                continue;
            const float* from = floatsOf(src) + i * cols;
            float* to = floatsOf(dst) + j * cols;
            const float weight = weights[j];
            for (int64_t c = 0; c < cols; ++c)
                to[c] = from[c] * weight;
        }
        return {};
    }

    Expected<void> sumRowGroups(const DeviceBuffer& in, DeviceBuffer& out, int64_t groups, int64_t groupSize,
                                int64_t cols) override {
        if (auto r = checks::sumRowGroups(*this, in, out, groups, groupSize, cols); !r)
            return r;
        // ShardExecutor's combine: the first slot copied, then each later one added in rank order.
        for (int64_t g = 0; g < groups; ++g) {
            const float* first = floatsOf(in) + g * groupSize * cols;
            float* sum = floatsOf(out) + g * cols;
            std::copy(first, first + cols, sum);
            for (int64_t k = 1; k < groupSize; ++k)
                cpu::addInPlace(sum, first + k * cols, cols);
        }
        return {};
    }

private:
    DeviceInfo m_info;
    ThreadPool m_pool;
    std::vector<std::byte> m_scratch; // quantised activations for matMul, reused between calls
};

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int threadCount) : m_threadCount(threadCount) {}
    std::string_view name() const override { return "cpu"; }
    const std::string& unavailableReason() const override { return m_reason; }
    int deviceCount() const override { return 1; }
    Expected<DeviceInfo> deviceInfo(int index) const override {
        if (index != 0)
            return makeError(ErrorCode::NotFound, "the CPU backend has one device, cpu:0");
        return cpuDeviceInfo(m_threadCount);
    }
    Expected<std::unique_ptr<Device>> openDevice(int index) override {
        if (index != 0)
            return makeError(ErrorCode::NotFound, "the CPU backend has one device, cpu:0");
        return std::unique_ptr<Device>(std::make_unique<CpuDevice>(m_threadCount));
    }

private:
    int m_threadCount;
    std::string m_reason;
};

} // namespace

std::unique_ptr<Backend> makeCpuBackend(int threadCount) {
    return std::make_unique<CpuBackend>(threadCount);
}

} // namespace declai::gpu
