// monitor/monitor.cpp — the measurements behind Monitor::record.
#include "monitor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>

#include "../optim/schedule.hpp"
#include "autograd.hpp"

namespace moments {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The monitor must cost a few percent of a training step, so each statistic comes from as few fast
// passes over memory as possible: the sums of θ, Δθ and g come from the optimizer's own loop where it
// has the hook (optim/optimizer.hpp, THE MONITOR'S HOOK), else from one vectorized pass over θ, its
// snapshot and g (add_update_sums, optim/update_sums.hpp, the same code the hook runs per block).

// The monitor's passes run on the CPU. A tensor on Device::cuda is copied to the
// host first (one transfer per tensor and recorded step: simple and exact, not
// fast; on a GPU a reduction kernel per statistic would avoid it).
Tensor on_host(const Tensor& t) { return t.device() == Device::cpu ? t : t.to(Device::cpu); }

// "" if all finite, else a description of the first non-finite element.
// `squared` is ‖t‖²: when it is finite every element is, and nothing is scanned.
std::string first_nonfinite(const Tensor& t, double squared) {
  if (std::isfinite(squared)) return "";
  const float* x = t.data();
  const int64_t n = t.numel();
  int64_t count = 0, first = -1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) {
      if (first < 0) first = i;
      ++count;
    }
  if (count == 0) return "";
  std::ostringstream out;
  out << count << " non-finite value" << (count > 1 ? "s" : "") << " (first at element " << first << ": " << x[first]
      << ")";
  return out.str();
}

// ---- The log file ----

// Writes all of `text`, going on after short writes; false (errno set) when a write fails.
bool write_all(int fd, const std::string& text) {
  const char* next = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, next, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;  // no progress and no reason given
      return false;
    }
    next += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

std::vector<std::string> split_columns(const std::string& line) {
  std::vector<std::string> columns;
  std::istringstream in(line);
  for (std::string column; std::getline(in, column, ',');) columns.push_back(column);
  return columns;
}

// "a, b, c" of at most five names, then "and N more".
std::string name_list(const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < names.size() && i < 5; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > 5) text += " and " + std::to_string(names.size() - 5) + " more";
  return text;
}

// How the log's header differs from the monitor's columns, in words.
std::string column_difference(const std::vector<std::string>& in_log, const std::vector<std::string>& ours) {
  auto missing_from = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<std::string> only_a;
    for (const std::string& c : a)
      if (std::find(b.begin(), b.end(), c) == b.end()) only_a.push_back(c);
    return only_a;
  };
  std::vector<std::string> only_log = missing_from(in_log, ours), only_ours = missing_from(ours, in_log);
  std::string text;
  if (!only_log.empty()) text = "only in the log: " + name_list(only_log);
  if (!only_ours.empty()) text += (text.empty() ? "" : "; ") + std::string("only in this monitor: ") + name_list(only_ours);
  if (!text.empty()) return text;
  size_t i = 0;
  while (i < in_log.size() && i < ours.size() && in_log[i] == ours[i]) ++i;
  if (i < in_log.size() && i < ours.size())
    return "the same columns in another order: column " + std::to_string(i + 1) + " is '" + in_log[i] + "' in the log, '" +
           ours[i] + "' here";
  return "a column appears twice";  // same names, same order, different counts
}

// What a resumed run keeps of an existing log: the header (checked against the
// monitor's), then its complete rows up to the first whose step is >= first_step.
// That is always the file's first `bytes` bytes, so keeping it is a truncation: it
// needs no free space and cannot lose what it keeps.
struct KeptLog {
  size_t bytes = 0;           // how much of the file stays
  bool changed = false;       // whether that is less than all of it (rows or a torn row dropped)
  bool torn_header = false;   // the file is a part of the header only (then bytes = 0)
  int64_t last_step = -1;     // the step of the last kept row (-1: none)
};
KeptLog keep_for_resume(const std::string& path, const std::vector<std::string>& columns, const std::string& header,
                        int64_t first_step) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  if (in) bytes << in.rdbuf();
  if (!in || in.bad()) fail("Monitor: cannot read the log '", path, "' to append to it: ", std::strerror(errno));
  const std::string text = bytes.str();
  size_t end = text.find('\n');
  // A first line without its newline is a header torn while being written: the log holds no row yet.
  std::string first_line = text.substr(0, end);
  KeptLog kept;
  kept.torn_header = end == std::string::npos && header.compare(0, text.size(), text) == 0;
  if (!kept.torn_header && first_line + '\n' != header)
    fail("Monitor: cannot append to the log '", path, "': its columns are not this monitor's (",
         column_difference(split_columns(first_line), columns), "); write to another csv_path, or set log_mode = ",
         "LogMode::overwrite to replace it");
  if (kept.torn_header) {
    kept.changed = true;
    return kept;
  }
  kept.bytes = end + 1;  // whole lines only
  for (int64_t line = 2;; ++line) {
    end = text.find('\n', kept.bytes);
    if (end == std::string::npos) break;  // what is left, if anything, is a torn row
    int64_t step = 0;
    auto [stop, error] = std::from_chars(text.data() + kept.bytes, text.data() + end, step);
    if (error != std::errc() || (stop != text.data() + end && *stop != ','))
      fail("Monitor: cannot append to the log '", path, "': line ", line, " does not start with a step number: '",
           text.substr(kept.bytes, std::min<size_t>(end - kept.bytes, 40)), "'");
    if (step >= first_step) break;  // this step and all later ones are recorded again
    kept.last_step = step;
    kept.bytes = end + 1;
  }
  kept.changed = kept.bytes != text.size();
  return kept;
}

// The size of the regular file at `path`; 0 when there is none (or it is a device such as /dev/null).
int64_t existing_log_bytes(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) ? static_cast<int64_t>(info.st_size) : 0;
}

// LogMode::refuse: a log that holds anything is never overwritten by accident.
void refuse_existing_log(const std::string& path) {
  if (int64_t bytes = existing_log_bytes(path); bytes > 0)
    fail("Monitor: the log '", path, "' already exists (", bytes, " bytes); set MonitorOptions::log_mode = ",
         "LogMode::append to continue it (a resumed run) or LogMode::overwrite to replace it");
}

// llm.c's loss z-score (llmc/outlier_detector.h, update_detector): `loss` joins the
// window of the last `size` losses, then z = (loss − mean) / σ over the window with
// the new loss in it, σ its population standard deviation, 0 when σ = 0. nan while
// the window fills (its first `size` losses) and for a non-finite loss, which stays
// out of the window. Two passes over the window (llm.c: running Σx and Σx²).
double push_loss_z(std::deque<double>& window, int64_t size, double loss) {
  if (!std::isfinite(loss)) return kNaN;
  const bool full = static_cast<int64_t>(window.size()) >= size;
  if (full) window.pop_front();  // the oldest loss leaves
  window.push_back(loss);
  if (!full) return kNaN;  // not enough data yet
  double mean = 0, var = 0;
  for (double l : window) mean += l;
  mean /= static_cast<double>(window.size());
  for (double l : window) var += (l - mean) * (l - mean);
  const double sd = std::sqrt(var / static_cast<double>(window.size()));
  return sd == 0 ? 0.0 : (loss - mean) / sd;
}

// A double as the shortest decimal that reads back to the same bits ("0.1", "nan").
std::string exact_decimal(double x) {
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, x).ptr);
}

}  // namespace

Monitor::LogFile::~LogFile() {
  if (fd >= 0 && ::close(fd) != 0)  // a destructor cannot throw: say it where the user will see it
    std::fprintf(stderr, "Monitor: closing the log '%s' failed: %s\n", path.c_str(), std::strerror(errno));
}

Monitor::Monitor(Optimizer& optimizer, const NamedTensors& named, MonitorOptions options)
    : optimizer_(optimizer), options_(std::move(options)), params_(optimizer.all_params()) {
  if (options_.every < 1) fail("Monitor: invalid every ", options_.every, " (must be >= 1)");
  if (options_.spike_window < 2) fail("Monitor: invalid spike_window ", options_.spike_window, " (must be >= 2)");
  if (!(options_.spike_z > 0)) fail("Monitor: invalid spike_z ", options_.spike_z, " (must be a number > 0)");
  if (options_.loss_z_window < 2) fail("Monitor: invalid loss_z_window ", options_.loss_z_window, " (must be >= 2)");
  if (!(options_.loss_z_threshold > 0))
    fail("Monitor: invalid loss_z_threshold ", options_.loss_z_threshold, " (must be a number > 0)");
  // With the new loss in its own window of N, z <= √(N − 1) (one outlier among N − 1 equal losses).
  if (double reach = std::sqrt(static_cast<double>(options_.loss_z_window - 1)); options_.loss_z_threshold >= reach) {
    std::ostringstream out;
    out << std::setprecision(3) << reach;
    fail("Monitor: loss_z_threshold ", options_.loss_z_threshold, " can never be reached with loss_z_window ",
         options_.loss_z_window, ": the z-score of a loss in its own window is at most √(N − 1) = ", out.str(),
         "; lower the threshold or widen the window");
  }
  if (!(options_.smoothing >= 0.0 && options_.smoothing < 1.0))
    fail("Monitor: invalid smoothing ", options_.smoothing, " (must be in [0, 1))");
  if (options_.log_mode == LogMode::refuse && !options_.csv_path.empty()) refuse_existing_log(options_.csv_path);
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string name = "param" + std::to_string(i);
    for (const auto& [n, t] : named)
      if (t.impl() == params_[i].impl()) name = n;
    names_.push_back(name);
  }
  for (size_t g = 0; g < optimizer_.group_count(); ++g)
    for (size_t k = 0; k < optimizer_.params(g).size(); ++k) group_of_.push_back(g);
  for (const Tensor& p : params_) needs_snapshot_.push_back(!optimizer_.sums_updates() || p.device() != Device::cpu);
  if (options_.internals) {
    internals_kind_ = internals_kind(optimizer_);
    internals_names_ = moments::internals_names(internals_kind_);
  }
}

void Monitor::before_step() {
  const int64_t next = last_step_ + 1;
  // Lion's update signs, on a recorded step and on the step before it (for the flips between them).
  if (internals_kind_ == InternalsKind::lion && (will_record(next) || will_record(next + 1))) {
    std::swap(lion_previous_signs_, lion_signs_);
    lion_previous_signs_step_ = lion_signs_step_;
    lion_signs_.resize(params_.size());
    for (size_t i = 0; i < params_.size(); ++i) lion_signs_[i] = lion_update_signs(optimizer_, group_of_[i], params_[i]);
    lion_signs_step_ = next;
  }
  have_snapshot_ = will_record(next);
  if (!have_snapshot_) return;
  // The optimizer's loops sum Δθ where they can (THE MONITOR'S HOOK); θ is copied for the other parameters.
  for (UpdateSums& sums : update_sums_) sums.filled = false;  // nothing from an earlier step counts
  if (optimizer_.sums_updates()) optimizer_.watch_next_step(&update_sums_);
  before_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {  // copy into buffers kept across steps: no allocation after the first
    if (!needs_snapshot_[i]) continue;
    if (params_[i].device() != Device::cpu) before_[i] = on_host(params_[i]);  // θ before, on the host
    else if (!before_[i].defined() || before_[i].shape() != params_[i].shape()) before_[i] = params_[i].clone();
    else std::memcpy(before_[i].data(), params_[i].data(), sizeof(float) * static_cast<size_t>(params_[i].numel()));
  }
}

double Monitor::clip_grad_norm(double max_norm, bool error_if_nonfinite) {
  grad_norm_before_clip_ = moments::clip_grad_norm(params_, max_norm, error_if_nonfinite);
  return grad_norm_before_clip_;
}

void Monitor::check_loss(int64_t step, double loss) {
  if (check_.step == step) return;  // once per step: should_skip() may have asked already
  check_.step = step;
  check_.z = push_loss_z(z_losses_, options_.loss_z_window, loss);
  check_.spike = !std::isfinite(loss) || check_.z > options_.loss_z_threshold;
  check_.skip = options_.skip_spikes && check_.spike;
  if (!check_.spike) return;
  std::ostringstream out;
  out << "step " << step << ": loss " << loss;
  if (std::isfinite(loss))
    out << " has z-score " << std::setprecision(3) << check_.z << " over the last " << z_losses_.size()
        << " steps (loss_z_threshold " << options_.loss_z_threshold << ")";
  else
    out << " is not finite";
  out << (check_.skip ? "; should_skip(): the step is not applied" : "");
  warnings_.push_back(out.str());
}

bool Monitor::should_skip(int64_t step, double loss) {
  check_loss(step, loss);
  return check_.skip;
}

const Record* Monitor::record(int64_t step, double loss) {
  auto now = std::chrono::steady_clock::now();
  bool snapshot = have_snapshot_;
  have_snapshot_ = false;
  optimizer_.watch_next_step(nullptr);  // a watch that no step() took (a skipped step) ends here
  check_loss(step, loss);  // llm.c's z-score sees every step, recorded or not
  const double grad_norm_before_clip = grad_norm_before_clip_;
  grad_norm_before_clip_ = kNaN;  // it belongs to this step only
  // The smoothed loss sees every step, recorded or not (smoothing before any downsampling).
  ema_ = options_.smoothing * ema_ + (1.0 - options_.smoothing) * loss;
  ema_weight_ = options_.smoothing * ema_weight_ + (1.0 - options_.smoothing);
  if (!will_record(step)) {
    last_step_ = step;
    return nullptr;
  }

  Record r;
  r.step = step;
  r.loss = loss;
  r.grad_norm_before_clip = grad_norm_before_clip;
  r.loss_z = check_.z, r.loss_z_spike = check_.spike, r.skipped = check_.skip;
  r.smoothed_loss = ema_weight_ > 0 ? ema_ / ema_weight_ : loss;  // debiased, as TensorBoard
  r.step_ms = options_.time_steps && timing_ && step > last_step_ ? std::chrono::duration<double, std::milli>(now - last_time_).count() /
                                                 static_cast<double>(step - last_step_)
                                           : kNaN;
  for (size_t g = 0; g < optimizer_.group_count(); ++g) r.learning_rates.push_back(optimizer_.effective_learning_rate(g));

  // Norms, update ratios and cosines, per parameter and overall.
  double total_grad = 0, total_param = 0, total_update = 0, total_update_dot_neg_grad = 0;
  bool any_update = snapshot;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor p = on_host(params_[i]);
    Tensor g = params_[i].grad();
    if (g.defined()) g = on_host(g);
    ParamRecord pr;
    pr.name = names_[i];
    // From the optimizer's loop when it filled them; else one pass over θ and its snapshot (θ itself for a
    // parameter the hook watched that was not stepped: Δθ = 0).
    const bool from_loop = snapshot && i < update_sums_.size() && update_sums_[i].filled;
    UpdateSums sums = from_loop ? update_sums_[i] : UpdateSums{};
    if (!from_loop)
      add_update_sums(p.data(), !snapshot ? nullptr : needs_snapshot_[i] ? before_[i].data() : p.data(),
                      g.defined() ? g.data() : nullptr, p.numel(), sums);
    double theta_squared = sums.theta2, grad_squared = sums.grad2;
    pr.param_norm = std::sqrt(theta_squared);
    pr.grad_norm = std::sqrt(grad_squared);
    total_param += theta_squared;
    total_grad += grad_squared;
    if (snapshot) {
      double update_squared = sums.delta2, update_dot_grad = sums.delta_grad;  // Δθ = θ after − θ before
      pr.update_norm = std::sqrt(update_squared);
      pr.update_ratio = pr.param_norm > 0 ? pr.update_norm / pr.param_norm : kNaN;
      pr.cosine = (pr.update_norm > 0 && pr.grad_norm > 0) ? -update_dot_grad / (pr.update_norm * pr.grad_norm) : kNaN;
      total_update += update_squared;
      total_update_dot_neg_grad -= update_dot_grad;
    } else {
      pr.update_norm = pr.update_ratio = pr.cosine = kNaN;
    }
    if (!internals_names_.empty()) {
      bool flips_known = lion_signs_step_ == step && lion_previous_signs_step_ == step - 1;
      double flips = flips_known ? sign_flip_fraction(lion_previous_signs_[i], lion_signs_[i]) : kNaN;
      pr.internals = compute_internals(optimizer_, internals_kind_, group_of_[i],
                                       params_[i], params_[i].grad(), flips, internals_scratch_);
    }
    r.params.push_back(pr);

    // Non-finite values: name the first parameter, gradient before value.
    if (r.nonfinite.empty()) {
      std::string bad = g.defined() ? first_nonfinite(g, grad_squared) : "";
      std::string what = "gradient";
      if (bad.empty()) {
        bad = first_nonfinite(p, theta_squared);
        what = "value";
      }
      if (!bad.empty()) r.nonfinite = "step " + std::to_string(step) + ": " + what + " of '" + names_[i] + "' has " + bad;
    }
  }
  r.grad_norm = std::sqrt(total_grad);
  r.param_norm = std::sqrt(total_param);
  r.update_norm = any_update ? std::sqrt(total_update) : kNaN;
  r.update_ratio = any_update && r.param_norm > 0 ? r.update_norm / r.param_norm : kNaN;
  r.cosine = any_update && r.update_norm > 0 && r.grad_norm > 0 ? total_update_dot_neg_grad / (r.update_norm * r.grad_norm) : kNaN;

  // Optimizer state: statistics of every named buffer, over all parameters.
  std::map<std::string, std::pair<double, int64_t>> abs_sum;  // Σ|x|, count
  std::map<std::string, double> abs_max;
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamState* state = optimizer_.state(params_[i]);
    if (!state) continue;
    const UpdateSums* from_loop = snapshot && i < update_sums_.size() && update_sums_[i].filled ? &update_sums_[i] : nullptr;
    for (const auto& [buffer, t] : state->buffers) {
      auto& [sum, count] = abs_sum[buffer];
      double& peak = abs_max[buffer];
      int k = 0;  // the buffer's place among those the loop summed, if it did
      while (from_loop && k < from_loop->buffers && from_loop->buffer_data[k] != t.data()) ++k;
      auto [buffer_sum, buffer_peak] = from_loop && k < from_loop->buffers
                                           ? std::pair(from_loop->abs_sum[k], from_loop->abs_max[k])
                                           : abs_sum_and_max(on_host(t).data(), t.numel());
      sum += buffer_sum;
      peak = std::max(peak, buffer_peak);
      count += t.numel();
    }
  }
  for (const auto& [buffer, sc] : abs_sum)
    r.buffers.push_back({buffer, sc.second ? sc.first / static_cast<double>(sc.second) : 0.0, abs_max[buffer]});
  r.memory = optimizer_.state_bytes();

  // Loss spikes: a z-score against the recent window.
  if (static_cast<int64_t>(recent_losses_.size()) >= std::min<int64_t>(options_.spike_window, 10)) {
    double mean = 0, var = 0;
    for (double l : recent_losses_) mean += l;
    mean /= static_cast<double>(recent_losses_.size());
    for (double l : recent_losses_) var += (l - mean) * (l - mean);
    double sd = std::sqrt(var / static_cast<double>(recent_losses_.size()));
    if (sd > 0 && std::isfinite(loss) && (loss - mean) / sd > options_.spike_z) {
      r.loss_spike = true;
      std::ostringstream out;
      out << "step " << step << ": loss spike, " << loss << " is " << std::setprecision(3) << (loss - mean) / sd
          << " standard deviations above the mean " << mean << " of the last " << recent_losses_.size() << " records";
      warnings_.push_back(out.str());
    }
  }
  if (std::isfinite(loss)) {
    recent_losses_.push_back(loss);
    if (static_cast<int64_t>(recent_losses_.size()) > options_.spike_window) recent_losses_.pop_front();
  }
  if (!r.nonfinite.empty()) warnings_.push_back(r.nonfinite);

  history_.push_back(r);
  last_step_ = step;
  timing_ = true;
  write_csv(history_.back());  // may throw (a write error): the record is kept all the same
  last_time_ = std::chrono::steady_clock::now();
  if (!r.nonfinite.empty() && options_.throw_on_nonfinite) fail("Monitor: ", r.nonfinite);
  return &history_.back();
}

std::string Monitor::state() const {
  auto list = [](const std::deque<double>& losses) {
    std::string text;
    for (size_t i = 0; i < losses.size(); ++i) {
      if (i) text += ',';
      text += exact_decimal(losses[i]);
    }
    return text;
  };
  return "moments.monitor.v2 last_step=" + std::to_string(last_step_) + " ema=" + exact_decimal(ema_) +
         " ema_weight=" + exact_decimal(ema_weight_) + " losses=" + list(recent_losses_) + " z_losses=" + list(z_losses_);
}

void Monitor::restore(const std::string& state) {
  if (!history_.empty())
    fail("Monitor::restore: call it before the first record (this monitor already holds ", history_.size(), ")");
  if (check_.step >= 0)
    fail("Monitor::restore: call it before the first should_skip() or record() (this monitor has seen step ", check_.step, ")");
  auto invalid = [&](const std::string& why) {
    fail("Monitor::restore: invalid state '", state.substr(0, 80), "': ", why,
         " (expected what Monitor::state() returns: 'moments.monitor.v2 last_step=N ema=X ema_weight=X losses=X,X,... ",
         "z_losses=X,X,...', or the 'moments.monitor.v1' of earlier checkpoints, without z_losses)");
  };
  std::istringstream in(state);
  std::string word;
  if (!(in >> word) || (word != "moments.monitor.v1" && word != "moments.monitor.v2"))
    invalid("no 'moments.monitor.v2' (or v1) at the start");
  const bool v1 = word == "moments.monitor.v1";  // before the loss z-score: its window starts empty
  int64_t last_step = 0;
  double ema = 0, ema_weight = 0;
  std::deque<double> losses, z_losses;
  auto number = [&](const std::string& text, auto& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) invalid("'" + text + "' is not a number");
  };
  for (const char* key : {"last_step=", "ema=", "ema_weight=", "losses=", "z_losses="}) {
    if (v1 && std::strcmp(key, "z_losses=") == 0) break;
    if (!(in >> word) && std::strcmp(key, "losses=") == 0) word = key;  // no losses: an empty window
    if (word.rfind(key, 0) != 0) invalid(std::string("no field ") + key);
    std::string value = word.substr(std::strlen(key));
    if (std::strcmp(key, "last_step=") == 0) number(value, last_step);
    if (std::strcmp(key, "ema=") == 0) number(value, ema);
    if (std::strcmp(key, "ema_weight=") == 0) number(value, ema_weight);
    std::deque<double>* window = std::strcmp(key, "losses=") == 0 ? &losses : std::strcmp(key, "z_losses=") == 0 ? &z_losses : nullptr;
    if (window)
      for (const std::string& loss : split_columns(value)) number(loss, window->emplace_back());
  }
  if (in >> word) invalid("'" + word + "' after the last field");
  while (static_cast<int64_t>(losses.size()) > options_.spike_window) losses.pop_front();  // a smaller window now
  while (static_cast<int64_t>(z_losses.size()) > options_.loss_z_window) z_losses.pop_front();
  last_step_ = last_step, ema_ = ema, ema_weight_ = ema_weight;
  recent_losses_ = std::move(losses), z_losses_ = std::move(z_losses);
}

void Monitor::restore(const std::map<std::string, std::string>& metadata, const std::string& key) {
  auto found = metadata.find(key);
  if (found == metadata.end()) {
    std::vector<std::string> keys;
    for (const auto& [k, value] : metadata) keys.push_back(k);
    fail("Monitor::restore: the checkpoint's metadata has no entry '", key, "' (it holds ",
         keys.empty() ? std::string("none") : name_list(keys), "): it was saved without the monitor's state() ",
         "(save_checkpoint(..., {.metadata = {{\"", key, "\", monitor.state()}}})); to start this monitor afresh, do not restore it");
  }
  restore(found->second);
}

std::vector<double> Monitor::row(const Record& r) const {
  std::vector<double> v{static_cast<double>(r.step), r.loss, r.smoothed_loss, r.step_ms};
  v.insert(v.end(), r.learning_rates.begin(), r.learning_rates.end());
  v.insert(v.end(), {r.grad_norm, r.param_norm, r.update_norm, r.update_ratio, r.cosine,
                     r.loss_spike ? 1.0 : 0.0, r.nonfinite.empty() ? 0.0 : 1.0});
  v.insert(v.end(), {r.grad_norm_before_clip, r.loss_z, r.loss_z_spike ? 1.0 : 0.0, r.skipped ? 1.0 : 0.0});
  for (const ParamRecord& p : r.params) v.insert(v.end(), {p.grad_norm, p.param_norm, p.update_norm, p.update_ratio});
  for (size_t k = 0; k < internals_names_.size(); ++k)
    for (const ParamRecord& p : r.params) v.push_back(k < p.internals.size() ? p.internals[k] : kNaN);
  for (const std::string& name : buffer_names_) {
    double mean_abs = kNaN, max_abs = kNaN;  // a buffer that did not exist yet
    for (const BufferRecord& b : r.buffers)
      if (b.buffer == name) mean_abs = b.mean_abs, max_abs = b.max_abs;
    v.insert(v.end(), {mean_abs, max_abs});
  }
  for (const auto& [buffer, device] : memory_keys_) {
    double bytes = 0;
    for (const StateMemory& m : r.memory)
      if (m.buffer == buffer && m.device == device) bytes = static_cast<double>(m.bytes);
    v.push_back(bytes);
  }
  return v;
}

void Monitor::write_csv(const Record& r) {
  if (columns_.empty()) {  // the header is fixed by the first record
    for (const BufferRecord& b : r.buffers) buffer_names_.push_back(b.buffer);
    for (const StateMemory& m : r.memory) memory_keys_.push_back({m.buffer, m.device});
    columns_ = {"step", "loss", "smoothed_loss", "step_ms"};
    for (size_t g = 0; g < r.learning_rates.size(); ++g) columns_.push_back("lr." + std::to_string(g));
    for (const char* c : {"grad_norm", "param_norm", "update_norm", "update_ratio", "cosine", "loss_spike", "nonfinite",
                          "grad_norm_before_clip", "loss_z", "loss_z_spike", "skipped"})
      columns_.push_back(c);
    for (const std::string& name : names_)
      for (const char* c : {"grad_norm.", "param_norm.", "update_norm.", "update_ratio."}) columns_.push_back(c + name);
    for (const std::string& internal : internals_names_)
      for (const std::string& name : names_) columns_.push_back(internal + "." + name);
    for (const std::string& b : buffer_names_) {
      columns_.push_back("state." + b + ".mean_abs");
      columns_.push_back("state." + b + ".max_abs");
    }
    for (const auto& [buffer, device] : memory_keys_)
      columns_.push_back("bytes." + buffer + "." + device_name(device));
    if (!options_.csv_path.empty()) {
      try {
        open_log(r.step);
      } catch (...) {  // nothing was opened: the next record tries again
        columns_.clear(), buffer_names_.clear(), memory_keys_.clear();
        throw;
      }
    }
  }
  if (csv_.fd < 0) return;
  std::vector<double> values = row(r);
  std::ostringstream line;  // the whole row, written with one call
  line.imbue(std::locale::classic());
  line << std::setprecision(9) << r.step;  // the step as an integer, however large
  for (size_t i = 1; i < values.size(); ++i) {
    line << ',';
    if (std::isnan(values[i])) line << "nan";
    else if (std::isinf(values[i])) line << (values[i] > 0 ? "inf" : "-inf");
    else line << values[i];
  }
  line << '\n';
  write_log(line.str(), r.step);  // unbuffered: a crash later keeps every row written so far
}

void Monitor::open_log(int64_t first_step) {
  const std::string& path = options_.csv_path;
  std::string header;
  for (size_t i = 0; i < columns_.size(); ++i) header += (i ? "," : "") + columns_[i];
  header += '\n';
  if (options_.log_mode == LogMode::refuse) refuse_existing_log(path);  // it may have appeared since the constructor
  csv_.path = path;
  if (existing_log_bytes(path) > 0 && options_.log_mode == LogMode::append) {
    KeptLog kept = keep_for_resume(path, columns_, header, first_step);  // reads it all before any change
    csv_.fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (csv_.fd < 0) fail("Monitor: cannot write the CSV file '", path, "': ", std::strerror(errno));
    if (kept.changed && ::ftruncate(csv_.fd, static_cast<off_t>(kept.bytes)) != 0) {
      int error = errno;
      ::close(csv_.fd);
      csv_.fd = -1;
      fail("Monitor: cannot resume the log '", path, "' (the file is unchanged): cutting it to ", kept.bytes,
           " bytes failed: ", std::strerror(error));
    }
    csv_bytes_ = static_cast<int64_t>(kept.bytes);
    csv_last_step_ = kept.last_step;
    if (kept.torn_header) write_log(header, -1);
    return;
  }
  csv_.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (csv_.fd < 0) fail("Monitor: cannot write the CSV file '", path, "': ", std::strerror(errno));
  csv_bytes_ = 0;
  csv_last_step_ = -1;
  write_log(header, -1);
}

void Monitor::write_log(const std::string& text, int64_t step) {
  if (write_all(csv_.fd, text)) {
    csv_bytes_ += static_cast<int64_t>(text.size());
    if (step >= 0) csv_last_step_ = step;
    return;
  }
  int error = errno;
  std::string message = "Monitor: writing the log '" + csv_.path + "' failed at " +
                        (step >= 0 ? "step " + std::to_string(step) : std::string("its header")) + ": " +
                        std::strerror(error);
  struct stat info {};
  if (::fstat(csv_.fd, &info) == 0 && S_ISREG(info.st_mode)) {  // (a device such as /dev/full has no length)
    // Cut a partly written row off, so the file ends with its last complete row.
    if (::ftruncate(csv_.fd, static_cast<off_t>(csv_bytes_)) != 0)
      message += std::string("; it may end in a partial row (cutting it back failed: ") + std::strerror(errno) + ")";
    else if (csv_last_step_ >= 0) message += "; the file keeps its rows up to step " + std::to_string(csv_last_step_);
    else message += csv_bytes_ > 0 ? "; the file keeps its header only" : "; the file is empty";
  }
  ::close(csv_.fd);  // the write error is the news; the file is given up either way
  csv_.fd = -1;
  report_write_error(message);
}

void Monitor::report_write_error(const std::string& message) {
  if (options_.on_write_error == OnWriteError::throw_error) fail(message);
  warnings_.push_back(message + "; recording goes on in memory, without the file");
  std::fprintf(stderr, "%s\n", warnings_.back().c_str());
}

}  // namespace moments
