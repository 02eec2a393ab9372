// optim/rmsprop.cpp — RMSprop's state, validation and step (math in rmsprop_math.hpp).
#include "rmsprop.hpp"

#include "backend.hpp"
#include "rmsprop_math.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void rmsprop_update(float* theta, const float* grad, float* square_avg, float* grad_avg,
                                       float* buf, int64_t n, const RmspropScalars& scalars) {
  const RmspropScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  float unused_avg = 0.0f, unused_buf = 0.0f;
  // Four loops, one per combination of buffers, so each stores only to real buffers and vectorizes.
  if (grad_avg && buf) {
    for (int64_t i = 0; i < n; ++i) rmsprop_update_element(theta[i], grad[i], square_avg[i], grad_avg[i], buf[i], s);
  } else if (grad_avg) {
    for (int64_t i = 0; i < n; ++i) rmsprop_update_element(theta[i], grad[i], square_avg[i], grad_avg[i], unused_buf, s);
  } else if (buf) {
    for (int64_t i = 0; i < n; ++i) rmsprop_update_element(theta[i], grad[i], square_avg[i], unused_avg, buf[i], s);
  } else {
    for (int64_t i = 0; i < n; ++i) rmsprop_update_element(theta[i], grad[i], square_avg[i], unused_avg, unused_buf, s);
  }
}

RMSprop::RMSprop(const std::vector<Tensor>& params, RmspropOptions options) { add_param_group(params, options); }

void RMSprop::validate(const RmspropOptions& o) const {
  check_at_least("RMSprop", "learning_rate", o.learning_rate, 0.0);
  check_at_least("RMSprop", "eps", o.eps, 0.0);
  check_at_least("RMSprop", "momentum", o.momentum, 0.0);
  check_at_least("RMSprop", "weight_decay", o.weight_decay, 0.0);
  check_at_least("RMSprop", "alpha", o.alpha, 0.0);
}

void RMSprop::init_state(const Tensor& param, ParamState& state, size_t group) const {
  const RmspropOptions& o = options_[group];
  state.buffers["square_avg"] = Tensor::zeros(param.shape(), param.device());                          // E[g²]_0
  if (o.momentum > 0.0) state.buffers["momentum_buffer"] = Tensor::zeros(param.shape(), param.device());  // b_0
  if (o.centered) state.buffers["grad_avg"] = Tensor::zeros(param.shape(), param.device());              // E[g]_0
}

void RMSprop::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const RmspropOptions& o = options_[group];
  // momentum or centered switched on after the first step: init_state adds the missing buffer at zero, as
  // it would have been at step 1 (PyTorch fails on the missing key instead).
  if ((o.momentum > 0.0 && !state.buffers.count("momentum_buffer")) || (o.centered && !state.buffers.count("grad_avg"))) {
    ParamState fresh;
    init_state(param, fresh, group);
    for (auto& [name, buffer] : fresh.buffers) state.buffers.try_emplace(name, buffer);
  }
  RmspropScalars s{static_cast<float>(o.learning_rate), static_cast<float>(o.alpha),
                   static_cast<float>(1.0 - o.alpha), static_cast<float>(o.eps), static_cast<float>(o.weight_decay),
                   static_cast<float>(o.momentum), o.centered, o.maximize};
  float* square_avg = state.buffers.at("square_avg").data();
  float* grad_avg = o.centered ? state.buffers.at("grad_avg").data() : nullptr;
  float* buf = s.momentum > 0.0f ? state.buffers.at("momentum_buffer").data() : nullptr;
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/rmsprop.cu (the explain trace is cpu-only)
    param.cuda_backend().rmsprop_update(param.data(), grad.data(), square_avg, grad_avg, buf, param.numel(), s);
    return;
  }
  float theta_before = traced(param) ? param.data()[traced_index()] : 0.0f;
  rmsprop_update(param.data(), grad.data(), square_avg, grad_avg, buf, param.numel(), s);
  if (!traced(param)) return;
  int64_t i = traced_index();
  double mean = grad_avg ? grad_avg[i] : 0.0;
  explanation_ = {state.step,
                  {{"g", grad.data()[i] * (o.maximize ? -1.0 : 1.0) + o.weight_decay * theta_before},
                   {"square_avg", square_avg[i]},
                   {"grad_avg", mean},
                   {"denom", std::sqrt(square_avg[i] - mean * mean) + o.eps},
                   {"momentum_buffer", buf ? buf[i] : 0.0},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
