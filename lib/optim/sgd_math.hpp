// optim/sgd_math.hpp — SGD's per-element update, shared by the CPU loop
// (sgd.cpp) and the CUDA kernel, so the CPU tests check the exact formula the GPU runs.
// The order of floating-point operations follows PyTorch's single-tensor SGD.
#pragma once
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

// Per-step scalars, computed once on the host.
struct SgdScalars {
  float lr;                  // γ
  float momentum;            // μ
  float one_minus_dampening; // 1 − τ
  float weight_decay;        // λ, an L2 term added to the gradient
  bool nesterov;
  bool maximize;
  bool first_step;           // t = 1: the momentum buffer starts as a copy of g
};

// θ: parameter, g: gradient, b: momentum buffer (unused when μ = 0).
MOMENTS_HD inline void sgd_update_element(float& theta, float g, float& b, const SgdScalars& s) {
  if (s.maximize) g = -g;                               // ascend instead of descend
  if (s.weight_decay != 0.0f) g = g + s.weight_decay * theta;  // g_t ← g_t + λθ_{t−1}   (L2)
  if (s.momentum != 0.0f) {
    b = s.first_step ? g                                // b_1 ← g_1
                     : b * s.momentum + s.one_minus_dampening * g;  // b_t ← μ b_{t−1} + (1 − τ) g_t
    g = s.nesterov ? g + s.momentum * b                 // nesterov: g_t ← g_t + μ b_t
                   : b;                                 //           g_t ← b_t
  }
  theta = theta + (-s.lr) * g;                          // θ_t ← θ_{t−1} − γ g_t
}

// The CPU loop over n elements of flat arrays (buffer may be null without
// momentum); defined in sgd.cpp, compiled for AVX2 and for any x86-64.
void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s);

}  // namespace moments
