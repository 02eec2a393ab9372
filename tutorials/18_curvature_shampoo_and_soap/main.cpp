// Tutorial 18 — curvature: Shampoo's and SOAP's Kronecker preconditioners against Adam.
//
// Adam scales each coordinate; Shampoo (lib/optim/shampoo.hpp) multiplies the gradient by L^{-1/4} on the left
// and R^{-1/4} on the right, L = Σ G Gᵀ and R = Σ Gᵀ G; SOAP (lib/optim/soap.hpp) runs Adam in the eigenbasis of
// L and R. Three experiments:
//   1. the playground's bowl ½(x² + 100 y²), a 2-vector: paths on the field chart and loss per step;
//   2. a matrix quadratic f(W) = ½ tr((W − W*)ᵀ A (W − W*) B), whose Hessian is A ⊗ B: loss per step, then
//      Shampoo's L and R against A and B (eigenvalues) and the condition number their roots leave;
//   3. the course's MLP on the UCI digits: loss, held-out accuracy, state bytes, the spectra of L and R.
//
// Build and run:  meson compile -C build && ./build/tutorials/18_curvature_shampoo_and_soap [--out DIR]
//   --out DIR  where the three pictures go (default: the current directory)
// Try this (the README's last section), each flag a shorter run without charts:
//   --sigma S          part 2's 2000 Shampoo steps with noise σ = S (the table's: 1; 0 is the deterministic path)
//   --soap-betas B     parts 1, 2 and 3 for SOAP alone, with β1 = β2 = B (SOAP's own defaults: 0.95)
//   --frequency F      part 3's Shampoo with its roots every step (the table's) and every F steps
//   --no-graft         part 3's Shampoo grafted (the table's) and with its own step length at lr 3e-4 ... 3e-2
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "linalg.hpp"  // Eigen's eigh and QR, compiled once in the library
#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

namespace {

enum Kind { adam, shampoo, soap };
const char* const kNames[3] = {"Adam", "Shampoo", "SOAP"};
std::vector<Kind> kinds = {adam, shampoo, soap};  // parts 1 and 2 (--soap-betas: SOAP alone)
double soap_beta1 = 0.9, soap_beta2 = 0.999;      // as Adam's, so that only the preconditioner differs

// Shampoo merges an m × n matrix into a vector while m·n <= max_preconditioner_dim: max_dim keeps it 2-D.
// graft: Adam's step length in Shampoo's direction and β2 = 0.999 for L and R, as Shampoo is used in practice.
// SOAP with precondition_1d: a vector gets an n × n statistic too, as in Shampoo.
// frequency: Shampoo's roots every this many steps.
std::unique_ptr<Optimizer> make(Kind kind, const std::vector<Tensor>& p, double lr, double max_dim, bool graft = false,
                                double frequency = 1) {
  if (kind == adam) return std::make_unique<Adam>(p, AdamOptions{.learning_rate = lr});
  if (kind == shampoo)
    return std::make_unique<Shampoo>(
        p, ShampooOptions{.learning_rate = lr, .beta2 = 0.999, .max_preconditioner_dim = max_dim,
                          .precondition_frequency = frequency,
                          .grafting = graft ? double{ShampooGrafting::adam} : double{ShampooGrafting::none}});
  return std::make_unique<SOAP>(p, SoapOptions{.learning_rate = lr, .beta1 = soap_beta1, .beta2 = soap_beta2,
                                               .weight_decay = 0, .precondition_1d = true});
}

// One optimizer's walk: f after each step (f[0]: at the start), the path, the parameter and its optimizer.
struct Run {
  std::vector<double> f, x, y;
  Tensor p;
  std::unique_ptr<Optimizer> opt;
};
constexpr double kLevel = 1e-8;  // "converged": f below this (f_min = 0 on both quadratics)
int first_below(const std::vector<double>& f, double level) {  // the first step with f < level (−1: none)
  for (size_t t = 0; t < f.size(); ++t)
    if (f[t] < level) return static_cast<int>(t);
  return -1;
}
std::string when(int step) { return step >= 0 ? std::to_string(step) : "never"; }  // first_below, printed
// The best learning rate of {1e-3, 3e-3, ..., 1} for a walk: below kLevel soonest, else the lowest f at the end.
std::pair<double, Run> best_rate(const std::function<Run(double)>& walk) {
  auto key = [](const Run& r) {
    int t = first_below(r.f, kLevel);
    return t >= 0 ? t : std::isfinite(r.f.back()) ? 1e9 + r.f.back() : INFINITY;
  };
  std::pair<double, Run> best{0.0, Run{}};
  for (double lr : {1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0}) {
    Run r = walk(lr);
    if (best.second.f.empty() || key(r) < key(best.second)) best = {lr, std::move(r)};
  }
  return best;
}
std::vector<double> counting(size_t n, double first = 0) {  // first, first + 1, ... (n of them): chart x values
  std::vector<double> x(n);
  for (size_t t = 0; t < n; ++t) x[t] = first + static_cast<double>(t);
  return x;
}

Eigen::MatrixXd to_matrix(const Tensor& t) {  // a 2-D float tensor as a double matrix
  using Rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const Rows>(t.data(), t.shape()[0], t.shape()[1]).cast<double>();
}
Tensor to_tensor(const Eigen::MatrixXd& m) {
  std::vector<float> values;
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) values.push_back(static_cast<float>(m(i, j)));
  return Tensor::from(values, {m.rows(), m.cols()});
}
double condition(const Eigen::MatrixXd& symmetric) {  // λ_max / λ_min of a symmetric positive definite matrix
  Eigen::VectorXd lambda = linalg::symmetric_eigen(symmetric).values;
  return lambda.maxCoeff() / lambda.minCoeff();
}
Eigen::MatrixXd inverse_root(const Optimizer& opt, const Tensor& p, const char* side) {  // Shampoo's L^{-1/p} or R^{-1/p}
  return to_matrix(opt.state(p)->buffers.at(std::string(side) + "_inv_root.0"));
}

// ---- 1. The playground's bowl, a 2-vector ----------------------------------------------------------------------
// Shampoo's 1-D rule: a vector of n gets one n × n statistic L = Σ g gᵀ and steps by L^{-1/2} g (the exponent is
// −1/2 for a vector, −1/4 per side for a matrix): full-matrix AdaGrad, affordable for n = 2.
double bowl(double x, double y) { return 0.5 * (x * x + 100 * y * y); }  // tutorial 05's: condition number 100

Run bowl_walk(Kind kind, double lr) {
  Tensor p = Tensor::from({-4.0f, 0.8f}).requires_grad_();
  Run r{{bowl(-4, 0.8)}, {-4}, {0.8}, p, make(kind, {p}, lr, /*max_dim=*/2)};
  for (int t = 1; t <= 300; ++t) {
    p.set_grad(Tensor::from({p.data()[0], 100 * p.data()[1]}));  // backward, by hand: ∇f = (x, 100 y)
    r.opt->step();                                                // update
    r.x.push_back(p.data()[0]), r.y.push_back(p.data()[1]), r.f.push_back(bowl(r.x.back(), r.y.back()));
  }
  return r;
}

void bowl_paths(const std::string& out_dir, plots::LineChart& loss_chart) {  // out_dir "": no chart
  plots::FieldChart field({.title = "The bowl (x^2 + 100 y^2)/2: Adam, Shampoo, SOAP", .z_label = "f(x, y)",
                           .z_scale = plots::Scale::log, .levels = 16, .width = 640, .height = 480});
  field.set_field(plots::sample_field(-5, 5, -1.5, 1.5, 241, 241, [](double x, double y) { return bowl(x, y) + 1e-4; }));
  std::printf("1. The bowl f = (x^2 + 100 y^2)/2 from (-4, 0.8), 300 steps, each at its best lr of {1e-3, 3e-3, ..., 1}\n");
  std::printf("   %-8s %5s %14s %14s %13s   %s\n", "", "lr", "f < 1e-4 from", "f < 1e-8 from", "f at the end",
              "end (x, y)");
  for (Kind k : kinds) {
    auto [lr, r] = best_rate([k](double rate) { return bowl_walk(k, rate); });
    std::printf("   %-8s %5g %14s %14s %13.3e   (%.4f, %.4f)\n", kNames[k], lr, when(first_below(r.f, 1e-4)).c_str(),
                when(first_below(r.f, kLevel)).c_str(), r.f.back(), r.x.back(), r.y.back());
    field.add_path(kNames[k], r.x, r.y);
    if (k == shampoo) {  // its 2 × 2 L, and where L^{-1/2} leaves the Hessian diag(1, 100): H^{1/2} L^{-1/2} H^{1/2}
      ShampooEigenvalues e = static_cast<Shampoo&>(*r.opt).eigenvalues(r.p)[0];
      Eigen::MatrixXd h_half = Eigen::Vector2d(1.0, 10.0).asDiagonal();
      std::printf("            its 2x2 L: eigenvalues %.4g and %.4g; condition number of L^-1/2 H %.4g (of H: 100)\n",
                  e.left[1], e.left[0], condition(h_half * inverse_root(*r.opt, r.p, "L") * h_half));
    }
    loss_chart.add_series(kNames[k], counting(r.f.size()), r.f);
  }
  if (!out_dir.empty()) field.save_png(out_dir + "/curvature_bowl.png");
}

// ---- 2. A matrix quadratic: where Kronecker preconditioning is exact --------------------------------------------
// f(W) = ½ tr(Dᵀ A D B), D = W − W*, W m × n; A (m × m), B (n × n) symmetric positive definite with eigenvalues a_i,
// b_j (geometric, condition numbers 100 and 10) and random eigenvectors. ∇f = A D B; the Hessian is A ⊗ B.
// With noise σ > 0 each step sees the target through noise, W*_t = W* + σ Z_t, as a minibatch sees its data.
constexpr int kM = 8, kN = 6;

struct Quadratic {
  Eigen::VectorXd a, b;
  Eigen::MatrixXd A, B, target;
};
Eigen::MatrixXd random_spd(int n, double condition_number, Generator& gen, Eigen::VectorXd& eigenvalues) {
  eigenvalues.resize(n);
  for (int i = 0; i < n; ++i) eigenvalues(i) = std::pow(condition_number, static_cast<double>(n - 1 - i) / (n - 1));
  Eigen::MatrixXd q = linalg::householder_q(to_matrix(randn({n, n}, gen)));
  return q * eigenvalues.asDiagonal() * q.transpose();  // eigenvalues a_1 = condition_number > ... > a_n = 1
}
Quadratic make_quadratic() {
  Generator gen(17);
  Quadratic q;
  q.A = random_spd(kM, 100, gen, q.a), q.B = random_spd(kN, 10, gen, q.b);
  q.target = to_matrix(randn({kM, kN}, gen));
  return q;
}

Run quadratic_walk(const Quadratic& q, Kind kind, double lr, double sigma, int steps) {
  auto f = [&](const Eigen::MatrixXd& D) { return 0.5 * (D.transpose() * q.A * D * q.B).trace(); };
  Tensor w = Tensor::zeros({kM, kN}).requires_grad_();
  Run r{{f(-q.target)}, {}, {}, w, make(kind, {w}, lr, /*max_dim=*/kM)};
  Generator noise(18);
  for (int t = 1; t <= steps; ++t) {
    Eigen::MatrixXd D = to_matrix(w) - q.target - sigma * to_matrix(randn({kM, kN}, noise));
    w.set_grad(to_tensor(q.A * D * q.B));  // backward, by hand
    r.opt->step();                         // update
    r.f.push_back(f(to_matrix(w) - q.target));
  }
  return r;
}

void matrix_quadratic(const Quadratic& q, plots::LineChart& loss_chart) {
  std::printf("\n2. f(W) = tr((W - W*)' A (W - W*) B)/2, W %dx%d, from W = 0, 400 steps, the best lr\n", kM, kN);
  std::printf("   condition numbers: A %.4g, B %.4g, the Hessian A (x) B %.4g\n", q.a(0) / q.a(kM - 1),
              q.b(0) / q.b(kN - 1), q.a(0) * q.b(0) / (q.a(kM - 1) * q.b(kN - 1)));
  std::printf("   %-8s %5s %14s %14s %13s\n", "", "lr", "f < 1e-4 from", "f < 1e-8 from", "f at the end");
  for (Kind k : kinds) {
    auto [lr, r] = best_rate([&, k](double rate) { return quadratic_walk(q, k, rate, 0.0, 400); });
    std::printf("   %-8s %5g %14s %14s %13.3e\n", kNames[k], lr, when(first_below(r.f, 1e-4)).c_str(),
                when(first_below(r.f, kLevel)).c_str(), r.f.back());
    loss_chart.add_series(kNames[k], counting(r.f.size()), r.f);
  }
}

// Shampoo's L and R against A and B, from 2000 noisy steps (σ = 1): if L ∝ A² and R ∝ B², then √λ_i(L) ∝ a_i and
// √λ_j(R) ∝ b_j. Both columns are scaled to end at 1.
void shampoo_statistics(const Quadratic& q, double sigma) {
  Run r = quadratic_walk(q, shampoo, 0.3, sigma, 2000);
  ShampooEigenvalues e = static_cast<Shampoo&>(*r.opt).eigenvalues(r.p)[0];  // ascending
  std::printf("   Shampoo after 2000 steps with noise sigma %g: sqrt of L's and R's eigenvalues, scaled to end at 1\n", sigma);
  std::printf("   i        a_i   sqrt(lambda_i(L))        b_i   sqrt(lambda_i(R))\n");
  for (int i = 0; i < kM; ++i) {
    std::printf("   %d %10.4g %19.4g", i + 1, q.a(i), std::sqrt(e.left[kM - 1 - i] / e.left[0]));
    if (i < kN) std::printf(" %10.4g %19.4g", q.b(i), std::sqrt(e.right[kN - 1 - i] / e.right[0]));
    std::printf("\n");
  }
  // The preconditioned Hessian (L^{-1/4} ⊗ R^{-1/4})(A ⊗ B) = L^{-1/4} A ⊗ R^{-1/4} B: its condition number is the
  // product of the factors', and L^{-1/4} A has the eigenvalues of A^{1/2} L^{-1/4} A^{1/2}.
  Eigen::MatrixXd A_half = linalg::symmetric_sqrt(q.A), B_half = linalg::symmetric_sqrt(q.B);
  Eigen::MatrixXd L_root = inverse_root(*r.opt, r.p, "L"), R_root = inverse_root(*r.opt, r.p, "R");
  std::printf("   condition number of the preconditioned Hessian: with L^-1/4 and R^-1/4 %.4g, with L^-1/2 and R^-1/2 %.4g\n",
              condition(A_half * L_root * A_half) * condition(B_half * R_root * B_half),
              condition(A_half * L_root * L_root * A_half) * condition(B_half * R_root * R_root * B_half));
}

// ---- 3. The course's MLP on the UCI digits -----------------------------------------------------------------------
// MLP 64-32-10, minibatches of 50 in order, 20 epochs, the same initial weights and lr for each. Shampoo grafts Adam's
// step length onto its direction (β2 = 0.999, roots every step); SOAP refreshes its basis every 10 steps. At a few
// steps we keep Shampoo's spectra of the first layer's L (32 × 32, the hidden units) and R (64 × 64, the pixels).
// One row of the table: an optimizer and its settings (the full run's rows: all three at lr 3e-3, grafted).
struct Entry {
  Kind kind;
  double lr = 3e-3;
  bool graft = true;
  double frequency = 1;
  std::string label = kNames[kind];
};
const std::vector<Entry> kEntries = {{.kind = adam}, {.kind = shampoo}, {.kind = soap}};

void mlp_on_digits(const std::string& out_dir, const std::vector<Entry>& entries = kEntries) {  // out_dir "": no chart
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  constexpr int64_t batch = 50, epochs = 20;
  plots::LineChart loss_chart({.title = "minibatch loss (smoothed)", .y_label = "cross-entropy",
                               .y_scale = plots::Scale::log, .smoothing = 0.9});
  plots::LineChart spectra[2] = {
      plots::LineChart({.title = "Shampoo's L, first layer (32 x 32)", .x_label = "i, largest first",
                        .y_label = "eigenvalue", .y_scale = plots::Scale::log}),
      plots::LineChart({.title = "Shampoo's R, first layer (64 x 64)", .x_label = "i, largest first",
                        .y_label = "eigenvalue", .y_scale = plots::Scale::log})};
  std::printf("\n3. UCI digits, MLP 64-32-10, batch %lld, %lld epochs, lr %g: held-out accuracy, state\n",
              static_cast<long long>(batch), static_cast<long long>(epochs), entries[0].lr);
  const bool spectra_too = !out_dir.empty();
  std::printf("   %-8s  epoch 1  epoch 5  epoch 10  epoch 20  state bytes  per weight\n", "");
  std::vector<std::string> lines;  // Shampoo's spectra, printed after the table
  for (const Entry& entry : entries) {
    const Kind k = entry.kind;
    Generator init(0);
    MLP model({64, 32, 10}, init);
    auto opt = make(k, model.parameters(), entry.lr, /*max_dim=*/64, entry.graft, entry.frequency);
    std::vector<double> loss, acc;
    for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
      for (int64_t b = 0; b + batch <= train_set.size(); b += batch) {
        opt->zero_grad();
        Tensor l = cross_entropy(model.forward(rows(train_set.inputs, b, b + batch)), labels_of(train_set, b, b + batch));
        l.backward();  // backward (forward above)
        opt->step();   // update
        loss.push_back(l.item());
        int step = static_cast<int>(loss.size());
        if (!spectra_too || k != shampoo || (step != 10 && step != 100 && step != 560)) continue;
        ShampooEigenvalues e = static_cast<Shampoo&>(*opt).eigenvalues(model.layers[0].weight)[0];
        std::string line = "   " + std::to_string(step);
        line.resize(9, ' ');
        for (int side = 0; side < 2; ++side) {
          std::vector<double> lambda = side == 0 ? e.left : e.right;
          std::reverse(lambda.begin(), lambda.end());  // largest first
          spectra[side].add_series("step " + std::to_string(step), counting(lambda.size(), 1), lambda);
          // Eigenvalues at ε = 1e-12 are directions no gradient has had (dead units, pixels always 0). The
          // smallest live ones carry the rounding of 560 steps of sums: two digits of them are what every build agrees on.
          size_t live = static_cast<size_t>(std::count_if(lambda.begin(), lambda.end(), [](double v) { return v > 1e-10; }));
          char part[120];
          std::snprintf(part, sizeof part, "  %2zu of %2zu %9.3g %9.2g %9.2g", live, lambda.size(), lambda[0],
                        lambda[live - 1], lambda[0] / lambda[live - 1]);
          line += part;
        }
        lines.push_back(line);
      }
      NoGradGuard eval;
      acc.push_back(accuracy(model.forward(test_set.inputs), test_set.labels));
    }
    int64_t weights = 0;
    for (const Tensor& p : model.parameters()) weights += p.numel();
    std::printf("   %-8s %8.4f %8.4f %9.4f %9.4f %12lld %11.2f\n", entry.label.c_str(), acc[0], acc[4], acc[9], acc[19],
                static_cast<long long>(opt->state_bytes_total()),
                static_cast<double>(opt->state_bytes_total()) / static_cast<double>(weights));
    loss_chart.add_series(entry.label, counting(loss.size(), 1), loss);
  }
  if (!spectra_too) return;
  std::printf("   Shampoo's L and R of the first layer: eigenvalues above eps (1e-12), the largest, the smallest of them\n");
  std::printf("   step    L: above   largest  smallest condition  R: above   largest  smallest condition\n");
  for (const std::string& line : lines) std::printf("%s\n", line.c_str());
  plots::Figure figure({.title = "Adam, Shampoo and SOAP on the digits (MLP 64-32-10)", .columns = 3});
  figure.add(loss_chart).add(spectra[0]).add(spectra[1]);
  figure.save_png(out_dir + "/curvature_mlp.png");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--sigma") == 0) {  // Try this: part 2's statistics at another σ
    shampoo_statistics(make_quadratic(), std::atof(argv[2]));
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--soap-betas") == 0) {  // Try this: SOAP alone, another β1 = β2
    soap_beta1 = soap_beta2 = std::atof(argv[2]);
    kinds = {soap};
    plots::LineChart unused;
    std::printf("SOAP with beta1 = beta2 = %g\n", soap_beta1);
    bowl_paths("", unused);
    matrix_quadratic(make_quadratic(), unused);
    mlp_on_digits("", {Entry{.kind = soap}});
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--frequency") == 0) {  // Try this: stale roots
    const double f = std::atof(argv[2]);
    mlp_on_digits("", {{.kind = shampoo}, {.kind = shampoo, .frequency = f, .label = "every " + std::string(argv[2])}});
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--no-graft") == 0) {  // Try this: Shampoo's own step length
    std::vector<Entry> entries = {{.kind = shampoo}};
    for (const char* lr : {"1e-3", "3e-3", "1e-2", "3e-2", "0.1", "0.3"})
      entries.push_back({.kind = shampoo, .lr = std::atof(lr), .graft = false, .label = std::string("own ") + lr});
    mlp_on_digits("", entries);
    return 0;
  }
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  plots::Figure losses({.title = "Loss per step (log scale)", .columns = 2});
  plots::LineChart bowl_loss({.title = "the bowl", .y_label = "f", .y_scale = plots::Scale::log});
  plots::LineChart quad_loss({.title = "tr(D'ADB)/2, D = W - W*", .y_label = "f", .y_scale = plots::Scale::log});
  bowl_paths(out_dir, bowl_loss);
  const Quadratic q = make_quadratic();
  matrix_quadratic(q, quad_loss);
  shampoo_statistics(q, 1.0);
  losses.add(bowl_loss).add(quad_loss);
  losses.save_png(out_dir + "/curvature_loss.png");
  mlp_on_digits(out_dir);
  std::printf("wrote curvature_bowl.png, curvature_loss.png, curvature_mlp.png\n");
  return 0;
}
