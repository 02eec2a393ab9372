// optim/adafactor.hpp — Adafactor, with PyTorch's (>= 2.5) semantics by default.
//
// N. Shazeer, M. Stern, "Adafactor: Adaptive Learning Rates with Sublinear
// Memory Cost", ICML 2018 (arXiv:1804.04235), Algorithm 4 (weight matrices)
// and Algorithm 5 (weight vectors): a factored second moment, update clipping
// and a relative step size, without momentum.
//
//   Algorithm 4, for an n × m matrix X              in adafactor.cpp (update)
//   ----------------------------------------------  -------------------------------------------
//   for t = 1 to T:
//     G_t = ∇f_t(X_{t−1})                           the .grad
//     R_t = β̂2_t R_{t−1} + (1 − β̂2_t)(G_t² + ε1 1_n 1_mᵀ) 1_m   row_var: lerp(R, mean_j G², t^c)
//     C_t = β̂2_t C_{t−1} + (1 − β̂2_t) 1_nᵀ (G_t² + ε1 1_n 1_mᵀ)  col_var: lerp(C, mean_i G², t^c)
//     V̂_t = R_t C_t / 1_nᵀ R_t                      factored_v_hat(): R_i C_j / mean(R)
//     U_t = G_t / √V̂_t                              adafactor_u()
//     Û_t = U_t / max(1, RMS(U_t) / d)              update clipping
//     α_t = max(ε2, RMS(X_{t−1})) ρ_t               relative step size
//     X_t = X_{t−1} − α_t Û_t
//   Algorithm 5, for a vector: V̂_t = β̂2_t V̂_{t−1} + (1 − β̂2_t)(G_t² + ε1), then the same U, Û, α, X lines.
//   The paper's choices: β̂2_t = 1 − t^{−0.8}, ρ_t = min(10⁻², 1/√t), ε1 = 10⁻³⁰, ε2 = 10⁻³, d = 1.
//
// CONVENTIONS AND DEVIATIONS
//   - Means, not sums, of G² over rows and columns (PyTorch): V̂ is unchanged,
//     R and C stay at the scale of G² whatever the matrix size.
//   - ε1 (default: float32 machine epsilon, 1.19e-7, as PyTorch): PyTorch does not
//     add it to G². It clamps mean(R) at ε1 and V̂ at ε1², so U = G / max(√V̂, ε1).
//     Set eps1_in_square for the paper's (and Hugging Face's) form, G² + ε1
//     before the means, with eps1 = 1e-30.
//   - ρ_t = min(learning_rate, 1/√t): PyTorch's learning_rate (default 1e-2)
//     is the paper's constant 10⁻². With relative_step = false, ρ_t = learning_rate
//     (an external schedule drives it); with scale_parameter = false, α_t = ρ_t.
//   - β̂2_t = 1 − t^c with c = beta2_decay = −0.8; the weight of the new G² is
//     t^c, which is 1 at t = 1, so no bias correction is needed.
//   - RMS(X_{t−1}) is taken before weight decay is applied.
//   - weight_decay is decoupled and scaled by the learning rate, as AdamW:
//     X ← X (1 − learning_rate · λ); the paper has none.
//   - update clipping clips the UPDATE U (its RMS at d), not the gradient.
//   - beta1 > 0 adds a first moment of the scaled, clipped update, as Hugging Face's
//     Adafactor does: M_t = β1 M_{t−1} + (1 − β1) α_t Û_t, X_t = X_{t−1} − M_t.
//     The paper and PyTorch drop momentum (beta1 = 0, the default).
//   - Tensors with more than 2 dims factor over their last two dims (a batch
//     of matrices); 0-d and 1-d tensors keep a full second moment.
//   - State: row_var (R, shape [..., n, 1]) and col_var (C, [..., 1, m]) for
//     matrices, n + m floats per matrix; variance (V̂) for vectors; exp_avg with beta1.
#pragma once
#include <unordered_map>
#include <vector>

#include "optimizer.hpp"

namespace moments {

struct AdafactorOptions {
  double learning_rate = 1e-2;     // caps ρ_t = min(lr, 1/√t); the step size itself when relative_step = false
  double beta2_decay = -0.8;       // c in β̂2_t = 1 − t^c
  double eps1 = 1.1920928955078125e-07;  // ε1 (float32 machine epsilon)
  double eps2 = 1e-3;              // ε2, floor on RMS(X) in α_t
  double clip_threshold = 1.0;     // d, update clipping threshold
  double weight_decay = 0.0;       // λ, decoupled
  double beta1 = 0.0;              // β1; 0 = no first moment
  bool eps1_in_square = false;     // the paper's ε1 placement (use with eps1 = 1e-30)
  bool relative_step = true;       // ρ_t = min(lr, 1/√t); false: ρ_t = lr
  bool scale_parameter = true;     // α_t = max(ε2, RMS(X)) ρ_t; false: α_t = ρ_t
  bool maximize = false;
  // Not a hyperparameter (not visited, not saved): false runs the step through the
  // v2 loops (three passes over G, vectorized, on the thread pool, with bits that do
  // not depend on the thread count; adafactor.cpp says what they cost); true through the
  // v1 reference loops, written line by line after the algorithm box. The two agree
  // to float rounding (tests/test_optim.cpp).
  bool reference_loops = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta2_decay", beta2_decay), f("eps1", eps1), f("eps2", eps2);
    f("clip_threshold", clip_threshold), f("weight_decay", weight_decay), f("beta1", beta1);
    f("eps1_in_square", eps1_in_square), f("relative_step", relative_step);
    f("scale_parameter", scale_parameter), f("maximize", maximize);
  }
};

class Adafactor : public OptimizerWith<AdafactorOptions> {
 public:
  explicit Adafactor(const std::vector<Tensor>& params, AdafactorOptions options = {});
  std::string name() const override { return "Adafactor"; }
  // Mean α_t over the group's parameters in their last step (learning_rate before any step).
  double effective_learning_rate(size_t group) const override;

 protected:
  void validate(const AdafactorOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;

 private:
  std::vector<double> column_sums_;  // scratch for mean_i G², reused across steps (no allocation per step)
  std::vector<float> r_means_;       // scratch for mean(R) of each matrix
  std::vector<float> v2_float_scratch_;    // v2: column partial sums of G² per group of rows, 1/√(R_i/mean R), 1/√C_j
  std::vector<double> v2_double_scratch_;  // v2: Σ_j G², X², U² of each row
  std::unordered_map<const TensorImpl*, double> last_alpha_;  // α_t of each cpu parameter's last step
  std::unordered_map<const TensorImpl*, Tensor> device_alpha_;  // of each cuda one: a double in 2 device floats
};

}  // namespace moments
