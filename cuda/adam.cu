// cuda/adam.cu — Adam's and AdamW's step as a kernel: the CUDA mirror of
// adam_update in lib/optim/adam.cpp. One thread per element runs the same
// adam_update_element (lib/optim/adam_math.hpp); the bias corrections arrive in
// AdamScalars, computed once per step on the host (adam_scalars), as in llm.c.
//
// Under nvcc this file is compiled with -fmad=false (cuda/meson.build), so no
// multiply-add is fused and the GPU rounds every operation as the CPU loop does.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/adam_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, m, v: (n,); v_max: (n,) with amsgrad, else null.
__global__ void adam_kernel(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ m,
                            float* __restrict__ v, float* __restrict__ v_max, int64_t n, const AdamScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i], m_i = m[i], v_i = v[i], v_max_i = s.amsgrad ? v_max[i] : 0.0f;  // loads, once each
  adam_update_element(x, grad[i], m_i, v_i, v_max_i, s);
  theta[i] = x;  // stores, once each
  m[i] = m_i;
  v[i] = v_i;
  if (s.amsgrad) v_max[i] = v_max_i;
}

void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n, const AdamScalars& s) {
  if (n > 0) launch("adam_kernel", adam_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, m, v, v_max, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
