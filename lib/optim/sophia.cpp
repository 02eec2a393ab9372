// optim/sophia.cpp — Sophia-G's state, validation, step and Hessian update (math in sophia_math.hpp, the
// algorithm and the training-loop hook in sophia.hpp).
#include "sophia.hpp"

#include "../autograd.hpp"
#include "backend.hpp"
#include "parallel.hpp"
#include "sophia_math.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void sophia_update(float* theta, const float* grad, float* m, const float* h, int64_t n,
                                      const SophiaScalars& scalars) {
  const SophiaScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) sophia_update_element(theta[i], grad[i], m[i], h[i], s);
}

MOMENTS_CPU_CLONES void sophia_update_hessian(float* h, const float* grad, int64_t n, const SophiaHessianScalars& scalars) {
  const SophiaHessianScalars s = scalars;
  for (int64_t i = 0; i < n; ++i) sophia_hessian_element(h[i], grad[i], s);
}

SophiaG::SophiaG(const std::vector<Tensor>& params, SophiaGOptions options) { add_param_group(params, options); }

void SophiaG::validate(const SophiaGOptions& o) const {
  check_at_least("SophiaG", "learning_rate", o.learning_rate, 0.0);  // the canonical code's five checks
  check_in_unit_interval("SophiaG", "beta1", o.beta1);
  check_in_unit_interval("SophiaG", "beta2", o.beta2);
  check_at_least("SophiaG", "rho", o.rho, 0.0);
  check_at_least("SophiaG", "weight_decay", o.weight_decay, 0.0);
  check_at_least("SophiaG", "batch_size", o.batch_size, 1.0);  // ours: bs is an argument there
  check_whole("SophiaG", "batch_size", o.batch_size);
}

void SophiaG::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());  // m_0 ← 0
  state.buffers["hessian"] = Tensor::zeros(param.shape(), param.device());  // h_0 ← 0
}

void SophiaG::update_hessian() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < group_count(); ++g) {
    const SophiaGOptions& o = options_[g];
    const SophiaHessianScalars s{static_cast<float>(o.beta2), static_cast<float>(1.0 - o.beta2)};
    for (const Tensor& param : params(g)) {
      const Tensor grad = param.grad();
      if (!grad.defined()) continue;  // as the canonical code: no gradient, no estimate
      float* h = state_or_init(param, g).buffers.at("hessian").data();
      const float* estimate = grad.data();
      if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/sophia.cu
        param.cuda_backend().sophia_update_hessian(h, estimate, param.numel(), s);
        continue;
      }
      parallel_for(param.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {
        sophia_update_hessian(h + begin, estimate + begin, end - begin, s);
      });
    }
  }
}

void SophiaG::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const SophiaGOptions& o = options_[group];
  const SophiaScalars s{static_cast<float>(o.beta1),
                        static_cast<float>(1.0 - o.beta1),
                        static_cast<float>(o.rho * o.batch_size),
                        static_cast<float>(-o.learning_rate),
                        static_cast<float>(1.0 - o.learning_rate * o.weight_decay),
                        o.maximize};
  float* m = state.buffers.at("exp_avg").data();
  const float* h = state.buffers.at("hessian").data();
  if (param.device() == Device::cuda) {  // the same loop as a kernel: cuda/sophia.cu (the explain trace is cpu-only)
    param.cuda_backend().sophia_update(param.data(), grad.data(), m, h, param.numel(), s);
    return;
  }
  const bool trace = traced(param);
  const int64_t i = traced_index();
  float theta_before = trace ? param.data()[i] : 0.0f, m_before = trace ? m[i] : 0.0f;
  float* theta = param.data();
  const float* gradient = grad.data();
  parallel_for(param.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {  // the same loop, by chunks
    sophia_update(theta + begin, gradient + begin, m + begin, h + begin, end - begin, s);
  });
  if (!trace) return;
  // The trace reruns element i's math from its saved values (the same function, so the same bits).
  float theta_again = theta_before, m_again = m_before;
  float ratio = sophia_update_element(theta_again, grad.data()[i], m_again, h[i], s);
  explanation_ = {state.step,
                  {{"g", grad.data()[i] * (o.maximize ? -1.0 : 1.0)},
                   {"m_prev", m_before},
                   {"m", m[i]},
                   {"h", h[i]},
                   {"ratio", ratio},
                   {"clipped", ratio == 1.0f ? 1.0 : 0.0},
                   {"decay", static_cast<double>(theta_before) * s.decay - theta_before},
                   {"update", static_cast<double>(param.data()[i]) - theta_before}}};
}

}  // namespace moments
