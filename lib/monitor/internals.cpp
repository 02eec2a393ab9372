// monitor/internals.cpp — the optimizer internals behind Monitor's optimizer
// columns (see internals.hpp and monitor.hpp, OPTIMIZER INTERNALS).
#include "internals.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../host_device.hpp"
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

// Σm², Σg², Σm·g in one pass, eight float partial sums per quantity (GCC's vector
// extension, as in monitor.cpp: lane k takes elements k, k+8, ...; summed in double
// at the end, in a fixed order). A missing g counts as zeros.
typedef float Lanes __attribute__((vector_size(8 * sizeof(float))));
struct MomentSums {
  double m2 = 0, g2 = 0, mg = 0;
};
MOMENTS_CPU_CLONES MomentSums moment_sums(const float* m, const float* g, int64_t n) {
  Lanes m2 = {}, g2 = {}, mg = {};
  int64_t i = 0;
  auto pass = [&](auto has_grad) {  // the test of g out of the loop (inside, it kept mg in memory)
    for (; i + 8 <= n; i += 8) {
      Lanes a, b = {};
      std::memcpy(&a, m + i, sizeof a);
      if constexpr (decltype(has_grad)::value) std::memcpy(&b, g + i, sizeof b);
      m2 += a * a, g2 += b * b, mg += a * b;
    }
  };
  if (g) pass(std::true_type{});
  else pass(std::false_type{});
  // The lanes as arrays from here: indexing the vectors themselves kept one of them in memory in the loop.
  float m2_lanes[8], g2_lanes[8], mg_lanes[8];
  std::memcpy(m2_lanes, &m2, sizeof m2), std::memcpy(g2_lanes, &g2, sizeof g2), std::memcpy(mg_lanes, &mg, sizeof mg);
  for (; i < n; ++i) {
    float a = m[i], b = g ? g[i] : 0.0f;
    m2_lanes[0] += a * a, g2_lanes[0] += b * b, mg_lanes[0] += a * b;
  }
  MomentSums s;
  for (int lane = 0; lane < 8; ++lane) s.m2 += m2_lanes[lane], s.g2 += g2_lanes[lane], s.mg += mg_lanes[lane];
  return s;
}

// Nearest-rank percentiles of v ≥ 0 (v's bit patterns sort as its values do, so
// the order of √v̂, a rising function of v, is v's), and the count of v < below,
// without sorting: a histogram of the top 13 bits of the pattern (16 bins per
// octave), then an exact selection among the few elements of each wanted bin.
// Three passes over v: the histogram; the smallest and largest element of each wanted bin (a
// bin of equal elements, such as v's zeros, answers its rank at once); and, for the other wanted
// bins, a pass that keeps only what falls in them. `ranks`: three, 0-based, rising (p1, p50, p99).
struct Selection {
  std::vector<float> values;  // v at the wanted ranks, in the order asked
  int64_t below = 0;
};
Selection select_ranks(const float* v, int64_t n, const std::vector<int64_t>& ranks, double below,
                       InternalsScratch& scratch) {
  std::vector<uint32_t>& histogram = scratch.histogram;
  std::vector<float>&picked = scratch.picked, &picked_middle = scratch.picked_middle, &picked_high = scratch.picked_high;
  constexpr int kShift = 19;                         // 31 bits of a non-negative float's pattern, less 19:
  constexpr size_t kBins = size_t{1} << (31 - kShift);  // 4096 bins
  auto bin = [](float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return (bits & 0x7fffffffu) >> kShift;  // −0 as +0
  };
  Selection out;
  if (n <= 16384) {  // a small tensor: select in a copy (cheaper than clearing the histograms)
    picked.assign(v, v + n);
    for (int64_t j = 0; j < n; ++j) out.below += v[j] < below;
    for (int64_t rank : ranks) {
      std::nth_element(picked.begin(), picked.begin() + static_cast<std::ptrdiff_t>(rank), picked.end());
      out.values.push_back(picked[static_cast<size_t>(rank)]);
    }
    return out;
  }
  // Four histograms, element i into histogram i mod 4: neighbouring elements often share
  // a bin, and one histogram would make each increment wait for the one before.
  histogram.assign(4 * kBins, 0);
  // v < below in float: f, the double `below` rounded up to a float, has no float between them.
  float below_f = static_cast<float>(below);
  if (static_cast<double>(below_f) < below) below_f = std::nextafter(below_f, INFINITY);
  // The patterns are read as integers: the loop has no float in it (v < below is counted in the next pass).
  auto bin_at = [v](int64_t j) {
    uint32_t bits;
    std::memcpy(&bits, v + j, sizeof bits);
    return (bits & 0x7fffffffu) >> kShift;  // −0 as +0
  };
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int64_t k = 0; k < 4; ++k) ++histogram[static_cast<size_t>(k) * kBins + bin_at(i + k)];
  for (; i < n; ++i) ++histogram[bin_at(i)];
  for (size_t b = 0; b < kBins; ++b) histogram[b] += histogram[kBins + b] + histogram[2 * kBins + b] + histogram[3 * kBins + b];
  // The bin of each wanted rank, and the rank's place among that bin's elements.
  std::vector<uint32_t> bins;
  std::vector<int64_t> offsets;
  uint32_t b = 0;
  int64_t before = 0;  // elements in bins below b
  for (int64_t rank : ranks) {  // 0-based, rising
    while (before + histogram[b] <= rank) before += histogram[b++];
    bins.push_back(b), offsets.push_back(rank - before);
  }
  // A pass over v's bit patterns finds the smallest and the largest pattern in each wanted bin (eight
  // elements at a time, no branch): a bin whose elements are all equal (the zeros of v where a unit never
  // fired, very often the bin of p1) has its rank's value without more work.
  typedef uint32_t Bins __attribute__((vector_size(8 * sizeof(uint32_t))));
  const uint32_t wanted_bins[3] = {bins[0], bins[1], bins[2]};
  Bins low[3], high[3];
  for (int r = 0; r < 3; ++r) low[r] = Bins{} + 0xffffffffu, high[r] = Bins{};
  // The same pass counts v < below: eight counts, emptied into out.below before they could overflow.
  typedef float Values __attribute__((vector_size(8 * sizeof(float))));
  typedef int32_t Counts __attribute__((vector_size(8 * sizeof(int32_t))));
  Counts counts = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    if ((j & ((int64_t{1} << 30) - 1)) == 0)  // every 2^27 iterations: each count stays below 2^27
      for (int lane = 0; lane < 8; ++lane) out.below += counts[lane], counts[lane] = 0;
    Values f;
    std::memcpy(&f, v + j, sizeof f);
    counts -= f < below_f;  // a true comparison is −1
    Bins x;
    std::memcpy(&x, v + j, sizeof x);
    x &= 0x7fffffffu;  // −0 as +0
    const Bins k = x >> kShift;
    for (int r = 0; r < 3; ++r) {
      const Bins in = k == wanted_bins[r];  // all ones where the element is in bin r
      const Bins x_low = (x & in) | ~in, x_high = x & in;  // outside the bin: no smaller, no larger
      low[r] = x_low < low[r] ? x_low : low[r];
      high[r] = x_high > high[r] ? x_high : high[r];
    }
  }
  uint32_t lowest[3], highest[3];
  for (int r = 0; r < 3; ++r) {
    lowest[r] = 0xffffffffu, highest[r] = 0;
    for (int lane = 0; lane < 8; ++lane) lowest[r] = std::min(lowest[r], low[r][lane]), highest[r] = std::max(highest[r], high[r][lane]);
  }
  for (int lane = 0; lane < 8; ++lane) out.below += counts[lane];
  for (int64_t t = j; t < n; ++t) {
    out.below += v[t] < below_f;
    uint32_t x;
    std::memcpy(&x, v + t, sizeof x);
    x &= 0x7fffffffu;
    for (int r = 0; r < 3; ++r)
      if (x >> kShift == wanted_bins[r]) lowest[r] = std::min(lowest[r], x), highest[r] = std::max(highest[r], x);
  }
  // One more pass collects the elements of the bins that hold more than one value (a few percent of v),
  // one list per wanted rank, then each rank is selected among its bin's elements.
  std::vector<float>* lists[3] = {&picked, &picked_middle, &picked_high};
  for (int r = 1; r < 3; ++r)
    if (bins[r] == bins[r - 1]) lists[r] = lists[r - 1];  // ranks in one bin share its list
  for (std::vector<float>* list : lists) list->clear();
  constexpr uint32_t kNoBin = 0xffffffffu;  // above every bin: a bin of one value is not collected
  uint32_t collected[3];
  for (int r = 0; r < 3; ++r) collected[r] = lowest[r] == highest[r] ? kNoBin : bins[r];
  const uint32_t b0 = collected[0], b1 = collected[1], b2 = collected[2];
  if (b0 != kNoBin || b1 != kNoBin || b2 != kNoBin) {
    auto collect = [&](int64_t i) {
      uint32_t k = bin(v[i]);
      if ((k == b0) | (k == b1) | (k == b2)) (k == b0 ? lists[0] : k == b1 ? lists[1] : lists[2])->push_back(v[i]);
    };
    // 32 elements at a time: their bins compared at once, and looked at one by one only when one of
    // them is wanted.
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      Bins wanted = {};
      for (int u = 0; u < 4; ++u) {
        Bins k;
        std::memcpy(&k, v + i + 8 * u, sizeof k);
        k = (k & 0x7fffffffu) >> kShift;
        wanted |= (k == b0) | (k == b1) | (k == b2);
      }
      uint32_t any = 0;
      for (int lane = 0; lane < 8; ++lane) any |= wanted[lane];
      if (any)
        for (int lane = 0; lane < 32; ++lane) collect(i + lane);
    }
    for (; i < n; ++i) collect(i);
  }
  for (int r = 0; r < 3; ++r) {
    if (collected[r] == kNoBin) {  // every element of the bin is this value
      float value;
      std::memcpy(&value, &lowest[r], sizeof value);
      out.values.push_back(value);
      continue;
    }
    std::vector<float>& list = *lists[r];
    auto k = list.begin() + static_cast<std::ptrdiff_t>(offsets[static_cast<size_t>(r)]);
    std::nth_element(list.begin(), k, list.end());
    out.values.push_back(*k);
  }
  return out;
}

// Adam's family: ‖m‖, cos(m, g), p1/p50/p99 of √v̂, and the share of elements
// where ε is more than half of the denominator the optimizer divides by.
void adam_family(const Optimizer& optimizer, InternalsKind kind, size_t group, const Tensor& param, const Tensor& grad,
                 const ParamState& state, InternalsScratch& scratch, std::vector<double>& out) {
  const double beta2 = optimizer.hyperparameter(group, "beta2"), eps = optimizer.hyperparameter(group, "eps");
  const double t = static_cast<double>(state.step);
  // Where ε sits (the optimizers' conventions blocks): Adam, AdamW, NAdam, LAMB, 8-bit Adam divide by √v̂ + ε;
  // RAdam and schedule-free AdamW by √v + ε (their bias correction is outside); Adamax by u (ε is inside the max).
  const bool eps_on_raw_v = optimizer.name() == "RAdam" || kind == InternalsKind::schedule_free;
  bool corrected = kind != InternalsKind::adamax;
  if (kind == InternalsKind::lamb && optimizer.hyperparameter(group, "bias_correction") == 0.0) corrected = false;
  const double bc2 = corrected ? 1.0 - std::pow(beta2, t) : 1.0;  // 1 − β2^t

  Tensor m = kind == InternalsKind::schedule_free ? Tensor() : on_host(first_moment(optimizer, param, state, "exp_avg"));
  Tensor v;
  if (kind == InternalsKind::adamax) v = on_host(*buffer(state, "exp_inf"));
  else if (const Tensor* v_max = buffer(state, "max_exp_avg_sq")) v = on_host(*v_max);  // amsgrad: max_τ v_τ
  else v = on_host(first_moment(optimizer, param, state, "exp_avg_sq"));
  const Tensor g = grad.defined() ? on_host(grad) : Tensor();
  const int64_t n = param.numel();

  if (m.defined()) {
    MomentSums s = moment_sums(m.data(), g.defined() ? g.data() : nullptr, n);
    out.push_back(std::sqrt(s.m2));                                                         // ‖m‖
    out.push_back(g.defined() && s.m2 > 0 && s.g2 > 0 ? s.mg / std::sqrt(s.m2 * s.g2) : kNaN);  // cos(m, g)
  } else {
    out.insert(out.end(), {kNaN, kNaN});
  }
  // ε > ½(√v̂ + ε) ⇔ √v̂ < ε ⇔ v < ε² (1 − β2^t); with ε on √v: v < ε²; Adamax: ε > ½ u ⇔ u < 2ε.
  const double below = kind == InternalsKind::adamax ? 2 * eps : eps * eps * (eps_on_raw_v ? 1.0 : bc2);
  std::vector<int64_t> ranks;  // nearest rank: the ⌈q n⌉-th smallest
  for (double q : {0.01, 0.50, 0.99})
    ranks.push_back(std::clamp<int64_t>(static_cast<int64_t>(std::ceil(q * static_cast<double>(n))), 1, n) - 1);
  if (n == 0) {
    out.insert(out.end(), {kNaN, kNaN, kNaN, kNaN});
    return;
  }
  Selection sel = select_ranks(v.data(), n, ranks, below, scratch);
  for (float x : sel.values)  // √v̂ = √v / √(1 − β2^t) (Adamax: u itself)
    out.push_back(kind == InternalsKind::adamax ? x : std::sqrt(static_cast<double>(x)) / std::sqrt(bc2));
  out.push_back(static_cast<double>(sel.below) / static_cast<double>(n));
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
                                      const Tensor& grad, double lion_flips, InternalsScratch& scratch) {
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
