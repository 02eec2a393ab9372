// optim/schedule.cpp — schedules, the scheduler, and gradient clipping.
#include "schedule.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "backend.hpp"  // cuda gradients: the kernels of cuda/clip.cu
#include "grad_norm_math.hpp"
#include "ops.hpp"

namespace moments {

namespace {
void check_steps(const char* who, const char* name, int64_t value, int64_t minimum) {
  if (value < minimum) fail(who, ": invalid ", name, " ", value, " (must be >= ", minimum, ")");
}
}  // namespace

Schedule constant_schedule() {
  return [](int64_t) { return 1.0; };
}

Schedule linear_warmup(int64_t warmup_steps) {
  check_steps("linear_warmup", "warmup_steps", warmup_steps, 0);
  return [=](int64_t t) { return t < warmup_steps ? static_cast<double>(t + 1) / static_cast<double>(warmup_steps) : 1.0; };
}

Schedule warmup_cosine(int64_t warmup_steps, int64_t total_steps, double min_factor) {
  check_steps("warmup_cosine", "warmup_steps", warmup_steps, 0);
  if (total_steps <= warmup_steps)
    fail("warmup_cosine: total_steps ", total_steps, " must be larger than warmup_steps ", warmup_steps);
  if (!(min_factor >= 0.0 && min_factor <= 1.0)) fail("warmup_cosine: invalid min_factor ", min_factor, " (must be in [0, 1])");
  return [=](int64_t t) {
    if (t < warmup_steps) return static_cast<double>(t + 1) / static_cast<double>(warmup_steps);
    double progress = std::min(1.0, static_cast<double>(t - warmup_steps) / static_cast<double>(total_steps - warmup_steps));
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  };
}

Schedule step_decay(int64_t step_size, double gamma) {
  check_steps("step_decay", "step_size", step_size, 1);
  if (!(gamma > 0.0)) fail("step_decay: invalid gamma ", gamma, " (must be > 0)");
  return [=](int64_t t) { return std::pow(gamma, static_cast<double>(t / step_size)); };
}

Schedule linear_decay(int64_t total_steps, double end_factor) {
  check_steps("linear_decay", "total_steps", total_steps, 1);
  if (!(end_factor >= 0.0)) fail("linear_decay: invalid end_factor ", end_factor, " (must be >= 0)");
  return [=](int64_t t) {
    double progress = std::min(1.0, static_cast<double>(t) / static_cast<double>(total_steps));
    return 1.0 + (end_factor - 1.0) * progress;
  };
}

Schedule multiply(Schedule a, Schedule b) {
  if (!a || !b) fail("multiply: both schedules must be set");
  return [a = std::move(a), b = std::move(b)](int64_t t) { return a(t) * b(t); };
}

LrScheduler::LrScheduler(Optimizer& optimizer, Schedule schedule) : optimizer_(optimizer), schedule_(std::move(schedule)) {
  if (!schedule_) fail("LrScheduler: the schedule is empty");
  for (size_t g = 0; g < optimizer_.group_count(); ++g) base_.push_back(optimizer_.learning_rate(g));
  apply(factor_at(0));
}

void LrScheduler::step() { set_step(step_ + 1); }

void LrScheduler::set_step(int64_t step) {
  const double f = factor_at(step);  // throws before anything changes
  step_ = step;
  apply(f);
}

double LrScheduler::factor_at(int64_t step) const {
  if (step < 0 || step > max_step) fail("LrScheduler: step ", step, " is out of range (must be in [0, 2^53])");
  const double f = schedule_(step);
  if (!(f >= 0.0)) fail("LrScheduler: the schedule gave factor ", f, " at step ", step, " (must be >= 0)");
  for (size_t g = 0; g < base_.size(); ++g)  // 0 · inf is NaN, which no optimizer takes as a learning rate
    if (!(base_[g] * f >= 0.0))
      fail("LrScheduler: group ", g, "'s learning rate at step ", step, " is ", base_[g], " · ", f, " = ", base_[g] * f,
           " (must be >= 0)");
  return f;
}

void LrScheduler::apply(double factor) {
  for (size_t g = 0; g < base_.size(); ++g) optimizer_.set_learning_rate(g, base_[g] * factor);
}

namespace {

// The gradients of `params` that exist, and the one device they share.
std::vector<Tensor> defined_grads(const char* op, const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!grads.empty() && g.device() != grads.front().device())
      fail(op, ": gradients on ", device_name(grads.front().device()), " and on ", device_name(g.device()),
           " (expected one device; clip each device's parameters on their own)");
    grads.push_back(g);
  }
  return grads;
}

// Σ g² over every element of every gradient, in grad_norm_math.hpp's order (the kernels' order).
double sum_of_squares(const std::vector<Tensor>& grads) {
  double total = 0.0;
  for (const Tensor& g : grads)
    for (int64_t begin = 0, n = g.numel(); begin < n; begin += kNormChunk)
      total += chunk_sum_of_squares(g.data() + begin, std::min(kNormChunk, n - begin));
  return total;
}

// clip_grad_norm on cuda gradients: the kernels of cuda/clip.cu. norm_out: a device float or null;
// norm_host: where the norm comes back (one wait), or null.
void clip_on_device(const std::vector<Tensor>& grads, double max_norm, float* norm_out, double* norm_host) {
  std::vector<float*> data;
  std::vector<int64_t> sizes;
  for (Tensor g : grads) {  // a handle: its data() may be written
    data.push_back(g.data());
    sizes.push_back(g.numel());
  }
  grads.front().cuda_backend().clip_grad_norm(data.data(), sizes.data(), static_cast<int64_t>(grads.size()),
                                              max_norm, norm_out, norm_host);
}

void check_max_norm(double max_norm) {
  if (!(max_norm >= 0.0)) fail("clip_grad_norm: invalid max_norm ", max_norm, " (must be >= 0)");
}

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, bool error_if_nonfinite) {
  check_max_norm(max_norm);
  std::vector<Tensor> grads = defined_grads("clip_grad_norm", params);
  if (grads.empty()) return 0.0;
  const bool on_cuda = grads.front().device() == Device::cuda;
  double norm = 0.0;
  if (error_if_nonfinite) {  // the norm first, with nothing scaled (an infinite max_norm gives scale 1)
    if (on_cuda) clip_on_device(grads, std::numeric_limits<double>::infinity(), nullptr, &norm);
    else norm = std::sqrt(sum_of_squares(grads));
    if (!std::isfinite(norm)) fail("clip_grad_norm: the total gradient norm is ", norm, "; a gradient holds NaN or inf");
  }
  if (on_cuda) {
    clip_on_device(grads, max_norm, nullptr, &norm);
    return norm;
  }
  const float scale = clip_scale(sum_of_squares(grads), max_norm, norm);  // min(1, max_norm / (‖g‖ + 1e-6))
  if (scale != 1.0f)
    for (Tensor g : grads) {
      float* x = g.data();
      for (int64_t i = 0, n = g.numel(); i < n; ++i) x[i] *= scale;
    }
  return norm;
}

Tensor clip_grad_norm_tensor(const std::vector<Tensor>& params, double max_norm) {
  check_max_norm(max_norm);
  std::vector<Tensor> grads = defined_grads("clip_grad_norm_tensor", params);
  if (grads.empty() || grads.front().device() == Device::cpu)
    return Tensor::scalar(static_cast<float>(clip_grad_norm(params, max_norm)));
  Tensor norm = Tensor::empty({}, Device::cuda);
  clip_on_device(grads, max_norm, norm.data(), nullptr);  // no copy back: the host does not wait
  return norm;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0.0)) fail("clip_grad_value: invalid clip_value ", clip_value, " (must be >= 0)");
  float c = static_cast<float>(clip_value);
  for (Tensor g : defined_grads("clip_grad_value", params)) {
    if (g.device() == Device::cuda) {
      g.cuda_backend().clip_grad_value(g.data(), g.numel(), c);  // the clamp kernel (cuda/clip.cu)
      continue;
    }
    float* x = g.data();
    for (int64_t i = 0, n = g.numel(); i < n; ++i) x[i] = std::clamp(x[i], -c, c);
  }
}

}  // namespace moments
