// cuda/sgd.cu — SGD's step as a kernel: the CUDA mirror of sgd_update in
// lib/optim/sgd.cpp, one thread per element running the same sgd_update_element
// (lib/optim/sgd_math.hpp). Scalars are computed once per step on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/sgd_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, buffer: (n,); buffer is null without momentum.
__global__ void sgd_kernel(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ buffer,
                           int64_t n, const SgdScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i], buffer_i = buffer ? buffer[i] : 0.0f;  // loads, once each
  sgd_update_element(x, grad[i], buffer_i, s);
  theta[i] = x;  // stores, once each
  if (buffer) buffer[i] = buffer_i;
}

void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s) {
  if (n > 0) launch("sgd_kernel", sgd_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, buffer, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
