// optim/sgd.cpp — SGD's state, validation and step (math in sgd_math.hpp).
#include "sgd.hpp"

#include "backend.hpp"
#include "parallel.hpp"
#include "sgd_math.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& scalars) {
  const SgdScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  if (buffer) {
    // A momentum buffer is passed exactly when μ ≠ 0 (see update()). Saying so lets the compiler drop
    // the per-element `if (μ ≠ 0)` around the store to b; without it this loop does not vectorize and
    // runs at half the speed (tests/bench/bench_optim measures it).
    if (s.momentum == 0.0f) __builtin_unreachable();
    for (int64_t i = 0; i < n; ++i) sgd_update_element(theta[i], grad[i], buffer[i], s);
  } else {
    float unused = 0.0f;
    for (int64_t i = 0; i < n; ++i) sgd_update_element(theta[i], grad[i], unused, s);
  }
}

// The same loop for a watching monitor (optimizer.hpp, THE MONITOR'S HOOK), over elements [begin, end).
MOMENTS_CPU_CLONES void sgd_update_watched(float* theta, const float* grad, float* buffer, int64_t begin, int64_t end,
                                           const SgdScalars& scalars, UpdateSums& sums) {
  const SgdScalars s = scalars;
  if (buffer) {
    auto element = [&](float& th, float g, float& b) { sgd_update_element(th, g, b, s); };
    watched_loop(theta, grad, begin, end, sums, element, buffer);
  } else {
    auto element = [&](float& th, float g) {
      float unused = 0.0f;
      sgd_update_element(th, g, unused, s);
    };
    watched_loop(theta, grad, begin, end, sums, element);
  }
}

SGD::SGD(const std::vector<Tensor>& params, SgdOptions options) { add_param_group(params, options); }

void SGD::validate(const SgdOptions& o) const {
  check_at_least("SGD", "learning_rate", o.learning_rate, 0.0);
  check_at_least("SGD", "momentum", o.momentum, 0.0);
  check_at_least("SGD", "weight_decay", o.weight_decay, 0.0);
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    fail("SGD: nesterov momentum requires momentum > 0 and dampening = 0 (got momentum ", o.momentum,
         ", dampening ", o.dampening, ")");
}

void SGD::init_state(const Tensor& param, ParamState& state, size_t group) const {
  if (options_[group].momentum != 0.0) state.buffers["momentum_buffer"] = Tensor::zeros(param.shape(), param.device());
}

void SGD::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const SgdOptions& o = options_[group];
  bool first_step = state.step == 1;
  if (o.momentum != 0.0 && !state.buffers.count("momentum_buffer")) {  // momentum switched on later
    init_state(param, state, group);
    first_step = true;  // PyTorch starts the buffer as a copy of g whenever it is created
  }
  auto buffer = state.buffers.find("momentum_buffer");
  SgdScalars s{static_cast<float>(o.learning_rate), static_cast<float>(o.momentum),
               static_cast<float>(1.0 - o.dampening), static_cast<float>(o.weight_decay),
               o.nesterov, o.maximize, first_step};
  bool has_buffer = s.momentum != 0.0f;  // decided on the float μ that the loop uses
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/sgd.cu (the explain trace is cpu-only)
    param.cuda_backend().sgd_update(param.data(), grad.data(), has_buffer ? buffer->second.data() : nullptr,
                                    param.numel(), s);
    return;
  }
  float theta_before = traced(param) ? param.data()[traced_index()] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  float* b = has_buffer ? buffer->second.data() : nullptr;
  parallel_update(param, [&](int64_t begin, int64_t end) {  // the same loop, by chunks
    sgd_update(theta + begin, gradient + begin, b ? b + begin : nullptr, end - begin, s);
  }, [&](int64_t begin, int64_t end, UpdateSums& sums) {  // a monitor watches: the same, with its sums
    sgd_update_watched(theta, gradient, b, begin, end, s, sums);
  });
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i] * (o.maximize ? -1.0 : 1.0) + o.weight_decay * theta_before},
                   {"momentum_buffer", has_buffer ? buffer->second.data()[i] : 0.0},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
