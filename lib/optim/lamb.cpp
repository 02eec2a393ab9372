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

// Σ x² over the first n floats of a cpu tensor, in double, in fixed chunks added in chunk order (the
// bits do not depend on the thread count). (cuda tensors: sum(x * x) on the device, update_on_device.)
double sum_of_squares(const Tensor& x, int64_t n) {
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
  auto on_device = device_trust_.find(param.impl());
  if (on_device != device_trust_.end() && !trust_.count(param.impl())) {  // read back once, as the kernel formed it
    const float param_norm = std::sqrt(on_device->second.param_sq.item());
    const float update_norm = std::sqrt(on_device->second.update_sq.item());
    trust_[param.impl()] = {param_norm, update_norm, lamb_trust_ratio(param_norm, update_norm, on_device->second.applies)};
  }
  auto it = trust_.find(param.impl());
  if (it == trust_.end())
    fail("LAMB::trust_ratio: parameter (shape ", shape_str(param.shape()), ") has not been stepped by this optimizer");
  return it->second;
}

double Lamb::global_grad_norm() const {
  if (!norm_on_host_) {  // G² of the last step is on the device: read it back once
    const float norm = std::sqrt(grad_sq_.item());
    global_grad_norm_ = norm;
    clip_ = lamb_clip_divisor(norm, max_grad_norm_);
    norm_on_host_ = true;
  }
  return global_grad_norm_;
}

float Lamb::clip() const {
  global_grad_norm();
  return clip_;
}

Sharding Lamb::sharding() const {
  return std::isinf(options_.at(0).max_grad_norm) ? Sharding::tensors : Sharding::none;
}

void Lamb::begin_step() {
  // ‖g‖² over every gradient, groups in order, parameters in order (apex's list): the cpu's in double,
  // the cuda gradients' as a sum on the device (in float), which the kernels read there.
  double sum = 0.0;
  Tensor on_device;
  for (size_t g = 0; g < group_count(); ++g)
    for (const Tensor& param : params(g)) {
      const Tensor& grad = param.grad();
      if (!grad.defined()) continue;
      if (grad.device() == Device::cuda) {
        Tensor sq = moments::sum(grad * grad);
        on_device = on_device.defined() ? on_device + sq : sq;
      } else {
        sum += sum_of_squares(grad, param.numel());
      }
    }
  max_grad_norm_ = static_cast<float>(options_[0].max_grad_norm);  // group 0's (apex: the constructor's)
  host_grad_sq_ = sum;
  grad_sq_ = Tensor();
  if (on_device.defined()) {  // G stays on the device; the host reads it only if asked (or for a cpu tensor)
    if (sum != 0.0) on_device = on_device + Tensor::full(on_device.shape(), static_cast<float>(sum), Device::cuda);
    grad_sq_ = on_device;
    norm_on_host_ = false;
    return;
  }
  float norm = static_cast<float>(std::sqrt(sum));  // G, in float as apex's
  global_grad_norm_ = norm;
  clip_ = lamb_clip_divisor(norm, max_grad_norm_);  // c = G / max_grad_norm when G exceeds it
  norm_on_host_ = true;
}

// The same stages with every norm on the device: ‖θ‖², then stage 1 (c from G² in the kernel), ‖u‖²,
// then stage 2 (r and α r in the kernel). Nothing is copied to the host; trust() reads back when asked.
void Lamb::update_on_device(Tensor& param, const Tensor& grad, ParamState& state, const LambScalars& s, float lr,
                            bool applies) {
  if (!grad_sq_.defined())  // begin_step saw no cuda gradient (one set after it): G² as the host summed it
    grad_sq_ = Tensor::full({}, static_cast<float>(host_grad_sq_), Device::cuda);
  Tensor u = Tensor::empty(param.shape(), Device::cuda, "LAMB scratch");  // from the device cache
  Tensor param_sq = moments::sum(param * param);  // ‖θ_{t−1}‖², before stage 1 (as apex)
  LambDeviceNorms norms{grad_sq_.data(), max_grad_norm_, param_sq.data(), nullptr, lr, applies};
  cuda::Backend& backend = param.cuda_backend();
  backend.lamb_stage1(param.data(), grad.data(), state.buffers.at("exp_avg").data(),
                      state.buffers.at("exp_avg_sq").data(), u.data(), param.numel(), s, norms);
  Tensor update_sq = moments::sum(u * u);  // ‖u_t‖²
  norms.update_sq = update_sq.data();
  backend.lamb_stage2(param.data(), u.data(), param.numel(), norms);
  device_trust_[param.impl()] = {param_sq, update_sq, applies};
  trust_.erase(param.impl());  // the last step's, read back from the device again when asked
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
  s.adam_w_mode = o.adam_w_mode;
  const bool applies = o.use_nvlamb || o.weight_decay != 0.0;  // apex: the ratio only where λ ≠ 0, unless nvlamb
  const float lr = static_cast<float>(o.learning_rate);
  if (param.device() == Device::cuda) {  // the same stages as kernels there (cuda/lamb.cu), norms on the device
    s.clip = 1.0f;                       // unused there: the kernel forms c from G²
    return update_on_device(param, grad, state, s, lr, applies);
  }
  s.clip = clip();
  float* m = state.buffers.at("exp_avg").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  // The scratch u: one buffer of the largest numel, reused.
  if (!scratch_.defined() || scratch_.numel() < n) scratch_ = Tensor::empty({n}, Device::cpu, "LAMB scratch");
  float* theta = param.data();
  const float* gradient = grad.data();
  float* u = scratch_.data();  // (n,): u_t of this tensor, between the stages
  float theta_before = traced(param) ? theta[traced_index()] : 0.0f;
  float param_norm = norm_of(param, n);  // ‖θ_{t−1}‖ (apex takes it before stage 1 too; no graph: step() runs under NoGradGuard)
  // Stage 1: u ← the Adam direction (+ λθ); m, v updated.
  parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {  // by chunks, as adam.cpp
    lamb_stage1(theta + begin, gradient + begin, m + begin, v + begin, u + begin, end - begin, s);
  });
  // The trust ratio from the whole tensor's norms.
  float update_norm = norm_of(scratch_, n);
  float ratio = lamb_trust_ratio(param_norm, update_norm, applies);  // r
  float step = lr * ratio;                                           // lr · r, in float as apex's
  // Stage 2: θ ← θ − lr · r · u.
  parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {
    lamb_stage2(theta + begin, u + begin, end - begin, step);
  });
  trust_[param.impl()] = {param_norm, update_norm, ratio};
  device_trust_.erase(param.impl());
  if (!traced(param)) return;
  int64_t i = traced_index();
  explanation_ = {state.step,
                  {{"g", grad.data()[i]},
                   {"global_grad_norm", global_grad_norm_},
                   {"clip", s.clip},
                   {"g_clipped", grad.data()[i] / s.clip},
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
