// Tutorial 06 — Adam from the paper.
//
// Minimizes f(x) = x⁴ + 3x³ + 2 from x = 3 with Adam (lr = 0.1), the example
// of the Python project moments grew from. Prints the explain trace of the
// first steps (every quantity of Algorithm 1 for x), the true trajectory, and
// why Adam stalls near x = 0 while the minimum is at x = −2.25.
//
// Build and run:  meson compile -C build && ./build/tutorials/06_adam_from_the_paper [--out DIR]
//   --out DIR    where adam_trajectory.png goes (default: the current directory)
//   --beta2 X    only the trajectory from x = 3, with β2 = X (see Try this)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

// f(x) = x⁴ + 3x³ + 2; f'(x) = 4x³ + 9x² = x²(4x + 9): zero at x = 0 (an
// inflection point) and at x = −2.25 (the minimum).
Tensor f(const Tensor& x) { return sum(pow(x, 4.0f) + 3.0f * pow(x, 3.0f) + 2.0f); }
float f_value(float x) { return x * x * x * x + 3.0f * x * x * x + 2.0f; }

// Runs Adam from x0 for `steps` steps, calling report(t, x, explanation) after each.
template <class Report>
float run_adam(float x0, int steps, Report report, double beta2 = 0.999) {
  Tensor x = Tensor::from({x0}).requires_grad_();
  Adam adam({x}, {.learning_rate = 0.1, .beta2 = beta2});
  adam.explain(x, 0);  // trace element 0 of x on every step
  for (int t = 1; t <= steps; ++t) {
    adam.zero_grad();
    Tensor loss = f(x);  // forward
    loss.backward();     // backward
    adam.step();         // update
    report(t, x.item(), adam.explanation());
  }
  return x.item();
}

// The trajectory from x = 3 with β2 = beta2: the table of the default run, and where x is after 3000 steps.
int trajectory_only(double beta2) {
  std::printf("Adam on f(x) = x^4 + 3x^3 + 2 from x = 3: lr 0.1, betas (0.9, %g), eps 1e-8\n", beta2);
  std::printf("   step        x       f(x)   m_hat/sqrt(v_hat)\n");
  float x = run_adam(3.0f, 3000, [&](int t, float x, const Explanation& e) {
    if ((t <= 100 && t % 10 == 1) || t == 100 || t % 1000 == 0)
      std::printf("%7d %8.4f %10.4f %12.2e\n", t, x, f_value(x), e.get("m_hat") / std::sqrt(e.get("v_hat")));
  }, beta2);
  std::printf("after 3000 steps: x = %.4f, f(x) = %.4f (the minimum: x = -2.25, f = %.4f)\n", x, f_value(x), f_value(-2.25f));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--beta2") == 0) return trajectory_only(std::atof(argv[2]));
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  std::vector<double> steps, right_x, left_steps, left_x;  // the trajectories, for the chart
  std::printf("Adam on f(x) = x^4 + 3x^3 + 2 from x = 3: lr 0.1, betas (0.9, 0.999), eps 1e-8\n\n");
  std::printf("The first three steps, every quantity of Algorithm 1:\n");
  std::printf("  t        g        m        v    m_hat      v_hat    denom   update       x\n");
  run_adam(3.0f, 3, [](int t, float x, const Explanation& e) {
    std::printf("%3d %8.3f %8.4f %8.4f %8.3f %10.2f %8.3f %8.4f %7.4f\n", t, e.get("g"), e.get("m"), e.get("v"),
                e.get("m_hat"), e.get("v_hat"), e.get("denom"), e.get("update"), x);
  });

  std::printf("\nThe trajectory (the ratio m_hat / sqrt(v_hat) is the step in units of lr):\n");
  std::printf("   step        x       f(x)   m_hat/sqrt(v_hat)\n");
  run_adam(3.0f, 3000, [&](int t, float x, const Explanation& e) {
    steps.push_back(t), right_x.push_back(x);
    if ((t <= 100 && t % 10 == 1) || t == 100 || t % 1000 == 0)  // the seed printed steps 1, 11, ..., 91
      std::printf("%7d %8.4f %10.4f %12.2e\n", t, x, f_value(x), e.get("m_hat") / std::sqrt(e.get("v_hat")));
  });

  float left = run_adam(-1.0f, 200, [&](int t, float x, const Explanation&) {
    left_steps.push_back(t), left_x.push_back(x);
  });
  std::printf("\nFrom x = -1 instead, after 200 steps: x = %.4f, f(x) = %.4f\n", left, f_value(left));
  std::printf("The minimum: x = -2.25, f = %.4f\n", f_value(-2.25f));

  // Plain gradient descent stalls at x = 0 too: there f'(x) = x²(4x + 9) ≈ 9x², so each step is about 9 lr x²
  // and x falls like 1/(9 lr t). (At lr = 0.1 its first step, 3 − 0.1 · 189, lands at −15.9 and it diverges.)
  std::printf("\nPlain gradient descent from x = 3, lr 0.001 (at lr 0.1 the first step lands at x = %.4f):\n",
              3.0f - 0.1f * 189.0f);
  float gd = 3.0f;
  for (int t = 1; t <= 100000; ++t) {
    gd -= 0.001f * gd * gd * (4.0f * gd + 9.0f);
    if (t == 100 || t == 1000 || t == 10000 || t == 100000)
      std::printf("  after %6d steps: x = %.4f, f(x) = %.4f\n", t, gd, f_value(gd));
  }

  // m̂/√v̂ as a signal-to-noise ratio: for gradients of mean μ and standard deviation σ, m̂ ≈ μ and
  // v̂ ≈ μ² + σ², so the step in units of lr is about μ / √(μ² + σ²).
  std::printf("\nm_hat / sqrt(v_hat) for noisy gradients g = 1 + sigma * N(0, 1), its mean over steps 1001-5000:\n");
  Generator noise(3);
  for (float sigma : {0.0f, 1.0f, 3.0f}) {
    Tensor p = Tensor::from({0.0f}).requires_grad_();
    Adam adam({p}, {.learning_rate = 1e-3});
    adam.explain(p, 0);
    double mean_ratio = 0;
    for (int t = 1; t <= 5000; ++t) {
      p.set_grad(Tensor::from({1.0f + sigma * noise.normal()}));
      adam.step();
      const Explanation& e = adam.explanation();
      if (t > 1000) mean_ratio += e.get("m_hat") / std::sqrt(e.get("v_hat")) / 4000.0;
    }
    std::printf("  sigma %.0f: %.3f (1 / sqrt(1 + sigma^2) = %.3f)\n", sigma, mean_ratio, 1.0 / std::sqrt(1.0 + sigma * sigma));
  }

  // x = 0's line is named in the title: a label at its right end would hide the crawl towards it.
  plots::LineChart chart({.title = "Adam on x^4 + 3x^3 + 2: x after each step (dashed: x = 0, where f' = 0)",
                          .y_label = "x", .x_scale = plots::Scale::log});
  chart.add_series("from x = 3", steps, right_x).add_series("from x = -1", left_steps, left_x);
  chart.add_reference_line(0.0).add_reference_line(-2.25, "x = -2.25: the minimum");
  chart.save_png(out_dir + "/adam_trajectory.png");
  std::printf("wrote adam_trajectory.png\n");
  return 0;
}
