// cuda/nadam.cu — NAdam's step as a kernel: the CUDA mirror of nadam_update in
// lib/optim/nadam.cpp. One thread per element loads its values into registers, runs
// the same nadam_update_element (lib/optim/nadam_math.hpp) and stores them once; the
// per-step scalars arrive in NadamScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/nadam_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, m, v: (n,).
__global__ void nadam_kernel(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ m,
                             float* __restrict__ v, int64_t n, const NadamScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float m_i = m[i];
  float v_i = v[i];
  nadam_update_element(x, grad[i], m_i, v_i, s);
  theta[i] = x;
  m[i] = m_i;
  v[i] = v_i;
}

void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const NadamScalars& s) {
  if (n > 0) launch("nadam_kernel", nadam_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, m, v, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
