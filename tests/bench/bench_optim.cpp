// bench_optim — optimizer step throughput against the memory bandwidth measured
// in the same process: an in-place read-modify-write kernel (the shape of an
// optimizer step: read two arrays, write one) compiled like the optimizer loops.
// Run: meson test -C build --benchmark --suite bench (or ./build/tests/bench/bench_optim).
// One thread; best of 15 steps after a warm-up, since the machine is shared.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "host_device.hpp"
#include "moments.hpp"

using namespace moments;

namespace {

double best_ms(const std::function<void()>& f, int repeats = 15) {
  f();  // warm-up: state is allocated on the first step
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// x ← x·a + y: 12 bytes of traffic per element, vectorized like the optimizer loops.
MOMENTS_CPU_CLONES void read_modify_write(float* __restrict x, const float* __restrict y, int64_t n, float a) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * a + y[i];
}

}  // namespace

int main() {
  std::printf("optimizer step throughput, one tensor, one thread (GB/s; ratio to the in-place kernel)\n");
  std::printf("%-10s %10s %10s %10s %8s\n", "optimizer", "params", "ms/step", "GB/s", "ratio");
  for (int64_t n : {int64_t{1} << 20, int64_t{10'000'000}}) {
    std::vector<float> x(static_cast<size_t>(n), 1.0f), y(static_cast<size_t>(n), 0.5f);
    double kernel_ms = best_ms([&] { read_modify_write(x.data(), y.data(), n, 0.999f); });
    double kernel_gbs = 12.0 * static_cast<double>(n) / kernel_ms / 1e6;
    std::printf("%-10s %10lld %10.3f %10.1f %8s\n", "in-place", static_cast<long long>(n), kernel_ms, kernel_gbs, "1.00");
    Tensor p = Tensor::zeros({n}).requires_grad_();
    p.set_grad(Tensor::full({n}, 0.1f));
    struct Case {
      const char* name;
      double bytes_per_param;  // reads + writes of one step
      std::unique_ptr<Optimizer> opt;
    };
    std::vector<Case> cases;
    cases.push_back({"SGD+mom", 20, std::make_unique<SGD>(std::vector{p}, SgdOptions{.learning_rate = 1e-3, .momentum = 0.9})});
    cases.push_back({"Adam", 28, std::make_unique<Adam>(std::vector{p})});
    cases.push_back({"AdamW", 28, std::make_unique<AdamW>(std::vector{p})});
    for (Case& c : cases) {
      double ms = best_ms([&] { c.opt->step(); });
      double gbs = c.bytes_per_param * static_cast<double>(n) / ms / 1e6;
      std::printf("%-10s %10lld %10.3f %10.1f %8.2f\n", c.name, static_cast<long long>(n), ms, gbs, gbs / kernel_gbs);
    }
  }
  return 0;
}
