// optim/optimizer.cpp — the bookkeeping shared by every optimizer.
#include "optimizer.hpp"

#include <cmath>
#include <set>
#include <unordered_set>
#include <utility>

#include "autograd.hpp"
#include "backend.hpp"  // cuda: the launch batch of a step

namespace moments {

double Explanation::get(const std::string& name) const {
  for (const auto& [key, value] : values)
    if (key == name) return value;
  fail("Explanation::get: no value named '", name, "' (step ", step, ")");
}

void Optimizer::add_params(const std::vector<Tensor>& params) {
  if (params.empty())
    fail(name(), ": got an empty parameter list for group ", groups_.size(),
         " (as in PyTorch, every parameter group needs at least one parameter)");
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& group : groups_)
    for (const Tensor& p : group) seen.insert(p.impl());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!p.defined()) fail(name(), ": parameter ", i, " of the new group is an undefined tensor");
    if (!p.is_leaf())
      fail(name(), ": parameter ", i, " (shape ", shape_str(p.shape()), ") is not a leaf tensor (made by '",
           p.node()->op, "'); optimizers update leaves such as model parameters");
    if (!seen.insert(p.impl()).second)
      fail(name(), ": parameter ", i, " (shape ", shape_str(p.shape()), ") appears in more than one parameter group");
  }
  groups_.push_back(params);
}

const std::vector<Tensor>& Optimizer::params(size_t group) const {
  if (group >= groups_.size()) fail(name(), ": group ", group, " does not exist (", groups_.size(), " groups)");
  return groups_[group];
}

std::vector<Tensor> Optimizer::all_params() const {
  std::vector<Tensor> out;
  for (const auto& group : groups_) out.insert(out.end(), group.begin(), group.end());
  return out;
}

double Optimizer::hyperparameter(size_t group, const std::string& key) const {
  params(group);  // range check with a clear message
  for (const auto& [field, value] : hyperparameters(group))
    if (field == key) return value;
  fail(name(), ": no hyperparameter named '", key, "'");
}

void Optimizer::check_steppable(const char* who, int64_t step, int64_t index, size_t group) const {
  if (step < 0 || step >= kMaxStepCount)
    fail(name(), "::", who, ": parameter ", index, " (group ", group, ") has step count ", step,
         ", which cannot be stepped (expected 0 <= t < kMaxStepCount = ", kMaxStepCount,
         ": the bias corrections use t as a double, exact up to 2^53)");
}

void Optimizer::step() {
  NoGradGuard no_grad;
  // THE MONITOR'S HOOK: a watched step gives each update() its parameter's entry (parallel_update fills it).
  std::vector<UpdateSums>* watch = std::exchange(watch_, nullptr);
  if (watch) {
    size_t count = 0;
    for (const auto& group : groups_) count += group.size();
    watch->assign(count, UpdateSums{});
  }
  int64_t index = 0;  // refuse before updating anything (see kMaxStepCount)
  for (size_t g = 0; g < groups_.size(); ++g)
    for (const Tensor& param : groups_[g]) {
      auto it = state_.find(param.impl());
      if (it != state_.end() && param.grad().defined()) check_steppable("step", it->second.step, index, g);
      ++index;
    }
  // On cuda the element-wise updates of this step are queued and go out as one launch per list of up
  // to 64 tensors (cuda/tensor_list.hpp); anything else that touches the device launches them first.
  struct LaunchBatch {
    cuda::Backend* backend = nullptr;
    ~LaunchBatch() {  // after an exception: launch what was queued, as the cpu would have applied it
      if (!backend) return;
      try {
        backend->end_launch_batch();
      } catch (const Error&) {  // a destructor cannot throw; the next checked call reports the device's error
      }
    }
  } batch;
  for (const auto& group : groups_)
    for (const Tensor& param : group)
      if (!batch.backend && param.device() == Device::cuda) batch.backend = &param.cuda_backend();
  if (batch.backend) batch.backend->begin_launch_batch();
  begin_step();
  struct Unwatch {  // no entry outlives its update(), even one that throws
    UpdateSums*& watched;
    ~Unwatch() { watched = nullptr; }
  } unwatch{watched_};
  index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (Tensor& param : groups_[g]) {
      Tensor grad = param.grad();
      UpdateSums* entry = watch ? &(*watch)[static_cast<size_t>(index)] : nullptr;
      ++index;
      if (!grad.defined()) continue;  // as in PyTorch: no gradient, no update, no state
      ParamState& state = state_or_init(param, g);
      state.step += 1;
      watched_ = param.device() == Device::cpu ? entry : nullptr;
      update(param, grad, state, g);
      watched_ = nullptr;
    }
  }
  if (batch.backend) std::exchange(batch.backend, nullptr)->end_launch_batch();  // launch errors surface here
}

ParamState& Optimizer::state_or_init(const Tensor& param, size_t group) {
  auto [it, fresh] = state_.try_emplace(param.impl());
  if (fresh) init_state(param, it->second, group);
  return it->second;
}

void Optimizer::zero_grad() {
  for (auto& group : groups_)
    for (Tensor& p : group) p.zero_grad();
}

const ParamState* Optimizer::state(const Tensor& param) const {
  auto it = state_.find(param.impl());
  return it == state_.end() ? nullptr : &it->second;
}

std::vector<StateMemory> Optimizer::state_bytes() const {
  std::map<std::pair<std::string, Device>, int64_t> sums;
  std::set<const Storage*> counted;  // an allocation shared by two buffers counts once
  for (const auto& [impl, state] : state_)
    for (const auto& [buffer, tensor] : state.buffers)
      if (counted.insert(tensor.impl()->storage.get()).second)
        sums[{buffer, tensor.device()}] += tensor.impl()->storage->bytes();
  std::vector<StateMemory> out;
  for (const auto& [key, bytes] : sums) out.push_back({key.first, key.second, bytes});
  return out;
}

int64_t Optimizer::state_bytes_total() const {
  int64_t total = 0;
  for (const StateMemory& row : state_bytes()) total += row.bytes;
  return total;
}

StateDict Optimizer::state_dict() const {
  StateDict dict;
  int64_t index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    StateDict::Group group;
    for (const auto& [key, value] : hyperparameters(g)) group.hyperparameters[key] = value;
    for (const Tensor& p : groups_[g]) {
      if (const ParamState* s = state(p)) {
        ParamState copy{s->step, {}, s->scalars};
        for (const auto& [buffer, tensor] : s->buffers) copy.buffers[buffer] = tensor.clone();
        dict.state[index] = std::move(copy);
      }
      group.params.push_back(index++);
    }
    dict.groups.push_back(std::move(group));
  }
  return dict;
}

void Optimizer::load_state_dict(const StateDict& dict) {
  const char* who = "load_state_dict";
  if (dict.groups.size() != groups_.size())
    fail(name(), "::", who, ": the dict has ", dict.groups.size(), " parameter groups, this optimizer has ", groups_.size());
  std::vector<Tensor> flat = all_params();
  for (size_t g = 0; g < groups_.size(); ++g)
    if (dict.groups[g].params.size() != groups_[g].size())
      fail(name(), "::", who, ": group ", g, " has ", dict.groups[g].params.size(), " parameters in the dict, ",
           groups_[g].size(), " here");
  for (const auto& [index, s] : dict.state)
    if (index < 0 || index >= static_cast<int64_t>(flat.size()))
      fail(name(), "::", who, ": state for parameter ", index, ", but there are only ", flat.size(), " parameters");

  // Validate everything before changing anything, so a bad dict leaves the optimizer as it was.
  std::vector<std::map<std::string, double>> saved_hyper;
  for (size_t g = 0; g < groups_.size(); ++g) {
    std::map<std::string, double> values;
    for (const auto& [key, value] : hyperparameters(g)) values[key] = value;
    saved_hyper.push_back(values);
  }
  try {
    restoring_state_ = true;
    for (size_t g = 0; g < groups_.size(); ++g) set_hyperparameters(g, dict.groups[g].hyperparameters);
    restoring_state_ = false;
    int64_t index = 0;
    for (size_t g = 0; g < groups_.size(); ++g)
      for (const Tensor& p : groups_[g]) {
        auto found = dict.state.find(index);
        if (found != dict.state.end()) {
          ParamState expected;
          init_state(p, expected, g);
          const ParamState& given = found->second;
          for (const auto& [buffer, tensor] : expected.buffers) {
            auto it = given.buffers.find(buffer);
            if (it == given.buffers.end())
              fail(name(), "::", who, ": parameter ", index, " (group ", g, ") has no '", buffer, "' buffer in the dict");
            if (it->second.shape() != tensor.shape())
              fail(name(), "::", who, ": parameter ", index, " (group ", g, ") buffer '", buffer, "' has shape ",
                   shape_str(it->second.shape()), ", the parameter needs ", shape_str(tensor.shape()));
          }
          for (const auto& [buffer, tensor] : given.buffers)
            if (!expected.buffers.count(buffer))
              fail(name(), "::", who, ": parameter ", index, " (group ", g, ") has an unexpected buffer '", buffer, "'");
          for (const auto& [scalar, value] : expected.scalars) {
            auto it = given.scalars.find(scalar);
            if (it == given.scalars.end())
              fail(name(), "::", who, ": parameter ", index, " (group ", g, ") has no '", scalar, "' scalar in the dict");
            if (!std::isfinite(it->second))
              fail(name(), "::", who, ": parameter ", index, " (group ", g, ") scalar '", scalar, "' is ", it->second,
                   ", expected a finite number");
          }
          for (const auto& [scalar, value] : given.scalars)
            if (!expected.scalars.count(scalar))
              fail(name(), "::", who, ": parameter ", index, " (group ", g, ") has an unexpected scalar '", scalar, "'");
          check_steppable(who, given.step, index, g);
        }
        ++index;
      }
  } catch (...) {
    restoring_state_ = true;
    for (size_t g = 0; g < groups_.size(); ++g) set_hyperparameters(g, saved_hyper[g]);
    restoring_state_ = false;
    throw;
  }
  state_.clear();
  for (const auto& [index, s] : dict.state) {
    ParamState copy{s.step, {}, s.scalars};
    for (const auto& [buffer, tensor] : s.buffers) copy.buffers[buffer] = tensor.clone();
    state_[flat[static_cast<size_t>(index)].impl()] = std::move(copy);
  }
}

void Optimizer::explain(const Tensor& param, int64_t index) {
  bool known = false;
  for (const auto& group : groups_)
    for (const Tensor& p : group) known = known || p.impl() == param.impl();
  if (!known) fail(name(), "::explain: the tensor is not one of this optimizer's parameters");
  if (index < 0 || index >= param.numel())
    fail(name(), "::explain: element ", index, " is out of range for a parameter of shape ", shape_str(param.shape()));
  traced_param_ = param.impl();
  traced_index_ = index;
  explanation_ = {};
}

}  // namespace moments
