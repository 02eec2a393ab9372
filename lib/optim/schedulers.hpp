// optim/schedulers.hpp — the two learning-rate policies that are not "a base rate
// times f(t)" (those are schedule.hpp's): OneCycle, which sets absolute rates and
// cycles momentum, and ReduceLROnPlateau, which watches a metric. Both work with
// every optimizer and match torch.optim.lr_scheduler (1.13) step for step
// (tests/reference/make_schedule_golden.py).
//
// USAGE
//   SGD sgd(model.parameters(), {.momentum = 0.9});
//   OneCycleLR cycle(sgd, {.max_learning_rate = 0.1, .total_steps = 1000});
//   for (...) { ...; sgd.step(); cycle.step(); }        // lr 0.004 → 0.1 → 4e-7; momentum 0.95 → 0.85 → 0.95
//
//   AdamW adamw(model.parameters(), {.learning_rate = 1e-3});
//   ReduceLROnPlateau plateau(adamw, {.factor = 0.5, .patience = 3});
//   for (epoch ...) { train(); plateau.step(validation_loss); }   // halves lr after 4 epochs without progress
//
// ONE CYCLE (L. N. Smith, N. Topin, "Super-Convergence", 2017; torch.optim.lr_scheduler.OneCycleLR):
//   lr rises from max/div_factor to max over the first pct_start of the steps, then falls to
//   max/(div_factor·final_div_factor), by half a cosine (or linearly); with three_phase it comes back
//   down to the start first, then falls to the minimum. Momentum moves the opposite way, between
//   max_momentum and base_momentum: "momentum" for optimizers that have it (SGD, RMSprop), else β1
//   ("beta1": the Adam family, and Adafactor's optional first moment). The constructor already sets
//   step 0's values; step t is step_num = t in PyTorch's formulas, and stepping past total_steps is an error.
//   One deviation: PyTorch lets the step counter reach total_steps (one past the last phase's end, so that
//   a loop of total_steps optimizer steps may call step() after each) and extrapolates the last phase there,
//   which with linear annealing gives a negative learning rate; that step keeps the final values here.
//
// REDUCE ON PLATEAU (torch.optim.lr_scheduler.ReduceLROnPlateau):
//   after each step(metric): an improvement is metric < best·(1 − threshold) (mode min, threshold_mode
//   rel; abs: best − threshold; max mode mirrors it); more than `patience` steps without one multiply
//   every group's lr by `factor`, never below min_lr, and start `cooldown` steps in which bad steps
//   are not counted. A change smaller than eps is not made.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optimizer.hpp"

namespace moments {

struct OneCycleOptions {
  double max_learning_rate = 0.0;  // the peak, per group the same (required, > 0)
  int64_t total_steps = 0;         // steps in the cycle (required, >= 2)
  double pct_start = 0.3;          // the share of steps spent rising
  bool cosine = true;              // cosine annealing; false: linear
  bool cycle_momentum = true;
  double base_momentum = 0.85;     // the momentum at the peak of the learning rate
  double max_momentum = 0.95;      // ... and at its ends
  double div_factor = 25.0;        // start = max / div_factor
  double final_div_factor = 1e4;   // end = start / final_div_factor
  bool three_phase = false;        // rise, fall back to the start, then anneal to the end
};

class OneCycleLR {
 public:
  OneCycleLR(Optimizer& optimizer, OneCycleOptions options);
  void step();  // t ← t + 1; sets every group's lr (and momentum); throws past total_steps
  int64_t last_step() const { return step_; }
  double learning_rate_at(int64_t step) const;  // what step t sets, by formula
  double momentum_at(int64_t step) const;
  const std::string& momentum_hyperparameter() const { return momentum_name_; }  // "" without cycling

 private:
  struct Phase {
    double end_step;
    double lr_from, lr_to, momentum_from, momentum_to;
  };
  double at(int64_t step, bool momentum) const;
  void apply();
  Optimizer& optimizer_;
  OneCycleOptions options_;
  std::vector<Phase> phases_;
  std::string momentum_name_;
  int64_t step_ = 0;
};

struct PlateauOptions {
  bool maximize = false;          // mode: "min" (false) or "max"
  double factor = 0.1;            // lr ← lr · factor (< 1)
  int64_t patience = 10;          // steps without improvement that are tolerated
  double threshold = 1e-4;        // how much better counts as better
  bool relative_threshold = true; // threshold_mode "rel" (true) or "abs"
  int64_t cooldown = 0;           // steps after a reduction in which bad steps are not counted
  std::vector<double> min_learning_rates = {0.0};  // one per group, or one for all
  double eps = 1e-8;              // a reduction smaller than this is not made
};

class ReduceLROnPlateau {
 public:
  ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options = {});
  // Records the metric of one step (usually an epoch's validation loss) and reduces the
  // learning rates when it has not improved for more than `patience` steps. Returns true
  // when it reduced them. A NaN metric counts as no improvement.
  bool step(double metric);
  double best() const { return best_; }
  int64_t bad_steps() const { return num_bad_; }
  int64_t cooldown_left() const { return cooldown_counter_; }

 private:
  bool is_better(double metric) const;
  Optimizer& optimizer_;
  PlateauOptions options_;
  std::vector<double> min_lrs_;
  double best_;
  int64_t num_bad_ = 0, cooldown_counter_ = 0;
};

}  // namespace moments
