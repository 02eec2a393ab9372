// Suite `optim`: check_optimizer (optim/check.hpp) against optimizers written the way a learner
// writes them — against the Optimizer base, in double, one line per line of the paper — once right and
// once per classic mistake. The right ones must match; each wrong one must diverge and be named.
#include <cmath>
#include <string>

#include "optim_testing.hpp"

using namespace moments;
using testing::check_error;

namespace {

// The classic mistakes, as a learner's code makes them.
enum class Bug { none, eps_in_root, no_bias_correction, v_uncorrected, betas_swapped, t_not_counted,
                 l2_for_decoupled, decay_without_lr, ascent, lr_doubled };

// A learner's AdamW (decoupled = true) or Adam (false), in double, with `bug`.
class LearnerAdam : public OptimizerWith<AdamWOptions> {
 public:
  LearnerAdam(const std::vector<Tensor>& params, AdamWOptions o, bool decoupled, Bug bug) : decoupled_(decoupled), bug_(bug) {
    add_param_group(params, o);
  }
  std::string name() const override { return "LearnerAdam"; }

 protected:
  void validate(const AdamWOptions&) const override {}
  void init_state(const Tensor& p, ParamState& state, size_t) const override {
    state.buffers["m"] = Tensor::zeros(p.shape());
    state.buffers["v"] = Tensor::zeros(p.shape());
  }
  void update(Tensor& p, const Tensor& grad, ParamState& state, size_t group) override {
    const AdamWOptions& o = options_[group];
    double lr = bug_ == Bug::lr_doubled ? 2 * o.learning_rate : o.learning_rate;
    double b1 = bug_ == Bug::betas_swapped ? o.beta2 : o.beta1, b2 = bug_ == Bug::betas_swapped ? o.beta1 : o.beta2;
    double t = bug_ == Bug::t_not_counted ? 1.0 : static_cast<double>(state.step);
    for (int64_t i = 0; i < p.numel(); ++i) {
      double theta = p.data()[i], g = grad.data()[i];
      if (bug_ == Bug::ascent) g = -g;
      bool decay_decoupled = decoupled_ && bug_ != Bug::l2_for_decoupled;
      if (decay_decoupled) theta -= (bug_ == Bug::decay_without_lr ? 1.0 : lr) * o.weight_decay * theta;
      else g += o.weight_decay * theta;
      double m = b1 * state.buffers["m"].data()[i] + (1 - b1) * g;
      double v = b2 * state.buffers["v"].data()[i] + (1 - b2) * g * g;
      state.buffers["m"].data()[i] = static_cast<float>(m);
      state.buffers["v"].data()[i] = static_cast<float>(v);
      double m_hat = bug_ == Bug::no_bias_correction ? m : m / (1 - std::pow(b1, t));
      double v_hat = bug_ == Bug::no_bias_correction || bug_ == Bug::v_uncorrected ? v : v / (1 - std::pow(b2, t));
      double denom = bug_ == Bug::eps_in_root ? std::sqrt(v_hat + o.eps) : std::sqrt(v_hat) + o.eps;
      p.data()[i] = static_cast<float>(theta - lr * m_hat / denom);
      if (traced(p) && i == traced_index())
        explanation_ = {state.step, {{"g", g}, {"m", m}, {"v", v}, {"m_hat", m_hat}, {"v_hat", v_hat}, {"denom", denom}}};
    }
  }

 private:
  bool decoupled_;
  Bug bug_;
};

OptimizerFactory learner(bool decoupled, Bug bug, AdamWOptions o) {
  return [=](const std::vector<Tensor>& params) { return std::make_unique<LearnerAdam>(params, o, decoupled, bug); };
}

// A learner's SGD with momentum and weight decay; `late_decay` adds λθ after the momentum.
class LearnerSgd : public OptimizerWith<SgdOptions> {
 public:
  LearnerSgd(const std::vector<Tensor>& params, SgdOptions o, bool late_decay) : late_decay_(late_decay) {
    add_param_group(params, o);
  }
  std::string name() const override { return "LearnerSgd"; }

 protected:
  void validate(const SgdOptions&) const override {}
  void init_state(const Tensor& p, ParamState& state, size_t) const override { state.buffers["buf"] = Tensor::zeros(p.shape()); }
  void update(Tensor& p, const Tensor& grad, ParamState& state, size_t group) override {
    const SgdOptions& o = options_[group];
    float* buf = state.buffers["buf"].data();
    for (int64_t i = 0; i < p.numel(); ++i) {
      float theta = p.data()[i], g = grad.data()[i];
      if (!late_decay_) g += static_cast<float>(o.weight_decay) * theta;
      buf[i] = state.step == 1 ? g : static_cast<float>(o.momentum) * buf[i] + g;
      float d = late_decay_ ? buf[i] + static_cast<float>(o.weight_decay) * theta : buf[i];
      p.data()[i] = theta - static_cast<float>(o.learning_rate) * d;
    }
  }

 private:
  bool late_decay_;
};

const AdamWOptions kAdamW{.learning_rate = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
const std::map<std::string, double> kAdamWHyper = {{"learning_rate", 1e-3}, {"weight_decay", 0.1}};

}  // namespace

TEST_CASE("check: a learner's correct AdamW and Adam match moments' to the tolerance") {
  CheckReport w = check_optimizer(learner(true, Bug::none, kAdamW), "AdamW", kAdamWHyper);
  CHECK_FALSE(w.divergence);
  CHECK(w.steps == 20);
  CHECK(w.max_difference < 1e-6);
  CHECK(format_report(w).find("matches: every element of every step") != std::string::npos);
  CHECK(w.hyperparameters.at("weight_decay") == 0.1);
  CHECK(w.hyperparameters.at("beta2") == 0.999);  // the defaults the reference ran with are reported too
  CheckReport a = check_optimizer(learner(false, Bug::none, kAdamW), "Adam", kAdamWHyper);
  CHECK_FALSE(a.divergence);
}

TEST_CASE("check: each classic mistake diverges, and the catalog names it") {
  struct Case {
    bool decoupled;
    Bug bug;
    const char* reference;
    const char* named;
  };
  const Case cases[] = {
      {true, Bug::eps_in_root, "AdamW", "epsilon inside the square root"},
      {false, Bug::eps_in_root, "Adam", "epsilon inside the square root"},
      {true, Bug::no_bias_correction, "AdamW", "no bias correction"},
      {true, Bug::v_uncorrected, "AdamW", "bias correction of m only"},
      {true, Bug::betas_swapped, "AdamW", "beta1 and beta2 swapped"},
      {true, Bug::t_not_counted, "AdamW", "the step count t never increases"},
      {true, Bug::l2_for_decoupled, "AdamW", "L2 on the gradient"},
      {true, Bug::decay_without_lr, "AdamW", "decoupled decay without the learning rate"},
      {false, Bug::none, "AdamW", "L2 on the gradient"},  // Adam's L2 given where AdamW was meant
      {true, Bug::none, "Adam", "decoupled decay (AdamW's) instead of L2"},
      {true, Bug::ascent, "AdamW", "the gradient's sign flipped"},
  };
  for (const Case& c : cases) {
    CheckReport r = check_optimizer(learner(c.decoupled, c.bug, kAdamW), c.reference, kAdamWHyper);
    INFO(format_report(r));
    REQUIRE(r.divergence);
    CHECK(r.likely_mistake.find(c.named) == 0);
    std::string text = format_report(r);
    CHECK(text.find("first divergence: step ") != std::string::npos);
    CHECK(text.find("likely mistake: " + std::string(c.named)) != std::string::npos);
    CHECK(text.find("<- differs") != std::string::npos);  // the traces side by side show the line
    CHECK_FALSE(r.yours_trace.values.empty());
    CHECK_FALSE(r.reference_trace.values.empty());
  }
}

TEST_CASE("check: ε inside the root shows first on an element whose gradient is tiny, in the denominator") {
  CheckReport r = check_optimizer(learner(true, Bug::eps_in_root, kAdamW), "AdamW", kAdamWHyper);
  REQUIRE(r.divergence);
  CHECK(r.divergence->step == 1);
  // ε = 1e-8 inside the root: √(v̂ + ε) is 1e-4 or more, so the diverging element's |g| is far below that.
  CHECK(std::fabs(r.reference_trace.get("g")) < 1e-4);
  CHECK(r.yours_trace.get("denom") > 10 * r.reference_trace.get("denom"));
  CHECK(r.yours_trace.get("m") == doctest::Approx(r.reference_trace.get("m")).epsilon(1e-5));  // m still agrees
}

TEST_CASE("check: a mistake outside the catalog diverges and is not given a wrong name") {
  CheckReport r = check_optimizer(learner(true, Bug::lr_doubled, kAdamW), "AdamW", kAdamWHyper);
  REQUIRE(r.divergence);
  CHECK(r.likely_mistake.empty());
  CHECK(format_report(r).find("none of the catalog reproduces yours") != std::string::npos);
}

TEST_CASE("check: SGD with momentum; weight decay after the momentum is named") {
  SgdOptions o{.learning_rate = 0.01, .momentum = 0.9, .weight_decay = 0.05};
  std::map<std::string, double> h = {{"learning_rate", 0.01}, {"momentum", 0.9}, {"weight_decay", 0.05}};
  auto make = [&](bool late) {
    return [=](const std::vector<Tensor>& p) -> std::unique_ptr<Optimizer> { return std::make_unique<LearnerSgd>(p, o, late); };
  };
  CHECK_FALSE(check_optimizer(make(false), "SGD", h).divergence);
  CheckReport r = check_optimizer(make(true), "SGD", h);
  REQUIRE(r.divergence);
  CHECK(r.likely_mistake.find("weight decay added after the momentum buffer") == 0);
  CHECK(r.yours_trace.values.empty());  // this learner traces nothing: the report says so
  CHECK(format_report(r).find("(no trace)") != std::string::npos);
}

TEST_CASE("check: a recorded trajectory, and what it must hold") {
  Trajectory problem = check_problem({.steps = 5});
  Trajectory recorded = replay([](const std::vector<Tensor>& p) { return std::make_unique<AdamW>(p, AdamWOptions{}); }, problem);
  CHECK(recorded.after.size() == 5);
  CHECK_FALSE(check_trajectory(recorded, "AdamW").divergence);
  CheckReport r = check_trajectory(recorded, "AdamW", {{"weight_decay", 0.5}});
  REQUIRE(r.divergence);
  CHECK(r.yours_trace.values.empty());
  Trajectory short_one = recorded;
  short_one.after.pop_back();
  check_error([&] { check_trajectory(short_one, "AdamW"); }, {"check: the trajectory has 5 steps of gradients but 4"});
  Trajectory wrong_shape = recorded;
  wrong_shape.after[2][1] = Tensor::zeros({9});
  check_error([&] { check_trajectory(wrong_shape, "AdamW"); }, {"step 3, parameters 1: shape [9], expected [8]"});
  Trajectory no_after = problem;
  check_error([&] { check_trajectory(no_after, "AdamW"); }, {"no parameters after its steps"});
}

TEST_CASE("check: unknown references and hyperparameters are named") {
  auto adam = [](const std::vector<Tensor>& p) { return std::make_unique<Adam>(p, AdamOptions{}); };
  check_error([&] { check_optimizer(adam, "Adamm"); }, {"no reference optimizer named 'Adamm'", "Adam, AdamW", "SGD"});
  check_error([&] { check_optimizer(adam, "Adam", {{"lr", 1e-3}}); }, {"no hyperparameter named 'lr'"});
  check_error([&] { check_optimizer(adam, "Adam", {}, {.steps = 0}); }, {"steps must be at least 1, got 0"});
  check_error([&] { check_optimizer(adam, "Adam", {{"beta1", 1.5}}); }, {"beta1"});
  CHECK(reference_names().size() == 10);
}
