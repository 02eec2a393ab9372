// bench_optim — memory bandwidth and optimizer step throughput, in one process.
//
//   1. bandwidth: STREAM-style copy and triad and an in-place read-modify-write
//      kernel (the shape of an optimizer step: read two arrays, write one), on
//      one thread and on two, at 1M, 10M and 50M floats per array;
//   2. one step of SGD (momentum), Adam, Sophia-G, AdamW, Adafactor, Lion, schedule-free AdamW and Adam-mini at 1M, 10M and 50M
//      parameters, as one tensor and as 100 tensors of mixed sizes: ms, GB/s,
//      the fraction of the in-place kernel's GB/s, and heap allocations per
//      steady-state step (target 0). The baseline is the in-place kernel over
//      Adam's footprint (two arrays of 2n floats: θ, g, m and v hold 16 bytes per
//      parameter), since this machine's 260 MB L3 holds 10M parameters' arrays
//      partly: a kernel over less memory would be measured in a faster cache;
//   3. Adafactor against Adam on the same 4096×4096 matrix; Muon against Adam on 1024×1024 and
//      4096×1024 (ms, and the FMA-peak limit from Newton–Schulz's flops); Shampoo against Adam and
//      against its matmul floor on a 1024×1024 matrix, roots every step and every 100 steps; SOAP against
//      Adam on a 1024×1024 one, with the FLOP limit of its six matrix products at the library's matmul rate;
//   4. scaling: Adam's step time from 1 to 50M parameters, and where it stops
//      being overhead-bound.
// The library's pool runs MOMENTS_NUM_THREADS threads (meson.build sets 1); the
// optimizers' baseline, the in-place kernel over Adam's footprint, runs on as
// many threads, so that each ratio compares the step with the memory bandwidth
// the same cores reach (the physical limit of a memory-bound step).
// Run: meson test -C build --benchmark --suite bench -v  (or ./build/tests/bench/bench_optim)
// Rows go to bench-results.csv under optim/ (see bench_common.hpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "host_device.hpp"
#include "moments.hpp"

using namespace moments;

namespace {

// ---- bandwidth kernels, compiled like the optimizer loops --------------------
// Bytes per element, as STREAM counts them (reads + writes, no write-allocate).
MOMENTS_CPU_CLONES void copy_kernel(float* __restrict a, const float* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] = b[i];  // 8 bytes
}
MOMENTS_CPU_CLONES void triad_kernel(float* __restrict a, const float* __restrict b, const float* __restrict c,
                                     int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];  // 12 bytes
}
MOMENTS_CPU_CLONES void in_place_kernel(float* __restrict x, const float* __restrict y, int64_t n, float a) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * a + y[i];  // 12 bytes: the optimizer's shape
}

// The floor of Adafactor against Adam on this machine: the memory traffic of each step as bare loops.
// Adam's shape: one pass that reads θ, g, m, v and writes θ, m, v. Adafactor's exact step needs three
// passes (lib/optim/adafactor.cpp says why): Σ g² (reads G), Σ u² and Σ x² (reads G and X), then
// x ← x·a + s·g (reads G and X, writes X). Sums run in 8 float lanes, as the library's loops do.
using Lanes = float __attribute__((vector_size(8 * sizeof(float))));
MOMENTS_CPU_CLONES void adam_shape_kernel(float* __restrict x, const float* __restrict g, float* __restrict m,
                                          float* __restrict v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] = 0.9f * m[i] + 0.1f * g[i];
    v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
    x[i] = x[i] - 1e-3f * m[i] / (std::sqrt(v[i]) + 1e-8f);  // 28 bytes
  }
}
MOMENTS_CPU_CLONES float squares_kernel(const float* g, const float* x, int64_t n) {  // x may be null
  Lanes sum = {}, lanes;
  for (int64_t i = 0; i + 8 <= n; i += 8) {  // n: a multiple of 8 here
    std::memcpy(&lanes, g + i, sizeof(Lanes));
    sum += lanes * lanes;
    if (x) {
      std::memcpy(&lanes, x + i, sizeof(Lanes));
      sum += lanes * lanes;
    }
  }
  float total = 0.0f;
  for (int l = 0; l < 8; ++l) total += sum[l];
  return total;
}

// Runs body(begin, end) over [0, n) split between `threads` threads.
template <class Body>
void split(int threads, int64_t n, Body body) {
  if (threads == 1) return body(int64_t{0}, n);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(body, n * t / threads, n * (t + 1) / threads);
  for (std::thread& thread : pool) thread.join();
}

std::string size_label(int64_t n) {
  if (n >= 1'000'000) return std::to_string(n / 1'000'000) + "M";
  if (n >= 1'000) return std::to_string(n / 1'000) + "K";
  return std::to_string(n);
}

int repeats_for(int64_t n) { return n >= 40'000'000 ? 5 : n >= 5'000'000 ? 8 : n >= 100'000 ? 15 : 200; }

// A fixed, varied gradient: (((7 i) mod 17) − 8) · 10⁻³.
void fill_gradient(float* g, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = static_cast<float>((7 * i) % 17 - 8) * 1e-3f;
}

// Parameters with gradients attached, in the given shapes.
std::vector<Tensor> make_params(const std::vector<Shape>& shapes) {
  std::vector<Tensor> params;
  for (const Shape& shape : shapes) {
    Tensor p = Tensor::full(shape, 0.5f).requires_grad_();
    Tensor g = Tensor::empty(shape);
    fill_gradient(g.data(), g.numel());
    p.set_grad(g);
    params.push_back(p);
  }
  return params;
}

int64_t total_numel(const std::vector<Tensor>& params) {
  int64_t n = 0;
  for (const Tensor& p : params) n += p.numel();
  return n;
}

// "one": a single matrix of about n parameters. "list": 100 tensors of mixed
// sizes, like a model's layers: 50 matrices k_i × c (k_i ∝ 1..10) and their 50 biases (k_i).
std::vector<Shape> one_shape(int64_t n) {
  if (n == 1'000'000) return {{1000, 1000}};
  if (n == 10'000'000) return {{2500, 4000}};
  if (n == 50'000'000) return {{5000, 10000}};
  return {{n}};
}
std::vector<Shape> mixed_shapes(int64_t n) {
  int64_t c = std::max<int64_t>(1, std::llround(std::sqrt(static_cast<double>(n) / 50.0)));
  double weight_sum = 0;
  for (int i = 0; i < 50; ++i) weight_sum += 1 + (3 * i) % 10;
  std::vector<Shape> shapes;
  for (int i = 0; i < 50; ++i) {
    int64_t k = std::max<int64_t>(1, std::llround((1 + (3 * i) % 10) / weight_sum * static_cast<double>(n) / static_cast<double>(c)));
    shapes.push_back({k, c});
    shapes.push_back({k});
  }
  return shapes;
}

struct OptimizerCase {
  const char* name;
  double bytes_per_param;  // reads + writes one step must make
  std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)> make;
};

const std::vector<OptimizerCase>& optimizer_cases() {
  static const std::vector<OptimizerCase> cases = {
      {"SGD", 20,  // θ, g, momentum buffer b: read 3, write 2
       [](const std::vector<Tensor>& p) {
         return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 1e-3, .momentum = 0.9});
       }},
      {"Adam", 28,  // θ, g, m, v: read 4, write 3
       [](const std::vector<Tensor>& p) { return std::make_unique<Adam>(p); }},
      {"SophiaG", 24,  // θ, g, m, h: read 4, write 2 (h is read only; update_hessian's EMA, every k steps, not timed)
       [](const std::vector<Tensor>& p) { return std::make_unique<SophiaG>(p, SophiaGOptions{.learning_rate = 1e-3}); }},
      {"AdamW", 28, [](const std::vector<Tensor>& p) { return std::make_unique<AdamW>(p); }},
      {"Adafactor", 12,  // θ, g: read 2, write 1 (its state is n + m per matrix)
       [](const std::vector<Tensor>& p) { return std::make_unique<Adafactor>(p); }},
      {"Lion", 20,  // θ, g, m: read 3, write 2 (one buffer: SGD momentum's traffic)
       [](const std::vector<Tensor>& p) { return std::make_unique<Lion>(p, LionOptions{.weight_decay = 0.1}); }},
      {"SF-AdamW", 32,  // schedule-free: g, z, v, x read, y (θ), z, v, x written (θ is read too only with decay)
       [](const std::vector<Tensor>& p) { return std::make_unique<AdamWScheduleFree>(p); }},
      {"AdamMini", 20,  // θ, g, m: read 3, write 2 (v: one float per row); the loops read g twice (Σ g², then the step)
       [](const std::vector<Tensor>& p) {
         NamedTensors named;  // MLP-named: a matrix gets one v per row, a vector is a bias (Adam rule)
         for (size_t i = 0; i < p.size(); ++i)
           named.emplace_back("mlp." + std::to_string(i) + (p[i].dim() == 2 ? ".weight" : ".bias"), p[i]);
         return std::make_unique<AdamMini>(named);
       }},
      {"Adam8bit", 16.0625,  // θ, g, 1-byte codes of m and v, absmax per 256: read 10 + 8/256, write 6 + 8/256
                             // (tensors under 4,096 elements, in the "list" layout, take the 32-bit path: 28)
       [](const std::vector<Tensor>& p) { return std::make_unique<Adam8bit>(p); }},
  };
  return cases;
}

struct StepMeasure {
  double ms;
  double allocations_per_step;
};

// Best step time, then allocations over `repeats` steady-state steps. Fails
// (exits 1) if the step left a non-finite value or did not move the parameters.
StepMeasure measure_steps(Optimizer& optimizer, const std::vector<Tensor>& params, int repeats) {
  float before = params.front().data()[0];
  double ms = bench::best_ms([&] { optimizer.step(); }, repeats);
  int64_t start = bench::allocations();
  for (int r = 0; r < repeats; ++r) optimizer.step();
  double per_step = static_cast<double>(bench::allocations() - start) / repeats;
  for (const Tensor& p : params)
    for (int64_t i = 0; i < p.numel(); i += 997)
      if (!std::isfinite(p.data()[i])) {
        std::printf("FAIL: %s left a non-finite parameter value\n", optimizer.name().c_str());
        std::exit(1);
      }
  if (params.front().data()[0] == before) {
    std::printf("FAIL: %s did not change the parameters\n", optimizer.name().c_str());
    std::exit(1);
  }
  return {ms, per_step};
}

}  // namespace

int main() {
  bench::Results results("optim");
  const int threads = bench::threads();
  const std::string tt = std::to_string(threads) + "t";
  std::printf("bench_optim: load average %s, %u hardware threads; library steps run on %d thread%s\n\n",
              bench::load_average().c_str(), std::thread::hardware_concurrency(), threads, threads == 1 ? "" : "s");

  // ---- 1. bandwidth --------------------------------------------------------
  const std::vector<int64_t> sizes = {1'000'000, 10'000'000, 50'000'000};
  std::printf("memory bandwidth (GB/s, best of several; STREAM byte counts)\n");
  std::printf("%-10s %12s %12s %12s %12s %12s %12s %16s\n", "floats", "copy 1t", "triad 1t", "in-place 1t", "copy 2t",
              "triad 2t", "in-place 2t", ("in-place " + tt + ", 2n").c_str());
  for (int64_t n : sizes) {
    std::vector<float> a(static_cast<size_t>(n), 1.0f), b(static_cast<size_t>(n), 0.5f), c(static_cast<size_t>(n), 0.25f);
    std::string label = size_label(n);
    double gbs[2][3];
    for (int threads : {1, 2}) {
      int repeats = repeats_for(n);
      double copy_ms = bench::best_ms([&] { split(threads, n, [&](int64_t i, int64_t j) { copy_kernel(a.data() + i, b.data() + i, j - i); }); }, repeats);
      double triad_ms = bench::best_ms([&] { split(threads, n, [&](int64_t i, int64_t j) { triad_kernel(a.data() + i, b.data() + i, c.data() + i, j - i, 0.5f); }); }, repeats);
      double in_place_ms = bench::best_ms([&] { split(threads, n, [&](int64_t i, int64_t j) { in_place_kernel(a.data() + i, b.data() + i, j - i, 0.999f); }); }, repeats);
      double* row = gbs[threads - 1];
      row[0] = 8.0 * static_cast<double>(n) / copy_ms / 1e6;
      row[1] = 12.0 * static_cast<double>(n) / triad_ms / 1e6;
      row[2] = 12.0 * static_cast<double>(n) / in_place_ms / 1e6;
      std::string t = std::to_string(threads) + "t";
      results.add("bandwidth/copy/" + label + "/" + t, row[0], "GB/s");
      results.add("bandwidth/triad/" + label + "/" + t, row[1], "GB/s");
      results.add("bandwidth/in_place/" + label + "/" + t, row[2], "GB/s");
    }
    // Adam's footprint: the in-place kernel over two arrays of 2n floats (the optimizers' baseline).
    a.clear();
    c.clear();
    a.shrink_to_fit();
    c.shrink_to_fit();
    b.assign(static_cast<size_t>(2 * n), 0.5f);
    std::vector<float> x(static_cast<size_t>(2 * n), 1.0f);
    double footprint_ms = bench::best_ms([&] { split(threads, 2 * n, [&](int64_t i, int64_t j) { in_place_kernel(x.data() + i, b.data() + i, j - i, 0.999f); }); }, repeats_for(n));
    double footprint_gbs = 12.0 * static_cast<double>(2 * n) / footprint_ms / 1e6;
    results.add("bandwidth/in_place_footprint/" + label + "/" + tt, footprint_gbs, "GB/s");
    std::printf("%-10s %12.1f %12.1f %12.1f %12.1f %12.1f %12.1f %16.1f\n", label.c_str(), gbs[0][0], gbs[0][1],
                gbs[0][2], gbs[1][0], gbs[1][1], gbs[1][2], footprint_gbs);
  }

  // ---- 2. optimizer steps ---------------------------------------------------
  std::printf("\noptimizer step, %d thread%s (GB/s from the bytes a step must move; 'of in-place' = fraction of the\n"
              "in-place kernel's GB/s on as many threads over Adam's footprint, 2n floats per array; allocs = heap\n"
              "allocations per steady-state step)\n", threads, threads == 1 ? "" : "s");
  std::printf("%-10s %6s %-5s %10s %10s %8s %11s %7s\n", "optimizer", "params", "as", "ms/step", "GB/s", "of in-place",
              "ns/param", "allocs");
  double worst_allocs = 0;
  for (int64_t n : sizes) {
    std::string label = size_label(n);
    std::string in_place = "optim/bandwidth/in_place_footprint/" + label + "/" + tt;
    for (const char* layout : {"one", "list"}) {
      std::vector<Tensor> params = make_params(std::string(layout) == "one" ? one_shape(n) : mixed_shapes(n));
      int64_t count = total_numel(params);
      for (const OptimizerCase& c : optimizer_cases()) {
        std::unique_ptr<Optimizer> optimizer = c.make(params);
        StepMeasure m = measure_steps(*optimizer, params, repeats_for(n));
        double gbs = c.bytes_per_param * static_cast<double>(count) / m.ms / 1e6;
        double ns_per_param = m.ms * 1e6 / static_cast<double>(count);
        std::string key = std::string(c.name) + "/" + label + "/" + layout;
        results.add(key + "/ms", m.ms, "ms");
        std::string gbs_row = results.add(key + "/gbs", gbs, "GB/s", in_place);
        results.add(key + "/ns_per_param", ns_per_param, "ns");
        results.add(key + "/allocs_per_step", m.allocations_per_step, "allocs");
        worst_allocs = std::max(worst_allocs, m.allocations_per_step);
        std::printf("%-10s %6s %-5s %10.3f %10.1f %11.2f %8.3f %7.1f\n", c.name, label.c_str(), layout, m.ms, gbs,
                    gbs / results.value(in_place), ns_per_param, m.allocations_per_step);
        if (std::string(layout) == "list") {  // the list's cost per parameter against the single tensor's
          std::string one = "optim/" + std::string(c.name) + "/" + label + "/one/ns_per_param";
          results.add(key + "/list_over_one", ns_per_param, "ns", one);
        }
      }
    }
  }

  // ---- 2b. LAMB against Adam on the same tensors ----------------------------
  // A LAMB step moves 52 bytes per parameter: the global norm reads g (4); per tensor ‖θ‖ reads θ (4); stage 1
  // reads θ, g, m, v and writes m, v, u (28); ‖u‖ reads u (4); stage 2 reads θ, u and writes θ (12). Adam: 28.
  // Its norms allocate one small vector of chunk partials each (parallel_reduce): 3 per tensor and step.
  std::printf("\nLAMB and Adam on the same tensors, %d thread%s (LAMB: 52 bytes per parameter over five passes)\n",
              threads, threads == 1 ? "" : "s");
  std::printf("%-10s %6s %-5s %10s %10s %11s %10s %7s\n", "optimizer", "params", "as", "ms/step", "GB/s", "of in-place",
              "/ Adam ms", "allocs");
  for (int64_t n : {sizes[0], sizes[1]}) {
    std::string label = size_label(n);
    std::string in_place = "optim/bandwidth/in_place_footprint/" + label + "/" + tt;
    for (const char* layout : {"one", "list"}) {
      std::vector<Tensor> params = make_params(std::string(layout) == "one" ? one_shape(n) : mixed_shapes(n));
      int64_t count = total_numel(params);
      std::string adam_key = "optim/Adam/" + label + "/" + layout + "/ms";  // section 2's row, same tensors' shapes
      Lamb lamb(params);
      StepMeasure m = measure_steps(lamb, params, repeats_for(n));
      double gbs = 52.0 * static_cast<double>(count) / m.ms / 1e6;
      std::string key = "LAMB/" + label + "/" + layout;
      results.add(key + "/ms", m.ms, "ms", adam_key);
      results.add(key + "/gbs", gbs, "GB/s", in_place);
      results.add(key + "/allocs_per_step", m.allocations_per_step, "allocs");
      std::printf("%-10s %6s %-5s %10.3f %10.1f %11.2f %10.2f %7.1f\n", "LAMB", label.c_str(), layout, m.ms, gbs,
                  gbs / results.value(in_place), m.ms / results.value(adam_key), m.allocations_per_step);
    }
  }

  // ---- 3. Adafactor against Adam on one 4096×4096 matrix ---------------------
  std::printf("\nAdafactor and Adam on the same 4096x4096 matrix (16.8M parameters), %d thread%s\n", threads,
              threads == 1 ? "" : "s");
  {
    std::vector<Tensor> params = make_params({{4096, 4096}});
    AdafactorOptions v1;
    v1.reference_loops = true;
    Adam adam(params);
    Adafactor adafactor(params), reference(params, v1);
    double adam_ms = measure_steps(adam, params, 8).ms;
    double adafactor_ms = measure_steps(adafactor, params, 8).ms;
    double reference_ms = measure_steps(reference, params, 3).ms;
    std::string adam_row = results.add("square4096/Adam/ms", adam_ms, "ms");
    results.add("square4096/Adafactor/ms", adafactor_ms, "ms", adam_row);
    results.add("square4096/Adafactor_v1_reference/ms", reference_ms, "ms", adam_row);
    std::printf("  Adam %.2f ms; Adafactor %.2f ms (v2 loops, the default); its v1 reference loops %.2f ms\n", adam_ms,
                adafactor_ms, reference_ms);

    // The same traffic as bare loops over arrays of the same size, on as many threads. The arrays are
    // tensors' buffers, placed in their pages as the optimizers' are (lib/tensor.cpp staggers them).
    const int64_t n = params.front().numel(), rows = 4096, cols = n / rows;
    Tensor x = Tensor::full({n}, 0.5f), g = Tensor::empty({n}), m = Tensor::zeros({n}), v = Tensor::ones({n});
    fill_gradient(g.data(), n);
    std::vector<float> sums(static_cast<size_t>(rows));  // one per row, so that the sums cannot be left out
    auto by_rows = [&](const float* x_or_null) {
      split(threads, rows, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          sums[static_cast<size_t>(i)] = squares_kernel(g.data() + i * cols, x_or_null ? x_or_null + i * cols : nullptr, cols);
      });
    };
    double adam_shape_ms = bench::best_ms([&] {
      split(threads, n, [&](int64_t i, int64_t j) { adam_shape_kernel(x.data() + i, g.data() + i, m.data() + i, v.data() + i, j - i); });
    }, 8);
    double passes_ms = bench::best_ms([&] {
      by_rows(nullptr);
      by_rows(x.data());
      split(threads, n, [&](int64_t i, int64_t j) { in_place_kernel(x.data() + i, g.data() + i, j - i, 0.999f); });
    }, 8);
    if (!std::isfinite(sums[0])) std::printf("FAIL: the bare loops' sums are not finite\n");
    results.add("square4096/bare_adam_shape/ms", adam_shape_ms, "ms");
    results.add("square4096/bare_adafactor_passes/ms", passes_ms, "ms");
    std::printf("  as bare loops over the same bytes: Adam's one pass %.2f ms, Adafactor's three %.2f ms (its floor here: %.2f)\n",
                adam_shape_ms, passes_ms, passes_ms / adam_shape_ms);
  }

  // ---- 3b. Muon against Adam on the same matrix ------------------------------
  // Muon's step is compute-bound: Newton–Schulz on an r × s matrix (r <= s, a tall one is transposed)
  // costs 5 × (2r²s for X Xᵀ + 2r³ for (cA) A + 2r²s for B X) flops; its limit is that at the FMA peak.
  {
    const double clock_ghz = bench::measured_clock_ghz();
    const double peak = bench::peak_gflops(threads, bench::simd_float_lanes(), bench::simd_has_fma(), 2, clock_ghz);
    std::printf("\nMuon and Adam on the same matrix, %d thread%s; Muon's limit: its Newton-Schulz flops at the FMA peak "
                "(%.0f GFLOP/s, 2 FMA ports assumed, %.2f GHz measured)\n", threads, threads == 1 ? "" : "s", peak, clock_ghz);
    for (const Shape& shape : std::vector<Shape>{{1024, 1024}, {4096, 1024}}) {
      std::vector<Tensor> params = make_params({shape});
      Adam adam(params);
      Muon muon(params);
      const double r = static_cast<double>(std::min(shape[0], shape[1])), c = static_cast<double>(std::max(shape[0], shape[1]));
      const double flops = 5.0 * (4.0 * r * r * c + 2.0 * r * r * r);
      double adam_ms = measure_steps(adam, params, 8).ms;
      double muon_ms = measure_steps(muon, params, 2).ms;
      const std::string name = std::to_string(shape[0]) + "x" + std::to_string(shape[1]);
      std::string adam_row = results.add("muon" + name + "/Adam/ms", adam_ms, "ms");
      results.add("muon" + name + "/Muon/ms", muon_ms, "ms", adam_row);
      results.add("muon" + name + "/Muon/gflops", flops / muon_ms / 1e6, "GFLOP/s");
      std::printf("  %s: Adam %.2f ms; Muon %.1f ms = %.1fx Adam, %.1f GFLOP/s (%.0f%% of peak; the limit is %.1f ms)\n",
                  name.c_str(), adam_ms, muon_ms, muon_ms / adam_ms, flops / muon_ms / 1e6,
                  100.0 * flops / muon_ms / 1e6 / peak, flops / peak / 1e6);
    }
  }

  // ---- 3c. Shampoo against Adam on one 1024×1024 matrix -----------------------
  // A step's matmuls: L += G Gᵀ and R += Gᵀ G (2m²n + 2mn² flops), then L^{−1/4} Ḡ R^{−1/4} (as many): 4mn(m + n)
  // flops, 8.6 GFLOP at 1024×1024; its floor is that count at the library's own matmul rate, measured here. A root
  // step adds two float64 eigendecompositions of 1024×1024 on the host (precondition_frequency amortizes them).
  std::printf("\nShampoo (Adam grafting, one 1024x1024 block) and Adam on the same 1024x1024 matrix, %d thread%s\n", threads,
              threads == 1 ? "" : "s");
  {
    const int64_t n = 1024;
    std::vector<Tensor> params = make_params({{n, n}});
    Adam adam(params);
    double adam_ms = measure_steps(adam, params, 20).ms;
    Tensor a = Tensor::full({n, n}, 0.5f), b = Tensor::full({n, n}, 0.25f);
    double matmul_ms = bench::best_ms([&] { matmul(a, b); }, 5);
    double matmul_gflops = 2.0 * n * n * n / matmul_ms / 1e6;
    double step_gflop = 4.0 * n * n * (n + n) / 1e9;
    // precondition_frequency 100: the steps between roots (the first step computes none: start is step 100).
    Shampoo between(params, {.precondition_frequency = 100, .grafting = ShampooGrafting::adam});
    double between_ms = measure_steps(between, params, 3).ms;
    // precondition_frequency 1: every step recomputes both roots.
    Shampoo every(params, {.precondition_frequency = 1, .grafting = ShampooGrafting::adam});
    double every_ms = measure_steps(every, params, 2).ms;
    double amortized_ms = between_ms + (every_ms - between_ms) / 100.0;
    std::string adam_row = results.add("square1024/Adam/ms", adam_ms, "ms");
    results.add("square1024/matmul_gflops", matmul_gflops, "GFLOP/s");
    std::string floor_row = results.add("square1024/Shampoo_matmul_floor/ms", step_gflop / matmul_gflops * 1e3, "ms");
    results.add("square1024/Shampoo_freq1/ms", every_ms, "ms", adam_row);
    results.add("square1024/Shampoo_freq100_between_roots/ms", between_ms, "ms", floor_row);
    results.add("square1024/Shampoo_freq100_amortized/ms", amortized_ms, "ms", adam_row);
    std::printf("  Adam %.2f ms; matmul %.1f GFLOP/s, so Shampoo's %.1f GFLOP of matmuls need >= %.1f ms\n", adam_ms,
                matmul_gflops, step_gflop, step_gflop / matmul_gflops * 1e3);
    std::printf("  Shampoo precondition_frequency 1: %.1f ms/step (two 1024x1024 eigendecompositions each step)\n", every_ms);
    std::printf("  Shampoo precondition_frequency 100: %.1f ms between roots (%.2fx the matmul floor), %.1f amortized\n",
                between_ms, between_ms / (step_gflop / matmul_gflops * 1e3), amortized_ms);
  }

  // ---- 3d. SOAP against Adam on one 1024×1024 matrix -------------------------
  // A SOAP step without a refresh is six m×n by n×n (or m×m) products: G rotated into the eigenbasis (2), Δ'
  // rotated back (2), G Gᵀ and Gᵀ G (2): 6 mn(m + n) flops, 12.9 GFLOP at 1024×1024. Its limit is the time of
  // that many flops at the rate of the library's own 1024³ matmul, measured here. A refresh (every 10 steps by
  // default) adds four rotations of M, two power iterations and two host QRs; the first step is two host eighs.
  std::printf("\nSOAP and Adam on the same 1024x1024 matrix, %d thread%s\n", threads, threads == 1 ? "" : "s");
  {
    const int64_t d = 1024;
    std::vector<Tensor> params = make_params({{d, d}});
    Adam adam(params);
    SOAP steady(params, {.precondition_frequency = 1e9}), refreshed(params, {.precondition_frequency = 10});
    double adam_ms = measure_steps(adam, params, 8).ms;
    auto first = std::chrono::steady_clock::now();
    refreshed.step();  // the first step: L, R and two eighs on the host
    double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - first).count();
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < 20; ++t) refreshed.step();  // two refreshes among 20 steps
    double amortized_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / 20;
    double steady_ms = measure_steps(steady, params, 4).ms;
    Tensor a = params.front().detach(), b = params.front().detach();
    double matmul_ms = bench::best_ms([&] { matmul(a, b); }, 4);
    double gflops = 2.0 * d * d * d / matmul_ms / 1e6;                  // the library's 1024³ matmul rate
    double limit_ms = 6.0 * d * d * (2.0 * d) / (gflops * 1e9) * 1e3;  // six such products' time
    std::string adam_row = results.add("soap1024/Adam/ms", adam_ms, "ms");
    results.add("soap1024/SOAP_no_refresh/ms", steady_ms, "ms", adam_row);
    results.add("soap1024/SOAP_refresh_every_10/ms", amortized_ms, "ms", adam_row);
    results.add("soap1024/SOAP_first_step/ms", first_ms, "ms");
    results.add("soap1024/SOAP_flop_limit/ms", limit_ms, "ms");
    std::printf("  Adam %.2f ms; SOAP %.1f ms without a refresh (FLOP limit %.1f ms at the library's %.1f GFLOP/s "
                "1024^3 matmul), %.1f ms averaged over 20 steps refreshing every 10, first step (two eighs) %.0f ms\n",
                adam_ms, steady_ms, limit_ms, gflops, amortized_ms, first_ms);
  }

  // ---- 4. scaling with the parameter count -----------------------------------
  std::printf("\nscaling: Adam step, one tensor, %d thread%s (overhead-bound while the fixed cost of a step,\n"
              "measured at 1 parameter, is over half the step; memory-bound once it is under a tenth)\n", threads,
              threads == 1 ? "" : "s");
  std::printf("%10s %10s %10s %10s   %s\n", "params", "us/step", "ns/param", "GB/s", "bound by");
  double overhead_us = 0;
  for (int64_t n : {int64_t{1}, int64_t{1'000}, int64_t{10'000}, int64_t{100'000}, int64_t{1'000'000},
                    int64_t{10'000'000}, int64_t{50'000'000}}) {
    std::vector<Tensor> params = make_params({{n}});
    Adam adam(params);
    double us = 1e3 * measure_steps(adam, params, repeats_for(n)).ms;
    if (n == 1) overhead_us = us;
    double share = overhead_us / us;  // of the step spent on the fixed cost
    const char* bound = share > 0.5 ? "overhead" : share > 0.1 ? "overhead + memory" : "memory bandwidth";
    double gbs = 28.0 * static_cast<double>(n) / us / 1e3;
    results.add("scaling/Adam/" + size_label(n) + "/us", us, "us");
    std::printf("%10s %10.2f %10.3f %10.1f   %s\n", size_label(n).c_str(), us, 1e3 * us / static_cast<double>(n), gbs, bound);
  }

  // ---- targets ---------------------------------------------------------------
  std::printf("\ntargets (issue 8; %d thread%s, same run)\n", threads, threads == 1 ? "" : "s");
  for (const char* name : {"Adam", "AdamW"})
    for (const char* label : {"10M", "50M"}) {
      std::string key = std::string("optim/") + name + "/" + label;
      bench::print_target(std::string(name) + " " + label + " GB/s / in-place kernel GB/s",
                          results.value(key + "/one/gbs") /
                              results.value(std::string("optim/bandwidth/in_place_footprint/") + label + "/" + tt),
                          0.85, true);
      bench::print_target(std::string(name) + " " + label + " 100 tensors / one tensor (time per param)",
                          results.value(key + "/list/ns_per_param") / results.value(key + "/one/ns_per_param"), 1.15, false);
    }
  char floor_note[96];
  std::snprintf(floor_note, sizeof floor_note, "(the same traffic as bare loops: %.2f)",
                results.value("optim/square4096/bare_adafactor_passes/ms") / results.value("optim/square4096/bare_adam_shape/ms"));
  bench::print_target("Adafactor / Adam time, 4096x4096",
                      results.value("optim/square4096/Adafactor/ms") / results.value("optim/square4096/Adam/ms"), 0.8, false,
                      floor_note);
  bench::print_target("heap allocations per steady-state step (worst case)", worst_allocs, 0.0, false);
  results.write();
  return 0;
}
