// optim/sophia.hpp — Sophia-G: momentum divided by a diagonal curvature estimate, clipped element by element.
//
// H. Liu, Z. Li, D. Hall, P. Liang, T. Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
// Language Model Pre-training", ICLR 2024 (arXiv:2305.14342), Algorithm 3 (Sophia with the Gauss–Newton–
// Bartlett estimator, Algorithm 2); in the form the canonical code computes it, Liuhong99/Sophia
// sophia.py (SophiaG.step and SophiaG.update_hessian), fed as its train_sophiag.py feeds it:
//
//   m_0 ← 0, h_0 ← 0                                          exp_avg, hessian
//   loop, step t:
//     g_t ← ∇L(θ_{t−1}) on the minibatch
//     θ ← θ_{t−1} · (1 − η λ)                                  decoupled weight decay, first
//     m_t ← β1 m_{t−1} + (1 − β1) g_t                          the momentum (no bias correction)
//     θ_t ← θ − η · sign(m_t) · min(|m_t| / (ρ · bs · h + ε), 1)   the clipped Newton step, ε = 1e-15
//   every k steps, update_hessian() after step t (Algorithm 2, GNB):
//     ŷ_b ~ softmax(f(θ_t, x_b))  for each of the bs examples   labels from the model's own distribution
//     ĝ ← ∇ (1/bs) Σ_b CE(f(θ_t, x_b), ŷ_b)                     the gradient of the sampled loss
//     h ← β2 h + (1 − β2) ĝ ⊙ ĝ                               the Hessian EMA (the paper: bs · ĝ ⊙ ĝ)
//
// The training-loop hook (every k steps, k = 10 in the paper):
//   Tensor logits = model.forward(x);                          // forward
//   std::vector<int64_t> sampled = sample_labels(logits, gen); // ŷ ~ softmax(logits), ops.hpp
//   sophia.zero_grad();
//   cross_entropy(logits, sampled).backward();                 // ĝ
//   sophia.update_hessian();                                   // h ← β2 h + (1 − β2) ĝ ⊙ ĝ
//   sophia.zero_grad();
//
// Why it matters: |m| / (ρ bs h) is a Newton step m / H on a diagonal Hessian estimate: large where the
// loss is flat (small h), small where it is sharp. Where h is tiny, zero or wrong (a negative curvature
// that the squared gradient never shows), the clip bounds the move to η — there Sophia is signSGD with
// momentum. So every element moves by at most η whatever its curvature, and the Hessian is needed only
// every k steps: two buffers, 8 bytes per parameter, as Adam.
//
// CONVENTIONS AND DEVIATIONS
//   - The canonical code's order, defaults (η = 1e-4, β = (0.965, 0.99), ρ = 0.04, λ = 0.1, bs = 5120) and
//     checks (η ≥ 0, 0 ≤ β1 < 1, 0 ≤ β2 < 1, ρ ≥ 0, λ ≥ 0). Ours: bs ≥ 1, and NaN refused (validate.hpp).
//   - bs is an option here (`batch_size`, kept in the state dict with the rest); the canonical code takes it
//     as step(bs=...), its training script passing the tokens of one optimizer step (480 · 1024). Set it to
//     the examples (or tokens) of one minibatch, the same count the sampled loss averages over.
//   - The paper writes the clip as clip(m / max(γ h, ε), 1) with the estimate ĥ = bs · ĝ ⊙ ĝ; the code,
//     followed here, keeps h = ĝ ⊙ ĝ (ĝ of the mean loss) and divides by ρ · bs · h + 1e-15 (ρ the
//     paper's γ; ε added, not a max): the same step wherever ρ bs h ≫ 1e-15.
//   - An earlier sophia.py (same repository) clipped |m| / (h + 1e-15) at γ = 2e4 instead of at 1, so its
//     steps reached η γ; the current one, followed here, bounds every step by η.
//   - Rounding as torch does it on the CPU: ρ·bs is formed in double and rounded once to float32 (torch's
//     Python scalar); ρ·bs·h and + 1e-15 are rounded apart; m's update is one fused multiply-add after β1 m
//     (torch's `mul_(beta1).add_(grad, alpha=1 - beta1)`); the Hessian's (1 − β2) ĝ ĝ is two products, then
//     the sum (torch's addcmul_).
//   - update_hessian() uses whatever .grad each parameter holds; producing ĝ (labels sampled from the model,
//     the cross-entropy on them, backward) is the training loop's part, as in the canonical script (which
//     also clips ĝ's global norm at its grad_clip = 1 before update_hessian; the hook above does not).
//     It creates the state of a parameter not yet stepped (m = h = 0, t = 0), as the canonical code does.
//   - sign(NaN) is NaN (lion_math.hpp); the canonical code's torch.sign gives 0, but its ratio is NaN then
//     too, so θ turns NaN either way.
//   - `maximize` negates the gradient of the step, as the canonical code's; the Hessian's ĝ ⊙ ĝ needs none.
//   - Sophia-H (the Hutchinson estimator, uᵀ∇²L u with a Hessian-vector product) is not provided: the
//     autograd of tensor.hpp does not differentiate twice. Its step is also not SophiaG's (bias-corrected
//     η, ρ inside the clip as γ); only Sophia-G is here.
//   - State: exp_avg (m) and hessian (h), float32 (8 bytes per element); the step count t is kept but unused.
//
// USAGE
//   SophiaG sophia(model.parameters(), {.learning_rate = 3e-4, .rho = 0.04, .batch_size = 50});
//   every step: zero_grad, forward, backward, sophia.step(); every k steps also the hook above.
#pragma once
#include <cstdint>

#include "optimizer.hpp"

namespace moments {

struct SophiaGOptions {
  double learning_rate = 1e-4;  // η
  double beta1 = 0.965;         // β1, the decay of the momentum m
  double beta2 = 0.99;          // β2, the decay of the Hessian estimate h (per update_hessian, not per step)
  double rho = 0.04;            // ρ, the clip: |m| > ρ · bs · h is clipped to a step of η
  double weight_decay = 0.1;    // λ, decoupled: θ ← θ(1 − ηλ)
  double batch_size = 5120;     // bs, the examples (tokens) of one step: the canonical step(bs=5120); a whole number
  bool maximize = false;        // ascend instead of descend
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("rho", rho);
    f("weight_decay", weight_decay), f("batch_size", batch_size), f("maximize", maximize);
  }
};

class SophiaG : public OptimizerWith<SophiaGOptions> {
 public:
  explicit SophiaG(const std::vector<Tensor>& params, SophiaGOptions options = {});
  std::string name() const override { return "SophiaG"; }

  // h ← β2 h + (1 − β2) g ⊙ g with the current .grad of every parameter that has one (the GNB estimator's ĝ:
  // see the hook above). Parameters without a gradient are skipped; one without state gets it (m = h = 0).
  void update_hessian();

 protected:
  void validate(const SophiaGOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
