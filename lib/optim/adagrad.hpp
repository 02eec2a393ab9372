// optim/adagrad.hpp — Adagrad: a learning rate per coordinate that shrinks with
// the sum of every squared gradient seen so far.
//
// J. Duchi, E. Hazan, Y. Singer, "Adaptive Subgradient Methods for Online Learning
// and Stochastic Optimization", JMLR 12 (2011); the diagonal update of §1.1 (eq. 1
// with diag(G_t)), in the form torch.optim.Adagrad computes.
//
//   G_0 ← v_0 (initial_accumulator_value), t ← 0          init_state: sum = v_0
//   loop:
//     t ← t + 1
//     g_t ← ∇f(θ_{t−1}) (+ λθ_{t−1})                        L2 weight decay
//     η_t ← η / (1 + (t − 1)·lr_decay)                        PyTorch's decay of η
//     G_t ← G_{t−1} + g_t²                                    sum (elementwise)
//     θ_t ← θ_{t−1} − η_t g_t / (√G_t + ε)                    δ + √G in the paper
//
// Why it matters: η_t/√G_t only ever falls. Coordinates with large or frequent
// gradients slow down first (good for sparse features); but after many steps every
// coordinate crawls, which is what RMSprop fixed by forgetting old gradients.
//
// CONVENTIONS AND DEVIATIONS
//   - ε is added OUTSIDE the root (√G + ε), as the paper's δI + diag(G)^½; default 1e-10.
//   - lr_decay and initial_accumulator_value are PyTorch's, not the paper's. Each group here
//     starts its sums from its own initial_accumulator_value; torch 1.13 fills every sum in its
//     constructor from the constructor's argument, ignoring a group's value.
//   - weight_decay is L2 on the gradient (it then passes through G).
//   - maximize negates the gradient first. State: sum (1 float per element).
//   - Only the diagonal form (the full-matrix G_t^½ of the paper is Shampoo's territory).
#pragma once
#include "optimizer.hpp"

namespace moments {

struct AdagradOptions {
  double learning_rate = 1e-2;              // η
  double lr_decay = 0.0;                    // η_t = η / (1 + (t − 1)·lr_decay)
  double weight_decay = 0.0;                // λ, as L2 on the gradient
  double initial_accumulator_value = 0.0;   // G_0
  double eps = 1e-10;                       // ε, added to √G
  bool maximize = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("lr_decay", lr_decay), f("weight_decay", weight_decay);
    f("initial_accumulator_value", initial_accumulator_value), f("eps", eps), f("maximize", maximize);
  }
};

class Adagrad : public OptimizerWith<AdagradOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit Adagrad(const std::vector<Tensor>& params, AdagradOptions options = {});
  std::string name() const override { return "Adagrad"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const AdagradOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
