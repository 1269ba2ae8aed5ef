#include "declai/gpu/backend/DeviceId.h"

#include "declai/gpu/backend/DeviceOps.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace declai::gpu {

const char* opKindName(OpKind op) {
    switch (op) {
    case OpKind::RmsNorm:
        return "rms_norm";
    case OpKind::MatMul:
        return "mat_mul";
    case OpKind::Rope:
        return "rope";
    case OpKind::Attention:
        return "attention";
    case OpKind::SwiGlu:
        return "swiglu";
    case OpKind::Add:
        return "add";
    case OpKind::GetRows:
        return "get_rows";
    case OpKind::RoundActivations:
        return "RoundActivations";
    case OpKind::RopeNeox:
        return "rope_neox";
    case OpKind::AddBias:
        return "add_bias";
    case OpKind::GeluGlu:
        return "gelu_glu";
    case OpKind::AttentionCapWindow:
        return "attention_cap_window";
    case OpKind::ScatterScaledRows:
        return "scatter_scaled_rows";
    case OpKind::SumRowGroups:
        return "sum_row_groups";
    }
    return "unknown";
}

Expected<DeviceId> parseDeviceId(std::string_view text) {
    const size_t colon = text.find(':');
    std::string name(text.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool known =
        std::find(std::begin(kBackendNames), std::end(kBackendNames), name) != std::end(kBackendNames);
    if (!known)
        return makeError(ErrorCode::InvalidArgument,
                         std::string("unknown device '")
                             .append(text)
                             .append("' (expected cpu, opencl:N, vulkan:N, cuda:N or hip:N)"));
    DeviceId id{name, 0};
    if (colon != std::string_view::npos) {
        const std::string_view digits = text.substr(colon + 1);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id.index);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || id.index < 0)
            return makeError(ErrorCode::InvalidArgument,
                             std::string("bad device index in '").append(text).append("'"));
    }
    return id;
}

} // namespace declai::gpu
