// tests/test_update_hook.cpp — the monitor's hook (optim/optimizer.hpp, THE MONITOR'S HOOK). A step that a
// Monitor watches gives the same parameters and state, bit for bit, as one nobody watches, for every
// optimizer with the hook (SGD, Adam, AdamW, NAdam, RAdam, Adamax, Adagrad, Adadelta, Lion); the sums
// its loop fills equal those of a snapshot of θ; and the optimizers without it (listed below) keep the
// monitor's snapshot path.
//   meson test -C build --suite optim
#include <cstring>
#include <memory>

#include "testing.hpp"

using namespace moments;

namespace {

using Factory = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;
struct Case {
  const char* name;
  Factory make;
};

// Every loop with the hook, with the options that pick its other branches (momentum, amsgrad, decay).
const std::vector<Case>& hooked() {
  static const std::vector<Case> cases = {
      {"SGD", [](const auto& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1}); }},
      {"SGD nesterov", [](const auto& p) {
         return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
       }},
      {"Adam", [](const auto& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-2}); }},
      {"Adam amsgrad", [](const auto& p) {
         return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-2, .weight_decay = 0.1, .amsgrad = true});
       }},
      {"AdamW", [](const auto& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 1e-2, .weight_decay = 0.1}); }},
      {"NAdam", [](const auto& p) { return std::make_unique<NAdam>(p, NadamOptions{.learning_rate = 1e-2}); }},
      {"RAdam", [](const auto& p) { return std::make_unique<RAdam>(p, RadamOptions{.learning_rate = 1e-2}); }},
      {"Adamax", [](const auto& p) { return std::make_unique<Adamax>(p, AdamaxOptions{.learning_rate = 1e-2}); }},
      {"Adagrad", [](const auto& p) { return std::make_unique<Adagrad>(p, AdagradOptions{.learning_rate = 1e-2}); }},
      {"Adadelta", [](const auto& p) { return std::make_unique<Adadelta>(p, AdadeltaOptions{}); }},
      {"Lion", [](const auto& p) { return std::make_unique<Lion>(p, LionOptions{.learning_rate = 1e-3, .weight_decay = 0.1}); }},
  };
  return cases;
}

// The optimizers whose loops do not have the hook yet: the monitor copies θ before their steps. (So do Muon
// and MuonWithAuxAdamW, not listed here: Muon takes matrices only.)
const std::vector<Case>& not_hooked() {
  static const std::vector<Case> cases = {
      {"RMSprop", [](const auto& p) { return std::make_unique<RMSprop>(p, RmspropOptions{}); }},
      {"Adafactor", [](const auto& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{}); }},
      {"LAMB", [](const auto& p) { return std::make_unique<Lamb>(p, LambOptions{}); }},
      {"Adam8bit", [](const auto& p) { return std::make_unique<Adam8bit>(p, Adam8bitOptions{}); }},
      {"AdamMini", [](const auto& p) {
         NamedTensors named;
         for (size_t i = 0; i < p.size(); ++i) named.emplace_back("p" + std::to_string(i), p[i]);
         return std::make_unique<AdamMini>(named, AdamMiniOptions{});
       }},
      {"SophiaG", [](const auto& p) { return std::make_unique<SophiaG>(p, SophiaGOptions{}); }},
      {"AdamWScheduleFree", [](const auto& p) { return std::make_unique<AdamWScheduleFree>(p, ScheduleFreeOptions{}); }},
      {"Shampoo", [](const auto& p) { return std::make_unique<Shampoo>(p, ShampooOptions{}); }},
      {"SOAP", [](const auto& p) { return std::make_unique<SOAP>(p, SoapOptions{}); }},
  };
  return cases;
}

// A scalar, 13 elements (a tail of 5 after the groups of 8), a 37 × 29 matrix, and 70001 elements: three
// chunks of parallel_update (kElementsPerChunk = 32768), several blocks of kUpdateBlock, a ragged end.
// The optimizers without the hook get the three small ones (Shampoo's and SOAP's preconditioners of a
// 70001-vector would be 70001 × 70001).
std::vector<Shape> shapes(bool large = true) {
  if (!large) return {{1}, {13}, {37, 29}};
  return {{1}, {13}, {37, 29}, {70001}};
}

// Parameters of `shapes()` with the gradient g = (θ − target)·w (as tests/optim_testing.hpp's Problem).
struct Problem {
  std::vector<Tensor> params, targets, weights;
  explicit Problem(bool large = true) {
    std::vector<Shape> all = shapes(large);
    for (size_t i = 0; i < all.size(); ++i) {
      params.push_back(testing::pattern(all[i], static_cast<int>(i) + 1).requires_grad_());
      targets.push_back(testing::pattern(all[i], 5, 0.125f));
      Tensor w = testing::pattern(all[i], 9);
      for (int64_t k = 0; k < w.numel(); ++k) w.data()[k] = std::fabs(w.data()[k]) + 0.5f;
      weights.push_back(w);
    }
  }
  void set_gradients() {
    NoGradGuard off;
    for (size_t i = 0; i < params.size(); ++i) params[i].set_grad((params[i].detach() - targets[i]) * weights[i]);
  }
};

struct Run {
  std::vector<Tensor> params;
  std::unique_ptr<Optimizer> opt;
  std::vector<Record> records;
};

// Three steps with g = (θ − target)·w; on step 2 the scalar has no gradient (not stepped, not summed).
// `monitored`: a Monitor records every step.
Run run(const Factory& make, bool monitored, bool large = true) {
  Problem problem(large);
  Run r{problem.params, make(problem.params), {}};
  std::unique_ptr<Monitor> monitor = monitored ? std::make_unique<Monitor>(*r.opt) : nullptr;
  for (int64_t step = 1; step <= 3; ++step) {
    problem.set_gradients();
    if (step == 2) problem.params[0].zero_grad();
    if (monitor) monitor->before_step();
    r.opt->step();
    if (monitor) monitor->record(step, 1.0);
  }
  if (monitor) r.records = monitor->history();
  return r;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0;
}

// Parameters and every state buffer of `a` and `b` hold the same bits.
void check_identical(const char* name, const Run& a, const Run& b) {
  for (size_t i = 0; i < a.params.size(); ++i) {
    INFO(std::string(name) << ", parameter " << i << " (" << a.params[i].numel() << " elements)");
    CHECK(same_bits(a.params[i], b.params[i]));
    const ParamState *sa = a.opt->state(a.params[i]), *sb = b.opt->state(b.params[i]);
    REQUIRE((sa != nullptr) == (sb != nullptr));
    if (!sa) continue;
    CHECK(sa->step == sb->step);
    for (const auto& [buffer, t] : sa->buffers) {
      INFO("buffer " << buffer);
      CHECK(same_bits(t, sb->buffers.at(buffer)));
    }
  }
}

}  // namespace

TEST_CASE("a watched step gives the same parameters and state, bit for bit, as an unwatched one") {
  for (const Case& c : hooked()) check_identical(c.name, run(c.make, false), run(c.make, true));
  for (const Case& c : not_hooked()) check_identical(c.name, run(c.make, false, false), run(c.make, true, false));
}

TEST_CASE("which optimizers have the hook: sums_updates() says so") {
  Problem problem(false);
  for (const Case& c : hooked()) {
    INFO(std::string(c.name));
    CHECK(c.make(problem.params)->sums_updates());
  }
  for (const Case& c : not_hooked()) {
    INFO(std::string(c.name));
    CHECK_FALSE(c.make(problem.params)->sums_updates());
  }
}

TEST_CASE("the loop's sums equal those of a snapshot of θ, and do not depend on the thread count") {
  for (const Case& c : hooked()) {
    std::vector<UpdateSums> by_threads[2];
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Problem problem;
      auto opt = c.make(problem.params);
      problem.set_gradients();
      opt->step();  // a first step, so that the state is not zero
      problem.set_gradients();
      problem.params[0].zero_grad();  // not stepped: its entry stays empty
      std::vector<Tensor> before;
      for (const Tensor& p : problem.params) before.push_back(p.clone());
      std::vector<UpdateSums>& sums = by_threads[threads - 1];
      opt->watch_next_step(&sums);
      opt->step();
      REQUIRE(sums.size() == problem.params.size());
      CHECK_FALSE(sums[0].filled);
      for (size_t i = 1; i < sums.size(); ++i) {
        INFO(std::string(c.name) << ", parameter " << i << ", " << threads << " thread(s)");
        REQUIRE(sums[i].filled);
        UpdateSums snapshot;  // the monitor's pass without the hook, in one piece
        const Tensor& p = problem.params[i];
        add_update_sums(p.data(), before[i].data(), p.grad().data(), p.numel(), snapshot);
        CHECK(sums[i].theta2 == doctest::Approx(snapshot.theta2).epsilon(1e-6));
        CHECK(sums[i].grad2 == doctest::Approx(snapshot.grad2).epsilon(1e-6));
        CHECK(sums[i].delta2 == doctest::Approx(snapshot.delta2).epsilon(1e-5));
        CHECK(sums[i].delta_grad == doctest::Approx(snapshot.delta_grad).epsilon(1e-5));
        CHECK(snapshot.delta2 > 0);
        // Each state buffer of θ's size, found by its data, with its Σ|x| and max |x|.
        const ParamState* state = opt->state(p);
        int found = 0;
        for (const auto& [buffer, t] : state->buffers) {
          if (t.numel() != p.numel()) continue;
          for (int k = 0; k < sums[i].buffers; ++k) {
            if (sums[i].buffer_data[k] != t.data()) continue;
            INFO("buffer " << buffer);
            ++found;
            auto [abs_sum, abs_max] = abs_sum_and_max(t.data(), t.numel());
            CHECK(sums[i].abs_sum[k] == doctest::Approx(abs_sum).epsilon(1e-6));
            CHECK(sums[i].abs_max[k] == abs_max);
          }
        }
        CHECK(found == sums[i].buffers);
      }
    }
    set_num_threads(0);
    for (size_t i = 1; i < by_threads[0].size(); ++i) {
      INFO(std::string(c.name) << ", parameter " << i << ": 1 thread against 2");
      CHECK(std::memcmp(&by_threads[0][i].theta2, &by_threads[1][i].theta2, 4 * sizeof(double)) == 0);
    }
  }
}

TEST_CASE("with and without the hook the monitor records the same update statistics") {
  // Adam (the hook) against the same Adam steps measured through a snapshot: an optimizer that hides its hook.
  struct AdamWithoutHook : Adam {
    using Adam::Adam;
    bool sums_updates() const override { return false; }
  };
  auto with_hook = run([](const auto& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-2}); }, true);
  auto snapshot = run([](const auto& p) { return std::make_unique<AdamWithoutHook>(p, AdamOptions{.learning_rate = 1e-2}); }, true);
  REQUIRE(with_hook.records.size() == 3);
  REQUIRE(snapshot.records.size() == 3);
  for (size_t s = 0; s < 3; ++s) {
    const Record &a = with_hook.records[s], &b = snapshot.records[s];
    INFO("step " << b.step);
    CHECK(a.update_norm == doctest::Approx(b.update_norm).epsilon(1e-5));
    CHECK(a.update_ratio == doctest::Approx(b.update_ratio).epsilon(1e-5));
    CHECK(a.cosine == doctest::Approx(b.cosine).epsilon(1e-5));
    CHECK(a.grad_norm == doctest::Approx(b.grad_norm).epsilon(1e-6));
    CHECK(a.param_norm == doctest::Approx(b.param_norm).epsilon(1e-6));
    for (size_t i = 0; i < b.params.size(); ++i) {
      INFO("parameter " << i);
      CHECK(a.params[i].update_norm == doctest::Approx(b.params[i].update_norm).epsilon(1e-5));
      CHECK(a.params[i].grad_norm == doctest::Approx(b.params[i].grad_norm).epsilon(1e-6));
    }
    REQUIRE(a.buffers.size() == b.buffers.size());
    for (size_t k = 0; k < b.buffers.size(); ++k) {
      INFO("buffer " << b.buffers[k].buffer);
      CHECK(a.buffers[k].mean_abs == doctest::Approx(b.buffers[k].mean_abs).epsilon(1e-6));
      CHECK(a.buffers[k].max_abs == b.buffers[k].max_abs);
    }
  }
  // Step 2: the scalar had no gradient, so it did not move: Δθ = 0 either way.
  CHECK(with_hook.records[1].params[0].update_norm == 0.0);
  CHECK(snapshot.records[1].params[0].update_norm == 0.0);
}
