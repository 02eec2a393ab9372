// cuda/adam.cu — Adam's and AdamW's step as a kernel: the CUDA mirror of
// adam_update in lib/optim/adam.cpp. Each thread runs the same adam_update_element
// (lib/optim/adam_math.hpp) on four elements in registers (tensor_list.hpp); the bias
// corrections arrive in AdamScalars, computed once per step on the host (adam_scalars), as in llm.c.
//
// Under nvcc this file is compiled with -fmad=false (cuda/meson.build), so no
// multiply-add is fused and the GPU rounds every operation as the CPU loop does.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/adam_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, m, v, v_max (null without AMSGrad); element i, loaded once into registers, stored once.
struct AdamRule {
  using Scalars = AdamScalars;
  static constexpr unsigned kReads = 0b11111, kWrites = 0b11101;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const AdamScalars& s) {
    float x = b[0][i], m = b[2][i], v = b[3][i], v_max = s.amsgrad ? b[4][i] : 0.0f;  // loads, once each
    adam_update_element(x, b[1][i], m, v, v_max, s);
    b[0][i] = x;  // stores, once each
    b[2][i] = m;
    b[3][i] = v;
    if (s.amsgrad) b[4][i] = v_max;
  }
};

void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n, const AdamScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, v_max};
  run_rule<AdamRule>("adam_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
