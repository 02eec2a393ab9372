// test_series.cpp — what happens to a series before it is drawn: restarts,
// TensorBoard's smoothing, the min/max envelope, percentiles.
// Run: meson test -C build --suite plots
#include <algorithm>
#include <cmath>
#include <limits>

#include "plots_testing.hpp"

using namespace plots_testing;

TEST_CASE("a restarted run replaces the steps it logs again; the latest value wins") {
  //                    first run          restart from step 2
  std::vector<double> x{0, 1, 2, 3, /**/ 2, 3, 4};
  std::vector<double> y{10, 11, 12, 13, /**/ 22, 23, 24};
  KeepLatestCounts counts;
  XYSeries kept = keep_latest(x, y, &counts);
  CHECK(kept.x == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(kept.y == std::vector<double>{10, 11, 22, 23, 24});
  CHECK(counts.replaced == 2);

  kept = keep_latest(std::vector<double>{0, 1, 1, 2}, std::vector<double>{5, 6, 7, 8}, &counts);  // step 1 twice
  CHECK(kept.y == std::vector<double>{5, 7, 8});
  CHECK(counts.replaced == 1);

  const double nan = std::nan("");
  kept = keep_latest(std::vector<double>{0, nan, 2}, std::vector<double>{1, 2, nan}, &counts);
  CHECK(kept.x == std::vector<double>{0, 2});  // a NaN step is dropped, a NaN value kept (a gap)
  CHECK(std::isnan(kept.y[1]));
  CHECK(counts.non_finite_x == 1);

  kept = keep_latest(std::vector<double>{}, std::vector<double>{}, &counts);
  CHECK(kept.x.empty());
}

TEST_CASE("EMA smoothing is TensorBoard's: debiased, NaN passes through") {
  // By hand, weight 0.5: s1 = 0.5·1 = 0.5 → 0.5 / (1 - 0.5) = 1;
  //                      s2 = 0.5·0.5 + 0.5·3 = 1.75 → 1.75 / (1 - 0.25) = 7/3.
  auto s = smooth_ema(std::vector<double>{1, 3}, 0.5);
  CHECK(s[0] == 1.0);
  CHECK(s[1] == doctest::Approx(7.0 / 3.0));
  const double nan = std::nan("");
  s = smooth_ema(std::vector<double>{1, nan, 3}, 0.5);  // the gap stays, and counts for nothing
  CHECK(s[0] == 1.0);
  CHECK(std::isnan(s[1]));
  CHECK(s[2] == doctest::Approx(7.0 / 3.0));
  s = smooth_ema(std::vector<double>{0.3, 0.3, 0.3}, 0.9);  // a constant stays exactly constant
  CHECK(s == std::vector<double>{0.3, 0.3, 0.3});
  CHECK(smooth_ema(std::vector<double>{4, 5}, 0.0) == std::vector<double>{4, 5});
  check_error([] { smooth_ema(std::vector<double>{1}, 1.0); }, "smoothing weight must be in [0, 1)");

  // TensorBoard's code (resmoothDataset) on 2, 4, 0, 8 with weight 0.6, worked out in Python.
  s = smooth_ema(std::vector<double>{2, 4, 0, 8}, 0.6);
  CHECK(s[0] == doctest::Approx(2.0));
  CHECK(s[1] == doctest::Approx(3.25));
  CHECK(s[2] == doctest::Approx(1.5918367346938775));
  CHECK(s[3] == doctest::Approx(4.536764705882353));
}

TEST_CASE("long smoothing does not slow down into denormal numbers, and stays within the data") {
  std::vector<double> y(200000);
  for (size_t i = 0; i < y.size(); ++i) y[i] = (i * 7919) % 100 / 10.0;
  auto s = smooth_ema(y, 0.999);
  CHECK(*std::min_element(s.begin(), s.end()) >= 0.0);
  CHECK(*std::max_element(s.begin(), s.end()) <= 9.9 + 1e-9);
}

TEST_CASE("the min/max envelope keeps every column's extremes, in time order") {
  // 1M points over 800 columns, with one spike up and one down in the middle.
  const size_t n = 1'000'000;
  std::vector<double> px(n), y(n);
  for (size_t i = 0; i < n; ++i) {
    px[i] = static_cast<double>(i) * 800.0 / n;
    y[i] = std::sin(static_cast<double>(i) * 0.001) + ((i * 2654435761u) % 1000) * 1e-4;
  }
  y[500'123] = 50;
  y[500'200] = -50;
  std::vector<size_t> keep = decimate_min_max(px, y);
  CHECK(keep.size() <= 2 * 800);
  CHECK(std::is_sorted(keep.begin(), keep.end()));
  CHECK(std::find(keep.begin(), keep.end(), 500'123) != keep.end());
  CHECK(std::find(keep.begin(), keep.end(), 500'200) != keep.end());
  // Every column's lowest and highest value survives.
  std::vector<double> lo(800, 1e9), hi(800, -1e9), kept_lo(800, 1e9), kept_hi(800, -1e9);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<size_t>(px[i]);
    lo[c] = std::min(lo[c], y[i]), hi[c] = std::max(hi[c], y[i]);
  }
  for (size_t i : keep) {
    auto c = static_cast<size_t>(px[i]);
    kept_lo[c] = std::min(kept_lo[c], y[i]), kept_hi[c] = std::max(kept_hi[c], y[i]);
  }
  CHECK(kept_lo == lo);
  CHECK(kept_hi == hi);
  CHECK(decimate_min_max(std::vector<double>{}, std::vector<double>{}).empty());
}

TEST_CASE("quantiles interpolate between neighbours, like numpy") {
  std::vector<double> v{5, 1, 4, 2, 3};
  CHECK(quantile(v, 0.5) == 3);
  CHECK(quantile(v, 0.25) == 2);
  CHECK(quantile(v, 0.1) == doctest::Approx(1.4));
  CHECK(quantile(v, 0.0) == 1);
  CHECK(quantile(v, 1.0) == 5);
  check_error([] { quantile({}, 0.5); }, "quantile of no values");
}

TEST_CASE("quantiles of values whose differences overflow a double stay finite") {
  const double big = std::numeric_limits<double>::max();
  CHECK(quantile({-big, big}, 0.5) == 0.0);
  CHECK(quantile({-big, big}, 0.75) == doctest::Approx(big / 2));
  CHECK(std::isfinite(quantile({-1e308, 1e308, 0, 5}, 0.98)));
}
