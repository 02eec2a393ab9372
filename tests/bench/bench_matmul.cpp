// bench_matmul — the library's matmul and linear against Eigen called directly,
// on 256, 512 and 1024 squares, one thread, in one process.
//
// Eigen picks its GEMM blocking from cache sizes; the library fixes them (so
// results round the same everywhere, see use_fixed_gemm_blocking in ops.cpp),
// and that setting is global. So direct Eigen is timed twice, with the sizes it
// read from the processor ("eigen") and with the library's ("eigen fixed"),
// switching before each call: the gap between the library and the latter is
// the library's own overhead, the gap to the former also counts the blocking
// choice. Target: library ≥ 90% of direct Eigen (with its own blocking).
// "eigen sse2" is the same Eigen GEMM compiled for plain x86-64 (SSE2, the old
// default baseline; bench_matmul_sse2.cpp): target library ≥ 2.4× it at 1024.
// The physical limit beside them: the FMA peak of one core, cores × SIMD lanes
// × 2 flops × FMA ports × clock, with the clock measured in the same run and
// 2 FMA ports assumed (Intel since Skylake-SP, AMD since Zen 2).
// The library's product is checked against Eigen's (exit 1 if they differ).
// The library's pool runs one thread here (meson.build sets MOMENTS_NUM_THREADS=1,
// and OPENBLAS_NUM_THREADS=1 for a -Dblas=openblas build, where both "eigen"
// columns call OpenBLAS too; the SSE2 copy never does).
// Run: meson test -C build --benchmark --suite bench -v  (or ./build/tests/bench/bench_matmul)
// Rows go to bench-results.csv under matmul/.
#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "bench_common.hpp"
#include "bench_matmul_sse2.hpp"
#include "moments.hpp"

using namespace moments;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

struct Operands {
  Tensor a, b;  // (n, n) each
  Eigen::Map<const RowMatrix> A, B;
  RowMatrix C;
  explicit Operands(int64_t n, Generator& gen)
      : a(randn({n, n}, gen)), b(randn({n, n}, gen)), A(a.data(), n, n), B(b.data(), n, n), C(n, n) {}
};

// The largest |x − y| over the largest |y|.
double relative_difference(const float* x, const float* y, int64_t count) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < count; ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(x[i] - y[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(y[i])));
  }
  return diff / scale;
}

// The fastest of `rounds` calls of each function, called in turn round by
// round, so that a burst of load on the machine hits them all alike.
std::vector<double> interleaved_best_ms(const std::vector<std::function<void()>>& functions, int rounds) {
  std::vector<double> best(functions.size(), 1e300);
  for (int round = 0; round <= rounds; ++round)
    for (size_t f = 0; f < functions.size(); ++f) {
      auto start = std::chrono::steady_clock::now();
      functions[f]();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (round > 0) best[f] = std::min(best[f], ms);  // round 0 warms up
    }
  return best;
}

struct CacheSizes {
  std::ptrdiff_t l1, l2, l3;
  void use() const { Eigen::setCpuCacheSizes(l1, l2, l3); }
  static CacheSizes current() { return {Eigen::l1CacheSize(), Eigen::l2CacheSize(), Eigen::l3CacheSize()}; }
};

}  // namespace

int main() {
  bench::Results results("matmul");
  Generator gen(0);
  const std::vector<int64_t> sizes = {256, 512, 1024};
  const int threads = bench::threads();
  std::printf("bench_matmul: %d thread%s, load average %s, BLAS behind Eigen: %s; GFLOP/s = 2 n^3 / time, best of\n"
              "interleaved rounds\n",
              threads, threads == 1 ? "" : "s", bench::load_average().c_str(), bench::blas_name());
  const double clock_ghz = bench::measured_clock_ghz();
  const int fma_ports = 2;  // an assumption, see the top of this file
  const double peak = bench::peak_gflops(threads, bench::simd_float_lanes(), bench::simd_has_fma(), fma_ports, clock_ghz);
  const double sse2_peak = bench::peak_gflops(threads, bench::sse2_float_lanes(), false, fma_ports, clock_ghz);
  std::printf("physical limit: %d core%s x %d float lanes x 2 flops x %s x %.2f GHz (measured) = %.0f GFLOP/s "
              "(SSE2: %d lanes, no FMA, %.0f)\n",
              threads, threads == 1 ? "" : "s", bench::simd_float_lanes(),
              bench::simd_has_fma() ? "2 FMA ports (assumed)" : "(mul + add, no FMA)", clock_ghz, peak,
              bench::sse2_float_lanes(), sse2_peak);
  results.add("clock_ghz", clock_ghz, "GHz");
  results.add("peak_gflops", peak, "GFLOP/s");
  // Eigen's own cache sizes (from the processor), and the library's fixed ones,
  // which its first matmul sets; each timed call below runs under its own.
  CacheSizes eigen_sizes = CacheSizes::current();
  (void)matmul(Tensor::ones({2, 2}), Tensor::ones({2, 2}));
  CacheSizes library_sizes = CacheSizes::current();
  std::printf("Eigen's blocking from cache sizes L1 %td, L2 %td, L3 %td bytes; the library's: %td, %td, %td\n\n",
              eigen_sizes.l1, eigen_sizes.l2, eigen_sizes.l3, library_sizes.l1, library_sizes.l2, library_sizes.l3);

  bool wrong = false;
  std::printf("%6s %14s %14s %14s %14s %14s %12s %12s %12s %9s\n", "n", "eigen", "eigen fixed", "matmul", "linear",
              "eigen A*B^T", "eigen sse2", "matmul/eigen", "matmul/sse2", "of peak");
  for (int64_t n : sizes) {
    Operands o(n, gen);
    std::string size = std::to_string(n);
    double flops = 2.0 * std::pow(static_cast<double>(n), 3);
    Tensor product, through_linear, none;
    RowMatrix eigen_product(n, n), eigen_transposed(n, n), sse2_product(n, n);
    std::vector<double> ms = interleaved_best_ms(
        {[&] { eigen_sizes.use(); eigen_product.noalias() = o.A * o.B; },
         [&] { library_sizes.use(); o.C.noalias() = o.A * o.B; },
         [&] { product = matmul(o.a, o.b); },
         [&] { through_linear = linear(o.a, o.b, none); },  // a @ bᵀ
         [&] { eigen_transposed.noalias() = o.A * o.B.transpose(); },
         [&] { bench::sse2_gemm(o.a.data(), o.b.data(), sse2_product.data(), n); }},
        n >= 1024 ? 6 : 12);
    double error = std::max({relative_difference(product.data(), o.C.data(), n * n),
                             relative_difference(through_linear.data(), eigen_transposed.data(), n * n),
                             relative_difference(sse2_product.data(), o.C.data(), n * n)});
    if (error > 1e-5) {
      std::printf("FAIL: the library's product differs from Eigen's by %.3g (relative to the largest entry)\n", error);
      wrong = true;
    }
    auto gflops = [&](double t) { return flops / t / 1e6; };
    std::string eigen = results.add("eigen/" + size + "/gflops", gflops(ms[0]), "GFLOP/s");
    std::string fixed = results.add("eigen_fixed/" + size + "/gflops", gflops(ms[1]), "GFLOP/s");
    results.add("library/" + size + "/gflops", gflops(ms[2]), "GFLOP/s", eigen);
    results.add("library_over_fixed/" + size + "/gflops", gflops(ms[2]), "GFLOP/s", fixed);
    std::string transposed = results.add("eigen_transposed/" + size + "/gflops", gflops(ms[4]), "GFLOP/s");
    results.add("linear/" + size + "/gflops", gflops(ms[3]), "GFLOP/s", transposed);
    std::string sse2 = results.add("eigen_sse2/" + size + "/gflops", gflops(ms[5]), "GFLOP/s");
    results.add("library_over_sse2/" + size + "/gflops", gflops(ms[2]), "GFLOP/s", sse2);
    results.add("library_of_peak/" + size + "/gflops", gflops(ms[2]), "GFLOP/s", "matmul/peak_gflops");
    std::printf("%6lld %14.1f %14.1f %14.1f %14.1f %14.1f %12.1f %12.2f %12.2f %9.2f\n", static_cast<long long>(n),
                gflops(ms[0]), gflops(ms[1]), gflops(ms[2]), gflops(ms[3]), gflops(ms[4]), gflops(ms[5]),
                ms[0] / ms[2], ms[5] / ms[2], gflops(ms[2]) / peak);
  }
  library_sizes.use();

  std::printf("\ntargets (issues 8 and 16; %d thread%s, same run)\n", threads, threads == 1 ? "" : "s");
  for (int64_t n : sizes) {
    std::string size = std::to_string(n);
    bench::print_target("library matmul / direct Eigen GFLOP/s, " + size,
                        results.value("matmul/library/" + size + "/gflops") / results.value("matmul/eigen/" + size + "/gflops"),
                        0.90, true);
    bench::print_target("library linear / direct Eigen A*B^T GFLOP/s, " + size,
                        results.value("matmul/linear/" + size + "/gflops") /
                            results.value("matmul/eigen_transposed/" + size + "/gflops"),
                        0.90, true);
  }
  bench::print_target("library matmul / Eigen compiled for SSE2 (x86-64), 1024",
                      results.value("matmul/library/1024/gflops") / results.value("matmul/eigen_sse2/1024/gflops"), 2.4,
                      true);
  std::printf("  (library matmul, 1024: %.2f of the physical limit, %.0f GFLOP/s; no target)\n",
              results.value("matmul/library/1024/gflops") / peak, peak);
  results.write();
  return wrong ? 1 : 0;
}
