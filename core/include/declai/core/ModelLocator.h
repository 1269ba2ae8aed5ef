// Finds model files: a path that exists is used as is; otherwise the name is looked up in each folder of
// DECLAI_MODEL_PATH (colon-separated), in order.
#pragma once

#include "declai/core/Error.h"

#include <string>
#include <vector>

namespace declai {

std::vector<std::string> modelSearchPath(); // from the DECLAI_MODEL_PATH environment variable
Expected<std::string> locateModel(const std::string& nameOrPath, const std::vector<std::string>& searchPath);
inline Expected<std::string> locateModel(const std::string& nameOrPath) {
    return locateModel(nameOrPath, modelSearchPath());
}

} // namespace declai
