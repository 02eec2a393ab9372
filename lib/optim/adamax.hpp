// optim/adamax.hpp — Adamax: Adam with the ∞-norm in place of the 2-norm.
//
// D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
// §7.1, Algorithm 2; in the form torch.optim.Adamax computes:
//
//   m_0 ← 0, u_0 ← 0, t ← 0                                   exp_avg, exp_inf
//   loop:
//     t ← t + 1
//     g_t ← ∇f(θ_{t−1}) (+ λθ_{t−1})                        L2 weight decay
//     m_t ← β1 m_{t−1} + (1 − β1) g_t
//     u_t ← max(β2 u_{t−1}, |g_t| + ε)                        the paper: max(β2 u_{t−1}, |g_t|)
//     θ_t ← θ_{t−1} − (α / (1 − β1^t)) m_t / u_t
//
// Why it matters: the limit p → ∞ of Adam's (Σ β2^{t−i} |g_i|^p)^{1/p} is a
// decaying maximum, which needs no bias correction; u never falls faster than by
// a factor β2 per step, so one large gradient holds a coordinate's step down for a
// while (tested).
//
// CONVENTIONS AND DEVIATIONS
//   - ε is added to |g_t| inside the max (PyTorch's; the paper has no ε), so u ≥ ε
//     and the division is safe from the first step.
//   - Only m is bias-corrected, as in the paper.
//   - weight_decay is L2 on the gradient; maximize negates the gradient first.
//   - Default α = 2e-3, as in the paper. State: exp_avg, exp_inf (2 floats per element).
#pragma once
#include "optimizer.hpp"

namespace moments {

struct AdamaxOptions {
  double learning_rate = 2e-3;  // α
  double beta1 = 0.9;           // β1, first-moment decay
  double beta2 = 0.999;         // β2, decay of the ∞-norm
  double eps = 1e-8;            // ε, added to |g|
  double weight_decay = 0.0;    // λ, as L2 on the gradient
  bool maximize = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("maximize", maximize);
  }
};

class Adamax : public OptimizerWith<AdamaxOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit Adamax(const std::vector<Tensor>& params, AdamaxOptions options = {});
  std::string name() const override { return "Adamax"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const AdamaxOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
