// optim/adam.cpp — Adam and AdamW: state, validation, and the step. The
// per-element math is in adam_math.hpp; the algorithm box is in adam.hpp.
#include "adam.hpp"

#include "adam_math.hpp"
#include "backend.hpp"
#include "parallel.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n,
                                    const AdamScalars& scalars) {
  const AdamScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  if (s.amsgrad) {
    for (int64_t i = 0; i < n; ++i) adam_update_element(theta[i], grad[i], m[i], v[i], v_max[i], s);
  } else {
    float unused = 0.0f;
    for (int64_t i = 0; i < n; ++i) adam_update_element(theta[i], grad[i], m[i], v[i], unused, s);
  }
}

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK): the same per-element update
// over elements [begin, end), through watched_loop, which also sums Δθ, θ, g, m, v (and v_max).
MOMENTS_CPU_CLONES void adam_update_watched(float* theta, const float* grad, float* m, float* v, float* v_max,
                                            int64_t begin, int64_t end, const AdamScalars& scalars, UpdateSums& sums) {
  const AdamScalars s = scalars;
  if (s.amsgrad) {
    auto element = [&](float& th, float g, float& m_i, float& v_i, float& v_max_i) {
      adam_update_element(th, g, m_i, v_i, v_max_i, s);
    };
    watched_loop(theta, grad, begin, end, sums, element, m, v, v_max);
  } else {
    auto element = [&](float& th, float g, float& m_i, float& v_i) {
      float unused = 0.0f;
      adam_update_element(th, g, m_i, v_i, unused, s);
    };
    watched_loop(theta, grad, begin, end, sums, element, m, v);
  }
}

namespace {

// Both classes share everything but the decay line; `Options` is AdamOptions or AdamWOptions.
template <class Options>
void validate_adam(const char* who, const Options& o) {
  check_at_least(who, "learning_rate", o.learning_rate, 0.0);
  check_at_least(who, "eps", o.eps, 0.0);
  check_in_unit_interval(who, "beta1", o.beta1);
  check_in_unit_interval(who, "beta2", o.beta2);
  check_at_least(who, "weight_decay", o.weight_decay, 0.0);
}

void init_adam_state(const Tensor& param, ParamState& state, bool amsgrad) {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());     // m_0 ← 0
  state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // v_0 ← 0
  if (amsgrad) state.buffers["max_exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());
}

// `run` is Optimizer::parallel_update: parallel_for over the loop's chunks, or the watched loop (THE
// MONITOR'S HOOK, optimizer.hpp).
template <class Options, class Run>
void adam_step(Tensor& param, const Tensor& grad, ParamState& state, const Options& o, bool decoupled,
               bool traced, int64_t index, Explanation& explanation, const Run& run) {
  AdamScalars s = adam_scalars(o.learning_rate, o.beta1, o.beta2, o.eps, o.weight_decay, decoupled, o.amsgrad,
                               o.maximize, state.step);
  float* m = state.buffers.at("exp_avg").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  float* v_max = o.amsgrad ? state.buffers.at("max_exp_avg_sq").data() : nullptr;
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/adam.cu (the explain trace is cpu-only)
    param.cuda_backend().adam_update(param.data(), grad.data(), m, v, v_max, param.numel(), s);
    return;
  }
  float theta_before = traced ? param.data()[index] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  run([&](int64_t begin, int64_t end) {  // the same loop, by chunks
    adam_update(theta + begin, gradient + begin, m + begin, v + begin, v_max ? v_max + begin : nullptr, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    adam_update_watched(theta, gradient, m, v, v_max, begin, end, s, sums);
  });
  if (!traced) return;
  // The explain trace recomputes the intermediate values of element `index`.
  double g = grad.data()[index] * (o.maximize ? -1.0 : 1.0) + s.l2 * theta_before;
  double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(state.step));
  double v_used = o.amsgrad ? v_max[index] : v[index];
  double v_hat = v_used / (static_cast<double>(s.bias_correction2_sqrt) * s.bias_correction2_sqrt);
  explanation = {state.step,
                 {{"g", g},
                  {"m", m[index]},
                  {"v", v[index]},
                  {"m_hat", m[index] / bias_correction1},
                  {"v_hat", v_hat},
                  {"denom", std::sqrt(v_hat) + o.eps},
                  {"step_size", s.step_size},
                  {"update", static_cast<double>(param.data()[index]) - theta_before}}};
}

}  // namespace

Adam::Adam(const std::vector<Tensor>& params, AdamOptions options) { add_param_group(params, options); }
void Adam::validate(const AdamOptions& o) const { validate_adam("Adam", o); }
void Adam::init_state(const Tensor& param, ParamState& state, size_t group) const {
  init_adam_state(param, state, options_[group].amsgrad);
}
void Adam::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  adam_step(param, grad, state, options_[group], /*decoupled=*/false, traced(param), traced_index(), explanation_,
            [&](const auto& loop, const auto& watched) { parallel_update(param, loop, watched); });
}

AdamW::AdamW(const std::vector<Tensor>& params, AdamWOptions options) { add_param_group(params, options); }
void AdamW::validate(const AdamWOptions& o) const { validate_adam("AdamW", o); }
void AdamW::init_state(const Tensor& param, ParamState& state, size_t group) const {
  init_adam_state(param, state, options_[group].amsgrad);
}
void AdamW::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  adam_step(param, grad, state, options_[group], /*decoupled=*/true, traced(param), traced_index(), explanation_,
            [&](const auto& loop, const auto& watched) { parallel_update(param, loop, watched); });
}

}  // namespace moments
