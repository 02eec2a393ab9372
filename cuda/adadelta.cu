// cuda/adadelta.cu — Adadelta's step as a kernel: the CUDA mirror of adadelta_update in
// lib/optim/adadelta.cpp. One thread per element loads its values into registers, runs
// the same adadelta_update_element (lib/optim/adadelta_math.hpp) and stores them once; the
// per-step scalars arrive in AdadeltaScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/adadelta_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// theta, grad, square_avg, acc_delta: (n,).
__global__ void adadelta_kernel(float* __restrict__ theta, const float* __restrict__ grad,
                                float* __restrict__ square_avg, float* __restrict__ acc_delta, int64_t n,
                                const AdadeltaScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float square_avg_i = square_avg[i];
  float acc_delta_i = acc_delta[i];
  adadelta_update_element(x, grad[i], square_avg_i, acc_delta_i, s);
  theta[i] = x;
  square_avg[i] = square_avg_i;
  acc_delta[i] = acc_delta_i;
}

void adadelta_update(float* theta, const float* grad, float* square_avg, float* acc_delta, int64_t n,
                     const AdadeltaScalars& s) {
  if (n > 0)
    launch("adadelta_kernel", adadelta_kernel, blocks_for(n, kThreads), kThreads, 0, theta, grad, square_avg, acc_delta,
           n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
