// optim/optimizer.hpp — what every optimizer shares: parameter groups, lazily
// created per-parameter state, step counting, state dicts, state memory, and
// the per-element "explain" trace.
//
// USAGE
//   Adam adam(model.parameters(), {.learning_rate = 1e-3});
//   adam.add_param_group(no_decay_params, {{"weight_decay", 0.0}});   // the rest as given to the constructor
//   for (...) {
//     adam.zero_grad();        // gradients accumulate otherwise (see autograd.hpp)
//     loss.backward();
//     adam.step();             // runs under NoGradGuard; skips parameters without a grad
//   }
//   adam.state(p)->buffers.at("exp_avg");   // m for parameter p
//   for (auto& row : adam.state_bytes()) ... // bytes of state per buffer name and device
//
// An optimizer subclass provides three things: its options struct (with a
// visit() listing the hyperparameters), validate() with PyTorch's conditions,
// and init_state()/update(), the per-parameter algorithm. Everything else lives here.
//
// THE MONITOR'S HOOK (a reader of one optimizer may skip this: with no monitor attached it does nothing).
// A Monitor measures each step's update Δθ = θ_t − θ_{t−1} (its norm, ‖Δθ‖/‖θ‖, cos(Δθ, −g)) and the
// state after it (mean and max |m|, ...). Instead of copying θ before the step and reading θ, that copy,
// g and the state once more after it, it asks the step's own loop for the sums: watch_next_step(&sums)
// before step(), and the loop of each parameter fills sums[i] (UpdateSums, update_sums.hpp; i in
// all_params() order). In an optimizer with the hook, update() runs its CPU loop as
//     parallel_update(param,
//         [&](int64_t begin, int64_t end) { adam_update(theta + begin, ..., end - begin, s); },
//         [&](int64_t begin, int64_t end, UpdateSums& sums) { adam_update_watched(theta, ..., begin, end, s, sums); });
// Read the first lambda: parallel_update is parallel_for(n, kElementsPerChunk, body) when nobody watches,
// the readable loop and its per-element function as they are. The second runs only on watched steps:
// the same per-element function through watched_loop (update_sums.hpp), eight elements at a time in
// registers, the sums taken on the way; the compiler vectorizes it like the plain loop, and the sums
// cost almost nothing beside the step's divisions and square roots (tests/bench/bench_monitor). Each
// element goes through the same float operations either way, so parameters and state come out bit
// for bit the same (tests/test_update_hook.cpp checks every optimizer with the hook: sums_updates()
// returns true). The CUDA path and the optimizers without it leave `filled` false, and the monitor
// copies θ before their steps instead.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../parallel.hpp"
#include "../tensor.hpp"
#include "update_sums.hpp"

namespace moments {

// STEP COUNTS. t is an int64_t in [0, kMaxStepCount], kMaxStepCount = 2^53: the bias
// corrections (Adam's 1 − β^t, Adafactor's 1 − t^−0.8 and 1/√t) take t as a double, which
// holds every integer exactly up to 2^53 (past it, t + 1 rounds back to t), and t + 1 never
// comes near int64_t's overflow. A count below kMaxStepCount can be stepped; load_state_dict
// refuses any other (negative, or INT64_MAX, whose next step would overflow and turn every
// weight into NaN), and step() refuses to step a parameter already at kMaxStepCount.
inline constexpr int64_t kMaxStepCount = int64_t{1} << 53;

// One parameter's optimizer state: named buffers, its step count t, and named scalars.
// Scalars are per-step numbers that are not per element and must survive a resume, kept in
// double as the reference code keeps them in Python floats (schedule-free AdamW's "lr_max"
// and "weight_sum"); most optimizers have none. State dicts and checkpoints carry them, and
// load_state_dict takes them only with the names init_state creates and finite values.
struct ParamState {
  int64_t step = 0;                       // t: updates applied to this parameter so far
  std::map<std::string, Tensor> buffers;  // "exp_avg" (m), "exp_avg_sq" (v), "row_var" (R), ...
  std::map<std::string, double> scalars;  // "lr_max", "weight_sum", ... (empty for most)
};

// How ZeRO may split an optimizer's parameters across ranks (dist/zero.hpp), by what its update of one
// element reads:
//   elements  that element's gradient and state only (SGD, Adam, Lion, ...): any contiguous slice of the
//             flattened parameters steps exactly as inside the whole tensor;
//   tensors   the whole tensor (Adafactor's row and column means, Muon's orthogonalisation, LAMB's trust
//             ratio, 8-bit Adam's blocks): each tensor stays whole on one rank;
//   none      every gradient of the model (LAMB with global-norm clipping): no shard can step alone.
enum class Sharding { elements, tensors, none };

// Bytes held by one kind of state buffer on one device, from the real allocations.
struct StateMemory {
  std::string buffer;
  Device device;
  int64_t bytes;
};

// One element's trip through the last step, in the order the algorithm computes
// it (for Adam: g, m, v, m_hat, v_hat, denom, update). See Optimizer::explain.
struct Explanation {
  int64_t step = 0;  // t of the step that produced it (0: nothing traced yet)
  std::vector<std::pair<std::string, double>> values;
  double get(const std::string& name) const;  // throws if absent
};

// A copy of everything an optimizer knows: per group its hyperparameters and
// the (flat) indices of its parameters; per parameter index its state.
// Tensors are deep copies, so later steps do not change a saved dict.
struct StateDict {
  struct Group {
    std::map<std::string, double> hyperparameters;  // bools as 0 / 1
    std::vector<int64_t> params;
  };
  std::vector<Group> groups;
  std::map<int64_t, ParamState> state;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;

  // One update of every parameter that has a gradient (under NoGradGuard). If one
  // of them cannot be stepped (t = kMaxStepCount) it throws before updating any.
  void step();
  // Drops the gradient of every parameter (grad() becomes undefined).
  void zero_grad();

  size_t group_count() const { return groups_.size(); }
  const std::vector<Tensor>& params(size_t group) const;
  std::vector<Tensor> all_params() const;  // every group's, in order: the flat indices

  // Hyperparameters by name, per group ("learning_rate", "beta1", ...).
  virtual std::vector<std::pair<std::string, double>> hyperparameters(size_t group) const = 0;
  double hyperparameter(size_t group, const std::string& name) const;
  // Sets several at once, then validates the group as a whole (e.g. SGD's
  // nesterov needs momentum > 0); on error nothing changes.
  virtual void set_hyperparameters(size_t group, const std::map<std::string, double>& values) = 0;
  void set_hyperparameter(size_t group, const std::string& key, double value) { set_hyperparameters(group, {{key, value}}); }
  double learning_rate(size_t group) const { return hyperparameter(group, "learning_rate"); }
  // The step size actually applied in the last step: the learning rate for
  // most optimizers; Adafactor's α_t = ρ_t · max(ε2, RMS(θ)) (mean over the group).
  virtual double effective_learning_rate(size_t group) const { return learning_rate(group); }
  void set_learning_rate(size_t group, double value) { set_hyperparameter(group, "learning_rate", value); }

  // The state of `param`, or nullptr before its first step.
  const ParamState* state(const Tensor& param) const;
  // Bytes per (buffer name, device), summed over parameters; and their total.
  std::vector<StateMemory> state_bytes() const;
  int64_t state_bytes_total() const;

  StateDict state_dict() const;
  // Restores hyperparameters and state. The groups must hold the same number
  // of parameters, every buffer must have the shape this optimizer would
  // create for its parameter, the scalars the names it would create and finite
  // values, and every step count must be in [0, kMaxStepCount);
  // the first mismatch is named in the error. All or nothing: a refused dict
  // leaves the optimizer as it was.
  void load_state_dict(const StateDict& dict);

  // THE MONITOR'S HOOK: the next step() fills sums[i] for all_params()[i] where the hook runs (the CPU
  // loops of an optimizer whose sums_updates() is true) and resets every other entry to filled = false;
  // after that step nothing is watched until the next call. nullptr: watch nothing.
  void watch_next_step(std::vector<UpdateSums>* sums) { watch_ = sums; }
  // Whether this optimizer's CPU loops fill UpdateSums (parameters on Device::cuda never do).
  virtual bool sums_updates() const { return false; }

  // What a ZeRO shard may hold of a parameter (see Sharding). The default is the safe one for an algorithm
  // that looks at whole tensors; element-wise optimizers say `elements`.
  virtual Sharding sharding() const { return Sharding::tensors; }

  // Trace element `index` (flat, row-major) of `param` on every following step.
  void explain(const Tensor& param, int64_t index);
  const Explanation& explanation() const { return explanation_; }

 protected:
  // Appends a group (the options are stored by the subclass). Rejects an empty
  // list (PyTorch: "optimizer got an empty parameter list"), undefined tensors,
  // non-leaves, and parameters already in a group.
  void add_params(const std::vector<Tensor>& params);

  // Creates the buffers of `param`'s state (called at its first step).
  virtual void init_state(const Tensor& param, ParamState& state, size_t group) const = 0;
  // Applies one update; state.step has already been incremented to t.
  virtual void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) = 0;
  // Called by step() once the step counts are checked and before the first update(): for what needs every
  // gradient at once (LAMB's global gradient norm). The default does nothing.
  virtual void begin_step() {}
  // The state of `param` (of group `group`), created by init_state if it has none yet: what step() does before
  // update(), for the work an optimizer does outside step() (SophiaG::update_hessian).
  ParamState& state_or_init(const Tensor& param, size_t group);

  // For update(): runs the CPU loop body(begin, end) over [0, param.numel()) by chunks, exactly
  // parallel_for(param.numel(), kElementsPerChunk, body). When a monitor watches this step it runs
  // watched(begin, end, sums) instead, on the same chunks: the same loop through watched_loop
  // (update_sums.hpp), which adds its chunk's sums to `sums` (see THE MONITOR'S HOOK).
  template <class Body, class Watched>
  void parallel_update(const Tensor& param, const Body& body, const Watched& watched) {
    if (!watched_) return parallel_for(param.numel(), kElementsPerChunk, body);
    auto chunk_sums = [&](int64_t begin, int64_t end) {
      UpdateSums sums;
      watched(begin, end, sums);
      return sums;
    };
    *watched_ = parallel_reduce(param.numel(), kElementsPerChunk, UpdateSums{}, chunk_sums, add_chunk_sums);
    watched_->filled = true;
  }
  // For update(): is this the traced parameter, and which element?
  bool traced(const Tensor& param) const { return param.impl() == traced_param_; }
  int64_t traced_index() const { return traced_index_; }
  Explanation explanation_;
  // True while load_state_dict restores hyperparameters: a subclass may accept there what it
  // refuses from set_hyperparameters (schedule-free's train_mode, which must match the saved weights).
  bool restoring_state() const { return restoring_state_; }

 private:
  // Throws unless 0 <= step < kMaxStepCount, naming `who`, the parameter (flat index) and its group.
  void check_steppable(const char* who, int64_t step, int64_t index, size_t group) const;

  std::vector<std::vector<Tensor>> groups_;
  std::unordered_map<const TensorImpl*, ParamState> state_;
  const TensorImpl* traced_param_ = nullptr;
  bool restoring_state_ = false;
  int64_t traced_index_ = 0;
  std::vector<UpdateSums>* watch_ = nullptr;  // the monitor's sums for the next step (nullptr: none)
  UpdateSums* watched_ = nullptr;             // the entry of the parameter update() is stepping
};

// The typed half: an optimizer with options struct `Options` per group.
// Options lists its hyperparameters with
//   template <class F> void visit(F&& f) { f("learning_rate", learning_rate); ... }
template <class Options>
class OptimizerWith : public Optimizer {
 public:
  // Parameter groups, as PyTorch users expect them:
  //   opt.add_param_group(biases);                              the constructor's options, all of them
  //   opt.add_param_group(biases, {{"weight_decay", 0.0}});     the constructor's, with these replaced
  //   opt.add_param_group(biases, AdamWOptions{.learning_rate = 1e-3});   exactly these (unnamed fields
  //                                                             take the struct's defaults, not the constructor's;
  //                                                             so does `{}`, an empty options struct)
  // The first two are PyTorch's add_param_group({'params': ...}) and ({'params': ..., 'weight_decay': 0}),
  // which fill missing keys from the optimizer's defaults. Every group is validated (PyTorch validates only the
  // constructor's arguments); on error nothing is added.
  void add_param_group(const std::vector<Tensor>& params, Options options) {
    validate(options);
    add_params(params);
    if (options_.empty()) constructor_options_ = options;  // the first group is the constructor's
    options_.push_back(options);
  }
  void add_param_group(const std::vector<Tensor>& params) { add_param_group(params, constructor_options_); }
  // (A template only so that a braced Options argument, `{.learning_rate = 1e-3}` or `{}`, picks the overload
  // above: with two equally good conversions the non-template wins.)
  template <class Overrides = std::map<std::string, double>>
  void add_param_group(const std::vector<Tensor>& params, const Overrides& overrides) {
    Options options = constructor_options_;
    for (const auto& [key, value] : overrides)
      if (!has_hyperparameter(options, key)) fail(this->name(), ": add_param_group: no hyperparameter named '", key, "'");
    options.visit([&](const char* field, auto& slot) {
      auto it = overrides.find(field);
      if (it != overrides.end()) assign(field, slot, it->second);
    });
    add_param_group(params, options);
  }
  const Options& options(size_t group) const { return options_.at(group); }

  std::vector<std::pair<std::string, double>> hyperparameters(size_t group) const override {
    std::vector<std::pair<std::string, double>> out;
    Options copy = options_.at(group);
    copy.visit([&](const char* name, auto& value) { out.emplace_back(name, static_cast<double>(value)); });
    return out;
  }

  void set_hyperparameters(size_t group, const std::map<std::string, double>& values) override {
    params(group);  // range check
    Options copy = options_[group];
    size_t found = 0;
    copy.visit([&](const char* field, auto& slot) {
      auto it = values.find(field);
      if (it == values.end()) return;
      ++found;
      assign(field, slot, it->second);
    });
    if (found != values.size())
      for (const auto& [key, value] : values)
        if (!has_hyperparameter(copy, key)) fail(this->name(), ": no hyperparameter named '", key, "'");
    validate(copy);
    options_[group] = copy;
  }

 protected:
  // Stores a hyperparameter given as a double (overrides, set_hyperparameters, state dicts) in its
  // field. A flag must be 0 or 1 (a plain cast makes 0.5 and NaN true). Counts are doubles too, checked
  // whole by validate(): converting NaN or 1e30 to an integer type would be undefined behaviour.
  template <class T>
  void assign(const char* field, T& slot, double value) const {
    if constexpr (std::is_same_v<T, bool>) {
      if (value != 0.0 && value != 1.0)
        fail(this->name(), ": hyperparameter '", field, "' is a flag: expected 0 or 1, got ", value);
      slot = value == 1.0;
    } else {
      static_assert(std::is_floating_point_v<T>, "a hyperparameter is a double (a count too) or a bool flag");
      slot = static_cast<T>(value);
    }
  }
  static bool has_hyperparameter(Options& options, const std::string& key) {
    bool found = false;
    options.visit([&](const char* field, auto&) { found = found || key == field; });
    return found;
  }
  // Throws moments::Error naming the hyperparameter and its value.
  virtual void validate(const Options& options) const = 0;
  std::vector<Options> options_;
  Options constructor_options_{};  // what groups added without options inherit
};

}  // namespace moments
