// bench_common.cpp — the results file, target lines, and the allocation counter
// of the benchmarks (see bench_common.hpp). Linked into every benchmark binary:
// its global operator new replaces the standard one in that binary only.
#include "bench_common.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <sstream>
#include <stdexcept>

namespace {
std::atomic<int64_t> g_allocations{0};

void* counted_alloc(std::size_t size, std::size_t alignment) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) p = std::malloc(size);
  else p = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);  // size: a multiple
  return p;
}
}  // namespace

// ---- every replaceable allocation form counts once --------------------------
void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, std::align_val_t a) {
  if (void* p = counted_alloc(size, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t a) { return operator new(size, a); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size, 0); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace bench {

int64_t allocations() { return g_allocations.load(std::memory_order_relaxed); }

std::string Results::add(const std::string& name, double value, const std::string& unit, const std::string& baseline) {
  double ratio = std::nan("");
  if (!baseline.empty()) ratio = value / this->value(baseline);
  rows_.push_back({owner_ + "/" + name, value, unit, baseline, ratio});
  return rows_.back().name;
}

double Results::value(const std::string& full_name) const {
  for (const Row& row : rows_)
    if (row.name == full_name) return row.value;
  throw std::runtime_error("bench::Results: no row named " + full_name);
}

void Results::write() const {
  const char* env = std::getenv("MOMENTS_BENCH_CSV");
  std::string path = env && *env ? env : "bench-results.csv";
  int lock = ::open((path + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock >= 0) ::flock(lock, LOCK_EX);
  std::vector<std::string> kept;  // the other benchmarks' rows, as they were
  {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line))
      if (!line.empty() && line.rfind(owner_ + "/", 0) != 0) kept.push_back(line);
  }
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << "name,value,unit,baseline,ratio\n";
    for (const std::string& line : kept) out << line << "\n";
    char number[64];
    for (const Row& row : rows_) {
      std::snprintf(number, sizeof number, "%.6g", row.value);
      out << row.name << "," << number << "," << row.unit << "," << row.baseline << ",";
      if (!std::isnan(row.ratio)) {
        std::snprintf(number, sizeof number, "%.4g", row.ratio);
        out << number;
      }
      out << "\n";
    }
  }
  std::rename(temporary.c_str(), path.c_str());
  if (lock >= 0) ::close(lock);  // releases the flock
  std::printf("(%zu rows written to %s under %s/)\n", rows_.size(), path.c_str(), owner_.c_str());
}

void print_target(const std::string& what, double measured, double target, bool at_least, const std::string& note) {
  bool met = at_least ? measured >= target : measured <= target;
  std::printf("  %-62s measured %7.3f   target %s %5.2f   %s%s%s\n", what.c_str(), measured, at_least ? ">=" : "<=",
              target, met ? "met" : "MISSED", note.empty() ? "" : "  ", note.c_str());
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one_minute;
  in >> one_minute;
  return one_minute.empty() ? "?" : one_minute;
}

int threads() {
  const char* value = std::getenv("MOMENTS_NUM_THREADS");
  int n = value ? std::atoi(value) : 0;
  if (n >= 1) return n;
  setenv("MOMENTS_NUM_THREADS", "1", 1);
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  return 1;
}

double measured_clock_ghz() {
#if defined(__x86_64__)
  // Many short rounds (about 3 ms each), the fastest kept: on a shared machine some round runs
  // without being descheduled.
  constexpr int64_t kIterations = 1'000'000;  // × 8 dependent additions
  double best_ns = 1e300;
  for (int round = 0; round < 100; ++round) {
    uint64_t x = 0;
    auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kIterations; ++i)
      __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                       "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                       : "+r"(x));
    best_ns = std::min(best_ns, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count());
  }
  return 8.0 * kIterations / best_ns;
#else
  return 0.0;
#endif
}

int simd_float_lanes() {
#if defined(__AVX512F__)
  return 16;
#elif defined(__AVX__)
  return 8;
#else
  return 4;
#endif
}

bool simd_has_fma() {
#if defined(__FMA__) || defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

double peak_gflops(int cores, int lanes, bool fma, int fma_ports, double clock_ghz) {
  return fma ? cores * lanes * 2.0 * fma_ports * clock_ghz : cores * lanes * 2.0 * clock_ghz;
}

const char* blas_name() {
#if defined(MOMENTS_WITH_BLAS)
  return "openblas";
#else
  return "default";
#endif
}

}  // namespace bench
