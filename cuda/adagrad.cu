// cuda/adagrad.cu — Adagrad's step as a kernel: the CUDA mirror of adagrad_update in
// lib/optim/adagrad.cpp. One thread per element loads its values into registers, runs
// the same adagrad_update_element (lib/optim/adagrad_math.hpp) and stores them once; the
// per-step scalars arrive in AdagradScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/adagrad_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, sum: (n,).
__global__ void adagrad_kernel(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ sum,
                               int64_t n, const AdagradScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float sum_i = sum[i];
  adagrad_update_element(x, grad[i], sum_i, s);
  theta[i] = x;
  sum[i] = sum_i;
}

void adagrad_update(float* theta, const float* grad, float* sum, int64_t n, const AdagradScalars& s) {
  if (n > 0) launch("adagrad_kernel", adagrad_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, sum, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
