// optim/adafactor.cpp — Adafactor's state, validation and step. The algorithm
// box and every deviation are listed in adafactor.hpp; the per-element
// formulas are in adafactor_math.hpp.
#include "adafactor.hpp"

#include <algorithm>
#include <cmath>

#include "adafactor_math.hpp"
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
  const double t = static_cast<double>(state.step);
  const int64_t numel = param.numel();
  float* x = param.data();
  const float* g = grad.data();
  Layout l = layout_of(param);

  // ρ_t and α_t = max(ε2, RMS(X_{t−1})) ρ_t — RMS before weight decay.
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
