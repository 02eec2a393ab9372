// optim/adamax_math.hpp — Adamax's per-element update, shared by the CPU loop
// (adamax.cpp) and the CUDA kernel (cuda/adamax.cu). The order of operations is
// torch.optim.Adamax's (1.13, single-tensor), so the two round alike.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct AdamaxScalars {
  float beta1, one_minus_beta1;  // β1, 1 − β1
  float beta2;                   // β2, the decay of the ∞-norm
  float clr;                     // α / (1 − β1^t): m's bias correction folded into the step
  float eps;                     // ε, added to |g| inside the max
  float l2;                      // λ, as L2 on the gradient
  bool maximize;
};

// The larger of a and b, NaN if either is NaN (as torch.amax).
MOMENTS_HD inline float nan_max(float a, float b) { return (a >= b || a != a) ? a : b; }

// θ: parameter, g: gradient, m: first moment, u: the exponentially weighted ∞-norm.
// One element of Algorithm 2 (Kingma & Ba, §7.1).
MOMENTS_HD inline void adamax_update_element(float& theta, float g, float& m, float& u, const AdamaxScalars& s) {
  if (s.maximize) g = -g;                               // ascend instead of descend
  if (s.l2 != 0.0f) g = g + s.l2 * theta;               // g ← g + λθ   (L2)
  m = m * s.beta1 + s.one_minus_beta1 * g;              // m_t ← β1 m_{t−1} + (1 − β1) g_t
  u = nan_max(u * s.beta2, fabsf(g) + s.eps);           // u_t ← max(β2 u_{t−1}, |g_t| + ε)
  theta = theta + (-s.clr) * m / u;                     // θ_t ← θ_{t−1} − (α / (1 − β1^t)) m_t / u_t
}

void adamax_update(float* theta, const float* grad, float* m, float* u, int64_t n, const AdamaxScalars& s);

}  // namespace moments
