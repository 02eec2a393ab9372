// monitor/monitor.hpp — watch exactly what an optimizer does, step by step.
//
// USAGE
//   AdamW opt(model.parameters());
//   Monitor monitor(opt, model.named_parameters(), {.csv_path = "run.csv"});
//   for (int64_t step = 1; step <= steps; ++step) {
//     opt.zero_grad();
//     Tensor loss = cross_entropy(model.forward(x), y);  // forward
//     loss.backward();                                   // backward
//     monitor.before_step();                             // snapshot θ (only on steps it will record)
//     opt.step();                                        // update
//     monitor.record(step, loss.item());                 // measure, check, write a CSV row
//   }
//   monitor.history().back().update_ratio;               // ‖Δθ‖ / ‖θ‖ of the last recorded step
//
// What one record holds (all from the real tensors, after the step):
//   loss, its debiased EMA, wall time per training step, each group's effective
//   learning rate, global and per-parameter L2 norms of the gradient, of θ and of
//   the update Δθ, the ratio ‖Δθ‖/‖θ‖, the cosine between Δθ and −g (1: the step
//   goes straight down the gradient; Adam's is lower), mean and max |x| of every
//   optimizer state buffer by name (exp_avg, exp_avg_sq, row_var, ...), and the
//   bytes of state per buffer and device.
// The monitor reads the optimizer's named state generically: a new optimizer
// needs no monitor code. Tensors on Device::cuda are copied to the host for the
// statistics (exact; one transfer per tensor and recorded step).
//
// Cost: two passes over parameters, gradients and state plus a copy of the
// parameters per recorded step, about the memory traffic of an Adam step
// (tests/bench/bench_monitor measures it); `every` = N spreads it over N steps.
//
// Checks: the first parameter whose gradient or value holds NaN/inf is named
// with the step (and throws with throw_on_nonfinite); a loss more than spike_z
// standard deviations above the mean of the last spike_window losses is flagged.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

#include "../nn.hpp"
#include "../optim/optimizer.hpp"

namespace moments {

struct MonitorOptions {
  int64_t every = 1;                // record every N-th step (1: every step)
  std::string csv_path{};           // one row per record; "" writes no file
  bool throw_on_nonfinite = false;  // throw moments::Error at the first NaN/inf
  int64_t spike_window = 50;        // losses in the window for the spike z-score
  double spike_z = 4.0;             // flag a loss this many σ above the window's mean
  double smoothing = 0.9;           // EMA weight of the smoothed loss (TensorBoard's)
};

struct ParamRecord {
  std::string name;
  double grad_norm = 0, param_norm = 0, update_norm = 0;
  double update_ratio = 0;  // ‖Δθ‖ / ‖θ‖
  double cosine = 0;        // cos(Δθ, −g)
};

struct BufferRecord {
  std::string buffer;       // state buffer name, over all parameters
  double mean_abs = 0, max_abs = 0;
};

struct Record {
  int64_t step = 0;
  double loss = 0, smoothed_loss = 0;
  double step_ms = 0;                   // wall time per training step since the previous record
  std::vector<double> learning_rates;   // effective, per param group
  double grad_norm = 0, param_norm = 0, update_norm = 0, update_ratio = 0, cosine = 0;
  std::vector<ParamRecord> params;      // in the optimizer's parameter order
  std::vector<BufferRecord> buffers;    // sorted by name
  std::vector<StateMemory> memory;      // bytes per (buffer, device)
  bool loss_spike = false;
  std::string nonfinite;                // "" when every gradient and value is finite
};

class Monitor {
 public:
  // `named` gives parameter names (e.g. model.named_parameters()); parameters
  // of the optimizer not found there are called "param<i>".
  explicit Monitor(Optimizer& optimizer, const NamedTensors& named = {}, MonitorOptions options = {});

  // Call right before optimizer.step(): keeps θ to measure the update. Cheap on
  // steps that will not be recorded (it copies nothing).
  void before_step();
  // Call right after optimizer.step(). Returns the new record, or nullptr on a
  // step that `every` skips. Without before_step(), update statistics are NaN.
  const Record* record(int64_t step, double loss);

  const std::vector<Record>& history() const { return history_; }
  const std::vector<std::string>& param_names() const { return names_; }
  // The CSV header: the columns written for every record, fixed at the first one.
  const std::vector<std::string>& columns() const { return columns_; }
  // Messages for every spike and non-finite value seen so far.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  bool will_record(int64_t step) const { return options_.every <= 1 || step % options_.every == 0; }
  std::vector<double> row(const Record& r) const;
  void write_csv(const Record& r);

  Optimizer& optimizer_;
  MonitorOptions options_;
  std::vector<Tensor> params_;
  std::vector<std::string> names_;
  std::vector<Tensor> before_;  // θ before the step (only when a snapshot was taken)
  bool have_snapshot_ = false;
  double ema_ = 0, ema_weight_ = 0;
  std::deque<double> recent_losses_;
  std::chrono::steady_clock::time_point last_time_;
  int64_t last_step_ = 0;
  bool timing_ = false;
  std::vector<Record> history_;
  std::vector<std::string> columns_;
  std::vector<std::string> buffer_names_;  // fixed at the first record, for the CSV
  std::vector<std::pair<std::string, Device>> memory_keys_;
  std::ofstream csv_;
  std::vector<std::string> warnings_;
};

}  // namespace moments
