// optim/nadam.hpp — NAdam: Adam with Nesterov momentum, which looks one step ahead.
//
// T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop track;
// in the form torch.optim.NAdam computes (the momentum schedule μ_t is the paper's,
// with ψ = momentum_decay):
//
//   m_0 ← 0, v_0 ← 0, Π_0 ← 1, t ← 0                          exp_avg, exp_avg_sq, mu_product
//   loop:
//     t ← t + 1
//     g_t ← ∇f(θ_{t−1}) (+ λθ_{t−1})                        L2 weight decay
//     μ_t ← β1 (1 − ½ · 0.96^{tψ}),  μ_{t+1} ← β1 (1 − ½ · 0.96^{(t+1)ψ})
//     Π_t ← Π_{t−1} μ_t                                       the product of all μ so far
//     m_t ← β1 m_{t−1} + (1 − β1) g_t
//     v_t ← β2 v_{t−1} + (1 − β2) g_t²,  v̂_t ← v_t / (1 − β2^t)
//     θ_t ← θ_{t−1} − α (1 − μ_t)/(1 − Π_t) · g_t/(√v̂_t + ε)
//                   − α μ_{t+1}/(1 − Π_t μ_t μ_{t+1}) · m_t/(√v̂_t + ε)     (see the deviations)
//
// Why it matters: Adam's step uses m_t, which is mostly last step's momentum; NAdam
// mixes the fresh gradient (weight 1 − μ_t) with the momentum of the NEXT step
// (weight μ_{t+1}), the Nesterov look-ahead, each with its own bias correction.
//
// CONVENTIONS AND DEVIATIONS
//   - m is decayed with the constant β1 (as PyTorch and Keras do); the schedule μ_t
//     enters only the two weights of the update and their corrections.
//   - m̂'s correction: the paper divides by 1 − Π_{t+1} = 1 − Π_t μ_{t+1}; torch 1.13 computes
//     mu_product * mu * mu_next, i.e. 1 − Π_t μ_t μ_{t+1}, with μ_t once too often (later PyTorch
//     releases changed this line). The reference is torch 1.13's code, so this follows it.
//   - Π_t (mu_product) is kept in float32, as PyTorch keeps it (a 0-dim tensor), and
//     on the host whatever the parameter's device: it is one number per parameter.
//   - ε is added outside the root, after bias-correcting v.
//   - weight_decay is L2 on the gradient. torch 1.13's NAdam has no maximize (and no
//     decoupled decay; both came in PyTorch 2.0), so neither has this one.
//   - Default α = 2e-3, ψ = 4e-3. State: exp_avg, exp_avg_sq (2 floats per element),
//     mu_product (one float per parameter tensor).
#pragma once
#include "optimizer.hpp"

namespace moments {

struct NadamOptions {
  double learning_rate = 2e-3;    // α
  double beta1 = 0.9;             // β1
  double beta2 = 0.999;           // β2
  double eps = 1e-8;              // ε, added to √v̂
  double weight_decay = 0.0;      // λ, as L2 on the gradient
  double momentum_decay = 4e-3;   // ψ, of the schedule μ_t
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("momentum_decay", momentum_decay);
  }
};

class NAdam : public OptimizerWith<NadamOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit NAdam(const std::vector<Tensor>& params, NadamOptions options = {});
  std::string name() const override { return "NAdam"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const NadamOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
