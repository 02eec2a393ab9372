// optim/adamax.cpp — Adamax's state, validation and step (math in adamax_math.hpp).
#include "adamax.hpp"

#include <cmath>

#include "adamax_math.hpp"
#include "backend.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void adamax_update(float* theta, const float* grad, float* m, float* u, int64_t n,
                                      const AdamaxScalars& scalars) {
  const AdamaxScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) adamax_update_element(theta[i], grad[i], m[i], u[i], s);
}

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK), over elements [begin, end).
MOMENTS_CPU_CLONES void adamax_update_watched(float* theta, const float* grad, float* m, float* u, int64_t begin,
                                              int64_t end, const AdamaxScalars& scalars, UpdateSums& sums) {
  const AdamaxScalars s = scalars;
  auto element = [&](float& th, float g, float& m_i, float& u_i) { adamax_update_element(th, g, m_i, u_i, s); };
  watched_loop(theta, grad, begin, end, sums, element, m, u);
}

Adamax::Adamax(const std::vector<Tensor>& params, AdamaxOptions options) { add_param_group(params, options); }

void Adamax::validate(const AdamaxOptions& o) const {
  check_at_least("Adamax", "learning_rate", o.learning_rate, 0.0);
  check_at_least("Adamax", "eps", o.eps, 0.0);
  check_in_unit_interval("Adamax", "beta1", o.beta1);
  check_in_unit_interval("Adamax", "beta2", o.beta2);
  check_at_least("Adamax", "weight_decay", o.weight_decay, 0.0);
}

void Adamax::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());  // m_0
  state.buffers["exp_inf"] = Tensor::zeros(param.shape(), param.device());  // u_0
}

void Adamax::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const AdamaxOptions& o = options_[group];
  double clr = o.learning_rate / (1.0 - std::pow(o.beta1, static_cast<double>(state.step)));  // α / (1 − β1^t)
  AdamaxScalars s{static_cast<float>(o.beta1), static_cast<float>(1.0 - o.beta1), static_cast<float>(o.beta2),
                  static_cast<float>(clr),     static_cast<float>(o.eps),         static_cast<float>(o.weight_decay),
                  o.maximize};
  float* m = state.buffers.at("exp_avg").data();
  float* u = state.buffers.at("exp_inf").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/adamax.cu (the explain trace is cpu-only)
    param.cuda_backend().adamax_update(param.data(), grad.data(), m, u, param.numel(), s);
    return;
  }
  float theta_before = traced(param) ? param.data()[traced_index()] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  parallel_update(param, [&](int64_t begin, int64_t end) {  // the loop, by chunks
    adamax_update(theta + begin, gradient + begin, m + begin, u + begin, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    adamax_update_watched(theta, gradient, m, u, begin, end, s, sums);
  });
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i] * (o.maximize ? -1.0 : 1.0) + o.weight_decay * theta_before},
                   {"m", m[i]},
                   {"u", u[i]},
                   {"step_size", clr},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
