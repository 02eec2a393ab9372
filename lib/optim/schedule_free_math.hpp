// optim/schedule_free_math.hpp — schedule-free AdamW's per-element update, shared by the CPU
// loop (schedule_free.cpp) and the CUDA kernels (cuda/schedule_free.cu). The per-step scalars
// (γ_t with warmup and bias correction, c_{t+1}) are computed once on the host in double, as the
// reference computes them in Python; the order of operations is the reference's
// (facebookresearch/schedule_free, adamw_schedulefree_reference.py), so the two round alike.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct ScheduleFreeScalars {
  float decay;                   // γ_t λ, the decoupled decay's factor
  bool decayed;                  // λ ≠ 0 (the reference tests λ, not γ_t λ)
  bool decay_at_z;               // decay z by γ_t λ z instead of γ_t λ y
  float beta2, one_minus_beta2;  // β2, 1 − β2
  float eps;                     // ε, added to √v
  float neg_lr;                  // −γ_t
  float ckp1, one_minus_ckp1;    // c_{t+1}, 1 − c_{t+1}: x's averaging weight
  float beta1, one_minus_beta1;  // β1, 1 − β1: y's interpolation
};

// y ← β1 x + (1 − β1) z: the point where the gradient is taken. train() recomputes it with this
// same function, so y comes back bit for bit after eval().
MOMENTS_HD inline float schedule_free_y(float x, float z, float beta1, float one_minus_beta1) {
  return x * beta1 + one_minus_beta1 * z;
}

// y: the parameter (it holds y while training), g: gradient at y, z: the SGD-like base sequence,
// v: second moment, x: the weighted average of the z's (the point to evaluate).
MOMENTS_HD inline void schedule_free_update_element(float& y, float g, float& z, float& v, float& x,
                                                    const ScheduleFreeScalars& s) {
  if (s.decayed) z = z - s.decay * (s.decay_at_z ? z : y);  // z ← z − γ_t λ y          (decoupled, at y)
  v = v * s.beta2 + s.one_minus_beta2 * g * g;              // v_t ← β2 v_{t−1} + (1 − β2) g_t²
  float denom = sqrtf(v) + s.eps;                           // √v_t + ε  (bias correction is in γ_t)
  z = z + s.neg_lr * g / denom;                             // z_{t+1} ← z_t − γ_t g_t / (√v_t + ε)
  x = x * s.one_minus_ckp1 + s.ckp1 * z;                    // x_{t+1} ← (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}
  y = schedule_free_y(x, z, s.beta1, s.one_minus_beta1);    // y_{t+1} ← β1 x_{t+1} + (1 − β1) z_{t+1}
}

// The CPU loops over n elements of flat arrays; defined in schedule_free.cpp.
void schedule_free_update(float* y, const float* grad, float* z, float* v, float* x, int64_t n,
                          const ScheduleFreeScalars& s);
// train(): y ← β1 x + (1 − β1) z for n elements.
void schedule_free_to_y(float* y, const float* x, const float* z, int64_t n, float beta1, float one_minus_beta1);

}  // namespace moments
