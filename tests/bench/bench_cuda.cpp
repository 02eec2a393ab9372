// bench_cuda — the GPU benchmarks of the CUDA backend (issues 7 and 23): the Adam and AdamW
// steps at 10M and 100M parameters in GB/s against the device's copy bandwidth measured in
// the same run (target ≥ 85 %); matmul v1 (naive), v2 (tiled) and cuBLAS in GFLOP/s, each
// product checked against cuBLAS's; the Tensor op matmul (its output from the caching
// allocator, dispatch, the launch) against the bare cuBLAS call into a buffer made beforehand
// (target ≥ 0.9); and tutorial 22's GPT (the recipe's model) training step on the GPU against
// the same step on the CPU (target ≥ 10×). Needs a real GPU: on the emulator a kernel's time
// says nothing about a GPU, so without one this exits 77 (skipped) with a message.
// Run: meson test -C build --benchmark --suite bench-cuda -v (or ./build/tests/bench/bench_cuda)
// torch's fused Adam is not measured here: Debian's python3-torch has no CUDA.
// Rows go to bench-results.csv under cuda/.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../../tutorials/22_char_gpt/gpt.hpp"
#include "backend.hpp"
#include "bench_common.hpp"
#include "moments.hpp"
#include "optim/adam_math.hpp"

using namespace moments;

namespace {

// Milliseconds per call of `launch` on the device: `repeats` calls, then one
// device-to-host copy, which waits for them all (kernel launches are asynchronous).
double device_ms(cuda::Backend& gpu, float* any_device_buffer, int repeats, const std::function<void()>& launch) {
  float sink = 0;
  launch();
  gpu.copy_to_host(&sink, any_device_buffer, 1);  // warm-up, finished
  double best = 1e300;
  for (int round = 0; round < 5; ++round) {
    auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; ++r) launch();
    gpu.copy_to_host(&sink, any_device_buffer, 1);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, ms / repeats);
  }
  return best;
}

// A device buffer of n floats, filled with `value`, freed at scope exit.
struct Buffer {
  cuda::Backend& gpu;
  int64_t n;
  float* data;
  Buffer(cuda::Backend& backend, int64_t count, float value) : gpu(backend), n(count), data(backend.allocate(count)) {
    gpu.fill(data, n, value);
  }
  ~Buffer() { gpu.release(data, n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

}  // namespace

int main() {
  cuda::Backend* device = cuda::gpu_backend();
  if (!device) {
    std::printf("skipped: bench_cuda needs a real GPU (%s)\n",
                cuda::gpu_built() ? "none is present" : "this build has no nvcc-compiled kernels");
    return 77;
  }
  cuda::Backend& gpu = *device;
  bench::Results results("cuda");

  std::printf("optimizer steps on the GPU against its copy bandwidth (same run)\n");
  std::printf("%-10s %10s %10s %10s %8s\n", "kernel", "params", "ms/step", "GB/s", "ratio");
  std::vector<double> ratios;
  for (int64_t n : {int64_t{10'000'000}, int64_t{100'000'000}}) {
    std::string size = std::to_string(n / 1'000'000) + "M";
    Buffer theta(gpu, n, 0.5f), grad(gpu, n, 0.01f), m(gpu, n, 0.0f), v(gpu, n, 0.0f), copy(gpu, n, 0.0f);
    double copy_ms = device_ms(gpu, copy.data, 20, [&] { gpu.copy_on_device(copy.data, theta.data, n); });
    double copy_gbs = 8.0 * static_cast<double>(n) / copy_ms / 1e6;  // read + write
    std::string copy_row = results.add("copy/" + size + "/gbs", copy_gbs, "GB/s");
    std::printf("%-10s %10lld %10.3f %10.1f %8s\n", "copy", static_cast<long long>(n), copy_ms, copy_gbs, "1.00");
    for (bool decoupled : {false, true}) {
      const char* name = decoupled ? "AdamW" : "Adam";
      AdamScalars s = adam_scalars(1e-3, 0.9, 0.999, 1e-8, decoupled ? 1e-2 : 0.0, decoupled, false, false, 10);
      double ms = device_ms(gpu, theta.data, 20, [&] { gpu.adam_update(theta.data, grad.data, m.data, v.data, nullptr, n, s); });
      double gbs = 28.0 * static_cast<double>(n) / ms / 1e6;  // reads θ, g, m, v; writes θ, m, v
      results.add(std::string(decoupled ? "adamw/" : "adam/") + size + "/gbs", gbs, "GB/s", copy_row);
      ratios.push_back(gbs / copy_gbs);
      std::printf("%-10s %10lld %10.3f %10.1f %8.2f\n", name, static_cast<long long>(n), ms, gbs, gbs / copy_gbs);
    }
  }

  std::printf("\nmatmul on the GPU, square n x n (GFLOP/s; max |difference| from cuBLAS)\n");
  std::printf("%6s %14s %14s %14s\n", "n", "v1 naive", "v2 tiled", "cuBLAS");
  for (int64_t n : {int64_t{256}, int64_t{1024}, int64_t{2048}}) {
    Generator gen(0);
    Tensor a = randn({n, n}, gen), b = randn({n, n}, gen);
    Buffer da(gpu, n * n, 0.0f), db(gpu, n * n, 0.0f), dc(gpu, n * n, 0.0f);
    gpu.copy_to_device(da.data, a.data(), n * n);
    gpu.copy_to_device(db.data, b.data(), n * n);
    std::vector<float> reference(static_cast<size_t>(n * n)), result(static_cast<size_t>(n * n));
    double gflops[3];
    float worst[3];
    const cuda::MatmulKernel kernels[3] = {cuda::MatmulKernel::naive_v1, cuda::MatmulKernel::tiled_v2,
                                           cuda::MatmulKernel::cublas};
    for (int k = 2; k >= 0; --k) {  // cuBLAS first: the others are checked against it
      auto run = [&] { gpu.matmul(kernels[k], da.data, db.data, dc.data, 1, n, n, n, 0, 0); };
      double ms = device_ms(gpu, dc.data, n >= 2048 ? 3 : 10, run);
      gflops[k] = 2.0 * static_cast<double>(n * n * n) / ms / 1e6;
      gpu.copy_to_host(k == 2 ? reference.data() : result.data(), dc.data, n * n);
      worst[k] = 0;
      if (k != 2)
        for (size_t i = 0; i < result.size(); ++i) worst[k] = std::max(worst[k], std::abs(result[i] - reference[i]));
      static const char* names[3] = {"v1", "v2", "cublas"};
      results.add(std::string("matmul/") + names[k] + "/" + std::to_string(n) + "/gflops", gflops[k], "GFLOP/s");
    }
    std::printf("%6lld %8.0f (%.0e) %8.0f (%.0e) %14.0f\n", static_cast<long long>(n), gflops[0],
                static_cast<double>(worst[0]), gflops[1], static_cast<double>(worst[1]), gflops[2]);
    // float32 sums of n products of N(0,1) numbers, in different orders: ~1e-3 is rounding, not a bug.
    if (worst[0] > 1e-2f * std::sqrt(static_cast<float>(n)) || worst[1] > 1e-2f * std::sqrt(static_cast<float>(n))) {
      std::printf("FAIL: a matmul kernel disagrees with cuBLAS\n");
      return 1;
    }
  }

  // The op against the library call it makes: Tensor matmul on cuda (cuBLAS on a GPU) allocates its
  // output from the cache and dispatches; the bare call writes into a buffer made beforehand.
  std::printf("\nmatmul as a Tensor op against the bare cuBLAS call (same run)\n");
  std::printf("%6s %14s %14s %8s\n", "n", "op ms", "cuBLAS ms", "ratio");
  std::vector<double> op_ratios;
  for (int64_t n : {int64_t{512}, int64_t{2048}}) {
    Generator gen(1);
    Tensor a = randn({n, n}, gen).to(Device::cuda), b = randn({n, n}, gen).to(Device::cuda);
    Tensor out = Tensor::empty({n, n}, Device::cuda);
    NoGradGuard no_grad;
    const double bare_ms = device_ms(gpu, out.data(), 10, [&] {
      gpu.matmul(cuda::MatmulKernel::cublas, a.data(), b.data(), out.data(), 1, n, n, n, 0, 0);
    });
    const double op_ms = device_ms(gpu, out.data(), 10, [&] { out = matmul(a, b); });
    op_ratios.push_back(bare_ms / op_ms);
    results.add("matmul_op/" + std::to_string(n) + "/ratio", bare_ms / op_ms, "x");
    std::printf("%6lld %14.3f %14.3f %8.2f\n", static_cast<long long>(n), op_ms, bare_ms, bare_ms / op_ms);
  }

  // Tutorial 22's GPT with the recipe's configuration: milliseconds per training step (forward,
  // backward, clipping, AdamW) on the CPU and on the GPU, the best of a few after a warm-up.
  std::printf("\ntutorial 22's GPT (the recipe's model), one training step\n");
  CharCorpus text = load_char_corpus(MOMENTS_DATA_DIR "/tinyshakespeare.txt");
  gpt::Recipe recipe;
  auto step_ms = [&](Device device) {
    Generator init(1337);
    gpt::Gpt model(gpt::Config{.vocab_size = text.vocab_size()}, init);
    if (device == Device::cuda) model.to(Device::cuda);
    gpt::Trainer trainer(model, text, recipe);
    float sink = 0;
    for (int i = 0; i < 3; ++i) sink += trainer.step();  // warm-up: state allocated, the cache filled
    double best = 1e300;
    for (int i = 0; i < 10; ++i) {  // step() returns the loss: it waits for the device
      auto start = std::chrono::steady_clock::now();
      sink += trainer.step();
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    if (!std::isfinite(sink)) std::printf("warning: the loss is not finite\n");
    return best;
  };
  const double cpu_ms = step_ms(Device::cpu), gpu_ms = step_ms(Device::cuda);
  results.add("gpt_step/cpu_ms", cpu_ms, "ms");
  results.add("gpt_step/gpu_ms", gpu_ms, "ms");
  std::printf("cpu %.2f ms (%d thread%s), gpu %.2f ms: %.1fx\n", cpu_ms, bench::threads(), bench::threads() == 1 ? "" : "s",
              gpu_ms, cpu_ms / gpu_ms);

  std::printf("\ntargets (issues 7 and 23; same run)\n");
  for (double r : ratios) bench::print_target("Adam/AdamW step, fraction of the device's copy bandwidth", r, 0.85, true);
  for (double r : op_ratios) bench::print_target("matmul op through cuBLAS, fraction of the bare cuBLAS call", r, 0.9, true);
  bench::print_target("GPT training step, GPU speed-up over the CPU", cpu_ms / gpu_ms, 10.0, true);
  results.write();
  return 0;
}
