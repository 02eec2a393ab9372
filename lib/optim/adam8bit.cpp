// optim/adam8bit.cpp — 8-bit Adam and AdamW: state, validation and the step. The per-element math is in
// adam8bit_math.hpp, the algorithm box and the deviations in adam8bit.hpp, the CUDA kernel in cuda/adam8bit.cu.
#include "adam8bit.hpp"

#include <algorithm>
#include <cmath>

#include "adam8bit_math.hpp"
#include "backend.hpp"
#include "parallel.hpp"
#include "validate.hpp"

namespace moments {

// The readable loop: block after block, each one the kernel's four parts (adam8bit_update_block).
MOMENTS_CPU_CLONES void adam8bit_update(float* theta, const float* grad, uint8_t* c_m, uint8_t* c_v, float* absmax_m,
                                        float* absmax_v, int64_t n, const Adam8bitMaps& maps,
                                        const Adam8bitScalars& scalars) {
  const Adam8bitScalars s = scalars;
  float m_t[kQuantizationBlock], v_t[kQuantizationBlock];  // the block's float32 moments between the parts
  bool finite[kQuantizationBlock];
  const NearestCodeTable& round_m = nearest_code_table(true);  // the look-up rounder: the kernels' answer, faster
  const NearestCodeTable& round_v = nearest_code_table(false);
  for (int64_t begin = 0, b = 0; begin < n; begin += kQuantizationBlock, ++b) {
    int64_t count = std::min<int64_t>(kQuantizationBlock, n - begin);
    adam8bit_update_block(theta + begin, grad + begin, c_m + begin, c_v + begin, absmax_m[b], absmax_v[b], count, maps,
                          round_m, round_v, s, m_t, v_t, finite);
  }
}

MOMENTS_CPU_CLONES void adam32bit_update(float* theta, const float* grad, float* m, float* v, int64_t n,
                                         const Adam8bitScalars& scalars) {
  const Adam8bitScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) adam32bit_update_element(theta[i], grad[i], m[i], v[i], s);
}

namespace {

const Adam8bitMaps& adam8bit_maps() {
  static const Adam8bitMaps maps{dynamic_map(true), dynamic_map(false)};
  return maps;
}

// The step's scalars as the kernels compute them from their float arguments (t ≥ 1).
template <class Options>
Adam8bitScalars adam8bit_scalars(const Options& o, bool decoupled, int64_t t) {
  const float lr = static_cast<float>(o.learning_rate), beta1 = static_cast<float>(o.beta1);
  const float beta2 = static_cast<float>(o.beta2), eps = static_cast<float>(o.eps);
  const float weight_decay = static_cast<float>(o.weight_decay);
  const float correction1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta1), static_cast<double>(t)));
  const float correction2 = sqrtf(1.0f - static_cast<float>(std::pow(static_cast<double>(beta2), static_cast<double>(t))));
  Adam8bitScalars s{};
  s.beta1 = beta1;
  s.one_minus_beta1 = 1.0f - beta1;
  s.beta2 = beta2;
  s.one_minus_beta2 = 1.0f - beta2;
  s.step_size = (-lr * correction2) / correction1;  // −α √(1 − β2^t) / (1 − β1^t)
  s.eps_c2 = correction2 * eps;                     // ε √(1 − β2^t)
  s.l2 = decoupled ? 0.0f : weight_decay;
  s.decay_after = decoupled && weight_decay > 0.0f;
  s.decay = 1.0f - lr * weight_decay;
  return s;
}

}  // namespace

template <class Options, bool decoupled>
void Adam8bitFamily<Options, decoupled>::validate(const Options& o) const {
  const std::string who = this->name();
  check_at_least(who.c_str(), "learning_rate", o.learning_rate, 0.0);
  check_at_least(who.c_str(), "eps", o.eps, 0.0);
  check_in_unit_interval(who.c_str(), "beta1", o.beta1);
  check_in_unit_interval(who.c_str(), "beta2", o.beta2);
  check_at_least(who.c_str(), "weight_decay", o.weight_decay, 0.0);
  check_at_least(who.c_str(), "min_8bit_size", o.min_8bit_size, 0.0);
  if (!(o.min_8bit_size == std::floor(o.min_8bit_size)))
    fail(who, ": invalid min_8bit_size ", o.min_8bit_size, " (must be a whole number of elements)");
}

template <class Options, bool decoupled>
void Adam8bitFamily<Options, decoupled>::keep_32bit(const Tensor& param) {
  bool known = false;
  for (const Tensor& p : this->all_params()) known = known || p.impl() == param.impl();
  if (!known) fail(this->name(), "::keep_32bit: the tensor is not one of this optimizer's parameters");
  if (this->state(param))
    fail(this->name(), "::keep_32bit: the parameter (shape ", shape_str(param.shape()),
         ") already has state; call keep_32bit before its first step");
  keep_32bit_.insert(param.impl());
}

template <class Options, bool decoupled>
bool Adam8bitFamily<Options, decoupled>::is_8bit(const Tensor& param) const {
  const ParamState* s = this->state(param);
  return s && s->buffers.count("exp_avg_codes");
}

template <class Options, bool decoupled>
Tensor Adam8bitFamily<Options, decoupled>::moment(const Tensor& param, const std::string& which) const {
  const ParamState* s = this->state(param);
  if (!s) fail(this->name(), "::moment: the parameter has no state yet (before its first step)");
  if (which != "exp_avg" && which != "exp_avg_sq")
    fail(this->name(), "::moment: no moment named '", which, "' (expected exp_avg or exp_avg_sq)");
  if (!is_8bit(param)) return s->buffers.at(which).clone();
  QuantizedTensor q{param.shape(), s->buffers.at(which + "_codes"), s->buffers.at(which + "_absmax"),
                    kQuantizationBlock, which == "exp_avg"};
  return dequantize_blockwise(q);
}

template <class Options, bool decoupled>
void Adam8bitFamily<Options, decoupled>::init_state(const Tensor& param, ParamState& state, size_t group) const {
  const int64_t n = param.numel();
  const bool eight_bit = static_cast<double>(n) >= this->options_[group].min_8bit_size && !keep_32bit_.count(param.impl());
  if (!eight_bit) {
    state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());     // m_0 ← 0
    state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // v_0 ← 0
    return;
  }
  // Codes 0 and absmax 0, as bitsandbytes' zeros: every value dequantizes to Q[0] · 0 = 0.
  for (const char* moment : {"exp_avg", "exp_avg_sq"}) {
    state.buffers[std::string(moment) + "_codes"] = Tensor::zeros({packed_code_floats(n)}, param.device());
    state.buffers[std::string(moment) + "_absmax"] = Tensor::zeros({block_count(n, kQuantizationBlock)}, param.device());
  }
}

template <class Options, bool decoupled>
void Adam8bitFamily<Options, decoupled>::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const Adam8bitScalars s = adam8bit_scalars(this->options_[group], decoupled, state.step);
  const int64_t n = param.numel();
  float* theta = param.data();
  const float* g = grad.data();
  const bool traced = this->traced(param);
  const int64_t index = this->traced_index();
  const float theta_before = traced && param.device() == Device::cpu ? theta[index] : 0.0f;
  // Names longer than the short-string buffer, built once (a step allocates nothing).
  static const std::string codes_m_name = "exp_avg_codes", codes_v_name = "exp_avg_sq_codes";
  static const std::string absmax_m_name = "exp_avg_absmax", absmax_v_name = "exp_avg_sq_absmax";
  if (!state.buffers.count(codes_m_name)) {  // the 32-bit path: tensors under min_8bit_size, or kept
    float* m = state.buffers.at("exp_avg").data();
    float* v = state.buffers.at("exp_avg_sq").data();
    if (param.device() == Device::cuda) {
      param.cuda_backend().adam32bit_update(theta, g, m, v, n, s);
      return;
    }
    parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {
      adam32bit_update(theta + begin, g + begin, m + begin, v + begin, end - begin, s);
    });
  } else {
    float* codes_m = state.buffers.at(codes_m_name).data();
    float* codes_v = state.buffers.at(codes_v_name).data();
    float* absmax_m = state.buffers.at(absmax_m_name).data();
    float* absmax_v = state.buffers.at(absmax_v_name).data();
    if (param.device() == Device::cuda) {
      param.cuda_backend().adam8bit_update(theta, g, codes_m, codes_v, absmax_m, absmax_v, n, adam8bit_maps(), s);
      return;
    }
    uint8_t* c_m = code_bytes(codes_m);
    uint8_t* c_v = code_bytes(codes_v);
    constexpr int64_t kBlocksPerChunk = kElementsPerChunk / kQuantizationBlock;  // chunks never cut a block
    parallel_for(block_count(n, kQuantizationBlock), kBlocksPerChunk, [&](int64_t first, int64_t last) {
      int64_t begin = first * kQuantizationBlock, end = std::min(n, last * kQuantizationBlock);
      adam8bit_update(theta + begin, g + begin, c_m + begin, c_v + begin, absmax_m + first, absmax_v + first,
                      end - begin, adam8bit_maps(), s);
    });
  }
  if (!traced) return;
  // The trace: the gradient, the stored (dequantized) moments after the step, the step factor and the change.
  double m_i = 0, v_i = 0;
  if (state.buffers.count("exp_avg")) {
    m_i = state.buffers.at("exp_avg").data()[index];
    v_i = state.buffers.at("exp_avg_sq").data()[index];
  } else {
    const int64_t b = index / kQuantizationBlock;
    m_i = dequantize_code(adam8bit_maps().m, code_at(state.buffers.at("exp_avg_codes"), index),
                          state.buffers.at("exp_avg_absmax").data()[b]);
    v_i = dequantize_code(adam8bit_maps().v, code_at(state.buffers.at("exp_avg_sq_codes"), index),
                          state.buffers.at("exp_avg_sq_absmax").data()[b]);
  }
  this->explanation_ = {state.step,
                        {{"g", g[index]},
                         {"m", m_i},
                         {"v", v_i},
                         {"step_size", s.step_size},
                         {"update", static_cast<double>(theta[index]) - theta_before}}};
}

template class Adam8bitFamily<Adam8bitOptions, false>;
template class Adam8bitFamily<AdamW8bitOptions, true>;

Adam8bit::Adam8bit(const std::vector<Tensor>& params, Adam8bitOptions options) { add_param_group(params, options); }
AdamW8bit::AdamW8bit(const std::vector<Tensor>& params, AdamW8bitOptions options) { add_param_group(params, options); }

}  // namespace moments
