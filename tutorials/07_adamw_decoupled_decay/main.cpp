// Tutorial 07 — AdamW: decoupled weight decay.
//
// Adam's weight_decay adds λθ to the gradient (L2); AdamW's shrinks θ by
// (1 − αλ) outside the adaptive step (decoupled). Two experiments show where
// the two differ and why (Loshchilov & Hutter, ICLR 2019).
//
// Build and run:  meson compile -C build && ./build/tutorials/07_adamw_decoupled_decay [--out DIR]
//   --out DIR    where weight_decay.png goes (default: the current directory)
//   --grad G     part 1 alone, the ignored weight given a constant gradient G instead of 0 (see Try this)
//   --steps N    part 2 alone, for N steps instead of 6000
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

int main(int argc, char** argv) {
  const bool one_part = argc == 3 && (std::strcmp(argv[1], "--grad") == 0 || std::strcmp(argv[1], "--steps") == 0);
  const float part1_grad = argc == 3 && std::strcmp(argv[1], "--grad") == 0 ? std::strtof(argv[2], nullptr) : 0.0f;
  const int part2_steps = argc == 3 && std::strcmp(argv[1], "--steps") == 0 ? std::atoi(argv[2]) : 6000;
  const bool part1 = !one_part || std::strcmp(argv[1], "--grad") == 0, part2 = !one_part || std::strcmp(argv[1], "--steps") == 0;
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  std::vector<double> steps, trajectory[4];  // w after each step, for the chart
  if (part1) {
  // ---- 1. A weight the loss ignores ------------------------------------------
  // Its gradient is always 0 (or --grad's constant), so only the decay moves it.
  if (part1_grad == 0.0f) std::printf("1. A weight with zero gradient, from w = 1, lr = 0.01\n");
  else std::printf("1. A weight with a constant gradient %g, from w = 1, lr = 0.01\n", part1_grad);
  std::printf("   step   Adam L2 (l=0.1)  Adam L2 (l=0.001)  AdamW (l=0.1)  AdamW (l=0.001)\n");
  std::vector<Tensor> w;
  for (int i = 0; i < 4; ++i) w.push_back(Tensor::from({1.0f}).requires_grad_());
  Adam l2_strong({w[0]}, {.learning_rate = 0.01, .weight_decay = 0.1});
  Adam l2_weak({w[1]}, {.learning_rate = 0.01, .weight_decay = 0.001});
  AdamW decoupled_strong({w[2]}, {.learning_rate = 0.01, .weight_decay = 0.1});
  AdamW decoupled_weak({w[3]}, {.learning_rate = 0.01, .weight_decay = 0.001});
  std::vector<Optimizer*> optimizers{&l2_strong, &l2_weak, &decoupled_strong, &decoupled_weak};
  for (int t = 1; t <= 150; ++t) {
    for (Tensor& p : w) p.set_grad(Tensor::full({1}, part1_grad));  // forward, backward: the loss does not see w, so g = 0
    for (Optimizer* opt : optimizers) opt->step();        // update
    steps.push_back(t);
    for (size_t i = 0; i < 4; ++i) trajectory[i].push_back(w[i].item());
    if (t % 25 == 0)
      std::printf("%7d %16.4f %18.4f %14.4f %16.4f\n", t, w[0].item(), w[1].item(), w[2].item(), w[3].item());
  }
  }
  if (part2) {

  // ---- 2. Two weights with very different gradient scales ---------------------
  // f(w) = ½ (100 (w1 − 1)² + 0.01 (w2 − 1)²): steep in w1, nearly flat in w2.
  std::printf("%s2. f(w) = 0.5 (100 (w1 - 1)^2 + 0.01 (w2 - 1)^2), from w = (0, 0), lr = 0.01, l = 0.1\n", part1 ? "\n" : "");
  Tensor curvature = Tensor::from({100.0f, 0.01f});
  auto f = [&](const Tensor& p) { return sum(0.5f * curvature * pow(p - 1.0f, 2.0f)); };
  Tensor a = Tensor::from({0.0f, 0.0f}).requires_grad_();
  Tensor b = Tensor::from({0.0f, 0.0f}).requires_grad_();
  Tensor c = Tensor::from({0.0f, 0.0f}).requires_grad_();
  Adam adam({a}, {.learning_rate = 0.01, .weight_decay = 0.1});
  AdamW adamw({b}, {.learning_rate = 0.01, .weight_decay = 0.1});
  SGD sgd({c}, {.learning_rate = 0.01, .weight_decay = 0.1});  // the same L2 term, without Adam's normalization
  std::printf("   step   Adam L2: w1      w2    AdamW: w1      w2   SGD L2: w1      w2\n");
  for (int t = 1; t <= part2_steps; ++t) {
    for (Optimizer* opt : std::initializer_list<Optimizer*>{&adam, &adamw, &sgd}) opt->zero_grad();
    Tensor loss_a = f(a), loss_b = f(b), loss_c = f(c);  // forward
    loss_a.backward();                                   // backward
    loss_b.backward();
    loss_c.backward();
    adam.step();                                         // update
    adamw.step();
    sgd.step();
    if (t == 100 || t % 2000 == 0 || t == part2_steps)
      std::printf("%7d %11.4f %7.4f %11.4f %7.4f %11.4f %7.4f\n", t, a.data()[0], a.data()[1], b.data()[0],
                  b.data()[1], c.data()[0], c.data()[1]);
  }
  // With L2, λθ passes through Adam's division by √v̂: each weight's effective decay is λ / (√v̂ + ε).
  const float* v = adam.state(a)->buffers.at("exp_avg_sq").data();
  double bias_correction2 = 1.0 - std::pow(0.999, static_cast<double>(part2_steps));
  std::printf("Adam L2's effective decay l / (sqrt(v_hat) + eps) at step %d: w1 %.3g, w2 %.3g\n", part2_steps,
              0.1 / (std::sqrt(v[0] / bias_correction2) + 1e-8), 0.1 / (std::sqrt(v[1] / bias_correction2) + 1e-8));
  std::printf("L2's fixed point, the minimum of f + (l/2)|w|^2: w1 = %.4f, w2 = %.4f\n", 100.0 / 100.1, 0.01 / 0.11);
  }
  if (one_part) return 0;

  // ---- 3. The seed project's AdamW formula, without bias correction ---------------------------
  // θ ← θ − α (m_t / (√v_t + ε) + λθ): for a constant gradient g, m_t = (1 − β1^t) g and v_t = (1 − β2^t) g²,
  // so its step is α (1 − β1^t) / √(1 − β2^t) instead of Adam's α.
  auto uncorrected = [](int t) { return (1.0 - std::pow(0.9, t)) / std::sqrt(1.0 - std::pow(0.999, t)); };
  int peak = 1;
  for (int t = 1; t <= 1000; ++t) peak = uncorrected(t) > uncorrected(peak) ? t : peak;
  std::printf("\n3. Without bias correction, a constant gradient's step is (1 - b1^t) / sqrt(1 - b2^t) lr:\n"
              "   %.2f lr at t = 1, %.2f lr at t = %d (the largest), %.2f lr at t = 1000; Adam's is lr\n",
              uncorrected(1), uncorrected(peak), peak, uncorrected(1000));

  plots::LineChart chart(
      {.title = "A weight with zero gradient (the two Adam L2 curves coincide)", .y_label = "w", .y_min = 0.0});
  const char* names[4] = {"Adam L2, l = 0.1", "Adam L2, l = 0.001", "AdamW, l = 0.1", "AdamW, l = 0.001"};
  for (size_t i = 0; i < 4; ++i) chart.add_series(names[i], steps, trajectory[i]);
  chart.save_png(out_dir + "/weight_decay.png");
  std::printf("wrote weight_decay.png\n");
  return 0;
}
