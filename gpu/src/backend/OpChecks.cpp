#include "backend/OpChecks.h"

#include <cmath>
#include <limits>

namespace declai::gpu::checks {
namespace {

Error invalid(std::string message) {
    return makeError(ErrorCode::InvalidArgument, std::move(message));
}

// Kernels index with 32-bit ints in places; keep every count well inside that range.
constexpr int64_t kMaxCount = std::numeric_limits<int32_t>::max();

Expected<void> positive(int64_t value, const char* what) {
    if (value <= 0 || value > kMaxCount)
        return invalid(std::string(what).append(" must be in [1, 2^31), got ").append(std::to_string(value)));
    return {};
}

Expected<void> buffer(const Device& device, const DeviceBuffer& b, uint64_t neededBytes, const char* what) {
    if (&b.device() != &device)
        return invalid(std::string(what).append(" belongs to another device"));
    if (b.sizeBytes() < neededBytes)
        return invalid(std::string(what)
                           .append(" holds ")
                           .append(std::to_string(b.sizeBytes()))
                           .append(" bytes, the op needs ")
                           .append(std::to_string(neededBytes)));
    return {};
}

uint64_t floats(int64_t count) {
    return static_cast<uint64_t>(count) * sizeof(float);
}

} // namespace

const char* kernelFormatSuffix(TensorType type) {
    switch (type) {
    case TensorType::F32:
        return "f32";
    case TensorType::F16:
        return "f16";
    case TensorType::Q8_0:
        return "q8_0";
    case TensorType::Q4_0:
        return "q4_0";
    case TensorType::Q4_K:
        return "q4_k";
    case TensorType::Q6_K:
        return "q6_k";
    case TensorType::Q4_1:
        return "q4_1";
    case TensorType::Q5_0:
        return "q5_0";
    case TensorType::Q5_1:
        return "q5_1";
    case TensorType::Q2_K:
        return "q2_k";
    case TensorType::Q3_K:
        return "q3_k";
    case TensorType::Q5_K:
        return "q5_k";
    case TensorType::IQ4_NL:
        return "iq4_nl";
    case TensorType::IQ4_XS:
        return "iq4_xs";
    default:
        return nullptr;
    }
}

bool isComputeFormat(TensorType type) {
    switch (type) {
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q5_K:
    case TensorType::IQ4_NL:
    case TensorType::IQ4_XS:
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q4_K:
    case TensorType::Q6_K:
        return true;
    default:
        return false;
    }
}

Expected<uint64_t> rowBytes(const MatrixDesc& desc) {
    if (!isComputeFormat(desc.type))
        return makeError(
            ErrorCode::Unsupported,
            std::string("tensor format ").append(tensorTypeName(desc.type)).append(" is not supported"));
    if (auto r = positive(desc.rows, "rows"); !r)
        return r.error();
    if (auto c = positive(desc.cols, "cols"); !c)
        return c.error();
    const auto bytes = tensorBytes(desc.type, static_cast<uint64_t>(desc.cols));
    if (!bytes)
        return invalid(std::string("cols ")
                           .append(std::to_string(desc.cols))
                           .append(" is not a whole number of ")
                           .append(tensorTypeName(desc.type))
                           .append(" blocks"));
    return *bytes;
}

Expected<void> rmsNorm(const Device& device, const DeviceBuffer& x, const DeviceBuffer& weight,
                       const DeviceBuffer& out, int64_t n, int64_t nTokens) {
    if (auto r = positive(n, "n"); !r)
        return r;
    if (auto r = positive(nTokens, "nTokens"); !r)
        return r;
    if (auto r = buffer(device, x, floats(n * nTokens), "x"); !r)
        return r;
    if (auto r = buffer(device, weight, floats(n), "weight"); !r)
        return r;
    return buffer(device, out, floats(n * nTokens), "out");
}

Expected<uint64_t> matMul(const Device& device, const DeviceBuffer& weights, const MatrixDesc& w,
                          const DeviceBuffer& x, int64_t nTokens, const DeviceBuffer& y) {
    auto bytes = rowBytes(w);
    if (!bytes)
        return bytes.error();
    if (auto r = positive(nTokens, "nTokens"); !r)
        return r.error();
    if (auto r = buffer(device, weights, *bytes * static_cast<uint64_t>(w.rows), "weights"); !r)
        return r.error();
    if (auto r = buffer(device, x, floats(roundedActivationFloats(w.type, w.cols, nTokens)), "x"); !r)
        return r.error();
    if (auto r = buffer(device, y, floats(w.rows * nTokens), "y"); !r)
        return r.error();
    return *bytes;
}

Expected<void> rope(const Device& device, const DeviceBuffer& x, const RopeParams& p) {
    if (auto r = positive(p.nTokens, "nTokens"); !r)
        return r;
    if (auto r = positive(p.heads, "heads"); !r)
        return r;
    if (auto r = positive(p.headDim, "headDim"); !r)
        return r;
    if (p.ropeDims <= 0 || p.ropeDims > p.headDim || p.ropeDims % 2 != 0)
        return invalid("ropeDims must be even and in [2, headDim]");
    if (p.startPos < 0 || p.startPos > kMaxCount)
        return invalid("startPos out of range");
    if (p.freqFactors)
        if (auto r = buffer(device, *p.freqFactors, floats(p.ropeDims / 2), "freqFactors"); !r)
            return r;
    if (!std::isfinite(p.attnFactor) || p.attnFactor <= 0.0f)
        return invalid("attnFactor must be positive and finite");
    return buffer(device, x, floats(p.nTokens * p.heads * p.headDim), "x");
}

Expected<void> attention(const Device& device, const DeviceBuffer& q, const DeviceBuffer& k,
                         const DeviceBuffer& v, const DeviceBuffer& keyCache, const DeviceBuffer& valueCache,
                         const DeviceBuffer& out, const AttentionParams& p) {
    for (auto [value, name] : {std::pair{p.nTokens, "nTokens"}, std::pair{p.headCount, "headCount"},
                               std::pair{p.kvHeadCount, "kvHeadCount"}, std::pair{p.headDim, "headDim"},
                               std::pair{p.cacheTokens, "cacheTokens"}}) {
        if (auto r = positive(value, name); !r)
            return r;
    }
    if (p.headCount % p.kvHeadCount != 0)
        return invalid("headCount must be a multiple of kvHeadCount");
    if (!(p.softCap >= 0.0f) || !std::isfinite(p.softCap))
        return invalid("softCap must be finite and >= 0");
    if (p.window < 0)
        return invalid("window must be >= 0");
    if (p.startPos < 0 || p.startPos + p.nTokens > p.cacheTokens)
        return invalid("startPos + nTokens exceeds the cache capacity");
    const int64_t qValues = p.nTokens * p.headCount * p.headDim;
    const int64_t kvValues = p.nTokens * p.kvHeadCount * p.headDim;
    if (qValues > kMaxCount || p.cacheTokens * p.kvHeadCount * p.headDim > kMaxCount)
        return invalid("attention tensors are too large");
    const uint64_t cacheBytes = static_cast<uint64_t>(p.cacheTokens * p.kvHeadCount * p.headDim) * 2u;
    if (auto r = buffer(device, q, floats(qValues), "q"); !r)
        return r;
    if (auto r = buffer(device, k, floats(kvValues), "k"); !r)
        return r;
    if (auto r = buffer(device, v, floats(kvValues), "v"); !r)
        return r;
    if (auto r = buffer(device, keyCache, cacheBytes, "keyCache"); !r)
        return r;
    if (auto r = buffer(device, valueCache, cacheBytes, "valueCache"); !r)
        return r;
    return buffer(device, out, floats(qValues), "out");
}

Expected<void> elementwise(const Device& device, const DeviceBuffer& a, const DeviceBuffer& b, int64_t n) {
    if (auto r = positive(n, "n"); !r)
        return r;
    if (auto r = buffer(device, a, floats(n), "first operand"); !r)
        return r;
    return buffer(device, b, floats(n), "second operand");
}

Expected<void> addBias(const Device& device, const DeviceBuffer& x, const DeviceBuffer& bias, int64_t rows,
                       int64_t cols) {
    if (auto r = positive(rows, "rows"); !r)
        return r;
    if (auto r = positive(cols, "cols"); !r)
        return r;
    if (rows > kMaxCount / cols)
        return invalid("rows x cols out of range");
    if (auto r = buffer(device, x, floats(rows * cols), "x"); !r)
        return r;
    return buffer(device, bias, floats(cols), "bias");
}

Expected<uint64_t> getRows(const Device& device, const DeviceBuffer& table, const MatrixDesc& desc,
                           std::span<const int32_t> ids, const DeviceBuffer& out) {
    auto bytes = rowBytes(desc);
    if (!bytes)
        return bytes.error();
    if (ids.empty())
        return invalid("getRows needs at least one id");
    if (static_cast<int64_t>(ids.size()) * desc.cols > kMaxCount)
        return invalid("getRows output is too large");
    for (int32_t id : ids) {
        if (id < 0 || id >= desc.rows)
            return invalid(std::string("row id ")
                               .append(std::to_string(id))
                               .append(" is outside [0, ")
                               .append(std::to_string(desc.rows))
                               .append(")"));
    }
    if (auto r = buffer(device, table, *bytes * static_cast<uint64_t>(desc.rows), "table"); !r)
        return r.error();
    if (auto r = buffer(device, out, floats(static_cast<int64_t>(ids.size()) * desc.cols), "out"); !r)
        return r.error();
    return *bytes;
}

Expected<void> scatterScaledRows(const Device& device, const DeviceBuffer& src, const DeviceBuffer& slots,
                                 int64_t first, int64_t count, const DeviceBuffer& scales,
                                 const DeviceBuffer& dst, int64_t dstRows, int64_t cols) {
    if (auto r = positive(count, "count"); !r)
        return r;
    if (auto r = positive(dstRows, "dstRows"); !r)
        return r;
    if (auto r = positive(cols, "cols"); !r)
        return r;
    if (first < 0 || first > kMaxCount - count)
        return invalid("first + count out of range");
    if (count > kMaxCount / cols || dstRows > kMaxCount / cols)
        return invalid("rows x cols out of range");
    if (&src == &dst || &slots == &dst || &scales == &dst)
        return invalid("scatterScaledRows cannot write a buffer it reads");
    if (auto r = buffer(device, src, floats(count * cols), "src"); !r)
        return r;
    if (auto r = buffer(device, slots, static_cast<uint64_t>(first + count) * sizeof(int32_t), "slots"); !r)
        return r;
    if (auto r = buffer(device, scales, floats(dstRows), "scales"); !r)
        return r;
    return buffer(device, dst, floats(dstRows * cols), "dst");
}

Expected<void> sumRowGroups(const Device& device, const DeviceBuffer& in, const DeviceBuffer& out,
                            int64_t groups, int64_t groupSize, int64_t cols) {
    if (auto r = positive(groups, "groups"); !r)
        return r;
    if (auto r = positive(groupSize, "groupSize"); !r)
        return r;
    if (auto r = positive(cols, "cols"); !r)
        return r;
    if (groups > kMaxCount / groupSize || groups * groupSize > kMaxCount / cols)
        return invalid("groups x groupSize x cols out of range");
    if (&in == &out)
        return invalid("sumRowGroups cannot write the buffer it reads");
    if (auto r = buffer(device, in, floats(groups * groupSize * cols), "in"); !r)
        return r;
    return buffer(device, out, floats(groups * cols), "out");
}

Expected<void> copyRange(const Device& device, const DeviceBuffer& b, uint64_t offsetBytes,
                         uint64_t sizeBytes) {
    if (&b.device() != &device)
        return invalid("buffer belongs to another device");
    if (offsetBytes > b.sizeBytes() || sizeBytes > b.sizeBytes() - offsetBytes)
        return invalid(std::string("copy of ")
                           .append(std::to_string(sizeBytes))
                           .append(" bytes at offset ")
                           .append(std::to_string(offsetBytes))
                           .append(" overruns a buffer of ")
                           .append(std::to_string(b.sizeBytes()))
                           .append(" bytes"));
    return {};
}

int64_t activationBlock(TensorType type) {
    switch (type) {
    case TensorType::Q8_0: // Q8_0 activations
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL:
    case TensorType::Q4_1: // Q8_1: the same scale and rounding as Q8_0
    case TensorType::Q5_1:
        return 32;
    case TensorType::Q2_K: // Q8_K activations
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::IQ4_XS:
        return 256;
    default:
        return 1;
    }
}

// Written out here rather than through quant::activationTypeFor: the HIP module links this file without core.
bool pairsWithQ8_1(TensorType weightType) {
    return weightType == TensorType::Q4_1 || weightType == TensorType::Q5_1;
}

RoundKind roundKind(TensorType weightType) {
    if (weightType == TensorType::F16)
        return RoundKind::F16;
    if (pairsWithQ8_1(weightType))
        return RoundKind::Q8_1;
    switch (activationBlock(weightType)) {
    case 32:
        return RoundKind::Q8_0;
    case 256:
        return RoundKind::Q8_K;
    default:
        return RoundKind::Copy;
    }
}

Expected<void> roundActivations(const Device& device, const DeviceBuffer& x, const DeviceBuffer& out,
                                int64_t cols, int64_t nTokens, TensorType weightType) {
    if (!isComputeFormat(weightType))
        return makeError(
            ErrorCode::Unsupported,
            std::string("no activation rounding for ").append(tensorTypeName(weightType)).append(" weights"));
    if (auto r = positive(cols, "cols"); !r)
        return r;
    if (auto r = positive(nTokens, "nTokens"); !r)
        return r;
    if (cols % activationBlock(weightType) != 0)
        return invalid(std::string("cols ")
                           .append(std::to_string(cols))
                           .append(" is not a whole number of activation blocks for ")
                           .append(tensorTypeName(weightType)));
    if (auto r = buffer(device, x, floats(cols * nTokens), "x"); !r)
        return r;
    return buffer(device, out, floats(roundedActivationFloats(weightType, cols, nTokens)), "out");
}

} // namespace declai::gpu::checks

namespace declai::gpu {

int64_t roundedActivationFloats(TensorType weightType, int64_t cols, int64_t nTokens) {
    const int64_t values = cols * nTokens;
    return checks::pairsWithQ8_1(weightType) ? values + values / kQK8_1 : values;
}

} // namespace declai::gpu
