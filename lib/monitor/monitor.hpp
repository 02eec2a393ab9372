// monitor/monitor.hpp — watch exactly what an optimizer does, step by step.
//
// USAGE
//   AdamW opt(model.parameters());
//   Monitor monitor(opt, model.named_parameters(), {.csv_path = "run.csv"});
//   for (int64_t step = 1; step <= steps; ++step) {
//     opt.zero_grad();
//     Tensor loss = cross_entropy(model.forward(x), y);  // forward
//     loss.backward();                                   // backward
//     monitor.before_step();                             // ask the step for its sums (only on steps it will record)
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
// WHERE THE UPDATE STATISTICS COME FROM. Δθ needs θ before and after the step. An
// optimizer with the hook (optim/optimizer.hpp, THE MONITOR'S HOOK; sums_updates():
// SGD, Adam, AdamW, NAdam, RAdam, Adamax, Adagrad, Adadelta, Lion) sums Σθ², Σg², ΣΔθ²,
// ΣΔθ·g and Σ|x|, max |x| of its state inside its own CPU loop on the steps
// before_step() announces, so recording reads nothing again; its parameters come out
// bit for bit as without a monitor (tests/test_update_hook.cpp). For the other
// optimizers, and for parameters on Device::cuda, before_step() copies θ and record()
// makes one pass over θ, the copy and g and one over the state (the figures agree to
// float rounding, ~1e-6 relative; the same test).
//
// OPTIMIZER INTERNALS (internals = true; off by default): a look inside the
// optimizer, per parameter tensor, from its own state after the step (internals.hpp
// computes them). One column per statistic and parameter, NAME.<param>, e.g.
// adam.m_norm.fc1.weight, after the per-parameter columns:
//   Adam, AdamW (amsgrad: v is max_exp_avg_sq), NAdam, RAdam, Adam8bit / AdamW8bit
//   (their dequantized m and v), LAMB, Adamax and AdamWScheduleFree:
//     adam.m_norm         ‖m‖, the first moment's L2 norm (exp_avg)
//     adam.cos_m_g        cos(m, g): 1 when the momentum points along this step's
//                         gradient, near 0 when the gradient is noise around it
//     adam.sqrt_v_hat_p1, _p50, _p99
//                         percentiles (nearest rank) of √v̂ = √(v / (1 − β2^t)) over
//                         the elements: the spread of the per-element step sizes
//                         (Adamax: of u, its ∞-norm moment; LAMB without
//                         bias_correction: of √v)
//     adam.eps_share      the fraction of elements where ε is more than half of the
//                         denominator, ε > ½(√v̂ + ε): there Adam is SGD with
//                         momentum at lr/ε, not an adaptive method. The denominator
//                         is the optimizer's own: RAdam and schedule-free AdamW add ε
//                         to √v (ε > ½(√v + ε)); Adamax's is u (ε > ½ u)
//   AdamWScheduleFree has no m: its adam.m_norm and adam.cos_m_g are nan.
//   LAMB also: lamb.trust_ratio   the ratio ‖θ‖/‖u‖ its last step applied (Lamb::trust_ratio)
//   Adafactor:
//     adafactor.row_min, row_max, col_min, col_max
//                         the range of the factored second moment R (rows) and C
//                         (columns); nan for a vector, whose V̂ is not factored
//     adafactor.clip      the update clip factor max(1, RMS(U)/d) of the step
//                         (1: no clipping), with U = G/√V̂ recomputed from the state
//   Lion:
//     lion.sign_flips     the fraction of elements whose update sign(β1 m + (1 − β1) g)
//                         differs from the step before; computed in before_step() of
//                         the recorded step and of the step before it (nan on a
//                         recorded step whose previous step had no before_step())
// Cost, on recorded steps only: a vectorized pass over m and g and two passes over v
// per tensor (a histogram of v for the exact percentiles, internals.hpp). Measured
// on the 784-256-256-10 MLP at batch 64 with Adam, one thread, CPU time (2026-12-01,
// load average ~20 on 2 cores): about 0.7 ms per record against a 1.2 ms step, i.e.
// ~55 % of a step when recording every step and ~6 % with every = 10 (remeasured with
// thread CPU time at load ~11: 73 % and 7.6-8.3 %; the histogram pass over v is the bulk)
// (tests/bench/bench_monitor prints both beside the default monitor's share).
// Internals are for looking, not for every step of a long run: use every = 10 or
// more. Other optimizers get no internals columns.
//
// Cost (tests/bench/bench_monitor, thread CPU time, 784-256-256-10 at batch 64, Adam,
// 2026-12-01, load ~11 on 2 cores): with the hook 8.1-8.7 % of the step recording every
// step and 0.8-1.3 % every 10th; through a snapshot (no hook) 12.6-14.6 % and 1.9-2.1 %.
// The sums cost ~15 vector operations per 8 parameters beside Adam's ~14 cycles: on
// this machine they are not free even inside the loop. `every` = N spreads it.
//
// Checks: the first parameter whose gradient or value holds NaN/inf is named
// with the step (and throws with throw_on_nonfinite); a loss more than spike_z
// standard deviations above the mean of the last spike_window recorded losses is
// flagged (loss_spike, and a line in warnings()).
//
// GRADIENT CLIPPING AND LOSS SPIKES. A loop that clips and may skip a bad step:
//   for (int64_t step = 1; step <= steps; ++step) {
//     opt.zero_grad();
//     Tensor loss = cross_entropy(model.forward(x), y);  // forward
//     loss.backward();                                   // backward
//     monitor.clip_grad_norm(1.0);                       // clip ‖g‖ to 1, noting ‖g‖ before
//     if (!monitor.should_skip(step, loss.item())) {     // the loss z-score; true only with skip_spikes
//       monitor.before_step();
//       opt.step();                                      // update (not on a skipped step)
//     }
//     monitor.record(step, loss.item());                 // the row says whether it was skipped
//   }
// Columns (after nonfinite):
//   grad_norm_before_clip  ‖g‖ over all parameters as backward() left it, before
//                          Monitor::clip_grad_norm scaled it (moments::clip_grad_norm's
//                          return value); nan on a step that did not clip through the
//                          monitor. After clipping is the grad_norm column: the monitor
//                          measures the gradients the optimizer used.
//   loss_z                 the loss's z-score as llm.c computes it (llmc/outlier_detector.h,
//                          update_detector): the loss joins a window of the last
//                          loss_z_window losses of every step (recorded or not), and
//                          z = (loss − mean) / σ over that window, the new loss included,
//                          σ the population standard deviation (0 when σ = 0); nan until
//                          the window is full (the first loss_z_window steps) and for a
//                          non-finite loss, which never joins the window (one inf would
//                          spoil it for loss_z_window steps; llm.c lets it in). We sum
//                          in two passes over the window, llm.c keeps running sums of x
//                          and x² (the same number up to rounding). With the loss in its
//                          own window of N, z <= √(N − 1) (11.3 for 128): a threshold at
//                          or above that could never fire, and the constructor refuses it.
//   loss_z_spike           1 when loss_z > loss_z_threshold or the loss is not finite
//   skipped                1 when should_skip() told the loop not to apply this step
//                          (also a line in warnings()). Only with skip_spikes = true
//                          (default false): then should_skip() is true exactly on a
//                          loss_z_spike. The skipped loss still joins both windows and
//                          the smoothed loss, as in llm.c's train_gpt2.cu (its detector
//                          sees every loss; an unmerged branch there kept skipped ones
//                          out): kept out, a lasting rise of the loss would be skipped
//                          for ever, since a skipped step leaves θ and so the loss where
//                          they are; let in, one spike widens σ for the next
//                          loss_z_window steps (a second spike soon after shows a
//                          smaller z).
// should_skip(step, loss) updates the window once per step; record(step, loss) does it
// itself when the loop did not ask. On a skipped step before_step() is not called, so
// its update statistics are nan. The defaults, a window of 128 and 7 σ, are llm.c's
// (OUTLIER_DETECTOR_WINDOW_SIZE, and -sl 7.0 in scripts/run_gpt3_125M.sh).
//
// THE LOG FILE (csv_path) is opened at the first record, when its columns are
// known. If it exists and is not empty, log_mode says what happens:
//   LogMode::refuse     (default) the constructor throws, naming the file: no log
//                       is lost by running a second time into the same path;
//   LogMode::append     a resumed run continues it (below);
//   LogMode::overwrite  it is replaced.
//
// RESUMING A RUN: open the same csv_path with log_mode = LogMode::append. At the
// first record the monitor reads the log and
//   - checks its header against its own columns: another model, optimizer or set
//     of state buffers is an error naming the file and the columns that differ;
//   - drops a torn last row (no final newline: a run killed while writing it);
//   - drops every row whose step is >= the first step it records (a run resumed
//     from an earlier checkpoint repeats those steps), so the log keeps one row per
//     step in increasing order.
// It reads the whole log before changing anything; what it keeps is always the
// file's beginning, so dropping the rest is one truncation (it needs no free space,
// and a failure anywhere leaves the old log whole).
// The smoothed loss, both spike windows (spike_window's and loss_z's) and the last
// step seen (which tells before_step() whether `every` will record the next one)
// live in the monitor, not in the log: to continue them exactly, save state() with
// the checkpoint (after the step's record) and give it to restore() before the
// first record:
//   save_checkpoint("run.safetensors", model, opt, &sched, {.step = step, .metadata = {{"monitor", monitor.state()}}});
//   ... a new process:
//   CheckpointInfo info = load_checkpoint("run.safetensors", model, opt, &sched);
//   Monitor monitor(opt, model.named_parameters(), {.csv_path = "run.csv", .log_mode = LogMode::append});
//   monitor.restore(info.metadata);  // its "monitor" entry; a clear error when it has none
// A state written before the loss z-score existed ("moments.monitor.v1", no loss_z
// window) still restores: its z-score window starts empty, so loss_z is nan for the
// first loss_z_window steps after the resume (and nothing is skipped then).
// Then, with time_steps = false as well (step_ms is wall time, never the same
// twice), the resumed log equals byte for byte the log of a run that never stopped.
// Without restore() they start afresh: the smoothed loss restarts at the raw loss,
// the first step_ms is nan, loss_z is nan (and nothing is skipped) for loss_z_window
// steps, and with every > 1 the first recorded step may lack its update statistics
// (nan). Tutorial 20 resumes a run with and without restore().
//
// WRITE ERRORS (disk full, an I/O error, the file size limit): each row is
// formatted first and written with one write() call. A failed or short write cuts
// the file back to the end of its last complete row, closes it, and is reported
// once, e.g.
//   Monitor: writing the log 'run.csv' failed at step 120: No space left on device;
//   the file keeps its rows up to step 119
// on_write_error = OnWriteError::throw_error (default): record() throws that as
// moments::Error (the record is in history() all the same);
// OnWriteError::warn_once: it goes to warnings() and stderr, and recording goes on
// in memory (history()) without the file. Errors in opening the log (a missing
// folder, no permission, a log of other columns) always throw, at the first record:
// they are mistakes to fix before training, not accidents during it.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../nn.hpp"
#include "../optim/optimizer.hpp"
#include "internals.hpp"

namespace moments {

// What a monitor does with a csv_path that exists and is not empty (see THE LOG FILE).
enum class LogMode {
  refuse,     // throw at construction, naming the file (the default)
  append,     // continue it: a resumed run (see RESUMING A RUN)
  overwrite,  // replace it
};

// What a monitor does when writing its log fails (see WRITE ERRORS).
enum class OnWriteError {
  throw_error,  // record() throws moments::Error naming the file and the reason (the default)
  warn_once,    // one message in warnings() and on stderr; recording goes on without the file
};

struct MonitorOptions {
  int64_t every = 1;                // record every N-th step (1: every step)
  std::string csv_path{};           // one row per record; "" writes no file
  LogMode log_mode = LogMode::refuse;                     // when csv_path exists and is not empty
  OnWriteError on_write_error = OnWriteError::throw_error;  // when writing csv_path fails
  bool time_steps = true;           // false: step_ms is nan, so identical runs write identical logs
  bool throw_on_nonfinite = false;  // throw moments::Error at the first NaN/inf
  int64_t spike_window = 50;        // recorded losses in the window for the spike z-score
  double spike_z = 4.0;             // flag a loss this many σ above the window's mean
  int64_t loss_z_window = 128;      // losses (of every step) in llm.c's z-score window (loss_z)
  double loss_z_threshold = 7.0;    // loss_z above this is a spike (loss_z_spike)
  bool skip_spikes = false;         // should_skip() is true on a loss_z_spike (see GRADIENT CLIPPING)
  double smoothing = 0.9;           // EMA weight of the smoothed loss (TensorBoard's)
  bool internals = false;           // record the optimizer's internals (see OPTIMIZER INTERNALS)
};

struct ParamRecord {
  std::string name;
  double grad_norm = 0, param_norm = 0, update_norm = 0;
  double update_ratio = 0;  // ‖Δθ‖ / ‖θ‖
  double cosine = 0;        // cos(Δθ, −g)
  std::vector<double> internals;  // with options.internals: in Monitor::internals_names() order
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
  double grad_norm_before_clip = 0;     // nan unless the loop clipped through clip_grad_norm()
  double loss_z = 0;                    // llm.c's z-score of the loss (nan until its window is full)
  bool loss_z_spike = false;            // loss_z > loss_z_threshold, or a non-finite loss
  bool skipped = false;                 // should_skip() told the loop not to apply this step
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

  // Call after backward(), before the update: clips all gradients together to the
  // global norm max_norm, as moments::clip_grad_norm (optim/schedule.hpp) does, and
  // keeps the norm before clipping for this step's record. Returns that norm.
  double clip_grad_norm(double max_norm, bool error_if_nonfinite = false);
  // Call after backward(), before the update, with this step's loss: adds it to the
  // loss z-score window and says whether the loop should leave this step out
  // (only with options.skip_spikes: a loss_z_spike). Asking twice for one step
  // gives the same answer and adds the loss once.
  bool should_skip(int64_t step, double loss);

  const std::vector<Record>& history() const { return history_; }
  const std::vector<std::string>& param_names() const { return names_; }
  // The optimizer internals recorded per parameter ("adam.m_norm", ...; empty unless options.internals).
  const std::vector<std::string>& internals_names() const { return internals_names_; }
  // The CSV header: the columns written for every record, fixed at the first one.
  const std::vector<std::string>& columns() const { return columns_; }
  // Messages for every spike and non-finite value seen so far (and a write error under warn_once).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The monitor's memory of past steps as one line of text: the last step seen,
  // the loss EMA and its weight, and the losses in the spike window and in the
  // loss_z window, as exact decimals ("moments.monitor.v2 last_step=... z_losses=..."). Save it with a checkpoint; restore() it into the resumed run's new
  // monitor before its first record, and the smoothed loss, the spike checks and
  // `every`'s snapshots go on as if the run had never stopped.
  std::string state() const;
  void restore(const std::string& state);
  // The same, from a checkpoint's metadata (CheckpointInfo::metadata): its entry
  // `key`. A checkpoint saved without one is an error that says so.
  void restore(const std::map<std::string, std::string>& metadata, const std::string& key = "monitor");

 private:
  bool will_record(int64_t step) const { return options_.every <= 1 || step % options_.every == 0; }
  std::vector<double> row(const Record& r) const;
  void write_csv(const Record& r);
  void open_log(int64_t first_step);      // create, overwrite or append (after cleaning) csv_path
  void write_log(const std::string& text, int64_t step);  // all of `text` or, on failure, nothing
  void report_write_error(const std::string& message);

  // The log's POSIX descriptor (each row is one write(); errors carry errno), closed with
  // the monitor (a failing close, rare but possible on network filesystems, goes to stderr).
  struct LogFile {
    int fd = -1;
    std::string path;
    LogFile() = default;
    LogFile(LogFile&& other) noexcept : fd(other.fd), path(std::move(other.path)) { other.fd = -1; }
    LogFile& operator=(LogFile&&) = delete;
    ~LogFile();
  };

  Optimizer& optimizer_;
  MonitorOptions options_;
  std::vector<Tensor> params_;
  std::vector<std::string> names_;
  std::vector<Tensor> before_;  // θ before the step (only when a snapshot was taken, of needs_snapshot_ ones)
  std::vector<char> needs_snapshot_;        // per parameter: no hook in its loop (another optimizer, or CUDA)
  std::vector<UpdateSums> update_sums_;     // what the hook summed in the step being recorded
  std::vector<size_t> group_of_;  // the param group of each parameter
  InternalsKind internals_kind_ = InternalsKind::none;
  std::vector<std::string> internals_names_;
  InternalsScratch internals_scratch_;  // reused by every record
  std::vector<std::vector<int8_t>> lion_signs_, lion_previous_signs_;  // per parameter (Lion's sign flips)
  int64_t lion_signs_step_ = -1, lion_previous_signs_step_ = -1;       // the steps they belong to
  bool have_snapshot_ = false;
  double ema_ = 0, ema_weight_ = 0;
  std::deque<double> recent_losses_;
  std::deque<double> z_losses_;      // llm.c's window: the last loss_z_window finite losses
  struct LossCheck {                 // this step's loss z-score, from should_skip() or record()
    int64_t step = -1;
    double z = 0;
    bool spike = false, skip = false;
  } check_;
  void check_loss(int64_t step, double loss);  // fills check_ for `step` (once)
  double grad_norm_before_clip_ = std::numeric_limits<double>::quiet_NaN();  // for the next record
  std::chrono::steady_clock::time_point last_time_;
  int64_t last_step_ = 0;
  bool timing_ = false;
  std::vector<Record> history_;
  std::vector<std::string> columns_;
  std::vector<std::string> buffer_names_;  // fixed at the first record, for the CSV
  std::vector<std::pair<std::string, Device>> memory_keys_;
  LogFile csv_;
  int64_t csv_bytes_ = 0;       // bytes of the log up to the end of its last complete row
  int64_t csv_last_step_ = -1;  // the step of that row (-1: no row yet)
  std::vector<std::string> warnings_;
};

}  // namespace moments
