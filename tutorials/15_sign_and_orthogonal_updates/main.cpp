// Tutorial 15 — sign and orthogonal updates: Lion and Muon.
//
// Lion steps by η·sign(c) (lib/optim/lion.hpp), Muon by γ'·NS5(B̃) ≈ γ' U Vᵀ (lib/optim/muon.hpp):
// neither step's size follows the gradient's. Three experiments:
//   1. one 32×64 weight, gradients scaled by 1e-8 ... 1e3: the RMS of the step of each optimizer;
//   2. Lion against AdamW on the UCI digits: its learning rate 3–10× smaller, its decay larger;
//   3. a real gradient of a hidden weight: its singular values before and after newton_schulz.
// Try this: --pure-noise runs part 1 without the direction d; --lion-beta1 X part 2's Lion runs with β1 = X.
//
// Build and run:  meson compile -C build && ./build/tutorials/15_sign_and_orthogonal_updates [--out DIR]
//   --out DIR  where singular_values.png goes (default: the current directory)
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "linalg.hpp"  // Eigen's SVD, compiled once in the library
#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

// A 2-D tensor as an Eigen matrix in double, and its singular values, largest first (JacobiSVD).
Eigen::MatrixXd to_matrix(const Tensor& t) {
  Eigen::MatrixXd m(t.shape()[0], t.shape()[1]);
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = t.data()[i * m.cols() + j];
  return m;
}
Eigen::VectorXd singular_values(const Tensor& t) { return linalg::svd(to_matrix(t)).singular_values; }

double rms(const Tensor& t) { return std::sqrt(mean(t * t).item()); }

// ---- 1. The size of one step against the size of the gradient -------------------
// Ten steps on gradients g_t = scale · (d + n_t): a fixed direction d plus noise n_t, both N(0, 1)
// per element. What moved in the tenth step, Δ = θ_10 − θ_9, for each optimizer.
bool pure_noise = false;     // --pure-noise: part 1 without the direction d (Try this)
double lion_beta1 = 0.9;     // --lion-beta1: part 2's Lion runs with this β1 (Try this)

void step_size_table() {
  const Shape shape{32, 64};
  Generator gen(14);
  Tensor direction = randn(shape, gen);
  std::vector<Tensor> noise;
  for (int t = 0; t < 10; ++t) noise.push_back(randn(shape, gen));
  const char* names[4] = {"SGD (lr 0.1)", "Adam (lr 1e-3)", "Lion (lr 1e-4)", "Muon (lr 1e-3)"};
  const double scales[4] = {1e-8, 1e-3, 1.0, 1e3};
  double table[5][4];  // rows: the four optimizers' RMS(Δ), then Muon's ‖Δ‖₂ / γ
  for (int s = 0; s < 4; ++s) {
    for (int k = 0; k < 4; ++k) {
      Tensor theta = Tensor::zeros(shape).requires_grad_();
      std::unique_ptr<Optimizer> opt;
      if (k == 0) opt = std::make_unique<SGD>(std::vector<Tensor>{theta}, SgdOptions{.learning_rate = 0.1});
      if (k == 1) opt = std::make_unique<Adam>(std::vector<Tensor>{theta}, AdamOptions{.learning_rate = 1e-3});
      if (k == 2) opt = std::make_unique<Lion>(std::vector<Tensor>{theta}, LionOptions{.learning_rate = 1e-4});
      if (k == 3)
        opt = std::make_unique<Muon>(std::vector<Tensor>{theta}, MuonOptions{.learning_rate = 1e-3, .weight_decay = 0});
      Tensor before;
      for (const Tensor& n : noise) {
        theta.set_grad(static_cast<float>(scales[s]) * (pure_noise ? n : direction + n));
        before = theta.clone();
        opt->step();
      }
      NoGradGuard no_graph;
      Tensor delta = theta - before;
      table[k][s] = rms(delta);
      if (k == 3) table[4][s] = singular_values(delta)(0) / 1e-3;
    }
  }
  std::printf("1. RMS of the 10th step on a 32x64 weight, g_t = scale * %s, no weight decay\n",
              pure_noise ? "n_t (pure noise)" : "(d + n_t)");
  std::printf("   %-20s", "gradient scale");
  for (double s : scales) std::printf("%12.0e", s);
  std::printf("\n");
  for (int k = 0; k < 5; ++k) {
    std::printf("   %-20s", k < 4 ? names[k] : "Muon |step|_2 / lr");
    for (int s = 0; s < 4; ++s) std::printf("%12.4g", table[k][s]);
    std::printf("\n");
  }
}

// ---- 2. Lion against AdamW on the UCI digits -------------------------------------
struct Setting {
  const char* name;
  bool lion;
  double learning_rate, weight_decay;  // η, λ
};

constexpr int64_t batch = 50, epochs = 20;
constexpr size_t every = 5;  // print the accuracy after every 5th epoch

// Trains a fresh MLP 64-32-10 (the same initial weights every time) over the minibatches in
// order; returns the held-out accuracy after every epoch and, last, the weights' RMS.
std::vector<double> train(const Setting& setting, const Dataset& train_set, const Dataset& test_set) {
  Generator init(0);
  MLP model({64, 32, 10}, init);
  std::unique_ptr<Optimizer> opt;
  if (setting.lion)
    opt = std::make_unique<Lion>(model.parameters(),
                                 LionOptions{.learning_rate = setting.learning_rate, .beta1 = lion_beta1,
                                             .weight_decay = setting.weight_decay});
  else
    opt = std::make_unique<AdamW>(model.parameters(),
                                  AdamWOptions{.learning_rate = setting.learning_rate, .weight_decay = setting.weight_decay});
  std::vector<double> result;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    for (int64_t b = 0; b + batch <= train_set.size(); b += batch) {
      opt->zero_grad();
      Tensor loss = cross_entropy(model.forward(rows(train_set.inputs, b, b + batch)), labels_of(train_set, b, b + batch));
      loss.backward();
      opt->step();
    }
    NoGradGuard eval;
    result.push_back(accuracy(model.forward(test_set.inputs), test_set.labels));
  }
  result.push_back(rms(model.layers[0].weight));
  return result;
}

void lion_against_adamw(bool lion_only = false) {
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  std::printf("\n2. UCI digits, MLP 64-32-10, batch %lld, %lld epochs: held-out accuracy\n",
              static_cast<long long>(batch), static_cast<long long>(epochs));
  const std::vector<Setting> settings = {
      {"AdamW", false, 3e-3, 0.1}, {"AdamW", false, 1e-2, 0.1},  // Adam's η, and ours tuned a little
      {"Lion", true, 1e-2, 0.1},   {"Lion", true, 3e-3, 0.1},    // Lion at Adam's η
      {"Lion", true, 1e-3, 0.3},   {"Lion", true, 3e-4, 1.0},    // 3× and 10× smaller η, λ as much larger
      {"Lion", true, 3e-4, 0.1}};                                // 10× smaller η, Adam's λ
  std::printf("   %-6s %7s %6s %9s", "", "lr", "wd", "lr*wd");
  for (size_t e = every; e <= static_cast<size_t>(epochs); e += every) std::printf("  epoch %zu", e);
  std::printf("  RMS(W1)\n");
  if (lion_only) std::printf("   (Lion with beta1 = %g)\n", lion_beta1);
  for (const Setting& s : settings) {
    if (lion_only && !s.lion) continue;
    std::vector<double> r = train(s, train_set, test_set);
    std::printf("   %-6s %7.0e %6.0e %9.0e", s.name, s.learning_rate, s.weight_decay, s.learning_rate * s.weight_decay);
    for (size_t e = every - 1; e < static_cast<size_t>(epochs); e += every) std::printf("  %7.4f", r[e]);
    std::printf("  %7.4f\n", r.back());
  }
}

// ---- 3. Muon's step as singular values ------------------------------------------
// G = U S Vᵀ. Newton–Schulz is an odd polynomial in G, so O = NS5(G) = U p⁵(S/‖G‖_F) Vᵀ: the same
// singular vectors, each σ_i sent to p⁵(σ_i/‖G‖_F), p(x) = a x + b x³ + c x⁵. We read O's value
// along G's i-th pair of singular vectors, u_iᵀ O v_i, and compare it with p⁵ computed in double.
double p5(double x) {
  for (int k = 0; k < 5; ++k) x = 3.4445 * x - 4.7750 * x * x * x + 2.0315 * x * x * x * x * x;
  return x;
}

void singular_values_before_after(const std::string& out_dir) {
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  Generator init(0);
  MLP model({64, 64, 64, 10}, init);  // layers[1].weight: the 64x64 hidden weight Muon would get
  cross_entropy(model.forward(train_set.inputs), train_set.labels).backward();
  Tensor g = model.layers[1].weight.grad();
  Tensor o = newton_schulz(g);
  Eigen::MatrixXd gm = to_matrix(g), om = to_matrix(o);
  linalg::Svd svd = linalg::svd(gm, /*with_vectors=*/true);
  Eigen::VectorXd before = svd.singular_values / gm.norm();  // σ_i / ‖G‖_F: what Newton–Schulz starts from
  Eigen::VectorXd after = (svd.u.transpose() * om * svd.v).diagonal();  // u_iᵀ O v_i
  std::printf("\n3. The gradient G of the hidden 64x64 weight (1400 images, at initialisation)\n");
  std::printf("   i    sigma_i/|G|_F   p^5(sigma_i/|G|_F)   u_i' NS5(G) v_i\n");
  for (int i : {1, 2, 4, 8, 16, 24, 32, 40, 48, 52, 56, 57})
    std::printf("   %-4d %13.4g %20.4g %17.4g\n", i, before(i - 1), p5(before(i - 1)), after(i - 1));
  int rank = 0, in_band = 0, reachable = 0, reached = 0;
  double worst = 0.0;  // the largest |u_iᵀ O v_i − p⁵(σ_i/‖G‖_F)|
  for (Eigen::Index i = 0; i < 64; ++i) {
    rank += before(i) > 1e-6;  // float32's gradient: below 1e-6 of ‖G‖_F is rounding, not a direction
    in_band += after(i) >= 0.6818 && after(i) <= 1.1344;
    reachable += before(i) >= 0.0052;
    reached += before(i) >= 0.0052 && after(i) >= 0.6818 && after(i) <= 1.1344;
    worst = std::max(worst, std::abs(after(i) - p5(before(i))));
  }
  std::printf("   rank %d; %d start at >= 0.0052 and %d of them end in the band [0.6818, 1.1344];\n", rank,
              reachable, reached);
  std::printf("   %d of 64 end in the band in all\n", in_band);
  std::printf("   every u_i' NS5(G) v_i within 1e-5 of p^5(sigma_i/|G|_F): %s (float32 against double)\n",
              worst < 1e-5 ? "yes" : "no");

  std::vector<double> index, s_before, s_after;  // the directions G has (the rest are 0 before and after)
  for (Eigen::Index i = 0; i < rank; ++i) {
    index.push_back(static_cast<double>(i + 1));
    s_before.push_back(before(i));
    s_after.push_back(after(i));
  }
  plots::LineChart chart({.title = "A hidden weight's gradient G, before and after Newton-Schulz",
                          .x_label = "i (singular values of G, largest first)", .y_label = "singular value",
                          .y_scale = plots::Scale::log});
  chart.add_series("sigma_i / |G|_F", index, s_before).add_series("u_i' NS5(G) v_i", index, s_after);
  chart.add_reference_line(1.1344, "band 1.1344").add_reference_line(0.6818, "band 0.6818");
  chart.add_reference_line(0.0052, "from 0.0052 up, all reach the band");
  chart.save_png(out_dir + "/singular_values.png");
  std::printf("wrote singular_values.png\n");
}

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--pure-noise") == 0) return pure_noise = true, step_size_table(), 0;
  if (argc == 3 && std::strcmp(argv[1], "--lion-beta1") == 0) return lion_beta1 = std::atof(argv[2]), lion_against_adamw(true), 0;
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  step_size_table();
  lion_against_adamw();
  singular_values_before_after(out_dir);
  return 0;
}
