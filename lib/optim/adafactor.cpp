// optim/adafactor.cpp — Adafactor's state, validation and step. The algorithm
// box and every deviation are listed in adafactor.hpp; the per-element
// formulas are in adafactor_math.hpp.
#include "adafactor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "adafactor_math.hpp"
#include "backend.hpp"
#include "host_device.hpp"
#include "validate.hpp"

namespace moments {

namespace {

// RMS(x) = √(Σ x² / n), accumulated in double.
double rms(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return n > 0 ? std::sqrt(sum / static_cast<double>(n)) : 0.0;
}

// A parameter seen as `batches` matrices of rows × cols (vectors: 1 × 1 × numel, not factored).
struct Layout {
  bool factored;
  int64_t batches, rows, cols;
};
Layout layout_of(const Tensor& param) {
  if (param.dim() < 2) return {false, 1, 1, param.numel()};
  int64_t rows = param.size(-2), cols = param.size(-1);
  return {true, rows * cols != 0 ? param.numel() / (rows * cols) : 0, rows, cols};
}

// ---- v2: the same step in fewer passes, with loops that vectorize ------------
// v1 (in update) reads G four times and X three times, one element at a time,
// with every sum in double (such loops do not vectorize without -ffast-math).
// v2 reads G three times and X twice: RMS(X) with the row and column sums of
// G²; then RMS(U); then X ← X(1 − lr λ) − α Û, in one pass each. Sums run in kLanes float
// partial sums over blocks of kBlock elements, each block added in double; and
// 1/√V̂_ij = 1/√(R_i C_j / mean R) is taken as (1/√(R_i / mean R)) · (1/√C_j),
// one product per element instead of a division and a square root. So v2
// rounds differently from v1, by a few float ulps (tests/test_optim.cpp).
constexpr int kLanes = 8;
constexpr int64_t kBlock = 1024;
// kLanes floats as one value (GCC's vector extension): one AVX2 register, two
// SSE registers in the default clone. Sums kept in Lanes add lane by lane, so
// the loops run 8 elements at a time without reordering any float addition.
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));
#define MOMENTS_LOAD(lanes, pointer) std::memcpy(&(lanes), (pointer), sizeof(Lanes))
// Asks for the cache line kPrefetchAhead floats past p. One stream of reads (a
// pass over G alone) gets about half an Adam step's bandwidth here without it.
// Integer arithmetic: the address may lie past the array, where a prefetch is harmless.
constexpr std::uintptr_t kPrefetchAhead = 2048;
inline void prefetch_ahead(const float* p, bool for_writing = false) {
  auto ahead = reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p) + kPrefetchAhead * sizeof(float));
  if (for_writing) __builtin_prefetch(ahead, 1);
  else __builtin_prefetch(ahead);
}
#define MOMENTS_STORE(pointer, lanes) std::memcpy((pointer), &(lanes), sizeof(Lanes))

// Σ_j G_ij² and Σ_j X_ij² of one row; adds each G_ij² into columns[j].
struct RowSquares {
  double g2, x2;
};
MOMENTS_CPU_CLONES RowSquares row_squares_v2(const float* g, const float* x, int64_t cols, float* columns) {
  RowSquares total{0.0, 0.0};
  for (int64_t start = 0; start < cols; start += kBlock) {
    int64_t end = std::min(cols, start + kBlock), j = start;
    Lanes g_sum = {}, x_sum = {}, gj, xj, cj;
    for (; j + kLanes <= end; j += kLanes) {
      prefetch_ahead(g + j);
      prefetch_ahead(x + j);
      MOMENTS_LOAD(gj, g + j);
      MOMENTS_LOAD(xj, x + j);
      MOMENTS_LOAD(cj, columns + j);
      Lanes g2 = gj * gj;
      cj += g2;
      MOMENTS_STORE(columns + j, cj);
      g_sum += g2;
      x_sum += xj * xj;
    }
    for (int l = 0; j < end; ++j, ++l) {  // the tail, into the same lanes
      columns[j] += g[j] * g[j];
      g_sum[l] += g[j] * g[j];
      x_sum[l] += x[j] * x[j];
    }
    for (int l = 0; l < kLanes; ++l) {
      total.g2 += g_sum[l];
      total.x2 += x_sum[l];
    }
  }
  return total;
}

// U_ij = min(a_i b_j, cap) · (sign G_ij), a_i = 1/√(R_i / mean R), b_j = 1/√C_j; cap = 1/ε1
// is PyTorch's floor V̂ ≥ ε1² (+inf in the paper's form; a NaN product takes the cap, as in v1).
inline float u_v2(float g, float a_i, float b_j, float cap, float sign) {
  float inverse_sqrt_v = a_i * b_j;
  return (inverse_sqrt_v < cap ? inverse_sqrt_v : cap) * (sign * g);
}

// One row: Σ_j U_ij² (u_v2 on kLanes elements at a time).
MOMENTS_CPU_CLONES double row_update_squares_v2(const float* g, const float* b, int64_t cols, float a_i, float cap,
                                                float sign) {
  double total = 0.0;
  for (int64_t start = 0; start < cols; start += kBlock) {
    int64_t end = std::min(cols, start + kBlock), j = start;
    Lanes sum = {}, gj, bj;
    for (; j + kLanes <= end; j += kLanes) {
      prefetch_ahead(g + j);
      MOMENTS_LOAD(gj, g + j);
      MOMENTS_LOAD(bj, b + j);
      Lanes inverse_sqrt_v = a_i * bj;                                         // 1/√V̂_ij = a_i b_j
      Lanes u = (inverse_sqrt_v < cap ? inverse_sqrt_v : cap) * (sign * gj);  // U_ij = G_ij / √V̂_ij
      sum += u * u;                                                           // Σ U²: RMS(U_t)
    }
    for (int l = 0; j < end; ++j, ++l) {
      float u = u_v2(g[j], a_i, b[j], cap, sign);
      sum[l] += u * u;
    }
    for (int l = 0; l < kLanes; ++l) total += sum[l];
  }
  return total;
}

// One row: X ← X(1 − lr λ) + step · U, step = −α / max(1, RMS(U)/d); with momentum
// M ← β1 M + (1 − β1)(−step · U), X ← X(1 − lr λ) − M.
MOMENTS_CPU_CLONES void row_apply_v2(float* x, float* m, const float* g, const float* b, int64_t cols, float a_i,
                                     float cap, float sign, float decay, float step, float beta1) {
  int64_t j = 0;
  Lanes xj, gj, bj, mj;
  float one_minus_beta1 = 1.0f - beta1;
  for (; j + kLanes <= cols; j += kLanes) {
    prefetch_ahead(g + j);
    prefetch_ahead(x + j, /*for_writing=*/true);
    MOMENTS_LOAD(xj, x + j);
    MOMENTS_LOAD(gj, g + j);
    MOMENTS_LOAD(bj, b + j);
    Lanes inverse_sqrt_v = a_i * bj;                                         // 1/√V̂_ij = a_i b_j
    Lanes u = (inverse_sqrt_v < cap ? inverse_sqrt_v : cap) * (sign * gj);  // U_ij = G_ij / √V̂_ij
    if (!m) {
      xj = xj * decay + step * u;                          // X_t ← X_{t−1}(1 − lr λ) − α_t Û_t
    } else {
      MOMENTS_LOAD(mj, m + j);
      mj = mj * beta1 + one_minus_beta1 * (-step * u);     // M_t ← β1 M_{t−1} + (1 − β1) α_t Û_t
      MOMENTS_STORE(m + j, mj);
      xj = xj * decay - mj;                                // X_t ← X_{t−1}(1 − lr λ) − M_t
    }
    MOMENTS_STORE(x + j, xj);
  }
  for (; j < cols; ++j) {
    float u = u_v2(g[j], a_i, b[j], cap, sign);
    if (!m) {
      x[j] = x[j] * decay + step * u;                      // X_t ← X_{t−1}(1 − lr λ) − α_t Û_t
    } else {
      m[j] = m[j] * beta1 + one_minus_beta1 * (-step * u);  // M_t ← β1 M_{t−1} + (1 − β1) α_t Û_t
      x[j] = x[j] * decay - m[j];                           // X_t ← X_{t−1}(1 − lr λ) − M_t
    }
  }
}
#undef MOMENTS_LOAD
#undef MOMENTS_STORE

// The v2 step of one factored parameter (a matrix, or a batch of them, as
// Layout says); the same lines as update()'s v1, in the order given above.
// m is the first moment (null without β1). Returns α_t.
double factored_step_v2(float* x, const float* g, float* r, float* c, float* m, const Layout& l,
                        const AdafactorOptions& o, double t, std::vector<float>& columns,
                        std::vector<double>& column_sums, std::vector<float>& r_means) {
  const int64_t numel = l.batches * l.rows * l.cols;
  double rho = o.relative_step ? std::min(o.learning_rate, 1.0 / std::sqrt(t)) : o.learning_rate;  // ρ_t
  AdafactorScalars s{static_cast<float>(std::pow(t, o.beta2_decay)),      // 1 − β̂2_t = t^c
                     static_cast<float>(o.eps1), o.eps1_in_square, o.maximize ? -1.0f : 1.0f};
  float eps1_added = o.eps1_in_square ? s.eps1 : 0.0f;  // the paper's G² + ε1
  float cap = o.eps1_in_square ? std::numeric_limits<float>::infinity() : 1.0f / s.eps1;
  constexpr int64_t kRowsPerFlush = 64;  // float column sums hold this many rows, then go to double
  columns.resize(static_cast<size_t>(l.cols));
  column_sums.resize(static_cast<size_t>(l.cols));
  r_means.resize(static_cast<size_t>(l.batches));
  // 1/√C_j of matrix b into `columns`, and the clamped mean(R) of its V̂.
  auto column_factors = [&](int64_t b) {
    for (int64_t j = 0; j < l.cols; ++j) columns[static_cast<size_t>(j)] = 1.0f / std::sqrt(c[b * l.cols + j]);
    float r_mean = r_means[static_cast<size_t>(b)];
    return s.eps1_in_square ? r_mean : (r_mean > s.eps1 ? r_mean : s.eps1);
  };

  double sum_u2 = 0.0, sum_x2 = 0.0;
  for (int64_t b = 0; b < l.batches; ++b) {
    const float* gb = g + b * l.rows * l.cols;
    float* rb = r + b * l.rows;
    float* cb = c + b * l.cols;
    std::fill(columns.begin(), columns.end(), 0.0f);
    std::fill(column_sums.begin(), column_sums.end(), 0.0);
    double r_sum = 0.0;
    for (int64_t i = 0; i < l.rows; ++i) {
      RowSquares squares = row_squares_v2(gb + i * l.cols, x + (b * l.rows + i) * l.cols, l.cols, columns.data());
      double row_sum = squares.g2;
      sum_x2 += squares.x2;
      if ((i + 1) % kRowsPerFlush == 0 || i + 1 == l.rows)
        for (size_t j = 0; j < columns.size(); ++j) {
          column_sums[j] += columns[j];
          columns[j] = 0.0f;
        }
      float row_mean = static_cast<float>(row_sum / static_cast<double>(l.cols)) + eps1_added;
      rb[i] = lerp(rb[i], row_mean, s.one_minus_beta2);  // R_t ← β̂2 R_{t−1} + (1 − β̂2) mean_j(G²)
      r_sum += rb[i];
    }
    for (int64_t j = 0; j < l.cols; ++j) {
      float col_mean = static_cast<float>(column_sums[static_cast<size_t>(j)] / static_cast<double>(l.rows)) + eps1_added;
      cb[j] = lerp(cb[j], col_mean, s.one_minus_beta2);  // C_t ← β̂2 C_{t−1} + (1 − β̂2) mean_i(G²)
    }
    r_means[static_cast<size_t>(b)] = static_cast<float>(r_sum / static_cast<double>(l.rows));
    float r_mean = column_factors(b);
    for (int64_t i = 0; i < l.rows; ++i)  // Σ U², U = G / √V̂
      sum_u2 += row_update_squares_v2(gb + i * l.cols, columns.data(), l.cols, 1.0f / std::sqrt(rb[i] / r_mean), cap, s.sign);
  }
  double rms_x = numel > 0 ? std::sqrt(sum_x2 / static_cast<double>(numel)) : 0.0;
  double alpha = o.scale_parameter ? std::max(o.eps2, rms_x) * rho : rho;  // α_t = max(ε2, RMS(X_{t−1})) ρ_t
  double rms_u = numel > 0 ? std::sqrt(sum_u2 / static_cast<double>(numel)) : 0.0;
  double clip = std::max(1.0, rms_u / o.clip_threshold);  // Û_t = U_t / max(1, RMS(U_t)/d)

  float step = static_cast<float>(-alpha / clip);  // −α_t / max(1, RMS(U)/d)
  float decay = o.weight_decay != 0.0 ? static_cast<float>(1.0 - o.learning_rate * o.weight_decay) : 1.0f;
  for (int64_t b = 0; b < l.batches; ++b) {  // X_t ← X_{t−1}(1 − lr λ) − α_t Û_t  (or − M_t)
    float r_mean = column_factors(b);
    for (int64_t i = 0; i < l.rows; ++i) {
      int64_t row = (b * l.rows + i) * l.cols;
      row_apply_v2(x + row, m ? m + row : nullptr, g + row, columns.data(), l.cols, 1.0f / std::sqrt(r[b * l.rows + i] / r_mean),
                   cap, s.sign, decay, step, static_cast<float>(o.beta1));
    }
  }
  return alpha;
}

// The step on a cuda tensor: the same algorithm as kernels, in cuda/adafactor.cu. Returns α_t.
double update_on_device(Tensor& param, const Tensor& grad, ParamState& state, const AdafactorOptions& o) {
  Layout l = layout_of(param);
  auto buffer = [&](const char* name) {
    auto it = state.buffers.find(name);
    return it == state.buffers.end() ? nullptr : it->second.data();
  };
  cuda::AdafactorStep step{o.learning_rate, o.beta2_decay, o.eps1,          o.eps2,          o.clip_threshold,
                           o.weight_decay,  o.beta1,       o.eps1_in_square, o.relative_step, o.scale_parameter,
                           o.maximize,      state.step,    l.factored,      l.batches,       l.rows,
                           l.cols};
  float* m = o.beta1 > 0.0 ? state.buffers.at("exp_avg").data() : nullptr;
  return param.cuda_backend().adafactor_update(param.data(), grad.data(), buffer("row_var"), buffer("col_var"),
                                               buffer("variance"), m, step);
}

}  // namespace

Adafactor::Adafactor(const std::vector<Tensor>& params, AdafactorOptions options) { add_param_group(params, options); }

void Adafactor::validate(const AdafactorOptions& o) const {
  check_at_least("Adafactor", "learning_rate", o.learning_rate, 0.0);
  check_at_most("Adafactor", "beta2_decay", o.beta2_decay, 0.0);
  check_at_least("Adafactor", "eps1", o.eps1, 0.0);
  check_at_least("Adafactor", "eps2", o.eps2, 0.0);
  check_at_least("Adafactor", "clip_threshold", o.clip_threshold, 1.0);
  check_at_least("Adafactor", "weight_decay", o.weight_decay, 0.0);
  check_in_unit_interval("Adafactor", "beta1", o.beta1);
}

double Adafactor::effective_learning_rate(size_t group) const {
  double sum = 0.0;
  int count = 0;
  for (const Tensor& p : params(group)) {
    auto it = last_alpha_.find(p.impl());
    if (it == last_alpha_.end()) continue;
    sum += it->second;
    ++count;
  }
  return count ? sum / count : learning_rate(group);
}

void Adafactor::init_state(const Tensor& param, ParamState& state, size_t group) const {
  Layout l = layout_of(param);
  if (l.factored) {
    Shape row_shape = param.shape(), col_shape = param.shape();
    row_shape.back() = 1;                      // R: [..., n, 1]
    col_shape[col_shape.size() - 2] = 1;       // C: [..., 1, m]
    state.buffers["row_var"] = Tensor::zeros(row_shape, param.device());
    state.buffers["col_var"] = Tensor::zeros(col_shape, param.device());
  } else {
    state.buffers["variance"] = Tensor::zeros(param.shape(), param.device());  // V̂: like the parameter
  }
  if (options_[group].beta1 > 0.0) state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());
}

void Adafactor::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const AdafactorOptions& o = options_[group];
  if (param.device() == Device::cuda) {  // cuda/adafactor.cu (the explain trace is cpu-only)
    last_alpha_[param.impl()] = update_on_device(param, grad, state, o);
    return;
  }
  const double t = static_cast<double>(state.step);
  const int64_t numel = param.numel();
  float* x = param.data();
  const float* g = grad.data();
  Layout l = layout_of(param);
  if (!o.reference_loops && l.factored && !traced(param)) {  // v2 above; vectors (small) and the trace take v1
    float* m = o.beta1 > 0.0 ? state.buffers.at("exp_avg").data() : nullptr;
    last_alpha_[param.impl()] = factored_step_v2(x, g, state.buffers.at("row_var").data(), state.buffers.at("col_var").data(),
                                                 m, l, o, t, column_scratch_, column_sums_, r_means_);
    return;
  }

  // v1, the reference. ρ_t and α_t = max(ε2, RMS(X_{t−1})) ρ_t — RMS before weight decay.
  double rho = o.relative_step ? std::min(o.learning_rate, 1.0 / std::sqrt(t)) : o.learning_rate;
  double alpha = o.scale_parameter ? std::max(o.eps2, rms(x, numel)) * rho : rho;
  float x_before = traced(param) ? x[traced_index()] : 0.0f;
  last_alpha_[param.impl()] = alpha;

  // Decoupled weight decay: X ← X (1 − lr λ).
  if (o.weight_decay != 0.0) {
    float decay = static_cast<float>(1.0 - o.learning_rate * o.weight_decay);
    for (int64_t k = 0; k < numel; ++k) x[k] = x[k] * decay;
  }

  AdafactorScalars s{static_cast<float>(std::pow(t, o.beta2_decay)),  // 1 − β̂2_t = t^c
                     static_cast<float>(o.eps1), o.eps1_in_square, o.maximize ? -1.0f : 1.0f};
  float eps1_added = o.eps1_in_square ? s.eps1 : 0.0f;  // the paper's G² + ε1

  // Second moment: R and C (factored), or V̂ (vectors).
  float* r = l.factored ? state.buffers.at("row_var").data() : nullptr;
  float* c = l.factored ? state.buffers.at("col_var").data() : nullptr;
  float* v = l.factored ? nullptr : state.buffers.at("variance").data();
  r_means_.resize(static_cast<size_t>(l.batches));  // mean(R) per matrix
  if (l.factored) {
    column_sums_.resize(static_cast<size_t>(l.cols));
    for (int64_t b = 0; b < l.batches; ++b) {
      const float* gb = g + b * l.rows * l.cols;
      std::fill(column_sums_.begin(), column_sums_.end(), 0.0);
      double r_sum = 0.0;
      for (int64_t i = 0; i < l.rows; ++i) {
        double row_sum = 0.0;
        for (int64_t j = 0; j < l.cols; ++j) {
          double g2 = static_cast<double>(gb[i * l.cols + j]) * gb[i * l.cols + j];
          row_sum += g2;
          column_sums_[static_cast<size_t>(j)] += g2;
        }
        float row_mean = static_cast<float>(row_sum / static_cast<double>(l.cols)) + eps1_added;
        float& r_i = r[b * l.rows + i];
        r_i = lerp(r_i, row_mean, s.one_minus_beta2);  // R_t ← β̂2 R_{t−1} + (1 − β̂2) mean_j(G²)
        r_sum += r_i;
      }
      for (int64_t j = 0; j < l.cols; ++j) {
        float col_mean = static_cast<float>(column_sums_[static_cast<size_t>(j)] / static_cast<double>(l.rows)) + eps1_added;
        float& c_j = c[b * l.cols + j];
        c_j = lerp(c_j, col_mean, s.one_minus_beta2);  // C_t ← β̂2 C_{t−1} + (1 − β̂2) mean_i(G²)
      }
      r_means_[static_cast<size_t>(b)] = static_cast<float>(r_sum / static_cast<double>(l.rows));
    }
  } else {
    for (int64_t k = 0; k < numel; ++k)
      v[k] = lerp(v[k], g[k] * g[k] + eps1_added, s.one_minus_beta2);  // V̂_t ← β̂2 V̂_{t−1} + (1 − β̂2) G²
  }

  // U_t = G_t / √V̂_t, visited element by element (twice: for RMS(U), then to apply).
  auto for_each_u = [&](auto&& f) {
    if (!l.factored) {
      for (int64_t k = 0; k < numel; ++k) f(k, adafactor_u(g[k], v[k], s));
      return;
    }
    for (int64_t b = 0; b < l.batches; ++b)
      for (int64_t i = 0; i < l.rows; ++i)
        for (int64_t j = 0; j < l.cols; ++j) {
          int64_t k = (b * l.rows + i) * l.cols + j;
          float v_hat = factored_v_hat(r[b * l.rows + i], c[b * l.cols + j], r_means_[static_cast<size_t>(b)], s);
          f(k, adafactor_u(g[k], v_hat, s));
        }
  };
  double sum_u2 = 0.0;
  for_each_u([&](int64_t, float u) { sum_u2 += static_cast<double>(u) * u; });
  double rms_u = numel > 0 ? std::sqrt(sum_u2 / static_cast<double>(numel)) : 0.0;
  double clip = std::max(1.0, rms_u / o.clip_threshold);  // Û_t = U_t / max(1, RMS(U_t)/d)

  float step = static_cast<float>(-alpha / clip);  // −α_t / max(1, RMS(U)/d)
  if (o.beta1 == 0.0) {
    for_each_u([&](int64_t k, float u) { x[k] = x[k] + step * u; });  // X_t ← X_{t−1} − α_t Û_t
  } else {
    float* m = state.buffers.at("exp_avg").data();
    float beta1 = static_cast<float>(o.beta1), one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
    for_each_u([&](int64_t k, float u) {
      m[k] = m[k] * beta1 + one_minus_beta1 * (-step * u);  // M_t ← β1 M_{t−1} + (1 − β1) α_t Û_t
      x[k] = x[k] - m[k];                                   // X_t ← X_{t−1} − M_t
    });
  }

  if (!traced(param)) return;
  int64_t k = traced_index();
  explanation_ = {state.step, {{"g", s.sign * g[k]}}};
  float u_k = 0.0f;
  if (l.factored) {
    int64_t b = k / (l.rows * l.cols), i = (k / l.cols) % l.rows, j = k % l.cols;
    float v_hat = factored_v_hat(r[b * l.rows + i], c[b * l.cols + j], r_means_[static_cast<size_t>(b)], s);
    explanation_.values.insert(explanation_.values.end(),
                               {{"R", r[b * l.rows + i]}, {"C", c[b * l.cols + j]}, {"v_hat", v_hat}});
    u_k = adafactor_u(g[k], v_hat, s);
  } else {
    explanation_.values.push_back({"v_hat", v[k]});
    u_k = adafactor_u(g[k], v[k], s);
  }
  explanation_.values.insert(explanation_.values.end(), {{"u", u_k},
                                                         {"rms_u", rms_u},
                                                         {"clip", clip},
                                                         {"rho", rho},
                                                         {"alpha", alpha},
                                                         {"update", static_cast<double>(x[k]) - x_before}});
}

}  // namespace moments
