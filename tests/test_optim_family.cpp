// Suite `optim`: the family of Adam (Adagrad, RMSprop, Adadelta, Adamax, NAdam,
// RAdam) beyond their golden trajectories (test_optim.cpp): the invariants that
// tie them to each other and to their papers, their state, and their validation.
#include <cmath>
#include <filesystem>

#include "optim_testing.hpp"

using namespace moments;
using testing::check_error;
using testing::pattern;

namespace {

// A gradient for step t that changes from step to step and has elements of every size.
Tensor gradient_at(const Shape& shape, int t) { return pattern(shape, 3 * t + 1, 0.1f * static_cast<float>(1 + t % 4)); }

}  // namespace

TEST_CASE("Adam with β1 = 0 takes RMSprop's step (α = β2) with v bias-corrected, ε outside the root") {
  const double lr = 0.01, beta2 = 0.9, eps = 1e-8;
  Tensor a = pattern({6}, 1).requires_grad_(), r = pattern({6}, 1).requires_grad_();
  Adam adam({a}, {.learning_rate = lr, .beta1 = 0.0, .beta2 = beta2, .eps = eps});
  RMSprop rmsprop({r}, {.learning_rate = lr, .alpha = beta2, .eps = eps});
  for (int t = 1; t <= 60; ++t) {
    CAPTURE(t);
    Tensor g = gradient_at({6}, t);
    a.set_grad(g), r.set_grad(g);
    std::vector<float> a_before = a.to_vector(), r_before = r.to_vector();
    adam.step(), rmsprop.step();
    // The same second moment, bit for bit: v_t = β2 v_{t−1} + (1 − β2) g² in both.
    std::vector<float> v = adam.state(a)->buffers.at("exp_avg_sq").to_vector();
    REQUIRE(v == rmsprop.state(r)->buffers.at("square_avg").to_vector());
    double bias_correction2 = 1.0 - std::pow(beta2, t);
    for (int i = 0; i < 6; ++i) {
      double gi = g.data()[i];
      double adam_step = -lr * gi / (std::sqrt(v[i] / bias_correction2) + eps);  // m̂ = g when β1 = 0
      double rmsprop_step = -lr * gi / (std::sqrt(v[i]) + eps);
      CHECK(a.data()[i] - a_before[i] == doctest::Approx(adam_step).epsilon(1e-4));
      CHECK(r.data()[i] - r_before[i] == doctest::Approx(rmsprop_step).epsilon(1e-4));
      // The steps differ by the factor √(1 − β2^t): 0.32 at t = 1 (RMSprop's first steps are ~3x
      // larger), 0.999 by t = 60, when β2^t has all but vanished.
      if ((t == 1 || t == 60) && gi != 0.0)
        CHECK((a.data()[i] - a_before[i]) / (r.data()[i] - r_before[i]) ==
              doctest::Approx(std::sqrt(bias_correction2)).epsilon(1e-3));
    }
  }
}

TEST_CASE("Adamax's ∞-norm never falls faster than by β2 per step") {
  const double beta2 = 0.9;
  Tensor p = pattern({20}, 2).requires_grad_();
  Adamax adamax({p}, {.learning_rate = 0.01, .beta2 = beta2});
  std::vector<float> u_before(20, 0.0f);
  for (int t = 1; t <= 40; ++t) {
    // A spike at t = 5, then gradients 1000 times smaller: u must decay, no faster than β2^t.
    float scale = t == 5 ? 100.0f : (t < 5 ? 1.0f : 0.1f);
    p.set_grad(gradient_at({20}, t) * scale);
    adamax.step();
    std::vector<float> u = adamax.state(p)->buffers.at("exp_inf").to_vector();
    for (int i = 0; i < 20; ++i) {
      CAPTURE(t);
      CAPTURE(i);
      CHECK(u[i] >= static_cast<float>(beta2) * u_before[i]);
      CHECK(u[i] >= std::fabs(p.grad().data()[i]));
    }
    u_before = u;
  }
}

TEST_CASE("RAdam takes bias-corrected momentum steps while ρ_t ≤ 5, then rectified adaptive ones") {
  CHECK_FALSE(radam_rectification(0.999, 5).rectified);
  CHECK(radam_rectification(0.999, 5).rho_t == doctest::Approx(4.996).epsilon(1e-4));
  CHECK(radam_rectification(0.999, 6).rectified);
  CHECK(radam_rectification(0.999, 6).rect > 0.0);
  CHECK(radam_rectification(0.999, 6).rect < 0.1);  // the first adaptive steps are heavily damped
  CHECK(radam_rectification(0.999, 100000).rect == doctest::Approx(1.0).epsilon(1e-3));  // r_t → 1: Adam
  CHECK_FALSE(radam_rectification(0.5, 1000).rectified);  // ρ_∞ = 3: never tractable

  const double lr = 0.05, beta1 = 0.9;
  Tensor p = pattern({7}, 3).requires_grad_();
  RAdam radam({p}, {.learning_rate = lr, .beta1 = beta1});
  radam.explain(p, 2);
  for (int t = 1; t <= 8; ++t) {
    CAPTURE(t);
    p.set_grad(gradient_at({7}, t));
    std::vector<float> before = p.to_vector();
    radam.step();
    std::vector<float> m = radam.state(p)->buffers.at("exp_avg").to_vector();
    CHECK(radam.explanation().get("rectified") == (t >= 6 ? 1.0 : 0.0));
    if (t >= 6) continue;
    for (int i = 0; i < 7; ++i) {  // θ_t − θ_{t−1} = −α m̂_t, whatever v says
      double m_hat = m[i] / (1.0 - std::pow(beta1, t));
      CHECK(p.data()[i] - before[i] == doctest::Approx(-lr * m_hat).epsilon(1e-5));
    }
  }
}

TEST_CASE("Adagrad's step shrinks as 1/√(Σg²): a constant gradient gives steps η/√t") {
  Tensor p = Tensor::zeros({3}).requires_grad_();
  Adagrad adagrad({p}, {.learning_rate = 0.1});
  float previous = 0.0f;
  for (int t = 1; t <= 16; ++t) {
    p.set_grad(Tensor::from({2.0f, -0.5f, 10.0f}));
    adagrad.step();
    for (int i = 0; i < 3; ++i) {
      // After t steps of the same g: Σ = t g², step = η g / (√t |g|) = η/√t, for every |g|.
      CAPTURE(t);
      CAPTURE(i);
      CHECK(adagrad.state(p)->buffers.at("sum").data()[i] == doctest::Approx(t * std::pow(p.grad().data()[i], 2)));
    }
    float x = p.data()[0];
    CHECK(x - previous == doctest::Approx(-0.1 / std::sqrt(t)).epsilon(1e-5));
    CHECK(p.data()[2] == doctest::Approx(x).epsilon(1e-5));  // the same path for g = 2 and g = 10
    previous = x;
  }
}

TEST_CASE("Adadelta's first steps are about √ε in size, whatever the learning rate of the gradient") {
  Tensor p = Tensor::zeros({2}).requires_grad_();
  Adadelta adadelta({p}, {.rho = 0.9, .eps = 1e-6});
  p.set_grad(Tensor::from({1.0f, 1000.0f}));
  adadelta.step();
  // Δx_1 = √ε / √((1 − ρ) g² + ε) · g ≈ √ε / √(1 − ρ) for |g| ≫ √ε: the gradient's scale cancels.
  CHECK(p.data()[0] == doctest::Approx(-1e-3 / std::sqrt(0.1)).epsilon(1e-3));
  CHECK(p.data()[1] == doctest::Approx(p.data()[0]).epsilon(1e-3));
}

TEST_CASE("state: the buffers PyTorch names, counted in bytes") {
  Tensor w = Tensor::ones({16, 8}).requires_grad_();
  Tensor b = Tensor::ones({8}).requires_grad_();
  auto bytes_after_one_step = [&](Optimizer& opt) {
    w.set_grad(Tensor::full(w.shape(), 0.5f)), b.set_grad(Tensor::full(b.shape(), 0.5f));
    opt.step();
    std::map<std::string, int64_t> out;
    for (const StateMemory& row : opt.state_bytes()) out[row.buffer] += row.bytes;
    return out;
  };
  const int64_t n = 4 * (16 * 8 + 8);  // bytes of one float per parameter element
  using Bytes = std::map<std::string, int64_t>;
  Adagrad adagrad({w, b});
  CHECK(bytes_after_one_step(adagrad) == Bytes{{"sum", n}});
  RMSprop plain({w, b});
  CHECK(bytes_after_one_step(plain) == Bytes{{"square_avg", n}});
  RMSprop full({w, b}, {.momentum = 0.9, .centered = true});
  CHECK(bytes_after_one_step(full) == Bytes{{"grad_avg", n}, {"momentum_buffer", n}, {"square_avg", n}});
  Adadelta adadelta({w, b});
  CHECK(bytes_after_one_step(adadelta) == Bytes{{"acc_delta", n}, {"square_avg", n}});
  Adamax adamax({w, b});
  CHECK(bytes_after_one_step(adamax) == Bytes{{"exp_avg", n}, {"exp_inf", n}});
  NAdam nadam({w, b});
  CHECK(bytes_after_one_step(nadam) == Bytes{{"exp_avg", n}, {"exp_avg_sq", n}, {"mu_product", 2 * 4}});
  RAdam radam({w, b});
  CHECK(bytes_after_one_step(radam) == Bytes{{"exp_avg", n}, {"exp_avg_sq", n}});
  // NAdam's running product of μ_t: one float per parameter tensor, rounded to float32 as PyTorch keeps it.
  double mu1 = 0.9 * (1.0 - 0.5 * std::pow(0.96, 0.004)), mu2 = 0.9 * (1.0 - 0.5 * std::pow(0.96, 0.008));
  bytes_after_one_step(nadam);
  CHECK(nadam.state(w)->buffers.at("mu_product").item() == static_cast<float>(static_cast<float>(mu1) * static_cast<float>(mu2)));
}

TEST_CASE("the family explains one element's step with its own quantities") {
  Tensor p = Tensor::from({1.0f, -2.0f}).requires_grad_();
  auto explain = [&](Optimizer& opt, const std::vector<std::string>& names) {
    opt.explain(p, 1);
    p.set_grad(Tensor::from({0.5f, 3.0f}));
    float before = p.data()[1];
    opt.step();
    const Explanation& e = opt.explanation();
    CAPTURE(opt.name());
    CHECK(e.step == 1);
    for (const std::string& name : names) CHECK_NOTHROW((void)e.get(name));
    CHECK(e.get("update") == doctest::Approx(p.data()[1] - before));
    return e;
  };
  Adagrad adagrad({p}, {.learning_rate = 0.1});
  CHECK(explain(adagrad, {"g", "sum", "clr", "denom"}).get("sum") == doctest::Approx(9.0));
  RMSprop rmsprop({p}, {.centered = true});
  CHECK(explain(rmsprop, {"g", "square_avg", "grad_avg", "denom"}).get("grad_avg") == doctest::Approx(0.03));
  Adadelta adadelta({p});
  CHECK(explain(adadelta, {"square_avg", "rms_g", "rms_delta", "acc_delta"}).get("rms_delta") ==
        doctest::Approx(1e-3));
  Adamax adamax({p});
  CHECK(explain(adamax, {"m", "u", "step_size"}).get("u") == doctest::Approx(3.0));
  NAdam nadam({p});
  CHECK(explain(nadam, {"mu", "mu_next", "mu_product", "m", "v", "denom"}).get("mu") ==
        doctest::Approx(0.9 * (1 - 0.5 * std::pow(0.96, 0.004))));
  RAdam radam({p});
  CHECK(explain(radam, {"m_hat", "v", "rho_t", "rectified"}).get("rho_t") == doctest::Approx(1.0));
}

TEST_CASE("the family rejects invalid hyperparameters with torch.optim's conditions (and NaN)") {
  std::vector<Tensor> p{Tensor::ones({2}).requires_grad_()};
  const double nan = std::nan("");
  check_error([&] { Adagrad(p, {.learning_rate = -0.1}); }, {"Adagrad", "learning_rate", "-0.1"});
  check_error([&] { Adagrad(p, {.lr_decay = -1}); }, {"Adagrad", "lr_decay"});
  check_error([&] { Adagrad(p, {.weight_decay = -1}); }, {"Adagrad", "weight_decay"});
  check_error([&] { Adagrad(p, {.initial_accumulator_value = -1}); }, {"Adagrad", "initial_accumulator_value"});
  check_error([&] { Adagrad(p, {.eps = nan}); }, {"Adagrad", "eps", "nan"});
  check_error([&] { RMSprop(p, {.learning_rate = -1}); }, {"RMSprop", "learning_rate"});
  check_error([&] { RMSprop(p, {.alpha = -0.5}); }, {"RMSprop", "alpha", "-0.5"});
  check_error([&] { RMSprop(p, {.eps = -1}); }, {"RMSprop", "eps"});
  check_error([&] { RMSprop(p, {.weight_decay = -1}); }, {"RMSprop", "weight_decay"});
  check_error([&] { RMSprop(p, {.momentum = -0.9}); }, {"RMSprop", "momentum"});
  check_error([&] { Adadelta(p, {.learning_rate = -1}); }, {"Adadelta", "learning_rate"});
  check_error([&] { Adadelta(p, {.rho = 1.5}); }, {"Adadelta", "rho", "1.5", "[0, 1]"});
  check_error([&] { Adadelta(p, {.rho = nan}); }, {"Adadelta", "rho", "nan"});
  check_error([&] { Adadelta(p, {.eps = -1}); }, {"Adadelta", "eps"});
  check_error([&] { Adadelta(p, {.weight_decay = -1}); }, {"Adadelta", "weight_decay"});
  check_error([&] { Adamax(p, {.beta1 = 1.0}); }, {"Adamax", "beta1", "[0, 1)"});
  check_error([&] { Adamax(p, {.beta2 = -0.1}); }, {"Adamax", "beta2"});
  check_error([&] { Adamax(p, {.eps = -1}); }, {"Adamax", "eps"});
  check_error([&] { NAdam(p, {.momentum_decay = -1}); }, {"NAdam", "momentum_decay"});
  check_error([&] { NAdam(p, {.beta2 = 1.0}); }, {"NAdam", "beta2"});
  check_error([&] { NAdam(p, {.weight_decay = -1}); }, {"NAdam", "weight_decay"});
  check_error([&] { RAdam(p, {.beta1 = nan}); }, {"RAdam", "beta1", "nan"});
  check_error([&] { RAdam(p, {.learning_rate = -1}); }, {"RAdam", "learning_rate"});
  check_error([&] { RAdam(p, {.eps = -1}); }, {"RAdam", "eps"});
  // The edges torch.optim allows are allowed here too.
  CHECK_NOTHROW(Adadelta(p, {.rho = 1.0}));
  CHECK_NOTHROW(Adadelta(p, {.rho = 0.0}));
  CHECK_NOTHROW(RMSprop(p, {.learning_rate = 0.0, .alpha = 0.0, .eps = 0.0}));
  CHECK_NOTHROW(Adagrad(p, {.eps = 0.0}));
}

TEST_CASE("RMSprop: momentum or centering switched on mid-run starts its buffer at zero") {
  Tensor p = pattern({5}, 4).requires_grad_();
  RMSprop opt({p}, {.learning_rate = 0.01});
  p.set_grad(gradient_at({5}, 1));
  opt.step();
  CHECK(opt.state(p)->buffers.size() == 1);
  opt.set_hyperparameters(0, {{"momentum", 0.9}, {"centered", 1.0}});
  p.set_grad(gradient_at({5}, 2));
  opt.step();
  CHECK(opt.state(p)->buffers.size() == 3);
  // E[g] after one centered step from zero: (1 − α) g.
  CHECK(opt.state(p)->buffers.at("grad_avg").data()[0] == doctest::Approx(0.01 * gradient_at({5}, 2).data()[0]));
}

TEST_CASE("a group added without options inherits the constructor's, as in PyTorch") {
  Tensor w = Tensor::ones({2, 2}).requires_grad_(), b = Tensor::ones({2}).requires_grad_();
  Tensor n = Tensor::ones({3}).requires_grad_(), e = Tensor::ones({4}).requires_grad_();
  // torch: AdamW([w], lr=3e-4, weight_decay=0.1); opt.add_param_group({'params': [b]})
  AdamW opt({w}, {.learning_rate = 3e-4, .beta2 = 0.95, .weight_decay = 0.1});
  opt.add_param_group({b});
  CHECK(opt.hyperparameter(1, "learning_rate") == 3e-4);
  CHECK(opt.hyperparameter(1, "beta2") == 0.95);
  CHECK(opt.hyperparameter(1, "weight_decay") == 0.1);  // not AdamWOptions' 1e-2
  // torch: opt.add_param_group({'params': [n], 'weight_decay': 0.0}): the rest inherited
  opt.add_param_group({n}, {{"weight_decay", 0.0}});
  CHECK(opt.hyperparameter(2, "weight_decay") == 0.0);
  CHECK(opt.hyperparameter(2, "learning_rate") == 3e-4);
  CHECK(opt.hyperparameter(2, "beta2") == 0.95);
  // A full options struct is taken as given: its unnamed fields are the struct's defaults.
  opt.add_param_group({e}, AdamWOptions{.learning_rate = 1e-2});
  CHECK(opt.hyperparameter(3, "weight_decay") == 0.01);
  CHECK(opt.hyperparameter(3, "beta2") == 0.999);
  // Later changes to a group do not change what the next group inherits.
  opt.set_learning_rate(0, 1.0);
  Tensor z = Tensor::ones({1}).requires_grad_();
  opt.add_param_group({z});
  CHECK(opt.hyperparameter(4, "learning_rate") == 3e-4);
  // Overrides are checked by name and value; a failed add leaves the groups as they were.
  Tensor q = Tensor::ones({1}).requires_grad_();
  check_error([&] { opt.add_param_group({q}, {{"momentum", 0.9}}); }, {"AdamW", "add_param_group", "'momentum'"});
  check_error([&] { opt.add_param_group({q}, {{"beta1", 1.0}}); }, {"AdamW", "beta1", "1"});
  CHECK(opt.group_count() == 5);
  RMSprop rms({w}, {.learning_rate = 0.05, .momentum = 0.9, .centered = true});
  rms.add_param_group({b});
  CHECK(rms.hyperparameter(1, "momentum") == 0.9);
  CHECK(rms.hyperparameter(1, "centered") == 1.0);
}

TEST_CASE("a checkpoint of every member of the family resumes bit for bit (NAdam's Π_t included)") {
  auto check = [](const testing::ParamsFactory& make) {
    testing::check_checkpoint_round_trip([&](MLP& model) { return make(model.parameters()); });
  };
  using P = std::vector<Tensor>;
  check([](const P& p) { return std::make_unique<Adagrad>(p, AdagradOptions{.lr_decay = 0.1}); });
  check([](const P& p) { return std::make_unique<RMSprop>(p, RmspropOptions{.momentum = 0.9, .centered = true}); });
  check([](const P& p) { return std::make_unique<Adadelta>(p, AdadeltaOptions{}); });
  check([](const P& p) { return std::make_unique<Adamax>(p, AdamaxOptions{}); });
  check([](const P& p) { return std::make_unique<NAdam>(p, NadamOptions{.learning_rate = 0.01}); });
  check([](const P& p) { return std::make_unique<RAdam>(p, RadamOptions{.learning_rate = 0.01}); });
}
