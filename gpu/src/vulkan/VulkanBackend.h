// The Vulkan backend: every physical device the loader reports (discrete GPUs, lavapipe...). The loader
// (libvulkan.so.1) is opened at run time, so a machine without Vulkan only sees the backend as
// unavailable with the reason. Kernels are GLSL compute shaders compiled to SPIR-V by glslc at build time
// and embedded in the binary (gpu/src/vulkan/shaders).
#pragma once

#include "declai/gpu/backend/BackendRegistry.h"

namespace declai::gpu {

std::unique_ptr<Backend> makeVulkanBackend();

} // namespace declai::gpu
