// optim/lion.hpp — Lion: the sign of an interpolated momentum, one buffer per parameter.
//
// X. Chen, C. Liang, D. Huang, E. Real, K. Wang, Y. Liu, H. Pham, X. Dong, T. Luong,
// C.-J. Hsieh, Y. Lu, Q. V. Le, "Symbolic Discovery of Optimization Algorithms",
// NeurIPS 2023 (arXiv:2302.06675), Algorithm 2; in the form the canonical code computes it,
// google/automl lion/lion_pytorch.py (Lion.step):
//
//   m_0 ← 0                                                  exp_avg
//   loop:
//     g_t ← ∇f(θ_{t−1})
//     θ ← θ_{t−1} · (1 − η λ)                                 decoupled weight decay, first
//     c_t ← β1 m_{t−1} + (1 − β1) g_t                         the interpolation (not stored)
//     θ_t ← θ − η · sign(c_t)                                 sign(0) = 0
//     m_t ← β2 m_{t−1} + (1 − β2) g_t                         the momentum, updated last, with β2
//
// Why it matters: every element moves by exactly η (plus the decay), whatever the size of
// its gradient, so the update's RMS is η and its size no longer depends on the gradient's
// (tested). Two β's separate the two roles of momentum: β1 = 0.9 mixes the current gradient
// into the step, β2 = 0.99 gives the remembered direction a ten times longer memory. One
// buffer, m: 4 bytes per parameter, half of Adam's state. Because the step is as large as
// the largest Adam steps for every element, the paper advises a learning rate 3–10× smaller
// than AdamW's and a λ 3–10× larger, so that the decay per step, η λ, stays about the same.
//
// CONVENTIONS AND DEVIATIONS
//   - The canonical code's order, defaults (η = 1e-4, β = (0.9, 0.99), λ = 0) and checks
//     (η ≥ 0, 0 ≤ β1 < 1, 0 ≤ β2 < 1). Ours, not the canonical code's: λ ≥ 0, and NaN is
//     refused for every hyperparameter (validate.hpp).
//   - The decay multiplies θ by the float32 (1 − ηλ) before the sign step, as the canonical
//     `p.data.mul_(1 - lr * weight_decay)`; λ is multiplied by η (decoupled, AdamW's form).
//     The paper writes θ_t ← θ_{t−1} − η (sign(c_t) + λ θ_{t−1}): the same in exact arithmetic,
//     rounded here as the code rounds it.
//   - m_t ← β2 m + (1 − β2) g is rounded once, as a fused multiply-add after β2 m is rounded:
//     what torch's `exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)` computes on the CPU.
//     c_t is rounded as the canonical `exp_avg * beta1 + grad * (1 - beta1)`: two products,
//     then a sum. A c within rounding of 0 can take either sign (tests allow for that).
//   - sign(NaN) is NaN here, so a NaN gradient reaches θ instead of freezing it; torch 1.13's
//     sign gives 0 for NaN (θ would stay and m would turn NaN unseen).
//   - `maximize` is ours (the canonical code has none): it negates the gradient first.
//   - State: exp_avg (m), float32 (4 bytes per element); the step count t is kept but unused.
//
// USAGE
//   Lion lion(model.parameters(), {.learning_rate = 3e-4, .weight_decay = 1.0});
#pragma once
#include "optimizer.hpp"

namespace moments {

struct LionOptions {
  double learning_rate = 1e-4;  // η
  double beta1 = 0.9;           // β1, the interpolation between m and g that is signed
  double beta2 = 0.99;          // β2, the decay of the momentum m
  double weight_decay = 0.0;    // λ, decoupled: θ ← θ(1 − ηλ)
  bool maximize = false;        // ours: ascend instead of descend
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2);
    f("weight_decay", weight_decay), f("maximize", maximize);
  }
};

class Lion : public OptimizerWith<LionOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit Lion(const std::vector<Tensor>& params, LionOptions options = {});
  std::string name() const override { return "Lion"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const LionOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
