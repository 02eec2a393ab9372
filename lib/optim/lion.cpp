// optim/lion.cpp — Lion's state, validation and step (math in lion_math.hpp, the algorithm in lion.hpp).
#include "lion.hpp"

#include "backend.hpp"
#include "lion_math.hpp"
#include "parallel.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void lion_update(float* theta, const float* grad, float* m, int64_t n, const LionScalars& scalars) {
  const LionScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) lion_update_element(theta[i], grad[i], m[i], s);
}

Lion::Lion(const std::vector<Tensor>& params, LionOptions options) { add_param_group(params, options); }

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK), over elements [begin, end).
MOMENTS_CPU_CLONES void lion_update_watched(float* theta, const float* grad, float* m, int64_t begin, int64_t end,
                                            const LionScalars& scalars, UpdateSums& sums) {
  const LionScalars s = scalars;
  auto element = [&](float& th, float g, float& m_i) { lion_update_element(th, g, m_i, s); };
  watched_loop(theta, grad, begin, end, sums, element, m);
}

void Lion::validate(const LionOptions& o) const {
  check_at_least("Lion", "learning_rate", o.learning_rate, 0.0);  // the canonical code's three checks
  check_in_unit_interval("Lion", "beta1", o.beta1);
  check_in_unit_interval("Lion", "beta2", o.beta2);
  check_at_least("Lion", "weight_decay", o.weight_decay, 0.0);  // ours: the canonical code has none
}

void Lion::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());  // m_0 ← 0
}

void Lion::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const LionOptions& o = options_[group];
  LionScalars s{static_cast<float>(o.beta1),         static_cast<float>(1.0 - o.beta1),
                static_cast<float>(o.beta2),         static_cast<float>(1.0 - o.beta2),
                static_cast<float>(o.learning_rate), static_cast<float>(1.0 - o.learning_rate * o.weight_decay),
                o.maximize};
  float* m = state.buffers.at("exp_avg").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/lion.cu (the explain trace is cpu-only)
    param.cuda_backend().lion_update(param.data(), grad.data(), m, param.numel(), s);
    return;
  }
  const bool trace = traced(param);
  const int64_t i = traced_index();
  float theta_before = trace ? param.data()[i] : 0.0f, m_before = trace ? m[i] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  parallel_update(param, [&](int64_t begin, int64_t end) {  // the same loop, by chunks
    lion_update(theta + begin, gradient + begin, m + begin, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    lion_update_watched(theta, gradient, m, begin, end, s, sums);
  });
  if (!trace) return;
  // The trace reruns element i's math from its saved values (the same function, so the same bits).
  float theta_again = theta_before, m_again = m_before;
  float c = lion_update_element(theta_again, grad.data()[i], m_again, s);
  explanation_ = {state.step,
                  {{"g", grad.data()[i] * (o.maximize ? -1.0 : 1.0)},
                   {"m_prev", m_before},
                   {"c", c},
                   {"m", m[i]},
                   {"decay", static_cast<double>(theta_before) * s.decay - theta_before},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
