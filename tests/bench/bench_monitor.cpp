// bench_monitor — the cost of Monitor::record on every step, as a fraction of
// a training step of the small MLP of bench_mlp (784-256-256-10, batch 64,
// Adam), and the render time of plots/ (tests/plots/bench_plots, run as is).
// Run: meson test -C build --benchmark --suite bench -v
//  (or ./build/tests/bench/bench_monitor [path/to/bench_plots])
// Both variants run interleaved in the same process; the figure is the ratio of
// medians, since absolute times on a shared machine are noisy. Target: ≤ 1 %.
// Rows go to bench-results.csv under monitor/.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "moments.hpp"

using namespace moments;

namespace {

// Runs bench_plots, echoes its output, and returns its best render time in ms (or −1).
double run_bench_plots(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    std::printf("plots: %s is not built; render time not measured\n", path.c_str());
    return -1;
  }
  FILE* pipe = popen(("'" + path + "'").c_str(), "r");
  if (!pipe) return -1;
  double best = -1;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    std::fputs(line, stdout);
    std::string text = line;
    size_t at = text.find(": best ");  // "plots: render ...: best 41.2 ms, median ..."
    if (at != std::string::npos) best = std::stod(text.substr(at + 7));
  }
  int status = pclose(pipe);
  if (status != 0) std::printf("plots: bench_plots exited with status %d (over its budget, or failed)\n", status);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Results results("monitor");
  Generator gen(0);
  MLP model({784, 256, 256, 10}, gen);
  Adam adam(model.parameters(), {.learning_rate = 1e-3});
  Monitor monitor(adam, model.named_parameters());
  Tensor x = rand({64, 784}, gen);
  std::vector<int64_t> y(64);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>(i % 10);

  std::vector<double> plain, monitored;
  int64_t step = 0;
  for (int round = 0; round < 400; ++round) {
    for (bool with_monitor : {false, true}) {
      auto start = std::chrono::steady_clock::now();
      adam.zero_grad();
      Tensor loss = cross_entropy(model.forward(x), y);  // forward
      loss.backward();                                   // backward
      if (with_monitor) monitor.before_step();
      adam.step();                                       // update
      if (with_monitor) monitor.record(++step, loss.item());
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (round >= 20) (with_monitor ? monitored : plain).push_back(ms);  // skip warm-up
    }
  }
  if (monitor.history().empty() || !std::isfinite(monitor.history().back().update_ratio)) {
    std::printf("FAIL: the monitor recorded no finite update ratio\n");
    return 1;
  }
  double base = bench::median(plain), with = bench::median(monitored);
  double overhead = 100.0 * (with - base) / base;
  std::printf("monitor overhead per recorded step (MLP 784-256-256-10, batch 64, Adam; load average %s)\n",
              bench::load_average().c_str());
  std::printf("  training step            %8.3f ms (median of %zu)\n", base, plain.size());
  std::printf("  with Monitor::record     %8.3f ms\n", with);
  std::printf("  overhead                 %8.2f %%\n", overhead);
  results.add("step/784-256-256-10/64/ms", base, "ms");
  results.add("with_record/784-256-256-10/64/ms", with, "ms", "monitor/step/784-256-256-10/64/ms");
  results.add("overhead/784-256-256-10/64/percent", overhead, "%");

  double render_ms = argc > 1 ? run_bench_plots(argv[1]) : -1;
  if (render_ms >= 0) results.add("plots_render_best/ms", render_ms, "ms");

  std::printf("\ntargets (issue 8; one thread, same run)\n");
  bench::print_target("Monitor::record overhead, % of the small MLP step (batch 64)", overhead, 1.0, false);
  if (render_ms >= 0) bench::print_target("plots/ render, 4 panels x 4 series x 100k points (ms)", render_ms, 100.0, false);
  results.write();
  return 0;
}
