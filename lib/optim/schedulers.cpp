// optim/schedulers.cpp — OneCycleLR and ReduceLROnPlateau (see schedulers.hpp),
// in torch.optim.lr_scheduler's order of operations, in double as Python computes.
#include "schedulers.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace moments {

namespace {

bool has_hyperparameter(const Optimizer& optimizer, const std::string& name) {
  for (const auto& [key, value] : optimizer.hyperparameters(0))
    if (key == name) return true;
  return false;
}

// PyTorch's _annealing_cos and _annealing_linear, from `start` (pct 0) to `end` (pct 1).
double anneal(bool cosine, double start, double end, double pct) {
  if (cosine) return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
  return (end - start) * pct + start;
}

}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, OneCycleOptions options) : optimizer_(optimizer), options_(options) {
  const OneCycleOptions& o = options_;
  if (!(o.max_learning_rate > 0.0)) fail("OneCycleLR: invalid max_learning_rate ", o.max_learning_rate, " (must be > 0)");
  if (o.total_steps < 1) fail("OneCycleLR: invalid total_steps ", o.total_steps, " (must be >= 1)");
  if (!(o.pct_start >= 0.0 && o.pct_start <= 1.0)) fail("OneCycleLR: invalid pct_start ", o.pct_start, " (must be in [0, 1])");
  if (!(o.div_factor > 0.0) || !(o.final_div_factor > 0.0))
    fail("OneCycleLR: div_factor ", o.div_factor, " and final_div_factor ", o.final_div_factor, " must be > 0");
  const double max_lr = o.max_learning_rate, initial_lr = max_lr / o.div_factor, min_lr = initial_lr / o.final_div_factor;
  const double total = static_cast<double>(o.total_steps), rise_end = o.pct_start * total - 1.0;
  if (o.three_phase)
    phases_ = {{rise_end, initial_lr, max_lr, o.max_momentum, o.base_momentum},
               {2.0 * o.pct_start * total - 2.0, max_lr, initial_lr, o.base_momentum, o.max_momentum},
               {total - 1.0, initial_lr, min_lr, o.max_momentum, o.max_momentum}};
  else
    phases_ = {{rise_end, initial_lr, max_lr, o.max_momentum, o.base_momentum},
               {total - 1.0, max_lr, min_lr, o.base_momentum, o.max_momentum}};
  double start = 0.0;  // PyTorch divides by each phase's length: none may be empty
  for (const Phase& phase : phases_) {
    if (phase.end_step == start)
      fail("OneCycleLR: pct_start ", o.pct_start, " with total_steps ", o.total_steps,
           " leaves a phase of zero length (PyTorch divides by zero there)");
    start = phase.end_step;
  }
  if (o.cycle_momentum) {
    if (has_hyperparameter(optimizer, "momentum")) momentum_name_ = "momentum";
    else if (has_hyperparameter(optimizer, "beta1")) momentum_name_ = "beta1";
    else
      fail("OneCycleLR: ", optimizer.name(), " has no momentum or beta1 to cycle (set cycle_momentum = false)");
    if (!(o.base_momentum >= 0.0 && o.max_momentum >= 0.0))
      fail("OneCycleLR: base_momentum ", o.base_momentum, " and max_momentum ", o.max_momentum, " must be >= 0");
  }
  apply();
}

double OneCycleLR::at(int64_t step, bool momentum) const {
  if (step < 0 || step > options_.total_steps)
    fail("OneCycleLR: tried to step ", step + 1, " times; the cycle has total_steps ", options_.total_steps);
  const double t = static_cast<double>(step);
  double start = 0.0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& p = phases_[i];
    if (t <= p.end_step || i + 1 == phases_.size()) {
      // PyTorch allows a step at t = total_steps, one past the last phase's end, and extrapolates there
      // (linear annealing can then give a negative rate); here that step keeps the end values.
      double pct = std::min((t - start) / (p.end_step - start), step == options_.total_steps ? 1.0 : INFINITY);
      return momentum ? anneal(options_.cosine, p.momentum_from, p.momentum_to, pct)
                      : anneal(options_.cosine, p.lr_from, p.lr_to, pct);
    }
    start = p.end_step;
  }
  return 0.0;  // not reached: the last phase always answers
}

double OneCycleLR::learning_rate_at(int64_t step) const { return at(step, false); }
double OneCycleLR::momentum_at(int64_t step) const { return at(step, true); }

void OneCycleLR::step() {
  at(step_ + 1, false);  // throws past the end before anything changes
  ++step_;
  apply();
}

void OneCycleLR::apply() {
  const double lr = learning_rate_at(step_);
  for (size_t g = 0; g < optimizer_.group_count(); ++g) {
    std::map<std::string, double> values{{"learning_rate", lr}};
    if (!momentum_name_.empty()) values[momentum_name_] = momentum_at(step_);
    optimizer_.set_hyperparameters(g, values);
  }
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options)
    : optimizer_(optimizer), options_(std::move(options)) {
  const PlateauOptions& o = options_;
  if (!(o.factor < 1.0) || !(o.factor >= 0.0)) fail("ReduceLROnPlateau: invalid factor ", o.factor, " (must be in [0, 1))");
  if (o.patience < 0) fail("ReduceLROnPlateau: invalid patience ", o.patience, " (must be >= 0)");
  if (o.cooldown < 0) fail("ReduceLROnPlateau: invalid cooldown ", o.cooldown, " (must be >= 0)");
  if (!(o.threshold >= 0.0)) fail("ReduceLROnPlateau: invalid threshold ", o.threshold, " (must be >= 0)");
  if (!(o.eps >= 0.0)) fail("ReduceLROnPlateau: invalid eps ", o.eps, " (must be >= 0)");
  const size_t groups = optimizer.group_count();
  if (o.min_learning_rates.size() == 1) min_lrs_.assign(groups, o.min_learning_rates[0]);
  else if (o.min_learning_rates.size() == groups) min_lrs_ = o.min_learning_rates;
  else
    fail("ReduceLROnPlateau: expected 1 or ", groups, " min_learning_rates, got ", o.min_learning_rates.size());
  for (double m : min_lrs_)
    if (!(m >= 0.0)) fail("ReduceLROnPlateau: invalid min_learning_rate ", m, " (must be >= 0)");
  best_ = o.maximize ? -INFINITY : INFINITY;  // the worst value for the mode
}

bool ReduceLROnPlateau::is_better(double a) const {
  const PlateauOptions& o = options_;
  if (!o.maximize) return o.relative_threshold ? a < best_ * (1.0 - o.threshold) : a < best_ - o.threshold;
  return o.relative_threshold ? a > best_ * (o.threshold + 1.0) : a > best_ + o.threshold;
}

bool ReduceLROnPlateau::step(double metric) {
  if (is_better(metric)) {
    best_ = metric;
    num_bad_ = 0;
  } else {
    ++num_bad_;
  }
  if (cooldown_counter_ > 0) {  // in cooldown: bad steps are not counted
    --cooldown_counter_;
    num_bad_ = 0;
  }
  if (num_bad_ <= options_.patience) return false;
  bool reduced = false;
  for (size_t g = 0; g < optimizer_.group_count(); ++g) {
    double old_lr = optimizer_.learning_rate(g);
    double new_lr = std::max(old_lr * options_.factor, min_lrs_[g]);
    if (old_lr - new_lr > options_.eps) optimizer_.set_learning_rate(g, new_lr), reduced = true;
  }
  cooldown_counter_ = options_.cooldown;
  num_bad_ = 0;
  return reduced;
}

}  // namespace moments
