// The one place the CUDA backend names its vendor API. Kernels (.cu) and host code use the CUDA runtime
// spellings (cudaMalloc, cudaStream_t, __half, ...); when compiled as HIP (hipcc defines
// __HIP_PLATFORM_AMD__, or the build defines DECLAI_HIP) this header maps every one of them to its hip*
// twin, so the same sources build for AMD GPUs. Add a mapping here before using a new runtime call.
#pragma once

#if defined(__HIP_PLATFORM_AMD__) || defined(DECLAI_HIP)
#define DECLAI_GPU_VENDOR_HIP 1
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

#define DECLAI_GPU_API_NAME "HIP"
// Prefix of the runtime calls named in error messages ("hipMalloc failed: ...").
#define DECLAI_GPU_API_PREFIX "hip"

// Types
#define cudaError_t hipError_t
#define cudaStream_t hipStream_t
#define cudaDeviceProp hipDeviceProp_t
#define cudaMemcpyKind hipMemcpyKind

// Status codes
#define cudaSuccess hipSuccess
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaErrorNoDevice hipErrorNoDevice
#define cudaErrorInsufficientDriver hipErrorInsufficientDriver
#define cudaErrorInitializationError hipErrorNotInitialized
#define cudaErrorInvalidDevice hipErrorInvalidDevice
#define cudaErrorLaunchFailure hipErrorLaunchFailure
#define cudaErrorIllegalAddress hipErrorIllegalAddress
#define cudaErrorLaunchTimeout hipErrorLaunchTimeOut
#define cudaErrorECCUncorrectable hipErrorECCNotCorrectable
#define cudaErrorLaunchOutOfResources hipErrorLaunchOutOfResources

// Memcpy directions and stream flags
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define cudaStreamNonBlocking hipStreamNonBlocking

// Runtime calls
#define cudaGetErrorString hipGetErrorString
#define cudaGetErrorName hipGetErrorName
#define cudaGetLastError hipGetLastError
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaSetDevice hipSetDevice
#define cudaDriverGetVersion hipDriverGetVersion
#define cudaRuntimeGetVersion hipRuntimeGetVersion
#define cudaMemGetInfo hipMemGetInfo
#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaMemcpy hipMemcpy
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemsetAsync hipMemsetAsync
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaDeviceSynchronize hipDeviceSynchronize

#else
#define DECLAI_GPU_VENDOR_HIP 0
#include <cuda_runtime_api.h>
#if defined(__CUDACC__)
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

#define DECLAI_GPU_API_NAME "CUDA"
#define DECLAI_GPU_API_PREFIX "cuda"
#endif
