// cuda/lamb.cu — LAMB's two element-wise stages as kernels: the CUDA mirror of lamb_stage1 and
// lamb_stage2 in lib/optim/lamb.cpp. One thread per element runs the same lamb_math.hpp function;
// the per-step scalars (betas, bias corrections, the clipping divisor c) arrive in LambScalars and
// the step lr · ‖θ‖/‖u‖ as a float, both computed on the host. The norms between the stages are
// Tensor ops (lamb.cpp), as apex computes them with its own l2norm kernel between its two launches.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/lamb_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, m, v, u: (n,). Reads θ and g, updates m and v, writes u.
__global__ void lamb_stage1_kernel(const float* __restrict__ theta, const float* __restrict__ grad,
                                   float* __restrict__ m, float* __restrict__ v, float* __restrict__ u, int64_t n,
                                   const LambScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float m_i = m[i];
  float v_i = v[i];
  float u_i = 0.0f;
  lamb_stage1_element(theta[i], grad[i], m_i, v_i, u_i, s);
  m[i] = m_i;
  v[i] = v_i;
  u[i] = u_i;
}

// theta, u: (n,). θ ← θ − step · u.
__global__ void lamb_stage2_kernel(float* __restrict__ theta, const float* __restrict__ u, int64_t n, float step) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  lamb_stage2_element(x, u[i], step);
  theta[i] = x;
}

void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n, const LambScalars& s) {
  if (n > 0) launch("lamb_stage1_kernel", lamb_stage1_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, m, v, u, n, s);
}

void lamb_stage2(float* theta, const float* u, int64_t n, float step) {
  if (n > 0) launch("lamb_stage2_kernel", lamb_stage2_kernel, blocks_for(n, kThreads), kThreads, 0, theta, u, n, step);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
