// optim/radam.cpp — RAdam's state, validation and step (math in radam_math.hpp).
#include "radam.hpp"

#include <cmath>

#include "backend.hpp"
#include "radam_math.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void radam_update(float* theta, const float* grad, float* m, float* v, int64_t n,
                                     const RadamScalars& scalars) {
  const RadamScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) radam_update_element(theta[i], grad[i], m[i], v[i], s);
}

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK), over elements [begin, end).
MOMENTS_CPU_CLONES void radam_update_watched(float* theta, const float* grad, float* m, float* v, int64_t begin,
                                             int64_t end, const RadamScalars& scalars, UpdateSums& sums) {
  const RadamScalars s = scalars;
  auto element = [&](float& th, float g, float& m_i, float& v_i) { radam_update_element(th, g, m_i, v_i, s); };
  watched_loop(theta, grad, begin, end, sums, element, m, v);
}

RadamRectification radam_rectification(double beta2, int64_t step) {
  const double t = static_cast<double>(step);
  double bias_correction2 = 1.0 - std::pow(beta2, t);
  double rho_inf = 2.0 / (1.0 - beta2) - 1.0;                               // ρ_∞
  double rho_t = rho_inf - 2.0 * t * std::pow(beta2, t) / bias_correction2;  // ρ_t
  if (!(rho_t > 5.0)) return {rho_t, false, 0.0};
  double rect = std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));  // r_t
  return {rho_t, true, rect};
}

RAdam::RAdam(const std::vector<Tensor>& params, RadamOptions options) { add_param_group(params, options); }

void RAdam::validate(const RadamOptions& o) const {
  check_at_least("RAdam", "learning_rate", o.learning_rate, 0.0);
  check_at_least("RAdam", "eps", o.eps, 0.0);
  check_in_unit_interval("RAdam", "beta1", o.beta1);
  check_in_unit_interval("RAdam", "beta2", o.beta2);
  check_at_least("RAdam", "weight_decay", o.weight_decay, 0.0);
}

void RAdam::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());     // m_0
  state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // v_0
}

void RAdam::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const RadamOptions& o = options_[group];
  const double t = static_cast<double>(state.step);
  RadamRectification r = radam_rectification(o.beta2, state.step);
  RadamScalars s{};
  s.beta1 = static_cast<float>(o.beta1), s.one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
  s.beta2 = static_cast<float>(o.beta2), s.one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
  s.bias_correction1 = static_cast<float>(1.0 - std::pow(o.beta1, t));
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(o.beta2, t)));
  s.lr = static_cast<float>(o.learning_rate), s.rect = static_cast<float>(r.rect);
  s.eps = static_cast<float>(o.eps), s.l2 = static_cast<float>(o.weight_decay), s.rectified = r.rectified;
  float* m = state.buffers.at("exp_avg").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/radam.cu (the explain trace is cpu-only)
    param.cuda_backend().radam_update(param.data(), grad.data(), m, v, param.numel(), s);
    return;
  }
  float theta_before = traced(param) ? param.data()[traced_index()] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  parallel_update(param, [&](int64_t begin, int64_t end) {  // the loop, by chunks
    radam_update(theta + begin, gradient + begin, m + begin, v + begin, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    radam_update_watched(theta, gradient, m, v, begin, end, s, sums);
  });
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i] + o.weight_decay * theta_before},
                   {"m_hat", m[i] / (1.0 - std::pow(o.beta1, t))},
                   {"v", v[i]},
                   {"rho_t", r.rho_t},
                   {"rectified", r.rectified ? 1.0 : 0.0},
                   {"rect", r.rect},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
