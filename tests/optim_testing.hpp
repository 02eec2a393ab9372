// optim_testing.hpp — what the optimizer suites share: the golden problem of
// tests/reference/make_optim_golden.py, the loop that follows a golden
// trajectory, and the two resume checks (a state_dict mid-training, and a
// checkpoint file of an MLP), each of which must give the same bits afterwards;
// and the monitored run every optimizer must survive (its log and charts).
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>  // getpid: one file per test process

#include "checkpoint.hpp"
#include "reference/optim_golden.hpp"  // golden::OptimCase
#include "testing.hpp"

namespace testing {

// The parameters, targets and weights of reference/make_optim_golden.py: by default a 4×3 matrix and a
// 5-vector (plus a 2×3×4 tensor when batched); the gradient is g = (p − target) · weight, in float32.
struct Problem {
  std::vector<Tensor> params, targets, weights;
  explicit Problem(bool batched) : Problem(batched ? std::vector<Shape>{{4, 3}, {5}, {2, 3, 4}} : std::vector<Shape>{{4, 3}, {5}}) {}
  explicit Problem(const std::vector<Shape>& shapes) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      params.push_back(pattern(shapes[i], static_cast<int>(i) + 1).requires_grad_());
      targets.push_back(pattern(shapes[i], 5, 0.125f));
      Tensor w = pattern(shapes[i], 9);
      for (int64_t k = 0; k < w.numel(); ++k) w.data()[k] = std::fabs(w.data()[k]) + 0.5f;
      weights.push_back(w);
    }
  }
  void set_gradients() {  // g = (p - target) * weight, in float32 like the script
    NoGradGuard off;
    for (size_t i = 0; i < params.size(); ++i) params[i].set_grad((params[i].detach() - targets[i]) * weights[i]);
  }
};

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const golden::OptimCase&, const std::vector<Tensor>&)>;

// The case's optimizer with its groups: the first from the constructor, the rest added with default options,
// then every group's hyperparameters set from the case (so a case names only what differs from the defaults).
template <class Opt, class Options>
std::unique_ptr<Optimizer> build(const golden::OptimCase& c, const std::vector<Tensor>& params) {
  auto pick = [&](const golden::OptimGroup& g) {
    std::vector<Tensor> out;
    for (int i : g.params) out.push_back(params[static_cast<size_t>(i)]);
    return out;
  };
  auto opt = std::make_unique<Opt>(pick(c.groups[0]));
  for (size_t g = 1; g < c.groups.size(); ++g) opt->add_param_group(pick(c.groups[g]), Options{});
  for (size_t g = 0; g < c.groups.size(); ++g) opt->set_hyperparameters(g, c.groups[g].hyperparameters);
  return opt;
}

// Steps `problem` with the case's optimizer and compares the parameters at each of its snapshots:
// within atol + rtol·|expected| (the defaults allow a few float32 ulps per step; see test_optim.cpp).
inline void follow_golden(const golden::OptimCase& c, Problem& problem, const OptimizerFactory& make,
                          float atol = 1e-7f, float rtol = 1e-6f) {
  std::string case_name = c.name;
  CAPTURE(case_name);
  auto opt = make(c, problem.params);
  size_t snapshot = 0;
  for (int t = 1; t <= c.steps.back(); ++t) {
    problem.set_gradients();
    opt->step();
    if (t != c.steps[snapshot]) continue;
    for (size_t p = 0; p < problem.params.size(); ++p)
      check_close(problem.params[p], c.params[snapshot][p], atol, rtol,
                  std::string(c.name) + ": param " + std::to_string(p) + " after step " + std::to_string(t));
    ++snapshot;
  }
}

inline void follow_golden(const std::vector<golden::OptimCase>& cases, const OptimizerFactory& make,
                          float atol = 1e-7f, float rtol = 1e-6f) {
  for (const golden::OptimCase& c : cases) {
    Problem problem(c.batched);
    follow_golden(c, problem, make, atol, rtol);
  }
}

// The optimizer suites' UCI-digits run: `epochs` passes over `train` in minibatches of 50 rows, in order (no
// shuffling), each step zero_grad, forward (cross-entropy), backward, update.
inline void train_digits(Module& model, Optimizer& opt, const Dataset& train, int epochs = 20) {
  for (int epoch = 0; epoch < epochs; ++epoch)
    for (int64_t b = 0; b + 50 <= train.size(); b += 50) {
      opt.zero_grad();
      Tensor loss = cross_entropy(model.forward(rows(train.inputs, b, b + 50)), labels_of(train, b, b + 50));  // forward
      loss.backward();                                                                                       // backward
      opt.step();                                                                                            // update
    }
}

using ParamsFactory = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;

// Five steps, state_dict(), a fresh optimizer on a copy of the parameters loads it; five more steps of
// both must give the same bits. `shapes`: the problem's (default: the batched golden problem).
inline void check_state_dict_round_trip(const ParamsFactory& make,
                                        const std::vector<Shape>& shapes = {{4, 3}, {5}, {2, 3, 4}}) {
  Problem original(shapes);
  auto opt = make(original.params);
  for (int t = 0; t < 5; ++t) {
    original.set_gradients();
    opt->step();
  }
  StateDict saved = opt->state_dict();
  Problem resumed(shapes);
  for (size_t p = 0; p < resumed.params.size(); ++p) {
    NoGradGuard off;
    std::copy_n(original.params[p].data(), original.params[p].numel(), resumed.params[p].data());
  }
  auto fresh = make(resumed.params);
  fresh->load_state_dict(saved);
  for (int t = 0; t < 5; ++t) {
    original.set_gradients();
    resumed.set_gradients();
    opt->step();
    fresh->step();
  }
  CAPTURE(opt->name());
  for (size_t p = 0; p < original.params.size(); ++p) CHECK(original.params[p].to_vector() == resumed.params[p].to_vector());
}

// Five steps of an MLP 6-5-3, save_checkpoint, a differently initialised MLP and a fresh optimizer load it;
// five more steps of both must give the same bits. `make` receives the MLP and its parameters.
inline void check_checkpoint_round_trip(const std::function<std::unique_ptr<Optimizer>(MLP&)>& make) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("moments_optim_checkpoint_" + std::to_string(::getpid()) + ".safetensors")).string();
  Generator gen(5);
  MLP original({6, 5, 3}, gen);
  auto opt = make(original);
  Tensor x = pattern({4, 6}, 2), target = pattern({4, 3}, 7);
  auto train = [&](MLP& model, Optimizer& o, int steps) {
    for (int t = 0; t < steps; ++t) {
      o.zero_grad();
      mse_loss(model.forward(x), target).backward();
      o.step();
    }
  };
  train(original, *opt, 5);
  save_checkpoint(path, original, *opt, nullptr, {.step = 5});
  Generator other(99);  // another initialisation: the checkpoint must overwrite all of it
  MLP resumed({6, 5, 3}, other);
  auto fresh = make(resumed);
  CHECK(load_checkpoint(path, resumed, *fresh, nullptr).step == 5);
  train(original, *opt, 5);
  train(resumed, *fresh, 5);
  CAPTURE(opt->name());
  std::vector<Tensor> a = original.parameters(), b = resumed.parameters();
  for (size_t p = 0; p < a.size(); ++p) CHECK(a[p].to_vector() == b[p].to_vector());
  std::filesystem::remove(path);
}

// A monitored run, as every optimizer suite checks it: `steps` steps of an MSE regression on an MLP of
// `widths` (inputs and targets from pattern()), with a Monitor writing a CSV log. Every record names
// the optimizer's buffers (`buffers`, in the record's order, when given), counts the bytes
// state_bytes_total() counts and sees no non-finite value; the loss falls; the log has a header and
// a row per step; the trend, gradient-norm and memory charts are drawn. `each(step, record)` adds the
// optimizer's own checks. Returns the log's header, for checks of its columns.
struct MonitoredRun {
  std::vector<int64_t> widths = {6, 5, 3};
  int64_t steps = 10;
  std::vector<std::string> buffers = {};
  std::function<void(int64_t step, const Record& record)> each = nullptr;
};
inline std::string check_monitored_run(const std::function<std::unique_ptr<Optimizer>(MLP&)>& make,
                                       const MonitoredRun& run = {}) {
  const std::string stem = (std::filesystem::temp_directory_path() / ("moments_monitored_" + std::to_string(::getpid()))).string();
  const std::string csv = stem + ".csv";
  std::filesystem::remove(csv);
  Generator gen(3);
  MLP model(run.widths, gen);
  auto opt = make(model);
  CAPTURE(opt->name());
  Tensor x = pattern({8, run.widths.front()}, 2), target = pattern({8, run.widths.back()}, 7);
  {
    Monitor monitor(*opt, model.named_parameters(), {.csv_path = csv, .time_steps = false});
    for (int64_t step = 1; step <= run.steps; ++step) {
      opt->zero_grad();
      Tensor loss = mse_loss(model.forward(x), target);  // forward
      loss.backward();                                   // backward
      monitor.before_step();
      opt->step();                                       // update
      const Record* r = monitor.record(step, loss.item());
      REQUIRE(r != nullptr);
      if (!run.buffers.empty()) {
        std::vector<std::string> names;
        for (const auto& b : r->buffers) names.push_back(b.buffer);
        CHECK(names == run.buffers);
      }
      int64_t bytes = 0;
      for (const StateMemory& m : r->memory) bytes += m.bytes;
      CHECK(bytes == opt->state_bytes_total());
      CHECK(r->nonfinite.empty());
      CHECK(std::isfinite(r->update_norm));
      if (run.each) run.each(step, *r);
    }
    CHECK(monitor.history().back().loss < monitor.history().front().loss);
    save_trends_png(monitor, stem + "_trends.png", opt->name());
    save_grad_norms_png(monitor, stem + "_grads.png");
    save_memory_png({{opt->name(), opt.get()}}, stem + "_memory.png");
  }
  for (const char* chart : {"_trends.png", "_grads.png", "_memory.png"}) {
    CHECK(std::filesystem::file_size(stem + chart) > 1000);
    std::filesystem::remove(stem + chart);
  }
  std::ifstream in(csv);
  std::string header, line;
  std::getline(in, header);
  int64_t rows = 0;
  while (std::getline(in, line)) ++rows;
  CHECK(rows == run.steps);
  std::filesystem::remove(csv);
  return header;
}

// With g = 0 and zero state an optimizer with decoupled decay only shrinks θ, by the float32 (1 − ηλ) per
// step, bit for bit (Lion, Sophia-G: their step is 0 there). `make` builds it on {1.5, −2} with η = 0.1, λ = 0.5.
inline void check_decay_alone(const std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>& make, int steps) {
  Tensor p = Tensor::from({1.5f, -2.0f}).requires_grad_();
  auto opt = make({p});
  const float decay = static_cast<float>(1.0 - 0.1 * 0.5);
  float e0 = 1.5f, e1 = -2.0f;
  for (int t = 0; t < steps; ++t) {
    p.set_grad(Tensor::from({0.0f, 0.0f}));
    opt->step();
    e0 *= decay, e1 *= decay;
  }
  CHECK(p.data()[0] == e0);
  CHECK(p.data()[1] == e1);
}

}  // namespace testing
