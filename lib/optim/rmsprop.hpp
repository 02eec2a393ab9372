// optim/rmsprop.hpp — RMSprop: divide the gradient by a moving average of its
// recent magnitude; optionally centered, optionally with momentum.
//
// G. Hinton, N. Srivastava, K. Swersky, "Neural Networks for Machine Learning",
// lecture 6e (2012): "divide the gradient by a running average of its recent
// magnitude", MeanSquare ← 0.9 MeanSquare + 0.1 g². Centered form: A. Graves,
// "Generating Sequences With Recurrent Neural Networks" (2013), eqs. 38–41.
// In the form torch.optim.RMSprop computes:
//
//   E[g²]_0 ← 0, E[g]_0 ← 0, b_0 ← 0                         square_avg, grad_avg, momentum_buffer
//   loop:
//     g_t ← ∇f(θ_{t−1}) (+ λθ_{t−1})                        L2 weight decay
//     E[g²]_t ← α E[g²]_{t−1} + (1 − α) g_t²                  the moving average that forgets
//     centered: E[g]_t ← α E[g]_{t−1} + (1 − α) g_t;
//               a_t ← √(E[g²]_t − E[g]_t²) + ε                a variance, not a raw second moment
//     else:     a_t ← √E[g²]_t + ε
//     μ > 0:  b_t ← μ b_{t−1} + g_t / a_t;  θ_t ← θ_{t−1} − η b_t
//     else:   θ_t ← θ_{t−1} − η g_t / a_t
//
// Why it matters: Adagrad's sum only grows; RMSprop's average forgets with time
// constant 1/(1 − α) ≈ 100 steps, so the step size recovers when gradients shrink.
// Adam is RMSprop plus momentum in m, plus bias corrections.
//
// CONVENTIONS AND DEVIATIONS
//   - ε is added OUTSIDE the root (Graves adds k = 1e-4 inside it); default 1e-8.
//   - No bias correction: E[g²] starts at 0, so the first steps are large (about
//     η/√(1 − α) = 10η at α = 0.99).
//   - Momentum accumulates g/a and η is applied outside the buffer (Graves puts the
//     learning rate inside Δ; the two agree for a constant η).
//   - α defaults to 0.99 (Hinton's 0.9; Graves' ℵ = 0.95).
//   - weight_decay is L2 on the gradient; maximize negates the gradient first.
//   - State: square_avg; grad_avg when centered; momentum_buffer when μ > 0.
#pragma once
#include "optimizer.hpp"

namespace moments {

struct RmspropOptions {
  double learning_rate = 1e-2;  // η
  double alpha = 0.99;          // α, the moving averages' decay
  double eps = 1e-8;            // ε, added to the root
  double weight_decay = 0.0;    // λ, as L2 on the gradient
  double momentum = 0.0;        // μ
  bool centered = false;
  bool maximize = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("alpha", alpha), f("eps", eps), f("weight_decay", weight_decay);
    f("momentum", momentum), f("centered", centered), f("maximize", maximize);
  }
};

class RMSprop : public OptimizerWith<RmspropOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit RMSprop(const std::vector<Tensor>& params, RmspropOptions options = {});
  std::string name() const override { return "RMSprop"; }

 protected:
  void validate(const RmspropOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
