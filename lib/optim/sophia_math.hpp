// optim/sophia_math.hpp — Sophia-G's per-element step and Hessian update, shared by the CPU loops
// (sophia.cpp) and the CUDA kernels (cuda/sophia.cu). The order of operations and the roundings are those
// of Liuhong99/Sophia sophia.py run by torch on the CPU (see sophia.hpp), so the two round alike.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"
#include "lion_math.hpp"  // lion_sign: +1, −1, 0 for ±0, NaN for NaN

namespace moments {

struct SophiaScalars {
  float beta1, one_minus_beta1;  // β1, 1 − β1: the momentum m
  float rho_bs;                  // ρ · bs, formed in double and rounded once (torch's Python scalar)
  float neg_lr;                  // −η
  float decay;                   // 1 − ηλ, rounded to float32 as torch's mul_ takes it
  bool maximize;
};

struct SophiaHessianScalars {
  float beta2, one_minus_beta2;  // β2, 1 − β2: the Hessian EMA h
};

constexpr float kSophiaEpsilon = 1e-15f;  // the canonical code's ε, added to ρ · bs · h

// θ: parameter, g: gradient, m: exp_avg, h: hessian (read only). One step of Algorithm 3.
// Returns the ratio min(|m| / (ρ bs h + ε), 1): 1 where the step is clipped (the explain trace shows it).
MOMENTS_HD inline float sophia_update_element(float& theta, float g, float& m, float h, const SophiaScalars& s) {
  if (s.maximize) g = -g;                                   // ascend instead of descend
  theta = theta * s.decay;                                  // θ ← θ(1 − ηλ)   decoupled decay, first
  m = fmaf(g, s.one_minus_beta1, m * s.beta1);              // m_t ← β1 m_{t−1} + (1 − β1) g_t (one rounding, as torch's add_)
  float ratio = fabsf(m) / (s.rho_bs * h + kSophiaEpsilon); // |m_t| / (ρ · bs · h + ε)
  ratio = ratio > 1.0f ? 1.0f : ratio;                      // clip at 1 (NaN stays NaN, as torch's clamp)
  theta = theta + (s.neg_lr * lion_sign(m)) * ratio;        // θ_t ← θ − η sign(m_t) · ratio
  return ratio;
}

// h: hessian, g: the estimator's gradient ĝ. h ← β2 h + (1 − β2) ĝ ⊙ ĝ, as torch's mul_ then addcmul_.
MOMENTS_HD inline void sophia_hessian_element(float& h, float g, const SophiaHessianScalars& s) {
  h = h * s.beta2 + s.one_minus_beta2 * g * g;
}

void sophia_update(float* theta, const float* grad, float* m, const float* h, int64_t n, const SophiaScalars& s);
void sophia_update_hessian(float* h, const float* grad, int64_t n, const SophiaHessianScalars& s);

}  // namespace moments
