// optim/lamb.cpp — LAMB's state, validation and step (math in lamb_math.hpp, algorithm box in lamb.hpp).
// A step: begin_step() takes the global gradient norm G and the clipping divisor c; then, per tensor,
// update() runs stage 1 into the scratch buffer u, takes ‖θ‖ and ‖u‖, and runs stage 2.
#include "lamb.hpp"

#include <cmath>

#include "backend.hpp"
#include "lamb_math.hpp"
#include "ops.hpp"
#include "parallel.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n,
                                    const LambScalars& scalars) {
  const LambScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) lamb_stage1_element(theta[i], grad[i], m[i], v[i], u[i], s);
}

MOMENTS_CPU_CLONES void lamb_stage2(float* theta, const float* u, int64_t n, float step) {
  for (int64_t i = 0; i < n; ++i) lamb_stage2_element(theta[i], u[i], step);
}

// Σ x² of n floats in double, in 8 interleaved partial sums (lane k takes elements k, k + 8, ...; the
// tail goes to lane 0), added lane by lane at the end: a fixed order, and one the compiler can vectorize
// (a single running sum is a chain of dependent adds, about 8 times slower here).
MOMENTS_CPU_CLONES double lamb_sum_of_squares(const float* x, int64_t n) {
  double lanes[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lanes[k] += static_cast<double>(x[i + k]) * x[i + k];
  for (; i < n; ++i) lanes[0] += static_cast<double>(x[i]) * x[i];
  double s = 0.0;
  for (double lane : lanes) s += lane;
  return s;
}

namespace {

// Σ x² over the first n floats of x: on the cpu in double, in fixed chunks added in chunk order (the bits
// do not depend on the thread count); on cuda by the Tensor ops' kernels, in float.
double sum_of_squares(const Tensor& x, int64_t n) {
  if (x.device() == Device::cuda) return static_cast<double>(sum(x * x).item());  // x holds exactly n there
  const float* data = x.data();
  return parallel_reduce(
      n, kElementsPerChunk, 0.0, [&](int64_t begin, int64_t end) { return lamb_sum_of_squares(data + begin, end - begin); },
      [](double a, double b) { return a + b; });
}

// ‖x‖ rounded to float, as apex's norm kernels hand it on.
float norm_of(const Tensor& x, int64_t n) { return static_cast<float>(std::sqrt(sum_of_squares(x, n))); }

}  // namespace

Lamb::Lamb(const std::vector<Tensor>& params, LambOptions options) { add_param_group(params, options); }

void Lamb::validate(const LambOptions& o) const {
  if (o.amsgrad) fail("LAMB: invalid amsgrad 1 (LAMB does not support the AMSGrad variant, as apex's FusedLAMB)");
  check_at_least("LAMB", "learning_rate", o.learning_rate, 0.0);
  check_at_least("LAMB", "eps", o.eps, 0.0);
  check_in_unit_interval("LAMB", "beta1", o.beta1);
  check_in_unit_interval("LAMB", "beta2", o.beta2);
  check_at_least("LAMB", "weight_decay", o.weight_decay, 0.0);
  if (!(o.max_grad_norm > 0.0))
    fail("LAMB: invalid max_grad_norm ", o.max_grad_norm, " (must be > 0; infinity switches clipping off)");
}

void Lamb::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());     // m_0 ← 0
  state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // v_0 ← 0
}

const LambTrust& Lamb::trust(const Tensor& param) const {
  auto it = trust_.find(param.impl());
  if (it == trust_.end())
    fail("LAMB::trust_ratio: parameter (shape ", shape_str(param.shape()), ") has not been stepped by this optimizer");
  return it->second;
}

Sharding Lamb::sharding() const {
  return std::isinf(options_.at(0).max_grad_norm) ? Sharding::tensors : Sharding::none;
}

void Lamb::begin_step() {
  double sum = 0.0;  // ‖g‖² over every gradient, groups in order, parameters in order (apex's list)
  for (size_t g = 0; g < group_count(); ++g)
    for (const Tensor& param : params(g))
      if (param.grad().defined()) sum += sum_of_squares(param.grad(), param.numel());
  float norm = static_cast<float>(std::sqrt(sum));                     // G, in float as apex's
  float max_norm = static_cast<float>(options_[0].max_grad_norm);      // group 0's (apex: the constructor's)
  global_grad_norm_ = norm;
  clip_ = norm > max_norm ? norm / max_norm : 1.0f;                    // c = G / max_grad_norm when G exceeds it
}

void Lamb::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const LambOptions& o = options_[group];
  const int64_t n = param.numel();
  // The per-step scalars as apex's host code forms them: the betas as floats, their powers in double.
  const float beta1 = static_cast<float>(o.beta1), beta2 = static_cast<float>(o.beta2);
  const double t = static_cast<double>(state.step);
  LambScalars s{};
  s.beta1 = beta1;
  s.beta2 = beta2;
  s.beta3 = o.grad_averaging ? 1.0f - beta1 : 1.0f;
  s.one_minus_beta2 = 1.0f - beta2;
  s.bias_correction1 = o.bias_correction ? static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), t)) : 1.0f;
  s.bias_correction2 = o.bias_correction ? static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), t)) : 1.0f;
  s.eps = static_cast<float>(o.eps);
  s.decay = static_cast<float>(o.weight_decay);
  s.clip = clip_;
  s.adam_w_mode = o.adam_w_mode;
  float* m = state.buffers.at("exp_avg").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  const bool applies = o.use_nvlamb || o.weight_decay != 0.0;  // apex: the ratio only where λ ≠ 0, unless nvlamb
  const bool on_cuda = param.device() == Device::cuda;  // the same stages as kernels there: cuda/lamb.cu
  // The scratch u: on the cpu one buffer of the largest numel, reused; on cuda a tensor of this one's, freed after.
  Tensor scratch = on_cuda ? Tensor::empty(param.shape(), Device::cuda, "LAMB scratch") : scratch_;
  if (!on_cuda && (!scratch.defined() || scratch.numel() < n)) scratch_ = scratch = Tensor::empty({n}, Device::cpu, "LAMB scratch");
  float* theta = param.data();
  const float* gradient = grad.data();
  float* u = scratch.data();  // (n,): u_t of this tensor, between the stages
  float theta_before = traced(param) && !on_cuda ? theta[traced_index()] : 0.0f;
  float param_norm = norm_of(param, n);  // ‖θ_{t−1}‖ (apex takes it before stage 1 too; no graph: step() runs under NoGradGuard)
  // Stage 1: u ← the Adam direction (+ λθ); m, v updated.
  if (on_cuda) {
    param.cuda_backend().lamb_stage1(theta, gradient, m, v, u, n, s);
  } else {
    parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {  // by chunks, as adam.cpp
      lamb_stage1(theta + begin, gradient + begin, m + begin, v + begin, u + begin, end - begin, s);
    });
  }
  // The trust ratio from the whole tensor's norms.
  float update_norm = norm_of(scratch, n);
  float ratio = lamb_trust_ratio(param_norm, update_norm, applies);  // r
  float step = static_cast<float>(o.learning_rate) * ratio;          // lr · r, in float as apex's
  // Stage 2: θ ← θ − lr · r · u.
  if (on_cuda) {
    param.cuda_backend().lamb_stage2(theta, u, n, step);
  } else {
    parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {
      lamb_stage2(theta + begin, u + begin, end - begin, step);
    });
  }
  trust_[param.impl()] = {param_norm, update_norm, ratio};
  if (on_cuda) return;  // the explain trace is cpu-only
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i]},
                   {"global_grad_norm", global_grad_norm_},
                   {"clip", clip_},
                   {"g_clipped", grad.data()[i] / clip_},
                   {"m", m[i]},
                   {"v", v[i]},
                   {"u", u[i]},
                   {"param_norm", param_norm},
                   {"update_norm", update_norm},
                   {"trust_ratio", ratio},
                   {"step_size", step},
                   {"update", static_cast<double>(theta[i]) - theta_before}}};
}

}  // namespace moments
