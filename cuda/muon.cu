// cuda/muon.cu — Muon's element-wise halves as kernels: the CUDA mirror of
// muon_momentum and muon_apply in lib/optim/muon.cpp. One thread per element runs
// the same muon_momentum_element / muon_apply_element (lib/optim/muon_math.hpp);
// the Newton–Schulz iteration between them is matmul work (matmul.cu, through the
// Tensor ops), and the per-step scalars arrive in MuonScalars, computed on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/muon_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// grad, b (momentum buffer), u (the matrix to orthogonalise): (n,).
__global__ void muon_momentum_kernel(const float* __restrict__ grad, float* __restrict__ b, float* __restrict__ u,
                                     int64_t n, const MuonScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float b_i = b[i];
  float u_i = 0.0f;
  muon_momentum_element(grad[i], b_i, u_i, s);
  b[i] = b_i;
  u[i] = u_i;
}

// theta, o (the orthogonalised update): (n,).
__global__ void muon_apply_kernel(float* __restrict__ theta, const float* __restrict__ o, int64_t n,
                                  const MuonScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  muon_apply_element(x, o[i], s);
  theta[i] = x;
}

void muon_momentum(const float* grad, float* b, float* u, int64_t n, const MuonScalars& s) {
  if (n > 0) launch("muon_momentum_kernel", muon_momentum_kernel, blocks_for(n, kThreads), kThreads, 0, grad, b, u, n, s);
}

void muon_apply(float* theta, const float* o, int64_t n, const MuonScalars& s) {
  if (n > 0) launch("muon_apply_kernel", muon_apply_kernel, blocks_for(n, kThreads), kThreads, 0, theta, o, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
