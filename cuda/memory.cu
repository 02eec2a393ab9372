// cuda/memory.cu — the kernels behind Tensor::full/zeros/ones and clone() on the device.
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// x: (n,). One thread per element.
__global__ void fill_kernel(float* x, int64_t n, float value) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = value;
}

// destination, source: (n,), distinct buffers or the same one.
__global__ void copy_kernel(float* destination, const float* source, int64_t n) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) destination[i] = source[i];
}

void fill(float* x, int64_t n, float value) {
  if (n > 0) launch("fill_kernel", fill_kernel, blocks_for(n, kThreads), kThreads, 0, x, n, value);
}

void copy(float* destination, const float* source, int64_t n) {
  if (n > 0) launch("copy_kernel", copy_kernel, blocks_for(n, kThreads), kThreads, 0, destination, source, n);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
