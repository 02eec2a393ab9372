// optim/adam.hpp — Adam and AdamW.
//
// Adam: D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1.
// AdamW: I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 2.
//
//   Algorithm 1 (Adam)                                      in adam_update_element (adam_math.hpp)
//   ------------------------------------------------------  ---------------------------------------
//   m_0 ← 0, v_0 ← 0, t ← 0                                  init_state: exp_avg, exp_avg_sq = 0
//   while θ_t not converged:
//     t ← t + 1                                              Optimizer::step: state.step += 1
//     g_t ← ∇_θ f_t(θ_{t−1})                                 the .grad that backward() left
//     m_t ← β1 · m_{t−1} + (1 − β1) · g_t                    m = m * beta1 + (1 - beta1) * g
//     v_t ← β2 · v_{t−1} + (1 − β2) · g_t²                   v = v * beta2 + (1 - beta2) * g * g
//     m̂_t ← m_t / (1 − β1^t)                                 folded into step_size = α / (1 − β1^t)
//     v̂_t ← v_t / (1 − β2^t)                                 folded into √v_t / √(1 − β2^t)
//     θ_t ← θ_{t−1} − α · m̂_t / (√v̂_t + ε)                   theta += -step_size * m / denom
//
//   Algorithm 2 adds weight decay, in one of two places:
//     line 6  (Adam, L2):        g_t ← ∇f_t(θ_{t−1}) + λθ_{t−1}
//     line 12 (AdamW, decoupled): θ_t ← θ_{t−1} − η_t (α m̂_t / (√v̂_t + ε) + λθ_{t−1})
//
// CONVENTIONS AND DEVIATIONS (all as in PyTorch's torch.optim.Adam / AdamW)
//   - ε is added OUTSIDE the square root, after bias-correcting v: √v̂ + ε.
//   - Bias corrections use t starting at 1; they are computed once per step in
//     double and applied as step_size = α/(1 − β1^t) and √v_t/√(1 − β2^t).
//   - Adam's weight_decay is L2: λθ is added to the gradient, so it passes through
//     m and v and is rescaled by 1/(√v̂ + ε). It is NOT decoupled decay.
//   - AdamW's weight_decay is decoupled and multiplied by the learning rate:
//     θ ← θ (1 − α λ), applied before the Adam step. The paper multiplies λ by the
//     schedule multiplier η_t only (not by α); PyTorch, and moments, use α·λ,
//     so a learning-rate schedule also scales the decay.
//   - AdamW's default weight_decay is 1e-2 (PyTorch's); Adam's is 0.
//   - amsgrad keeps max(v_t) over all steps and uses it in place of v_t, with
//     v̂'s bias correction still applied (PyTorch's form, not Reddi et al.'s).
//   - maximize negates the gradient first.
//   - The state is per parameter: exp_avg (m), exp_avg_sq (v), and max_exp_avg_sq
//     with amsgrad — 2 (or 3) floats per parameter element.
#pragma once
#include "optimizer.hpp"

namespace moments {

struct AdamOptions {
  double learning_rate = 1e-3;  // α
  double beta1 = 0.9;           // β1, first-moment decay
  double beta2 = 0.999;         // β2, second-moment decay
  double eps = 1e-8;            // ε, added to √v̂
  double weight_decay = 0.0;    // λ, as L2 on the gradient
  bool amsgrad = false;
  bool maximize = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("amsgrad", amsgrad), f("maximize", maximize);
  }
};

// The same fields; only the meaning and default of weight_decay differ.
struct AdamWOptions {
  double learning_rate = 1e-3;  // α
  double beta1 = 0.9;           // β1, first-moment decay
  double beta2 = 0.999;         // β2, second-moment decay
  double eps = 1e-8;            // ε, added to √v̂
  double weight_decay = 1e-2;   // λ, decoupled: θ ← θ(1 − αλ)
  bool amsgrad = false;
  bool maximize = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("amsgrad", amsgrad), f("maximize", maximize);
  }
};

class Adam : public OptimizerWith<AdamOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit Adam(const std::vector<Tensor>& params, AdamOptions options = {});
  std::string name() const override { return "Adam"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const AdamOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

class AdamW : public OptimizerWith<AdamWOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit AdamW(const std::vector<Tensor>& params, AdamWOptions options = {});
  std::string name() const override { return "AdamW"; }
  bool sums_updates() const override { return true; }  // its loop fills UpdateSums (optimizer.hpp)

 protected:
  void validate(const AdamWOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
