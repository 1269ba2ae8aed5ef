// Hidden states on the wire: rows x hiddenSize values, little-endian F32 (exact) or F16 (half the bytes).
#pragma once

#include "declai/core/Error.h"
#include "proto/declai.pb.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace declai::wire {

std::string encodeHidden(std::span<const float> values, TensorEncoding encoding);
// Checks that `bytes` holds exactly rows x hiddenSize values of `encoding` and that none is NaN/inf.
Expected<std::vector<float>> decodeHidden(const std::string& bytes, TensorEncoding encoding, uint32_t rows,
                                          uint32_t hiddenSize);
size_t bytesPerValue(TensorEncoding encoding);

} // namespace declai::wire
