// optim/muon.hpp — Muon: momentum, orthogonalised by Newton–Schulz, for 2-D weights;
// with PyTorch's semantics (torch.optim.Muon, PyTorch 2.9) by default and Keller
// Jordan's muon.py as the other dialect. Also: split_muon_params, which sorts a
// model's parameters into the Muon and AdamW groups, and MuonWithAuxAdamW, one
// optimizer stepping both (so one checkpoint holds both).
//
// K. Jordan, Y. Jin, V. Boza, J. You, F. Cesista, L. Newhouse, J. Bernstein, "Muon: An
// optimizer for hidden layers in neural networks", 2024 (kellerjordan.github.io/posts/muon/).
// Canonical code: pytorch/pytorch torch/optim/_muon.py (_single_tensor_muon,
// _zeropower_via_newtonschulz, _adjust_lr); KellerJordan/Muon muon.py (muon_update,
// zeropower_via_newtonschulz5, SingleDeviceMuon).
//
//   for a matrix θ (n × m), t = 1, 2, ...                  in muon.cpp
//   ----------------------------------------------------  ------------------------------------------
//   G_t = ∇f(θ_{t−1})                                      the .grad
//   B_t = μ B_{t−1} + (1 − μ) G_t                          momentum_buffer: lerp(B, G, 1 − μ)
//   B̃_t = (1 − μ) G_t + μ B_t   (nesterov; else B_t)       lerp(G, B, μ)
//   X_0 = B̃_t / max(‖B̃_t‖_F, ε)   (transposed if n > m)    newton_schulz()
//   X_k = a X + (b A + c A²) X,  A = X Xᵀ,  k = 1..5        (a, b, c) = (3.4445, −4.7750, 2.0315)
//   O_t = X_5 (transposed back)                            ≈ U S' Vᵀ with S' in [0.68, 1.13] (THE BAND)
//   θ_t = θ_{t−1} (1 − γλ) − γ' O_t                        γ' = γ √max(1, n/m)   ("original")
//                                                          γ' = 0.2 γ √max(n, m)  ("match_rms_adamw")
// The post (and PyTorch's docstring) write B_t = μ B_{t−1} + G_t and B̃_t = G_t + μ B_t; both codes
// compute (1 − μ) times these (lerp), a factor that the normalisation of X_0 removes (up to ε).
//
// Why it matters: for G = U S Vᵀ, O ≈ U Vᵀ: every direction the gradient moves in gets a
// step of about the same size, whatever its singular value; the step's spectral norm is
// about γ whatever the gradient's scale (tested). Five matrix products per step instead of
// Adam's second moment: one buffer (4 bytes per parameter).
//
// THE BAND. p(x) = a x + b x³ + c x⁵ acts on each singular value of X_0 (in (0, 1], since
// ‖X_0‖_2 ≤ ‖X_0‖_F = 1). Its local maximum is at x² = 0.3075 (p = 1.2023), its local minimum
// at x² = 1.1028 (x = 1.0501, p = L = 0.6818); p maps [L, p(L)] = [0.6818, 1.1344] into itself,
// so a singular value once there stays there. From small x it grows by about a = 3.44 a
// step: after 5 steps every singular value with σ/‖B̃‖_F ≥ 0.0052 lies in [0.6818, 1.1344]
// (tests/test_muon.cpp derives the numbers from (a, b, c) and checks them with Eigen's SVD).
//
// CONVENTIONS AND DEVIATIONS
//   - float32 throughout: both codes run Newton–Schulz in bfloat16 (8 bits of mantissa);
//     ours has 24, so O's singular values land within 2e-5 of p⁵(σ/‖B̃‖_F) (tested), where bf16's
//     rounding (4e-3 relative per operation) scatters them; and a step costs fp32 matmul time.
//   - Only 2-D parameters (both codes: PyTorch raises ValueError, Keller Jordan's reshapes
//     4-D conv filters to 2-D; we refuse anything but 2-D, naming the shape).
//   - A parameter without a gradient is skipped (PyTorch); Keller Jordan's code gives it a
//     zero gradient and steps it (its momentum and decay then still move it).
//   - Keller Jordan's `grad.lerp_(momentum, beta)` overwrites .grad with the Nesterov update;
//     we leave .grad alone (the same update, computed into a scratch tensor).
//   - No `use_addmm` (PyTorch's default, False, is what we compute: b A + (c A) A, then a X + B X;
//     addmm's b A + c (A A) rounds differently). Matmul sums in Eigen's order (cuda: the matmul
//     kernels'), not torch's BLAS: results agree to float rounding, not bit for bit.
//   - ‖X‖_F is summed in float by the Tensor sum (torch: its own float reduction order).
//   - Validation (PyTorch's): learning_rate, momentum, weight_decay >= 0; ns_steps < 100;
//     adjust_lr one of the two (here the bool match_rms_adamw). Ours besides: NaN refused,
//     eps >= 0, ns_steps an integer >= 0, finite coefficients. nesterov with momentum 0 is allowed
//     (as in PyTorch): it is then orthogonalised gradient descent.
//   - explain() traces g, B, B̃, O and the step of one element (Muon is not element-wise: O mixes them).
//   Keller Jordan's dialect (MuonOptions::keller_jordan_defaults()) differs from PyTorch's in:
//   - defaults γ = 0.02, λ = 0 (PyTorch: 1e-3, 0.1); μ = 0.95 in both; nesterov is always on in
//     muon.py (muon_update's default, which its classes do not expose), an option here as in PyTorch;
//   - X_0 = B̃ / (‖B̃‖_F + 1e-7) (PyTorch: / max(‖B̃‖_F, ε));
//   - the shape scale is applied to O (rounded to float) and then γ: θ ← θ − γ (O √max(1, n/m));
//     PyTorch folds it into one γ' = γ √max(1, n/m). Same value, one rounding apart.
//     match_rms_adamw is PyTorch's only and is refused in this dialect;
//   - no validation in the code (we validate as for PyTorch's);
//   - the decay uses the unadjusted γ in both.
//   State: momentum_buffer (B, the parameter's shape): 4 bytes per parameter.
#pragma once
#include <string>
#include <vector>

#include "adam.hpp"
#include "optimizer.hpp"
#include "../nn.hpp"  // NamedTensors

namespace moments {

// Newton–Schulz's knobs: the quintic's coefficients, the number of steps, ε and where it goes.
struct NewtonSchulzOptions {
  double a = 3.4445, b = -4.7750, c = 2.0315;  // p(x) = a x + b x³ + c x⁵
  int steps = 5;
  double eps = 1e-7;       // X_0 = G / max(‖G‖_F, ε)
  bool eps_added = false;  // Keller Jordan's: X_0 = G / (‖G‖_F + ε)
};

// O ≈ U Vᵀ for g = U S Vᵀ (a 2-D tensor, cpu or cuda): the five quintic steps above, in float32,
// through matmul. A tall g is transposed first and the result transposed back.
Tensor newton_schulz(const Tensor& g, const NewtonSchulzOptions& options = {});

struct MuonOptions {
  double learning_rate = 1e-3;  // γ
  double weight_decay = 0.1;    // λ, decoupled: θ ← θ (1 − γλ)
  double momentum = 0.95;       // μ
  bool nesterov = true;
  double ns_a = 3.4445, ns_b = -4.7750, ns_c = 2.0315;  // PyTorch's ns_coefficients
  double eps = 1e-7;            // ε in X_0 = B̃ / max(‖B̃‖_F, ε)
  double ns_steps = 5;           // an integer in [0, 100) (a double so that a NaN set by name is refused, not UB)
  bool match_rms_adamw = false;  // PyTorch's adjust_lr_fn: false = "original" (None), true = "match_rms_adamw"
  bool keller_jordan = false;    // the dialect: false = torch.optim.Muon, true = Keller Jordan's muon.py
  // Keller Jordan's muon.py: γ = 0.02, λ = 0, ε added to the norm, the scale applied to O.
  static MuonOptions keller_jordan_defaults() { return {.learning_rate = 0.02, .weight_decay = 0.0, .keller_jordan = true}; }
  NewtonSchulzOptions newton_schulz() const;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("weight_decay", weight_decay), f("momentum", momentum);
    f("nesterov", nesterov), f("ns_a", ns_a), f("ns_b", ns_b), f("ns_c", ns_c), f("eps", eps);
    f("ns_steps", ns_steps), f("match_rms_adamw", match_rms_adamw), f("keller_jordan", keller_jordan);
  }
};

class Muon : public OptimizerWith<MuonOptions> {
 public:
  explicit Muon(const std::vector<Tensor>& params, MuonOptions options = {});
  std::string name() const override { return "Muon"; }
  // The base class's three forms, each refusing a parameter that is not 2-D.
  void add_param_group(const std::vector<Tensor>& params, MuonOptions options);
  void add_param_group(const std::vector<Tensor>& params);
  template <class Overrides = std::map<std::string, double>>  // a template for the reason given in optimizer.hpp
  void add_param_group(const std::vector<Tensor>& params, const Overrides& overrides) {
    check_matrices(params);
    OptimizerWith<MuonOptions>::add_param_group(params, overrides);
  }

 protected:
  void validate(const MuonOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;

 private:
  void check_matrices(const std::vector<Tensor>& params) const;  // throws unless every one is 2-D
};

// A model's named parameters sorted as practitioners do: Muon gets the 2-D hidden weights; AdamW
// gets everything else: tensors that are not 2-D (biases, norm gains), names containing "embed",
// and the names in `adamw_names` (the output head, an input layer...; a name matches itself and
// anything under it, "head" matches "head.weight"). A name in adamw_names that matches nothing is
// an error (a typo would otherwise hand the head to Muon silently).
struct MuonParamSplit {
  std::vector<Tensor> muon = {}, adamw = {};
  std::vector<std::string> muon_names = {}, adamw_names = {};
};
MuonParamSplit split_muon_params(const NamedTensors& named, const std::vector<std::string>& adamw_names = {});

// One optimizer with Muon groups and AdamW groups (Keller Jordan's SingleDeviceMuonWithAuxAdam, with
// torch.optim.AdamW's step and defaults for the AdamW groups: muon.py's adam_update computes the same
// m̂ / (√v̂ + ε) in another order, with defaults lr 3e-4, β2 0.95, ε 1e-10, λ 0). step(), zero_grad(),
// state_bytes(), state_dict() and save_checkpoint (which takes one Optimizer) see one optimizer, so a
// checkpoint holds both kinds of state. Each group's use_muon says which it is; learning_rate and
// weight_decay are γ, λ of whichever it is (so schedulers set both).
struct MuonWithAuxAdamWOptions {
  bool use_muon = true;
  double learning_rate = 1e-3;
  double weight_decay = 0.1;
  // Muon groups (MuonOptions' fields; its eps is ns_eps here)
  double momentum = 0.95;
  bool nesterov = true;
  double ns_a = 3.4445, ns_b = -4.7750, ns_c = 2.0315, ns_eps = 1e-7;
  double ns_steps = 5;
  bool match_rms_adamw = false, keller_jordan = false;
  // AdamW groups (AdamWOptions' fields)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool amsgrad = false, maximize = false;
  MuonOptions muon() const;
  AdamWOptions adamw() const;
  static MuonWithAuxAdamWOptions from(const MuonOptions& o);
  static MuonWithAuxAdamWOptions from(const AdamWOptions& o);
  template <class F>
  void visit(F&& f) {
    f("use_muon", use_muon), f("learning_rate", learning_rate), f("weight_decay", weight_decay);
    f("momentum", momentum), f("nesterov", nesterov), f("ns_a", ns_a), f("ns_b", ns_b), f("ns_c", ns_c);
    f("ns_eps", ns_eps), f("ns_steps", ns_steps), f("match_rms_adamw", match_rms_adamw);
    f("keller_jordan", keller_jordan);
    f("beta1", beta1), f("beta2", beta2), f("eps", eps), f("amsgrad", amsgrad), f("maximize", maximize);
  }
};

class MuonWithAuxAdamW : public OptimizerWith<MuonWithAuxAdamWOptions> {
 public:
  // Group 0: split.muon with `muon`; group 1: split.adamw with `adamw` (each only if not empty).
  explicit MuonWithAuxAdamW(const MuonParamSplit& split, MuonOptions muon = {}, AdamWOptions adamw = {});
  std::string name() const override { return "MuonWithAuxAdamW"; }

 protected:
  void validate(const MuonWithAuxAdamWOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;
};

}  // namespace moments
