// optim/check.hpp — check your own optimizer against moments' reference of the same name.
//
// What the project moments grew from set out to do: reproduce Adam, and know that it is reproduced.
// A learner's optimizer — written against the Optimizer base, or recorded from PyTorch as a file of
// parameters after each step (moments-check, tests/reference/record_optimizer.py) — and moments'
// reference with the same hyperparameters take the same steps: the same initial parameters, the same
// gradients. The check stops at the first step and element where the two differ by more than the
// tolerance, shows that element's explain() trace from both side by side, and names the classic
// mistake that reproduces the learner's numbers, when one of the catalog does.
//
// USAGE
//   auto mine = [](const std::vector<Tensor>& p) { return std::make_unique<MyAdamW>(p, AdamWOptions{}); };
//   CheckReport report = check_optimizer(mine, "AdamW", {{"learning_rate", 1e-3}, {"weight_decay", 0.1}});
//   std::cout << format_report(report);      // "matches", or the first divergence, the traces, the mistake
//
// THE GRADIENTS. Two parameters, [16, 8] and [8], start from N(0, 0.5²) (Generator(seed)); each element
// has a fixed scale between 1e-6 and 1 (log-uniform), and its gradient on each step is that scale times
// (0.5 + N(0, 1)). The tiny scales put some elements where ε matters (√v̂ near ε), so mistakes about ε
// show; gradients do not depend on the parameters, so both optimizers see exactly the same ones.
//
// THE TOLERANCE: |yours − reference| <= atol + rtol |reference|, per element, after every step. Two
// correct float implementations differ by rounding only (about 1e-7 relative); the mistakes of the
// catalog differ by a fraction of a learning rate.
//
// THE CATALOG (for the references Adam, AdamW and SGD), each a readable variant of the reference that
// makes one mistake; the first that reproduces the learner's parameters on every step to the tolerance
// names it: ε inside the square root; no bias correction; bias correction of m only; β1 and β2
// swapped; t never incremented; L2 on the gradient instead of decoupled decay (AdamW); decoupled decay
// instead of L2 (Adam); decoupled decay not multiplied by the learning rate (AdamW); the gradient's
// sign flipped; for SGD, weight decay added after the momentum instead of before it, and momentum ignored.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optimizer.hpp"

namespace moments {

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;

// moments' optimizer `name` ("SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax",
// "NAdam", "RAdam", "Lion") over `params`, its defaults replaced by `hyperparameters` (names as in
// its options struct). An unknown name or hyperparameter is an error that lists the known ones.
std::unique_ptr<Optimizer> make_reference(const std::string& name, const std::vector<Tensor>& params,
                                          const std::map<std::string, double>& hyperparameters = {});
std::vector<std::string> reference_names();

// What an optimizer did: its parameters before the first step, the gradient of each step, and the
// parameters after each step ([step][parameter], step 0 = the first).
struct Trajectory {
  std::vector<Tensor> initial;
  std::vector<std::vector<Tensor>> gradients, after;
};

struct CheckOptions {
  int64_t steps = 20;
  double rtol = 1e-5, atol = 1e-6;
  uint64_t seed = 0;
};

// The seeded problem above: the initial parameters and `steps` gradients (after is empty).
Trajectory check_problem(const CheckOptions& options = {});
// Runs the optimizer that `make` builds over copies of trajectory.initial on its gradients; fills `after`.
Trajectory replay(const OptimizerFactory& make, const Trajectory& problem);

struct Divergence {
  int64_t step = 0;  // 1-based
  size_t param = 0;
  int64_t index = 0;  // flat, row-major
  double before = 0, yours = 0, reference = 0;  // the element before that step, and after it
};

struct CheckReport {
  std::string reference;                        // the reference's name
  std::map<std::string, double> hyperparameters;  // as the reference ran (every one, defaults included)
  CheckOptions options;
  int64_t steps = 0;                            // steps compared
  double max_difference = 0;                    // the largest |yours − reference| over steps compared
  std::optional<Divergence> divergence;         // the first element beyond the tolerance, if any
  Explanation yours_trace, reference_trace;     // that element's trace at that step (yours may be empty)
  std::string likely_mistake;                   // the catalog entry that reproduces yours, or ""
};

// Your optimizer (built by `yours` over the parameters) against the reference on the seeded problem.
CheckReport check_optimizer(const OptimizerFactory& yours, const std::string& reference,
                            const std::map<std::string, double>& hyperparameters = {}, CheckOptions options = {});
// A recorded trajectory (from PyTorch, say) against the reference run on its own initial parameters and
// gradients. The recording has no trace of its own: yours_trace stays empty.
CheckReport check_trajectory(const Trajectory& yours, const std::string& reference,
                             const std::map<std::string, double>& hyperparameters = {}, CheckOptions options = {});

// The report as text: "matches ..." or the divergence, the two traces side by side (a mark on each line
// that differs), and the likely mistake.
std::string format_report(const CheckReport& report);

}  // namespace moments
