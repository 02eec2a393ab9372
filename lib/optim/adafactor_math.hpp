// optim/adafactor_math.hpp — Adafactor's per-element formulas, shared by the
// CPU code (adafactor.cpp) and the CUDA kernels, so both run the same math.
// The reductions (row and column means of G², RMS of the update) are done by
// the callers; these functions are what happens to one element.
#pragma once
#include <cmath>

#include "../host_device.hpp"

namespace moments {

// a + w (b − a), evaluated as PyTorch's lerp does (from the nearer end, so w = 1 gives b exactly).
MOMENTS_HD inline float lerp(float a, float b, float w) {
  return (w < 0.5f && w > -0.5f) ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

struct AdafactorScalars {
  float one_minus_beta2;  // 1 − β̂2_t = t^c, the weight of the new G² in R, C (or V)
  float eps1;             // ε1
  bool eps1_in_square;    // paper / HF: ε1 is added to G² before the means; else PyTorch's clamps
  float sign;             // −1 with maximize, else 1
};

// V̂_ij from the factored moments: R_i C_j / mean(R) (the mean clamped at ε1 in PyTorch's form).
MOMENTS_HD inline float factored_v_hat(float r_i, float c_j, float r_mean, const AdafactorScalars& s) {
  float denominator = s.eps1_in_square ? r_mean : (r_mean > s.eps1 ? r_mean : s.eps1);
  return r_i * c_j / denominator;  // V̂_t = R_t C_t / 1ᵀR_t  (sums there, means here: the same ratio)
}

// U_ij = G_ij / √V̂_ij (with V̂ floored at ε1² in PyTorch's form).
MOMENTS_HD inline float adafactor_u(float g, float v_hat, const AdafactorScalars& s) {
  float floor = s.eps1 * s.eps1;
  float v = s.eps1_in_square ? v_hat : (v_hat > floor ? v_hat : floor);
  return (1.0f / sqrtf(v)) * (s.sign * g);  // U_t = G_t / √V̂_t
}

}  // namespace moments
