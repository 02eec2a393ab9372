// optim/schedule_free.hpp — schedule-free AdamW: no learning-rate schedule, an average of the
// iterates instead, and a model that holds one point for training and another for evaluation.
//
// A. Defazio, X. Yang, H. Mehta, K. Mishchenko, A. Khaled, A. Cutkosky, "The Road Less
// Scheduled", NeurIPS 2024 (arXiv:2405.15682), Algorithm 1 (schedule-free AdamW); in the form
// the authors' reference code computes it: facebookresearch/schedule_free,
// schedulefree/adamw_schedulefree_reference.py (AdamWScheduleFreeReference).
//
//   z_1 ← x_1 ← y_1 ← θ_0, v_0 ← 0, W_0 ← 0, γ_max ← −1             z, x, exp_avg_sq; weight_sum, lr_max
//   loop (t = 1, 2, ...; the reference's k = t − 1):
//     g_t ← ∇f(y_t)                                   the gradient is taken at y, which the model holds
//     γ_t ← γ · min(1, t / T_warmup) · √(1 − β2^t)     warmup and v's bias correction, folded into γ
//     γ_max ← max(γ_max, γ_t)
//     w_t ← t^r · γ_max^p                              r: polynomial weighting, p: weight_lr_power
//     W_t ← W_{t−1} + w_t,   c_{t+1} ← w_t / W_t        (0 when W_t = 0)
//     z ← z − γ_t λ y_t                                 decoupled decay, evaluated at y
//     v_t ← β2 v_{t−1} + (1 − β2) g_t²
//     z_{t+1} ← z − γ_t g_t / (√v_t + ε)                the base sequence: AdamW without momentum
//     x_{t+1} ← (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}      x = Σ w_i z_{i+1} / W_t, the weighted average
//     y_{t+1} ← β1 x_{t+1} + (1 − β1) z_{t+1}            the interpolation: β1 plays momentum's part
//
// Why it matters: a cosine or linear-decay schedule needs the run's length in advance; the
// schedule-free average x matches it without knowing when training stops. The price is that
// the parameters being trained (y) are not the ones to evaluate (x): call eval() before
// measuring and train() before the next step. Evaluating y instead is the classic mistake: it
// looks like a worse model (tested on a noisy problem, shown in the tutorial).
//
// USAGE
//   AdamWScheduleFree opt(model.parameters(), {.learning_rate = 2.5e-3, .warmup_steps = 100});
//   for (...) { opt.zero_grad(); loss.backward(); opt.step(); }   the model holds y
//   opt.eval();   measure ...   opt.train();                     the model holds x, then y again
//   opt.is_eval();                                                 which one it holds now
//
// CONVENTIONS AND DEVIATIONS (from the paper, then from the reference code)
//   - Paper: c_{t+1} = γ_t² / Σ γ_i². The code (followed here) weights by γ_max^p · t^r with
//     γ_max the largest γ_i so far, p = 2 by default; its γ_t includes √(1 − β2^t), as here, so
//     for r = 0 the weights level off only once warmup is over and β2^t ≈ 0 (thousands of steps
//     for β2 = 0.999): until then later z's weigh more.
//   - The code applies the decay to z before the gradient step (z ← z − γλy, then z ← z − γ g/…);
//     the paper writes both in one line. Same result up to rounding; the code's order is kept.
//   - State: the reference keeps z, exp_avg_sq, x and y; moments keeps z, exp_avg_sq and x
//     (12 bytes per parameter, not 16): y is the parameter itself while training, and train()
//     recomputes it as β1 x + (1 − β1) z with the same float operations as the step, so it comes
//     back bit for bit (tested). If β1 is changed while in eval mode, train() uses the new β1.
//     (The production AdamWScheduleFree keeps only z and v, 8 bytes, and swaps by lerp, which is
//     not exact: one eval()/train() round trip on 10^6 float32 values changed 1.2% of them.)
//   - The reference keeps k, lr_max and weight_sum per group (Python floats, i.e. doubles);
//     moments keeps the step count t = k + 1 per parameter (ParamState::step) and lr_max and
//     weight_sum per parameter as doubles (ParamState::scalars, saved in state dicts and
//     checkpoints). They equal the reference's when every parameter of a group has a gradient
//     at every step; a parameter without a gradient is skipped without advancing its count.
//   - train_mode is a group entry, as in the reference's group dict, so state dicts and
//     checkpoints carry it. Change it with train() / eval(), not set_hyperparameter (which would
//     flip the flag without swapping the parameters).
//   - step() in eval mode throws (the reference raises "Not in train mode!"), before updating any
//     group; the reference raises at the first such group, after stepping the ones before it.
//   - The reference's `lr = max(group['lr'], eps)` is overwritten before use; it has no effect.
//   - Validation is ours (the reference has none): γ, ε, λ, r, p ≥ 0, β in [0, 1), T_warmup a
//     whole number ≥ 0; NaN refused.
//   - decay_at_z is the reference's option (the production AdamWScheduleFree has only decay at y).
//   - The reference prints "Switching to eval mode" on each switch; moments prints nothing.
#pragma once
#include "optimizer.hpp"

namespace moments {

struct ScheduleFreeOptions {
  double learning_rate = 0.0025;  // γ
  double beta1 = 0.9;             // β1, the interpolation between x and z
  double beta2 = 0.999;           // β2, second-moment decay
  double eps = 1e-8;              // ε, added to √v
  double weight_decay = 0.0;      // λ, decoupled: z ← z − γ_t λ y
  double warmup_steps = 0;        // T_warmup: γ_t ramps linearly over the first T_warmup steps
  double r = 0.0;                 // r, the polynomial weighting t^r of the average
  double weight_lr_power = 2.0;   // p, the average's weights are γ_max^p
  bool decay_at_z = false;        // decay at z instead of y
  bool train_mode = true;         // the model holds y (true) or x (false); see train() / eval()
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("warmup_steps", warmup_steps), f("r", r);
    f("weight_lr_power", weight_lr_power), f("decay_at_z", decay_at_z), f("train_mode", train_mode);
  }
};

// The per-step scalars of Algorithm 1 for step t (1-based), computed in double as the reference does.
struct ScheduleFreeSchedule {
  double lr;          // γ_t = γ · warmup · √(1 − β2^t)
  double lr_max;      // γ_max after this step
  double weight;      // w_t = t^r γ_max^p
  double weight_sum;  // W_t
  double ckp1;        // c_{t+1} = w_t / W_t (0 when W_t = 0)
};
ScheduleFreeSchedule schedule_free_schedule(const ScheduleFreeOptions& o, int64_t t, double lr_max, double weight_sum);

class AdamWScheduleFree : public OptimizerWith<ScheduleFreeOptions> {
 public:
  Sharding sharding() const override { return Sharding::elements; }  // per element (ZeRO: any slice)
  explicit AdamWScheduleFree(const std::vector<Tensor>& params, ScheduleFreeOptions options = {});
  std::string name() const override { return "AdamWScheduleFree"; }

  // The model takes x (eval) or y (train), group by group, for parameters with state; a group
  // already in that mode is left alone (as the reference does).
  void eval();
  void train();
  // Whether every group is in eval mode (the model holds x), or group `group` is.
  bool is_eval() const;
  bool is_eval(size_t group) const {
    params(group);  // range check with a clear message
    return !options(group).train_mode;
  }
  // As the base class's, but train_mode changes only through train() and eval(), which swap the
  // weights with it (load_state_dict restores it with the weights it was saved with).
  void set_hyperparameters(size_t group, const std::map<std::string, double>& values) override;

 protected:
  void validate(const ScheduleFreeOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
  void begin_step() override;  // refuses to step in eval mode
};

}  // namespace moments
