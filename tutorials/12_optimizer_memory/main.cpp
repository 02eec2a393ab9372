// Tutorial 12 — optimizer memory, measured from the real allocations.
//
// One 4096 × 8192 weight matrix (33.5 million weights, 128 MiB), one step of
// each optimizer, and the bytes of state each one allocated, read back with
// Optimizer::state_bytes(). Draws the bar chart optimizer_memory.png.
//
// Build and run:  meson compile -C build && ./build/tutorials/12_optimizer_memory [--out DIR]
// With --summary it prints only the bytes per weight of each optimizer (the table in the top-level
// README, checked by the tutorials suite) and draws nothing; --shape N M does the same for an N × M
// matrix, and --bias adds a bias vector of M to the parameters (see Try this).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "moments.hpp"

using namespace moments;

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  const bool shaped = argc == 4 && std::strcmp(argv[1], "--shape") == 0;
  const bool with_bias = argc == 2 && std::strcmp(argv[1], "--bias") == 0;
  const bool summary = (argc == 2 && std::strcmp(argv[1], "--summary") == 0) || shaped || with_bias;
  const int64_t n = shaped ? std::atoll(argv[2]) : 4096, m = shaped ? std::atoll(argv[3]) : 8192;
  Tensor w = Tensor::zeros({n, m}).requires_grad_();
  w.set_grad(Tensor::full({n, m}, 1e-3f));
  Tensor bias = Tensor::zeros({m}).requires_grad_();  // --bias: a second parameter, a vector
  bias.set_grad(Tensor::full({m}, 1e-3f));
  std::vector<Tensor> params = with_bias ? std::vector<Tensor>{w, bias} : std::vector<Tensor>{w};
  std::printf("One %lld x %lld weight matrix: %lld weights, %.0f MiB of float32\n", static_cast<long long>(n),
              static_cast<long long>(m), static_cast<long long>(n * m), static_cast<double>(n * m * 4) / (1 << 20));
  if (with_bias) std::printf("and a bias vector of %lld\n", static_cast<long long>(m));
  std::printf("\n");
  auto detail = [&](auto... args) {
    if (!summary) std::printf(args...);
  };

  using Make = std::function<std::unique_ptr<Optimizer>()>;
  std::vector<std::pair<std::string, Make>> contenders = {
      {"SGD", [&] { return std::make_unique<SGD>(params, SgdOptions{.momentum = 0.9}); }},
      {"Adam", [&] { return std::make_unique<Adam>(params); }},
      {"Adam amsgrad", [&] { return std::make_unique<Adam>(params, AdamOptions{.amsgrad = true}); }},
      {"Adafactor", [&] { return std::make_unique<Adafactor>(params); }},
      {"Adafactor b1", [&] { return std::make_unique<Adafactor>(params, AdafactorOptions{.beta1 = 0.9}); }},
      {"Lion", [&] { return std::make_unique<Lion>(params); }},
      {"LAMB", [&] { return std::make_unique<Lamb>(params); }},
      // Muon's state does not depend on its Newton–Schulz steps; 0 of them keeps this first step fast
      // (5 steps on 4096 x 8192 are 3.4 TFLOP of matrix products: about half a minute on one core).
      {"Muon", [&] { return std::make_unique<Muon>(std::vector{w},  /* matrices only */ MuonOptions{.ns_steps = 0}); }},
      {"SF-AdamW", [&] { return std::make_unique<AdamWScheduleFree>(params); }},
      // Adam-mini decides by name: an MLP weight gets one second moment per output row.
      {"Adam-mini", [&] { return std::make_unique<AdamMini>(with_bias ? NamedTensors{{"layers.0.mlp.weight", w}, {"layers.0.mlp.bias", bias}}
                                                               : NamedTensors{{"layers.0.mlp.weight", w}}); }},
      // bitsandbytes' 8-bit Adam: one byte per moment and weight, plus one float per block of 256.
      {"Adam 8-bit", [&] { return std::make_unique<Adam8bit>(params); }},
      // Sophia-G: the momentum and the diagonal Hessian estimate h.
      {"Sophia-G", [&] { return std::make_unique<SophiaG>(params); }},
  };
  detail("%-14s %-18s %14s %12s\n", "optimizer", "state buffer", "bytes", "% of Adam");
  std::vector<std::unique_ptr<Optimizer>> kept;  // kept alive for the chart (the summaries keep none)
  std::vector<double> totals, counts;  // bytes of state, and the weights each optimizer steps
  double adam_bytes = 2.0 * static_cast<double>(n * m) * 4.0;  // m and v: 2 floats per weight
  for (auto& [name, make] : contenders) {
    auto opt = make();
    opt->step();  // state is created lazily, at the first step
    for (const auto& [buffer, t] : opt->state(w)->buffers)
      detail("%-14s %-18s %14lld   shape %s\n", name.c_str(), buffer.c_str(),
                  static_cast<long long>(t.numel() * 4), shape_str(t.shape()).c_str());
    if (with_bias && name == "Adafactor")
      for (const auto& [buffer, t] : opt->state(bias)->buffers)
        std::printf("Adafactor's state for the bias: %s, shape %s\n\n", buffer.c_str(), shape_str(t.shape()).c_str());
    totals.push_back(static_cast<double>(opt->state_bytes_total()));
    counts.push_back(0);
    for (const Tensor& p : opt->all_params()) counts.back() += static_cast<double>(p.numel());
    detail("%-14s %-18s %14.0f %11.4f%%\n\n", name.c_str(), "total", totals.back(), 100.0 * totals.back() / adam_bytes);
    if (!summary) kept.push_back(std::move(opt));
  }
  std::printf("%-14s %16s %12s\n", "optimizer", "bytes / weight", "% of Adam");
  for (size_t i = 0; i < totals.size(); ++i)
    std::printf("%-14s %16.4f %11.2f%%\n", contenders[i].first.c_str(), totals[i] / counts[i],
                100.0 * totals[i] / (8.0 * counts[i]));  // Adam's: 8 bytes per weight
  if (summary) return 0;
  std::printf("\n");
  std::vector<std::pair<std::string, const Optimizer*>> chart;
  for (size_t i = 0; i < kept.size(); ++i) chart.push_back({contenders[i].first, kept[i].get()});
  save_memory_png(chart, out_dir + "/optimizer_memory.png", "Optimizer state for one 4096 x 8192 matrix");
  std::printf("Adam: 2nm floats = %lld bytes. Adafactor: n + m floats = %lld bytes, %.0f times less.\n"
              "Adam-mini: nm + n floats. Lion, Muon: nm floats (one momentum). Schedule-free AdamW: 3nm floats (z, x, v)\n"
              "and two doubles per tensor (lr_max, weight_sum, in ParamState::scalars, not counted above).\n"
              "Adam 8-bit: 2 bytes per weight (uint8 codes of m and v) and 2 floats per block of 256.\n",
              static_cast<long long>(2 * n * m * 4), static_cast<long long>((n + m) * 4),
              static_cast<double>(2 * n * m) / static_cast<double>(n + m));
  std::printf("wrote optimizer_memory.png\n");
  return 0;
}
