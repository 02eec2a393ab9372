// optim/schedule_free.cpp — schedule-free AdamW's state, validation, step and train()/eval()
// swap (math in schedule_free_math.hpp, the algorithm box in schedule_free.hpp).
#include "schedule_free.hpp"

#include <algorithm>
#include <cmath>

#include "backend.hpp"
#include "parallel.hpp"
#include "schedule_free_math.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void schedule_free_update(float* y, const float* grad, float* z, float* v, float* x, int64_t n,
                                             const ScheduleFreeScalars& scalars) {
  const ScheduleFreeScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) schedule_free_update_element(y[i], grad[i], z[i], v[i], x[i], s);
}

MOMENTS_CPU_CLONES void schedule_free_to_y(float* y, const float* x, const float* z, int64_t n, float beta1,
                                           float one_minus_beta1) {
  for (int64_t i = 0; i < n; ++i) y[i] = schedule_free_y(x[i], z[i], beta1, one_minus_beta1);
}

ScheduleFreeSchedule schedule_free_schedule(const ScheduleFreeOptions& o, int64_t t, double lr_max, double weight_sum) {
  const double k = static_cast<double>(t - 1);                              // the reference's k
  const double sched = k < o.warmup_steps ? (k + 1) / o.warmup_steps : 1.0;  // linear warmup
  const double bias_correction2 = 1.0 - std::pow(o.beta2, k + 1);           // 1 − β2^t
  ScheduleFreeSchedule out{};
  out.lr = o.learning_rate * sched * std::sqrt(bias_correction2);          // γ_t
  out.lr_max = std::max(out.lr, lr_max);                                    // γ_max
  out.weight = std::pow(k + 1, o.r) * std::pow(out.lr_max, o.weight_lr_power);  // w_t = t^r γ_max^p
  out.weight_sum = weight_sum + out.weight;                                 // W_t
  out.ckp1 = out.weight_sum != 0.0 ? out.weight / out.weight_sum : 0.0;    // c_{t+1} (Python: ZeroDivisionError → 0)
  return out;
}

AdamWScheduleFree::AdamWScheduleFree(const std::vector<Tensor>& params, ScheduleFreeOptions options) {
  add_param_group(params, options);
}

void AdamWScheduleFree::validate(const ScheduleFreeOptions& o) const {
  const char* who = "AdamWScheduleFree";
  check_at_least(who, "learning_rate", o.learning_rate, 0.0);
  check_at_least(who, "eps", o.eps, 0.0);
  check_in_unit_interval(who, "beta1", o.beta1);
  check_in_unit_interval(who, "beta2", o.beta2);
  check_at_least(who, "weight_decay", o.weight_decay, 0.0);
  check_at_least(who, "warmup_steps", o.warmup_steps, 0.0);
  check_whole(who, "warmup_steps", o.warmup_steps);
  check_at_least(who, "r", o.r, 0.0);
  if (!std::isfinite(o.r)) fail(who, ": invalid r ", o.r, " (must be finite)");
  check_at_least(who, "weight_lr_power", o.weight_lr_power, 0.0);
  if (!std::isfinite(o.weight_lr_power)) fail(who, ": invalid weight_lr_power ", o.weight_lr_power, " (must be finite)");
}

void AdamWScheduleFree::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["z"] = param.clone();                                           // z_1 ← θ_0
  state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // v_0 ← 0
  state.buffers["x"] = param.clone();                                           // x_1 ← θ_0
  state.scalars["lr_max"] = -1.0;                                               // γ_max, as the reference starts it
  state.scalars["weight_sum"] = 0.0;                                            // W_0
}

void AdamWScheduleFree::begin_step() {
  for (size_t g = 0; g < group_count(); ++g)
    if (!options_[g].train_mode)
      fail(name(), "::step: group ", g, " is in eval mode (the model holds x, the average, not y); call train() "
           "before stepping, eval() before measuring");
}

void AdamWScheduleFree::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const ScheduleFreeOptions& o = options_[group];
  ScheduleFreeSchedule sched =
      schedule_free_schedule(o, state.step, state.scalars.at("lr_max"), state.scalars.at("weight_sum"));
  state.scalars["lr_max"] = sched.lr_max;
  state.scalars["weight_sum"] = sched.weight_sum;
  ScheduleFreeScalars s{};
  s.decay = static_cast<float>(sched.lr * o.weight_decay), s.decayed = o.weight_decay != 0.0;
  s.decay_at_z = o.decay_at_z;
  s.beta2 = static_cast<float>(o.beta2), s.one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
  s.eps = static_cast<float>(o.eps), s.neg_lr = static_cast<float>(-sched.lr);
  s.ckp1 = static_cast<float>(sched.ckp1), s.one_minus_ckp1 = static_cast<float>(1.0 - sched.ckp1);
  s.beta1 = static_cast<float>(o.beta1), s.one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
  float* z = state.buffers.at("z").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  float* x = state.buffers.at("x").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/schedule_free.cu (the explain trace is cpu-only)
    param.cuda_backend().schedule_free_update(param.data(), grad.data(), z, v, x, param.numel(), s);
    return;
  }
  float y_before = traced(param) ? param.data()[traced_index()] : 0.0f;
  float* y = param.data();
  const float* gradient = grad.data();
  parallel_for(param.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {  // the same loop, by chunks
    schedule_free_update(y + begin, gradient + begin, z + begin, v + begin, x + begin, end - begin, s);
  });
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i]},
                   {"v", v[i]},
                   {"denom", std::sqrt(static_cast<double>(v[i])) + o.eps},
                   {"lr", sched.lr},
                   {"lr_max", sched.lr_max},
                   {"weight", sched.weight},
                   {"ckp1", sched.ckp1},
                   {"z", z[i]},
                   {"x", x[i]},
                   {"y", y[i]},
                   {"update", static_cast<double>(y[i]) - y_before}}};
}

void AdamWScheduleFree::eval() {
  for (size_t g = 0; g < group_count(); ++g) {
    if (!options_[g].train_mode) continue;
    for (Tensor param : params(g)) {
      const ParamState* s = state(param);
      if (!s) continue;  // never stepped: x = y = θ_0 already
      const Tensor& x = s->buffers.at("x");
      if (param.device() == Device::cuda) param.cuda_backend().copy_on_device(param.data(), x.data(), param.numel());
      else std::copy_n(x.data(), param.numel(), param.data());  // θ ← x
    }
    options_[g].train_mode = false;
  }
}

void AdamWScheduleFree::train() {
  for (size_t g = 0; g < group_count(); ++g) {
    if (options_[g].train_mode) continue;
    const float beta1 = static_cast<float>(options_[g].beta1), one_minus_beta1 = static_cast<float>(1.0 - options_[g].beta1);
    for (Tensor param : params(g)) {
      const ParamState* s = state(param);
      if (!s) continue;
      const float* x = s->buffers.at("x").data();
      const float* z = s->buffers.at("z").data();
      if (param.device() == Device::cuda) {
        param.cuda_backend().schedule_free_to_y(param.data(), x, z, param.numel(), beta1, one_minus_beta1);
        continue;
      }
      float* y = param.data();
      parallel_for(param.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {  // θ ← y = β1 x + (1 − β1) z
        schedule_free_to_y(y + begin, x + begin, z + begin, end - begin, beta1, one_minus_beta1);
      });
    }
    options_[g].train_mode = true;
  }
}

void AdamWScheduleFree::set_hyperparameters(size_t group, const std::map<std::string, double>& values) {
  params(group);  // range check with a clear message
  auto mode = values.find("train_mode");
  if (mode != values.end() && !restoring_state() && mode->second != (options(group).train_mode ? 1.0 : 0.0))
    fail(name(), ": set_hyperparameters(group ", group, ", train_mode = ", mode->second,
         "): the mode changes only through train() and eval(), which also swap the weights between y and x");
  OptimizerWith::set_hyperparameters(group, values);
}

bool AdamWScheduleFree::is_eval() const {
  for (size_t g = 0; g < group_count(); ++g)
    if (options(g).train_mode) return false;
  return true;
}

}  // namespace moments
