// optim/radam.hpp — RAdam: Adam that waits for its second moment to be trustworthy,
// taking momentum-only steps until then, then scaling the adaptive step by r_t.
//
// L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao, J. Han, "On the Variance of the
// Adaptive Learning Rate and Beyond", ICLR 2020, Algorithm 2; in the form
// torch.optim.RAdam computes:
//
//   m_0 ← 0, v_0 ← 0, ρ_∞ ← 2/(1 − β2) − 1                    exp_avg, exp_avg_sq
//   loop:
//     t ← t + 1
//     g_t ← ∇f(θ_{t−1}) (+ λθ_{t−1})                        L2 weight decay
//     m_t ← β1 m_{t−1} + (1 − β1) g_t,   m̂_t ← m_t / (1 − β1^t)
//     v_t ← β2 v_{t−1} + (1 − β2) g_t²
//     ρ_t ← ρ_∞ − 2 t β2^t / (1 − β2^t)                       the length of v's moving average
//     if ρ_t > 5:                                             the variance is tractable
//       l_t ← √(1 − β2^t) / (√v_t + ε)
//       r_t ← √((ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t))
//       θ_t ← θ_{t−1} − α r_t m̂_t l_t
//     else:
//       θ_t ← θ_{t−1} − α m̂_t                                 SGD with bias-corrected momentum
//
// Why it matters: after one step v̂ is g², so Adam's first steps are ±α whatever the
// gradient's size, with a huge variance; warm-up hides this. RAdam does without the
// warm-up: with β2 = 0.999, ρ_t ≤ 5 for t ≤ 5 (ρ_t ≈ t), so the first 5 steps are momentum steps.
//
// CONVENTIONS AND DEVIATIONS
//   - The threshold is ρ_t > 5 (PyTorch's and the authors' code); Algorithm 2 says ρ_t > 4.
//   - ε is added to √v_t in l_t (the paper has no ε).
//   - weight_decay is L2 on the gradient. torch 1.13's RAdam has no maximize and no
//     decoupled decay (PyTorch 2.0 added both), so neither has this one.
//   - State: exp_avg, exp_avg_sq (2 floats per element).
#pragma once
#include "optimizer.hpp"

namespace moments {

struct RadamOptions {
  double learning_rate = 1e-3;  // α
  double beta1 = 0.9;           // β1
  double beta2 = 0.999;         // β2
  double eps = 1e-8;            // ε, added to √v
  double weight_decay = 0.0;    // λ, as L2 on the gradient
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay);
  }
};

// ρ_t and whether the step t is rectified, computed in double as PyTorch does.
struct RadamRectification {
  double rho_t;  // ρ_t
  bool rectified;
  double rect;   // r_t (rectified steps only)
};
RadamRectification radam_rectification(double beta2, int64_t t);

class RAdam : public OptimizerWith<RadamOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit RAdam(const std::vector<Tensor>& params, RadamOptions options = {});
  std::string name() const override { return "RAdam"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const RadamOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
