// optim/nadam_math.hpp — NAdam's per-element update, shared by the CPU loop
// (nadam.cpp) and the CUDA kernel (cuda/nadam.cu). The momentum schedule μ_t and
// its running product are scalars computed once per step on the host; the order
// of operations is torch.optim.NAdam's (1.13, single-tensor).
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct NadamScalars {
  float beta1, one_minus_beta1;  // β1, 1 − β1
  float beta2, one_minus_beta2;  // β2, 1 − β2
  float bias_correction2;        // 1 − β2^t
  float eps;                     // ε, added to √v̂
  float l2;                      // λ, as L2 on the gradient
  float grad_step;               // −α (1 − μ_t) / (1 − Π_{i≤t} μ_i): the weight of g_t
  float momentum_step;           // −α μ_{t+1} / (1 − Π_t μ_t μ_{t+1}): the weight of m_t (nadam.hpp)
};

// θ: parameter, g: gradient, m, v: first and second moments. One element of the step.
MOMENTS_HD inline void nadam_update_element(float& theta, float g, float& m, float& v, const NadamScalars& s) {
  if (s.l2 != 0.0f) g = g + s.l2 * theta;                    // g ← g + λθ   (L2)
  m = m * s.beta1 + s.one_minus_beta1 * g;                   // m_t ← β1 m_{t−1} + (1 − β1) g_t
  v = v * s.beta2 + s.one_minus_beta2 * g * g;               // v_t ← β2 v_{t−1} + (1 − β2) g_t²
  float denom = sqrtf(v / s.bias_correction2) + s.eps;       // √v̂_t + ε
  theta = theta + s.grad_step * g / denom;                   // θ ← θ − α (1 − μ_t) ĝ_t / (√v̂_t + ε)
  theta = theta + s.momentum_step * m / denom;               // θ ← θ − α μ_{t+1} m̂_t / (√v̂_t + ε)
}

void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const NadamScalars& s);

}  // namespace moments
