// io/checkpoint.cpp — save_checkpoint / load_checkpoint on top of save() / load().
//
// The file layout is documented in checkpoint.hpp, the metadata's rules in
// checkpoint_metadata.hpp. load_checkpoint works in three stages: (1) read and check
// everything the file says — every metadata number against its bounds, the format,
// the optimizer's name, the model's parameter names and shapes, the group structure,
// the step counts, the state tensors, the schedule's factor at the saved step —
// against this model, optimizer and schedule, changing nothing; (2) hand the
// optimizer its StateDict, which checks the buffers' shapes and the hyperparameters
// and takes the state only if all of them fit; (3) copy the parameters and set the
// schedule's step, which cannot fail after (1). So a rejected checkpoint leaves the
// model, the optimizer and the schedule as they were.
#include "checkpoint.hpp"

#include <charconv>
#include <cstring>
#include <set>

#include "checkpoint_metadata.hpp"

namespace moments {

static_assert(max_checkpoint_step == LrScheduler::max_step, "a saved schedule step must be one set_step accepts");

namespace {

// "optimizer.<i>.<buffer>" → i and buffer; false if the name has another form.
bool split_state_name(const std::string& name, int64_t& index, std::string& buffer) {
  const std::string prefix = "optimizer.";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  const char* first = name.data() + prefix.size();
  const char* last = name.data() + name.size();
  auto [dot, error] = std::from_chars(first, last, index);
  if (error != std::errc() || dot == last || *dot != '.' || dot + 1 == last || index < 0) return false;
  buffer.assign(dot + 1, last);
  return name == prefix + std::to_string(index) + "." + buffer;  // one spelling per index: no "optimizer.01.m"
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const Optimizer& optimizer,
                     const LrScheduler* schedule, const CheckpointInfo& info) {
  const std::string who = "save_checkpoint '" + path + "'";
  NamedTensors tensors;
  for (const auto& [name, param] : model.named_parameters()) tensors.emplace_back("model." + name, param);

  // Per flat index: the step count, and the state buffers as tensors.
  CheckpointMetadata meta;
  meta.optimizer = optimizer.name();
  const std::vector<Tensor> params = optimizer.all_params();
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamState* state = optimizer.state(params[i]);
    if (!state) {
      meta.steps.emplace_back();  // no step taken yet: no state
      meta.scalars.emplace_back();
      continue;
    }
    meta.steps.emplace_back(state->step);
    meta.scalars.push_back(state->scalars);
    for (const auto& [buffer, tensor] : state->buffers)
      tensors.emplace_back("optimizer." + std::to_string(i) + "." + buffer, tensor);
  }

  // Per group: hyperparameters, flat indices, and the parameters' shapes (to name mismatches on load).
  int64_t flat = 0;
  for (size_t g = 0; g < optimizer.group_count(); ++g) {
    CheckpointMetadata::Group group;
    for (const auto& [name, value] : optimizer.hyperparameters(g)) group.hyperparameters[name] = value;
    for (const Tensor& p : optimizer.params(g)) {
      group.params.push_back(flat++);
      group.shapes.push_back(p.shape());
    }
    meta.groups.push_back(std::move(group));
  }
  if (schedule) {
    meta.schedule_step = schedule->last_step();
    for (size_t g = 0; g < optimizer.group_count(); ++g) meta.schedule_base_learning_rates.push_back(schedule->base_learning_rate(g));
  }
  meta.step = info.step;
  meta.user = info.metadata;

  // What load_checkpoint would refuse (a negative step, say) is refused now, before the old file is replaced.
  Metadata strings = write_checkpoint_metadata(meta);
  read_checkpoint_metadata(strings, who);
  save(path, tensors, strings);
}

CheckpointInfo load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer, LrScheduler* schedule) {
  const std::string who = "load_checkpoint '" + path + "'";
  const SafetensorsFile file = load(path);  // every safetensors rule is checked here

  // ---- 1. Read and check everything, changing nothing. ----------------------

  // Every metadata number within its bounds (checkpoint_metadata.hpp); then this kind of optimizer.
  const CheckpointMetadata meta = read_checkpoint_metadata(file.metadata, who);
  if (meta.optimizer != optimizer.name())
    fail(who, ": the checkpoint holds ", meta.optimizer, " state, but the optimizer is ", optimizer.name());

  // The model: the same parameter names and shapes, in either direction.
  std::map<std::string, Tensor> model_tensors;  // "layers.0.weight" → the file's "model.layers.0.weight"
  for (const auto& [name, tensor] : file.tensors)
    if (name.compare(0, 6, "model.") == 0) model_tensors[name.substr(6)] = tensor;
  const NamedTensors named = model.named_parameters();
  for (const auto& [name, param] : named) {
    auto it = model_tensors.find(name);
    if (it == model_tensors.end()) fail(who, ": the model's parameter '", name, "' is not in the checkpoint (no 'model.", name, "')");
    if (it->second.shape() != param.shape())
      fail(who, ": parameter '", name, "' has shape ", shape_str(param.shape()), " in the model, ",
           shape_str(it->second.shape()), " in the checkpoint");
    if (param.device() != Device::cpu) fail(who, ": parameter '", name, "' is on ", device_name(param.device()), "; load into a cpu model");
  }
  std::set<std::string> model_names;
  for (const auto& [name, param] : named) model_names.insert(name);
  for (const auto& [name, tensor] : file.tensors)  // in the file's order: "first" means first in the file
    if (name.compare(0, 6, "model.") == 0 && !model_names.count(name.substr(6)))
      fail(who, ": the checkpoint has '", name, "', which the model does not have");

  // The group structure: the same number of groups, of the same sizes and shapes.
  const std::vector<Tensor> params = optimizer.all_params();
  if (meta.groups.size() != optimizer.group_count())
    fail(who, ": the checkpoint has ", meta.groups.size(), " parameter groups, the optimizer has ", optimizer.group_count());
  StateDict dict;
  for (size_t g = 0; g < meta.groups.size(); ++g) {
    const CheckpointMetadata::Group& saved = meta.groups[g];
    const std::vector<Tensor>& here = optimizer.params(g);
    if (saved.params.size() != here.size())
      fail(who, ": group ", g, " has ", saved.params.size(), " parameters in the checkpoint, ", here.size(), " in the optimizer");
    for (size_t k = 0; k < here.size(); ++k)
      if (saved.shapes[k] != here[k].shape())
        fail(who, ": optimizer parameter ", saved.params[k], " (group ", g, ") has shape ", shape_str(here[k].shape()),
             " in the optimizer, ", shape_str(saved.shapes[k]), " in the checkpoint");
    dict.groups.push_back({saved.hyperparameters, saved.params});
  }

  // The step counts (one per flat index, as many as the groups hold: checked when read).
  for (size_t i = 0; i < meta.steps.size(); ++i)
    if (meta.steps[i]) dict.state[static_cast<int64_t>(i)].step = *meta.steps[i];
  // The named scalars (schedule-free AdamW's lr_max, weight_sum): only where a step count is (checked when read).
  for (size_t i = 0; i < meta.scalars.size(); ++i)
    if (!meta.scalars[i].empty()) dict.state[static_cast<int64_t>(i)].scalars = meta.scalars[i];

  // The other tensors: optimizer.<i>.<buffer>, nothing else.
  for (const auto& [name, tensor] : file.tensors) {
    if (name.compare(0, 6, "model.") == 0) continue;  // checked above
    int64_t index = 0;
    std::string buffer;
    if (!split_state_name(name, index, buffer))
      fail(who, ": unexpected tensor '", name, "' (expected model.<name> or optimizer.<index>.<buffer>)");
    if (index >= static_cast<int64_t>(params.size()))
      fail(who, ": tensor '", name, "' is state for parameter ", index, ", but the optimizer has ", params.size());
    auto state = dict.state.find(index);
    if (state == dict.state.end())
      fail(who, ": tensor '", name, "' is state for parameter ", index, ", whose step count is null (no state)");
    state->second.buffers[buffer] = tensor;
  }

  // The schedule: given exactly when one was saved, with the same base rates, not ahead,
  // and with a valid factor at the saved step (so that setting it in stage 3 cannot fail).
  if (meta.schedule_step.has_value() != (schedule != nullptr))
    fail(who, schedule ? ": an LrScheduler was given, but the checkpoint was saved without one"
                       : ": the checkpoint was saved with a learning-rate schedule; pass its LrScheduler to load_checkpoint");
  if (schedule) {
    for (size_t g = 0; g < meta.schedule_base_learning_rates.size(); ++g) {
      const double saved = meta.schedule_base_learning_rates[g];
      if (saved != schedule->base_learning_rate(g))
        fail(who, ": group ", g, "'s schedule has base learning rate ", exact_number(schedule->base_learning_rate(g)),
             ", the checkpoint's has ", exact_number(saved));
    }
    if (schedule->last_step() > *meta.schedule_step)
      fail(who, ": the schedule is at step ", schedule->last_step(), ", past the checkpoint's ", *meta.schedule_step);
    try {
      schedule->factor_at(*meta.schedule_step);
    } catch (const Error& e) {
      fail(who, ": schedule.step ", *meta.schedule_step, ": ", e.what());
    }
  }

  // The loop's step and the user's strings.
  const CheckpointInfo info{meta.step, meta.user};

  // ---- 2. The optimizer checks its buffers and takes the state (all or nothing). ----
  try {
    optimizer.load_state_dict(dict);
  } catch (const Error& e) {
    fail(who, ": ", e.what());
  }

  // ---- 3. Copy the parameters, set the schedule's step. ---------------------
  for (const auto& [name, param] : named) {
    Tensor target = param;
    const Tensor& saved = model_tensors.at(name);
    if (saved.numel() > 0) std::memcpy(target.data(), saved.data(), static_cast<size_t>(saved.numel()) * sizeof(float));
  }
  if (schedule) {
    schedule->set_step(*meta.schedule_step);  // lr = base · f(t) at once, as the first run had it (checked above)
    for (size_t g = 0; g < dict.groups.size(); ++g) optimizer.set_hyperparameters(g, dict.groups[g].hyperparameters);
  }
  return info;
}

}  // namespace moments
