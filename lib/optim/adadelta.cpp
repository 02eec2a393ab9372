// optim/adadelta.cpp — Adadelta's state, validation and step (math in adadelta_math.hpp).
#include "adadelta.hpp"

#include "adadelta_math.hpp"
#include "backend.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void adadelta_update(float* theta, const float* grad, float* square_avg, float* acc_delta,
                                        int64_t n, const AdadeltaScalars& scalars) {
  const AdadeltaScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) adadelta_update_element(theta[i], grad[i], square_avg[i], acc_delta[i], s);
}

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK), over elements [begin, end).
MOMENTS_CPU_CLONES void adadelta_update_watched(float* theta, const float* grad, float* square_avg,
                                                float* acc_delta, int64_t begin, int64_t end,
                                                const AdadeltaScalars& scalars, UpdateSums& sums) {
  const AdadeltaScalars s = scalars;
  auto element = [&](float& th, float g, float& square_avg_i, float& acc_delta_i) {
    adadelta_update_element(th, g, square_avg_i, acc_delta_i, s);
  };
  watched_loop(theta, grad, begin, end, sums, element, square_avg, acc_delta);
}

Adadelta::Adadelta(const std::vector<Tensor>& params, AdadeltaOptions options) { add_param_group(params, options); }

void Adadelta::validate(const AdadeltaOptions& o) const {
  check_at_least("Adadelta", "learning_rate", o.learning_rate, 0.0);
  if (!(o.rho >= 0.0 && o.rho <= 1.0)) fail("Adadelta: invalid rho ", o.rho, " (must be in [0, 1])");
  check_at_least("Adadelta", "eps", o.eps, 0.0);
  check_at_least("Adadelta", "weight_decay", o.weight_decay, 0.0);
}

void Adadelta::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["square_avg"] = Tensor::zeros(param.shape(), param.device());  // E[g²]_0
  state.buffers["acc_delta"] = Tensor::zeros(param.shape(), param.device());   // E[Δx²]_0
}

void Adadelta::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const AdadeltaOptions& o = options_[group];
  AdadeltaScalars s{static_cast<float>(o.learning_rate), static_cast<float>(o.rho), static_cast<float>(1.0 - o.rho),
                    static_cast<float>(o.eps), static_cast<float>(o.weight_decay), o.maximize};
  float* square_avg = state.buffers.at("square_avg").data();
  float* acc_delta = state.buffers.at("acc_delta").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/adadelta.cu (the explain trace is cpu-only)
    param.cuda_backend().adadelta_update(param.data(), grad.data(), square_avg, acc_delta, param.numel(), s);
    return;
  }
  int64_t i = traced(param) ? traced_index() : 0;
  float theta_before = param.data()[i], acc_before = acc_delta[i];
  float* theta = param.data();
  const float* gradient = grad.data();
  parallel_update(param, [&](int64_t begin, int64_t end) {  // the loop, by chunks
    adadelta_update(theta + begin, gradient + begin, square_avg + begin, acc_delta + begin, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    adadelta_update_watched(theta, gradient, square_avg, acc_delta, begin, end, s, sums);
  });
  if (!traced(param)) return;
  double rms_g = std::sqrt(square_avg[i] + o.eps), rms_dx = std::sqrt(acc_before + o.eps);
  explanation_ = {state.step,
                  {{"g", grad.data()[i] * (o.maximize ? -1.0 : 1.0) + o.weight_decay * theta_before},
                   {"square_avg", square_avg[i]},
                   {"rms_g", rms_g},
                   {"rms_delta", rms_dx},
                   {"acc_delta", acc_delta[i]},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
