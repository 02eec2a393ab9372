// optim/lamb_math.hpp — LAMB's two per-element stages, shared by the CPU loops
// (lamb.cpp) and the CUDA kernels (cuda/lamb.cu). The order of operations is
// apex's (csrc/multi_tensor_lamb.cu, LAMBStage1Functor and LAMBStage2Functor, all
// in float), so the CPU, the kernels and the restatement in
// tests/reference/make_lamb_golden.py round alike.
//
//   stage 1 (per element):  g ← g / c  (c ≥ 1: the global clipping divisor), Adam's m and v,
//                           u ← m̂ / (√v̂ + ε) (+ λθ in adam_w_mode)         written to a scratch buffer
//   between the stages:     ‖θ‖ and ‖u‖ of the whole tensor, the trust ratio r = ‖θ‖/‖u‖
//   stage 2 (per element):  θ ← θ − (lr · r) u
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct LambScalars {
  float beta1, beta2;           // β1, β2
  float beta3;                  // 1 − β1 with grad_averaging, else 1: the weight of g in m
  float one_minus_beta2;        // 1 − β2
  float bias_correction1;       // 1 − β1^t (1 without bias_correction)
  float bias_correction2;       // 1 − β2^t (1 without bias_correction)
  float eps;                    // ε, added to √v̂
  float decay;                  // λ
  float clip;                   // c = ‖g‖/max_grad_norm when ‖g‖ > max_grad_norm, else 1 (apex's divisor form)
  bool adam_w_mode;             // λθ added to the update (true) or to the gradient (false, L2)
};

// θ: parameter, g: gradient, m, v: the moments, u: where the update goes (scratch).
// Stage 1 of apex's LAMB: the Adam direction, not yet scaled by the trust ratio.
MOMENTS_HD inline void lamb_stage1_element(float theta, float g, float& m, float& v, float& u, const LambScalars& s) {
  float p = s.decay != 0.0f ? theta : 0.0f;               // apex loads θ only when λ ≠ 0
  float scaled_grad = g / s.clip;                         // g ← g / c            (global-norm clipping)
  if (!s.adam_w_mode) scaled_grad = scaled_grad + s.decay * p;  // g ← g + λθ    (L2, on the clipped g)
  m = m * s.beta1 + s.beta3 * scaled_grad;                // m_t ← β1 m_{t−1} + β3 g_t
  v = v * s.beta2 + s.one_minus_beta2 * scaled_grad * scaled_grad;  // v_t ← β2 v_{t−1} + (1 − β2) g_t²
  float m_hat = m / s.bias_correction1;                   // m̂_t = m_t / (1 − β1^t)
  float v_hat = v / s.bias_correction2;                   // v̂_t = v_t / (1 − β2^t)
  float denom = sqrtf(v_hat) + s.eps;                     // √v̂_t + ε
  if (s.adam_w_mode) {
    u = (m_hat / denom) + (s.decay * p);                  // u_t = m̂_t / (√v̂_t + ε) + λθ   (decoupled)
  } else {
    u = m_hat / denom;                                    // u_t = m̂_t / (√v̂_t + ε)        (λ already in g)
  }
}

// c from the global gradient norm G: the divisor that brings G down to max_grad_norm, or 1 when G is
// within it (apex: clipped_global_grad_norm = G > max_grad_norm ? G / max_grad_norm : 1).
MOMENTS_HD inline float lamb_clip_divisor(float grad_norm, float max_grad_norm) {
  return grad_norm > max_grad_norm ? grad_norm / max_grad_norm : 1.0f;
}

// The trust ratio ‖θ‖/‖u‖ where it applies (λ ≠ 0 or use_nvlamb) and both norms are nonzero, else 1
// (apex's zero cases: θ = 0 or u = 0 gives a plain step of size lr). Norms arrive rounded to float, as
// apex's; stage 2's step size is lr · ratio (apex: lr * (param_norm / update_norm), or lr).
MOMENTS_HD inline float lamb_trust_ratio(float param_norm, float update_norm, bool applies) {
  return (applies && update_norm != 0.0f && param_norm != 0.0f) ? param_norm / update_norm : 1.0f;
}

// Stage 2: θ_t ← θ_{t−1} − step u_t, step = lr · φ(‖θ‖)/‖u‖ with φ the identity.
MOMENTS_HD inline void lamb_stage2_element(float& theta, float u, float step) { theta = theta - (step * u); }

// On cuda no norm visits the host inside a step: each is a sum of squares in a one-float device buffer
// (Tensor ops, sum(x * x), in float as apex's l2norm kernel), and the stage kernels take its square root
// and form c, the ratio and the step from it with the functions above, as the host does from its own
// norms (a float's square root is correctly rounded, so sqrt in float or in double rounded to float
// give the same norm).
struct LambDeviceNorms {
  const float* grad_sq = nullptr;    // G², over every gradient of the step (stage 1: c)
  float max_grad_norm = 0;           // group 0's, in float (stage 1)
  const float* param_sq = nullptr;   // ‖θ_{t−1}‖² (stage 2)
  const float* update_sq = nullptr;  // ‖u_t‖² (stage 2)
  float lr = 0;                      // α, in float as apex's (stage 2)
  bool applies = false;              // whether the trust ratio applies: λ ≠ 0 or use_nvlamb (stage 2)
};

// The CPU loops over n elements of flat arrays; defined in lamb.cpp.
void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n, const LambScalars& s);
void lamb_stage2(float* theta, const float* u, int64_t n, float step);
// Σ x² of n floats, in double (the cpu's norms; lamb.cpp says in which order).
double lamb_sum_of_squares(const float* x, int64_t n);

}  // namespace moments
