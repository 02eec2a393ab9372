// Suite `optim`: LAMB (lib/optim/lamb.hpp) against its restated canonical implementation (NVIDIA apex's
// FusedLAMB, tests/reference/make_lamb_golden.py), and the invariants of the paper and of apex's code:
// the trust ratio and its zero cases, global clipping across groups, the two places decay enters, state,
// validation, round trips, explain(), a monitor run and the UCI digits.
//   meson test -C build --suite optim
#include <cmath>
#include <filesystem>

#include "optim_testing.hpp"
#include "reference/lamb_golden.hpp"

using namespace moments;
using testing::check_error;
using testing::pattern;

namespace {

double norm(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += static_cast<double>(v) * v;
  return std::sqrt(s);
}

std::vector<float> difference(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] - b[i];
  return out;
}

}  // namespace

// The restatement sums its norms in float64 (pairwise, torch's order) and we in float64 by chunks: both
// round the norm to float32, so the trajectories agree to a few float32 ulps (the defaults: atol 1e-7,
// rtol 1e-6, as for torch.optim's own optimizers).
TEST_CASE("LAMB follows the restatement of apex's FusedLAMB for 30 steps") {
  testing::follow_golden(golden::lamb_cases, [](const golden::OptimCase& c, const std::vector<Tensor>& params) {
    return testing::build<Lamb, LambOptions>(c, params);
  });
}

TEST_CASE("each tensor's step is lr · ‖θ‖ long: the trust ratio ‖θ‖/‖u‖ scales Adam's direction") {
  // Two tensors of very different scales take steps of the same relative size lr.
  Tensor big = (pattern({8, 4}, 1) * 40.0f).requires_grad_(), small = (pattern({6}, 2) * 0.01f).requires_grad_();
  const double lr = 0.01;
  Lamb lamb({big, small}, {.learning_rate = lr, .weight_decay = 0.1, .max_grad_norm = 1e9});
  for (int t = 1; t <= 5; ++t) {
    CAPTURE(t);
    big.set_grad(pattern({8, 4}, t, 0.3f)), small.set_grad(pattern({6}, t + 3, 0.2f));
    std::vector<float> big_before = big.to_vector(), small_before = small.to_vector();
    lamb.step();
    CHECK(norm(difference(big.to_vector(), big_before)) == doctest::Approx(lr * norm(big_before)).epsilon(1e-5));
    CHECK(norm(difference(small.to_vector(), small_before)) == doctest::Approx(lr * norm(small_before)).epsilon(1e-5));
    const LambTrust& b = lamb.trust(big);
    CHECK(b.param_norm == doctest::Approx(norm(big_before)).epsilon(1e-6));
    CHECK(b.ratio == doctest::Approx(b.param_norm / b.update_norm).epsilon(1e-6));
    CHECK(lamb.trust_ratio(big) > 100 * lamb.trust_ratio(small));  // the big tensor's ratio is far larger
  }
}

TEST_CASE("the trust ratio's zero cases: θ = 0 or u = 0 gives a plain step of size lr (ratio 1)") {
  // θ = 0: ‖θ‖ = 0, so ratio 1 and the step is lr · u (Adam's first step: lr · sign(g) with λθ = 0).
  Tensor zero = Tensor::zeros({5}).requires_grad_();
  Lamb lamb({zero}, {.learning_rate = 0.1, .eps = 0.0, .max_grad_norm = 1e9});
  zero.set_grad(Tensor::from({1.0f, -2.0f, 3.0f, -4.0f, 0.5f}));
  lamb.step();
  CHECK(lamb.trust_ratio(zero) == 1.0);
  CHECK(lamb.trust(zero).param_norm == 0.0);
  std::vector<float> expected{-0.1f, 0.1f, -0.1f, 0.1f, -0.1f};
  testing::check_close(zero.to_vector(), expected, 1e-6f, 1e-5f, "θ = 0 after one step");
  // u = 0: a zero gradient, no decay, zero moments: u = 0, ratio 1, θ unchanged (with use_nvlamb so the ratio
  // would otherwise apply).
  Tensor p = pattern({5}, 3).requires_grad_();
  Lamb nv({p}, {.weight_decay = 0.0, .use_nvlamb = true});
  p.set_grad(Tensor::zeros({5}));
  std::vector<float> before = p.to_vector();
  nv.step();
  CHECK(nv.trust(p).update_norm == 0.0);
  CHECK(nv.trust_ratio(p) == 1.0);
  CHECK(p.to_vector() == before);
  // A zero-gradient step with decay: u = λθ alone, so ‖u‖ = λ‖θ‖, the ratio is 1/λ and θ shrinks by exactly lr.
  Tensor q = pattern({5}, 3).requires_grad_();
  Lamb decay({q}, {.learning_rate = 0.01, .weight_decay = 0.5});
  q.set_grad(Tensor::zeros({5}));
  std::vector<float> q_before = q.to_vector();
  decay.step();
  CHECK(decay.trust_ratio(q) == doctest::Approx(2.0).epsilon(1e-6));
  for (size_t i = 0; i < 5; ++i) CHECK(q.data()[i] == doctest::Approx(q_before[i] * 0.99).epsilon(1e-6));
}

TEST_CASE("with weight_decay 0 the ratio is skipped unless use_nvlamb; then LAMB's first step is Adam's") {
  Tensor a = pattern({7}, 1).requires_grad_(), b = pattern({7}, 1).requires_grad_();
  Lamb plain({a}, {.learning_rate = 0.01, .weight_decay = 0.0, .max_grad_norm = 1e9});
  Adam adam({b}, {.learning_rate = 0.01, .eps = 1e-6});
  for (int t = 1; t <= 10; ++t) {
    Tensor g = pattern({7}, t, 0.1f);
    a.set_grad(g), b.set_grad(g);
    plain.step(), adam.step();
    CHECK(plain.trust_ratio(a) == 1.0);
  }
  // Adam divides by √v/√(1 − β2^t) + ε and folds 1/(1 − β1^t) into the step; apex divides m and v: a few ulps.
  testing::check_close(a.to_vector(), b.to_vector(), 1e-6f, 1e-5f, "LAMB without decay vs Adam");
  Tensor c = pattern({7}, 1).requires_grad_();
  Lamb nv({c}, {.learning_rate = 0.01, .weight_decay = 0.0, .max_grad_norm = 1e9, .use_nvlamb = true});
  c.set_grad(pattern({7}, 1, 0.1f));
  nv.step();
  CHECK(nv.trust_ratio(c) != 1.0);
  CHECK(nv.trust_ratio(c) == doctest::Approx(nv.trust(c).param_norm / nv.trust(c).update_norm).epsilon(1e-6));
}

TEST_CASE("clipping: global over every group, only when ‖g‖ exceeds max_grad_norm, dividing by ‖g‖/max") {
  // Two groups; the norm is taken over both. G = ‖(3, 4)‖ = 5 with one element per group.
  Tensor x = Tensor::from({1.0f}).requires_grad_(), y = Tensor::from({1.0f}).requires_grad_();
  auto first_m = [&](double max_grad_norm) {
    Tensor x1 = x.detach().clone().requires_grad_(), y1 = y.detach().clone().requires_grad_();
    Lamb lamb({x1}, {.max_grad_norm = max_grad_norm});
    lamb.add_param_group({y1}, {{"learning_rate", 0.5}});
    x1.set_grad(Tensor::from({3.0f})), y1.set_grad(Tensor::from({4.0f}));
    lamb.step();
    CHECK(lamb.global_grad_norm() == doctest::Approx(5.0));
    return std::pair<float, float>{lamb.state(x1)->buffers.at("exp_avg").item(), lamb.state(y1)->buffers.at("exp_avg").item()};
  };
  // max 1: c = 5, g ← (0.6, 0.8), m = (1 − β1) g.
  auto [mx, my] = first_m(1.0);
  CHECK(mx == doctest::Approx(0.1 * 0.6).epsilon(1e-6));
  CHECK(my == doctest::Approx(0.1 * 0.8).epsilon(1e-6));
  // max 5 (G = max: not exceeded) and max 10: no clipping.
  CHECK(first_m(5.0).first == doctest::Approx(0.3).epsilon(1e-6));
  CHECK(first_m(10.0).second == doctest::Approx(0.4).epsilon(1e-6));
  // max 2.5: c = 2, g ← (1.5, 2).
  CHECK(first_m(2.5).second == doctest::Approx(0.2).epsilon(1e-6));
}

TEST_CASE("adam_w_mode: decay added to the update; L2 mode: decay added to the gradient, through m and v") {
  const float lambda = 0.5f;
  Tensor w = pattern({6}, 4).requires_grad_(), l = pattern({6}, 4).requires_grad_();
  Lamb decoupled({w}, {.weight_decay = lambda, .max_grad_norm = 1e9});
  Lamb l2({l}, {.weight_decay = lambda, .adam_w_mode = false, .max_grad_norm = 1e9});
  Tensor theta = w.detach().clone();
  Tensor g = pattern({6}, 7, 0.1f);
  w.set_grad(g), l.set_grad(g);
  decoupled.step(), l2.step();
  std::vector<float> m_w = decoupled.state(w)->buffers.at("exp_avg").to_vector();
  std::vector<float> m_l = l2.state(l)->buffers.at("exp_avg").to_vector();
  for (int64_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(m_w[static_cast<size_t>(i)] == doctest::Approx(0.1 * g.data()[i]).epsilon(1e-6));                             // m from g alone
    CHECK(m_l[static_cast<size_t>(i)] == doctest::Approx(0.1 * (g.data()[i] + lambda * theta.data()[i])).epsilon(1e-6));  // g + λθ
  }
  // The first step: u = sign-like m̂/√v̂ (+ λθ in adam_w_mode); the two modes move differently.
  CHECK(w.to_vector() != l.to_vector());
  CHECK(decoupled.trust(w).update_norm != doctest::Approx(l2.trust(l).update_norm));
}

TEST_CASE("LAMB's state: exp_avg and exp_avg_sq (8 bytes per element); the scratch u is not state") {
  Tensor w = Tensor::ones({16, 8}).requires_grad_();
  Tensor b = Tensor::ones({8}).requires_grad_();
  Lamb lamb({w, b});
  w.set_grad(Tensor::full(w.shape(), 0.5f)), b.set_grad(Tensor::full(b.shape(), 0.5f));
  lamb.step();
  std::map<std::string, int64_t> bytes;
  for (const StateMemory& row : lamb.state_bytes()) bytes[row.buffer] += row.bytes;
  const int64_t n = 4 * (16 * 8 + 8);
  CHECK(bytes == std::map<std::string, int64_t>{{"exp_avg", n}, {"exp_avg_sq", n}});
  CHECK(lamb.state_bytes_total() == 2 * n);
  CHECK(lamb.scratch_bytes() == 4 * 16 * 8);  // one float per element of the largest tensor
  check_error([&] { (void)lamb.trust_ratio(Tensor::ones({2})); }, {"LAMB", "trust_ratio", "not been stepped"});
}

TEST_CASE("LAMB rejects invalid hyperparameters (ours; apex refuses only amsgrad), naming them") {
  std::vector<Tensor> p{Tensor::ones({2}).requires_grad_()};
  const double nan = std::nan("");
  check_error([&] { Lamb(p, {.amsgrad = true}); }, {"LAMB", "amsgrad", "AMSGrad"});
  check_error([&] { Lamb(p, {.learning_rate = -0.1}); }, {"LAMB", "learning_rate", "-0.1"});
  check_error([&] { Lamb(p, {.beta1 = 1.0}); }, {"LAMB", "beta1", "[0, 1)"});
  check_error([&] { Lamb(p, {.beta2 = nan}); }, {"LAMB", "beta2", "nan"});
  check_error([&] { Lamb(p, {.eps = -1}); }, {"LAMB", "eps"});
  check_error([&] { Lamb(p, {.weight_decay = -0.01}); }, {"LAMB", "weight_decay", "-0.01"});
  check_error([&] { Lamb(p, {.max_grad_norm = 0.0}); }, {"LAMB", "max_grad_norm", "0", "> 0"});
  check_error([&] { Lamb(p, {.max_grad_norm = nan}); }, {"LAMB", "max_grad_norm", "nan"});
  Lamb ok(p);
  check_error([&] { ok.set_hyperparameter(0, "amsgrad", 1.0); }, {"LAMB", "amsgrad"});
  CHECK_NOTHROW(Lamb(p, {.max_grad_norm = INFINITY}));
  // apex's defaults.
  CHECK(ok.hyperparameter(0, "learning_rate") == 1e-3);
  CHECK(ok.hyperparameter(0, "eps") == 1e-6);
  CHECK(ok.hyperparameter(0, "weight_decay") == 0.01);
  CHECK(ok.hyperparameter(0, "max_grad_norm") == 1.0);
}

TEST_CASE("LAMB explains one element: g, the clipping, m, v, u, the trust ratio and the update") {
  Tensor p = Tensor::from({1.0f, -2.0f, 2.0f}).requires_grad_();
  Lamb lamb({p}, {.learning_rate = 0.1});
  lamb.explain(p, 1);
  p.set_grad(Tensor::from({0.0f, 3.0f, 4.0f}));
  float before = p.data()[1];
  lamb.step();
  const Explanation& e = lamb.explanation();
  CHECK(e.step == 1);
  CHECK(e.get("g") == 3.0);
  CHECK(e.get("global_grad_norm") == doctest::Approx(5.0));
  CHECK(e.get("clip") == doctest::Approx(5.0));
  CHECK(e.get("g_clipped") == doctest::Approx(0.6));
  CHECK(e.get("m") == doctest::Approx(0.06).epsilon(1e-6));
  CHECK(e.get("v") == doctest::Approx(0.001 * 0.36).epsilon(1e-5));
  CHECK(e.get("u") == doctest::Approx(1.0 + 0.01 * -2.0).epsilon(1e-5));  // m̂/(√v̂ + ε) ≈ 1, + λθ
  CHECK(e.get("trust_ratio") == doctest::Approx(e.get("param_norm") / e.get("update_norm")).epsilon(1e-6));
  CHECK(e.get("param_norm") == doctest::Approx(3.0));
  CHECK(e.get("step_size") == doctest::Approx(0.1 * e.get("trust_ratio")).epsilon(1e-6));
  CHECK(e.get("update") == doctest::Approx(p.data()[1] - before));
  CHECK(e.get("update") == doctest::Approx(-e.get("step_size") * e.get("u")).epsilon(1e-5));
}

TEST_CASE("LAMB resumes bit for bit from a state_dict and from a checkpoint") {
  testing::check_state_dict_round_trip(
      [](const std::vector<Tensor>& p) { return std::make_unique<Lamb>(p, LambOptions{.learning_rate = 0.01}); });
  testing::check_state_dict_round_trip([](const std::vector<Tensor>& p) {
    return std::make_unique<Lamb>(p, LambOptions{.learning_rate = 0.01, .adam_w_mode = false, .use_nvlamb = true});
  });
  testing::check_checkpoint_round_trip(
      [](MLP& model) { return std::make_unique<Lamb>(model.parameters(), LambOptions{.learning_rate = 0.01}); });
}

TEST_CASE("a Monitor run with LAMB: its log and charts work") {
  testing::check_monitored_run([](MLP& m) { return std::make_unique<Lamb>(m.parameters(), LambOptions{.learning_rate = 0.05}); },
                               {.steps = 20, .buffers = {"exp_avg", "exp_avg_sq"}});
}

TEST_CASE("LAMB trains an MLP on the UCI digits to >= 88% held-out accuracy (89.7%)") {
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  REQUIRE(digits.size() == 1797);
  auto [train, test] = split(digits, 1400);
  Generator gen(0);
  MLP model({64, 32, 10}, gen);
  // apex's defaults but lr (0.01 and 0.003 reach 87% here; batches of 50 are not the large batches LAMB is for).
  Lamb lamb(model.parameters(), {.learning_rate = 0.005});
  testing::train_digits(model, lamb, train);  // forward, backward, update: 50 rows a step
  NoGradGuard eval;
  double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
  double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
  MESSAGE("LAMB on the UCI digits: train ", train_accuracy, ", held-out ", test_accuracy, "; last global ‖g‖ ",
          lamb.global_grad_norm());
  for (const auto& [name, p] : model.named_parameters()) {  // the ratios differ by layer: what LAMB is for
    const LambTrust& t = lamb.trust(p);
    MESSAGE(name, ": ‖θ‖ ", t.param_norm, ", ‖u‖ ", t.update_norm, ", trust ratio ", t.ratio);
    CHECK(t.ratio == doctest::Approx(t.param_norm / t.update_norm).epsilon(1e-6));
  }
  CHECK(train_accuracy >= 0.95);
  CHECK(test_accuracy >= 0.88);
}
