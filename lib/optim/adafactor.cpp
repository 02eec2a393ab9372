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
#include "parallel.hpp"
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

// The faster loops of a factored step (v2), after Adafactor::update's readable v1 below. Returns α_t.
double factored_step_v2(float* x, const float* g, float* r, float* c, float* m, const Layout& l,
                        const AdafactorOptions& o, double t, std::vector<float>& float_scratch,
                        std::vector<double>& double_scratch);

// The step on a cuda tensor: the same algorithm as kernels, in cuda/adafactor.cu. Returns α_t.
// alpha: two floats on the device that receive α_t as a double.
void update_on_device(Tensor& param, const Tensor& grad, ParamState& state, const AdafactorOptions& o, Tensor& alpha) {
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
  param.cuda_backend().adafactor_update(param.data(), grad.data(), buffer("row_var"), buffer("col_var"),
                                        buffer("variance"), m, step, alpha.data());
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
    if (auto on_device = device_alpha_.find(p.impl()); on_device != device_alpha_.end()) {
      std::vector<float> halves = on_device->second.to_vector();  // a copy back: asked for, so the host waits
      double alpha = 0.0;
      std::memcpy(&alpha, halves.data(), sizeof(alpha));
      sum += alpha;
      ++count;
      continue;
    }
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
    Tensor& alpha = device_alpha_[param.impl()];  // kept per parameter: no allocation per step
    if (!alpha.defined()) alpha = Tensor::zeros({2}, Device::cuda);
    update_on_device(param, grad, state, o, alpha);
    return;
  }
  const double t = static_cast<double>(state.step);
  const int64_t numel = param.numel();
  float* x = param.data();
  const float* g = grad.data();
  Layout l = layout_of(param);
  if (!o.reference_loops && l.factored && !traced(param)) {  // v2 below; vectors (small) and the trace take v1
    float* m = o.beta1 > 0.0 ? state.buffers.at("exp_avg").data() : nullptr;
    last_alpha_[param.impl()] = factored_step_v2(x, g, state.buffers.at("row_var").data(), state.buffers.at("col_var").data(),
                                                 m, l, o, t, v2_float_scratch_, v2_double_scratch_);
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

namespace {

// ---- v2: the same step in three passes, vectorized, on the thread pool -------
// v1 (in update, above) reads G four times and X three times, one element at a time,
// with every sum in double (such loops do not vectorize without -ffast-math).
// v2 makes three passes over the rows:
//   1. Σ_j G_ij² of each row, Σ_i G_ij² of each column              reads G                 4 bytes a parameter
//   2. Σ_j U_ij² and Σ_j X_ij² of each row (U needs R and C complete)   reads G, X              8
//   3. X ← X(1 − lr λ) − α Û (needs RMS(U) for the clipping, RMS(X))    reads G, X, writes X   12
// 24 bytes a parameter, 20 of them reads, against Adam's 28 (16 read: θ, g, m, v;
// 12 written). No exact arrangement moves less: R and C need all of G before
// any U is known, and the clipping all of U before any X is written, so G is
// read three times (U is recomputed from G, R and C in pass 3, never stored), and
// X is read before it is written for RMS(X_{t−1}) (a Σ X² carried over from the
// last step's writes would go wrong whenever anything else wrote the parameters
// in between). A thread streaming from memory here is bound by its reads (writes
// of lines it has just read cost little), so a one-thread step takes about 20/16
// of Adam's time, not 24/28 (bench_optim's 4096 × 4096 rows measure it, beside
// the same three passes as bare loops: the floor of any exact arrangement).
//
// What the loops do about it. A core streams only as fast as its loads bring lines
// into L1, and the row of b_j (16 KB for 4096 columns) does not stay there while G
// and X stream past: every extra line loaded costs, even from L2 (measured: a third
// load stream of b slows a two-stream pass by a third). So passes 1, 2 and 3 take
// kRowsAtOnce rows together, and one load of b_j (or of the column partials) serves
// them all; the cap min(a_i b_j, 1/ε1) is skipped when the largest a_i b_j is below
// it (the same values); the sign of a maximizing step is folded into the step (the
// same bits: negation is exact). None of this changes a bit of v2's results.
//
// Rounding: sums run in kLanes float partial sums over blocks of kBlock elements,
// each block added in double; and 1/√V̂_ij = 1/√(R_i C_j / mean R) is taken as
// (1/√(R_i / mean R)) · (1/√C_j), one product per element instead of a division
// and a square root. So v2 rounds differently from v1, by a few float ulps
// (tests/test_optim.cpp). Threads: each pass is a parallel_for over rows. A sum
// across rows is kept per row (Σ_j G², U², X², in double) or per group of
// kRowsPerGroup rows (the float column sums, a row of partials per group) and
// added up afterwards in row or group order, so neither the thread count nor the
// order the rows run in changes a bit (the same bits as the one-thread v2 before).
// No software prefetching: on this machine it slowed every pass (the hardware
// prefetchers follow these forward streams).
constexpr int kLanes = 8;
constexpr int64_t kBlock = 1024;
constexpr int64_t kRowsPerGroup = 64;          // rows whose G² one float partial per column sums, then double
constexpr int64_t kElementsPerPassChunk = 1 << 16;  // about the work of one parallel_for chunk
constexpr int kRowsAtOnce = 4;                       // rows a pass takes together (see above)
// kLanes floats as one value (GCC's vector extension): one AVX2 register, two
// SSE registers in the SSE2 clone. Sums kept in Lanes add lane by lane, so the
// loops run 8 elements at a time without reordering any float addition.
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));
#define MOMENTS_LOAD(lanes, pointer) std::memcpy(&(lanes), (pointer), sizeof(Lanes))
#define MOMENTS_STORE(pointer, lanes) std::memcpy((pointer), &(lanes), sizeof(Lanes))

// Pass 1, kRows rows at once: Σ_j G_ij² of each row into totals[r]; adds each G_ij² into columns[j], row
// after row (the same additions, in the same order, as one row at a time: columns are read and written
// once per kRows rows, not once per row).
template <int kRows>
MOMENTS_CPU_CLONES void rows_gradient_squares_v2(const float* g, int64_t cols, float* columns, double* totals) {
  for (int r = 0; r < kRows; ++r) totals[r] = 0.0;
  for (int64_t start = 0; start < cols; start += kBlock) {
    int64_t end = std::min(cols, start + kBlock), j = start;
    Lanes sum[kRows] = {}, gj, cj;
    for (; j + kLanes <= end; j += kLanes) {
      MOMENTS_LOAD(cj, columns + j);
      for (int r = 0; r < kRows; ++r) {
        MOMENTS_LOAD(gj, g + r * cols + j);
        Lanes g2 = gj * gj;
        cj += g2;
        sum[r] += g2;
      }
      MOMENTS_STORE(columns + j, cj);
    }
    for (int l = 0; j < end; ++j, ++l)  // the tail, into the same lanes
      for (int r = 0; r < kRows; ++r) {
        float gij = g[r * cols + j];
        columns[j] += gij * gij;
        sum[r][l] += gij * gij;
      }
    for (int r = 0; r < kRows; ++r)
      for (int l = 0; l < kLanes; ++l) totals[r] += sum[r][l];
  }
}

// U_ij = min(a_i b_j, cap) · G_ij, a_i = 1/√(R_i / mean R), b_j = 1/√C_j; cap = 1/ε1 is PyTorch's
// floor V̂ ≥ ε1² (+inf in the paper's form; a NaN product takes the cap, as in v1). The sign (−1 with
// maximize) is left to the caller: it changes no U² and, folded into the step, no bit of X.
// Capped = false where the caller has checked that no a_i b_j reaches the cap: the same values, two
// instructions fewer an element. (T: float or Lanes, passed and returned by reference: a vector passed
// by value to a function that is not one of the clones would change the ABI in the portable build.)
template <bool Capped, class T>
inline void u_v2(const T& g, const T& inverse_sqrt_v, float cap, T& u) {
  if constexpr (Capped)
    u = (inverse_sqrt_v < cap ? inverse_sqrt_v : cap) * g;
  else
    u = inverse_sqrt_v * g;
}

// Pass 2, kRows rows at once (one load of b_j serves them all): Σ_j U_ij² and Σ_j X_ij² of each row.
// a: the rows' a_i. The sums are each row's own, so kRows changes no bit.
struct RowSquares {
  double u2, x2;
};
template <bool Capped, int kRows>
MOMENTS_CPU_CLONES void rows_update_squares_v2(const float* g, const float* x, const float* b, int64_t cols, const float* a,
                                               float cap, RowSquares* totals) {
  for (int r = 0; r < kRows; ++r) totals[r] = {0.0, 0.0};
  for (int64_t start = 0; start < cols; start += kBlock) {
    int64_t end = std::min(cols, start + kBlock), j = start;
    Lanes u_sum[kRows] = {}, x_sum[kRows] = {}, gj, xj, bj;
    for (; j + kLanes <= end; j += kLanes) {
      MOMENTS_LOAD(bj, b + j);
      for (int r = 0; r < kRows; ++r) {
        MOMENTS_LOAD(gj, g + r * cols + j);
        MOMENTS_LOAD(xj, x + r * cols + j);
        Lanes inverse_sqrt_v = a[r] * bj, u;
        u_v2<Capped>(gj, inverse_sqrt_v, cap, u);  // U_ij = G_ij / √V̂_ij, 1/√V̂_ij = a_i b_j
        u_sum[r] += u * u;                           // Σ U²: RMS(U_t)
        x_sum[r] += xj * xj;                         // Σ X²: RMS(X_{t−1})
      }
    }
    for (int l = 0; j < end; ++j, ++l)
      for (int r = 0; r < kRows; ++r) {
        float inverse_sqrt_v = a[r] * b[j], u, xij = x[r * cols + j];
        u_v2<Capped>(g[r * cols + j], inverse_sqrt_v, cap, u);
        u_sum[r][l] += u * u;
        x_sum[r][l] += xij * xij;
      }
    for (int r = 0; r < kRows; ++r)
      for (int l = 0; l < kLanes; ++l) {
        totals[r].u2 += u_sum[r][l];
        totals[r].x2 += x_sum[r][l];
      }
  }
}

// Pass 3, kRows rows at once: X ← X(1 − lr λ) + step · U, step = −α / max(1, RMS(U)/d) (times the sign);
// with momentum M ← β1 M + (1 − β1)(−step · U), X ← X(1 − lr λ) − M.
template <bool Capped, int kRows>
MOMENTS_CPU_CLONES void rows_apply_v2(float* x, float* m, const float* g, const float* b, int64_t cols, const float* a,
                                      float cap, float decay, float step, float beta1) {
  int64_t j = 0;
  Lanes xj, gj, bj, mj;
  float one_minus_beta1 = 1.0f - beta1;
  for (; j + kLanes <= cols; j += kLanes) {
    MOMENTS_LOAD(bj, b + j);
    for (int r = 0; r < kRows; ++r) {
      int64_t k = r * cols + j;
      MOMENTS_LOAD(xj, x + k);
      MOMENTS_LOAD(gj, g + k);
      Lanes inverse_sqrt_v = a[r] * bj, u;
      u_v2<Capped>(gj, inverse_sqrt_v, cap, u);  // U_ij = G_ij / √V̂_ij
      if (!m) {
        xj = xj * decay + step * u;                          // X_t ← X_{t−1}(1 − lr λ) − α_t Û_t
      } else {
        MOMENTS_LOAD(mj, m + k);
        mj = mj * beta1 + one_minus_beta1 * (-step * u);     // M_t ← β1 M_{t−1} + (1 − β1) α_t Û_t
        MOMENTS_STORE(m + k, mj);
        xj = xj * decay - mj;                                // X_t ← X_{t−1}(1 − lr λ) − M_t
      }
      MOMENTS_STORE(x + k, xj);
    }
  }
  for (; j < cols; ++j)
    for (int r = 0; r < kRows; ++r) {
      int64_t k = r * cols + j;
      float inverse_sqrt_v = a[r] * b[j], u;
      u_v2<Capped>(g[k], inverse_sqrt_v, cap, u);
      if (!m) {
        x[k] = x[k] * decay + step * u;                      // X_t ← X_{t−1}(1 − lr λ) − α_t Û_t
      } else {
        m[k] = m[k] * beta1 + one_minus_beta1 * (-step * u);  // M_t ← β1 M_{t−1} + (1 − β1) α_t Û_t
        x[k] = x[k] * decay - m[k];                           // X_t ← X_{t−1}(1 − lr λ) − M_t
      }
    }
}
#undef MOMENTS_LOAD
#undef MOMENTS_STORE

// What the passes' chunk bodies share, behind one reference.
struct StepV2 {
  float* x;
  const float* g;
  float* m;                    // the first moment, null without β1
  int64_t rows, cols;          // rows of all the matrices together
  int64_t matrix_rows, groups; // rows of one matrix, and its groups of kRowsPerGroup rows
  float* column_partials;      // [matrices · groups][cols]: Σ G² over one group's rows
  double *row_g2, *row_u2, *row_x2;  // [rows]
  float* row_factors;                // [rows]: a_i = 1/√(R_i / mean R)
  float* column_factors;             // [matrices][cols]: b_j = 1/√C_j
  float cap, sign, decay, step, beta1;

  const float* column_factors_of(int64_t row) const { return column_factors + row / matrix_rows * cols; }
  // Rows [begin, end) in blocks: body(row, count) for kRowsAtOnce rows of one matrix where they fit, else
  // for one row; count is a std::integral_constant, so each pass's row function is a template on it.
  template <class Body>
  void for_row_blocks(int64_t begin, int64_t end, const Body& body) const {
    for (int64_t row = begin; row < end;) {
      bool fits = row + kRowsAtOnce <= end && row % matrix_rows + kRowsAtOnce <= matrix_rows;
      if (fits) {
        body(row, std::integral_constant<int, kRowsAtOnce>{});
        row += kRowsAtOnce;
      } else {
        body(row, std::integral_constant<int, 1>{});
        row += 1;
      }
    }
  }
};

// The v2 step of one factored parameter (a matrix, or a batch of them, as
// Layout says); the same lines as update()'s v1, in the order given above.
// Returns α_t.
double factored_step_v2(float* x, const float* g, float* r, float* c, float* m, const Layout& l,
                        const AdafactorOptions& o, double t, std::vector<float>& float_scratch,
                        std::vector<double>& double_scratch) {
  const int64_t numel = l.batches * l.rows * l.cols;
  double rho = o.relative_step ? std::min(o.learning_rate, 1.0 / std::sqrt(t)) : o.learning_rate;  // ρ_t
  AdafactorScalars s{static_cast<float>(std::pow(t, o.beta2_decay)),      // 1 − β̂2_t = t^c
                     static_cast<float>(o.eps1), o.eps1_in_square, o.maximize ? -1.0f : 1.0f};
  float eps1_added = o.eps1_in_square ? s.eps1 : 0.0f;  // the paper's G² + ε1
  StepV2 p{};
  p.x = x, p.g = g, p.m = m;
  p.rows = l.batches * l.rows, p.cols = l.cols, p.matrix_rows = l.rows;
  p.groups = num_chunks(l.rows, kRowsPerGroup);
  const int64_t column_partials = l.batches * p.groups * l.cols;
  float_scratch.resize(static_cast<size_t>(column_partials + p.rows + l.batches * l.cols));
  double_scratch.resize(static_cast<size_t>(3 * p.rows));
  p.column_partials = float_scratch.data();
  p.row_factors = p.column_partials + column_partials;
  p.column_factors = p.row_factors + p.rows;
  p.row_g2 = double_scratch.data(), p.row_u2 = p.row_g2 + p.rows, p.row_x2 = p.row_u2 + p.rows;
  p.cap = o.eps1_in_square ? std::numeric_limits<float>::infinity() : 1.0f / s.eps1;
  p.sign = s.sign;
  const int64_t rows_per_chunk = std::max<int64_t>(1, kElementsPerPassChunk / l.cols);

  // Pass 1: Σ G² of rows and columns, a group of rows of one matrix at a time.
  parallel_for(l.batches * p.groups, std::max<int64_t>(1, rows_per_chunk / kRowsPerGroup), [&p](int64_t begin, int64_t end) {
    for (int64_t group = begin; group < end; ++group) {
      float* columns = p.column_partials + group * p.cols;
      std::fill(columns, columns + p.cols, 0.0f);
      int64_t matrix = group / p.groups, first = group % p.groups * kRowsPerGroup;
      int64_t row = matrix * p.matrix_rows + first, last = matrix * p.matrix_rows + std::min(p.matrix_rows, first + kRowsPerGroup);
      p.for_row_blocks(row, last, [&](int64_t i, auto count) {
        rows_gradient_squares_v2<count>(p.g + i * p.cols, p.cols, columns, p.row_g2 + i);
      });
    }
  });
  // C from the groups' partials, added in group order (kColumnsPerChunk columns a chunk); then b_j = 1/√C_j.
  constexpr int64_t kColumnsPerChunk = 1024;
  parallel_for(l.batches * l.cols, kColumnsPerChunk, [&p, &s, c, eps1_added](int64_t begin, int64_t end) {
    double column_sums[kColumnsPerChunk];
    for (int64_t k = begin; k < end;) {  // the chunk's columns of one matrix at a time
      int64_t matrix = k / p.cols, first = k % p.cols, count = std::min(end - k, p.cols - first);
      std::fill(column_sums, column_sums + count, 0.0);
      for (int64_t group = 0; group < p.groups; ++group) {
        const float* partial = p.column_partials + (matrix * p.groups + group) * p.cols + first;
        for (int64_t j = 0; j < count; ++j) column_sums[j] += partial[j];
      }
      for (int64_t j = 0; j < count; ++j, ++k) {
        float col_mean = static_cast<float>(column_sums[j] / static_cast<double>(p.matrix_rows)) + eps1_added;
        c[k] = lerp(c[k], col_mean, s.one_minus_beta2);  // C_t ← β̂2 C_{t−1} + (1 − β̂2) mean_i(G²)
        p.column_factors[k] = 1.0f / std::sqrt(c[k]);
      }
    }
  });
  // R, mean(R) (clamped at ε1 in PyTorch's form) and a_i, one matrix after another.
  for (int64_t b = 0; b < l.batches; ++b) {
    float* rb = r + b * l.rows;
    double r_sum = 0.0;
    for (int64_t i = 0; i < l.rows; ++i) {
      float row_mean = static_cast<float>(p.row_g2[b * l.rows + i] / static_cast<double>(l.cols)) + eps1_added;
      rb[i] = lerp(rb[i], row_mean, s.one_minus_beta2);  // R_t ← β̂2 R_{t−1} + (1 − β̂2) mean_j(G²)
      r_sum += rb[i];
    }
    float r_mean = static_cast<float>(r_sum / static_cast<double>(l.rows));
    r_mean = s.eps1_in_square ? r_mean : (r_mean > s.eps1 ? r_mean : s.eps1);
    for (int64_t i = 0; i < l.rows; ++i) p.row_factors[b * l.rows + i] = 1.0f / std::sqrt(rb[i] / r_mean);
  }

  // No a_i b_j reaches the cap when the largest product does not (rounding is monotonic; a NaN or an
  // infinity among the factors takes the capped loops).
  auto largest_finite = [](const float* factors, int64_t n, bool& finite) {
    float largest = 0.0f;
    for (int64_t k = 0; k < n; ++k) {
      finite = finite && std::isfinite(factors[k]);
      largest = std::max(largest, factors[k]);
    }
    return largest;
  };
  bool finite = true;
  float max_a = largest_finite(p.row_factors, p.rows, finite);
  float max_b = largest_finite(p.column_factors, l.batches * l.cols, finite);
  const bool capped = !(finite && max_a * max_b < p.cap);

  // Pass 2: Σ U² (U = G / √V̂) and Σ X².
  auto pass2 = [&p, rows_per_chunk](auto capped_tag) {
    using Capped = decltype(capped_tag);  // std::true_type or std::false_type
    parallel_for(p.rows, rows_per_chunk, [&p](int64_t begin, int64_t end) {
      p.for_row_blocks(begin, end, [&p](int64_t row, auto count) {
        RowSquares squares[count];
        rows_update_squares_v2<Capped::value, count>(p.g + row * p.cols, p.x + row * p.cols, p.column_factors_of(row), p.cols,
                                               p.row_factors + row, p.cap, squares);
        for (int r = 0; r < count; ++r) {
          p.row_u2[row + r] = squares[r].u2;
          p.row_x2[row + r] = squares[r].x2;
        }
      });
    });
  };
  capped ? pass2(std::true_type{}) : pass2(std::false_type{});
  double sum_u2 = 0.0, sum_x2 = 0.0;
  for (int64_t row = 0; row < p.rows; ++row) {
    sum_u2 += p.row_u2[row];
    sum_x2 += p.row_x2[row];
  }
  double rms_x = numel > 0 ? std::sqrt(sum_x2 / static_cast<double>(numel)) : 0.0;
  double alpha = o.scale_parameter ? std::max(o.eps2, rms_x) * rho : rho;  // α_t = max(ε2, RMS(X_{t−1})) ρ_t
  double rms_u = numel > 0 ? std::sqrt(sum_u2 / static_cast<double>(numel)) : 0.0;
  double clip = std::max(1.0, rms_u / o.clip_threshold);  // Û_t = U_t / max(1, RMS(U_t)/d)

  // Pass 3: X_t ← X_{t−1}(1 − lr λ) − α_t Û_t  (or − M_t), forwards.
  p.step = static_cast<float>(-alpha / clip);  // −α_t / max(1, RMS(U)/d)
  p.decay = o.weight_decay != 0.0 ? static_cast<float>(1.0 - o.learning_rate * o.weight_decay) : 1.0f;
  p.beta1 = static_cast<float>(o.beta1);
  auto pass3 = [&p, rows_per_chunk](auto capped_tag) {
    using Capped = decltype(capped_tag);  // std::true_type or std::false_type
    const float signed_step = p.step * p.sign;  // step · (sign G) = (step · sign) G, bit for bit
    parallel_for(p.rows, rows_per_chunk, [&p, signed_step](int64_t begin, int64_t end) {
      p.for_row_blocks(begin, end, [&p, signed_step](int64_t row, auto count) {
        rows_apply_v2<Capped::value, count>(p.x + row * p.cols, p.m ? p.m + row * p.cols : nullptr, p.g + row * p.cols,
                                      p.column_factors_of(row), p.cols, p.row_factors + row, p.cap, p.decay, signed_step,
                                      p.beta1);
      });
    });
  };
  capped ? pass3(std::true_type{}) : pass3(std::false_type{});
  return alpha;
}

}  // namespace

}  // namespace moments
