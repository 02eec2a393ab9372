// optim/adadelta_math.hpp — Adadelta's per-element update, shared by the CPU loop
// (adadelta.cpp) and the CUDA kernel (cuda/adadelta.cu). The order of operations is
// torch.optim.Adadelta's (1.13, single-tensor), so the two round alike.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct AdadeltaScalars {
  float lr;                  // η, a factor on Δx (the paper has none: 1.0, the default)
  float rho, one_minus_rho;  // ρ, 1 − ρ: the moving averages' decay
  float eps;                 // ε, inside both roots
  float l2;                  // λ, as L2 on the gradient
  bool maximize;
};

// θ: parameter, g: gradient, square_avg: E[g²], acc_delta: E[Δx²]. One element of Algorithm 1.
MOMENTS_HD inline void adadelta_update_element(float& theta, float g, float& square_avg, float& acc_delta,
                                               const AdadeltaScalars& s) {
  if (s.maximize) g = -g;                                                  // ascend instead of descend
  if (s.l2 != 0.0f) g = g + s.l2 * theta;                                  // g ← g + λθ   (L2)
  square_avg = square_avg * s.rho + s.one_minus_rho * g * g;               // E[g²]_t ← ρ E[g²]_{t−1} + (1 − ρ) g_t²
  float std = sqrtf(square_avg + s.eps);                                   // RMS[g]_t = √(E[g²]_t + ε)
  float delta = sqrtf(acc_delta + s.eps) / std * g;                        // −Δx_t = RMS[Δx]_{t−1} / RMS[g]_t · g_t
  acc_delta = acc_delta * s.rho + s.one_minus_rho * delta * delta;         // E[Δx²]_t ← ρ E[Δx²]_{t−1} + (1 − ρ) Δx_t²
  theta = theta + (-s.lr) * delta;                                         // x_{t+1} ← x_t + η Δx_t
}

void adadelta_update(float* theta, const float* grad, float* square_avg, float* acc_delta, int64_t n,
                     const AdadeltaScalars& s);

}  // namespace moments
