// Tutorial 10 — optimizer memory, measured from the real allocations.
//
// One 4096 × 8192 weight matrix (33.5 million weights, 128 MiB), one step of
// each optimizer, and the bytes of state each one allocated, read back with
// Optimizer::state_bytes(). Draws the bar chart optimizer_memory.png.
//
// Build and run:  meson compile -C build && ./build/tutorials/10_optimizer_memory [--out DIR]
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#include "moments.hpp"

using namespace moments;

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  const int64_t n = 4096, m = 8192;
  Tensor w = Tensor::zeros({n, m}).requires_grad_();
  w.set_grad(Tensor::full({n, m}, 1e-3f));
  std::printf("One %lld x %lld weight matrix: %lld weights, %.0f MiB of float32\n\n", static_cast<long long>(n),
              static_cast<long long>(m), static_cast<long long>(n * m), static_cast<double>(n * m * 4) / (1 << 20));

  using Make = std::function<std::unique_ptr<Optimizer>()>;
  std::vector<std::pair<std::string, Make>> contenders = {
      {"SGD", [&] { return std::make_unique<SGD>(std::vector{w}, SgdOptions{.momentum = 0.9}); }},
      {"Adam", [&] { return std::make_unique<Adam>(std::vector{w}); }},
      {"Adam amsgrad", [&] { return std::make_unique<Adam>(std::vector{w}, AdamOptions{.amsgrad = true}); }},
      {"Adafactor", [&] { return std::make_unique<Adafactor>(std::vector{w}); }},
      {"Adafactor b1", [&] { return std::make_unique<Adafactor>(std::vector{w}, AdafactorOptions{.beta1 = 0.9}); }},
  };
  std::printf("%-14s %-18s %14s %12s\n", "optimizer", "state buffer", "bytes", "% of Adam");
  std::vector<std::unique_ptr<Optimizer>> kept;  // kept alive for the chart
  double adam_bytes = 2.0 * static_cast<double>(n * m) * 4.0;  // m and v: 2 floats per weight
  for (auto& [name, make] : contenders) {
    auto opt = make();
    opt->step();  // state is created lazily, at the first step
    for (const auto& [buffer, t] : opt->state(w)->buffers)
      std::printf("%-14s %-18s %14lld   shape %s\n", name.c_str(), buffer.c_str(),
                  static_cast<long long>(t.numel() * 4), shape_str(t.shape()).c_str());
    double bytes = static_cast<double>(opt->state_bytes_total());
    std::printf("%-14s %-18s %14.0f %11.4f%%\n\n", name.c_str(), "total", bytes, 100.0 * bytes / adam_bytes);
    kept.push_back(std::move(opt));
  }
  std::vector<std::pair<std::string, const Optimizer*>> chart;
  for (size_t i = 0; i < kept.size(); ++i) chart.push_back({contenders[i].first, kept[i].get()});
  save_memory_png(chart, out_dir + "/optimizer_memory.png", "Optimizer state for one 4096 x 8192 matrix");
  std::printf("Adam: 2nm floats = %lld bytes. Adafactor: n + m floats = %lld bytes, %.0f times less.\n",
              static_cast<long long>(2 * n * m * 4), static_cast<long long>((n + m) * 4),
              static_cast<double>(2 * n * m) / static_cast<double>(n + m));
  std::printf("wrote optimizer_memory.png\n");
  return 0;
}
