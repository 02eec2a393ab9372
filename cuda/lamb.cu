// cuda/lamb.cu — LAMB's two element-wise stages as kernels: the CUDA mirror of lamb_stage1 and
// lamb_stage2 in lib/optim/lamb.cpp, as Rules of tensor_list.hpp (per element, the same lamb_math.hpp
// functions). The per-step scalars (betas, bias corrections) arrive in LambScalars; the norms stay on the
// device (LambDeviceNorms: sums of squares that Tensor ops left in one-float buffers, as apex's l2norm
// kernel runs between its two launches), and each thread forms c, the trust ratio and the step from them
// with the host's own functions, so nothing is copied back inside a step.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/lamb_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ (read), g, m, v, u (written). Updates m and v, writes u; c from G² on the device.
struct LambStage1Scalars {
  LambScalars s;               // its clip is replaced by c from G²
  const float* grad_sq;        // G²
  float max_grad_norm;
};
struct LambStage1Rule {
  using Scalars = LambStage1Scalars;
  static constexpr unsigned kReads = 0b01111, kWrites = 0b11100;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const LambStage1Scalars& d) {
    LambScalars s = d.s;
    s.clip = lamb_clip_divisor(sqrtf(*d.grad_sq), d.max_grad_norm);  // c, as begin_step forms it on the cpu
    float m = b[2][i], v = b[3][i], u = 0.0f;
    lamb_stage1_element(b[0][i], b[1][i], m, v, u, s);
    b[2][i] = m;
    b[3][i] = v;
    b[4][i] = u;
  }
};

// b: θ, u. θ ← θ − α r u with r from ‖θ‖² and ‖u‖² on the device.
struct LambStage2Scalars {
  const float* param_sq;
  const float* update_sq;
  float lr;
  bool applies;
};
struct LambStage2Rule {
  using Scalars = LambStage2Scalars;
  static constexpr unsigned kReads = 0b00011, kWrites = 0b00001;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const LambStage2Scalars& s) {
    const float ratio = lamb_trust_ratio(sqrtf(*s.param_sq), sqrtf(*s.update_sq), s.applies);  // r
    float x = b[0][i];
    lamb_stage2_element(x, b[1][i], s.lr * ratio);  // step = α r, in float as lamb.cpp
    b[0][i] = x;
  }
};

void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n, const LambScalars& s,
                 const LambDeviceNorms& norms) {
  const float* b[kListBuffers] = {theta, grad, m, v, u};
  run_rule<LambStage1Rule>("lamb_stage1_kernel", b, n, LambStage1Scalars{s, norms.grad_sq, norms.max_grad_norm});
}

void lamb_stage2(float* theta, const float* u, int64_t n, const LambDeviceNorms& norms) {
  const float* b[kListBuffers] = {theta, u, nullptr, nullptr, nullptr};
  run_rule<LambStage2Rule>("lamb_stage2_kernel", b, n,
                           LambStage2Scalars{norms.param_sq, norms.update_sq, norms.lr, norms.applies});
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
