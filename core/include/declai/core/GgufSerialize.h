// Writing GGUF metadata: the one serialiser of a metadata entry, shared by the model synthesiser and the
// gateway's NodeFileView header. Pure functions.
#pragma once

#include "declai/core/GgufFile.h"

#include <cstddef>
#include <string>
#include <vector>

namespace declai {

// Appends one metadata entry (key, type, value) as GGUF stores it; false (and nothing appended) for nested
// arrays and values whose type cannot be written.
bool appendGgufKeyValue(std::vector<std::byte>& out, const std::string& key, const GgufValue& value);

} // namespace declai
