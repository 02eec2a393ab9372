// optim/nadam.cpp — NAdam's state, validation and step (math in nadam_math.hpp).
#include "nadam.hpp"

#include <cmath>

#include "backend.hpp"
#include "nadam_math.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n,
                                     const NadamScalars& scalars) {
  const NadamScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) nadam_update_element(theta[i], grad[i], m[i], v[i], s);
}

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK), over elements [begin, end).
MOMENTS_CPU_CLONES void nadam_update_watched(float* theta, const float* grad, float* m, float* v, int64_t begin,
                                             int64_t end, const NadamScalars& scalars, UpdateSums& sums) {
  const NadamScalars s = scalars;
  auto element = [&](float& th, float g, float& m_i, float& v_i) { nadam_update_element(th, g, m_i, v_i, s); };
  watched_loop(theta, grad, begin, end, sums, element, m, v);
}

NAdam::NAdam(const std::vector<Tensor>& params, NadamOptions options) { add_param_group(params, options); }

void NAdam::validate(const NadamOptions& o) const {
  check_at_least("NAdam", "learning_rate", o.learning_rate, 0.0);
  check_at_least("NAdam", "eps", o.eps, 0.0);
  check_in_unit_interval("NAdam", "beta1", o.beta1);
  check_in_unit_interval("NAdam", "beta2", o.beta2);
  check_at_least("NAdam", "weight_decay", o.weight_decay, 0.0);
  check_at_least("NAdam", "momentum_decay", o.momentum_decay, 0.0);
}

void NAdam::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());     // m_0
  state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // v_0
  state.buffers["mu_product"] = Tensor::scalar(1.0f);                          // Π_0 = 1, on the host
}

void NAdam::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const NadamOptions& o = options_[group];
  const double t = static_cast<double>(state.step);
  double mu = o.beta1 * (1.0 - 0.5 * std::pow(0.96, t * o.momentum_decay));               // μ_t
  double mu_next = o.beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1.0) * o.momentum_decay));  // μ_{t+1}
  // Π_t in float32, as PyTorch's 0-dim tensor rounds it: Π_t ← Π_{t−1} μ_t. torch 1.13 then takes
  // Π_t μ_t μ_{t+1} (μ_t twice) where the paper's m̂ needs Π_{t+1} = Π_t μ_{t+1}; we follow the code.
  float& mu_product = state.buffers.at("mu_product").data()[0];
  mu_product = mu_product * static_cast<float>(mu);
  float mu_product_next = mu_product * static_cast<float>(mu) * static_cast<float>(mu_next);
  NadamScalars s{};
  s.beta1 = static_cast<float>(o.beta1), s.one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
  s.beta2 = static_cast<float>(o.beta2), s.one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
  s.bias_correction2 = static_cast<float>(1.0 - std::pow(o.beta2, t));
  s.eps = static_cast<float>(o.eps), s.l2 = static_cast<float>(o.weight_decay);
  s.grad_step = static_cast<float>(-o.learning_rate * (1.0 - mu) / (1.0 - mu_product));
  s.momentum_step = static_cast<float>(-o.learning_rate * mu_next / (1.0 - mu_product_next));
  float* m = state.buffers.at("exp_avg").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/nadam.cu (the explain trace is cpu-only)
    param.cuda_backend().nadam_update(param.data(), grad.data(), m, v, param.numel(), s);
    return;
  }
  float theta_before = traced(param) ? param.data()[traced_index()] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  parallel_update(param, [&](int64_t begin, int64_t end) {  // the loop, by chunks
    nadam_update(theta + begin, gradient + begin, m + begin, v + begin, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    nadam_update_watched(theta, gradient, m, v, begin, end, s, sums);
  });
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i] + o.weight_decay * theta_before},
                   {"mu", mu},
                   {"mu_next", mu_next},
                   {"mu_product", mu_product},
                   {"m", m[i]},
                   {"v", v[i]},
                   {"denom", std::sqrt(v[i] / (1.0 - std::pow(o.beta2, t))) + o.eps},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
