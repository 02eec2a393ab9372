// bench_field_chart.cpp — how long a field chart takes: a 512×512 grid of the
// Rosenbrock function on a log scale, 20 filled-contour levels, and 10 paths of
// 1,000 points each over it, against a budget of 100 ms. Run with:
//   meson test -C build --benchmark --suite plots -v
// Prints the median and the best of several renders (from the grid to the last
// pixel: range, interpolation, bands, contour lines, colour bar, paths, legend)
// and the ratio of the best to the budget; exits 1 when the best is over budget.
// With an argument it also writes the chart there as a PNG, to look at.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "plots.hpp"

using namespace moments::plots;

namespace {

constexpr int kGrid = 512;
constexpr int kPaths = 10;
constexpr int kPoints = 1000;
constexpr double kBudgetMs = 100.0;

double rosenbrock(double x, double y) { return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x); }

FieldChart make_chart() {
  FieldChart chart({.title = "Rosenbrock, 10 paths", .z_label = "f(x, y)", .z_scale = Scale::log, .levels = 20});
  chart.set_field(sample_field(-2, 2, -1, 3, kGrid, kGrid, rosenbrock));
  // Spirals from 10 starts into the minimum at (1, 1): the shape of a damped descent.
  for (int p = 0; p < kPaths; ++p) {
    std::vector<double> x(kPoints), y(kPoints);
    double angle0 = 2 * M_PI * p / kPaths;
    for (int i = 0; i < kPoints; ++i) {
      double s = static_cast<double>(i) / (kPoints - 1), r = 1.6 * (1 - s) * (1 - s);
      x[i] = 1 + r * std::cos(angle0 + 6 * s), y[i] = 1 + r * std::sin(angle0 + 6 * s);
    }
    chart.add_path("path " + std::to_string(p + 1), std::move(x), std::move(y));
  }
  return chart;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<double> times;
  for (int run = 0; run < 7; ++run) {
    auto start = std::chrono::steady_clock::now();
    Canvas canvas = make_chart().render();
    times.push_back(milliseconds_since(start));
    if (run == 0 && argc > 1) save_png(canvas, argv[1]);
  }
  std::sort(times.begin(), times.end());
  double best = times.front(), median = times[times.size() / 2];
  std::printf("field chart: %dx%d grid, 20 levels, %d paths x %d points, 800x600 px\n", kGrid, kGrid, kPaths, kPoints);
  std::printf("  render: median %.1f ms, best %.1f ms (budget %.0f ms; best/budget %.2f, target <= 1)\n", median, best,
              kBudgetMs, best / kBudgetMs);
  return best <= kBudgetMs ? 0 : 1;
}
