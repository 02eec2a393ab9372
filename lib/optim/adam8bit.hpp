// optim/adam8bit.hpp — 8-bit Adam and AdamW: Adam's m and v stored block-wise in one byte each.
//
// T. Dettmers, M. Lewis, S. Shleifer, L. Zettlemoyer, "8-bit Optimizers via Block-wise Quantization",
// ICLR 2022, §2 (Algorithm: dequantize, update, quantize; block-wise dynamic quantization; stable
// embedding). Canonical code: bitsandbytes-foundation/bitsandbytes, bitsandbytes/optim/adam.py (Adam8bit),
// adamw.py (AdamW8bit), optim/optimizer.py (Optimizer2State), csrc/kernels.cu
// (kOptimizerStatic8bit2StateBlockwise<ADAM>, kOptimizer32bit2State<ADAM>).
//
//   per parameter of n ≥ min_8bit_size elements, in blocks b of 256:
//     state: codes c_m, c_v (1 byte per element), absmax a_m[b], a_v[b]     exp_avg_codes, exp_avg_absmax,
//                                                                           exp_avg_sq_codes, exp_avg_sq_absmax
//     t ← t + 1
//     m ← Q_m[c_m] · a_m[b],  v ← Q_v[c_v] · a_v[b]                          dequantize (Q: the dynamic maps)
//     m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²                         Adam's moments, in float32
//     a_m[b] ← max |m| over the block,  a_v[b] ← max |v|                    the new absmax
//     θ ← θ − α·√(1 − β2^t)/(1 − β1^t) · m / (√v + ε·√(1 − β2^t))            = θ − α m̂ / (√v̂ + ε)
//     AdamW8bit: θ ← θ (1 − αλ)                                             decoupled decay, AFTER the step
//     c_m ← nearest(Q_m, m / a_m[b]) (sign fixed),  c_v ← nearest(Q_v, v / a_v[b])   quantize for storage
//   parameters under min_8bit_size (4,096) elements keep float32 m, v (exp_avg, exp_avg_sq) and take the
//   32-bit kernel's step: the same lines without the quantization.
//
// Why it matters: Adam's state is 8 bytes per parameter; this is 2 + 2·4/256 = 2.03 (measured by
// state_bytes(): the codes, four to a float32 element, and one float per block per moment), while the step
// itself runs on float32 moments, so 8-bit Adam follows 32-bit Adam closely (tests/test_adam8bit.cpp).
//
// STABLE EMBEDDING (the paper's §2.3, bitsandbytes' nn.StableEmbedding): the rows of an embedding see rare,
// large gradients, and 8-bit state for them is what the paper found unstable. Its recipe: keep the
// embedding's optimizer state in 32 bits (keep_32bit(embedding.weight), as bitsandbytes'
// GlobalOptimManager.override_config(param, "optim_bits", 32)), initialise it with Xavier uniform and put a
// layer norm after it. Tensors under min_8bit_size (biases, norms' gains, small layers) keep 32 bits anyway.
//
// CONVENTIONS AND DEVIATIONS (from bitsandbytes and from the paper)
//   - Followed from the kernel: ε enters as ε·√(1 − β2^t) next to √v (not √v̂ + ε computed apart); the
//     parameter step uses the float32 m, v before they are quantized; a NaN or ∞ gradient element sets that
//     element's m and v to 0 and leaves its θ unchanged (8-bit path only; the 32-bit kernel has no check);
//     the sign fix (by sign bits: a negative m that rounds to +0 takes the smallest negative code instead, a
//     positive m may still round to +0); 1 − β1 and 1 − β2 in float (torch: in double); a partial last block's
//     padding (g = 0, m code 128) takes part in its absmax, as the kernel's 256-wide reduction does.
//   - AdamW8bit's weight_decay is bitsandbytes': θ ← θ(1 − αλ) after the Adam step, only when λ > 0
//     (torch.optim.AdamW, and moments' AdamW, decay before the step). Adam8bit's weight_decay is moments'
//     and PyTorch's L2 term, g ← g + λθ: bitsandbytes' Adam8bit decays decoupled, exactly like its AdamW8bit
//     (they share the kernel), but in moments "Adam's weight_decay" means L2 everywhere (STYLE.md, rule 2).
//   - β1^t and β2^t are computed in double from the float32 β and rounded (the kernels call __powf / powf);
//     m / a and the step are IEEE divisions (the 8-bit kernel uses __fdividef, an approximate division).
//   - A block whose new absmax is 0 stores the code of 0 (the kernel computes 0/0 and keeps the code of
//     the NaN: 0 or 255 by the NaN's sign; the value, code · 0, is 0 either way).
//   - Not provided: amsgrad (bitsandbytes refuses it too), percentile clipping (gnorm_scale), max_unorm,
//     skip_zeros, paged state, the 8-bit non-blockwise ("static") variant, maximize.
//   - min_8bit_size is a per-group option here (bitsandbytes: one per optimizer); the 8- or 32-bit choice is
//     made once per parameter, at its first step, and kept (a later change affects new state only).
//   - Per-parameter step counts t (bitsandbytes: the same, state["step"] per parameter).
//   - STORAGE: moments tensors are float32 only (DESIGN.md), so the uint8 codes are packed four to a float32
//     element of a (⌈n/4⌉,) tensor: code i is byte i of its storage (quantization_math.hpp). Honest memory:
//     the allocation is n bytes (rounded up to 4), which state_bytes() counts like any buffer; a byte dtype
//     would have touched every op for one optimizer. Nothing does arithmetic on these floats: clone(),
//     state_dict and safetensors checkpoints copy bytes, so they round-trip bit for bit (tested), NaN-looking
//     patterns included. Reading the codes as numbers is meaningless (the Monitor's per-buffer |x|
//     statistics of the *_codes buffers are of bit patterns; the *_absmax buffers' are real); moment()
//     gives the dequantized m or v.
#pragma once
#include <set>

#include "optimizer.hpp"
#include "quantization.hpp"

namespace moments {

struct Adam8bitOptions {
  double learning_rate = 1e-3;   // α
  double beta1 = 0.9;            // β1, first-moment decay
  double beta2 = 0.999;          // β2, second-moment decay
  double eps = 1e-8;             // ε, next to √v̂
  double weight_decay = 0.0;     // λ, as L2 on the gradient (see the deviations)
  double min_8bit_size = 4096;   // parameters with fewer elements keep float32 state
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("min_8bit_size", min_8bit_size);
  }
};

// The same fields; weight_decay is decoupled, after the step, with bitsandbytes' default.
struct AdamW8bitOptions {
  double learning_rate = 1e-3;   // α
  double beta1 = 0.9;            // β1
  double beta2 = 0.999;          // β2
  double eps = 1e-8;             // ε
  double weight_decay = 1e-2;    // λ: θ ← θ(1 − αλ) after the Adam step
  double min_8bit_size = 4096;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("min_8bit_size", min_8bit_size);
  }
};

// What Adam8bit and AdamW8bit share; `decoupled` picks the decay line.
template <class Options, bool decoupled>
class Adam8bitFamily : public OptimizerWith<Options> {
 public:
  // Keep `param`'s state in float32 whatever its size (the stable-embedding recipe). Before its first step.
  void keep_32bit(const Tensor& param);
  // Whether `param`'s state is 8-bit (false before its first step).
  bool is_8bit(const Tensor& param) const;
  // m or v ("exp_avg" / "exp_avg_sq") of `param` as float32 values of its shape: dequantized when 8-bit.
  Tensor moment(const Tensor& param, const std::string& which) const;

 protected:
  void validate(const Options& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;

 private:
  std::set<const TensorImpl*> keep_32bit_;
};

class Adam8bit : public Adam8bitFamily<Adam8bitOptions, false> {
 public:
  explicit Adam8bit(const std::vector<Tensor>& params, Adam8bitOptions options = {});
  std::string name() const override { return "Adam8bit"; }
};

class AdamW8bit : public Adam8bitFamily<AdamW8bitOptions, true> {
 public:
  explicit AdamW8bit(const std::vector<Tensor>& params, AdamW8bitOptions options = {});
  std::string name() const override { return "AdamW8bit"; }
};

}  // namespace moments
