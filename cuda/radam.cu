// cuda/radam.cu — RAdam's step as a kernel: the CUDA mirror of radam_update in
// lib/optim/radam.cpp. One thread per element loads its values into registers, runs
// the same radam_update_element (lib/optim/radam_math.hpp) and stores them once; the
// per-step scalars arrive in RadamScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/radam_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, m, v: (n,).
__global__ void radam_kernel(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ m,
                             float* __restrict__ v, int64_t n, const RadamScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float m_i = m[i];
  float v_i = v[i];
  radam_update_element(x, grad[i], m_i, v_i, s);
  theta[i] = x;
  m[i] = m_i;
  v[i] = v_i;
}

void radam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const RadamScalars& s) {
  if (n > 0) launch("radam_kernel", radam_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, m, v, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
