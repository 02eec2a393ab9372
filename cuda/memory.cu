// cuda/memory.cu — the kernels behind Tensor::full/zeros/ones and clone() on the device.
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// x: (n,). A grid-stride loop (runtime.hpp).
__global__ void fill_kernel(float* x, int64_t n, float value) {
  for (int64_t i : grid_stride(n)) x[i] = value;
}

// destination, source: (n,), distinct buffers or the same one.
__global__ void copy_kernel(float* destination, const float* source, int64_t n) {
  for (int64_t i : grid_stride(n)) destination[i] = source[i];
}

void fill(float* x, int64_t n, float value) {
  if (n > 0) launch("fill_kernel", fill_kernel, element_blocks(n, kThreads), kThreads, 0, x, n, value);
}

void copy(float* destination, const float* source, int64_t n) {
  if (n > 0) launch("copy_kernel", copy_kernel, element_blocks(n, kThreads), kThreads, 0, destination, source, n);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
