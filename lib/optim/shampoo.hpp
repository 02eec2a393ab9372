// optim/shampoo.hpp — Shampoo: a Kronecker-factored full-matrix AdaGrad, one left and one right statistic
// per block of each matrix, applied as L^{-1/4} G R^{-1/4}.
//
// V. Gupta, T. Koren, Y. Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018,
// Algorithm 1 (matrix case); in the practical form of facebookresearch/optimizers, distributed_shampoo
// (distributed_shampoo.py, preconditioner/shampoo_preconditioner_list.py, preconditioner/matrix_functions.py,
// preconditioner/adagrad_preconditioner_list.py): blocking, ε, grafting, momentum, one device.
//
//   Algorithm 1 (G_t ∈ R^{m×n})                       distributed Shampoo, per block (what update() runs)
//   -------------------------------------------       ------------------------------------------------------------
//   L_0 = εI_m, R_0 = εI_n                            L, R ← 0 (ε enters at the root, below)
//   for t = 1 … T:                                    t ← t + 1
//     G_t ← ∇f_t(W_t)                                 G ← ∇f (+ λW)                                L2 weight decay
//     L_t ← L_{t−1} + G_t G_tᵀ                        L ← β2 L + w G Gᵀ, R ← β2 R + w Gᵀ G        w = 1 if β2 = 1, else 1 − β2
//     R_t ← R_{t−1} + G_tᵀ G_t                        every precondition_frequency steps (from start_preconditioning_step):
//                                                       L̃ ← (L / (1 − β2^t)) + εI;  λ, Q ← eigh(L̃)    (bias-corrected when β2 < 1)
//                                                       λ ← λ − λ_min + ε  if λ_min < ε
//                                                       L^{−1/p} ← Q diag(λ^{−1/p}) Qᵀ  (same for R)   p = 4 (2-D), 2 (1-D)
//                                                     m ← β1 m + (1 − β1) G;  Ḡ ← m / (1 − β1^t)       filtered gradient
//     W_{t+1} ← W_t − η L_t^{−1/4} G_t R_t^{−1/4}     P ← L^{−1/4} Ḡ R^{−1/4}                        (identity before the first root)
//                                                     grafting (per block):  P ← (‖D(Ḡ)‖ / (‖P‖ + 1e-16)) · P,
//                                                       D: SGD Ḡ;  AdaGrad / RMSprop / Adam Ḡ / (√(V / bc2) + ε_g),
//                                                       V ← β_g V + w_g G²  (AdaGrad: β_g = w_g = 1; Adam: bc2 = 1 − β_g^t)
//                                                     before start_preconditioning_step: P ← D(Ḡ) (the grafting method alone)
//                                                     P ← P + λW                                   decoupled weight decay
//                                                     M ← μM + (1 − τ)P;  P ← M, or (1 − τ)P + μM (Nesterov)
//                                                     W ← W − ηP
//
// Blocking (distributed Shampoo's Distributor): a parameter's shape first loses its dims of size 1 and has adjacent dims
// merged (from the last) while their product is at most max_preconditioner_dim, down to one dim: a 4×3 matrix with the
// default 1024 becomes a 12-vector. The result is cut into blocks of at most max_preconditioner_dim along each dim (rows
// first), and each block gets its own statistics: a 1-D block of n one n×n statistic with exponent −1/2 (full-matrix
// AdaGrad), a 2-D block m×n an m×m and an n×n one with exponent −1/4.
//
// Why it matters: AdaGrad scales each coordinate by its own history; full-matrix AdaGrad (mn × mn) would also rotate,
// but costs (mn)² memory. Shampoo keeps an m×m and an n×n matrix whose Kronecker product bounds the full one, so it
// rotates the step into the gradients' principal directions for (m² + n²) numbers. Grafting borrows the step length of a
// tuned diagonal method and keeps Shampoo's direction, which is what made it work in practice.
//
// CONVENTIONS AND DEVIATIONS
//   - Defaults are distributed Shampoo's: lr 1e-2, betas (0.9, 1.0) (β2 = 1: sums, as in the paper), ε 1e-12,
//     max_preconditioner_dim 1024, precondition_frequency 1, start_preconditioning_step −1 (= precondition_frequency),
//     bias correction on, no grafting, decoupled weight decay, no momentum. Grafting defaults: Adam / RMSprop
//     β_g 0.999 / 0.99 in the canonical code; here one grafting_beta2 (default 0.999), ε_g 1e-10.
//   - Canonical selects the grafting method with a config object; here `grafting` is a number (ShampooGrafting).
//     momentum = 0 means no momentum (the canonical ClassicMomentumConfig refuses 0; it is absent instead).
//   - The eigendecomposition runs in float64 (Eigen's SelfAdjointEigenSolver) on the float32 matrix L̃, and the root is
//     rounded to float32; the canonical default runs eigh in float32 (float64 only as a retry). In float32 the
//     eigenvalues of a nearly singular statistic are rounding noise, and λ^{−1/4} of noise differs between solvers.
//   - On Device::cuda the statistics, the matmuls and the element-wise work run on the device (Tensor ops and the
//     grafting methods' own kernels); each eigendecomposition copies its matrix to the host and the root back.
//   - Statistics and roots are full d×d float32 matrices (the canonical code packs the symmetric ones, about half).
//   - A non-finite entry in a statistic at a root step throws (the canonical PreconditionerValueError); a failed
//     eigendecomposition throws too, where the canonical code keeps the previous root up to 3 times in a row.
//   - Parameters whose merged shape has more than 2 dims are refused (the canonical code preconditions order-k blocks
//     with k statistics). β3 (a second filter) and iterate averaging (GPA / schedule-free) are not provided.
//   - Rounding: the element-wise lines follow moments' Adam (m·β1 + (1 − β1)·G, not torch's lerp). Before
//     start_preconditioning_step, when the configuration is one of moments' optimizers (Adam grafting with bias
//     correction; AdaGrad or SGD grafting with β1 = 0; no decoupled decay; momentum only with SGD and τ = 0), the step
//     is that optimizer's own element loop (adam_update, adagrad_update, sgd_update), so Shampoo with preconditioning
//     never started equals Adam / Adagrad / SGD bit for bit (tested, as distributed Shampoo's grafting tests require).
//   - The momentum buffer starts at 0 and is damped from the first step (canonical); torch's SGD copies g undamped.
//   - Not element-wise, so explain() traces nothing. State per parameter: filtered_grad (β1 ≠ 0), the grafting method's
//     exp_avg_sq (RMSprop, Adam) or sum (AdaGrad), momentum_buffer (μ ≠ 0), and per block k: L.k and L_inv_root.k
//     (plus R.k and R_inv_root.k for a 2-D block). For an m×n block with β1 ≠ 0 and Adam grafting, in float32:
//     8 + 8(m² + n²)/(mn) bytes per parameter element.
#pragma once
#include "optimizer.hpp"

namespace moments {

// The grafting methods (distributed Shampoo's grafting_config), as numbers so that they live among the hyperparameters.
struct ShampooGrafting {
  static constexpr int none = 0, sgd = 1, adagrad = 2, rmsprop = 3, adam = 4;
};

struct ShampooOptions {
  double learning_rate = 1e-2;              // η
  double beta1 = 0.9;                       // β1, the filtered gradient's decay (0: none)
  double beta2 = 1.0;                       // β2, the statistics' decay (1: sums, as in the paper)
  double epsilon = 1e-12;                   // ε, added to L and R (and their eigenvalues) before the root
  double weight_decay = 0.0;                // λ
  bool decoupled_weight_decay = true;       // true: P ← P + λW after preconditioning; false: L2, G ← G + λW
  double max_preconditioner_dim = 1024;     // block size; an integer ≥ 1, or infinity (no blocking)
  double precondition_frequency = 1;        // roots recomputed every this many steps
  double start_preconditioning_step = -1;   // first step with Shampoo's direction (−1: precondition_frequency)
  bool use_bias_correction = true;          // Ḡ = m / (1 − β1^t); L, R divided by 1 − β2^t at the root
  double grafting = ShampooGrafting::none;  // whose step length Shampoo's direction takes (a ShampooGrafting value)
  double grafting_beta2 = 0.999;            // β_g for RMSprop and Adam grafting
  double grafting_epsilon = 1e-10;          // ε_g, added to √V
  double momentum = 0.0;                    // μ (0: none)
  double dampening = 0.0;                   // τ
  bool nesterov = false;
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("epsilon", epsilon);
    f("weight_decay", weight_decay), f("decoupled_weight_decay", decoupled_weight_decay);
    f("max_preconditioner_dim", max_preconditioner_dim), f("precondition_frequency", precondition_frequency);
    f("start_preconditioning_step", start_preconditioning_step), f("use_bias_correction", use_bias_correction);
    f("grafting", grafting), f("grafting_beta2", grafting_beta2), f("grafting_epsilon", grafting_epsilon);
    f("momentum", momentum), f("dampening", dampening), f("nesterov", nesterov);
  }
};

// The eigenvalues of one block's statistics as its next root would use them (bias-corrected, ε added, shifted when
// needed), ascending: `left` for L, `right` for R (empty for a 1-D block).
struct ShampooEigenvalues {
  std::vector<double> left, right;
};

class Shampoo : public OptimizerWith<ShampooOptions> {
 public:
  explicit Shampoo(const std::vector<Tensor>& params, ShampooOptions options = {});
  std::string name() const override { return "Shampoo"; }

  // Per block of `param` (in state order), its statistics' eigenvalues; empty before the parameter's first step.
  std::vector<ShampooEigenvalues> eigenvalues(const Tensor& param) const;
  // The canonical matrix_inverse_root on the host: (A + εI)^{−1/root} through a float64 eigendecomposition,
  // eigenvalues shifted by −λ_min + ε when λ_min < ε. A: a square float32 matrix on any device; the result is on its device.
  static Tensor inverse_root(const Tensor& A, int root, double epsilon);
  // The shape a parameter is preconditioned as (dims of 1 dropped, small dims merged) and its blocks, each
  // {row offset, rows, column offset, columns} of that shape (columns 0 for a 1-D shape).
  struct Block {
    int64_t row, rows, col, cols;
  };
  static Shape merged_shape(const Shape& shape, double max_preconditioner_dim);
  static std::vector<Block> blocks(const Shape& merged, double max_preconditioner_dim);

 protected:
  void validate(const ShampooOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;

 private:
  // Before start_preconditioning_step: one of moments' optimizers' own element loops, when the options are that
  // optimizer (see CONVENTIONS); returns false when they are not.
  bool grafting_only_step(Tensor& param, const Tensor& grad, ParamState& state, const ShampooOptions& o) const;
};

}  // namespace moments
