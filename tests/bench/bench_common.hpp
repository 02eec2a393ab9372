// bench_common.hpp — what the benchmarks in tests/bench/ share: timing, the
// results file, target lines, and a count of heap allocations.
//
// THE RESULTS FILE. Every benchmark adds its figures to one CSV,
// bench-results.csv in the build directory (the path comes from the
// MOMENTS_BENCH_CSV environment variable that meson.build sets; by hand, the
// current directory). Columns:
//   name      "<owner>/<what>", e.g. "optim/adam/10M/one/gbs"; <owner> is the
//             benchmark that wrote the row (optim, matmul, mlp, monitor, torch)
//   value     the figure, in `unit`
//   unit      ms, GB/s, GFLOP/s, allocs, %, ...
//   baseline  the name of the row this one is compared with (same file, same
//             run), or empty
//   ratio     value / the baseline's value (empty without a baseline)
// Merging: a benchmark rewrites only its own rows. It reads the file, drops the
// rows whose name starts with "<owner>/", appends its new rows and replaces the
// file (write to a temporary, then rename, under an flock), so running the
// benchmarks in any order, or one of them again, leaves one current row per name.
//
// Targets (issue 8) are printed beside the measured figure as "met" or
// "MISSED": they are read, not asserted, because this machine is shared and
// noisy. A wrong result (a check against a second computation) exits 1.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bench {

// Milliseconds of the fastest of `repeats` calls, after one warm-up call.
inline double best_ms(const std::function<void()>& f, int repeats = 10) {
  f();
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Heap allocations (operator new, every form) since the program started.
// Counted by the global operator new that bench_common.cpp puts in each benchmark.
int64_t allocations();

// Rows of one benchmark, written to the results file by write().
class Results {
 public:
  explicit Results(std::string owner) : owner_(std::move(owner)) {}
  // Adds "<owner>/<name>"; returns the full name (for use as a baseline).
  std::string add(const std::string& name, double value, const std::string& unit, const std::string& baseline = "");
  double value(const std::string& full_name) const;  // a row added earlier in this run
  // Merges this benchmark's rows into the file (see the top of this header).
  void write() const;

 private:
  struct Row {
    std::string name;
    double value;
    std::string unit, baseline;
    double ratio;
  };
  std::string owner_;
  std::vector<Row> rows_;
};

// One line of a targets table: "<what>  measured 0.91  target >= 0.85  met".
// `at_least`: the target is a lower bound (else an upper bound).
void print_target(const std::string& what, double measured, double target, bool at_least, const std::string& note = "");

// The machine's load, to print beside absolute times.
std::string load_average();

// The number of threads the library's pool runs this benchmark with: MOMENTS_NUM_THREADS (meson.build
// sets it per benchmark), else 1, which this call then writes into the environment before the pool
// first reads it. OpenBLAS (a -Dblas=openblas build) gets the same count through OPENBLAS_NUM_THREADS.
int threads();

// What the physical limits of a table are computed from. The clock is measured: a chain of dependent
// integer additions, one per cycle on every x86-64 core of this decade (0 off x86-64).
double measured_clock_ghz();
// The build's float lanes per SIMD instruction (16 AVX-512, 8 AVX, 4 SSE2/NEON) and whether it has FMA.
int simd_float_lanes();
bool simd_has_fma();
// Peak float GFLOP/s of `cores` cores: cores × lanes × 2 flops per FMA × `fma_ports` × clock (GHz);
// without FMA a multiply and an add issue separately: cores × lanes × 2 × clock.
double peak_gflops(int cores, int lanes, bool fma, int fma_ports, double clock_ghz);
// "default" or "openblas": what Eigen's matrix products run on (-Dblas).
const char* blas_name();

}  // namespace bench
