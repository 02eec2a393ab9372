// optim/adadelta.hpp — Adadelta: RMSprop whose step carries its own units, the
// RMS of past updates over the RMS of gradients.
//
// M. D. Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701
// (2012), Algorithm 1; in the form torch.optim.Adadelta computes:
//
//   E[g²]_0 ← 0, E[Δx²]_0 ← 0                                 square_avg, acc_delta
//   loop:
//     g_t ← ∇f(x_t) (+ λx_t)                                 L2 weight decay
//     E[g²]_t ← ρ E[g²]_{t−1} + (1 − ρ) g_t²                  accumulate gradient
//     Δx_t ← −(RMS[Δx]_{t−1} / RMS[g]_t) g_t,  RMS[y] = √(E[y²] + ε)
//     E[Δx²]_t ← ρ E[Δx²]_{t−1} + (1 − ρ) Δx_t²               accumulate updates
//     x_{t+1} ← x_t + η Δx_t                                  η = 1 in the paper
//
// Why it matters (§3.2): in SGD and RMSprop the step has the units of the gradient,
// not of the parameter; Δx ∝ RMS[Δx]/RMS[g]·g has the parameter's units, like a
// Newton step H⁻¹g. The first steps are tiny (RMS[Δx]_0 = √ε) and grow.
//
// CONVENTIONS AND DEVIATIONS
//   - The learning rate η multiplies Δx after it is accumulated (PyTorch's); the
//     paper has no η, which is the default η = 1.
//   - ε sits inside both roots, as in the paper; default 1e-6 (the paper uses 1e-6 too).
//   - weight_decay is L2 on the gradient; maximize negates the gradient first.
//   - State: square_avg, acc_delta (2 floats per element).
#pragma once
#include "optimizer.hpp"

namespace moments {

struct AdadeltaOptions {
  double learning_rate = 1.0;  // η, a factor on Δx
  double rho = 0.9;            // ρ, the moving averages' decay
  double eps = 1e-6;           // ε, inside both roots
  double weight_decay = 0.0;   // λ, as L2 on the gradient
  bool maximize = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("rho", rho), f("eps", eps), f("weight_decay", weight_decay);
    f("maximize", maximize);
  }
};

class Adadelta : public OptimizerWith<AdadeltaOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit Adadelta(const std::vector<Tensor>& params, AdadeltaOptions options = {});
  std::string name() const override { return "Adadelta"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const AdadeltaOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
