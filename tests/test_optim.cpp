// Suite `optim`: optimizers against PyTorch (reference/optim_golden.hpp),
// their invariants, validation, schedules and clipping.
//
// Tolerance for the golden trajectories: PyTorch's CPU kernels fuse some
// multiply-adds (AVX2 FMA) where moments rounds twice, so the two differ by a
// few float32 ulps per step; after 30 steps we allow 8 ulps relative
// (rtol 1e-6) plus 1e-7 absolute for values that cross zero.
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include "optim_testing.hpp"
#include "reference/family_golden.hpp"
#include "reference/optim_golden.hpp"

using namespace moments;
using testing::build;
using testing::check_close;
using testing::check_error;
using testing::follow_golden;
using testing::pattern;
using testing::Problem;

namespace {

std::unique_ptr<Optimizer> make_optimizer(const golden::OptimCase& c, const std::vector<Tensor>& params) {
  std::string kind = c.optimizer;
  if (kind == "SGD") return build<SGD, SgdOptions>(c, params);
  if (kind == "Adam") return build<Adam, AdamOptions>(c, params);
  if (kind == "AdamW") return build<AdamW, AdamWOptions>(c, params);
  if (kind == "Adafactor") return build<Adafactor, AdafactorOptions>(c, params);
  if (kind == "Adagrad") return build<Adagrad, AdagradOptions>(c, params);
  if (kind == "RMSprop") return build<RMSprop, RmspropOptions>(c, params);
  if (kind == "Adadelta") return build<Adadelta, AdadeltaOptions>(c, params);
  if (kind == "Adamax") return build<Adamax, AdamaxOptions>(c, params);
  if (kind == "NAdam") return build<NAdam, NadamOptions>(c, params);
  if (kind == "RAdam") return build<RAdam, RadamOptions>(c, params);
  FAIL("unknown optimizer ", kind);
  return nullptr;
}

}  // namespace

TEST_CASE("SGD, Adam, AdamW and Adafactor follow PyTorch's trajectories for 30 steps") {
  follow_golden(golden::optim_cases, make_optimizer);
}

TEST_CASE("Adagrad, RMSprop, Adadelta, Adamax, NAdam and RAdam follow torch.optim's trajectories for 30 steps") {
  follow_golden(golden::family_cases, make_optimizer);
}

// ---- invariants ---------------------------------------------------------------

TEST_CASE("AdamW with weight_decay 0 is Adam, bit for bit") {
  Problem a(false), b(false);
  Adam adam(a.params, {.learning_rate = 0.05, .amsgrad = true});
  AdamW adamw(b.params, {.learning_rate = 0.05, .weight_decay = 0.0, .amsgrad = true});
  for (int t = 0; t < 20; ++t) {
    a.set_gradients();
    b.set_gradients();
    adam.step();
    adamw.step();
  }
  for (size_t p = 0; p < a.params.size(); ++p) CHECK(a.params[p].to_vector() == b.params[p].to_vector());
}

TEST_CASE("a state_dict round trip mid-training gives exactly the same next steps") {
  auto check_round_trip = [](const testing::ParamsFactory& make) { testing::check_state_dict_round_trip(make); };
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1, .momentum = 0.9}); });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 0.05, .amsgrad = true}); });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 0.05}); });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{.beta1 = 0.9}); });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<Adagrad>(p, AdagradOptions{.lr_decay = 0.1}); });
  check_round_trip([](const std::vector<Tensor>& p) {
    return std::make_unique<RMSprop>(p, RmspropOptions{.momentum = 0.9, .centered = true});
  });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<Adadelta>(p, AdadeltaOptions{}); });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<Adamax>(p, AdamaxOptions{}); });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<NAdam>(p, NadamOptions{}); });
  check_round_trip([](const std::vector<Tensor>& p) { return std::make_unique<RAdam>(p, RadamOptions{}); });
}

TEST_CASE("a saved state_dict is a copy, and a mismatched one is rejected without changing anything") {
  Problem problem(false);
  Adam adam(problem.params, {.learning_rate = 0.1});
  problem.set_gradients();
  adam.step();
  StateDict saved = adam.state_dict();
  float m0 = saved.state.at(0).buffers.at("exp_avg").data()[0];
  problem.set_gradients();
  adam.step();
  CHECK(saved.state.at(0).buffers.at("exp_avg").data()[0] == m0);  // later steps do not reach the copy

  StateDict wrong_shape = saved;
  wrong_shape.state.at(1).buffers["exp_avg"] = Tensor::zeros({7});
  check_error([&] { adam.load_state_dict(wrong_shape); }, {"Adam", "parameter 1", "exp_avg", "[7]", "[5]"});
  StateDict missing = saved;
  missing.state.at(0).buffers.erase("exp_avg_sq");
  check_error([&] { adam.load_state_dict(missing); }, {"parameter 0", "exp_avg_sq"});
  StateDict bad_hyper = saved;
  bad_hyper.groups[0].hyperparameters["beta1"] = 1.5;
  check_error([&] { adam.load_state_dict(bad_hyper); }, {"Adam", "beta1", "1.5"});
  CHECK(adam.hyperparameter(0, "beta1") == 0.9);
  CHECK(adam.learning_rate(0) == doctest::Approx(0.1));
  StateDict extra_group = saved;
  extra_group.groups.push_back(saved.groups[0]);
  check_error([&] { adam.load_state_dict(extra_group); }, {"2 parameter groups", "has 1"});
  CHECK(adam.state(problem.params[0])->step == 2);  // untouched by the failed loads
}

TEST_CASE("load_state_dict refuses step counts that cannot be stepped, naming the parameter, and changes nothing") {
  auto check_refused = [](auto make) {
    Problem problem(false);
    auto opt = make(problem.params);
    problem.set_gradients();
    opt->step();
    StateDict saved = opt->state_dict();
    CAPTURE(opt->name());
    for (int64_t bad : {INT64_MAX, INT64_MAX - 1, kMaxStepCount, int64_t{-1}}) {
      CAPTURE(bad);
      StateDict dict = saved;
      dict.groups[0].hyperparameters["learning_rate"] = 0.5;  // would change, were the dict accepted
      dict.state.at(1).step = bad;                            // parameter 0's state is fine
      check_error([&] { opt->load_state_dict(dict); },
                  {opt->name(), "load_state_dict", "parameter 1", "group 0", std::to_string(bad)});
      CHECK(opt->state(problem.params[0])->step == 1);
      CHECK(opt->state(problem.params[1])->step == 1);
      CHECK(opt->learning_rate(0) != 0.5);
    }
    // The largest count that can be stepped loads, and its step gives finite weights.
    StateDict last = saved;
    last.state.at(1).step = kMaxStepCount - 1;
    opt->load_state_dict(last);
    problem.set_gradients();
    opt->step();
    CHECK(opt->state(problem.params[1])->step == kMaxStepCount);
    for (float x : problem.params[1].to_vector()) CHECK(std::isfinite(x));
    // One more step would pass the bound: refused before any parameter changes.
    std::vector<float> p0 = problem.params[0].to_vector(), p1 = problem.params[1].to_vector();
    problem.set_gradients();
    check_error([&] { opt->step(); }, {opt->name(), "step", "parameter 1", "group 0", std::to_string(kMaxStepCount)});
    CHECK(problem.params[0].to_vector() == p0);
    CHECK(problem.params[1].to_vector() == p1);
    CHECK(opt->state(problem.params[0])->step == 2);
  };
  check_refused([](const std::vector<Tensor>& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1, .momentum = 0.9}); });
  check_refused([](const std::vector<Tensor>& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 0.05}); });
  check_refused([](const std::vector<Tensor>& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 0.05}); });
  check_refused([](const std::vector<Tensor>& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{.beta1 = 0.9}); });
}

TEST_CASE("an optimizer or a parameter group with no parameters is refused, as in PyTorch") {
  const std::vector<Tensor> none;
  check_error([&] { SGD opt(none); }, {"SGD", "empty parameter list"});
  check_error([&] { Adam opt(none); }, {"Adam", "empty parameter list"});
  check_error([&] { AdamW opt(none); }, {"AdamW", "empty parameter list"});
  check_error([&] { Adafactor opt(none); }, {"Adafactor", "empty parameter list"});
  Tensor w = Tensor::ones({2}).requires_grad_();
  Adam opt({w});
  check_error([&] { opt.add_param_group(none, {}); }, {"Adam", "empty parameter list", "group 1"});
  CHECK(opt.group_count() == 1);
}

TEST_CASE("state_bytes counts the real buffers: Adafactor keeps n + m floats per matrix") {
  Tensor matrix = Tensor::ones({64, 32}).requires_grad_();
  Tensor vector = Tensor::ones({10}).requires_grad_();
  Tensor batch = Tensor::ones({3, 4, 5}).requires_grad_();
  for (Tensor p : {matrix, vector, batch}) p.set_grad(Tensor::full(p.shape(), 0.5f));
  Adafactor adafactor({matrix, vector, batch});
  CHECK(adafactor.state_bytes_total() == 0);  // lazily created at the first step
  adafactor.step();
  std::map<std::string, int64_t> by_buffer;
  for (const StateMemory& row : adafactor.state_bytes()) {
    CHECK(row.device == Device::cpu);
    by_buffer[row.buffer] += row.bytes;
  }
  CHECK(by_buffer.at("row_var") == 4 * (64 + 3 * 4));  // n per matrix
  CHECK(by_buffer.at("col_var") == 4 * (32 + 3 * 5));  // m per matrix
  CHECK(by_buffer.at("variance") == 4 * 10);           // a vector keeps all n
  CHECK(adafactor.state(matrix)->buffers.at("row_var").shape() == Shape{64, 1});
  CHECK(adafactor.state(batch)->buffers.at("col_var").shape() == Shape{3, 1, 5});

  Adam adam({matrix, vector});
  adam.step();
  CHECK(adam.state_bytes_total() == 2 * 4 * (64 * 32 + 10));  // m and v: 2 floats per element
  Adam ams({matrix}, {.amsgrad = true});
  ams.step();
  CHECK(ams.state_bytes_total() == 3 * 4 * 64 * 32);
  SGD plain({matrix});
  plain.step();
  CHECK(plain.state_bytes_total() == 0);  // no momentum, no buffer
}

TEST_CASE("Adafactor's update clipping caps the RMS of the update at d") {
  Generator gen(3);
  Tensor x = randn({8, 8}, gen).requires_grad_();
  for (double d : {1.0, 1.2}) {
    CAPTURE(d);
    Tensor p = x.clone().requires_grad_();
    // relative_step and scale_parameter off: α_t = learning_rate, so the step is lr · Û.
    Adafactor opt({p}, {.learning_rate = 0.01, .clip_threshold = d, .relative_step = false, .scale_parameter = false});
    opt.explain(p, 0);
    p.set_grad(randn({8, 8}, gen, 0.0f, 0.01f));  // small gradients first...
    opt.step();
    Tensor before = p.clone();
    p.set_grad(randn({8, 8}, gen, 0.0f, 10.0f));  // ...then large: V̂ lags behind, RMS(U) > d
    opt.step();
    CHECK(opt.explanation().get("rms_u") > d);
    CHECK(opt.explanation().get("clip") == doctest::Approx(opt.explanation().get("rms_u") / d));
    double sum = 0.0;
    for (int64_t k = 0; k < 64; ++k) sum += std::pow(p.data()[k] - before.data()[k], 2);
    CHECK(std::sqrt(sum / 64.0) == doctest::Approx(0.01 * d).epsilon(1e-5));  // RMS(α Û) = α d
  }
}

TEST_CASE("a zero gradient leaves parameters unchanged, except for decoupled decay") {
  auto run = [](auto&& make, float expected_factor) {
    Tensor p = pattern({4, 3}, 1).requires_grad_();
    Tensor before = p.clone();
    auto opt = make(p);
    for (int t = 0; t < 3; ++t) {
      p.set_grad(Tensor::zeros({4, 3}));
      opt->step();
    }
    CAPTURE(opt->name());
    for (int64_t k = 0; k < p.numel(); ++k)
      CHECK(p.data()[k] == doctest::Approx(before.data()[k] * expected_factor).epsilon(1e-6));
  };
  run([](Tensor p) { return std::make_unique<SGD>(std::vector{p}, SgdOptions{.learning_rate = 0.1, .momentum = 0.9}); }, 1.0f);
  run([](Tensor p) { return std::make_unique<Adam>(std::vector{p}, AdamOptions{.learning_rate = 0.1}); }, 1.0f);
  run([](Tensor p) { return std::make_unique<AdamW>(std::vector{p}, AdamWOptions{.learning_rate = 0.1, .weight_decay = 0.5}); },
      0.95f * 0.95f * 0.95f);
  run([](Tensor p) { return std::make_unique<Adafactor>(std::vector{p}, AdafactorOptions{}); }, 1.0f);
  run([](Tensor p) { return std::make_unique<Adafactor>(std::vector{p}, AdafactorOptions{.learning_rate = 0.1, .weight_decay = 0.5}); },
      0.95f * 0.95f * 0.95f);
}

TEST_CASE("parameters without a gradient are skipped and get no state") {
  Tensor a = Tensor::ones({3}).requires_grad_(), b = Tensor::ones({3}).requires_grad_();
  a.set_grad(Tensor::ones({3}));
  Adam adam({a, b}, {.learning_rate = 0.1});
  adam.step();
  CHECK(adam.state(a)->step == 1);
  CHECK(adam.state(b) == nullptr);
  CHECK(b.to_vector() == std::vector<float>{1, 1, 1});
  CHECK(a.to_vector() != std::vector<float>{1, 1, 1});
  adam.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("the explain trace reports Adam's quantities for one element") {
  Tensor p = Tensor::from({1.0f, -2.0f}).requires_grad_();
  Adam adam({p}, {.learning_rate = 0.1});
  adam.explain(p, 1);
  p.set_grad(Tensor::from({0.5f, 3.0f}));
  adam.step();
  const Explanation& e = adam.explanation();
  CHECK(e.step == 1);
  CHECK(e.get("g") == 3.0);
  CHECK(e.get("m") == doctest::Approx(0.1 * 3.0));         // (1 − β1) g
  CHECK(e.get("v") == doctest::Approx(0.001 * 9.0));       // (1 − β2) g²
  CHECK(e.get("m_hat") == doctest::Approx(3.0));           // m / (1 − β1): the gradient itself at t = 1
  CHECK(e.get("v_hat") == doctest::Approx(9.0).epsilon(1e-5));
  CHECK(e.get("update") == doctest::Approx(-0.1).epsilon(1e-5));  // −α g/|g| at t = 1
  check_error([&] { adam.explain(p, 2); }, {"explain", "element 2", "[2]"});
  check_error([&] { adam.explain(Tensor::ones({1}), 0); }, {"explain", "not one of this optimizer's parameters"});
  check_error([&] { (void)e.get("nope"); }, {"nope"});
}

// ---- validation ------------------------------------------------------------------

TEST_CASE("invalid hyperparameters are rejected at construction with PyTorch's conditions") {
  std::vector<Tensor> p{Tensor::ones({2}).requires_grad_()};
  check_error([&] { SGD(p, {.learning_rate = -0.1}); }, {"SGD", "learning_rate", "-0.1"});
  check_error([&] { SGD(p, {.momentum = -0.5}); }, {"SGD", "momentum", "-0.5"});
  check_error([&] { SGD(p, {.weight_decay = -1}); }, {"SGD", "weight_decay", "-1"});
  check_error([&] { SGD(p, {.momentum = 0.0, .nesterov = true}); }, {"SGD", "nesterov", "momentum 0"});
  check_error([&] { SGD(p, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}); }, {"SGD", "nesterov", "dampening 0.1"});
  check_error([&] { Adam(p, {.learning_rate = -1e-3}); }, {"Adam", "learning_rate", "-0.001"});
  check_error([&] { Adam(p, {.eps = -1e-8}); }, {"Adam", "eps", "-1e-08"});
  check_error([&] { Adam(p, {.beta1 = 1.0}); }, {"Adam", "beta1", "1", "[0, 1)"});
  check_error([&] { Adam(p, {.beta2 = -0.1}); }, {"Adam", "beta2", "-0.1"});
  check_error([&] { Adam(p, {.weight_decay = -0.1}); }, {"Adam", "weight_decay", "-0.1"});
  check_error([&] { AdamW(p, {.beta1 = std::nan("")}); }, {"AdamW", "beta1", "nan"});
  check_error([&] { AdamW(p, {.weight_decay = -0.01}); }, {"AdamW", "weight_decay"});
  check_error([&] { Adafactor(p, {.learning_rate = -1}); }, {"Adafactor", "learning_rate", "-1"});
  check_error([&] { Adafactor(p, {.beta2_decay = 0.5}); }, {"Adafactor", "beta2_decay", "0.5", "<= 0"});
  check_error([&] { Adafactor(p, {.eps1 = -1}); }, {"Adafactor", "eps1"});
  check_error([&] { Adafactor(p, {.eps2 = -1}); }, {"Adafactor", "eps2"});
  check_error([&] { Adafactor(p, {.clip_threshold = 0.5}); }, {"Adafactor", "clip_threshold", "0.5", ">= 1"});
  check_error([&] { Adafactor(p, {.weight_decay = -1}); }, {"Adafactor", "weight_decay"});
  check_error([&] { Adafactor(p, {.beta1 = 1.0}); }, {"Adafactor", "beta1"});
  // Zero learning rate and zero eps are allowed, as in PyTorch.
  CHECK_NOTHROW(Adam(p, {.learning_rate = 0.0, .eps = 0.0}));
  CHECK_NOTHROW(SGD(p, {.learning_rate = 0.0}));
  CHECK_NOTHROW(Adafactor(p, {.learning_rate = 0.0, .eps1 = 0.0, .eps2 = 0.0}));
}

TEST_CASE("a flag set by name must be 0 or 1: a plain cast would make 0.5 and NaN true") {
  std::vector<Tensor> p{Tensor::ones({2}).requires_grad_()};
  Adam adam(p);
  check_error([&] { adam.set_hyperparameter(0, "amsgrad", 0.5); }, {"Adam", "amsgrad", "flag", "0 or 1", "0.5"});
  check_error([&] { adam.set_hyperparameter(0, "maximize", std::nan("")); }, {"Adam", "maximize", "flag", "nan"});
  check_error([&] { adam.add_param_group({Tensor::ones({1}).requires_grad_()}, {{"amsgrad", 2.0}}); },
              {"Adam", "amsgrad", "flag", "2"});
  adam.set_hyperparameter(0, "amsgrad", 1.0);
  CHECK(adam.options(0).amsgrad);
}

TEST_CASE("parameter groups: own hyperparameters, no duplicates, leaves only") {
  Tensor w = Tensor::ones({2, 2}).requires_grad_(), b = Tensor::ones({2}).requires_grad_();
  AdamW opt({w}, {.learning_rate = 0.1});
  opt.add_param_group({b}, {.learning_rate = 0.1, .weight_decay = 0.0});  // no decay for the bias
  CHECK(opt.group_count() == 2);
  CHECK(opt.hyperparameter(0, "weight_decay") == 0.01);
  CHECK(opt.hyperparameter(1, "weight_decay") == 0.0);
  check_error([&] { opt.add_param_group({w}); }, {"AdamW", "more than one parameter group"});
  check_error([&] { opt.add_param_group({w * 2.0f}); }, {"AdamW", "not a leaf", "mul"});
  check_error([&] { opt.add_param_group({Tensor()}); }, {"AdamW", "undefined"});
  check_error([&] { opt.add_param_group({Tensor::ones({1})}, {.beta2 = 2.0}); }, {"AdamW", "beta2", "2"});
  check_error([&] { opt.set_hyperparameter(0, "momentum", 0.9); }, {"AdamW", "no hyperparameter named 'momentum'"});
  check_error([&] { opt.set_learning_rate(0, -1.0); }, {"AdamW", "learning_rate", "-1"});
  check_error([&] { (void)opt.params(5); }, {"AdamW", "group 5"});
  CHECK(opt.learning_rate(0) == 0.1);
}

// ---- schedules and clipping ---------------------------------------------------

TEST_CASE("schedules give the documented multipliers") {
  CHECK(constant_schedule()(123) == 1.0);
  Schedule warm = linear_warmup(4);
  CHECK(warm(0) == 0.25);
  CHECK(warm(3) == 1.0);
  CHECK(warm(10) == 1.0);
  Schedule cosine = warmup_cosine(2, 12, 0.1);
  CHECK(cosine(0) == 0.5);
  CHECK(cosine(2) == 1.0);
  CHECK(cosine(7) == doctest::Approx(0.55));  // halfway: 0.1 + 0.9 · ½
  CHECK(cosine(12) == doctest::Approx(0.1));
  CHECK(cosine(50) == doctest::Approx(0.1));
  Schedule steps = step_decay(3, 0.5);
  CHECK(steps(2) == 1.0);
  CHECK(steps(3) == 0.5);
  CHECK(steps(9) == 0.125);
  Schedule linear = linear_decay(10, 0.2);
  CHECK(linear(5) == doctest::Approx(0.6));
  CHECK(linear(20) == doctest::Approx(0.2));
  CHECK(multiply(linear_warmup(2), step_decay(1, 0.5))(1) == 0.5);
  check_error([] { warmup_cosine(10, 5); }, {"warmup_cosine", "total_steps 5", "warmup_steps 10"});
  check_error([] { step_decay(0, 0.5); }, {"step_decay", "step_size 0"});
  check_error([] { step_decay(2, 0.0); }, {"step_decay", "gamma 0"});
  check_error([] { linear_warmup(-1); }, {"linear_warmup", "warmup_steps -1"});
}

TEST_CASE("LrScheduler drives every group's learning rate from its own base") {
  Tensor a = Tensor::ones({2}).requires_grad_(), b = Tensor::ones({2}).requires_grad_();
  SGD sgd({a}, {.learning_rate = 0.1});
  sgd.add_param_group({b}, {.learning_rate = 0.01});
  LrScheduler sched(sgd, linear_warmup(2));
  CHECK(sgd.learning_rate(0) == doctest::Approx(0.05));  // f(0) = ½ already applied
  CHECK(sgd.learning_rate(1) == doctest::Approx(0.005));
  sched.step();
  CHECK(sgd.learning_rate(0) == doctest::Approx(0.1));
  CHECK(sched.last_step() == 1);
  LrScheduler decay(sgd, step_decay(1, 0.5));  // composes: its base is the current rate
  decay.step();
  CHECK(sgd.learning_rate(1) == doctest::Approx(0.005));
}

TEST_CASE("clip_grad_norm scales all gradients together; clip_grad_value clamps") {
  Tensor a = Tensor::ones({2}).requires_grad_(), b = Tensor::ones({1}).requires_grad_();
  a.set_grad(Tensor::from({3.0f, 0.0f}));
  b.set_grad(Tensor::from({4.0f}));
  double norm = clip_grad_norm({a, b}, 1.0);
  CHECK(norm == 5.0);
  CHECK(a.grad().at({0}) == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(b.grad().at({0}) == doctest::Approx(0.8).epsilon(1e-5));
  CHECK(clip_grad_norm({a, b}, 10.0) == doctest::Approx(1.0).epsilon(1e-5));  // under the cap: unchanged
  CHECK(b.grad().at({0}) == doctest::Approx(0.8).epsilon(1e-5));
  b.set_grad(Tensor::from({std::numeric_limits<float>::infinity()}));
  check_error([&] { clip_grad_norm({a, b}, 1.0, true); }, {"clip_grad_norm", "inf"});
  a.set_grad(Tensor::from({-5.0f, 0.5f}));
  clip_grad_value({a}, 1.0);
  CHECK(a.grad().to_vector() == std::vector<float>{-1.0f, 0.5f});
  check_error([&] { clip_grad_norm({a}, -1.0); }, {"clip_grad_norm", "max_norm -1"});
}

// ---- convergence ---------------------------------------------------------------

namespace {

using Params = std::vector<Tensor>;
using Factory = std::function<std::unique_ptr<Optimizer>(const Params&)>;

// Minimizes f from `start`; returns the final point.
std::vector<float> minimize(const std::function<Tensor(const Tensor&)>& f, std::vector<float> start, const Factory& make,
                            int steps) {
  Tensor p = Tensor::from(start).requires_grad_();
  auto opt = make({p});
  for (int t = 0; t < steps; ++t) {
    opt->zero_grad();  // forward, backward, update
    f(p).backward();
    opt->step();
  }
  return p.to_vector();
}

double distance(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::pow(static_cast<double>(a[i]) - b[i], 2);
  return std::sqrt(sum);
}

// f(x) = 1·(x0 − 1)² + 10·(x1 + 2)²: an ill-conditioned bowl with its minimum at (1, −2).
Tensor bowl(const Tensor& p) { return sum(Tensor::from({1.0f, 10.0f}) * pow(p - Tensor::from({1.0f, -2.0f}), 2.0f)); }

// Rosenbrock: f(x, y) = (1 − x)² + 100 (y − x²)², minimum at (1, 1) at the end of a curved valley.
Tensor rosenbrock(const Tensor& p) {
  Tensor x = slice(p, 0, 0, 1), y = slice(p, 0, 1, 2);
  return sum(pow(1.0f - x, 2.0f) + 100.0f * pow(y - x * x, 2.0f));
}

}  // namespace

TEST_CASE("every optimizer reaches the bottom of an ill-conditioned bowl (300 steps, within 1e-3)") {
  std::vector<std::pair<const char*, Factory>> cases = {
      {"SGD momentum", [](const Params& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.02, .momentum = 0.9}); }},
      {"Adam", [](const Params& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 0.1}); }},
      {"AdamW", [](const Params& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 0.1, .weight_decay = 0.0}); }},
      {"Adafactor", [](const Params& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{.learning_rate = 0.1}); }},
  };
  for (auto& [name, make] : cases) {
    CAPTURE(name);
    CHECK(distance(minimize(bowl, {-3.0f, 4.0f}, make, 300), {1.0f, -2.0f}) < 1e-3);
  }
}

TEST_CASE("every optimizer finds Rosenbrock's minimum from (-1.5, 2)") {
  struct Case {
    const char* name;
    Factory make;
    int steps;
    double tolerance;
  };
  std::vector<Case> cases = {
      {"SGD momentum", [](const Params& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 1e-3, .momentum = 0.9}); }, 5000, 1e-3},
      {"Adam", [](const Params& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 0.02}); }, 5000, 1e-3},
      {"AdamW", [](const Params& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 0.02, .weight_decay = 0.0}); }, 5000, 1e-3},
      // Without momentum, Adafactor's clipped, sign-like steps crawl along the valley as ρ_t = 1/√t shrinks.
      {"Adafactor", [](const Params& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{.learning_rate = 0.05}); }, 20000, 0.02},
      {"Adafactor β1 = 0.9", [](const Params& p) {
         return std::make_unique<Adafactor>(p, AdafactorOptions{.learning_rate = 0.02, .beta1 = 0.9, .relative_step = false, .scale_parameter = false});
       }, 5000, 1e-3},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::vector<float> end = minimize(rosenbrock, {-1.5f, 2.0f}, c.make, c.steps);
    CAPTURE(end[0]);
    CAPTURE(end[1]);
    CHECK(distance(end, {1.0f, 1.0f}) < c.tolerance);
  }
}

TEST_CASE("every optimizer trains an MLP on the UCI digits to >= 88% held-out accuracy") {
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  REQUIRE(digits.size() == 1797);
  auto [train, test] = split(digits, 1400);
  std::vector<std::pair<const char*, Factory>> cases = {
      {"SGD momentum", [](const Params& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1, .momentum = 0.9}); }},
      {"Adam", [](const Params& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 3e-3}); }},
      {"AdamW", [](const Params& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 3e-3}); }},
      {"Adafactor", [](const Params& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{}); }},
  };
  for (auto& [name, make] : cases) {
    CAPTURE(name);
    Generator gen(0);
    MLP model({64, 32, 10}, gen);
    auto opt = make(model.parameters());
    testing::train_digits(model, *opt, train);  // forward, backward, update: 50 rows a step
    NoGradGuard eval;
    double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
    double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
    CAPTURE(train_accuracy);
    CAPTURE(test_accuracy);
    CHECK(train_accuracy >= 0.95);
    CHECK(test_accuracy >= 0.88);
  }
}

TEST_CASE("the digits reader rejects malformed files, naming the line") {
  std::string path = (std::filesystem::temp_directory_path() / "moments_test_digits.csv").string();
  auto write = [&](const std::string& text) {
    std::ofstream(path) << text;
    return path;
  };
  std::string good;
  for (int i = 0; i < 64; ++i) good += "1,";
  check_error([] { load_digits_csv("/nonexistent/digits.csv"); }, {"load_digits_csv", "/nonexistent/digits.csv"});
  check_error([&] { load_digits_csv(write(good + "3\n" + good + "x\n")); }, {":2:", "'x'", "not an integer"});
  check_error([&] { load_digits_csv(write(good + "11\n")); }, {":1:", "label 11"});
  check_error([&] { load_digits_csv(write("1,2,3\n")); }, {":1:", "3 fields", "65"});
  check_error([&] { load_digits_csv(write("17," + good.substr(2) + "0\n")); }, {":1:", "pixel 0 is 17"});
  check_error([&] { load_digits_csv(write("")); }, {"no rows"});
  std::filesystem::remove(path);
}

TEST_CASE("tutorial 06's example follows PyTorch's Adam for 100 steps") {
  Tensor x = Tensor::from({3.0f}).requires_grad_();
  Adam adam({x}, {.learning_rate = 0.1});
  for (size_t t = 0; t < golden::adam_seed_example.size(); ++t) {
    adam.zero_grad();
    sum(pow(x, 4.0f) + 3.0f * pow(x, 3.0f) + 2.0f).backward();
    adam.step();
    CAPTURE(t + 1);
    CHECK(x.item() == doctest::Approx(golden::adam_seed_example[t]).epsilon(1e-6));
  }
  CHECK(x.item() == doctest::Approx(0.2464).epsilon(1e-4));  // the value tutorial 06 quotes
}

TEST_CASE("Adafactor's v2 loops follow the v1 reference loops for 10 steps") {
  // Shapes that reach every branch of v2: a row longer than its 1024-element
  // block with a ragged tail, more rows than one 64-row flush of the column
  // sums, a batch of matrices, and a vector (which v1 handles in both). Row 0
  // of the gradient is zero on odd steps, so V̂ hits PyTorch's ε1² floor there
  // (not in the paper's form: there R_0 = ε1 = 1e-30 makes v1's R_i C_j underflow
  // to 0 and 0/√0 a NaN, while v2's 1/√R_i · 1/√C_j stays finite).
  struct Setting {
    const char* name;
    AdafactorOptions options;
  };
  const std::vector<Setting> settings = {
      {"defaults", {}},
      {"momentum and weight decay", {.learning_rate = 0.05, .weight_decay = 0.1, .beta1 = 0.9}},
      {"the paper's eps1", {.eps1 = 1e-30, .eps1_in_square = true}},
      {"fixed step, maximize", {.learning_rate = 0.01, .relative_step = false, .scale_parameter = false, .maximize = true}},
      {"clipping at d = 1.5", {.clip_threshold = 1.5}},
  };
  const std::vector<Shape> shapes = {{3, 1030}, {130, 17}, {2, 5, 7}, {11}};
  for (const Setting& setting : settings) {
    std::string name = setting.name;
    CAPTURE(name);
    AdafactorOptions reference = setting.options;
    reference.reference_loops = true;
    std::vector<Tensor> fast_params, reference_params;
    for (size_t i = 0; i < shapes.size(); ++i) {
      fast_params.push_back(pattern(shapes[i], static_cast<int>(i) + 1).requires_grad_());
      reference_params.push_back(pattern(shapes[i], static_cast<int>(i) + 1).requires_grad_());
    }
    Adafactor fast(fast_params, setting.options), slow(reference_params, reference);
    for (int step = 1; step <= 10; ++step) {
      for (size_t i = 0; i < shapes.size(); ++i) {
        Tensor g = pattern(shapes[i], step + static_cast<int>(i), 0.01f * static_cast<float>(step));
        if (step % 2 == 1 && g.dim() >= 2 && !setting.options.eps1_in_square)
          for (int64_t j = 0; j < g.size(-1); ++j) g.data()[j] = 0.0f;
        fast_params[i].set_grad(g);
        reference_params[i].set_grad(g.clone());
      }
      fast.step();
      slow.step();
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      std::string where = std::string(setting.name) + ", shape " + shape_str(shapes[i]);
      check_close(fast_params[i], reference_params[i].to_vector(), 1e-6f, 1e-5f, where + ": parameters");
      for (const auto& [buffer, tensor] : slow.state(reference_params[i])->buffers) {
        std::vector<float> expected = tensor.to_vector();
        float largest = 0.0f;  // m sums α Û over steps, which may cancel: its error is relative to its scale
        for (float e : expected) largest = std::max(largest, std::fabs(e));
        check_close(fast.state(fast_params[i])->buffers.at(buffer), expected, 1e-5f * largest, 1e-5f, where + ": " + buffer);
      }
    }
    CHECK(fast.effective_learning_rate(0) == doctest::Approx(slow.effective_learning_rate(0)).epsilon(1e-5));
  }
}

TEST_CASE("Adafactor's v2 step gives the same bits on 1, 2 and 3 threads, and still follows v1") {
  // Shapes with several chunks in every pass: 300 rows of 1030 (5 groups of 64
  // rows for the column sums, 2 chunks of columns), a batch of 3 matrices 100 × 700
  // (chunks of columns that cross from one matrix to the next) and 5000 × 17
  // (narrow rows: many rows a chunk). Row 0 of the gradient is zero on odd steps,
  // as in the test above.
  struct Setting {
    const char* name;
    AdafactorOptions options;
  };
  const std::vector<Setting> settings = {
      {"defaults", {}},
      {"momentum and weight decay", {.learning_rate = 0.05, .weight_decay = 0.1, .beta1 = 0.9}},
      {"the paper's eps1", {.eps1 = 1e-30, .eps1_in_square = true}},
      {"clipping at d = 1.5, maximize", {.clip_threshold = 1.5, .maximize = true}},
  };
  const std::vector<Shape> shapes = {{300, 1030}, {3, 100, 700}, {5000, 17}};
  struct Run {
    std::vector<Tensor> params;
    std::unique_ptr<Adafactor> optimizer;
  };
  // Ten steps of one setting on `threads` threads (v1's loops with reference_loops).
  auto run = [&](const Setting& setting, int threads, bool reference_loops) {
    set_num_threads(threads);
    Run r;
    for (size_t i = 0; i < shapes.size(); ++i) r.params.push_back(pattern(shapes[i], static_cast<int>(i) + 1).requires_grad_());
    AdafactorOptions options = setting.options;
    options.reference_loops = reference_loops;
    r.optimizer = std::make_unique<Adafactor>(r.params, options);
    for (int step = 1; step <= 10; ++step) {
      for (size_t i = 0; i < shapes.size(); ++i) {
        Tensor g = pattern(shapes[i], step + static_cast<int>(i), 0.01f * static_cast<float>(step));
        if (step % 2 == 1 && !setting.options.eps1_in_square)
          for (int64_t j = 0; j < g.size(-1); ++j) g.data()[j] = 0.0f;
        r.params[i].set_grad(g);
      }
      r.optimizer->step();
    }
    set_num_threads(0);
    return r;
  };
  // Parameters, then every state buffer, as raw bytes.
  auto bytes_of = [](const Run& r) {
    std::vector<unsigned char> out;
    auto append = [&](const Tensor& t) {
      auto begin = reinterpret_cast<const unsigned char*>(t.data());
      out.insert(out.end(), begin, begin + t.numel() * static_cast<int64_t>(sizeof(float)));
    };
    for (const Tensor& p : r.params) {
      append(p);
      for (const auto& entry : r.optimizer->state(p)->buffers) append(entry.second);
    }
    return out;
  };
  for (const Setting& setting : settings) {
    std::string name = setting.name;
    CAPTURE(name);
    Run one = run(setting, 1, false);
    std::vector<unsigned char> expected = bytes_of(one);
    for (int threads : {2, 3}) {
      CAPTURE(threads);
      Run many = run(setting, threads, false);
      CHECK(bytes_of(many) == expected);
      CHECK(many.optimizer->effective_learning_rate(0) == one.optimizer->effective_learning_rate(0));
    }
    Run reference = run(setting, 1, true);  // v1, within the tolerances of the test above
    for (size_t i = 0; i < shapes.size(); ++i) {
      std::string where = name + ", shape " + shape_str(shapes[i]);
      check_close(one.params[i], reference.params[i].to_vector(), 1e-6f, 1e-5f, where + ": parameters");
      for (const auto& [buffer, tensor] : reference.optimizer->state(reference.params[i])->buffers) {
        std::vector<float> values = tensor.to_vector();
        float largest = 0.0f;
        for (float e : values) largest = std::max(largest, std::fabs(e));
        check_close(one.optimizer->state(one.params[i])->buffers.at(buffer), values, 1e-5f * largest, 1e-5f, where + ": " + buffer);
      }
    }
  }
}
