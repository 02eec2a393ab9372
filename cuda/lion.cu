// cuda/lion.cu — Lion's step as a kernel: the CUDA mirror of lion_update in lib/optim/lion.cpp.
// One thread per element loads θ and m into registers, runs the same lion_update_element
// (lib/optim/lion_math.hpp) and stores them once; the per-step scalars arrive in LionScalars,
// computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/lion_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, m: (n,).
__global__ void lion_kernel(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ m,
                            int64_t n, const LionScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float m_i = m[i];
  lion_update_element(x, grad[i], m_i, s);
  theta[i] = x;
  m[i] = m_i;
}

void lion_update(float* theta, const float* grad, float* m, int64_t n, const LionScalars& s) {
  if (n > 0) launch("lion_kernel", lion_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, m, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
