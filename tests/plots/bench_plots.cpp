// bench_plots.cpp — how long plots/ takes to render a 4-panel figure of 4 series
// × 100k points each (loss, learning rate, gradient norm, update/param ratio),
// against a budget of 100 ms. Run with:
//   meson test -C build --benchmark --suite plots -v
// (an optimized build: the default buildtype, debugoptimized, is -O2).
//
// Prints the median and the best of several renders (the figure is drawn from
// scratch each time: restarts, smoothing, ranges, thinning, rasterizing; a
// Figure plans and draws its panels on a thread each), the ratio of the best to
// the budget, the processor time per render (both threads together), the load
// average of the machine (other work makes wall-clock times noisy), and, apart
// from the budget, the time stb_image_write takes to encode the PNG. Exits 1
// when the best render is over budget.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "plots.hpp"

using namespace moments::plots;

namespace {

constexpr int kSeries = 4;
constexpr int kPoints = 100'000;
constexpr double kBudgetMs = 100.0;

// Deterministic noise in [-1, 1) (SplitMix64), so every run draws the same figure.
double noise(uint64_t i) {
  uint64_t z = i * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
}

Figure make_figure() {
  const char* optimizers[kSeries] = {"SGD", "Adam", "AdamW", "Adafactor"};
  std::vector<double> step(kPoints);
  for (int i = 0; i < kPoints; ++i) step[i] = i;
  LineChart loss({.title = "loss", .y_scale = Scale::log, .smoothing = 0.9});
  LineChart lr({.title = "learning rate"});
  LineChart grad({.title = "gradient norm", .smoothing = 0.6, .ignore_outliers = true});
  LineChart ratio({.title = "update / parameter ratio", .y_scale = Scale::log});
  for (int s = 0; s < kSeries; ++s) {
    std::vector<double> l(kPoints), r(kPoints), g(kPoints), u(kPoints);
    for (int i = 0; i < kPoints; ++i) {
      double t = i / static_cast<double>(kPoints);
      uint64_t k = static_cast<uint64_t>(s) * kPoints + static_cast<uint64_t>(i);
      l[i] = (2.3 / (1.0 + 40.0 * t * (s + 1)) + 0.1) * (1.0 + 0.15 * noise(4 * k));
      r[i] = 1e-3 * (s + 1) * std::min(1.0, 20.0 * t) * (1.0 - 0.9 * t);
      g[i] = 1.0 + 2.0 / (1.0 + 50.0 * t) + 0.3 * std::fabs(noise(4 * k + 1)) + (i % 9973 == 0 ? 50.0 : 0.0);
      u[i] = r[i] * (0.5 + 0.2 * noise(4 * k + 2)) + 1e-6;
    }
    loss.add_series(optimizers[s], step, l);
    lr.add_series(optimizers[s], step, r);
    grad.add_series(optimizers[s], step, g);
    ratio.add_series(optimizers[s], step, u);
  }
  Figure figure({.title = "4 optimizers x 100k steps", .columns = 2, .panel_width = 640, .panel_height = 400});
  figure.add(std::move(loss)).add(std::move(lr)).add(std::move(grad)).add(std::move(ratio));
  return figure;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Processor time used by this process so far (all threads), in milliseconds.
double cpu_milliseconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one_minute;
  in >> one_minute;
  return one_minute.empty() ? "?" : one_minute;
}

}  // namespace

int main() {
  Figure figure = make_figure();
  constexpr int kRuns = 9;
  std::vector<double> render_ms;
  Canvas canvas = figure.render();  // one warm-up render
  double cpu_start = cpu_milliseconds();
  for (int run = 0; run < kRuns; ++run) {
    auto start = std::chrono::steady_clock::now();
    canvas = figure.render();
    render_ms.push_back(milliseconds_since(start));
  }
  double cpu_per_render = (cpu_milliseconds() - cpu_start) / kRuns;
  std::sort(render_ms.begin(), render_ms.end());
  auto start = std::chrono::steady_clock::now();
  std::vector<uint8_t> png = encode_png(canvas);
  double encode_ms = milliseconds_since(start);

  double median = render_ms[render_ms.size() / 2], best = render_ms.front();
  std::printf(
      "plots: render 4 panels x %d series x %dk points (%dx%d px): best %.1f ms, median %.1f ms; "
      "best = %.2f of the %.0f ms budget%s\n",
      kSeries, kPoints / 1000, canvas.width(), canvas.height(), best, median, best / kBudgetMs, kBudgetMs,
      best <= kBudgetMs ? "" : "  OVER BUDGET");
  std::printf("plots: processor time %.1f ms per render (both threads); load average %s on %u cores\n", cpu_per_render,
              load_average().c_str(), std::thread::hardware_concurrency());
  std::printf("plots: PNG encoding (stb_image_write, not in the budget): %.1f ms, %zu bytes\n", encode_ms, png.size());
  return best <= kBudgetMs ? 0 : 1;
}
