// optim/adam_math.hpp — Adam's and AdamW's per-element update, shared by the
// CPU loop (adam.cpp) and the CUDA kernel (cuda/adam.cu), so the CPU tests
// check the exact formula that the GPU runs.
//
// The two ways of decaying weights sit side by side in adam_update_element:
//   Adam  (L2):        g ← g + λθ           the decay goes through m and v, so it is rescaled
//   AdamW (decoupled): θ ← θ (1 − α λ)      the decay bypasses m and v entirely
// Bias corrections are computed once per step on the host (adam_scalars), in
// double as PyTorch does in Python, and rounded to float for the loop.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct AdamScalars {
  float beta1, one_minus_beta1;  // β1, 1 − β1
  float beta2, one_minus_beta2;  // β2, 1 − β2
  float step_size;               // α / (1 − β1^t): m̂'s bias correction folded into the step
  float bias_correction2_sqrt;   // √(1 − β2^t): v̂'s bias correction, taken under the root
  float eps;                     // ε
  float l2;                      // λ for Adam's L2 term (0 for AdamW)
  float decay;                   // 1 − α λ for AdamW's decoupled decay (1 for Adam)
  bool amsgrad;                  // use max(v̂) so far instead of v̂
  bool maximize;
};

// t is the step number after incrementing (t = 1 on the first step).
inline AdamScalars adam_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                bool decoupled, bool amsgrad, bool maximize, int64_t t) {
  double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));  // 1 − β1^t
  double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(t));  // 1 − β2^t
  AdamScalars s{};
  s.beta1 = static_cast<float>(beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  s.beta2 = static_cast<float>(beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.step_size = static_cast<float>(lr / bias_correction1);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(eps);
  s.l2 = decoupled ? 0.0f : static_cast<float>(weight_decay);
  s.decay = decoupled ? static_cast<float>(1.0 - lr * weight_decay) : 1.0f;
  s.amsgrad = amsgrad;
  s.maximize = maximize;
  return s;
}

// θ: parameter, g: gradient, m: first moment, v: second moment, v_max: the
// largest v so far (amsgrad only). One element of Algorithm 1 / Algorithm 2.
MOMENTS_HD inline void adam_update_element(float& theta, float g, float& m, float& v, float& v_max,
                                           const AdamScalars& s) {
  if (s.maximize) g = -g;                                  // ascend instead of descend
  if (s.l2 != 0.0f) g = g + s.l2 * theta;                  // Adam:  g_t ← ∇f(θ_{t−1}) + λθ_{t−1}   (L2)
  if (s.decay != 1.0f) theta = theta * s.decay;            // AdamW: θ_{t−1} ← θ_{t−1}(1 − αλ)      (decoupled)
  m = m * s.beta1 + s.one_minus_beta1 * g;                 // m_t ← β1 m_{t−1} + (1 − β1) g_t
  v = v * s.beta2 + s.one_minus_beta2 * g * g;             // v_t ← β2 v_{t−1} + (1 − β2) g_t²
  float v_used = v;
  if (s.amsgrad) {
    v_max = v_max > v ? v_max : v;                         // AMSGrad: v_max ← max(v_max, v_t)
    v_used = v_max;
  }
  float denom = sqrtf(v_used) / s.bias_correction2_sqrt + s.eps;  // √v̂_t + ε, v̂_t = v_t / (1 − β2^t)
  theta = theta + (-s.step_size) * m / denom;              // θ_t ← θ_{t−1} − α m̂_t / (√v̂_t + ε)
}

// The CPU loop over n elements of flat arrays (v_max may be null without
// amsgrad); defined in adam.cpp, compiled for AVX2 and for any x86-64.
void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n, const AdamScalars& s);

}  // namespace moments
