// Suite `optim`: OneCycleLR and ReduceLROnPlateau against torch.optim.lr_scheduler
// (reference/schedule_golden.hpp, from make_schedule_golden.py), composed with
// several optimizers, and their bad input.
#include "reference/schedule_golden.hpp"
#include "testing.hpp"

using namespace moments;
using testing::check_error;

namespace {

// The optimizer of a golden case: every group over its own small tensor, as the script builds them.
struct Built {
  std::vector<Tensor> params{Tensor::zeros({3}).requires_grad_(), Tensor::zeros({2}).requires_grad_()};
  std::unique_ptr<Optimizer> optimizer;
};

template <class O>
void add_groups(Built& b, const golden::ScheduleCase& c) {
  std::vector<Tensor> first = c.groups.size() == 1 ? b.params : std::vector<Tensor>{b.params[0]};
  auto opt = std::make_unique<O>(first);
  opt->set_hyperparameters(0, c.groups[0]);
  if (c.groups.size() == 2) opt->add_param_group({b.params[1]}, c.groups[1]);
  b.optimizer = std::move(opt);
}

Built build(const golden::ScheduleCase& c) {
  Built b;
  std::string kind = c.optimizer;
  if (kind == "SGD") add_groups<SGD>(b, c);
  if (kind == "Adam") add_groups<Adam>(b, c);
  if (kind == "AdamW") add_groups<AdamW>(b, c);
  if (kind == "Adagrad") add_groups<Adagrad>(b, c);
  if (kind == "RMSprop") add_groups<RMSprop>(b, c);
  REQUIRE_MESSAGE(b.optimizer, "unknown optimizer ", kind);
  return b;
}

double option(const golden::ScheduleCase& c, const std::string& name) { return c.options.at(name); }

void check_step(const golden::ScheduleCase& c, const Optimizer& opt, size_t t, const std::string& momentum) {
  for (size_t g = 0; g < opt.group_count(); ++g) {
    CAPTURE(t);
    CAPTURE(g);
    CHECK(opt.learning_rate(g) == doctest::Approx(c.lr[t][g]).epsilon(1e-12));
    if (!momentum.empty()) CHECK(opt.hyperparameter(g, momentum) == doctest::Approx(c.momentum[t][g]).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("OneCycleLR follows torch.optim.lr_scheduler.OneCycleLR: rates and momentum at every step") {
  for (const golden::ScheduleCase& c : golden::one_cycle_cases) {
    std::string case_name = c.name;
    CAPTURE(case_name);
    Built b = build(c);
    OneCycleLR cycle(*b.optimizer, {.max_learning_rate = option(c, "max_learning_rate"),
                                    .total_steps = static_cast<int64_t>(option(c, "total_steps")),
                                    .pct_start = option(c, "pct_start"),
                                    .cosine = option(c, "cosine") != 0.0,
                                    .cycle_momentum = option(c, "cycle_momentum") != 0.0,
                                    .base_momentum = option(c, "base_momentum"),
                                    .max_momentum = option(c, "max_momentum"),
                                    .div_factor = option(c, "div_factor"),
                                    .final_div_factor = option(c, "final_div_factor"),
                                    .three_phase = option(c, "three_phase") != 0.0});
    const std::string& momentum = cycle.momentum_hyperparameter();
    CHECK(momentum == (option(c, "cycle_momentum") == 0.0 ? "" : c.optimizer == std::string("SGD") ||
                                                                     c.optimizer == std::string("RMSprop")
                                                                 ? "momentum"
                                                                 : "beta1"));
    check_step(c, *b.optimizer, 0, momentum);
    for (size_t t = 1; t + 1 < c.lr.size(); ++t) {
      cycle.step();
      check_step(c, *b.optimizer, t, momentum);
      CHECK(cycle.learning_rate_at(static_cast<int64_t>(t)) == b.optimizer->learning_rate(0));  // by formula
    }
    // The step after the last one (t = total_steps) keeps the final rate, where PyTorch extrapolates.
    double final_lr = b.optimizer->learning_rate(0);
    cycle.step();
    CHECK(b.optimizer->learning_rate(0) == doctest::Approx(option(c, "max_learning_rate") / option(c, "div_factor") /
                                                           option(c, "final_div_factor")));
    CHECK(b.optimizer->learning_rate(0) <= final_lr);
    // PyTorch allows total_steps steps; one more is an error, and changes nothing.
    double last = b.optimizer->learning_rate(0);
    check_error([&] { cycle.step(); }, {"OneCycleLR", "total_steps"});
    CHECK(b.optimizer->learning_rate(0) == last);
  }
}

TEST_CASE("ReduceLROnPlateau follows torch.optim.lr_scheduler.ReduceLROnPlateau on a noisy loss") {
  for (const golden::ScheduleCase& c : golden::plateau_cases) {
    std::string case_name = c.name;
    CAPTURE(case_name);
    Built b = build(c);
    std::vector<double> min_lrs{option(c, "min_learning_rate_0")};
    if (c.options.count("min_learning_rate_1")) min_lrs.push_back(option(c, "min_learning_rate_1"));
    ReduceLROnPlateau plateau(*b.optimizer, {.maximize = option(c, "maximize") != 0.0,
                                             .factor = option(c, "factor"),
                                             .patience = static_cast<int64_t>(option(c, "patience")),
                                             .threshold = option(c, "threshold"),
                                             .relative_threshold = option(c, "relative_threshold") != 0.0,
                                             .cooldown = static_cast<int64_t>(option(c, "cooldown")),
                                             .min_learning_rates = min_lrs});
    check_step(c, *b.optimizer, 0, "");
    int reductions = 0;
    for (size_t t = 1; t < c.lr.size(); ++t) {
      reductions += plateau.step(c.metrics[t - 1]);
      check_step(c, *b.optimizer, t, "");
    }
    CHECK(reductions >= 1);  // each case does reduce: the test would be empty otherwise
  }
}

TEST_CASE("OneCycle composes with every optimizer that has momentum or β1, and refuses the rest clearly") {
  Tensor p = Tensor::ones({2}).requires_grad_();
  NAdam nadam({p});
  OneCycleLR a(nadam, {.max_learning_rate = 0.01, .total_steps = 10});
  CHECK(a.momentum_hyperparameter() == "beta1");
  CHECK(nadam.hyperparameter(0, "beta1") == doctest::Approx(0.95));
  Adadelta adadelta({p});
  check_error([&] { OneCycleLR(adadelta, {.max_learning_rate = 0.1, .total_steps = 10}); },
              {"OneCycleLR", "Adadelta", "no momentum or beta1", "cycle_momentum = false"});
  OneCycleLR b(adadelta, {.max_learning_rate = 0.1, .total_steps = 10, .cycle_momentum = false});
  CHECK(adadelta.learning_rate(0) == doctest::Approx(0.1 / 25));
  check_error([&] { OneCycleLR(adadelta, {.max_learning_rate = 0.0, .total_steps = 10}); },
              {"OneCycleLR", "max_learning_rate", "> 0"});
  check_error([&] { OneCycleLR(adadelta, {.max_learning_rate = 0.1, .total_steps = 0}); },
              {"OneCycleLR", "total_steps"});
  check_error([&] { OneCycleLR(adadelta, {.max_learning_rate = 0.1, .total_steps = 10, .pct_start = 1.5}); },
              {"OneCycleLR", "pct_start", "1.5"});
  check_error([&] {
    OneCycleLR(adadelta, {.max_learning_rate = 0.1, .total_steps = 10, .pct_start = 1.0, .cycle_momentum = false});
  }, {"OneCycleLR", "zero length"});
  check_error([&] { ReduceLROnPlateau(adadelta, {.factor = 1.0}); }, {"ReduceLROnPlateau", "factor", "[0, 1)"});
  check_error([&] { ReduceLROnPlateau(adadelta, {.patience = -1}); }, {"ReduceLROnPlateau", "patience"});
  check_error([&] { ReduceLROnPlateau(adadelta, {.min_learning_rates = {0.1, 0.2}}); },
              {"ReduceLROnPlateau", "expected 1 or 1 min_learning_rates, got 2"});
  ReduceLROnPlateau plateau(adadelta, {.patience = 0});
  CHECK_FALSE(plateau.step(1.0));
  CHECK(plateau.step(std::nan("")));  // a NaN metric is no improvement
}
