// Tutorial 05 — the playground: twelve optimizers on four 2-D surfaces.
//
// SGD, momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, AdamW, Adamax, NAdam,
// RAdam and Adafactor each walk an ill-conditioned bowl, Rosenbrock's valley,
// Beale's function and a saddle, from the same start. Each gets its best learning
// rate from the same grid (a fair budget), and the program prints how many steps
// each needed to come within 1e-4 of the minimum, and where it ended. Then three
// experiments behind the README's "why": Adam's invariance to a diagonal rescaling
// of the gradient, momentum's ringing, and RAdam's first steps.
//
// Build and run:  meson compile -C build && ./build/tutorials/05_optimizer_playground [--out DIR]
//   --out DIR  where the eight pictures go (default: the current directory)
//   --rotate, --adadelta-eps X, --radam-beta2 X   one experiment of Try this instead
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

namespace {

// A surface: f, its gradient, the start, the minimum value, and the window to draw.
struct Surface {
  const char* name;
  std::function<double(double, double)> f;
  std::function<std::pair<double, double>(double, double)> grad;
  double x0, y0, f_min;
  double x_lo, x_hi, y_lo, y_hi;
  bool log_scale;
};

std::vector<Surface> surfaces() {
  auto beale_terms = [](double x, double y) {
    return std::array<double, 3>{1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y * y * y};
  };
  return {
      {"bowl (condition number 100)", [](double x, double y) { return 0.5 * (x * x + 100 * y * y); },
       [](double x, double y) { return std::pair{x, 100 * y}; }, -4.0, 0.8, 0.0, -5, 5, -1.5, 1.5, true},
      {"Rosenbrock", [](double x, double y) { return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x); },
       [](double x, double y) { return std::pair{-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)}; }, -1.5,
       2.0, 0.0, -2, 2, -1, 3, true},
      {"Beale",
       [=](double x, double y) {
         auto [a, b, c] = beale_terms(x, y);
         return a * a + b * b + c * c;
       },
       [=](double x, double y) {
         auto [a, b, c] = beale_terms(x, y);
         return std::pair{2 * a * (y - 1) + 2 * b * (y * y - 1) + 2 * c * (y * y * y - 1),
                          2 * a * x + 4 * b * x * y + 6 * c * x * y * y};
       },
       1.0, 1.5, 0.0, -1, 4, -1.5, 2, true},
      {"saddle", [](double x, double y) { return x * x + 0.25 * y * y * y * y - 0.5 * y * y; },
       [](double x, double y) { return std::pair{2 * x, y * y * y - y}; }, 1.5, 1e-3, -0.25, -2, 2, -1.5, 1.5,
       false},
  };
}

using Make = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&, double lr)>;
struct Contender {
  const char* name;
  Make make;
};

template <class O, class Options>
Make maker(Options options) {
  return [options](const std::vector<Tensor>& p, double lr) {
    Options o = options;
    o.learning_rate = lr;
    return std::make_unique<O>(p, o);
  };
}

std::vector<Contender> contenders() {
  return {
      {"SGD", maker<SGD>(SgdOptions{})},
      {"momentum", maker<SGD>(SgdOptions{.momentum = 0.9})},
      {"Nesterov", maker<SGD>(SgdOptions{.momentum = 0.9, .nesterov = true})},
      {"Adagrad", maker<Adagrad>(AdagradOptions{})},
      {"RMSprop", maker<RMSprop>(RmspropOptions{})},
      {"Adadelta", maker<Adadelta>(AdadeltaOptions{})},
      {"Adam", maker<Adam>(AdamOptions{})},
      {"AdamW", maker<AdamW>(AdamWOptions{})},
      {"Adamax", maker<Adamax>(AdamaxOptions{})},
      {"NAdam", maker<NAdam>(NadamOptions{})},
      {"RAdam", maker<RAdam>(RadamOptions{})},
      // Vector mode (a 2-vector is not factored); α = the learning rate, as for the others.
      {"Adafactor", maker<Adafactor>(AdafactorOptions{.relative_step = false, .scale_parameter = false})},
  };
}

constexpr int kSteps = 2000;
constexpr double kTolerance = 1e-4;
const double kRates[] = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0};

struct Walk {
  std::vector<double> x, y;
  int settled = -1;  // the step from which on f − f_min stays below kTolerance (−1: it does not)
  double final_gap = INFINITY;
};

// kSteps steps of one optimizer from the surface's start; the gradient is the surface's own.
Walk walk(const Surface& s, const Make& make, double lr, double gradient_scale_y = 1.0) {
  Tensor p = Tensor::from({static_cast<float>(s.x0), static_cast<float>(s.y0)}).requires_grad_();
  auto opt = make({p}, lr);
  Walk w{{s.x0}, {s.y0}};
  for (int t = 1; t <= kSteps; ++t) {
    auto [gx, gy] = s.grad(p.data()[0], p.data()[1]);                                       // backward, by hand
    p.set_grad(Tensor::from({static_cast<float>(gx), static_cast<float>(gy * gradient_scale_y)}));
    opt->step();                                                                             // update
    double x = p.data()[0], y = p.data()[1], gap = s.f(x, y) - s.f_min;                      // forward
    w.x.push_back(x), w.y.push_back(y);
    if (!std::isfinite(gap)) return w;  // diverged: the final gap stays inf
    if (gap >= kTolerance) w.settled = -1;
    else if (w.settled < 0) w.settled = t;
    w.final_gap = gap;
  }
  return w;
}

// The best of the grid: settled within the tolerance soonest, else the smallest final gap.
std::pair<double, Walk> best_walk(const Surface& s, const Make& make) {
  std::pair<double, Walk> best{0.0, Walk{}};
  for (double lr : kRates) {
    Walk w = walk(s, make, lr);
    auto key = [](const Walk& v) { return v.settled >= 0 ? v.settled - 1e9 : v.final_gap; };
    if (best.second.x.empty() || key(w) < key(best.second)) best = {lr, std::move(w)};
  }
  return best;
}

// The surface's table header, and one optimizer's row (its best learning rate's walk, returned).
void table_header(const Surface& s) {
  std::printf("\n%s, from (%g, %g)\n", s.name, s.x0, s.y0);
  std::printf("  %-10s %8s %7s %12s   %s\n", "optimizer", "lr", "steps", "f - f_min", "end (x, y)");
}
Walk table_row(const Surface& s, const Contender& c) {
  auto [lr, w] = best_walk(s, c.make);
  std::string steps = w.settled >= 0 ? std::to_string(w.settled) : "-";
  std::printf("  %-10s %8g %7s %12.3e   (%.4f, %.4f)\n", c.name, lr, steps.c_str(), w.final_gap, w.x.back(), w.y.back());
  return w;
}

// RAdam's first steps beside Adam's on the bowl, with RAdam's β2.
void radam_first_steps(const Surface& bowl, double beta2) {
  std::printf("\nbowl, lr 0.01: the step |delta x| of the first 8 steps (the gradient in x is %g)\n", -bowl.x0);
  if (beta2 != 0.999) std::printf("RAdam with beta2 = %g\n", beta2);
  std::printf("  step     Adam    RAdam   RAdam's rho_t\n");
  Walk adam = walk(bowl, maker<Adam>(AdamOptions{}), 0.01);
  Walk radam = walk(bowl, maker<RAdam>(RadamOptions{.beta2 = beta2}), 0.01);
  for (int t = 1; t <= 8; ++t)
    std::printf("  %4d  %7.4f  %7.4f   %5.2f%s\n", t, std::fabs(adam.x[t] - adam.x[t - 1]),
                std::fabs(radam.x[t] - radam.x[t - 1]), radam_rectification(beta2, t).rho_t,
                radam_rectification(beta2, t).rectified ? "  rectified" : "");
}

// Try this: the bowl turned by 45 degrees, so its steep direction is no longer an axis.
int rotated_bowl() {
  const double r = std::sqrt(0.5);
  Surface s{"bowl (condition number 100) turned by 45 degrees",
            [=](double x, double y) { double u = r * (x + y), v = r * (x - y); return 0.5 * (u * u + 100 * v * v); },
            [=](double x, double y) {
              double u = r * (x + y), v = r * (x - y);  // ∂f/∂x = r (u + 100 v), ∂f/∂y = r (u − 100 v)
              return std::pair{r * (u + 100 * v), r * (u - 100 * v)};
            },
            -4.0, 0.8, 0.0, -5, 5, -1.5, 1.5, true};
  table_header(s);
  for (const Contender& c : contenders()) table_row(s, c);
  return 0;
}

// Try this: Adadelta with another ε, on the bowl; its first step.
int adadelta_eps(double eps) {
  Surface bowl = surfaces()[0];
  Contender c{"Adadelta", maker<Adadelta>(AdadeltaOptions{.eps = eps})};
  std::printf("Adadelta with eps = %g on the bowl\n", eps);
  Walk first = walk(bowl, c.make, 1.0);
  std::printf("  its first step at lr 1: |delta x| = %.4f, |delta y| = %.4f (sqrt(eps) / sqrt(1 - rho) = %.4f)\n",
              std::fabs(first.x[1] - first.x[0]), std::fabs(first.y[1] - first.y[0]), std::sqrt(eps) / std::sqrt(1 - 0.9));
  table_header(bowl);
  table_row(bowl, c);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--rotate") == 0) return rotated_bowl();
  if (argc == 3 && std::strcmp(argv[1], "--adadelta-eps") == 0) return adadelta_eps(std::atof(argv[2]));
  if (argc == 3 && std::strcmp(argv[1], "--radam-beta2") == 0) return radam_first_steps(surfaces()[0], std::atof(argv[2])), 0;
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  std::printf("Twelve optimizers, four surfaces, %d steps each; the best learning rate of\n", kSteps);
  std::printf("{1e-4, 3e-4, ..., 1, 3} for each. 'steps': from then on within %.0e of the minimum.\n", kTolerance);
  const std::vector<Contender> all = contenders();
  int picture = 0;
  for (const Surface& s : surfaces()) {
    table_header(s);
    plots::FieldChart charts[2] = {
        plots::FieldChart({.title = std::string(s.name) + ": SGD to Adadelta", .z_label = "f(x, y) - f_min",
                           .z_scale = s.log_scale ? plots::Scale::log : plots::Scale::linear, .levels = 16,
                           .width = 640, .height = 480}),
        plots::FieldChart({.title = std::string(s.name) + ": the Adam family", .z_label = "f(x, y) - f_min",
                           .z_scale = s.log_scale ? plots::Scale::log : plots::Scale::linear, .levels = 16,
                           .width = 640, .height = 480})};
    plots::Field field = plots::sample_field(s.x_lo, s.x_hi, s.y_lo, s.y_hi, 241, 241, [&](double x, double y) {
      return s.f(x, y) - s.f_min + (s.log_scale ? 1e-4 : 0.0);  // log scale: the floor is the tolerance
    });
    for (auto& chart : charts) chart.set_field(field);
    for (size_t i = 0; i < all.size(); ++i) {
      Walk w = table_row(s, all[i]);
      charts[i < 6 ? 0 : 1].add_path(all[i].name, w.x, w.y);
    }
    for (int half = 0; half < 2; ++half) {
      std::string file = "playground_" + std::to_string(++picture) + ".png";
      charts[half].save_png(out_dir + "/" + file);
    }
  }
  std::printf("\nwrote playground_1.png ... playground_%d.png\n", picture);

  // 1. Adam does not care how each coordinate's gradient is scaled; SGD does.
  Surface bowl = surfaces()[0];
  bowl.grad = [](double x, double y) { return std::pair{x, y - 1}; };  // f = ½x² + ½(y − 1)²: separable
  std::printf("\nf = x^2/2 + (y-1)^2/2, and the same with the y term times 100 (its gradient 100x):\n");
  for (const Contender& c : {all[6], all[0]}) {
    double lr = c.name == std::string("Adam") ? 0.05 : 0.009;  // SGD: stable for curvature 100 needs lr < 0.02
    Walk plain = walk(bowl, c.make, lr), scaled = walk(bowl, c.make, lr, 100.0);
    double apart = 0.0;
    for (size_t t = 0; t < plain.x.size(); ++t)
      apart = std::max(apart, std::hypot(plain.x[t] - scaled.x[t], plain.y[t] - scaled.y[t]));
    std::printf("  %-5s lr %-6g  the two paths are never more than %.2e apart\n", c.name, lr, apart);
  }

  // 2. Momentum overshoots and rings on the steep side of the bowl.
  Surface steep = surfaces()[0];
  std::printf("\nbowl, lr 0.009: how often y (the steep direction) changes sign in %d steps\n", kSteps);
  for (const Contender& c : {all[0], all[1], all[2], all[6]}) {
    Walk w = walk(steep, c.make, 0.009);
    int flips = 0;
    for (size_t t = 1; t < w.y.size(); ++t) flips += (w.y[t] > 0) != (w.y[t - 1] > 0);
    std::printf("  %-9s %4d\n", c.name, flips);
  }

  // 3. RAdam's first steps: momentum only while the variance of v is intractable (ρ_t <= 5).
  radam_first_steps(steep, 0.999);
  return 0;
}
