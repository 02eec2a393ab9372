// series_prep.cpp — restarts, EMA smoothing, the min/max envelope, quantiles.
#include "series_prep.hpp"

#include <algorithm>
#include <cmath>

#include "plot_error.hpp"
#include "ticks.hpp"

namespace moments::plots {

bool rises_throughout(std::span<const double> x) {
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]) || (i > 0 && !(x[i] > x[i - 1]))) return false;
  return true;
}

XYSeries keep_latest(std::span<const double> x, std::span<const double> y, KeepLatestCounts* counts) {
  KeepLatestCounts local;
  XYSeries out;
  const size_t n = std::min(x.size(), y.size());
  out.x.reserve(n);
  out.y.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      ++local.non_finite_x;
      continue;
    }
    // A stack: pop the kept points this one supersedes (amortised O(1) per point).
    while (!out.x.empty() && out.x.back() >= x[i]) {
      out.x.pop_back();
      out.y.pop_back();
      ++local.replaced;
    }
    out.x.push_back(x[i]);
    out.y.push_back(y[i]);
  }
  if (counts) *counts = local;
  return out;
}

std::vector<double> smooth_ema(std::span<const double> y, double weight) {
  if (!(weight >= 0.0 && weight < 1.0))
    throw PlotError("smoothing weight must be in [0, 1), got " + format_number(weight, 6));
  std::vector<double> out(y.begin(), y.end());
  if (weight == 0.0 || y.empty()) return out;
  // A constant series stays exactly constant (no drift from rounding).
  if (std::all_of(y.begin(), y.end(), [&](double v) { return v == y[0]; })) return out;
  double last = 0.0;          // the biased average s_t
  double weight_power = 1.0;  // w^t, kept as a running product: no pow(), same bits everywhere
  for (double& v : out) {
    if (!std::isfinite(v)) continue;  // a gap stays a gap
    last = last * weight + (1.0 - weight) * v;
    // Below 2^-54, 1 - w^t rounds to 1 exactly: stop there rather than sink into
    // denormal numbers, which are ~100x slower to multiply.
    weight_power = weight_power > 0x1p-54 ? weight_power * weight : 0.0;
    v = last / (1.0 - weight_power);
  }
  return out;
}

std::vector<size_t> decimate_min_max(std::span<const double> px, std::span<const double> y) {
  std::vector<size_t> keep;
  const size_t n = std::min(px.size(), y.size());
  for (size_t start = 0; start < n;) {
    // One column: the points start .. end-1, whose px is below the column's right edge.
    double edge = std::floor(px[start]) + 1.0;
    size_t end = start + 1, lowest = start, highest = start;
    double low = y[start], high = y[start];
    for (; end < n && px[end] < edge; ++end) {
      double v = y[end];
      if (v < low) low = v, lowest = end;
      if (v > high) high = v, highest = end;
    }
    keep.push_back(std::min(lowest, highest));  // in time order: the line visits them in turn
    if (highest != lowest) keep.push_back(std::max(lowest, highest));
    start = end;
  }
  return keep;
}

double quantile(std::vector<double> values, double q) {
  if (values.empty()) throw PlotError("quantile of no values");
  q = std::clamp(q, 0.0, 1.0);
  double position = q * static_cast<double>(values.size() - 1);
  auto below = static_cast<size_t>(position);
  double fraction = position - static_cast<double>(below);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(below), values.end());
  double lower = values[below];
  if (fraction == 0.0 || below + 1 >= values.size()) return lower;
  double upper = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(below) + 1, values.end());
  double between = lower + fraction * (upper - lower);
  // upper - lower overflows for values near ±1.8e308; the weighted sum does not.
  return std::isfinite(between) ? between : lower * (1.0 - fraction) + upper * fraction;
}

}  // namespace moments::plots
