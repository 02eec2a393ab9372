// optim/soap.hpp — SOAP: Adam in the eigenbasis of Shampoo's preconditioner.
//
// N. Vyas, D. Morwani, R. Zhao, I. Shapira, D. Brandfonbrener, L. Janson, S. Kakade, "SOAP: Improving and
// Stabilizing Shampoo using Adam", 2024 (arXiv:2409.11321), Algorithm 3.
// Canonical code: github.com/nikhilvyas/SOAP, soap.py (commit a1e5535, 2024-12-02: the first moment lives in the
// eigenbasis and turns with it). Restated in tests/reference/make_soap_golden.py.
//
//   For an m × n parameter W with gradient G (L: m × m, R: n × n; Q_L, Q_R their eigenbases; ' = rotated)
//   ------------------------------------------------------------------  ------------------------------------------
//   first step: L ← (1 − β_s) G Gᵀ, R ← (1 − β_s) Gᵀ G                 accumulate_statistics
//               Q_L, Q_R ← eigenvectors of L, R (eigh, descending)      eigenbasis_by_eigh; W does NOT move
//   every later step, t ← t + 1 (t counts from the second step):
//     G' ← Q_Lᵀ G Q_R                                                   rotate(grad, ..., back = false)
//     M' ← β1 M' + (1 − β1) G'                                          adam_update_element (adam_math.hpp) on a
//     V' ← β2 V' + (1 − β2) G'²                                          zero "parameter" Δ' in the eigenbasis:
//     Δ' ← −α √(1 − β2^t)/(1 − β1^t) · M' / (√V' + ε)                     Δ' = what Adam would add to it
//     Δ ← Q_L Δ' Q_Rᵀ                                                   rotate(delta, ..., back = true)
//     (normalize_grads: Δ ← −α_t · N / (1e-30 + RMS(N)), N the rotated-back M'/(√V' + ε))
//     W ← W + Δ;   W ← W − α λ W                                        decoupled decay, after the update
//     L ← β_s L + (1 − β_s) G Gᵀ, R ← β_s R + (1 − β_s) Gᵀ G             torch's lerp, (1 − β_s) as its weight
//     every f = precondition_frequency steps (t mod f = 0):
//       M ← Q_L M' Q_Rᵀ                                                 the first moment leaves the old basis
//       per side: order Q's columns by qᵢᵀ L qᵢ, descending; permute V'   (V' follows its directions)
//                 Q ← QR(L Q_sorted).Q                                   one power iteration + QR
//       M' ← Q_Lᵀ M Q_R                                                 and enters the new one
//   A tensor of any rank: one statistic per dim k, G_(k) G_(k)ᵀ over the other dims, and the rotation applies
//   Q_k along dim k. A dim larger than max_precond_dim gets no statistic (its basis stays the identity); a
//   vector gets one only with precondition_1d; merge_dims first merges neighbouring dims while their product
//   stays <= max_precond_dim (a 2 × 2 × 3 tensor with max 4 is treated as 4 × 3).
//
// Why it matters: Shampoo preconditions with L^{-1/4} G R^{-1/4}, which needs inverse roots and a tuned ε,
// and is only as good as its last (expensive) root. SOAP keeps Shampoo's eigenbasis but lets Adam adapt the
// scale of every direction in it each step, so the basis may be refreshed rarely (every 10 steps here) at
// little loss, and with identity bases it is exactly Adam. Its state is Adam's m and v plus L, R, Q_L, Q_R:
// 8 + 8 (m² + n²)/(m n) bytes per parameter of an m × n matrix in float32.
//
// STATE per parameter (named buffers): exp_avg (M', in the eigenbasis), exp_avg_sq (V', in the eigenbasis),
// and for every preconditioned dim k of the working shape GG<k> (its statistic, d_k × d_k) and Q<k> (its
// eigenbasis, d_k × d_k). Q<k> is all zeros until the first step computes it.
//
// CONVENTIONS AND DEVIATIONS
//   - As the canonical code: the first step only initialises (no update); t (the bias corrections' step count)
//     starts at 1 on the second step, so ParamState::step = t + 1; shampoo_beta < 0 means β_s = β2; ε is added
//     to √V' before the bias correction, which is folded into the step: α √(1 − β2^t)/(1 − β1^t) · M'/(√V' + ε)
//     (torch.optim.Adam's form is α/(1 − β1^t) · M'/(√V'/√(1 − β2^t) + ε): eps_after_bias_correction = true
//     selects it, and with it and identity bases SOAP gives Adam's bits); weight decay is decoupled, λ times the
//     learning rate (not the bias-corrected step), applied after the update as W + (−αλ) W; correct_bias =
//     false drops both corrections; the eigenbasis at the first step comes from eigh (here Eigen's
//     SelfAdjointEigenSolver in float32 on L + 1e-30 I, retried in float64 when it does not converge; an error
//     if that fails too), its columns reversed to descending eigenvalues; refreshes use one power iteration and
//     a Householder QR (Eigen's HouseholderQR; LAPACK's sign convention, the same as torch.linalg.qr).
//   - Different from the canonical code: it rotates M' back and forth at the end of EVERY step (Q M' Qᵀ then
//     Qᵀ (…) Q, four matrix products); moments does so only when the basis changes, since with an unchanged
//     basis the round trip is the identity up to rounding (the golden test bounds the difference). RMS for
//     normalize_grads is summed in double. Sorting by the estimated eigenvalues is stable (torch.argsort is
//     not; the order of exact ties differs). data_format 'channels_last' is not provided (no 4-D layouts here).
//   - The per-element Adam step is adam_update_element of adam_math.hpp (its order of operations), not the
//     canonical code's torch ops: M'·β1 + (1 − β1)·G', V'·β2 + (1 − β2)·G'·G', ((−α_t) M') / (√V' + ε).
//   - Not in the paper: the paper's Algorithm 3 keeps M in the parameter's basis and rotates it each step;
//     the canonical code at this commit keeps it rotated (as here). The paper refreshes by eigh or power
//     iteration + QR; the code (and moments) uses eigh only at the first step.
//   - Validation (the canonical code checks nothing): learning_rate, eps, weight_decay >= 0; beta1, beta2 in
//     [0, 1); shampoo_beta < 1 (negative: use β2); precondition_frequency an integer >= 1; max_precond_dim an
//     integer >= 0. NaN is refused everywhere.
//   - Devices: on cuda the rotations, statistics and power iterations run as Tensor matmuls on the device and
//     Adam's step as Adam's kernel; the eigendecomposition, the QR, the sort and V's permutation run on the host
//     (the matrices are copied over and back), at the first step and at every refresh.
//   - SOAP needs whole matrices: a ZeRO-style shard of a flat slice cannot hold L, R or rotate.
//   - Which eigenvectors: the update does not depend on their signs (bit for bit: Adam flips M' along, the
//     rotation back undoes it, Householder QR returns the same Q for a flipped column) nor on their order (the
//     refresh sorts them). It does depend on the basis chosen inside a repeated eigenvalue, Adam not being
//     rotation-invariant: the first statistic of an m × n gradient has rank min(m, n), so for |m − n| >= 2 (or
//     a vector with precondition_1d) its null space, and the basis there, is whatever the eigensolver returns,
//     in moments as in the canonical code (tests/test_soap.cpp).
//
// USAGE
//   SOAP soap(model.parameters(), {.learning_rate = 3e-3, .precondition_frequency = 10});
//   soap.step();                        // the first step only builds L, R and their eigenbases
//   soap.eigenvalues(w);                // per dim of w: L's (or R's) eigenvalues, descending
#pragma once
#include <vector>

#include "optimizer.hpp"

namespace moments {

struct SoapOptions {
  double learning_rate = 3e-3;          // α
  double beta1 = 0.95;                  // β1, first-moment decay
  double beta2 = 0.95;                  // β2, second-moment decay
  double shampoo_beta = -1.0;           // β_s, the statistics' decay (< 0: β2)
  double eps = 1e-8;                    // ε, added to √V'
  double weight_decay = 0.01;           // λ, decoupled: W ← W − αλW after the update
  double precondition_frequency = 10;   // f: the eigenbasis is refreshed every f steps (an integer >= 1)
  double max_precond_dim = 10000;       // dims larger than this get no statistic (an integer >= 0)
  bool merge_dims = false;              // merge neighbouring dims while their product stays <= max_precond_dim
  bool precondition_1d = false;         // give a vector parameter (n <= max_precond_dim) an n × n statistic too
  bool normalize_grads = false;         // rescale the rotated-back update to RMS 1 before the step
  bool correct_bias = true;             // Adam's bias corrections
  bool eps_after_bias_correction = false;  // ε as torch.optim.Adam: √V̂ + ε (not the canonical √V + ε)
  template <class F>
  void visit(F&& f) {
    f("learning_rate", learning_rate), f("beta1", beta1), f("beta2", beta2), f("shampoo_beta", shampoo_beta);
    f("eps", eps), f("weight_decay", weight_decay), f("precondition_frequency", precondition_frequency);
    f("max_precond_dim", max_precond_dim), f("merge_dims", merge_dims), f("precondition_1d", precondition_1d);
    f("normalize_grads", normalize_grads), f("correct_bias", correct_bias);
    f("eps_after_bias_correction", eps_after_bias_correction);
  }
};

class SOAP : public OptimizerWith<SoapOptions> {
 public:
  explicit SOAP(const std::vector<Tensor>& params, SoapOptions options = {});
  std::string name() const override { return "SOAP"; }

  // Per dim of `param`'s working shape (merged with merge_dims): the eigenvalues of its statistic, descending,
  // computed now by SelfAdjointEigenSolver in double (empty for a dim without one, and before the first step).
  std::vector<std::vector<double>> eigenvalues(const Tensor& param) const;
  // The working shape and which of its dims get a statistic, as the options of `param`'s group decide.
  std::vector<int64_t> working_shape(const Tensor& param) const;

 protected:
  void validate(const SoapOptions& options) const override;
  void init_state(const Tensor& param, ParamState& state, size_t group) const override;
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override;

 private:
  size_t group_of(const Tensor& param) const;
};

}  // namespace moments
