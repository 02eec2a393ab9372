// Suite `optim`: Muon (lib/optim/muon.hpp) in its two dialects: the golden trajectories of
// tests/reference/make_muon_golden.py, Newton–Schulz's singular values against the band its
// coefficients are designed for (Eigen's SVD, linalg.hpp), the invariants of the step, validation, state,
// resumes, the parameter split and MuonWithAuxAdamW, and the UCI-digits MLP.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data/datasets.hpp"
#include "linalg.hpp"
#include "optim_testing.hpp"
#include "reference/muon_golden.hpp"

using namespace moments;
using testing::check_error;
using testing::pattern;

namespace {

const std::vector<Shape> kShapes = {{6, 10}, {12, 4}, {8, 8}};  // make_muon_golden.py's SHAPES: wide, tall, square

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Matrix to_matrix(const Tensor& t) {
  Matrix m(t.shape()[0], t.shape()[1]);
  std::vector<float> v = t.to_vector();
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = v[static_cast<size_t>(i)];
  return m;
}

Tensor to_tensor(const Matrix& m) {
  std::vector<float> v(static_cast<size_t>(m.size()));
  for (Eigen::Index i = 0; i < m.size(); ++i) v[static_cast<size_t>(i)] = static_cast<float>(m.data()[i]);
  return Tensor::from(v, {m.rows(), m.cols()});
}

Eigen::VectorXd singular_values(const Tensor& t) { return linalg::svd(to_matrix(t)).singular_values; }

// A random r × c matrix U diag(s) Vᵀ with singular values s_i geometric from 1 down to 1/condition;
// U and V from the QR factorisation of N(0, 1) matrices (our generator).
Tensor conditioned(int64_t r, int64_t c, double condition, Generator& gen) {
  auto orthonormal = [&](int64_t n) {
    Matrix g(n, n);
    for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = gen.normal();
    return Matrix(linalg::householder_q(g));
  };
  const int64_t k = std::min(r, c);
  Eigen::VectorXd s(k);
  for (int64_t i = 0; i < k; ++i) s[i] = std::pow(condition, -static_cast<double>(i) / static_cast<double>(std::max<int64_t>(k - 1, 1)));
  return to_tensor(orthonormal(r).leftCols(k) * s.asDiagonal() * orthonormal(c).leftCols(k).transpose());
}

// The quintic p(x) = a x + b x³ + c x⁵ and the band it keeps, derived from its coefficients:
// p'(x) = a + 3b x² + 5c x⁴ = 0 at x² = (−3b ± √(9b² − 20ac)) / 10c; the larger root is p's local
// minimum, low = p(x_min); high = p(low) (p decreases from low to x_min), and p maps [low, high]
// into itself. tau: the smallest σ/‖G‖_F from which five steps land in the band (a scan).
struct Quintic {
  double a = 3.4445, b = -4.7750, c = 2.0315;
  double p(double x) const { return a * x + b * x * x * x + c * x * x * x * x * x; }
  double iterate(double x, int steps) const {
    for (int k = 0; k < steps; ++k) x = p(x);
    return x;
  }
  double low() const { return p(std::sqrt((-3 * b + std::sqrt(9 * b * b - 20 * a * c)) / (10 * c))); }
  double high() const { return p(low()); }
  double tau(int steps) const {
    double smallest = 1.0;
    for (double x = 1.0; x > 1e-5; x *= 0.9999) {
      double y = iterate(x, steps);
      if (y < low() || y > high()) break;
      smallest = x;
    }
    return smallest;
  }
};

}  // namespace

TEST_CASE("Muon follows torch.optim.Muon and Keller Jordan's muon.py (restated) for 30 steps on wide, tall and square matrices") {
  // Tolerance 1e-7 + 1e-6·|expected| up to step 10, where the two follow each other to a few float32 ulps
  // (the matrix products sum in Eigen's order, torch's in its BLAS's: O differs by ~1e-7 relative).
  // At step 30, 1e-6 + 1e-5·|expected|: by then θ is near its target, g = (θ − target)·w is a small difference of
  // floats and an ulp of θ turns its direction, while Muon's step keeps its size γ' (it does not shrink with
  // g). Measured (the MESSAGE): 3.6e-7 up to step 10 (values of 1 to 2), 6.0e-7 at step 30.
  double worst_early = 0.0, worst_late = 0.0;
  for (const golden::OptimCase& c : golden::muon_cases) {
    CAPTURE(c.name);
    testing::Problem problem(kShapes);
    auto opt = testing::build<Muon, MuonOptions>(c, problem.params);
    size_t snapshot = 0;
    for (int t = 1; t <= c.steps.back(); ++t) {
      problem.set_gradients();
      opt->step();
      if (t != c.steps[snapshot]) continue;
      const bool late = t > 10;
      for (size_t p = 0; p < problem.params.size(); ++p) {
        std::vector<float> actual = problem.params[p].to_vector();
        for (size_t i = 0; i < actual.size(); ++i) {
          double error = std::fabs(actual[i] - c.params[snapshot][p][i]);
          (late ? worst_late : worst_early) = std::max(late ? worst_late : worst_early, error);
        }
        testing::check_close(actual, c.params[snapshot][p], late ? 1e-6f : 1e-7f, late ? 1e-5f : 1e-6f,
                             std::string(c.name) + ": param " + std::to_string(p) + " after step " + std::to_string(t));
      }
      ++snapshot;
    }
  }
  MESSAGE("largest difference from the restated canonical code: ", worst_early, " up to step 10, ", worst_late, " at step 30");
}

TEST_CASE("Newton–Schulz maps each singular value σ to p⁵(σ/‖G‖_F), inside the band [0.6818, 1.1344] from σ/‖G‖_F >= 0.0052") {
  const Quintic q;
  // The numbers muon.hpp quotes, derived from the coefficients.
  CHECK(q.low() == doctest::Approx(0.6818).epsilon(1e-4));
  CHECK(q.high() == doctest::Approx(1.1344).epsilon(1e-4));
  CHECK(q.tau(5) == doctest::Approx(0.0052).epsilon(0.02));
  Generator gen(18);
  const std::vector<Shape> shapes = {{16, 16}, {8, 32}, {40, 12}, {3, 50}};
  for (const Shape& shape : shapes)
    for (double condition : {1.0, 10.0, 100.0, 1e4}) {
      CAPTURE(shape_str(shape));
      CAPTURE(condition);
      Tensor g = conditioned(shape[0], shape[1], condition, gen) * 3.0f;  // the scale must not matter
      Eigen::VectorXd in = singular_values(g);
      const double frobenius = in.norm();
      Eigen::VectorXd out = singular_values(newton_schulz(g));
      std::vector<double> expected;
      int in_band = 0;
      for (Eigen::Index i = 0; i < in.size(); ++i) {
        const double x = in[i] / frobenius;
        expected.push_back(q.iterate(x, 5));
        if (x >= q.tau(5)) {
          CHECK(expected.back() >= q.low());
          CHECK(expected.back() <= q.high());
          ++in_band;
        }
      }
      std::sort(expected.rbegin(), expected.rend());  // p⁵ is not monotone: compare as sorted sets
      double worst = 0.0;
      for (Eigen::Index i = 0; i < out.size(); ++i) worst = std::max(worst, std::fabs(out[i] - expected[static_cast<size_t>(i)]));
      CAPTURE(worst);
      CHECK(worst < 2e-5);  // float32 products of numbers below 1.2, five steps
      if (condition <= 100.0) CHECK(in_band == in.size());  // then every singular value is in the band
      const int band_out = static_cast<int>(std::count_if(out.data(), out.data() + out.size(), [&](double s) {
        return s >= q.low() - 2e-5 && s <= q.high() + 2e-5;
      }));
      CHECK(band_out >= in_band);
    }
}

TEST_CASE("Newton–Schulz of a tall matrix is the transpose of that of its wide transpose, bit for bit") {
  Generator gen(3);
  for (const Shape& shape : std::vector<Shape>{{40, 12}, {9, 2}}) {
    Tensor tall = conditioned(shape[0], shape[1], 10.0, gen);
    CHECK(newton_schulz(tall).to_vector() == transpose(newton_schulz(transpose(tall))).to_vector());
    CHECK(newton_schulz(tall).shape() == tall.shape());
  }
  // Keller Jordan's ε placement and other coefficients go through the same code.
  Tensor square = conditioned(8, 8, 5.0, gen);
  Eigen::VectorXd one = singular_values(newton_schulz(square, {.a = 1.5, .b = -0.5, .c = 0.0, .steps = 30}));
  for (Eigen::Index i = 0; i < one.size(); ++i) CHECK(one[i] == doctest::Approx(1.0).epsilon(1e-4));  // the cubic converges to U Vᵀ
  check_error([] { newton_schulz(Tensor::zeros({2, 3, 4})); }, {"newton_schulz", "2-D", "[2, 3, 4]"});
  CHECK(newton_schulz(Tensor::zeros({3, 5})).to_vector() == Tensor::zeros({3, 5}).to_vector());  // ε: 0 stays 0
}

TEST_CASE("Muon's step does not depend on the gradient's scale, and its size is γ' times the band") {
  for (double scale : {1e-3, 1.0, 1e3}) {
    CAPTURE(scale);
    Tensor p = pattern({12, 4}, 1).requires_grad_(), reference = pattern({12, 4}, 1).requires_grad_();
    Muon muon({p}, {.learning_rate = 0.1, .weight_decay = 0.0});
    Muon unit({reference}, {.learning_rate = 0.1, .weight_decay = 0.0});
    p.set_grad(pattern({12, 4}, 4) * static_cast<float>(scale));
    reference.set_grad(pattern({12, 4}, 4));
    muon.step(), unit.step();
    testing::check_close(p, reference.to_vector(), 1e-6f, 1e-5f, "step at gradient scale");
    // Δθ = −γ √(12/4) O: its singular values are γ√3 times NS5's, all in the band here.
    Tensor delta = p.detach() - pattern({12, 4}, 1);
    Eigen::VectorXd s = singular_values(delta) / (0.1 * std::sqrt(3.0));
    for (Eigen::Index i = 0; i < s.size(); ++i) CHECK((s[i] >= Quintic{}.low() - 1e-4 && s[i] <= Quintic{}.high() + 1e-4));
  }
}

TEST_CASE("the two dialects and the two learning-rate adjustments differ where muon.hpp says") {
  auto first_step = [](MuonOptions o, const Shape& shape) {
    Tensor p = pattern(shape, 1).requires_grad_();
    Muon muon({p}, o);
    p.set_grad(pattern(shape, 4));
    muon.step();
    return (p.detach() - pattern(shape, 1)).to_vector();
  };
  for (const Shape& shape : kShapes) {
    CAPTURE(shape_str(shape));
    const double rows = static_cast<double>(shape[0]), cols = static_cast<double>(shape[1]);
    // Keller Jordan's: ‖·‖ + ε instead of max(‖·‖, ε), the scale on O before γ: one rounding apart here.
    // (Δθ is read off θ ~ 2, whose float32 ulp is 2.4e-7: hence atol 2.5e-7.)
    std::vector<float> pytorch = first_step({.learning_rate = 0.02, .weight_decay = 0.0}, shape);
    std::vector<float> keller = first_step(MuonOptions::keller_jordan_defaults(), shape);
    testing::check_close(keller, pytorch, 2.5e-7f, 1e-6f, "keller_jordan vs pytorch");
    // match_rms_adamw: γ' = 0.2 γ √max(n, m) instead of γ √max(1, n/m).
    std::vector<float> matched = first_step({.learning_rate = 0.02, .weight_decay = 0.0, .match_rms_adamw = true}, shape);
    const double ratio = 0.2 * std::sqrt(std::max(rows, cols)) / std::sqrt(std::max(1.0, rows / cols));
    for (float& v : pytorch) v = static_cast<float>(v * ratio);
    testing::check_close(matched, pytorch, 2.5e-7f, 1e-6f, "match_rms_adamw vs original");
  }
  // Decoupled decay with the unadjusted γ: a zero gradient leaves θ (1 − γλ) in both dialects.
  for (MuonOptions o : {MuonOptions{.learning_rate = 0.5, .weight_decay = 0.1},
                        MuonOptions{.learning_rate = 0.5, .weight_decay = 0.1, .keller_jordan = true}}) {
    Tensor p = pattern({12, 4}, 1).requires_grad_();
    Muon muon({p}, o);
    p.set_grad(Tensor::zeros({12, 4}));
    muon.step();
    std::vector<float> expected = pattern({12, 4}, 1).to_vector();
    for (float& v : expected) v *= static_cast<float>(1.0 - 0.5 * 0.1);
    CHECK(p.to_vector() == expected);
  }
}

TEST_CASE("Muon validates its hyperparameters and its parameters, naming them") {
  Tensor w = pattern({4, 3}, 1).requires_grad_();
  check_error([&] { Muon({w}, {.learning_rate = -1.0}); }, {"Muon", "learning_rate", "-1"});
  check_error([&] { Muon({w}, {.weight_decay = NAN}); }, {"Muon", "weight_decay", "nan"});
  check_error([&] { Muon({w}, {.momentum = -0.5}); }, {"Muon", "momentum", "-0.5"});
  check_error([&] { Muon({w}, {.eps = -1.0}); }, {"Muon", "eps", "-1"});
  check_error([&] { Muon({w}, {.ns_steps = 100}); }, {"Muon", "ns_steps", "100", "<= 99"});
  check_error([&] { Muon({w}, {.ns_steps = 2.5}); }, {"Muon", "ns_steps", "2.5", "whole number"});
  check_error([&] { Muon({w}, {.ns_b = INFINITY}); }, {"Muon", "ns_b", "inf"});
  check_error([&] { Muon({w}, {.match_rms_adamw = true, .keller_jordan = true}); }, {"Muon", "match_rms_adamw", "keller_jordan"});
  Tensor bias = pattern({5}, 2).requires_grad_(), conv = pattern({2, 3, 4}, 3).requires_grad_();
  check_error([&] { Muon({w, bias}); }, {"Muon", "parameter 1", "[5]", "1-D", "2-D"});
  check_error([&] { Muon({conv}); }, {"Muon", "parameter 0", "[2, 3, 4]", "3-D"});
  Muon muon({w});
  check_error([&] { muon.add_param_group({bias}); }, {"Muon", "[5]"});
  check_error([&] { muon.add_param_group({bias}, {{"learning_rate", 0.1}}); }, {"Muon", "[5]"});
  check_error([&] { muon.set_hyperparameter(0, "ns_steps", NAN); }, {"Muon", "ns_steps", "nan"});
  CHECK(muon.group_count() == 1);
}

TEST_CASE("Muon's state: one momentum_buffer per matrix, 4 bytes per parameter; explain traces an element") {
  testing::Problem problem(kShapes);
  Muon muon(problem.params);
  problem.set_gradients();
  muon.explain(problem.params[1], 7);
  muon.step();
  int64_t elements = 0;
  for (const Tensor& p : problem.params) {
    const ParamState* s = muon.state(p);
    REQUIRE(s != nullptr);
    CHECK(s->step == 1);
    CHECK(s->buffers.size() == 1);
    CHECK(s->buffers.at("momentum_buffer").shape() == p.shape());
    elements += p.numel();
  }
  REQUIRE(muon.state_bytes().size() == 1);
  CHECK(muon.state_bytes()[0].buffer == "momentum_buffer");
  CHECK(muon.state_bytes_total() == 4 * elements);
  const Explanation& e = muon.explanation();
  CHECK(e.step == 1);
  CHECK(e.get("momentum_buffer") == muon.state(problem.params[1])->buffers.at("momentum_buffer").data()[7]);
  CHECK(e.get("g") == problem.params[1].grad().data()[7]);
  CHECK(e.get("step_size") == doctest::Approx(1e-3 * std::sqrt(3.0)).epsilon(1e-6));  // tall 12 × 4
  CHECK(e.get("update") == doctest::Approx(-1e-3 * 0.1 * (pattern({12, 4}, 2).data()[7]) - e.get("step_size") * e.get("orthogonalized")).epsilon(1e-4));
}

TEST_CASE("Muon and MuonWithAuxAdamW resume from a state_dict and a checkpoint with the same bits") {
  testing::check_state_dict_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<Muon>(p); }, kShapes);
  testing::check_state_dict_round_trip(
      [](const std::vector<Tensor>& p) { return std::make_unique<Muon>(p, MuonOptions::keller_jordan_defaults()); }, kShapes);
  testing::check_state_dict_round_trip(
      [](const std::vector<Tensor>& p) {
        MuonParamSplit split{.muon = {p[0], p[1]}, .adamw = {p[2]}};
        return std::make_unique<MuonWithAuxAdamW>(split, MuonOptions{.learning_rate = 0.02}, AdamWOptions{.learning_rate = 0.01});
      },
      {{6, 10}, {12, 4}, {5}});
  testing::check_checkpoint_round_trip([](MLP& model) {
    return std::make_unique<MuonWithAuxAdamW>(split_muon_params(model.named_parameters(), {"layers.1"}),
                                              MuonOptions{.learning_rate = 0.02}, AdamWOptions{.learning_rate = 0.01});
  });
}

TEST_CASE("split_muon_params gives the hidden matrices to Muon and the rest to AdamW") {
  Generator gen(1);
  MLP model({64, 32, 16, 10}, gen);
  MuonParamSplit split = split_muon_params(model.named_parameters(), {"layers.2"});
  CHECK(split.muon_names == std::vector<std::string>{"layers.0.weight", "layers.1.weight"});
  CHECK(split.adamw_names == std::vector<std::string>{"layers.0.bias", "layers.1.bias", "layers.2.weight", "layers.2.bias"});
  CHECK(split.muon.size() == 2);
  CHECK(split.adamw.size() == 4);
  CHECK(split.muon[1].impl() == model.named_parameters()[2].second.impl());
  NamedTensors named = {{"tok_embed.weight", Tensor::zeros({50, 8})}, {"block.attn.weight", Tensor::zeros({8, 8})},
                        {"block.norm.weight", Tensor::zeros({8})}, {"head.weight", Tensor::zeros({50, 8})},
                        {"header.weight", Tensor::zeros({8, 8})}};
  split = split_muon_params(named, {"head"});
  CHECK(split.muon_names == std::vector<std::string>{"block.attn.weight", "header.weight"});  // "head" is not "header"
  CHECK(split.adamw_names == std::vector<std::string>{"tok_embed.weight", "block.norm.weight", "head.weight"});
  check_error([&] { split_muon_params(named, {"lm_head"}); }, {"split_muon_params", "'lm_head'", "head.weight"});
}

TEST_CASE("MuonWithAuxAdamW steps its Muon group as Muon and its AdamW group as AdamW, bit for bit") {
  testing::Problem combined({{6, 10}, {12, 4}, {5}}), separate({{6, 10}, {12, 4}, {5}});
  const MuonOptions mo{.learning_rate = 0.02, .weight_decay = 0.05, .nesterov = false};
  const AdamWOptions ao{.learning_rate = 0.01, .weight_decay = 0.1};
  MuonWithAuxAdamW both({.muon = {combined.params[0], combined.params[1]}, .adamw = {combined.params[2]}}, mo, ao);
  Muon muon({separate.params[0], separate.params[1]}, mo);
  AdamW adamw({separate.params[2]}, ao);
  CHECK(both.group_count() == 2);
  CHECK(both.hyperparameter(0, "use_muon") == 1.0);
  CHECK(both.hyperparameter(1, "use_muon") == 0.0);
  CHECK(both.learning_rate(1) == 0.01);
  for (int t = 0; t < 10; ++t) {
    combined.set_gradients(), separate.set_gradients();
    both.step(), muon.step(), adamw.step();
  }
  for (size_t p = 0; p < 3; ++p) CHECK(combined.params[p].to_vector() == separate.params[p].to_vector());
  // The state of both: 4 bytes per Muon parameter, 8 per AdamW parameter.
  CHECK(both.state_bytes_total() == muon.state_bytes_total() + adamw.state_bytes_total());
  CHECK(both.state_bytes_total() == 4 * (60 + 48) + 8 * 5);
  both.zero_grad();
  CHECK(!combined.params[0].grad().defined());
  check_error([&] { MuonWithAuxAdamW({.muon = {combined.params[2]}}); }, {"MuonWithAuxAdamW", "[5]", "2-D"});
  check_error([&] { MuonWithAuxAdamW({}); }, {"MuonWithAuxAdamW", "empty parameter list"});
}

TEST_CASE("Muon on the hidden weight and AdamW on the rest train an MLP on the UCI digits to >= 88% held-out accuracy") {
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  auto [train, test] = split(digits, 1400);
  for (bool keller : {false, true}) {
    CAPTURE(keller);
    Generator gen(0);
    MLP model({64, 32, 10}, gen);
    // layers.0.weight (32 × 64) to Muon; the output head layers.1 and the biases to AdamW.
    // Keller Jordan's defaults; PyTorch's dialect with Moonshot's match_rms_adamw, which lets Muon take AdamW's lr and decay.
    MuonOptions mo = keller ? MuonOptions::keller_jordan_defaults()
                            : MuonOptions{.learning_rate = 3e-3, .weight_decay = 0.01, .match_rms_adamw = true};
    MuonWithAuxAdamW opt(split_muon_params(model.named_parameters(), {"layers.1"}), mo, AdamWOptions{.learning_rate = 3e-3});
    testing::train_digits(model, opt, train);  // forward, backward, update: 50 rows a step
    NoGradGuard eval;
    double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
    double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
    CAPTURE(train_accuracy);
    CAPTURE(test_accuracy);
    MESSAGE("Muon (", std::string(keller ? "keller_jordan" : "pytorch, match_rms_adamw"), ") + AdamW digits: train ", train_accuracy, ", test ", test_accuracy);
    CHECK(train_accuracy >= 0.95);
    CHECK(test_accuracy >= 0.88);
  }
}

TEST_CASE("a Monitor records MuonWithAuxAdamW's state and memory, and its log and charts are written") {
  testing::check_monitored_run(
      [](MLP& m) { return std::make_unique<MuonWithAuxAdamW>(split_muon_params(m.named_parameters(), {"layers.1"}), MuonOptions{.learning_rate = 0.02}); },
      {.widths = {8, 6, 3}, .steps = 12, .buffers = {"exp_avg", "exp_avg_sq", "momentum_buffer"}, .each = [](int64_t, const Record& r) {
         int64_t bytes = 0;
         for (const StateMemory& m : r.memory) bytes += m.bytes;
         CHECK(bytes == 4 * 48 + 8 * (6 + 18 + 3));  // layers.0.weight (6 × 8) in Muon; the biases and the head in AdamW
         CHECK(r.update_norm > 0.0);
       }});
}
