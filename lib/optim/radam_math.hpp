// optim/radam_math.hpp — RAdam's per-element update, shared by the CPU loop
// (radam.cpp) and the CUDA kernel (cuda/radam.cu). Whether this step is rectified
// (ρ_t > 5) and by how much (r_t) is decided once per step on the host; the order
// of operations is torch.optim.RAdam's (1.13, single-tensor).
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct RadamScalars {
  float beta1, one_minus_beta1;  // β1, 1 − β1
  float beta2, one_minus_beta2;  // β2, 1 − β2
  float bias_correction1;        // 1 − β1^t
  float bias_correction2_sqrt;   // √(1 − β2^t)
  float lr;                      // α
  float rect;                    // r_t, the variance rectification (rectified steps only)
  float eps;                     // ε, added to √v
  float l2;                      // λ, as L2 on the gradient
  bool rectified;                // ρ_t > 5: the variance of the adaptive step is tractable
};

// θ: parameter, g: gradient, m, v: first and second moments. One element of Algorithm 2.
MOMENTS_HD inline void radam_update_element(float& theta, float g, float& m, float& v, const RadamScalars& s) {
  if (s.l2 != 0.0f) g = g + s.l2 * theta;                                // g ← g + λθ   (L2)
  m = m * s.beta1 + s.one_minus_beta1 * g;                               // m_t ← β1 m_{t−1} + (1 − β1) g_t
  v = v * s.beta2 + s.one_minus_beta2 * g * g;                           // v_t ← β2 v_{t−1} + (1 − β2) g_t²
  float m_hat = m / s.bias_correction1;                                  // m̂_t ← m_t / (1 − β1^t)
  if (s.rectified) {
    // l_t ← √(1 − β2^t) / (√v_t + ε), as PyTorch evaluates a number over a tensor: a reciprocal, then a product
    float l = 1.0f / (sqrtf(v) + s.eps) * s.bias_correction2_sqrt;
    theta = theta + -1.0f * (m_hat * s.lr * l * s.rect);                 // θ_t ← θ_{t−1} − α_t r_t m̂_t l_t
  } else {
    theta = theta + -1.0f * (m_hat * s.lr);                              // θ_t ← θ_{t−1} − α_t m̂_t
  }
}

void radam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const RadamScalars& s);

}  // namespace moments
