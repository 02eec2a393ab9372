// Tutorial 03 — gradient checking with central finite differences.
//
// Autograd gives dL/dx exactly (up to rounding); a finite difference gives an
// estimate from two forward passes alone. When they agree, the backward
// function of an op is right. This program checks a few ops (a broadcast, a
// matmul, tanh, softmax, cross_entropy), shows how the error of the estimate
// depends on the step h in float32, and catches a deliberately wrong gradient.
// It is the method of tests/testing.hpp (check_gradients), written out.
//
// Build and run:  meson compile -C build && ./build/tutorials/03_gradient_checking [--out DIR]
//   --out DIR         where step_size.png goes (default: the current directory)
//   --relu-at-zero    relu checked on inputs within h of its kink                (see Try this)
//   --float-sum       part 2 with L summed in float instead of double
//   --wrong-pow       a wrong gradient for pow(x, 3), 2x instead of 3x², caught as in part 3
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;
using Inputs = std::vector<Tensor>;
using Function = std::function<Tensor(const Inputs&)>;

// L = Σ f(inputs) ⊙ R: random weights R make every output element matter, with
// a different weight each, so a gradient that is wrong for one element shows.
bool sum_in_float = false;  // --float-sum (Try this)

double weighted_loss(const Function& f, const Inputs& inputs, const Tensor& weights) {
  NoGradGuard off;  // two forward passes per element: nothing to record
  Tensor y = f(inputs);
  double total = 0.0;  // summed in double: the sum adds no rounding of its own
  float total_float = 0.0f;
  for (int64_t i = 0; i < y.numel(); ++i) {
    total += static_cast<double>(y.data()[i]) * weights.data()[i];
    total_float += y.data()[i] * weights.data()[i];
  }
  return sum_in_float ? total_float : total;
}

// dL/d(inputs[k]) by differences: central (L(x+h) - L(x-h)) / 2h, or forward (L(x+h) - L(x)) / h.
std::vector<float> numeric_gradient(const Function& f, Inputs inputs, size_t k, const Tensor& weights, float h,
                                    bool central = true) {
  Tensor x = inputs[k].clone();
  inputs[k] = x;
  double base = central ? 0.0 : weighted_loss(f, inputs, weights);
  std::vector<float> grad(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    float saved = x.data()[i];
    x.data()[i] = saved + h;
    double plus = weighted_loss(f, inputs, weights);
    x.data()[i] = saved - h;
    double minus = central ? weighted_loss(f, inputs, weights) : base;
    x.data()[i] = saved;
    grad[static_cast<size_t>(i)] = static_cast<float>(central ? (plus - minus) / (2.0 * h) : (plus - minus) / h);
  }
  return grad;
}

// The gradients autograd gives for L = Σ f(inputs) ⊙ R, one per input.
std::vector<std::vector<float>> autograd_gradients(const Function& f, Inputs inputs, const Tensor& weights) {
  for (Tensor& x : inputs) x = x.clone().requires_grad_();
  sum(f(inputs) * weights).backward();
  std::vector<std::vector<float>> grads;
  for (const Tensor& x : inputs) grads.push_back(x.grad().to_vector());
  return grads;
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

double max_abs(const std::vector<float>& a) {
  double worst = 0.0;
  for (float v : a) worst = std::max(worst, std::fabs(static_cast<double>(v)));
  return worst;
}

// One table row per input of f: the largest |autograd - numeric| at step h.
void check(const char* name, const Function& f, const Inputs& inputs, Generator& gen, float h = 1e-2f) {
  Tensor weights = randn(f(inputs).shape(), gen);
  std::vector<std::vector<float>> exact = autograd_gradients(f, inputs, weights);
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::vector<float> estimate = numeric_gradient(f, inputs, k, weights, h);
    std::printf("  %-26s input %zu %-8s %10.3f %12.2e\n", k == 0 ? name : "", k, shape_str(inputs[k].shape()).c_str(),
                max_abs(exact[k]), max_abs_difference(exact[k], estimate));
  }
}

// Part 2's table: the largest error of forward and central differences at each step h, for f = tanh(3x).
struct StepErrors {
  std::vector<double> steps, forward, central;
};
StepErrors step_table(Generator& gen) {
  std::printf("2. The step h, for f = tanh(3x) on 10 elements (float32), L summed in %s\n",
              sum_in_float ? "float" : "double");
  std::printf("  %8s %16s %16s\n", "h", "forward error", "central error");
  Function steep = [](const Inputs& x) { return tanh(3.0f * x[0]); };
  Inputs x = {randn({10}, gen)};
  Tensor weights = randn({10}, gen);
  std::vector<float> exact = autograd_gradients(steep, x, weights)[0];
  StepErrors e;
  for (float h : {3e-1f, 1e-1f, 3e-2f, 1e-2f, 3e-3f, 1e-3f, 1e-4f, 1e-5f, 1e-6f}) {
    e.steps.push_back(h);
    e.forward.push_back(max_abs_difference(exact, numeric_gradient(steep, x, 0, weights, h, false)));
    e.central.push_back(max_abs_difference(exact, numeric_gradient(steep, x, 0, weights, h)));
    std::printf("  %8.0e %16.2e %16.2e\n", h, e.forward.back(), e.central.back());
  }
  return e;
}

// Try this: relu near its kink, element by element.
int relu_at_zero() {
  const float h = 1e-2f;
  Tensor x = Tensor::from({-0.5f, -0.015f, -0.005f, 0.0f, 0.005f, 0.015f, 0.5f});
  Tensor weights = Tensor::ones({7});
  Function f = [](const Inputs& in) { return relu(in[0]); };
  std::vector<float> exact = autograd_gradients(f, {x}, weights)[0];
  std::vector<float> estimate = numeric_gradient(f, {x}, 0, weights, h);
  std::printf("relu(x), L = sum(relu(x)), central differences with h = %g\n", h);
  std::printf("  %8s %10s %10s\n", "x", "autograd", "numeric");
  for (int64_t i = 0; i < x.numel(); ++i)
    std::printf("  %8.3f %10.4f %10.4f%s\n", x.data()[i], exact[static_cast<size_t>(i)], estimate[static_cast<size_t>(i)],
                std::fabs(exact[static_cast<size_t>(i)] - estimate[static_cast<size_t>(i)]) > 1e-3f ? "   disagree" : "");
  return 0;
}

// Try this: a wrong backward for pow(x, 3), 2x instead of 3x², against the estimate.
int wrong_pow(Generator& gen) {
  Tensor x = randn({2, 5}, gen), r = randn({2, 5}, gen);
  Function cube = [](const Inputs& in) { return pow(in[0], 3.0f); };
  std::vector<float> right = autograd_gradients(cube, {x}, r)[0];
  std::vector<float> wrong = (2.0f * x * r).to_vector();  // dL/dx = 2x ⊙ R: the slip
  std::vector<float> estimate = numeric_gradient(cube, {x}, 0, r, 1e-2f);
  std::printf("pow(x, 3), L = sum(x^3 * R): the right rule 3x^2 R against the wrong 2x R, central h = 1e-2\n");
  std::printf("  max|error| of the right rule: %.2e   of the wrong rule: %.2e\n", max_abs_difference(right, estimate),
              max_abs_difference(wrong, estimate));
  return 0;
}

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  Generator gen(3);
  if (argc == 2 && std::strcmp(argv[1], "--relu-at-zero") == 0) return relu_at_zero();
  if (argc == 2 && std::strcmp(argv[1], "--wrong-pow") == 0) return wrong_pow(gen);
  if (argc == 2 && std::strcmp(argv[1], "--float-sum") == 0) {  // the same inputs, summed both ways
    Generator same(3);
    step_table(same);
    sum_in_float = true, same = Generator(3);
    std::printf("\n");
    step_table(same);
    return 0;
  }
  std::vector<int64_t> targets = {2, 0, 4, 1};

  std::printf("1. Autograd against central differences, h = 1e-2, L = sum(f(x) * R), R ~ N(0, 1)\n");
  std::printf("  %-26s %-16s %10s %12s\n", "f", "input", "max|grad|", "max|error|");
  check("x * y  (y broadcast)", [](const Inputs& x) { return x[0] * x[1]; },
        {randn({3, 4}, gen), randn({4}, gen)}, gen);
  check("matmul(A, B)", [](const Inputs& x) { return matmul(x[0], x[1]); },
        {randn({3, 4}, gen), randn({4, 2}, gen)}, gen);
  check("tanh(x)", [](const Inputs& x) { return tanh(x[0]); }, {randn({2, 5}, gen)}, gen);
  check("softmax(x)", [](const Inputs& x) { return softmax(x[0]); }, {randn({2, 5}, gen)}, gen);
  check("cross_entropy(z, t)", [&](const Inputs& x) { return cross_entropy(x[0], targets); },
        {randn({4, 5}, gen)}, gen);

  // ---- 2. The step h: truncation against rounding -------------------------------
  // Taylor: (L(x+h) - L(x-h)) / 2h = L' + h² L'''/6 + ...   (truncation, falls like h²)
  //         (L(x+h) - L(x)) / h   = L' + h L''/2 + ...      (forward: falls like h)
  // but each L carries float32 rounding of about ε|L| (ε = 2^-24 ≈ 6e-8), divided by h.
  std::printf("\n");
  StepErrors e = step_table(gen);
  std::vector<double> steps = e.steps, forward_errors = e.forward, central_errors = e.central;
  // A line chart's x must increase (a smaller x would read as a restarted run): smallest h first.
  for (auto* v : {&steps, &forward_errors, &central_errors}) std::reverse(v->begin(), v->end());
  plots::LineChart chart({.title = "Finite differences in float32: error against the step h", .x_label = "h",
                          .y_label = "max |error|", .x_scale = plots::Scale::log, .y_scale = plots::Scale::log});
  chart.add_series({.name = "forward (L(x+h) - L(x)) / h", .x = steps, .y = forward_errors, .markers = true});
  chart.add_series({.name = "central (L(x+h) - L(x-h)) / 2h", .x = steps, .y = central_errors, .markers = true});
  chart.save_png(out_dir + "/step_size.png");
  std::printf("  wrote step_size.png\n");

  // ---- 3. A wrong backward, caught ------------------------------------------------
  // softmax's true rule is da = y ⊙ (g - Σ g y). A classic slip drops the Σ term.
  std::printf("\n3. A softmax backward that forgets the - sum(g y) term\n");
  Tensor z = randn({2, 5}, gen), r = randn({2, 5}, gen);
  Function softmax_f = [](const Inputs& in) { return softmax(in[0]); };
  Tensor y = softmax(z);
  std::vector<float> wrong = (y * r).to_vector();  // y ⊙ g, with g = dL/dy = R
  std::vector<float> right = autograd_gradients(softmax_f, {z}, r)[0];
  std::vector<float> estimate = numeric_gradient(softmax_f, {z}, 0, r, 1e-2f);
  std::printf("  max|error| of the right rule: %.2e   of the wrong rule: %.2e\n", max_abs_difference(right, estimate),
              max_abs_difference(wrong, estimate));
  // The tests' rule (GradCheck in tests/testing.hpp): |autograd - numeric| <= atol + rtol |numeric|, both 1e-2.
  auto passes = [&](const std::vector<float>& g) {
    for (size_t i = 0; i < g.size(); ++i)
      if (std::fabs(g[i] - estimate[i]) > 1e-2f + 1e-2f * std::fabs(estimate[i])) return false;
    return true;
  };
  std::printf("  with the tests' tolerance (atol = rtol = 1e-2): right rule %s, wrong rule %s\n",
              passes(right) ? "passes" : "FAILS", passes(wrong) ? "passes" : "FAILS");
  return 0;
}
