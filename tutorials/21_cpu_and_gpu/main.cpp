// Tutorial 21 — CPU and GPU: the same optimizer step on both devices.
//
// A parameter on Device::cuda is updated by a kernel (cuda/adam.cu) that runs
// the same per-element function as the CPU loop (adam_update_element in
// lib/optim/adam_math.hpp). Without a GPU, the kernels run on moments' CPU
// emulator (cuda/emulator/): the same .cu files compiled by g++, with blocks of
// threads run as fibers. Either way the optimizer steps match the CPU's bit for
// bit, and a small MLP trains on either device to the same losses.
//
// Build and run:  meson compile -C build && ./build/tutorials/21_cpu_and_gpu
// Try this (the README's last section):
//   --steps N       part 2 alone, N steps instead of 10, with the largest difference in numbers
//   --mlp-steps N   part 3 alone, N steps instead of 20
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend.hpp"  // cuda/: which executor Device::cuda runs on
#include "moments.hpp"

using namespace moments;

namespace {

// The same inputs everywhere: v_i = (((7 i + k) mod 17) − 8) · scale.
Tensor pattern(const Shape& shape, int k, float scale) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(((7 * i + k) % 17) - 8) * scale;
  return t;
}

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(Tensor&)>;

// `steps` steps from `start` on `device`, gradient pattern(shape, t) at step t; the
// parameter comes back to the host.
std::vector<float> train(const MakeOptimizer& make, const Tensor& start, Device device, int steps) {
  Tensor p = start.to(device).clone().requires_grad_();
  std::unique_ptr<Optimizer> optimizer = make(p);
  for (int t = 1; t <= steps; ++t) {
    p.set_grad(pattern(p.shape(), t, 0.05f * static_cast<float>(t)).to(device));  // forward, backward: a given g
    optimizer->step();                                                               // update
  }
  return p.to_vector();
}

double milliseconds_per_step(Optimizer& optimizer, int steps) {
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < steps; ++t) optimizer.step();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / steps;
}

// ---- 2. `steps` steps of every optimizer, cpu against cuda (numbers: print the difference too) ----------
void every_optimizer(int steps, bool numbers) {
  std::printf("2. %s steps from the same start with the same gradients, cpu against cuda\n", steps == 10 ? "Ten" : std::to_string(steps).c_str());
  std::printf("   %-34s %-12s  agreement%s\n", "optimizer", "shape", numbers ? "     largest |difference| / largest |theta|" : "");
  struct Row {
    const char* name;
    Shape shape;
    MakeOptimizer make;
  };
  std::vector<Row> rows = {
      {"SGD (momentum 0.9, nesterov)", {31},
       [](Tensor& p) { return std::make_unique<SGD>(std::vector<Tensor>{p}, SgdOptions{.learning_rate = 0.05, .momentum = 0.9, .nesterov = true}); }},
      {"Adam (lr 0.01)", {100, 1000},
       [](Tensor& p) { return std::make_unique<Adam>(std::vector<Tensor>{p}, AdamOptions{.learning_rate = 0.01}); }},
      {"AdamW (weight decay 0.1, amsgrad)", {31},
       [](Tensor& p) { return std::make_unique<AdamW>(std::vector<Tensor>{p}, AdamWOptions{.weight_decay = 0.1, .amsgrad = true}); }},
      {"Adafactor (beta1 0.9)", {37, 53},
       [](Tensor& p) { return std::make_unique<Adafactor>(std::vector<Tensor>{p}, AdafactorOptions{.beta1 = 0.9}); }},
  };
  for (const Row& row : rows) {
    Tensor initial = pattern(row.shape, 1, 0.1f);
    std::vector<float> cpu = train(row.make, initial, Device::cpu, steps), gpu = train(row.make, initial, Device::cuda, steps);
    double worst = 0.0;  // the largest difference, relative to the largest |θ|
    float largest = 0.0f;
    for (size_t k = 0; k < cpu.size(); ++k) {
      worst = std::max(worst, std::fabs(static_cast<double>(cpu[k]) - gpu[k]));
      largest = std::max(largest, std::fabs(cpu[k]));
    }
    const char* verdict = worst == 0.0 ? "bit for bit"
                          : worst <= 1e-6 * largest ? (numbers ? "within 1e-6" : "within 1e-6 (sums of squares add in another order)")
                                                    : "DIFFERENT";
    std::printf("   %-34s %-12s  %s", row.name, shape_str(row.shape).c_str(), verdict);
    if (numbers) std::printf("%*s%.2g", 47 - static_cast<int>(std::strlen(verdict)), "", worst / largest);
    std::printf("\n");
  }
}

// ---- 3. A small MLP trained on each device for `steps` steps, the losses every `every` ------------------
// (numbers: with all their digits, and their difference)
void small_mlp(int steps, int every, bool numbers) {
  // Every op of the forward and backward pass now runs as kernels too (cuda/*.cu).
  std::printf("\n3. MLP 64-32-10, cross-entropy, Adam (lr 0.01), one batch of 32, on each device\n");
  std::printf(numbers ? "   step        cpu loss       cuda loss   cuda - cpu\n" : "   step   cpu loss   cuda loss\n");
  Generator data_gen(5);
  Tensor x = randn({32, 64}, data_gen);
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < 32; ++i) targets.push_back((i * 3) % 10);
  std::vector<MLP> models;  // [0] on the cpu, [1] on cuda
  models.reserve(2);
  std::vector<std::unique_ptr<Adam>> adams;
  for (Device device : {Device::cpu, Device::cuda}) {
    Generator gen(0);  // the same initial weights on both devices
    models.emplace_back(std::vector<int64_t>{64, 32, 10}, gen);
    models.back().to(device);
    adams.push_back(std::make_unique<Adam>(models.back().parameters(), AdamOptions{.learning_rate = 0.01}));
  }
  Tensor inputs[2] = {x, x.to(Device::cuda)};
  for (int step = 1; step <= steps; ++step) {
    float losses[2];
    for (int d = 0; d < 2; ++d) {
      Tensor loss = cross_entropy(models[d].forward(inputs[d]), targets);  // forward
      models[d].zero_grad();
      loss.backward();  // backward
      adams[d]->step();  // update
      losses[d] = loss.item();
    }
    if (step != 1 && step % every != 0) continue;
    if (numbers)
      std::printf("   %4d   %13.9f   %13.9f   %10.2e\n", step, losses[0], losses[1], static_cast<double>(losses[1]) - losses[0]);
    else
      std::printf("   %4d   %8.4f   %9.4f\n", step, losses[0], losses[1]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // ---- 0. Which executor is Device::cuda? --------------------------------------
  if (!cuda::gpu_backend()) {
    std::fprintf(stderr, "no GPU here: the kernels run on moments' CPU emulator\n");
    cuda::set_emulation(true);  // what MOMENTS_CUDA_EMULATION=1 or -Dgpu_emulation=enabled also do
  }
  std::printf("Device::cuda runs on the %s executor\n\n", cuda::active_backend().name());
  if (argc == 3 && std::strcmp(argv[1], "--steps") == 0) {  // Try this: do the last bits drift apart?
    every_optimizer(std::atoi(argv[2]), /*numbers=*/true);
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--mlp-steps") == 0) {  // Try this: do the losses?
    const int steps = std::atoi(argv[2]);
    small_mlp(steps, std::max(1, steps / 10), /*numbers=*/true);
    return 0;
  }

  // ---- 1. One Adam step on each device ------------------------------------------
  const int64_t n = 1000003;
  Tensor start = pattern({n}, 1, 0.1f);
  Tensor grad = pattern({n}, 2, 0.05f);
  std::printf("1. One Adam step (lr = 0.1) on %lld parameters\n", static_cast<long long>(n));
  std::printf("   %7s %7s %7s  |   %8s %8s %7s |   %8s %8s %7s\n", "element", "theta", "g", "cpu m", "v", "theta",
              "cuda m", "v", "theta");
  Tensor p_cpu = start.clone().requires_grad_(), p_cuda = start.to(Device::cuda).requires_grad_();
  p_cpu.set_grad(grad);
  p_cuda.set_grad(grad.to(Device::cuda));
  Adam adam_cpu({p_cpu}, {.learning_rate = 0.1}), adam_cuda({p_cuda}, {.learning_rate = 0.1});
  adam_cpu.step();   // the loop in lib/optim/adam.cpp
  adam_cuda.step();  // the kernel in cuda/adam.cu
  std::vector<float> theta_cpu = p_cpu.to_vector(), theta_cuda = p_cuda.to_vector();
  std::vector<float> m_cpu = adam_cpu.state(p_cpu)->buffers.at("exp_avg").to_vector();
  std::vector<float> v_cpu = adam_cpu.state(p_cpu)->buffers.at("exp_avg_sq").to_vector();
  std::vector<float> m_cuda = adam_cuda.state(p_cuda)->buffers.at("exp_avg").to_vector();
  std::vector<float> v_cuda = adam_cuda.state(p_cuda)->buffers.at("exp_avg_sq").to_vector();
  std::vector<float> theta_0 = start.to_vector(), g = grad.to_vector();
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{2}, n - 1}) {
    auto k = static_cast<size_t>(i);
    std::printf("   %7lld %7.3f %7.3f  |   %8.5f %8.6f %7.4f |   %8.5f %8.6f %7.4f\n", static_cast<long long>(i),
                theta_0[k], g[k], m_cpu[k], v_cpu[k], theta_cpu[k], m_cuda[k], v_cuda[k],
                theta_cuda[k]);
  }
  int64_t same = 0;
  for (size_t k = 0; k < theta_cpu.size(); ++k) same += theta_cpu[k] == theta_cuda[k] && m_cpu[k] == m_cuda[k];
  std::printf("   identical bits (theta and m) in %lld of %lld elements\n\n", static_cast<long long>(same),
              static_cast<long long>(n));

  every_optimizer(10, /*numbers=*/false);
  small_mlp(20, 5, /*numbers=*/false);

  // ---- 4. Where the time goes ---------------------------------------------------------
  std::printf("\n4. Adam, milliseconds per step on %lld parameters (10 steps)\n", static_cast<long long>(n));
  std::printf("   cpu loop:     %7.2f ms\n", milliseconds_per_step(adam_cpu, 10));
  std::printf("   cuda kernel:  %7.2f ms on the %s executor\n", milliseconds_per_step(adam_cuda, 10),
              cuda::active_backend().name());
  return 0;
}
