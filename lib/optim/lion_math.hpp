// optim/lion_math.hpp — Lion's per-element update, shared by the CPU loop (lion.cpp) and
// the CUDA kernel (cuda/lion.cu). The order of operations and the roundings are those of
// google/automl lion/lion_pytorch.py run by torch on the CPU (see lion.hpp), so the two round alike.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct LionScalars {
  float beta1, one_minus_beta1;  // β1, 1 − β1: the interpolation c
  float beta2, one_minus_beta2;  // β2, 1 − β2: the momentum m
  float lr;                      // η
  float decay;                   // 1 − ηλ, rounded to float32 as torch's mul_ takes it
  bool maximize;
};

// +1, −1, 0 for ±0 (sign(0) = 0), and NaN for NaN (lion.hpp, deviations). Written as one select of
// two differences, not nested branches: g++ vectorizes this form and not the other (8 floats at a time).
MOMENTS_HD inline float lion_sign(float x) { return x == x ? static_cast<float>(x > 0.0f) - static_cast<float>(x < 0.0f) : x; }

// θ: parameter, g: gradient, m: the momentum exp_avg. One element of Algorithm 2. (fmaf is one
// instruction at the default x86-64-v3 baseline and on a GPU; in the portable build's SSE2 clone it is a
// library call: slower, the same bits.)
// Returns c_t (the explain trace shows it).
MOMENTS_HD inline float lion_update_element(float& theta, float g, float& m, const LionScalars& s) {
  if (s.maximize) g = -g;                                // ascend instead of descend
  theta = theta * s.decay;                               // θ ← θ(1 − ηλ)   decoupled decay, first
  float c = m * s.beta1 + g * s.one_minus_beta1;         // c_t ← β1 m_{t−1} + (1 − β1) g_t
  theta = theta + (-s.lr) * lion_sign(c);                // θ_t ← θ − η sign(c_t)
  m = fmaf(g, s.one_minus_beta2, m * s.beta2);           // m_t ← β2 m_{t−1} + (1 − β2) g_t (one rounding, as torch's add_)
  return c;
}

void lion_update(float* theta, const float* grad, float* m, int64_t n, const LionScalars& s);

}  // namespace moments
