// optim/soap.cpp — SOAP's state, validation and step; the algorithm box and every deviation are in soap.hpp.
// The rotations and the statistics are Tensor ops (transpose, matmul: on cuda they run on the device); Adam's
// step in the eigenbasis is adam_update_element (adam_math.hpp), as Adam's CPU loop or its kernel runs it; the
// eigendecomposition, the QR (linalg.hpp), the sort and V's permutation run on the host.
#include "soap.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "adam_math.hpp"
#include "backend.hpp"
#include "linalg.hpp"
#include "ops.hpp"
#include "parallel.hpp"
#include "validate.hpp"

namespace moments {

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Buffer names per dim k (appended, not "GG" + to_string(k): g++ 12 -O3 warns falsely on that, -Wrestrict).
std::string statistic_name(size_t k) { return std::string("GG").append(std::to_string(k)); }  // L_k, d_k × d_k
std::string basis_name(size_t k) { return std::string("Q").append(std::to_string(k)); }       // Q_k, d_k × d_k

// The shape SOAP works on (the parameter's, or merged) and, per dim, whether it gets a statistic.
struct Layout {
  std::vector<int64_t> dims;
  std::vector<bool> preconditioned;
  bool any() const { return std::find(preconditioned.begin(), preconditioned.end(), true) != preconditioned.end(); }
};

// soap.py's merge_dims: neighbouring dims multiplied together while the product stays <= max_dim.
std::vector<int64_t> merged(const Shape& shape, int64_t max_dim) {
  std::vector<int64_t> out;
  int64_t current = 1;
  for (int64_t size : shape) {
    if (current * size > max_dim) {
      out.push_back(current > 1 ? current : size);
      current = current > 1 ? size : 1;
    } else {
      current *= size;
    }
  }
  if (current > 1 || out.empty()) out.push_back(current);
  return out;
}

Layout layout_of(const Shape& shape, const SoapOptions& o) {
  const auto max_dim = static_cast<int64_t>(o.max_precond_dim);
  Layout l;
  l.dims = shape.size() >= 2 && o.merge_dims ? merged(shape, max_dim) : std::vector<int64_t>(shape.begin(), shape.end());
  for (int64_t d : l.dims) l.preconditioned.push_back(d <= max_dim && (shape.size() != 1 || o.precondition_1d));
  return l;
}

// The eigenbases of `state` per dim (undefined where a dim has none: the identity).
std::vector<Tensor> bases_of(const ParamState& state, const Layout& l) {
  std::vector<Tensor> out(l.dims.size());
  for (size_t k = 0; k < l.dims.size(); ++k)
    if (l.preconditioned[k]) out[k] = state.buffers.at(basis_name(k));
  return out;
}

// soap.py's project (back = false: Q_kᵀ applied along every dim k) and project_back (back = true: Q_k).
// Stage k sees x as (d_k, rest): it moves that leading dim last, (rest, d_k) = xᵀ, and multiplies by Q_k (or
// Q_kᵀ); after all the dims their order is back. For a matrix: Q_Lᵀ G Q_R forward, Q_L G Q_Rᵀ back.
Tensor rotate(const Tensor& x, const Layout& l, const std::vector<Tensor>& bases, bool back) {
  if (!l.any()) return x;  // no basis anywhere: the stages only permute the dims back to where they were
  const int64_t n = x.numel();
  Tensor y = x;
  for (size_t k = 0; k < l.dims.size(); ++k) {
    Tensor moved = transpose(reshape(y, {l.dims[k], n / l.dims[k]}));  // (rest, d_k)
    y = bases[k].defined() ? matmul(moved, back ? transpose(bases[k]) : bases[k]) : moved;
  }
  return reshape(y, x.shape());
}

// torch.lerp's formula, both branches: start + w (end − start), or end − (end − start)(1 − w) for w >= ½.
Tensor lerp(const Tensor& start, const Tensor& end, float weight) {
  Tensor diff = end - start;
  return weight < 0.5f ? start + diff * weight : end - diff * (1.0f - weight);
}

// L_k ← lerp(L_k, G_(k) G_(k)ᵀ, 1 − β_s) for every preconditioned dim. Stage k sees G as (d_k, rest) (the dims
// before k moved last, as in rotate), so its product with its own transpose contracts every other dim.
void accumulate_statistics(const Tensor& grad, const Layout& l, ParamState& state, float weight) {
  const int64_t n = grad.numel();
  Tensor y = grad;
  for (size_t k = 0; k < l.dims.size(); ++k) {
    Tensor unfolded = reshape(y, {l.dims[k], n / l.dims[k]});  // G_(k): (d_k, rest)
    if (l.preconditioned[k]) {
      Tensor& statistic = state.buffers.at(statistic_name(k));
      statistic = lerp(statistic, matmul(unfolded, transpose(unfolded)), weight);
    }
    y = transpose(unfolded);
  }
}

// A host matrix into a state buffer on its device.
void store(Tensor& buffer, const RowMatrixF& m) {
  buffer = Tensor::from(std::vector<float>(m.data(), m.data() + m.size()), buffer.shape()).to(buffer.device());
}

// soap.py's get_orthogonal_matrix: the eigenvectors of L + 1e-30 I, columns by descending eigenvalue. float32
// first (as the statistics are), float64 when that does not converge.
RowMatrixF eigenbasis_by_eigh(const Tensor& statistic, const char* name) {
  Tensor host = statistic.to(Device::cpu);
  const int64_t d = host.size(0);
  Eigen::Map<const RowMatrixF> L(host.data(), d, d);
  if (!L.allFinite())
    fail("SOAP: statistic ", name, " (", d, " x ", d, ") has a NaN or infinite entry (from a non-finite gradient); "
         "its eigenbasis cannot be computed");
  linalg::Matrix<float> jittered = L;
  jittered.diagonal().array() += 1e-30f;
  linalg::SymmetricEigen<float> single = linalg::symmetric_eigen(jittered);
  if (single.converged) return single.vectors.rowwise().reverse();
  linalg::Matrix<double> wide = L.cast<double>();
  wide.diagonal().array() += static_cast<double>(1e-30f);
  linalg::SymmetricEigen<double> retry = linalg::symmetric_eigen(wide);
  if (!retry.converged)
    fail("SOAP: the eigendecomposition of statistic ", name, " (", d, " x ", d, ") did not converge in float32 "
         "nor in float64");
  return retry.vectors.cast<float>().rowwise().reverse();
}

// V' along dim k of the working shape, permuted: new[a, j, b] = old[a, order[j], b].
void permute_along(Tensor& v, const Layout& l, size_t k, const std::vector<int64_t>& order) {
  int64_t before = 1, after = 1;  // the working shape seen as (before, d_k, after)
  for (size_t i = 0; i < k; ++i) before *= l.dims[i];
  for (size_t i = k + 1; i < l.dims.size(); ++i) after *= l.dims[i];
  const int64_t d = l.dims[k];
  std::vector<float> old = v.to_vector();
  std::vector<float> out(old.size());
  for (int64_t a = 0; a < before; ++a)
    for (int64_t j = 0; j < d; ++j)
      std::copy_n(old.begin() + (a * d + order[static_cast<size_t>(j)]) * after, after,
                  out.begin() + (a * d + j) * after);
  v = Tensor::from(out, v.shape()).to(v.device());
}

// soap.py's get_orthogonal_matrix_QR for dim k: Q_k's columns ordered by their Rayleigh quotients qᵢᵀ L qᵢ
// (descending; V' permuted along dim k the same way, so each v stays with its direction), then one power
// iteration, Q_k ← the Q of a Householder QR of L Q_sorted.
void refresh_basis(ParamState& state, const Layout& l, size_t k) {
  Tensor& basis = state.buffers.at(basis_name(k));
  Tensor power = matmul(state.buffers.at(statistic_name(k)), basis).to(Device::cpu);  // L Q, on the device
  Tensor old = basis.to(Device::cpu);
  const int64_t d = l.dims[k];
  Eigen::Map<const RowMatrixF> P(power.data(), d, d), Q(old.data(), d, d);
  std::vector<double> rayleigh(static_cast<size_t>(d));  // qᵢᵀ (L qᵢ); NaN sorts last
  for (int64_t j = 0; j < d; ++j) {
    double r = (Q.col(j).cast<double>().array() * P.col(j).cast<double>().array()).sum();
    rayleigh[static_cast<size_t>(j)] = std::isnan(r) ? -INFINITY : r;
  }
  std::vector<int64_t> order(static_cast<size_t>(d));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return rayleigh[static_cast<size_t>(a)] > rayleigh[static_cast<size_t>(b)];
  });
  linalg::Matrix<float> sorted(d, d);  // L Q_sorted: the columns of L Q in that order
  for (int64_t j = 0; j < d; ++j) sorted.col(j) = P.col(order[static_cast<size_t>(j)]);
  store(basis, linalg::householder_q_row_major(sorted));
  permute_along(state.buffers.at("exp_avg_sq"), l, k, order);
}

// Adam's scalars for step t, in the canonical code's form: ε added to √V', the bias corrections folded into
// the step (or torch.optim.Adam's form with eps_after_bias_correction). step_size is the step taken.
struct SoapScalars {
  AdamScalars adam;  // for adam_update_element on the zero parameter Δ'
  float step_size;   // α_t
};
SoapScalars soap_scalars(const SoapOptions& o, int64_t t) {
  AdamScalars s = adam_scalars(o.learning_rate, o.beta1, o.beta2, o.eps, /*weight_decay=*/0.0, /*decoupled=*/false,
                               /*amsgrad=*/false, /*maximize=*/false, t);
  if (!o.correct_bias) {
    s.step_size = static_cast<float>(o.learning_rate);  // α
    s.bias_correction2_sqrt = 1.0f;
  } else if (!o.eps_after_bias_correction) {
    double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(t));  // 1 − β1^t
    double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(t));  // 1 − β2^t
    s.step_size = static_cast<float>(o.learning_rate * std::sqrt(bias_correction2) / bias_correction1);
    s.bias_correction2_sqrt = 1.0f;  // √V' + ε, uncorrected
  }
  const float step_size = s.step_size;
  if (o.normalize_grads) s.step_size = -1.0f;  // Δ' = M'/(√V' + ε) exactly: the step comes after the normalization
  return {s, step_size};
}

// Adam's step (adam_update_element) with Δ' as its parameter: Δ' starts at zero, so it ends as the change Adam
// makes, −α_t M'/(√V' + ε), while M' and V' are updated in the eigenbasis. With identity bases the rotated-back
// Δ is this Δ' bit for bit, and W + Δ is what Adam's own loop computes.
void adam_in_eigenbasis(Tensor& delta, const Tensor& rotated_grad, ParamState& state, const AdamScalars& s) {
  float* m = state.buffers.at("exp_avg").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  const int64_t n = delta.numel();
  if (delta.device() == Device::cuda) {  // Adam's kernel (cuda/adam.cu)
    delta.cuda_backend().adam_update(delta.data(), rotated_grad.data(), m, v, nullptr, n, s);
    return;
  }
  float* d = delta.data();
  const float* g = rotated_grad.data();
  parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {  // Adam's loop, by chunks
    adam_update(d + begin, g + begin, m + begin, v + begin, nullptr, end - begin, s);
  });
}

// normalize_grads: N / (1e-30 + RMS(N)), the mean of squares summed in double (one thread, fixed order).
Tensor normalized(const Tensor& x) {
  std::vector<float> host = x.to_vector();
  double sum = 0.0;
  for (float value : host) sum += static_cast<double>(value) * value;
  const auto rms = static_cast<float>(std::sqrt(sum / static_cast<double>(host.size())));
  return x / (1e-30f + rms);
}

void check_integer(const char* who, const char* name, double value, double minimum) {
  if (!(value >= minimum && value <= 9007199254740992.0 && value == std::floor(value)))
    fail(who, ": invalid ", name, " ", value, " (must be an integer >= ", minimum, ")");
}

}  // namespace

SOAP::SOAP(const std::vector<Tensor>& params, SoapOptions options) { add_param_group(params, options); }

void SOAP::validate(const SoapOptions& o) const {
  const char* who = "SOAP";
  check_at_least(who, "learning_rate", o.learning_rate, 0.0);
  check_in_unit_interval(who, "beta1", o.beta1);
  check_in_unit_interval(who, "beta2", o.beta2);
  if (!(o.shampoo_beta < 1.0))
    fail(who, ": invalid shampoo_beta ", o.shampoo_beta, " (must be < 1; a negative value means beta2)");
  check_at_least(who, "eps", o.eps, 0.0);
  check_at_least(who, "weight_decay", o.weight_decay, 0.0);
  check_integer(who, "precondition_frequency", o.precondition_frequency, 1.0);
  check_integer(who, "max_precond_dim", o.max_precond_dim, 0.0);
}

void SOAP::init_state(const Tensor& param, ParamState& state, size_t group) const {
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());     // M'_0 ← 0
  state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // V'_0 ← 0
  const Layout l = layout_of(param.shape(), options_[group]);
  for (size_t k = 0; k < l.dims.size(); ++k) {
    if (!l.preconditioned[k]) continue;
    state.buffers[statistic_name(k)] = Tensor::zeros({l.dims[k], l.dims[k]}, param.device());  // L_k ← 0
    state.buffers[basis_name(k)] = Tensor::zeros({l.dims[k], l.dims[k]}, param.device());      // set at step 1
  }
}

void SOAP::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const SoapOptions& o = options_[group];
  if (param.numel() == 0) return;
  const Layout l = layout_of(param.shape(), o);
  for (size_t k = 0; k < l.dims.size(); ++k)  // the layout options must not change after the state is built
    if (l.preconditioned[k] != (state.buffers.count(statistic_name(k)) == 1) ||
        (l.preconditioned[k] && state.buffers.at(statistic_name(k)).size(0) != l.dims[k]))
      fail("SOAP: the state of a parameter of shape ", shape_str(param.shape()), " (group ", group,
           ") was built for other max_precond_dim / merge_dims / precondition_1d values (dim ", k,
           "); they cannot change once a parameter has state");
  const double shampoo_beta = o.shampoo_beta >= 0.0 ? o.shampoo_beta : o.beta2;  // β_s
  const auto weight = static_cast<float>(1.0 - shampoo_beta);                     // lerp's weight 1 − β_s
  if (state.step == 1) {  // the first step only initialises: L, R from this gradient, and their eigenbases
    accumulate_statistics(grad, l, state, weight);                      // L ← (1 − β_s) G Gᵀ, R ← (1 − β_s) Gᵀ G
    for (size_t k = 0; k < l.dims.size(); ++k)
      if (l.preconditioned[k])
        store(state.buffers.at(basis_name(k)), eigenbasis_by_eigh(state.buffers.at(statistic_name(k)),
                                                                   statistic_name(k).c_str()));  // Q ← eigh
    return;
  }
  const int64_t t = state.step - 1;  // the canonical code's step count: 1 on the second step
  const SoapScalars s = soap_scalars(o, t);
  const std::vector<Tensor> bases = bases_of(state, l);
  Tensor rotated_grad = rotate(grad, l, bases, /*back=*/false);   // G' ← Q_Lᵀ G Q_R
  Tensor delta = Tensor::zeros(param.shape(), param.device());    // Δ' ← 0, the parameter Adam steps
  adam_in_eigenbasis(delta, rotated_grad, state, s.adam);         // M', V' updated; Δ' ← −α_t M'/(√V' + ε)
  Tensor change = rotate(delta, l, bases, /*back=*/true);         // Δ ← Q_L Δ' Q_Rᵀ
  if (o.normalize_grads) change = normalized(change) * (-s.step_size);  // Δ ← −α_t N / (1e-30 + RMS(N))
  add_(param, change);                                            // W ← W + Δ
  if (o.weight_decay > 0.0)                                       // W ← W − αλ W (after the update)
    add_(param, param * static_cast<float>(-o.learning_rate * o.weight_decay));
  accumulate_statistics(grad, l, state, weight);                  // L ← β_s L + (1 − β_s) G Gᵀ, R likewise
  if (t % static_cast<int64_t>(o.precondition_frequency) != 0 || !l.any()) return;
  Tensor& m = state.buffers.at("exp_avg");
  Tensor plain = rotate(m, l, bases, /*back=*/true);              // M ← Q_L M' Q_Rᵀ, out of the old basis
  for (size_t k = 0; k < l.dims.size(); ++k)
    if (l.preconditioned[k]) refresh_basis(state, l, k);          // sort, permute V', power iteration + QR
  m = rotate(plain, l, bases_of(state, l), /*back=*/false);       // M' ← Q_Lᵀ M Q_R, into the new one
}

size_t SOAP::group_of(const Tensor& param) const {
  for (size_t g = 0; g < group_count(); ++g)
    for (const Tensor& p : params(g))
      if (p.impl() == param.impl()) return g;
  fail("SOAP: the tensor (shape ", shape_str(param.shape()), ") is not one of this optimizer's parameters");
}

std::vector<int64_t> SOAP::working_shape(const Tensor& param) const {
  return layout_of(param.shape(), options_[group_of(param)]).dims;
}

std::vector<std::vector<double>> SOAP::eigenvalues(const Tensor& param) const {
  const Layout l = layout_of(param.shape(), options_[group_of(param)]);
  std::vector<std::vector<double>> out(l.dims.size());
  const ParamState* st = state(param);
  if (st == nullptr) return out;
  for (size_t k = 0; k < l.dims.size(); ++k) {
    auto it = st->buffers.find(statistic_name(k));
    if (it == st->buffers.end()) continue;
    Tensor host = it->second.to(Device::cpu);
    const int64_t d = host.size(0);
    linalg::Matrix<double> L = Eigen::Map<const RowMatrixF>(host.data(), d, d).cast<double>();
    linalg::SymmetricEigen<double> e = linalg::symmetric_eigen(L, /*with_vectors=*/false);
    if (!e.converged)
      fail("SOAP::eigenvalues: the eigendecomposition of statistic ", it->first, " (", d, " x ", d, ") did not converge");
    for (int64_t i = d - 1; i >= 0; --i) out[k].push_back(e.values(i));
  }
  return out;
}

}  // namespace moments
