// optim/adagrad_math.hpp — Adagrad's per-element update, shared by the CPU loop
// (adagrad.cpp) and the CUDA kernel (cuda/adagrad.cu). The order of operations is
// torch.optim.Adagrad's (1.13, single-tensor), so the two round alike.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

struct AdagradScalars {
  float clr;  // η / (1 + (t − 1)·lr_decay): the decayed learning rate of this step
  float eps;  // ε, added to √G
  float l2;   // λ, as L2 on the gradient
  bool maximize;
};

// θ: parameter, g: gradient, sum: G, the running sum of g². One element of the step.
MOMENTS_HD inline void adagrad_update_element(float& theta, float g, float& sum, const AdagradScalars& s) {
  if (s.maximize) g = -g;                    // ascend instead of descend
  if (s.l2 != 0.0f) g = g + s.l2 * theta;    // g_t ← g_t + λθ_{t−1}   (L2)
  sum = sum + g * g;                         // G_t ← G_{t−1} + g_t²
  float std = sqrtf(sum) + s.eps;            // √G_t + ε
  theta = theta + (-s.clr) * g / std;        // θ_t ← θ_{t−1} − η_t g_t / (√G_t + ε)
}

void adagrad_update(float* theta, const float* grad, float* sum, int64_t n, const AdagradScalars& s);

}  // namespace moments
