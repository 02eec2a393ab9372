// cuda/schedule_free.cu — schedule-free AdamW as kernels: the CUDA mirror of schedule_free_update
// and schedule_free_to_y in lib/optim/schedule_free.cpp. One thread per element loads its values
// into registers, runs the same schedule_free_update_element (lib/optim/schedule_free_math.hpp) and
// stores them once; the per-step scalars (γ_t, c_{t+1}) arrive in ScheduleFreeScalars, computed
// once on the host. The second kernel is train()'s y ← β1 x + (1 − β1) z, the same function the
// step ends with, so y comes back bit for bit on the device too.
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/schedule_free_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// y (the parameter), grad, z, v, x: (n,).
__global__ void schedule_free_kernel(float* __restrict__ y, const float* __restrict__ grad, float* __restrict__ z,
                                     float* __restrict__ v, float* __restrict__ x, int64_t n,
                                     const ScheduleFreeScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float y_i = y[i];
  float z_i = z[i];
  float v_i = v[i];
  float x_i = x[i];
  schedule_free_update_element(y_i, grad[i], z_i, v_i, x_i, s);
  y[i] = y_i;
  z[i] = z_i;
  v[i] = v_i;
  x[i] = x_i;
}

// y, x, z: (n,).
__global__ void schedule_free_to_y_kernel(float* __restrict__ y, const float* __restrict__ x,
                                          const float* __restrict__ z, int64_t n, float beta1,
                                          float one_minus_beta1) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  y[i] = schedule_free_y(x[i], z[i], beta1, one_minus_beta1);
}

void schedule_free_update(float* y, const float* grad, float* z, float* v, float* x, int64_t n,
                          const ScheduleFreeScalars& s) {
  if (n > 0)
    launch("schedule_free_kernel", schedule_free_kernel, blocks_for(n, kThreads), kThreads, 0, y, grad, z, v, x, n, s);
}

void schedule_free_to_y(float* y, const float* x, const float* z, int64_t n, float beta1, float one_minus_beta1) {
  if (n > 0)
    launch("schedule_free_to_y_kernel", schedule_free_to_y_kernel, blocks_for(n, kThreads), kThreads, 0, y, x, z, n,
           beta1, one_minus_beta1);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
