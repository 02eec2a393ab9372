// cuda/rmsprop.cu — RMSprop's step as a kernel: the CUDA mirror of rmsprop_update in
// lib/optim/rmsprop.cpp. One thread per element loads its values into registers, runs
// the same rmsprop_update_element (lib/optim/rmsprop_math.hpp) and stores them once; the
// per-step scalars arrive in RmspropScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/rmsprop_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, square_avg: (n,); grad_avg: (n,) when centered, else null; buf: (n,) when μ > 0, else null.
__global__ void rmsprop_kernel(float* __restrict__ theta, const float* __restrict__ grad,
                               float* __restrict__ square_avg, float* __restrict__ grad_avg, float* __restrict__ buf,
                               int64_t n, const RmspropScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float square_avg_i = square_avg[i];
  float grad_avg_i = grad_avg ? grad_avg[i] : 0.0f;
  float buf_i = buf ? buf[i] : 0.0f;
  rmsprop_update_element(x, grad[i], square_avg_i, grad_avg_i, buf_i, s);
  theta[i] = x;
  square_avg[i] = square_avg_i;
  if (grad_avg) grad_avg[i] = grad_avg_i;
  if (buf) buf[i] = buf_i;
}

void rmsprop_update(float* theta, const float* grad, float* square_avg, float* grad_avg, float* buf, int64_t n,
                    const RmspropScalars& s) {
  if (n > 0)
    launch("rmsprop_kernel", rmsprop_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, square_avg, grad_avg,
           buf, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
