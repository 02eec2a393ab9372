// Suite `optim`: Shampoo (lib/optim/shampoo.hpp) against tests/reference/make_shampoo_golden.py, a restatement of
// facebookresearch/optimizers' distributed Shampoo; the invariants its own tests require (never preconditioned, it is
// the grafting method bit for bit); the roots; blocking and merging; state and its bytes; validation; resumes; a
// Monitor run; and the UCI-digits MLP.
#include <Eigen/Core>
#include <cmath>
#include <filesystem>

#include "linalg.hpp"
#include "monitor/charts.hpp"
#include "monitor/monitor.hpp"
#include "optim_testing.hpp"
#include "reference/shampoo_golden.hpp"

using namespace moments;
using testing::check_close;
using testing::check_error;
using testing::pattern;
using testing::Problem;

namespace {

const std::vector<Shape> kShapes = {{4, 3}, {5}, {10, 7}};  // the golden script's SHAPES
constexpr double kNever = 1e9;                               // a start_preconditioning_step never reached

Eigen::MatrixXd to_eigen(const Tensor& t) {  // a square float32 matrix, in float64
  std::vector<float> v = t.to_vector();
  int64_t n = t.size(0);
  Eigen::MatrixXd out(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) out(i, j) = v[static_cast<size_t>(i * n + j)];
  return out;
}

// max |X^p (A + εI) − I|: how far the stored root is from the inverse p-th root of its (bias-corrected) statistic.
double root_error(const Tensor& X, const Tensor& A, int p, double eps) {
  Eigen::MatrixXd x = to_eigen(X), a = to_eigen(A);
  a.diagonal().array() += eps;
  Eigen::MatrixXd power = Eigen::MatrixXd::Identity(x.rows(), x.cols());
  for (int k = 0; k < p; ++k) power = power * x;
  return (power * a - Eigen::MatrixXd::Identity(x.rows(), x.cols())).cwiseAbs().maxCoeff();
}

// Runs `steps` steps of both optimizers on copies of the same problem and requires identical parameters.
template <class A, class B>
void require_same_bits(const std::string& what, const std::function<std::unique_ptr<A>(const std::vector<Tensor>&)>& make_a,
                       const std::function<std::unique_ptr<B>(const std::vector<Tensor>&)>& make_b, int steps = 30) {
  CAPTURE(what);
  Problem a(kShapes), b(kShapes);
  auto opt_a = make_a(a.params);
  auto opt_b = make_b(b.params);
  for (int t = 1; t <= steps; ++t) {
    a.set_gradients(), b.set_gradients();
    opt_a->step(), opt_b->step();
    for (size_t p = 0; p < kShapes.size(); ++p) {
      CAPTURE(t);
      CAPTURE(p);
      REQUIRE(a.params[p].to_vector() == b.params[p].to_vector());
    }
  }
}

}  // namespace

TEST_CASE("Shampoo follows the restated distributed Shampoo on a matrix, a vector and a blocked 10x7 matrix") {
  // Tolerance: every statistic and product is a float32 matmul whose sums Eigen and torch's BLAS order differently, the
  // norms of grafting are float32 sums in other orders, and the roots amplify those differences by up to the
  // statistics' conditioning; the float64 eigendecompositions themselves agree to ~1e-15. The script measures how far
  // rounding-sized noise in the roots alone carries each case (at most 3.5e-5); 2e-5 absolute + 2e-4 relative holds
  // over 30 steps. Tried: an exponent of −1/2 for matrices, m without its bias correction, or no grafting ratio each
  // fail this check (by 2e-2, 5e-3 and 2e-2 at the worst element).
  for (const golden::OptimCase& c : golden::shampoo_cases) {
    Problem problem(kShapes);
    testing::follow_golden(c, problem, testing::build<Shampoo, ShampooOptions>, 2e-5f, 2e-4f);
  }
  // The canonical defaults (ε = 1e-12, roots from step 1, no grafting) are not comparable at all: the statistics are
  // rank-deficient, the roots' null-space entries reach ε^{−1/2} = 1e6, and float32 rounding decides the step (the
  // script measures 0.26 of movement from rounding-sized noise in the roots alone). Reported, not compared.
  const golden::OptimCase& d = golden::shampoo_default_case[0];
  Problem problem(kShapes);
  auto opt = testing::build<Shampoo, ShampooOptions>(d, problem.params);
  double gap = 0.0;
  size_t snapshot = 0;
  for (int t = 1; t <= d.steps.back(); ++t) {
    problem.set_gradients();
    opt->step();
    if (t != d.steps[snapshot]) continue;
    for (size_t p = 0; p < kShapes.size(); ++p)
      for (size_t i = 0; i < d.params[snapshot][p].size(); ++i) {
        REQUIRE(std::isfinite(problem.params[p].to_vector()[i]));
        gap = std::max(gap, std::fabs(static_cast<double>(problem.params[p].to_vector()[i]) - d.params[snapshot][p][i]));
      }
    if (t == 1) MESSAGE("canonical defaults: largest gap to the reference after step 1: ", gap);
    ++snapshot;
  }
  MESSAGE("canonical defaults: largest gap to the reference over 30 steps: ", gap);
}

TEST_CASE("Shampoo never preconditioned is its grafting method: Adam, Adagrad and SGD bit for bit") {
  // As distributed Shampoo's gpu_tests/shampoo_grafting_test.py requires (start_preconditioning_step = inf there).
  using Shampoos = std::function<std::unique_ptr<Shampoo>(const std::vector<Tensor>&)>;
  auto shampoo = [](ShampooOptions o) -> Shampoos {
    o.start_preconditioning_step = kNever;
    o.max_preconditioner_dim = 4;
    return [o](const std::vector<Tensor>& p) { return std::make_unique<Shampoo>(p, o); };
  };
  for (double l2 : {0.0, 0.05}) {
    require_same_bits<Shampoo, Adam>(
        "Adam, L2 " + std::to_string(l2),
        shampoo({.learning_rate = 0.01, .beta1 = 0.9, .weight_decay = l2, .decoupled_weight_decay = false,
                 .grafting = ShampooGrafting::adam, .grafting_beta2 = 0.999, .grafting_epsilon = 1e-8}),
        [l2](const auto& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 0.01, .weight_decay = l2}); });
    require_same_bits<Shampoo, Adagrad>(
        "Adagrad, L2 " + std::to_string(l2),
        shampoo({.learning_rate = 0.1, .beta1 = 0.0, .weight_decay = l2, .decoupled_weight_decay = false,
                 .grafting = ShampooGrafting::adagrad}),
        [l2](const auto& p) { return std::make_unique<Adagrad>(p, AdagradOptions{.learning_rate = 0.1, .weight_decay = l2}); });
  }
  require_same_bits<Shampoo, SGD>("SGD", shampoo({.learning_rate = 0.1, .beta1 = 0.0, .grafting = ShampooGrafting::sgd}),
                                  [](const auto& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1}); });
  require_same_bits<Shampoo, SGD>(
      "SGD nesterov, L2",
      shampoo({.learning_rate = 0.05, .beta1 = 0.0, .weight_decay = 0.01, .decoupled_weight_decay = false,
               .grafting = ShampooGrafting::sgd, .momentum = 0.9, .nesterov = true}),
      [](const auto& p) {
        return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
      });
  // ... while the statistics still accumulate, so that preconditioning could start at any step.
  Problem problem(kShapes);
  Shampoo never(problem.params, {.max_preconditioner_dim = 4, .start_preconditioning_step = kNever,
                                 .grafting = ShampooGrafting::adam});
  problem.set_gradients();
  never.step();
  Tensor g = reshape(problem.params[0].grad(), {4, 3});
  check_close(never.state(problem.params[0])->buffers.at("L.0"), matmul(g, transpose(g)).to_vector(), 1e-6f, 1e-6f,
              "L after one step = G Gᵀ");
}

TEST_CASE("the general path, not the grafting method's own loop, also gives the grafting method's step (to rounding)") {
  // RMSprop grafting has no fast path: with β1 = 0 its grafting-only step is RMSprop's (α = β_g, ε outside the root).
  Problem a(kShapes), b(kShapes);
  Shampoo shampoo(a.params, {.learning_rate = 0.01, .beta1 = 0.0, .start_preconditioning_step = kNever,
                             .grafting = ShampooGrafting::rmsprop, .grafting_beta2 = 0.9, .grafting_epsilon = 1e-8});
  RMSprop rmsprop(b.params, {.learning_rate = 0.01, .alpha = 0.9, .eps = 1e-8});
  for (int t = 1; t <= 30; ++t) {
    a.set_gradients(), b.set_gradients();
    shampoo.step(), rmsprop.step();
  }
  for (size_t p = 0; p < kShapes.size(); ++p) check_close(a.params[p], b.params[p].to_vector(), 1e-7f, 1e-6f, "RMSprop");
}

TEST_CASE("the stored roots are inverse p-th roots of the statistics: (L^{-1/4})^4 (L + εI) = I") {
  // Tolerance: the root Q diag(λ^{−1/p}) Qᵀ is exact to ~1e-15 in float64, then rounded to float32 (u = 2^−24 per
  // entry); X^p·A magnifies an entry's error δ by up to ‖X‖^{p−1}‖A‖·p ≈ p·cond(A)^{(p−1)/p}. So the check is
  // |X^p A − I| ≤ 4 n p u cond(A): it holds with room to spare, and a wrong exponent, ε or bias correction breaks it
  // by orders of magnitude (the roots below have cond up to ~1e4: bounds up to ~1e-1, measured errors ≤ 1e-3).
  auto bound = [](const Tensor& A, int p, double eps) {
    Eigen::MatrixXd a = to_eigen(A);
    a.diagonal().array() += eps;
    Eigen::VectorXd lambda = linalg::symmetric_eigen(a, /*with_vectors=*/false).values;
    double cond = lambda.maxCoeff() / lambda.minCoeff();
    return 4.0 * static_cast<double>(A.size(0)) * p * std::ldexp(1.0, -24) * cond;
  };
  // After 12 steps (roots refreshed at step 12), every block's L^{−1/4} and R^{−1/4} (and a vector block's L^{−1/2}).
  Problem problem(kShapes);
  const double eps = 1e-3, beta2 = 0.99;
  Shampoo shampoo(problem.params, {.beta2 = beta2, .epsilon = eps, .max_preconditioner_dim = 4,
                                   .precondition_frequency = 4, .grafting = ShampooGrafting::adam});
  for (int t = 1; t <= 12; ++t) {
    problem.set_gradients();
    shampoo.step();
  }
  double bc2 = 1.0 - std::pow(beta2, 12.0), worst = 0.0;
  int checked = 0;
  for (size_t p = 0; p < kShapes.size(); ++p) {
    const ParamState* s = shampoo.state(problem.params[p]);
    int root = kShapes[p].size() == 2 ? 4 : 2;
    for (const auto& [name, X] : s->buffers) {
      if (name.find("_inv_root") == std::string::npos) continue;
      std::string statistic = name.substr(0, 1) + name.substr(name.find('.'));  // "L_inv_root.3" → "L.3"
      Tensor A = s->buffers.at(statistic) / static_cast<float>(bc2);
      CAPTURE(name);
      double error = root_error(X, A, root, eps);
      CHECK(error <= bound(A, root, eps));
      worst = std::max(worst, error);
      ++checked;
    }
  }
  CHECK(checked == 2 + 2 + 2 * 6);  // the 4x3's L and R, the 5-vector's two blocks (4 and 1), six 2-D blocks of the 10x7
  MESSAGE("largest |X^p (L/(1 - beta2^t) + eps I) - I| over the stored roots: ", worst);
  // The function itself, on SPD matrices of condition ~1 to ~1e5, roots 2 and 4.
  for (float floor : {1.0f, 1e-2f, 1e-4f}) {
    Tensor B = pattern({6, 6}, 3, 0.3f);
    std::vector<float> diagonal(36, 0.0f);
    for (int i = 0; i < 6; ++i) diagonal[static_cast<size_t>(7 * i)] = floor;
    Tensor A = matmul(B, transpose(B)) + Tensor::from(diagonal, {6, 6});
    CAPTURE(floor);
    for (int root : {2, 4}) CHECK(root_error(Shampoo::inverse_root(A, root, 1e-12), A, root, 1e-12) <= bound(A, root, 1e-12));
  }
  // A singular matrix: ε = 1e-12 vanishes in float32's 1 + ε, the eigenvalues are 2 and 0 (or a rounding error
  // either side of 0), so λ_min < ε and they are shifted to λ − λ_min + ε: 2 and 1e-12, and the root stays finite:
  // X = Q diag(2^{−1/2}, 1e6) Qᵀ with Q's columns (1, ±1)/√2, so X₀₀ = (2^{−1/2} + 1e6)/2.
  Tensor singular = Tensor::from({1, 1, 1, 1}, {2, 2});
  std::vector<float> X = Shampoo::inverse_root(singular, 2, 1e-12).to_vector();
  CHECK(X[0] == doctest::Approx((1.0 / std::sqrt(2.0) + 1e6) / 2.0).epsilon(1e-6));
}

TEST_CASE("Shampoo's first step with sums is the gradient's polar factor U Vᵀ (Muon's direction)") {
  // With β1 = 0, β2 = 1 and one step, L = G Gᵀ = U Σ² Uᵀ and R = Gᵀ G = V Σ² Vᵀ, so
  // L^{−1/4} G R^{−1/4} = U Σ^{−1/2} Σ Σ^{−1/2} Vᵀ = U Vᵀ: every singular value of the step is 1.
  Tensor w = pattern({3, 3}, 4).requires_grad_();
  Shampoo shampoo({w}, {.learning_rate = 1.0, .beta1 = 0.0, .epsilon = 1e-10, .max_preconditioner_dim = 3});
  Tensor before = w.detach().clone();
  w.set_grad(pattern({3, 3}, 7, 0.5f));
  shampoo.step();
  Tensor step = before - w.detach();  // P
  Eigen::MatrixXd P = to_eigen(step);
  Eigen::MatrixXd PtP = P.transpose() * P;
  CHECK((PtP - Eigen::MatrixXd::Identity(3, 3)).cwiseAbs().maxCoeff() < 1e-4);
}

TEST_CASE("merging and blocking follow distributed Shampoo's merge_small_dims and multi_dim_split") {
  CHECK(Shampoo::merged_shape({4, 3}, 1024) == Shape{12});          // a small matrix becomes a vector
  CHECK(Shampoo::merged_shape({4, 3}, 4) == Shape{4, 3});
  CHECK(Shampoo::merged_shape({1, 2, 5, 1}, 10) == Shape{10});      // the canonical docstring's examples
  CHECK(Shampoo::merged_shape({1, 2, 5, 1}, 1) == Shape{2, 5});
  CHECK(Shampoo::merged_shape({32, 3, 64, 64}, 8192) == Shape{96, 4096});
  CHECK(Shampoo::merged_shape({1, 1}, 4) == Shape{1});
  CHECK(Shampoo::merged_shape({}, 4) == Shape{1});
  CHECK(Shampoo::merged_shape({1024, 1024}, INFINITY) == Shape{1048576});
  auto b = Shampoo::blocks({10, 7}, 4);
  REQUIRE(b.size() == 6);  // rows 4, 4, 2 × columns 4, 3, row-major
  CHECK((b[0].row == 0 && b[0].rows == 4 && b[0].col == 0 && b[0].cols == 4));
  CHECK((b[1].row == 0 && b[1].rows == 4 && b[1].col == 4 && b[1].cols == 3));
  CHECK((b[5].row == 8 && b[5].rows == 2 && b[5].col == 4 && b[5].cols == 3));
  CHECK(Shampoo::blocks({9}, 4).size() == 3);
  check_error([] { Shampoo::blocks({3, 5, 7}, 4); }, {"Shampoo", "[3, 5, 7]", "more than 2 dims"});
  // The state of a 10x7 parameter with Adam grafting and momentum: named per block.
  Tensor w = pattern({10, 7}, 1).requires_grad_();
  Shampoo shampoo({w}, {.max_preconditioner_dim = 4, .grafting = ShampooGrafting::adam, .momentum = 0.5});
  w.set_grad(pattern({10, 7}, 2));
  shampoo.step();
  const auto& buffers = shampoo.state(w)->buffers;
  CHECK(buffers.size() == 3 + 6 * 4);  // filtered_grad, exp_avg_sq, momentum_buffer; L, R and their roots per block
  CHECK(buffers.at("L.1").shape() == Shape{4, 4});
  CHECK(buffers.at("R.1").shape() == Shape{3, 3});
  CHECK(buffers.at("L_inv_root.5").shape() == Shape{2, 2});
  CHECK(buffers.at("momentum_buffer").shape() == Shape{10, 7});
  REQUIRE(shampoo.eigenvalues(w).size() == 6);
  CHECK(shampoo.eigenvalues(w)[5].left.size() == 2);
  CHECK(shampoo.eigenvalues(w)[5].right.size() == 3);
  for (const ShampooEigenvalues& e : shampoo.eigenvalues(w))
    for (double lambda : e.left) CHECK(lambda >= 1e-12);  // shifted to at least ε
}

TEST_CASE("Shampoo's state bytes: 8 + 8(m² + n²)/(mn) per element of an m×n block, measured") {
  // One 64×32 block with Adam grafting and β1 ≠ 0: filtered_grad and exp_avg_sq (4 + 4 bytes per element) and four
  // float32 matrices L, L^{−1/4} (64×64) and R, R^{−1/4} (32×32): 8 + 8·(4096 + 1024)/2048 = 28 bytes per element.
  Tensor w = pattern({64, 32}, 1).requires_grad_();
  Shampoo shampoo({w}, {.grafting = ShampooGrafting::adam});
  w.set_grad(pattern({64, 32}, 2));
  shampoo.step();
  CHECK(shampoo.state_bytes_total() == 64 * 32 * 8 + 8 * (64 * 64 + 32 * 32));
  CHECK(static_cast<double>(shampoo.state_bytes_total()) / w.numel() == 28.0);
  // Blocks of 16: eight 16×16 blocks: 8 + 8·(256 + 256)/256 = 24 bytes per element; no filter, no grafting: 16.
  Tensor v = pattern({64, 32}, 1).requires_grad_();
  Shampoo blocked({v}, {.beta1 = 0.0, .max_preconditioner_dim = 16});
  v.set_grad(pattern({64, 32}, 2));
  blocked.step();
  CHECK(static_cast<double>(blocked.state_bytes_total()) / v.numel() == 16.0);
}

TEST_CASE("Shampoo's validation names the hyperparameter and its value") {
  Tensor p = pattern({3, 2}, 1).requires_grad_();
  auto make = [&](ShampooOptions o) { Shampoo s({p}, o); };
  check_error([&] { make({.learning_rate = -1}); }, {"Shampoo", "learning_rate", "-1"});
  check_error([&] { make({.beta1 = 1.0}); }, {"Shampoo", "beta1", "1"});
  check_error([&] { make({.beta2 = 1.5}); }, {"Shampoo", "beta2", "1.5", "[0, 1]"});
  check_error([&] { make({.epsilon = 0.0}); }, {"Shampoo", "epsilon", "0", "> 0"});
  check_error([&] { make({.epsilon = NAN}); }, {"Shampoo", "epsilon", "nan"});
  check_error([&] { make({.weight_decay = -0.1}); }, {"Shampoo", "weight_decay", "-0.1"});
  check_error([&] { make({.max_preconditioner_dim = 0}); }, {"Shampoo", "max_preconditioner_dim", "0"});
  check_error([&] { make({.max_preconditioner_dim = 2.5}); }, {"Shampoo", "max_preconditioner_dim", "2.5", "integer"});
  check_error([&] { make({.precondition_frequency = 0}); }, {"Shampoo", "precondition_frequency", "0"});
  check_error([&] { make({.precondition_frequency = 5, .start_preconditioning_step = 3}); },
              {"Shampoo", "start_preconditioning_step", "3", "precondition_frequency 5"});
  check_error([&] { make({.start_preconditioning_step = -2}); }, {"Shampoo", "start_preconditioning_step", "-2"});
  check_error([&] { make({.grafting = 5}); }, {"Shampoo", "grafting", "5", "Adam"});
  check_error([&] { make({.grafting_beta2 = 0.0}); }, {"Shampoo", "grafting_beta2", "0"});
  check_error([&] { make({.grafting_epsilon = -1e-8}); }, {"Shampoo", "grafting_epsilon"});
  check_error([&] { make({.momentum = 1.0}); }, {"Shampoo", "momentum", "1"});
  check_error([&] { make({.dampening = 1.0}); }, {"Shampoo", "dampening", "1"});
  check_error([&] { make({.nesterov = true}); }, {"Shampoo", "nesterov", "momentum"});
  Tensor cube = pattern({2, 3, 4}, 1).requires_grad_();  // refused at its first step, when its blocks are made
  Shampoo three_dims({cube}, {.max_preconditioner_dim = 2});
  cube.set_grad(pattern({2, 3, 4}, 2));
  check_error([&] { three_dims.step(); }, {"Shampoo", "[2, 3, 4]", "more than 2 dims"});
  CHECK(cube.to_vector() == pattern({2, 3, 4}, 1).to_vector());  // untouched
  check_error([] { Shampoo::inverse_root(Tensor::zeros({2, 3}), 4, 1e-12); }, {"Shampoo::inverse_root", "[2, 3]", "square"});
  // A NaN gradient reaches the statistic and is refused at the root step, naming the statistic.
  Tensor q = pattern({3, 2}, 1).requires_grad_();
  Shampoo nan_step({q}, {.max_preconditioner_dim = 2});
  q.set_grad(Tensor::full({3, 2}, NAN));
  check_error([&] { nan_step.step(); }, {"Shampoo", "2x2 statistic", "non-finite", "nan"});
  // Momentum switched on after the first step starts its buffer at zero.
  Tensor r = pattern({3, 2}, 1).requires_grad_();
  Shampoo later({r}, {.grafting = ShampooGrafting::sgd});
  r.set_grad(pattern({3, 2}, 2));
  later.step();
  later.set_hyperparameters(0, {{"momentum", 0.5}, {"beta1", 0.0}, {"start_preconditioning_step", 100}});
  later.step();
  CHECK(later.state(r)->buffers.count("momentum_buffer") == 1);
  // The block layout is fixed at the first step.
  Shampoo s({p}, {.max_preconditioner_dim = 2});
  p.set_grad(pattern({3, 2}, 2));
  s.step();
  s.set_hyperparameter(0, "max_preconditioner_dim", 1);
  check_error([&] { s.step(); }, {"Shampoo", "max_preconditioner_dim", "cannot change"});
}

TEST_CASE("Shampoo resumes bit for bit from a state_dict and from a checkpoint") {
  auto make = [](const std::vector<Tensor>& p) {
    return std::make_unique<Shampoo>(p, ShampooOptions{.beta2 = 0.99, .max_preconditioner_dim = 4, .precondition_frequency = 3,
                                                       .grafting = ShampooGrafting::adam, .momentum = 0.5});
  };
  testing::check_state_dict_round_trip(make, kShapes);
  testing::check_checkpoint_round_trip([](MLP& model) {
    return std::make_unique<Shampoo>(model.parameters(),
                                     ShampooOptions{.max_preconditioner_dim = 4, .precondition_frequency = 2,
                                                    .grafting = ShampooGrafting::adagrad});
  });
}

TEST_CASE("a Monitor records Shampoo's state and draws its charts") {
  testing::check_monitored_run(
      [](MLP& m) { return std::make_unique<Shampoo>(m.parameters(), ShampooOptions{.learning_rate = 0.05, .grafting = ShampooGrafting::adam}); },
      {.steps = 5, .each = [](int64_t, const Record& r) { CHECK(r.update_norm > 0.0); }});
}

TEST_CASE("Shampoo trains an MLP on the UCI digits to >= 90% held-out accuracy") {
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  auto [train, test] = split(digits, 1400);
  Generator gen(0);
  MLP model({64, 32, 10}, gen);
  // The 64×32 and 32×10 weights are preconditioned as matrices (64·32 > 1024 stays 2-D; 32·10 = 320 merges into a
  // 320-vector with one 320×320 statistic), biases as vectors; grafted to Adam, roots every 10 steps.
  Shampoo shampoo(model.parameters(), {.learning_rate = 3e-3, .epsilon = 1e-8, .precondition_frequency = 10,
                                       .grafting = ShampooGrafting::adam, .grafting_epsilon = 1e-8});
  testing::train_digits(model, shampoo, train);  // forward, backward, update: 50 rows a step
  NoGradGuard eval;
  double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
  double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
  MESSAGE("Shampoo (Adam grafting) on the UCI digits: train ", train_accuracy, ", held-out ", test_accuracy);
  CHECK(train_accuracy >= 0.95);
  CHECK(test_accuracy >= 0.90);
}
