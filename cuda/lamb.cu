// cuda/lamb.cu — LAMB's two element-wise stages as kernels: the CUDA mirror of lamb_stage1 and
// lamb_stage2 in lib/optim/lamb.cpp, as Rules of tensor_list.hpp (per element, the same lamb_math.hpp function);
// the per-step scalars (betas, bias corrections, the clipping divisor c) arrive in LambScalars and
// the step lr · ‖θ‖/‖u‖ as a float, both computed on the host. The norms between the stages are
// Tensor ops (lamb.cpp), as apex computes them with its own l2norm kernel between its two launches.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/lamb_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ (read), g, m, v, u (written). Updates m and v, writes u.
struct LambStage1Rule {
  using Scalars = LambScalars;
  __device__ static void apply(float* const* b, int64_t i, const LambScalars& s) {
    float m = b[2][i], v = b[3][i], u = 0.0f;
    lamb_stage1_element(b[0][i], b[1][i], m, v, u, s);
    b[2][i] = m;
    b[3][i] = v;
    b[4][i] = u;
  }
};

// b: θ, u. θ ← θ − step · u.
struct LambStage2Scalars {
  float step;
};
struct LambStage2Rule {
  using Scalars = LambStage2Scalars;
  __device__ static void apply(float* const* b, int64_t i, const LambStage2Scalars& s) {
    float x = b[0][i];
    lamb_stage2_element(x, b[1][i], s.step);
    b[0][i] = x;
  }
};

void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n, const LambScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, u};
  run_rule<LambStage1Rule>("lamb_stage1_kernel", b, n, s);
}

void lamb_stage2(float* theta, const float* u, int64_t n, float step) {
  const float* b[kListBuffers] = {theta, u, nullptr, nullptr, nullptr};
  run_rule<LambStage2Rule>("lamb_stage2_kernel", b, n, LambStage2Scalars{step});
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
