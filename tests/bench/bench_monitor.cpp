// bench_monitor — the cost of Monitor::record on every step, as a fraction of
// a training step of the flagship tutorial's MLP (784-128-10, batch 128, Adam).
// Run: meson test -C build --benchmark --suite bench (or ./build/tests/bench/bench_monitor).
// Both variants run interleaved in the same process; the figure is the ratio of
// medians, since absolute times on a shared machine are noisy.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "moments.hpp"

using namespace moments;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main() {
  Generator gen(0);
  MLP model({784, 128, 10}, gen);
  Adam adam(model.parameters(), {.learning_rate = 1e-3});
  Monitor monitor(adam, model.named_parameters());
  Tensor x = rand({128, 784}, gen);
  std::vector<int64_t> y(128);
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
  double base = median(plain), with = median(monitored);
  double overhead = (with - base) / base;
  std::printf("monitor overhead per recorded step (MLP 784-128-10, batch 128, Adam)\n");
  std::printf("  training step            %8.3f ms (median of %zu)\n", base, plain.size());
  std::printf("  with Monitor::record     %8.3f ms\n", with);
  std::printf("  overhead                 %8.1f %%   (goal: <= 5 %%)\n", 100.0 * overhead);
  return 0;
}
