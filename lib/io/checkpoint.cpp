// io/checkpoint.cpp — save_checkpoint / load_checkpoint on top of save() / load().
//
// The file layout is documented in checkpoint.hpp. load_checkpoint works in three
// stages: (1) read and check everything the file says — the format, the optimizer's
// name, the model's parameter names and shapes, the group structure, the step
// counts, the state tensors, the schedule — against this model, optimizer and
// schedule, changing nothing; (2) hand the optimizer its StateDict, which checks the
// buffers' shapes and takes the state only if all of them fit; (3) copy the
// parameters and replay the schedule, which cannot fail. So a rejected checkpoint
// leaves the model, the optimizer and the schedule as they were.
#include "checkpoint.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "safetensors_format.hpp"

namespace moments {

using json = nlohmann::json;

namespace {

constexpr const char* checkpoint_format = "moments.checkpoint.v1";

// Hyperparameters as JSON numbers; JSON has no inf or nan, so those become strings.
json number_to_json(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

// A double as its shortest exact decimal form, for messages.
std::string exact(double value) { return number_to_json(value).dump(); }

// Reads the metadata written by save_checkpoint. It comes from a file, so every
// value's type is checked and every message names the key and what was expected.
class MetadataReader {
 public:
  MetadataReader(const Metadata& metadata, std::string who) : metadata_(metadata), who_(std::move(who)) {}

  bool has(const std::string& key) const { return metadata_.count(key) > 0; }

  const std::string& text(const std::string& key) const {
    auto it = metadata_.find(key);
    if (it == metadata_.end()) fail(who_, ": the metadata has no '", key, "'");
    return it->second;
  }

  json parse(const std::string& key) const {
    return safetensors::parse_json(text(key), who_, "metadata '" + key + "'");
  }

  int64_t integer(const std::string& key) const {  // a decimal integer >= 0 stored as a string
    const std::string& value = text(key);
    int64_t out = -1;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), out);
    if (error != std::errc() || end != value.data() + value.size() || out < 0)
      fail(who_, ": metadata '", key, "' is '", value, "', expected an integer >= 0");
    return out;
  }

  // Checks on values inside parsed JSON; `what` says where the value sits.
  int64_t integer(const json& value, const std::string& what) const {
    if (!value.is_number_integer() || !value.is_number_unsigned() ||
        value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(who_, ": ", what, " is ", value.dump(), ", expected an integer >= 0");
    return value.get<int64_t>();
  }

  double number(const json& value, const std::string& what) const {
    if (value.is_number()) return value.get<double>();
    constexpr double inf = std::numeric_limits<double>::infinity();
    if (value == "inf") return inf;
    if (value == "-inf") return -inf;
    if (value == "nan") return std::numeric_limits<double>::quiet_NaN();
    fail(who_, ": ", what, " is ", value.dump(), ", expected a number (or \"inf\", \"-inf\", \"nan\")");
  }

  Shape shape(const json& value, const std::string& what) const {
    if (!value.is_array()) fail(who_, ": ", what, " is ", value.dump(), ", expected a list of sizes");
    Shape out;
    for (const json& size : value) out.push_back(integer(size, what + " entry"));
    return out;
  }

  const json& list(const json& value, const std::string& what) const {
    if (!value.is_array()) fail(who_, ": ", what, " is not a list");
    return value;
  }

  const json& field(const json& object, const char* name, const std::string& what) const {
    if (!object.is_object() || !object.contains(name)) fail(who_, ": ", what, " has no \"", name, "\"");
    return object[name];
  }

 private:
  const Metadata& metadata_;
  std::string who_;
};

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
  NamedTensors tensors;
  for (const auto& [name, param] : model.named_parameters()) tensors.emplace_back("model." + name, param);

  // Per flat index: the step count, and the state buffers as tensors.
  const std::vector<Tensor> params = optimizer.all_params();
  json steps = json::array();
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamState* state = optimizer.state(params[i]);
    if (!state) {
      steps.push_back(nullptr);  // no step taken yet: no state
      continue;
    }
    steps.push_back(state->step);
    for (const auto& [buffer, tensor] : state->buffers)
      tensors.emplace_back("optimizer." + std::to_string(i) + "." + buffer, tensor);
  }

  // Per group: hyperparameters, flat indices, and the parameters' shapes (to name mismatches on load).
  json groups = json::array();
  size_t flat = 0;
  for (size_t g = 0; g < optimizer.group_count(); ++g) {
    json group = {{"hyperparameters", json::object()}, {"params", json::array()}, {"shapes", json::array()}};
    for (const auto& [name, value] : optimizer.hyperparameters(g)) group["hyperparameters"][name] = number_to_json(value);
    for (const Tensor& p : optimizer.params(g)) {
      group["params"].push_back(flat++);
      group["shapes"].push_back(p.shape());
    }
    groups.push_back(group);
  }

  Metadata metadata;
  metadata["format"] = checkpoint_format;
  metadata["optimizer"] = optimizer.name();
  metadata["optimizer.groups"] = groups.dump();
  metadata["optimizer.steps"] = steps.dump();
  if (schedule) {
    json bases = json::array();
    for (size_t g = 0; g < optimizer.group_count(); ++g) bases.push_back(number_to_json(schedule->base_learning_rate(g)));
    metadata["schedule.step"] = std::to_string(schedule->last_step());
    metadata["schedule.base_learning_rates"] = bases.dump();
  }
  metadata["step"] = std::to_string(info.step);
  for (const auto& [key, value] : info.metadata) metadata["user." + key] = value;
  save(path, tensors, metadata);
}

CheckpointInfo load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer, LrScheduler* schedule) {
  const std::string who = "load_checkpoint '" + path + "'";
  const SafetensorsFile file = load(path);  // every safetensors rule is checked here
  const MetadataReader meta(file.metadata, who);

  // ---- 1. Read and check everything, changing nothing. ----------------------

  // The file is a moments checkpoint, of this kind of optimizer.
  if (!meta.has("format"))
    fail(who, ": not a moments checkpoint (no 'format' in its metadata); use load() for plain safetensors files");
  if (meta.text("format") != checkpoint_format)
    fail(who, ": format '", meta.text("format"), "', expected '", checkpoint_format, "'");
  if (meta.text("optimizer") != optimizer.name())
    fail(who, ": the checkpoint holds ", meta.text("optimizer"), " state, but the optimizer is ", optimizer.name());

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
  const json groups = meta.list(meta.parse("optimizer.groups"), "metadata 'optimizer.groups'");
  if (groups.size() != optimizer.group_count())
    fail(who, ": the checkpoint has ", groups.size(), " parameter groups, the optimizer has ", optimizer.group_count());
  StateDict dict;
  int64_t flat = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string where = "optimizer.groups[" + std::to_string(g) + "]";
    StateDict::Group group;
    const json& hyper = meta.field(groups[g], "hyperparameters", where);
    if (!hyper.is_object()) fail(who, ": ", where, " hyperparameters is not an object");
    for (const auto& [name, value] : hyper.items())
      group.hyperparameters[name] = meta.number(value, where + " hyperparameter '" + name + "'");
    const json& indices = meta.list(meta.field(groups[g], "params", where), where + " params");
    const json& shapes = meta.list(meta.field(groups[g], "shapes", where), where + " shapes");
    const std::vector<Tensor>& here = optimizer.params(g);
    if (indices.size() != here.size() || shapes.size() != here.size())
      fail(who, ": group ", g, " has ", indices.size(), " parameters in the checkpoint, ", here.size(), " in the optimizer");
    for (size_t k = 0; k < here.size(); ++k, ++flat) {
      if (meta.integer(indices[k], where + " params entry") != flat)
        fail(who, ": ", where, " params are ", indices.dump(), ", expected consecutive flat indices from ", flat - static_cast<int64_t>(k));
      const Shape shape = meta.shape(shapes[k], where + " shapes entry");
      if (shape != here[k].shape())
        fail(who, ": optimizer parameter ", flat, " (group ", g, ") has shape ", shape_str(here[k].shape()),
             " in the optimizer, ", shape_str(shape), " in the checkpoint");
      group.params.push_back(flat);
    }
    dict.groups.push_back(std::move(group));
  }

  // The step counts: one per flat index, null where no step was taken.
  const json steps = meta.list(meta.parse("optimizer.steps"), "metadata 'optimizer.steps'");
  if (steps.size() != params.size())
    fail(who, ": metadata 'optimizer.steps' has ", steps.size(), " entries, the optimizer has ", params.size(), " parameters");
  for (size_t i = 0; i < steps.size(); ++i)
    if (!steps[i].is_null())
      dict.state[static_cast<int64_t>(i)].step = meta.integer(steps[i], "optimizer.steps[" + std::to_string(i) + "]");

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

  // The schedule: given exactly when one was saved, with the same base rates, not ahead.
  int64_t schedule_step = 0;
  if (meta.has("schedule.step") != (schedule != nullptr))
    fail(who, schedule ? ": an LrScheduler was given, but the checkpoint was saved without one"
                       : ": the checkpoint was saved with a learning-rate schedule; pass its LrScheduler to load_checkpoint");
  if (schedule) {
    schedule_step = meta.integer("schedule.step");
    const json bases = meta.list(meta.parse("schedule.base_learning_rates"), "metadata 'schedule.base_learning_rates'");
    if (bases.size() != optimizer.group_count())
      fail(who, ": 'schedule.base_learning_rates' has ", bases.size(), " entries, the optimizer has ", optimizer.group_count(), " groups");
    for (size_t g = 0; g < bases.size(); ++g) {
      double saved = meta.number(bases[g], "schedule.base_learning_rates[" + std::to_string(g) + "]");
      if (saved != schedule->base_learning_rate(g))
        fail(who, ": group ", g, "'s schedule has base learning rate ", exact(schedule->base_learning_rate(g)),
             ", the checkpoint's has ", exact(saved));
    }
    if (schedule->last_step() > schedule_step)
      fail(who, ": the schedule is at step ", schedule->last_step(), ", past the checkpoint's ", schedule_step);
  }

  // The loop's step and the user's strings.
  CheckpointInfo info;
  info.step = meta.integer("step");
  for (const auto& [key, value] : file.metadata)
    if (key.compare(0, 5, "user.") == 0) info.metadata[key.substr(5)] = value;

  // ---- 2. The optimizer checks its buffers and takes the state (all or nothing). ----
  try {
    optimizer.load_state_dict(dict);
  } catch (const Error& e) {
    fail(who, ": ", e.what());
  }

  // ---- 3. Copy the parameters, replay the schedule. -------------------------
  for (const auto& [name, param] : named) {
    Tensor target = param;
    const Tensor& saved = model_tensors.at(name);
    if (saved.numel() > 0) std::memcpy(target.data(), saved.data(), static_cast<size_t>(saved.numel()) * sizeof(float));
  }
  if (schedule) {
    while (schedule->last_step() < schedule_step) schedule->step();  // lr = base · f(t), exactly as the first run had it
    for (size_t g = 0; g < dict.groups.size(); ++g) optimizer.set_hyperparameters(g, dict.groups[g].hyperparameters);
  }
  return info;
}

}  // namespace moments
