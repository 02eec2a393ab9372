// optim/adagrad.cpp — Adagrad's state, validation and step (math in adagrad_math.hpp).
#include "adagrad.hpp"

#include "adagrad_math.hpp"
#include "backend.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void adagrad_update(float* theta, const float* grad, float* sum, int64_t n,
                                       const AdagradScalars& scalars) {
  const AdagradScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) adagrad_update_element(theta[i], grad[i], sum[i], s);
}

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK), over elements [begin, end).
MOMENTS_CPU_CLONES void adagrad_update_watched(float* theta, const float* grad, float* sum, int64_t begin,
                                               int64_t end, const AdagradScalars& scalars, UpdateSums& sums) {
  const AdagradScalars s = scalars;
  auto element = [&](float& th, float g, float& sum_i) { adagrad_update_element(th, g, sum_i, s); };
  watched_loop(theta, grad, begin, end, sums, element, sum);
}

Adagrad::Adagrad(const std::vector<Tensor>& params, AdagradOptions options) { add_param_group(params, options); }

void Adagrad::validate(const AdagradOptions& o) const {
  check_at_least("Adagrad", "learning_rate", o.learning_rate, 0.0);
  check_at_least("Adagrad", "lr_decay", o.lr_decay, 0.0);
  check_at_least("Adagrad", "weight_decay", o.weight_decay, 0.0);
  check_at_least("Adagrad", "initial_accumulator_value", o.initial_accumulator_value, 0.0);
  check_at_least("Adagrad", "eps", o.eps, 0.0);
}

void Adagrad::init_state(const Tensor& param, ParamState& state, size_t group) const {
  float g0 = static_cast<float>(options_[group].initial_accumulator_value);
  state.buffers["sum"] = Tensor::full(param.shape(), g0, param.device());  // G_0
}

void Adagrad::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const AdagradOptions& o = options_[group];
  double clr = o.learning_rate / (1.0 + static_cast<double>(state.step - 1) * o.lr_decay);  // η_t
  AdagradScalars s{static_cast<float>(clr), static_cast<float>(o.eps), static_cast<float>(o.weight_decay),
                   o.maximize};
  float* sum = state.buffers.at("sum").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/adagrad.cu (the explain trace is cpu-only)
    param.cuda_backend().adagrad_update(param.data(), grad.data(), sum, param.numel(), s);
    return;
  }
  float theta_before = traced(param) ? param.data()[traced_index()] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  parallel_update(param, [&](int64_t begin, int64_t end) {  // the loop, by chunks
    adagrad_update(theta + begin, gradient + begin, sum + begin, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    adagrad_update_watched(theta, gradient, sum, begin, end, s, sums);
  });
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i] * (o.maximize ? -1.0 : 1.0) + o.weight_decay * theta_before},
                   {"sum", sum[i]},
                   {"clr", clr},
                   {"denom", std::sqrt(static_cast<double>(sum[i])) + o.eps},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
