// optim/schedule.hpp — learning-rate schedules that work with any optimizer.
//
// A schedule is a function of the step count giving a multiplier of each
// group's base learning rate (PyTorch's LambdaLR): lr_g(t) = base_lr_g · f(t).
//
// USAGE
//   AdamW opt(model.parameters(), {.learning_rate = 3e-4});
//   LrScheduler sched(opt, warmup_cosine(/*warmup_steps=*/100, /*total_steps=*/1000));
//   for (...) { ...; opt.step(); sched.step(); }   // opt.learning_rate(0) is the lr in use
//
// Conventions: t counts scheduler.step() calls, starting at 0; the constructor
// already sets lr = base · f(0). Warmups reach the full rate at t = warmup − 1
// (f(t) = (t + 1)/warmup), so no step is taken with a zero learning rate.
// Every schedule is a closed formula of t (step_decay is γ^⌊t/s⌋ by pow, not a
// running product), so set_step(t) jumps to any t at once and sets exactly the
// learning rates that t calls of step() would have set (a resumed run uses it).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "optimizer.hpp"

namespace moments {

using Schedule = std::function<double(int64_t step)>;

Schedule constant_schedule();                                             // f = 1
Schedule linear_warmup(int64_t warmup_steps);                             // (t+1)/w, then 1
Schedule warmup_cosine(int64_t warmup_steps, int64_t total_steps, double min_factor = 0.0);  // warmup, then ½(1+cos πp) down to min
Schedule step_decay(int64_t step_size, double gamma);                     // γ^⌊t / step_size⌋
Schedule linear_decay(int64_t total_steps, double end_factor = 0.0);      // 1 → end over total_steps, then end
Schedule multiply(Schedule a, Schedule b);                                // f = a · b (compose)

class LrScheduler {
 public:
  LrScheduler(Optimizer& optimizer, Schedule schedule);
  void step();                                    // t ← t + 1; sets every group's lr
  // t ← `step` (0 <= step <= max_step), lr = base · f(step) in every group, at once.
  // Checks f(step) first (factor_at): on error nothing changes.
  void set_step(int64_t step);
  // f(step), checked: a number >= 0, and base · f a learning rate >= 0 in every group.
  double factor_at(int64_t step) const;
  int64_t last_step() const { return step_; }
  double factor() const { return schedule_(step_); }
  // The largest t: 2^53, up to which t is exact as a double in the schedules' formulas.
  static constexpr int64_t max_step = int64_t{1} << 53;
  double base_learning_rate(size_t group) const { return base_.at(group); }

 private:
  void apply(double factor);
  Optimizer& optimizer_;
  Schedule schedule_;
  std::vector<double> base_;
  int64_t step_ = 0;
};

// ---- gradient clipping ------------------------------------------------------

// Scales all gradients together so their global L2 norm is at most max_norm:
// g ← g · min(1, max_norm / (‖g‖ + 1e-6)), as PyTorch's clip_grad_norm_.
// Returns the norm before clipping. With error_if_nonfinite, a NaN or inf norm
// throws instead (naming the norm, before anything is scaled); otherwise an infinite
// norm makes the gradients NaN too. ‖g‖² is summed in double in a fixed order
// (optim/grad_norm_math.hpp) that the CUDA kernels follow: the same bits on both.
// The gradients must share one device; on cuda, returning the norm is one copy back.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, bool error_if_nonfinite = false);
// The same, with the norm left where the gradients are (a shape-[] float tensor), as
// torch returns it: on cuda nothing comes back and the host does not wait for the device.
Tensor clip_grad_norm_tensor(const std::vector<Tensor>& params, double max_norm);
// Clamps every gradient element into [−clip_value, clip_value].
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);

}  // namespace moments
