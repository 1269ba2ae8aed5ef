#include "declai/core/HiddenStates.h"

#include "declai/core/Quant.h"

#include <cmath>
#include <cstring>

namespace declai::wire {

size_t bytesPerValue(TensorEncoding encoding) {
    return encoding == F16 ? 2 : 4;
}

std::string encodeHidden(std::span<const float> values, TensorEncoding encoding) {
    std::string out(values.size() * bytesPerValue(encoding), '\0');
    if (encoding == F16) {
        for (size_t i = 0; i < values.size(); ++i) {
            const f16_bits h = quant::fp32ToFp16(values[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    } else {
        std::memcpy(out.data(), values.data(), out.size());
    }
    return out;
}

Expected<std::vector<float>> decodeHidden(const std::string& bytes, TensorEncoding encoding, uint32_t rows,
                                          uint32_t hiddenSize) {
    if (encoding != F32 && encoding != F16)
        return makeError(ErrorCode::Protocol,
                         "unknown hidden-state encoding " + std::to_string(int(encoding)));
    const uint64_t count = uint64_t(rows) * hiddenSize;
    if (rows == 0 || hiddenSize == 0 || count > (uint64_t(1) << 32))
        return makeError(ErrorCode::Protocol, "hidden states of " + std::to_string(rows) + " x " +
                                                  std::to_string(hiddenSize) + " values are not acceptable");
    if (bytes.size() != count * bytesPerValue(encoding))
        return makeError(ErrorCode::Protocol, "hidden states hold " + std::to_string(bytes.size()) +
                                                  " bytes, expected " +
                                                  std::to_string(count * bytesPerValue(encoding)));
    std::vector<float> values(count);
    if (encoding == F16) {
        for (size_t i = 0; i < count; ++i) {
            f16_bits h;
            std::memcpy(&h, bytes.data() + 2 * i, 2);
            values[i] = quant::fp16ToFp32(h);
        }
    } else {
        std::memcpy(values.data(), bytes.data(), bytes.size());
    }
    for (size_t i = 0; i < count; ++i) {
        if (!std::isfinite(values[i]))
            return makeError(ErrorCode::Protocol,
                             "hidden state value " + std::to_string(i) + " is not finite");
    }
    return values;
}

} // namespace declai::wire
