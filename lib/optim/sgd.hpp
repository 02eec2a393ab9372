// optim/sgd.hpp — stochastic gradient descent with momentum, as in PyTorch.
//
// I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
// initialization and momentum in deep learning", ICML 2013 (momentum and
// Nesterov momentum); the form below is PyTorch's torch.optim.SGD.
//
//   t ← t + 1
//   g_t ← ∇f(θ_{t−1}) + λθ_{t−1}                    weight decay as L2 on the gradient
//   if μ ≠ 0:
//     b_t ← g_t                        (t = 1)
//     b_t ← μ b_{t−1} + (1 − τ) g_t     (t > 1)     τ: dampening
//     g_t ← g_t + μ b_t  (nesterov)  or  g_t ← b_t
//   θ_t ← θ_{t−1} − γ g_t
//
// CONVENTIONS AND DEVIATIONS (PyTorch's)
//   - The learning rate multiplies the momentum buffer at use, not inside it
//     (Sutskever et al. write v ← μv − γg; the two agree for constant γ).
//   - The first step copies g into the buffer, undamped.
//   - nesterov requires momentum > 0 and dampening = 0.
//   - State: momentum_buffer (1 float per element), only when μ ≠ 0.
//   - The default learning rate 1e-3 is PyTorch 2's (1.x required one).
#pragma once
#include "optimizer.hpp"

namespace moments {

struct SgdOptions {
  double learning_rate = 1e-3;  // γ
  double momentum = 0.0;        // μ
  double dampening = 0.0;       // τ
  double weight_decay = 0.0;    // λ, as L2 on the gradient
  bool nesterov = false;
  bool maximize = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("momentum", momentum), f("dampening", dampening);
    f("weight_decay", weight_decay), f("nesterov", nesterov), f("maximize", maximize);
  }
};

class SGD : public OptimizerWith<SgdOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit SGD(const std::vector<Tensor>& params, SgdOptions options = {});
  std::string name() const override { return "SGD"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const SgdOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
