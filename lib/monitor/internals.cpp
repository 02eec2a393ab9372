// monitor/internals.cpp — the optimizer internals behind Monitor's optimizer
// columns (see internals.hpp and monitor.hpp, OPTIMIZER INTERNALS).
#include "internals.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../optim/adafactor_math.hpp"
#include "../optim/adam8bit.hpp"
#include "../optim/lamb.hpp"

namespace moments {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor on_host(const Tensor& t) { return t.device() == Device::cpu ? t : t.to(Device::cpu); }

const Tensor* buffer(const ParamState& state, const char* name) {
  auto it = state.buffers.find(name);
  return it == state.buffers.end() ? nullptr : &it->second;
}

// m (exp_avg) as float32 values of the parameter's shape: Adam 8-bit's dequantized.
Tensor first_moment(const Optimizer& optimizer, const Tensor& param, const ParamState& state, const char* which) {
  if (auto* a = dynamic_cast<const Adam8bitFamily<Adam8bitOptions, false>*>(&optimizer)) return a->moment(param, which);
  if (auto* a = dynamic_cast<const Adam8bitFamily<AdamW8bitOptions, true>*>(&optimizer)) return a->moment(param, which);
  const Tensor* t = buffer(state, which);
  return t ? *t : Tensor();
}

// The nearest-rank q-quantile of x[0..n) (reorders x).
double percentile(std::vector<float>& x, double q) {
  if (x.empty()) return kNaN;
  size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(x.size())));
  k = std::clamp<size_t>(k, 1, x.size()) - 1;
  std::nth_element(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(k), x.end());
  return x[k];
}

// Adam's family: ‖m‖, cos(m, g), p1/p50/p99 of √v̂, and the share of elements
// where ε is more than half of the denominator the optimizer divides by.
void adam_family(const Optimizer& optimizer, InternalsKind kind, size_t group, const Tensor& param, const Tensor& grad,
                 const ParamState& state, std::vector<float>& scratch, std::vector<double>& out) {
  const double beta2 = optimizer.hyperparameter(group, "beta2"), eps = optimizer.hyperparameter(group, "eps");
  const double t = static_cast<double>(state.step);
  // Where ε sits (the optimizers' conventions blocks): Adam, AdamW, NAdam, LAMB, 8-bit Adam divide by √v̂ + ε;
  // RAdam and schedule-free AdamW by √v + ε (their bias correction is outside); Adamax by u (ε is inside the max).
  const std::string name = optimizer.name();
  const bool eps_on_raw_v = name == "RAdam" || kind == InternalsKind::schedule_free;
  bool corrected = kind != InternalsKind::adamax;
  if (kind == InternalsKind::lamb && optimizer.hyperparameter(group, "bias_correction") == 0.0) corrected = false;
  const double bc2_sqrt = corrected ? std::sqrt(1.0 - std::pow(beta2, t)) : 1.0;  // √(1 − β2^t)

  Tensor m = kind == InternalsKind::schedule_free ? Tensor() : on_host(first_moment(optimizer, param, state, "exp_avg"));
  Tensor v;
  if (kind == InternalsKind::adamax) v = on_host(*buffer(state, "exp_inf"));
  else if (const Tensor* v_max = buffer(state, "max_exp_avg_sq")) v = on_host(*v_max);  // amsgrad: max_τ v_τ
  else v = on_host(first_moment(optimizer, param, state, "exp_avg_sq"));
  const Tensor g = grad.defined() ? on_host(grad) : Tensor();
  const int64_t n = param.numel();
  const float* mp = m.defined() ? m.data() : nullptr;
  const float* gp = g.defined() ? g.data() : nullptr;
  const float* vp = v.data();

  // One pass: Σm², Σg², Σm·g, √v̂ into scratch, and the count of ε-dominated elements.
  double m2 = 0, g2 = 0, mg = 0;
  int64_t eps_dominated = 0;
  scratch.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (mp) {
      double mi = mp[i], gi = gp ? gp[i] : 0.0;
      m2 += mi * mi, g2 += gi * gi, mg += mi * gi;
    }
    double root = kind == InternalsKind::adamax ? vp[i] : std::sqrt(static_cast<double>(vp[i]));  // u, or √v
    double sqrt_v_hat = kind == InternalsKind::adamax ? root : root / bc2_sqrt;                  // √v̂ = √v / √(1 − β2^t)
    scratch[static_cast<size_t>(i)] = static_cast<float>(sqrt_v_hat);
    double denom = kind == InternalsKind::adamax ? root : (eps_on_raw_v ? root : sqrt_v_hat) + eps;
    if (eps > 0.5 * denom) ++eps_dominated;  // ε > ½ (√v̂ + ε), i.e. ε > √v̂ (Adamax: ε > ½ u)
  }
  const bool has_m = kind != InternalsKind::schedule_free;
  out.push_back(has_m && mp ? std::sqrt(m2) : kNaN);                                        // ‖m‖
  out.push_back(has_m && mp && gp && m2 > 0 && g2 > 0 ? mg / std::sqrt(m2 * g2) : kNaN);  // cos(m, g)
  for (double q : {0.01, 0.50, 0.99}) out.push_back(percentile(scratch, q));
  out.push_back(n > 0 ? static_cast<double>(eps_dominated) / static_cast<double>(n) : kNaN);
}

// Adafactor: min and max of R and C (NaN for a vector, whose V̂ is not factored)
// and the update clip factor max(1, RMS(U)/d), U = G/√V̂ from the state after the
// step, by the same per-element formulas the step uses (adafactor_math.hpp).
void adafactor(const Optimizer& optimizer, size_t group, const Tensor& param, const Tensor& grad,
               const ParamState& state, std::vector<double>& out) {
  const Tensor* r_buffer = buffer(state, "row_var");
  AdafactorScalars s{1.0f, static_cast<float>(optimizer.hyperparameter(group, "eps1")),
                     optimizer.hyperparameter(group, "eps1_in_square") != 0.0, 1.0f};
  const Tensor g = grad.defined() ? on_host(grad) : Tensor();
  double sum_u2 = 0;
  const int64_t n = param.numel();
  if (r_buffer) {
    const Tensor r = on_host(*r_buffer), c = on_host(*buffer(state, "col_var"));
    const int64_t rows = param.size(-2), cols = param.size(-1), batches = rows * cols != 0 ? n / (rows * cols) : 0;
    const auto [r_lo, r_hi] = std::minmax_element(r.data(), r.data() + r.numel());
    const auto [c_lo, c_hi] = std::minmax_element(c.data(), c.data() + c.numel());
    out.insert(out.end(), {*r_lo, *r_hi, *c_lo, *c_hi});
    for (int64_t b = 0; g.defined() && b < batches; ++b) {
      double r_sum = 0;
      for (int64_t i = 0; i < rows; ++i) r_sum += r.data()[b * rows + i];
      const float r_mean = static_cast<float>(r_sum / static_cast<double>(rows));
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          float v_hat = factored_v_hat(r.data()[b * rows + i], c.data()[b * cols + j], r_mean, s);
          double u = adafactor_u(g.data()[(b * rows + i) * cols + j], v_hat, s);
          sum_u2 += u * u;
        }
    }
  } else {
    out.insert(out.end(), {kNaN, kNaN, kNaN, kNaN});
    const Tensor v = on_host(*buffer(state, "variance"));
    for (int64_t k = 0; g.defined() && k < n; ++k) {
      double u = adafactor_u(g.data()[k], v.data()[k], s);
      sum_u2 += u * u;
    }
  }
  const double d = optimizer.hyperparameter(group, "clip_threshold");
  out.push_back(g.defined() && n > 0 ? std::max(1.0, std::sqrt(sum_u2 / static_cast<double>(n)) / d) : kNaN);
}

}  // namespace

InternalsKind internals_kind(const Optimizer& optimizer) {
  const std::string name = optimizer.name();
  if (name == "Adam" || name == "AdamW" || name == "NAdam" || name == "RAdam" || name == "Adam8bit" ||
      name == "AdamW8bit")
    return InternalsKind::adam;
  if (name == "Adamax") return InternalsKind::adamax;
  if (name == "AdamWScheduleFree") return InternalsKind::schedule_free;
  if (name == "LAMB") return InternalsKind::lamb;
  if (name == "Adafactor") return InternalsKind::adafactor;
  if (name == "Lion") return InternalsKind::lion;
  return InternalsKind::none;
}

std::vector<std::string> internals_names(InternalsKind kind) {
  const std::vector<std::string> adam = {"adam.m_norm",          "adam.cos_m_g",          "adam.sqrt_v_hat_p1",
                                         "adam.sqrt_v_hat_p50",  "adam.sqrt_v_hat_p99",   "adam.eps_share"};
  switch (kind) {
    case InternalsKind::adam:
    case InternalsKind::adamax:
    case InternalsKind::schedule_free: return adam;
    case InternalsKind::lamb: {
      std::vector<std::string> names = adam;
      names.push_back("lamb.trust_ratio");
      return names;
    }
    case InternalsKind::adafactor:
      return {"adafactor.row_min", "adafactor.row_max", "adafactor.col_min", "adafactor.col_max", "adafactor.clip"};
    case InternalsKind::lion: return {"lion.sign_flips"};
    case InternalsKind::none: break;
  }
  return {};
}

std::vector<double> compute_internals(const Optimizer& optimizer, InternalsKind kind, size_t group, const Tensor& param,
                                      const Tensor& grad, double lion_flips, std::vector<float>& scratch) {
  const size_t count = internals_names(kind).size();
  const ParamState* state = optimizer.state(param);
  if (!state || state->step == 0) return std::vector<double>(count, kNaN);
  std::vector<double> out;
  switch (kind) {
    case InternalsKind::adam:
    case InternalsKind::adamax:
    case InternalsKind::schedule_free:
    case InternalsKind::lamb:
      adam_family(optimizer, kind, group, param, grad, *state, scratch, out);
      if (kind == InternalsKind::lamb) out.push_back(static_cast<const Lamb&>(optimizer).trust_ratio(param));
      break;
    case InternalsKind::adafactor: adafactor(optimizer, group, param, grad, *state, out); break;
    case InternalsKind::lion: out.push_back(lion_flips); break;
    case InternalsKind::none: break;
  }
  return out;
}

std::vector<int8_t> lion_update_signs(const Optimizer& optimizer, size_t group, const Tensor& param) {
  const ParamState* state = optimizer.state(param);
  const Tensor grad = param.grad();
  if (!grad.defined()) return {};
  const Tensor* m_buffer = state ? buffer(*state, "exp_avg") : nullptr;  // none before the first step: m_0 = 0
  const Tensor g = on_host(grad), m = m_buffer ? on_host(*m_buffer) : Tensor();
  const float beta1 = static_cast<float>(optimizer.hyperparameter(group, "beta1"));
  const float one_minus_beta1 = static_cast<float>(1.0 - optimizer.hyperparameter(group, "beta1"));
  std::vector<int8_t> signs(static_cast<size_t>(g.numel()));
  for (int64_t i = 0; i < g.numel(); ++i) {
    float m_i = m.defined() ? m.data()[i] : 0.0f;
    float c = m_i * beta1 + g.data()[i] * one_minus_beta1;  // c_t ← β1 m_{t−1} + (1 − β1) g_t (lion_math.hpp)
    signs[static_cast<size_t>(i)] = static_cast<int8_t>((c > 0.0f) - (c < 0.0f));
  }
  return signs;
}

double sign_flip_fraction(const std::vector<int8_t>& before, const std::vector<int8_t>& after) {
  if (before.empty() || before.size() != after.size()) return kNaN;
  size_t flips = 0;
  for (size_t i = 0; i < before.size(); ++i) flips += before[i] != after[i];
  return static_cast<double>(flips) / static_cast<double>(before.size());
}

}  // namespace moments
