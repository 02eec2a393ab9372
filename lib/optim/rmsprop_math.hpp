// optim/rmsprop_math.hpp — RMSprop's per-element update, shared by the CPU loop
// (rmsprop.cpp) and the CUDA kernel (cuda/rmsprop.cu). The order of operations is
// torch.optim.RMSprop's (1.13, single-tensor), so the two round alike.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct RmspropScalars {
  float lr;                      // η
  float alpha, one_minus_alpha;  // α, 1 − α: the moving averages' decay
  float eps;                     // ε, added to the root
  float l2;                      // λ, as L2 on the gradient
  float momentum;                // μ (0: no momentum buffer)
  bool centered;                 // subtract the squared mean gradient (Graves 2013)
  bool maximize;
};

// θ: parameter, g: gradient, square_avg: E[g²], grad_avg: E[g] (centered only),
// buf: the momentum buffer (μ > 0 only). One element of the step.
MOMENTS_HD inline void rmsprop_update_element(float& theta, float g, float& square_avg, float& grad_avg, float& buf,
                                              const RmspropScalars& s) {
  if (s.maximize) g = -g;                                               // ascend instead of descend
  if (s.l2 != 0.0f) g = g + s.l2 * theta;                               // g ← g + λθ   (L2)
  square_avg = square_avg * s.alpha + s.one_minus_alpha * g * g;        // E[g²] ← α E[g²] + (1 − α) g²
  float avg;
  if (s.centered) {
    grad_avg = grad_avg * s.alpha + s.one_minus_alpha * g;              // E[g] ← α E[g] + (1 − α) g
    avg = sqrtf(square_avg + -1.0f * grad_avg * grad_avg) + s.eps;      // √(E[g²] − E[g]²) + ε
  } else {
    avg = sqrtf(square_avg) + s.eps;                                    // √E[g²] + ε
  }
  if (s.momentum > 0.0f) {
    buf = buf * s.momentum + g / avg;                                   // b ← μ b + g / avg
    theta = theta + (-s.lr) * buf;                                      // θ ← θ − η b
  } else {
    theta = theta + (-s.lr) * g / avg;                                  // θ ← θ − η g / avg
  }
}

// grad_avg is null unless centered, buf null unless μ > 0.
void rmsprop_update(float* theta, const float* grad, float* square_avg, float* grad_avg, float* buf, int64_t n,
                    const RmspropScalars& s);

}  // namespace moments
