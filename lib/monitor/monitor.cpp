// monitor/monitor.cpp — the measurements behind Monitor::record.
#include "monitor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>

#include "autograd.hpp"
#include "host_device.hpp"

namespace moments {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The monitor must cost a few percent of a training step, so each statistic
// comes from as few fast passes over memory as possible, and those passes use
// the vector unit. `Lanes` is eight floats handled as one value (GCC's vector
// extension): `a += b * c` on Lanes is eight independent float operations, one
// AVX2 instruction in the AVX2 clone, two SSE ones otherwise. Each quantity is
// summed in eight float partial sums (lane k gets elements k, k+8, k+16, ...),
// combined in double at the end: the order is fixed by the code, never by the
// processor, and float partial sums are precise enough for monitoring (relative
// error ~1e-6 per thousand elements per lane). Plain loops over float sums do not
// vectorize without -ffast-math, which we do not use; these run ~7x faster.
typedef float Lanes __attribute__((vector_size(8 * sizeof(float))));
constexpr int64_t kLanes = 8;

// One parameter's sums in a single pass over θ, θ before the step and g:
// Σθ², Σg², Σ(Δθ)², Σ Δθ·g. A missing `before` or `grad` counts as zeros.
struct ParamSums {
  double theta2 = 0, grad2 = 0, delta2 = 0, delta_grad = 0;
};
MOMENTS_CPU_CLONES ParamSums param_sums(const float* theta, const float* before, const float* grad, int64_t n) {
  Lanes t2 = {}, g2 = {}, d2 = {}, dg = {};
  const Lanes zero = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Lanes t, b = zero, g = zero;
    std::memcpy(&t, theta + i, sizeof t);  // an unaligned load of 8 floats
    if (before) std::memcpy(&b, before + i, sizeof b);
    if (grad) std::memcpy(&g, grad + i, sizeof g);
    Lanes d = before ? t - b : zero;  // Δθ
    t2 += t * t;
    g2 += g * g;
    d2 += d * d;
    dg += d * g;
  }
  for (; i < n; ++i) {  // the last n mod 8 elements go to lane 0
    float t = theta[i], g = grad ? grad[i] : 0.0f, d = before ? t - before[i] : 0.0f;
    t2[0] += t * t;
    g2[0] += g * g;
    d2[0] += d * d;
    dg[0] += d * g;
  }
  ParamSums s;
  for (int lane = 0; lane < kLanes; ++lane) {
    s.theta2 += t2[lane], s.grad2 += g2[lane], s.delta2 += d2[lane], s.delta_grad += dg[lane];
  }
  return s;
}

// Σ|x| and max |x| of a state buffer, in one pass. Four Lanes per quantity
// (32 partial sums) so consecutive additions do not wait for each other: this
// pass is then limited by the cache, not by the adder's latency (1.6x faster).
MOMENTS_CPU_CLONES std::pair<double, double> abs_sum_and_max(const float* x, int64_t n) {
  constexpr int kUnroll = 4;
  Lanes sum[kUnroll] = {}, peak[kUnroll] = {};
  int64_t i = 0;
  for (; i + kUnroll * kLanes <= n; i += kUnroll * kLanes)
    for (int u = 0; u < kUnroll; ++u) {
      Lanes a;
      std::memcpy(&a, x + i + u * kLanes, sizeof a);
      a = a < 0 ? -a : a;  // |x|
      sum[u] += a;
      peak[u] = peak[u] > a ? peak[u] : a;
    }
  double total = 0, largest = 0;
  for (int u = 0; u < kUnroll; ++u)
    for (int lane = 0; lane < kLanes; ++lane) total += sum[u][lane], largest = std::max<double>(largest, peak[u][lane]);
  for (; i < n; ++i) total += std::fabs(x[i]), largest = std::max<double>(largest, std::fabs(x[i]));
  return {total, largest};
}

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

}  // namespace

Monitor::Monitor(Optimizer& optimizer, const NamedTensors& named, MonitorOptions options)
    : optimizer_(optimizer), options_(std::move(options)), params_(optimizer.all_params()) {
  if (options_.every < 1) fail("Monitor: invalid every ", options_.every, " (must be >= 1)");
  if (options_.spike_window < 2) fail("Monitor: invalid spike_window ", options_.spike_window, " (must be >= 2)");
  if (!(options_.smoothing >= 0.0 && options_.smoothing < 1.0))
    fail("Monitor: invalid smoothing ", options_.smoothing, " (must be in [0, 1))");
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string name = "param" + std::to_string(i);
    for (const auto& [n, t] : named)
      if (t.impl() == params_[i].impl()) name = n;
    names_.push_back(name);
  }
}

void Monitor::before_step() {
  have_snapshot_ = will_record(last_step_ + 1);
  if (!have_snapshot_) return;
  before_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {  // copy into buffers kept across steps: no allocation after the first
    if (params_[i].device() != Device::cpu) before_[i] = on_host(params_[i]);  // θ before, on the host
    else if (!before_[i].defined() || before_[i].shape() != params_[i].shape()) before_[i] = params_[i].clone();
    else std::memcpy(before_[i].data(), params_[i].data(), sizeof(float) * static_cast<size_t>(params_[i].numel()));
  }
}

const Record* Monitor::record(int64_t step, double loss) {
  auto now = std::chrono::steady_clock::now();
  bool snapshot = have_snapshot_;
  have_snapshot_ = false;
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
  r.smoothed_loss = ema_weight_ > 0 ? ema_ / ema_weight_ : loss;  // debiased, as TensorBoard
  r.step_ms = timing_ && step > last_step_ ? std::chrono::duration<double, std::milli>(now - last_time_).count() /
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
    ParamSums sums = param_sums(p.data(), snapshot ? before_[i].data() : nullptr, g.defined() ? g.data() : nullptr,
                                p.numel());
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
  for (const Tensor& p : params_) {
    const ParamState* state = optimizer_.state(p);
    if (!state) continue;
    for (const auto& [buffer, t] : state->buffers) {
      auto& [sum, count] = abs_sum[buffer];
      double& peak = abs_max[buffer];
      Tensor host = on_host(t);
      auto [buffer_sum, buffer_peak] = abs_sum_and_max(host.data(), host.numel());
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
  write_csv(history_.back());
  last_time_ = std::chrono::steady_clock::now();
  last_step_ = step;
  timing_ = true;
  if (!r.nonfinite.empty() && options_.throw_on_nonfinite) fail("Monitor: ", r.nonfinite);
  return &history_.back();
}

std::vector<double> Monitor::row(const Record& r) const {
  std::vector<double> v{static_cast<double>(r.step), r.loss, r.smoothed_loss, r.step_ms};
  v.insert(v.end(), r.learning_rates.begin(), r.learning_rates.end());
  v.insert(v.end(), {r.grad_norm, r.param_norm, r.update_norm, r.update_ratio, r.cosine,
                     r.loss_spike ? 1.0 : 0.0, r.nonfinite.empty() ? 0.0 : 1.0});
  for (const ParamRecord& p : r.params) v.insert(v.end(), {p.grad_norm, p.param_norm, p.update_norm, p.update_ratio});
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
    for (const char* c : {"grad_norm", "param_norm", "update_norm", "update_ratio", "cosine", "loss_spike", "nonfinite"})
      columns_.push_back(c);
    for (const std::string& name : names_)
      for (const char* c : {"grad_norm.", "param_norm.", "update_norm.", "update_ratio."}) columns_.push_back(c + name);
    for (const std::string& b : buffer_names_) {
      columns_.push_back("state." + b + ".mean_abs");
      columns_.push_back("state." + b + ".max_abs");
    }
    for (const auto& [buffer, device] : memory_keys_)
      columns_.push_back("bytes." + buffer + "." + device_name(device));
    if (!options_.csv_path.empty()) {
      csv_.open(options_.csv_path);
      if (!csv_) fail("Monitor: cannot write the CSV file '", options_.csv_path, "'");
      for (size_t i = 0; i < columns_.size(); ++i) csv_ << (i ? "," : "") << columns_[i];
      csv_ << "\n";
    }
  }
  if (!csv_.is_open()) return;
  std::vector<double> values = row(r);
  std::ostringstream line;
  line.imbue(std::locale::classic());
  line << std::setprecision(9);
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) line << ',';
    if (std::isnan(values[i])) line << "nan";
    else if (std::isinf(values[i])) line << (values[i] > 0 ? "inf" : "-inf");
    else line << values[i];
  }
  csv_ << line.str() << '\n';
  csv_.flush();  // a crash later keeps every row written so far
}

}  // namespace moments
