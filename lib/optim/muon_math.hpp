// optim/muon_math.hpp — Muon's element-wise parts, shared by the CPU loops
// (muon.cpp) and the CUDA kernels (cuda/muon.cu): the Nesterov momentum before
// the orthogonalisation and the decay-and-apply after it. The orthogonalisation
// itself (newton_schulz in muon.cpp) is matrix work and runs through Tensor ops
// (matmul), which dispatch to the cuda kernels on that device.
//
// The order of operations is torch.optim.Muon's (_single_tensor_muon, PyTorch 2.9):
//   buf.lerp_(grad, 1 − μ);  update = grad.lerp(buf, μ);  param.mul_(1 − lr λ);  param.add_(O, alpha = −lr')
// with PyTorch's lerp (lerp() in adafactor_math.hpp), so both round alike.
#pragma once
#include <cstdint>

#include "../host_device.hpp"
#include "adafactor_math.hpp"  // lerp(a, b, w), evaluated as PyTorch's

namespace moments {

struct MuonScalars {
  float one_minus_momentum;  // 1 − μ: the weight of g in B_t = lerp(B_{t−1}, g, 1 − μ)
  float momentum;            // μ: the weight of B_t in the Nesterov update lerp(g, B_t, μ)
  bool nesterov;
  float decay;               // 1 − γλ (decoupled decay, with the unadjusted γ in both dialects)
  float scale;               // Keller Jordan's max(1, rows/cols)^0.5, multiplied into O first; 1 in PyTorch's
  bool scale_first;          // Keller Jordan's dialect: O ← O · scale (rounded), then θ ← θ − γ O
  float minus_step;          // −γ' (PyTorch: the adjusted γ' = γ · ratio; Keller Jordan: −γ)
};

// g: gradient, b: momentum buffer B, u: the matrix to orthogonalise.
MOMENTS_HD inline void muon_momentum_element(float g, float& b, float& u, const MuonScalars& s) {
  b = lerp(b, g, s.one_minus_momentum);             // B_t ← μ B_{t−1} + (1 − μ) g_t
  u = s.nesterov ? lerp(g, b, s.momentum) : b;      // B̃_t ← (1 − μ) g_t + μ B_t   (or B_t)
}

// θ: parameter, o: the orthogonalised update O_t.
MOMENTS_HD inline void muon_apply_element(float& theta, float o, const MuonScalars& s) {
  theta = theta * s.decay;                          // θ ← θ (1 − γλ)
  if (s.scale_first) o = o * s.scale;               // Keller Jordan: O ← O · max(1, rows/cols)^0.5
  theta = theta + s.minus_step * o;                 // θ_t ← θ − γ' O_t
}

// The CPU loops (muon.cpp), one call per chunk of a parallel_for.
void muon_momentum(const float* grad, float* b, float* u, int64_t n, const MuonScalars& s);
void muon_apply(float* theta, const float* o, int64_t n, const MuonScalars& s);

}  // namespace moments
