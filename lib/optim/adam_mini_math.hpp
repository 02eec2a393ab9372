// optim/adam_mini_math.hpp — Adam-mini's per-block and per-element math, shared by
// the CPU loops (adam_mini.cpp) and the CUDA kernels (cuda/adam_mini.cu). The order of
// operations is the canonical code's (zyushun/Adam-mini adam_mini.py, v1.1.1), so the
// two round alike:
//   block rules:   h = √v_b / √(1 − β2^t) + ε;  scale = h.reciprocal() · (1/(1 − β1^t))   (Python's
//                  `(1 / bc1) / h` on a tensor is reciprocal-then-multiply);  θ ← θ − (m · scale) · α
//   Adam rule:     h = √v / √(1 − β2^t) + ε;    θ ← θ + (−α/(1 − β1^t)) · m / h             (addcdiv)
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"
#include "adafactor_math.hpp"  // lerp: a + w (b − a) in PyTorch's form (from the nearer end)

namespace moments {

struct AdamMiniScalars {
  float one_minus_beta1;       // 1 − β1: the weight of g in m's lerp
  float beta2, one_minus_beta2;  // β2, 1 − β2
  float inv_bias_correction1;  // 1 / (1 − β1^t)        (block rules)
  float step_size;             // α / (1 − β1^t)         (Adam rule)
  float bias_correction2_sqrt; // √(1 − β2^t)
  float lr;                    // α
  float eps;                   // ε, added to √v̂
  float decay;                 // 1 − αλ (decoupled decay), 1 where the parameter is exempt or λ = 0
};

// t is the step number after incrementing (t = 1 on the first step); bias corrections in double, as
// the canonical code computes them in Python.
inline AdamMiniScalars adam_mini_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                         int64_t t) {
  double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));  // 1 − β1^t
  double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(t));  // 1 − β2^t
  AdamMiniScalars s{};
  s.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  s.beta2 = static_cast<float>(beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.inv_bias_correction1 = static_cast<float>(1.0 / bias_correction1);
  s.step_size = static_cast<float>(lr / bias_correction1);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.lr = static_cast<float>(lr);
  s.eps = static_cast<float>(eps);
  s.decay = weight_decay > 0.0 ? static_cast<float>(1.0 - lr * weight_decay) : 1.0f;
  return s;
}

// v_b ← β2 v_b + (1 − β2) mean_{i ∈ b}(g_i²), from the block's Σ g² (double) and its size; returns the
// block's scale (1/(1 − β1^t)) / (√v̂_b + ε).
MOMENTS_HD inline float adam_mini_block_scale(float& v_block, double sum_g2, int64_t block_size,
                                              const AdamMiniScalars& s) {
  float mean_g2 = static_cast<float>(sum_g2 / static_cast<double>(block_size));  // mean over the block of g²
  v_block = v_block * s.beta2 + s.one_minus_beta2 * mean_g2;     // v_b ← β2 v_b + (1 − β2) mean(g²)
  float h = sqrtf(v_block) / s.bias_correction2_sqrt + s.eps;   // h_b = √v̂_b + ε
  return (1.0f / h) * s.inv_bias_correction1;                   // (1 / (1 − β1^t)) / h_b
}

// One element of a block whose scale is known: θ: parameter, g: gradient, m: first moment.
MOMENTS_HD inline void adam_mini_block_element(float& theta, float g, float& m, float scale, const AdamMiniScalars& s) {
  if (s.decay != 1.0f) theta = theta * s.decay;   // θ ← θ (1 − αλ)                    (decoupled)
  m = lerp(m, g, s.one_minus_beta1);              // m ← β1 m + (1 − β1) g             (lerp)
  float update = (m * scale) * s.lr;              // α m̂ / (√v̂_b + ε)
  theta = theta + (-update);                      // θ ← θ − α m̂ / (√v̂_b + ε)
}

// One element of the Adam rule (biases): v per element, as torch's Adam.
MOMENTS_HD inline void adam_mini_adam_element(float& theta, float g, float& m, float& v, const AdamMiniScalars& s) {
  v = v * s.beta2 + s.one_minus_beta2 * g * g;                 // v ← β2 v + (1 − β2) g²
  if (s.decay != 1.0f) theta = theta * s.decay;                 // θ ← θ (1 − αλ)
  m = lerp(m, g, s.one_minus_beta1);                            // m ← β1 m + (1 − β1) g
  float h = sqrtf(v) / s.bias_correction2_sqrt + s.eps;        // h = √v̂ + ε
  theta = theta + (-s.step_size) * m / h;                       // θ ← θ − (α / (1 − β1^t)) m / h
}

constexpr int kSumLanes = 8;  // Σ g² keeps 8 partial sums (element i goes to lane i mod 8): they vectorize

// Σ g² over n consecutive elements, in double: 8 lane sums, then lane 0 + lane 1 + ... + lane 7. A fixed
// order, so the CPU (one block per call) and the kernel (one thread per block) get the same bits.
MOMENTS_HD inline double adam_mini_sum_squares(const float* g, int64_t n) {
  double lane[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int k = 0; k < kSumLanes; ++k) lane[k] += static_cast<double>(g[i + k]) * g[i + k];
  for (int k = 0; i < n; ++i, ++k) lane[k] += static_cast<double>(g[i]) * g[i];
  double sum = 0.0;
  for (int k = 0; k < kSumLanes; ++k) sum += lane[k];
  return sum;
}

// The CPU loops (adam_mini.cpp, compiled for AVX2 and any x86-64), on flat arrays:
// Σ g² of each of `blocks` blocks of `block_size` consecutive elements; out: (blocks,).
void adam_mini_block_sums(const float* grad, int64_t blocks, int64_t block_size, double* out);
// The element pass for elements [begin, end) of a parameter split into blocks of `block_size`, each with
// its scale: (blocks,).
void adam_mini_block_elements(float* theta, const float* grad, float* m, const float* scale, int64_t begin, int64_t end,
                              int64_t block_size, const AdamMiniScalars& s);
void adam_mini_adam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const AdamMiniScalars& s);

}  // namespace moments
