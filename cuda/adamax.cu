// cuda/adamax.cu — Adamax's step as a kernel: the CUDA mirror of adamax_update in
// lib/optim/adamax.cpp. One thread per element loads its values into registers, runs
// the same adamax_update_element (lib/optim/adamax_math.hpp) and stores them once; the
// per-step scalars arrive in AdamaxScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/adamax_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, m, u: (n,).
__global__ void adamax_kernel(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ m,
                              float* __restrict__ u, int64_t n, const AdamaxScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float m_i = m[i];
  float u_i = u[i];
  adamax_update_element(x, grad[i], m_i, u_i, s);
  theta[i] = x;
  m[i] = m_i;
  u[i] = u_i;
}

void adamax_update(float* theta, const float* grad, float* m, float* u, int64_t n, const AdamaxScalars& s) {
  if (n > 0) launch("adamax_kernel", adamax_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, m, u, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
