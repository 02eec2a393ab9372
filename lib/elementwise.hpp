// elementwise.hpp — per-element forward and derivative formulas of the pointwise ops.
// Shared by the CPU loops in ops.cpp and the CUDA kernels, so both run the same formula.
// Each *_grad takes the input x (and the output y where that is cheaper) and returns dy/dx.
#pragma once
#include <cmath>

#include "host_device.hpp"

namespace moments::elementwise {

constexpr float kSqrt2OverPi = 0.7978845608028654f;  // √(2/π), GELU's tanh form
constexpr float kGeluCubic = 0.044715f;

MOMENTS_HD inline float relu(float x) { return x > 0.0f ? x : 0.0f; }
MOMENTS_HD inline float relu_grad(float x) { return x > 0.0f ? 1.0f : 0.0f; }

MOMENTS_HD inline float sigmoid(float x) {
  // Two branches so exp never overflows: both are 1/(1+e^-x).
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}
MOMENTS_HD inline float sigmoid_grad_from_output(float y) { return y * (1.0f - y); }

MOMENTS_HD inline float tanh_grad_from_output(float y) { return 1.0f - y * y; }

MOMENTS_HD inline float gelu(float x) {
  float inner = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + tanhf(inner));
}
MOMENTS_HD inline float gelu_grad(float x) {
  float inner = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  float t = tanhf(inner);
  float d_inner = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * d_inner;
}

// The exact GELU, x Φ(x) with Φ the standard normal CDF, written as PyTorch's CPU kernel writes it
// (x · 0.5 · (1 + erf(x / √2))); its derivative Φ(x) + x φ(x).
constexpr float kInvSqrt2 = 0.70710678118654752f;     // 1/√2
constexpr float kInvSqrt2Pi = 0.39894228040143268f;   // 1/√(2π)
MOMENTS_HD inline float gelu_erf(float x) { return x * 0.5f * (1.0f + erff(x * kInvSqrt2)); }
MOMENTS_HD inline float gelu_erf_grad(float x) {
  float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));  // Φ(x)
  float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);    // φ(x)
  return cdf + x * pdf;
}

MOMENTS_HD inline float pow_grad(float x, float p) { return p * powf(x, p - 1.0f); }

}  // namespace moments::elementwise
