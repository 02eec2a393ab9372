// optim/lamb.hpp — LAMB: Adam's direction, rescaled per tensor by the trust ratio ‖θ‖/‖u‖.
//
// Y. You, J. Li, S. Reddi, J. Hseu, S. Kumar, S. Bhojanapalli, X. Song, J. Demmel, K. Keutzer,
// C.-J. Hsieh, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes", ICLR 2020
// (arXiv:1904.00962, 2019), Algorithm 2; in the form NVIDIA apex's FusedLAMB computes it
// (apex/optimizers/fused_lamb.py, csrc/multi_tensor_lamb.cu, norms by csrc/multi_tensor_l2norm_kernel.cu):
//
//   m_0 ← 0, v_0 ← 0, t ← 0                                     exp_avg, exp_avg_sq
//   loop:
//     t ← t + 1
//     g_t ← ∇f(θ_{t−1});  G ← ‖(g over every parameter of every group)‖₂      global gradient norm
//     c ← G / max_grad_norm if G > max_grad_norm, else 1;  g_t ← g_t / c        global clipping
//     for each tensor θ (layer) of the model:
//       (L2 mode: g_t ← g_t + λθ_{t−1})
//       m_t ← β1 m_{t−1} + β3 g_t                    β3 = 1 − β1 (grad_averaging) or 1
//       v_t ← β2 v_{t−1} + (1 − β2) g_t²
//       u_t ← m̂_t / (√v̂_t + ε) (+ λθ_{t−1} in adam_w_mode)     m̂, v̂ bias-corrected     stage 1
//       r ← ‖θ_{t−1}‖ / ‖u_t‖    (1 when either norm is 0)                                 the trust ratio
//       θ_t ← θ_{t−1} − α r u_t                                                           stage 2
//
// Why it matters: Adam's step has the same size, about α per element, in every layer, whatever the
// layer's scale. LAMB makes the step of each tensor a fixed fraction α of the tensor's own norm
// (‖α r u‖ = α‖θ‖), which is what let BERT train at batch 32K without the learning rate blowing up
// the small layers. The ratio of each tensor is readable after a step (trust_ratio) for plotting.
//
// CONVENTIONS AND DEVIATIONS
//   From the paper (all as apex does):
//   - φ(z) = z: the scaling function of the paper is the identity; no clipping of the ratio to
//     [γ_l, γ_u].
//   - Bias correction of m and v, option bias_correction (on, as in apex); the versions of the paper
//     differ on it, so it is listed here (we did not check each version's Algorithm 2).
//   - ε is added to √v̂ outside the root (the paper writes m/(√v + ε) too); default 1e-6.
//   - Global gradient-norm clipping before anything else: g ← g / c with c = ‖g‖/max_grad_norm only when
//     ‖g‖ > max_grad_norm (the paper has none). It divides by c (apex's form), not multiplies by
//     max_grad_norm/‖g‖; no +1e-6 as in torch.nn.utils.clip_grad_norm_.
//   - Decay: adam_w_mode (default) adds λθ to the update u, so it passes through the trust ratio (the
//     paper's form); adam_w_mode = false adds λθ to the clipped gradient (L2), through m and v.
//   - The trust ratio applies only when λ ≠ 0 or use_nvlamb: with λ = 0 and use_nvlamb = false the
//     tensor takes a plain Adam step of size α (apex's default, meant for biases and norms).
//   - grad_averaging = false uses β3 = 1 in m (the momentum form).
//   From apex's code:
//   - apex writes u into .grad in place; we write it into a scratch buffer (the gradient survives the
//     step). The scratch is one float per element of the largest parameter on the cpu, reused; on cuda
//     one tensor of the parameter's size per update, freed after it. It is not state: state_bytes()
//     counts exp_avg and exp_avg_sq only (8 bytes per element); scratch_bytes() tells the cpu buffer.
//   - Norms: apex sums x² in float, in the kernels' order. On the cpu we sum in double, each tensor in
//     fixed chunks (parallel_reduce; within a chunk 8 interleaved partial sums) added in chunk order, and
//     round the norm to float; the global sum
//     adds the tensors' double sums in group order, then parameter order (apex's list order), before
//     the root. On cuda the norms go through Tensor ops (sum of u·u, float, the reduce kernel's order;
//     G² adds the tensors' sums in float, in the same order), so cuda and cpu agree to rounding, not bit
//     for bit (the element-wise stages are the same math). They stay on the device as sums of squares
//     (lamb_math.hpp: LambDeviceNorms) and the kernels form c, the ratio and α r from them, as apex's
//     stage 2 reads its norms from device memory; global_grad_norm() and trust() copy them back only
//     when called.
//   - apex's max_grad_norm is the constructor's value (self.defaults) for all groups; ours is group 0's
//     (the constructor's, unless changed by set_hyperparameter). Other groups' values are ignored.
//   - adam_w_mode and use_nvlamb are optimizer-wide in apex; here they are per group options.
//   - Step counts are per parameter (apex keeps one per group; they differ only when a parameter misses
//     a gradient). The norms are of parameters with a gradient, as in apex.
//   - amsgrad is refused, as apex does; validation (apex has none) is ours: lr, ε, λ ≥ 0, β in [0, 1),
//     max_grad_norm > 0 (infinity switches clipping off); NaN never passes.
//   - Defaults are apex's: lr 1e-3, betas (0.9, 0.999), ε 1e-6, λ 0.01, max_grad_norm 1.0, bias
//     correction, adam_w_mode, grad_averaging on, use_nvlamb off.
#pragma once
#include <unordered_map>

#include "optimizer.hpp"

namespace moments {

struct LambScalars;  // lamb_math.hpp

struct LambOptions {
  double learning_rate = 1e-3;  // α
  double beta1 = 0.9;           // β1, first-moment decay
  double beta2 = 0.999;         // β2, second-moment decay
  double eps = 1e-6;            // ε, added to √v̂
  double weight_decay = 0.01;   // λ: in the update (adam_w_mode) or as L2 on the gradient
  bool bias_correction = true;  // divide m, v by 1 − β^t
  bool adam_w_mode = true;      // decoupled decay (λθ in u) or L2 (λθ in g)
  bool grad_averaging = true;   // β3 = 1 − β1, else 1
  double max_grad_norm = 1.0;   // global clipping threshold (group 0's is used for all)
  bool use_nvlamb = false;      // apply the trust ratio even where λ = 0
  bool amsgrad = false;         // refused (apex: "FusedLAMB does not support the AMSGrad variant")
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("eps", eps);
    f("weight_decay", weight_decay), f("bias_correction", bias_correction), f("adam_w_mode", adam_w_mode);
    f("grad_averaging", grad_averaging), f("max_grad_norm", max_grad_norm), f("use_nvlamb", use_nvlamb);
    f("amsgrad", amsgrad);
  }
};

// What the last step did to one tensor (for plots of the ratio across layers).
struct LambTrust {
  double param_norm = 0;   // ‖θ_{t−1}‖ (float, as the kernel used it)
  double update_norm = 0;  // ‖u_t‖
  double ratio = 1;        // the trust ratio applied: ‖θ‖/‖u‖, or 1 (a zero norm, or λ = 0 without nvlamb)
};

class Lamb : public OptimizerWith<LambOptions> {
 public:
  explicit Lamb(const std::vector<Tensor>& params, LambOptions options = {});
  std::string name() const override { return "LAMB"; }
  // tensors when clipping is off (max_grad_norm = inf), else none: the clipping divisor needs every gradient.
  Sharding sharding() const override;

  // The last step's global gradient norm G (before clipping; 0 before the first step). On cuda G stays
  // on the device through the step; asking for it here copies it back once.
  double global_grad_norm() const;
  // The last step's trust ratio of `param` (throws if it has not been stepped).
  double trust_ratio(const Tensor& param) const { return trust(param).ratio; }
  const LambTrust& trust(const Tensor& param) const;  // on cuda: copied back from the device when asked
  // Bytes of the cpu scratch buffer holding u between the stages (not state).
  int64_t scratch_bytes() const { return scratch_.defined() ? scratch_.numel() * 4 : 0; }

 protected:
  void validate(const LambOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void begin_step() override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;

 private:
  // The cuda path: every norm a (1,) sum of squares on the device (lamb_math.hpp: LambDeviceNorms).
  struct DeviceTrust {
    Tensor param_sq, update_sq;  // ‖θ_{t−1}‖², ‖u_t‖²
    bool applies;
  };
  void update_on_device(Tensor& param, const Tensor& grad, ParamState& state, const LambScalars& s, float lr,
                        bool applies);
  float clip() const;  // c of this step (on the host; copies G² back once if it is on the device)

  mutable double global_grad_norm_ = 0;
  mutable float clip_ = 1.0f;         // c of this step
  mutable bool norm_on_host_ = true;  // false while G and c of this step are only on the device
  Tensor grad_sq_;                    // G² of this step on the device (when any gradient is on cuda)
  double host_grad_sq_ = 0;           // the cpu gradients' part of G²
  float max_grad_norm_ = 0;           // group 0's, in float (apex: the constructor's)
  Tensor scratch_;             // (largest numel,) on the cpu: u between the stages
  mutable std::unordered_map<const TensorImpl*, LambTrust> trust_;
  std::unordered_map<const TensorImpl*, DeviceTrust> device_trust_;  // not yet read back into trust_
};

}  // namespace moments
