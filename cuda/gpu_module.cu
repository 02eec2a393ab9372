// cuda/gpu_module.cu — the entry point of libmoments_cuda_gpu.so, the shared module
// that holds the GPU executor (see gpu_module.hpp for why it is a module and how
// lib/ finds it). Compiled by nvcc only.
#include "gpu_module.hpp"

#include "config.hpp"
#include "device.hpp"
#include "kernels.hpp"

extern "C" __attribute__((visibility("default"))) const moments::cuda::GpuModule* moments_cuda_gpu_module() {
  static const moments::cuda::GpuModule table{MOMENTS_VERSION, &moments::cuda::device_count,
                                              &moments::cuda::no_device_reason, &moments::cuda::gpu::backend};
  return &table;
}
