// optim/shampoo.cpp — Shampoo's blocks, state, validation and step (the algorithm box is in shampoo.hpp).
// The step is written in Tensor ops (matmul, slice, concat, element-wise), so it runs on either device; only the
// eigendecompositions run on the host, in float64 (linalg::symmetric_eigen: Eigen's SelfAdjointEigenSolver).
#include "shampoo.hpp"

#include <cmath>
#include <limits>

#include "adagrad_math.hpp"
#include "adam_math.hpp"
#include "backend.hpp"
#include "linalg.hpp"
#include "ops.hpp"
#include "parallel.hpp"
#include "sgd_math.hpp"
#include "validate.hpp"

namespace moments {

namespace {

constexpr int64_t kNoBlocking = std::numeric_limits<int64_t>::max();

int64_t block_size(double max_preconditioner_dim) {
  return std::isinf(max_preconditioner_dim) ? kNoBlocking : static_cast<int64_t>(max_preconditioner_dim);
}

int64_t start_step(const ShampooOptions& o) {  // start_preconditioning_step, −1 resolved as the canonical code does
  return o.start_preconditioning_step == -1 ? static_cast<int64_t>(o.precondition_frequency)
                                            : static_cast<int64_t>(o.start_preconditioning_step);
}

const char* grafting_buffer(double grafting) {  // the grafting method's element-wise state, or nullptr
  if (grafting == ShampooGrafting::adagrad) return "sum";
  if (grafting == ShampooGrafting::rmsprop || grafting == ShampooGrafting::adam) return "exp_avg_sq";
  return nullptr;
}

std::string block_name(const char* matrix, size_t k) { return std::string(matrix) + "." + std::to_string(k); }

Tensor eye(int64_t n, Device device) {
  Tensor out = Tensor::zeros({n, n});
  for (int64_t i = 0; i < n; ++i) out.data()[i * n + i] = 1.0f;
  return out.to(device);
}

// The rows × cols (or rows, for a 1-D shape) block of t (already in the merged shape).
Tensor block_of(const Tensor& t, const Shampoo::Block& b) {
  Tensor rows = slice(t, 0, b.row, b.row + b.rows);
  return t.dim() == 1 ? rows : slice(rows, 1, b.col, b.col + b.cols);
}

// The blocks' values (in blocks() order) put back together in the merged shape: the inverse of block_of.
Tensor assemble(const std::vector<Tensor>& parts, const std::vector<Shampoo::Block>& blocks) {
  if (parts.size() == 1) return parts[0];
  if (parts[0].dim() == 1) return concat(parts, 0);
  std::vector<Tensor> row_strips, strip;
  for (size_t k = 0; k < parts.size(); ++k) {
    strip.push_back(parts[k]);
    if (k + 1 == parts.size() || blocks[k + 1].row != blocks[k].row) {
      row_strips.push_back(concat(strip, 1));
      strip.clear();
    }
  }
  return concat(row_strips, 0);
}

// matrix_inverse_root's eigendecomposition: A + εI (added in float32, as the canonical A.add(I, alpha=ε)), then in
// float64 eigh and the perturbation λ ← λ − λ_min + ε when λ_min < ε (in values). A: n×n row-major floats on
// the host.
linalg::SymmetricEigen<double> perturbed_eigen(const float* A, int64_t n, double epsilon) {
  linalg::Matrix<double> ridge(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float a = A[i * n + j];
      if (!std::isfinite(a))  // as the canonical PreconditionerValueError: a NaN or inf gradient reached the statistic
        fail("Shampoo: a ", n, "x", n, " statistic has the non-finite entry ", a, " at (", i, ", ", j,
             "); check the gradients for NaN or inf, or lower the learning rate");
      if (i == j) a = a + static_cast<float>(epsilon);  // A + εI, in float32
      ridge(i, j) = a;
    }
  linalg::SymmetricEigen<double> e = linalg::symmetric_eigen(ridge);  // reads the lower triangle, like torch's eigh
  if (!e.converged) fail("Shampoo: the eigendecomposition of a ", n, "x", n, " statistic failed");
  double lambda_min = e.values.minCoeff();  // values ascending
  if (lambda_min < epsilon) e.values = (e.values.array() - lambda_min + epsilon).matrix();  // make every λ ≥ ε
  return e;
}

double bias_correction2(const ShampooOptions& o, int64_t t) {  // 1 − β2^t for the statistics, when it applies
  return o.use_bias_correction && o.beta2 < 1.0 ? 1.0 - std::pow(o.beta2, static_cast<double>(t)) : 1.0;
}

float norm(const Tensor& x) { return std::sqrt(sum(x * x).item()); }  // ‖x‖₂ in float32

}  // namespace

Shampoo::Shampoo(const std::vector<Tensor>& params, ShampooOptions options) { add_param_group(params, options); }

Shape Shampoo::merged_shape(const Shape& shape, double max_preconditioner_dim) {
  // distributed Shampoo's merge_small_dims with target dimensionality 1: drop dims of size 1, then walk from the
  // last dim, merging the next one into the current while the product stays within the threshold.
  for (int64_t d : shape)
    if (d == 0) return {0};
  int64_t threshold = block_size(max_preconditioner_dim);
  Shape dims;  // reversed, without 1s
  for (auto it = shape.rbegin(); it != shape.rend(); ++it)
    if (*it != 1) dims.push_back(*it);
  if (dims.empty()) return {1};
  Shape out{dims[0]};
  for (size_t k = 1; k < dims.size(); ++k) {
    bool more_than_one_left = out.size() + (dims.size() - k) > 1;
    if (more_than_one_left && out.back() <= threshold / dims[k]) out.back() *= dims[k];  // product ≤ threshold
    else out.push_back(dims[k]);
  }
  return Shape(out.rbegin(), out.rend());
}

std::vector<Shampoo::Block> Shampoo::blocks(const Shape& merged, double max_preconditioner_dim) {
  if (merged.size() > 2)
    fail("Shampoo: a parameter preconditioned as shape ", shape_str(merged),
         " has more than 2 dims (moments' Shampoo takes matrices and vectors; raise max_preconditioner_dim to merge dims)");
  int64_t b = block_size(max_preconditioner_dim);
  auto chunks = [b](int64_t n) {  // torch.split(t, b, dim): [0, b), [b, 2b), ..., the last one shorter
    std::vector<std::pair<int64_t, int64_t>> out;
    for (int64_t start = 0; start < n; start += std::min(b, n - start)) out.emplace_back(start, std::min(b, n - start));
    return out;
  };
  std::vector<Block> out;
  for (auto [row, rows] : chunks(merged[0])) {
    if (merged.size() == 1) out.push_back({row, rows, 0, 0});
    else
      for (auto [col, cols] : chunks(merged[1])) out.push_back({row, rows, col, cols});
  }
  return out;
}

Tensor Shampoo::inverse_root(const Tensor& A, int root, double epsilon) {
  if (A.dim() != 2 || A.size(0) != A.size(1))
    fail("Shampoo::inverse_root: expected a square matrix, got shape ", shape_str(A.shape()));
  if (root <= 0) fail("Shampoo::inverse_root: root ", root, " should be positive");
  int64_t n = A.size(0);
  std::vector<float> host = A.to_vector();
  linalg::SymmetricEigen<double> e = perturbed_eigen(host.data(), n, epsilon);
  const linalg::Matrix<double>& Q = e.vectors;
  linalg::Vector<double> powered = e.values.array().pow(-1.0 / root).matrix();  // λ^{−1/p}
  linalg::Matrix<double> X = Q * powered.asDiagonal() * Q.transpose();          // Q diag(λ^{−1/p}) Qᵀ
  Tensor out = Tensor::empty({n, n});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) out.data()[i * n + j] = static_cast<float>(X(i, j));  // rounded to float32
  return out.to(A.device());
}

void Shampoo::validate(const ShampooOptions& o) const {
  auto check_integer = [](const char* name, double value, double minimum) {
    if (!(value >= minimum && value <= static_cast<double>(kMaxStepCount) && std::floor(value) == value))
      fail("Shampoo: invalid ", name, " ", value, " (must be an integer in [", minimum, ", 2^53])");
  };
  check_at_least("Shampoo", "learning_rate", o.learning_rate, 0.0);
  check_in_unit_interval("Shampoo", "beta1", o.beta1);
  if (!(o.beta2 >= 0.0 && o.beta2 <= 1.0)) fail("Shampoo: invalid beta2 ", o.beta2, " (must be in [0, 1])");
  if (!(o.epsilon > 0.0)) fail("Shampoo: invalid epsilon ", o.epsilon, " (must be > 0)");
  check_at_least("Shampoo", "weight_decay", o.weight_decay, 0.0);
  if (!(std::isinf(o.max_preconditioner_dim) && o.max_preconditioner_dim > 0))
    check_integer("max_preconditioner_dim", o.max_preconditioner_dim, 1);  // or +infinity
  check_integer("precondition_frequency", o.precondition_frequency, 1);
  check_integer("start_preconditioning_step", o.start_preconditioning_step, -1);
  if (start_step(o) < static_cast<int64_t>(o.precondition_frequency))
    fail("Shampoo: invalid start_preconditioning_step ", o.start_preconditioning_step,
         " (must be -1 or >= precondition_frequency ", o.precondition_frequency, ")");
  if (!(o.grafting >= 0 && o.grafting <= 4 && std::floor(o.grafting) == o.grafting))
    fail("Shampoo: invalid grafting ", o.grafting, " (must be 0 none, 1 SGD, 2 AdaGrad, 3 RMSprop or 4 Adam)");
  if (!(o.grafting_beta2 > 0.0 && o.grafting_beta2 <= 1.0))
    fail("Shampoo: invalid grafting_beta2 ", o.grafting_beta2, " (must be in (0, 1])");
  if (!(o.grafting_epsilon > 0.0)) fail("Shampoo: invalid grafting_epsilon ", o.grafting_epsilon, " (must be > 0)");
  check_in_unit_interval("Shampoo", "momentum", o.momentum);
  check_in_unit_interval("Shampoo", "dampening", o.dampening);
  if (o.nesterov && o.momentum == 0.0) fail("Shampoo: nesterov requires momentum > 0 (got momentum 0)");
}

void Shampoo::init_state(const Tensor& param, ParamState& state, size_t group) const {
  const ShampooOptions& o = options_[group];
  Device device = param.device();
  if (o.beta1 != 0.0) state.buffers["filtered_grad"] = Tensor::zeros(param.shape(), device);  // m_0 ← 0
  if (const char* v = grafting_buffer(o.grafting)) state.buffers[v] = Tensor::zeros(param.shape(), device);  // V_0 ← 0
  if (o.momentum != 0.0) state.buffers["momentum_buffer"] = Tensor::zeros(param.shape(), device);          // M_0 ← 0
  Shape merged = merged_shape(param.shape(), o.max_preconditioner_dim);
  std::vector<Block> list = blocks(merged, o.max_preconditioner_dim);
  for (size_t k = 0; k < list.size(); ++k) {
    const Block& b = list[k];
    state.buffers[block_name("L", k)] = Tensor::zeros({b.rows, b.rows}, device);  // L ← 0   (rows × rows)
    state.buffers[block_name("L_inv_root", k)] = eye(b.rows, device);            // L^{−1/p} ← I until the first root
    if (merged.size() == 2) {
      state.buffers[block_name("R", k)] = Tensor::zeros({b.cols, b.cols}, device);  // R ← 0   (cols × cols)
      state.buffers[block_name("R_inv_root", k)] = eye(b.cols, device);
    }
  }
}

std::vector<ShampooEigenvalues> Shampoo::eigenvalues(const Tensor& param) const {
  const ParamState* s = state(param);
  if (!s) return {};
  size_t group = 0;  // the parameter's group, for its options
  for (size_t g = 0; g < group_count(); ++g)
    for (const Tensor& p : params(g))
      if (p.impl() == param.impl()) group = g;
  const ShampooOptions& o = options_[group];
  double bc2 = bias_correction2(o, s->step);
  auto spectrum = [&](const Tensor& statistic) {
    Tensor corrected = bc2 == 1.0 ? statistic : statistic / static_cast<float>(bc2);
    std::vector<float> host = corrected.to_vector();
    linalg::Vector<double> lambda = perturbed_eigen(host.data(), statistic.size(0), o.epsilon).values;
    return std::vector<double>(lambda.data(), lambda.data() + lambda.size());
  };
  std::vector<ShampooEigenvalues> out;
  for (size_t k = 0; s->buffers.count(block_name("L", k)); ++k) {
    ShampooEigenvalues e;
    e.left = spectrum(s->buffers.at(block_name("L", k)));
    auto right = s->buffers.find(block_name("R", k));
    if (right != s->buffers.end()) e.right = spectrum(right->second);
    out.push_back(std::move(e));
  }
  return out;
}

bool Shampoo::grafting_only_step(Tensor& param, const Tensor& grad, ParamState& state, const ShampooOptions& o) const {
  if (o.weight_decay != 0.0 && o.decoupled_weight_decay) return false;  // AdamW-like; no moments optimizer rounds it so
  float l2 = static_cast<float>(o.weight_decay);
  float* theta = param.data();
  const float* g = grad.data();
  int64_t n = param.numel();
  bool cuda = param.device() == Device::cuda;
  if (o.grafting == ShampooGrafting::adam && o.beta1 != 0.0 && o.use_bias_correction && o.momentum == 0.0) {
    // Adam: m is the filtered gradient, v the grafting method's exp_avg_sq.
    AdamScalars s = adam_scalars(o.learning_rate, o.beta1, o.grafting_beta2, o.grafting_epsilon, o.weight_decay,
                                 /*decoupled=*/false, /*amsgrad=*/false, /*maximize=*/false, state.step);
    float* m = state.buffers.at("filtered_grad").data();
    float* v = state.buffers.at("exp_avg_sq").data();
    if (cuda) param.cuda_backend().adam_update(theta, g, m, v, nullptr, n, s);
    else
      parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {  // as adam.cpp runs it
        adam_update(theta + begin, g + begin, m + begin, v + begin, nullptr, end - begin, s);
      });
    return true;
  }
  if (o.grafting == ShampooGrafting::adagrad && o.beta1 == 0.0 && o.momentum == 0.0) {
    AdagradScalars s{static_cast<float>(o.learning_rate), static_cast<float>(o.grafting_epsilon), l2, false};
    float* sum = state.buffers.at("sum").data();
    if (cuda) param.cuda_backend().adagrad_update(theta, g, sum, n, s);
    else adagrad_update(theta, g, sum, n, s);  // as adagrad.cpp runs it
    return true;
  }
  if (o.grafting == ShampooGrafting::sgd && o.beta1 == 0.0 && !(o.nesterov && o.dampening != 0.0)) {
    // The momentum buffer starts at 0, so SGD's b ← μb + (1 − τ)g from the first step is the canonical update.
    SgdScalars s{static_cast<float>(o.learning_rate), static_cast<float>(o.momentum),
                 static_cast<float>(1.0 - o.dampening), l2, o.nesterov, false, /*first_step=*/false};
    float* b = s.momentum != 0.0f ? state.buffers.at("momentum_buffer").data() : nullptr;
    if (cuda) param.cuda_backend().sgd_update(theta, g, b, n, s);
    else
      parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {  // as sgd.cpp runs it
        sgd_update(theta + begin, g + begin, b ? b + begin : nullptr, end - begin, s);
      });
    return true;
  }
  return false;
}

void Shampoo::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const ShampooOptions& o = options_[group];
  const int64_t t = state.step;
  Shape merged = merged_shape(param.shape(), o.max_preconditioner_dim);
  if (merged == Shape{0}) return;  // an empty parameter: nothing to precondition or update
  std::vector<Block> list = blocks(merged, o.max_preconditioner_dim);
  auto expect = [&](const std::string& buffer, const Shape& shape) -> Tensor& {
    auto it = state.buffers.find(buffer);
    if (it == state.buffers.end() || it->second.shape() != shape)
      fail("Shampoo: parameter of shape ", shape_str(param.shape()), " has no ", shape_str(shape), " '", buffer,
           "' for its blocks of max_preconditioner_dim ", o.max_preconditioner_dim,
           " (the state was made with other blocks; max_preconditioner_dim cannot change after the first step)");
    return it->second;
  };
  // Buffers switched on after the first step (β1, grafting, momentum) start at zero, as at a first step.
  auto lazily = [&](const char* buffer) -> Tensor& {
    auto [it, fresh] = state.buffers.try_emplace(buffer);
    if (fresh) it->second = Tensor::zeros(param.shape(), param.device());
    return it->second;
  };
  const int64_t start = start_step(o), frequency = static_cast<int64_t>(o.precondition_frequency);

  Tensor g = grad;
  if (o.weight_decay != 0.0 && !o.decoupled_weight_decay)
    g = grad + param * static_cast<float>(o.weight_decay);                  // G ← G + λW            (L2)
  Tensor g_merged = reshape(g, merged);

  // Statistics, every step; roots on the amortized steps.
  bool amortized = (t % frequency == 0 && t > start) || t == start;
  double bc2 = bias_correction2(o, t);
  int root = merged.size() == 2 ? 4 : 2;                                      // p = 2·order
  float beta2 = static_cast<float>(o.beta2), w = o.beta2 == 1.0 ? 1.0f : static_cast<float>(1.0 - o.beta2);
  auto accumulate = [&](Tensor& S, const Tensor& outer) {
    S = o.beta2 == 1.0 ? S + outer : S * beta2 + outer * w;                  // S ← β2 S + w·outer
  };
  auto refresh_root = [&](const Tensor& S, Tensor& X) {
    X = inverse_root(bc2 == 1.0 ? S : S / static_cast<float>(bc2), root, o.epsilon);  // (S/(1 − β2^t) + εI)^{−1/p}
  };
  for (size_t k = 0; k < list.size(); ++k) {
    const Block& b = list[k];
    Tensor gb = block_of(g_merged, b);
    Tensor& L = expect(block_name("L", k), {b.rows, b.rows});
    Tensor& L_inv = expect(block_name("L_inv_root", k), {b.rows, b.rows});
    if (merged.size() == 1) {
      Tensor column = reshape(gb, {b.rows, 1});
      accumulate(L, matmul(column, transpose(column)));                       // L ← β2 L + w g gᵀ
      if (amortized) refresh_root(L, L_inv);
    } else {
      Tensor& R = expect(block_name("R", k), {b.cols, b.cols});
      Tensor& R_inv = expect(block_name("R_inv_root", k), {b.cols, b.cols});
      accumulate(L, matmul(gb, transpose(gb)));                               // L ← β2 L + w G Gᵀ
      accumulate(R, matmul(transpose(gb), gb));                               // R ← β2 R + w Gᵀ G
      if (amortized) refresh_root(L, L_inv), refresh_root(R, R_inv);
    }
  }

  // Element-wise buffers the options need, created at zero if they were switched on after the first step.
  const char* v_name = grafting_buffer(o.grafting);
  if (o.beta1 != 0.0) lazily("filtered_grad");
  if (v_name) lazily(v_name);
  if (o.momentum != 0.0) lazily("momentum_buffer");

  // Before start_preconditioning_step, with grafting: the grafting method alone (its own loop where it is one of ours).
  bool grafting_only = t < start && o.grafting != ShampooGrafting::none;
  if (grafting_only && grafting_only_step(param, grad, state, o)) return;

  // The grafting method's statistic V (element-wise).
  double grafting_bc2 = 1.0;
  if (v_name) {
    Tensor& V = lazily(v_name);
    if (o.grafting == ShampooGrafting::adagrad) {
      V = V + g * g;                                                          // V ← V + G²
    } else {
      float bg = static_cast<float>(o.grafting_beta2), wg = static_cast<float>(1.0 - o.grafting_beta2);
      V = V * bg + (g * wg) * g;                                              // V ← β_g V + (1 − β_g) G²
      if (o.grafting == ShampooGrafting::adam) grafting_bc2 = 1.0 - std::pow(o.grafting_beta2, static_cast<double>(t));
    }
  }
  // The filtered gradient Ḡ.
  Tensor g_bar = g;
  if (o.beta1 != 0.0) {
    Tensor& m = lazily("filtered_grad");
    m = m * static_cast<float>(o.beta1) + g * static_cast<float>(1.0 - o.beta1);  // m ← β1 m + (1 − β1) G
    g_bar = o.use_bias_correction
                ? m / static_cast<float>(1.0 - std::pow(o.beta1, static_cast<double>(t)))  // Ḡ ← m / (1 − β1^t)
                : m;
  }
  // D(Ḡ): the grafting method's direction, element-wise.
  Tensor direction;
  if (o.grafting == ShampooGrafting::sgd) direction = g_bar;                  // SGD: Ḡ
  else if (v_name) {
    Tensor V = state.buffers.at(v_name);
    if (grafting_bc2 != 1.0) V = V / static_cast<float>(grafting_bc2);
    direction = g_bar / (sqrt(V) + static_cast<float>(o.grafting_epsilon));  // Ḡ / (√(V / bc2) + ε_g)
  }

  Tensor P;
  if (grafting_only) {
    P = direction;                                                            // P ← D(Ḡ)
  } else {
    Tensor g_bar_merged = reshape(g_bar, merged), direction_merged;
    if (direction.defined()) direction_merged = reshape(direction, merged);
    std::vector<Tensor> parts;
    for (size_t k = 0; k < list.size(); ++k) {
      const Block& b = list[k];
      Tensor gb = block_of(g_bar_merged, b);
      const Tensor& L_inv = state.buffers.at(block_name("L_inv_root", k));
      Tensor pb = merged.size() == 1
                      ? reshape(matmul(L_inv, reshape(gb, {b.rows, 1})), {b.rows})         // L^{−1/2} ḡ
                      : matmul(matmul(L_inv, gb), state.buffers.at(block_name("R_inv_root", k)));  // L^{−1/4} Ḡ R^{−1/4}
      if (direction.defined()) {
        float ratio = norm(block_of(direction_merged, b)) / (norm(pb) + 1e-16f);  // ‖D(Ḡ)‖ / (‖P‖ + 1e-16), per block
        pb = pb * ratio;
      }
      parts.push_back(pb);
    }
    P = reshape(assemble(parts, list), param.shape());
  }
  if (o.weight_decay != 0.0 && o.decoupled_weight_decay)
    P = P + param * static_cast<float>(o.weight_decay);                      // P ← P + λW            (decoupled)
  if (o.momentum != 0.0) {
    Tensor& M = lazily("momentum_buffer");
    float mu = static_cast<float>(o.momentum), one_minus_tau = static_cast<float>(1.0 - o.dampening);
    M = M * mu + P * one_minus_tau;                                           // M ← μM + (1 − τ)P
    P = o.nesterov ? P * one_minus_tau + M * mu : M;                          // P ← (1 − τ)P + μM, or M
  }
  add_(param, P * static_cast<float>(-o.learning_rate));                     // W ← W − ηP
}

}  // namespace moments
