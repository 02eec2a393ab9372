// io/checkpoint_metadata.cpp — checkpoint metadata strings <-> CheckpointMetadata,
// rule by rule as checkpoint_metadata.hpp lists them.
//
// The strings come from a file, so every value's type and range is checked before
// it is used, and every message names the key, the value and what was expected.
#include "checkpoint_metadata.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include "error.hpp"
#include "safetensors_format.hpp"

namespace moments {

using json = nlohmann::json;

namespace {

// Hyperparameters as JSON numbers; JSON has no inf or nan, so those become strings.
json number_to_json(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

// A JSON value for a message, cut short if long.
std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

class Reader {
 public:
  Reader(const std::map<std::string, std::string>& metadata, const std::string& who) : metadata_(metadata), who_(who) {}

  bool has(const std::string& key) const { return metadata_.count(key) > 0; }

  const std::string& text(const std::string& key) const {
    auto it = metadata_.find(key);
    if (it == metadata_.end()) fail(who_, ": the metadata has no '", key, "'");
    return it->second;
  }

  json parse(const std::string& key) const { return safetensors::parse_json(text(key), who_, "metadata '" + key + "'"); }

  // Rule: a step count is a decimal integer in [0, max_checkpoint_step], stored as a string.
  int64_t step_count(const std::string& key) const {
    const std::string& value = text(key);
    int64_t out = -1;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), out);
    if (error != std::errc() || end != value.data() + value.size() || out < 0)
      fail(who_, ": metadata '", key, "' is '", value.substr(0, 60), "', expected an integer >= 0");
    return bounded(out, "metadata '" + key + "'");
  }

  // Rule: the same, as a JSON integer inside parsed metadata; `what` says where it sits.
  int64_t step_count(const json& value, const std::string& what) const { return bounded(integer(value, what), what); }

  int64_t integer(const json& value, const std::string& what) const {  // >= 0, fits in int64
    if (!value.is_number_integer() || !value.is_number_unsigned() ||
        value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(who_, ": ", what, " is ", shown(value), ", expected an integer >= 0");
    return value.get<int64_t>();
  }

  double number(const json& value, const std::string& what) const {
    if (value.is_number()) return value.get<double>();
    constexpr double inf = std::numeric_limits<double>::infinity();
    if (value == "inf") return inf;
    if (value == "-inf") return -inf;
    if (value == "nan") return std::numeric_limits<double>::quiet_NaN();
    fail(who_, ": ", what, " is ", shown(value), ", expected a number (or \"inf\", \"-inf\", \"nan\")");
  }

  // Rule: a shape is a list of sizes >= 0 whose float32 byte size fits in int64.
  std::vector<int64_t> shape(const json& value, const std::string& what) const {
    if (!value.is_array()) fail(who_, ": ", what, " is ", shown(value), ", expected a list of sizes");
    std::vector<int64_t> out;
    for (size_t d = 0; d < value.size(); ++d) out.push_back(integer(value[d], what + " dimension " + std::to_string(d)));
    if (safetensors::f32_bytes(out) < 0)
      fail(who_, ": ", what, " is ", shown(value), ", whose float32 byte size overflows int64");
    return out;
  }

  const json& list(const json& value, const std::string& what) const {
    if (!value.is_array()) fail(who_, ": ", what, " is ", shown(value), ", expected a list");
    return value;
  }

  const json& field(const json& object, const char* name, const std::string& what) const {
    if (!object.is_object() || !object.contains(name)) fail(who_, ": ", what, " has no \"", name, "\"");
    return object[name];
  }

 private:
  int64_t bounded(int64_t value, const std::string& what) const {
    if (value > max_checkpoint_step)
      fail(who_, ": ", what, " is ", value, ", above the largest step count ", max_checkpoint_step, " (2^53)");
    return value;
  }

  const std::map<std::string, std::string>& metadata_;
  const std::string& who_;
};

}  // namespace

CheckpointMetadata read_checkpoint_metadata(const std::map<std::string, std::string>& metadata, const std::string& who) {
  const Reader meta(metadata, who);
  CheckpointMetadata out;

  // Rule: the format, then the optimizer's name.
  if (!meta.has("format"))
    fail(who, ": not a moments checkpoint (no 'format' in its metadata); use load() for plain safetensors files");
  if (meta.text("format") != checkpoint_format)
    fail(who, ": format '", meta.text("format").substr(0, 60), "', expected '", checkpoint_format, "'");
  out.optimizer = meta.text("optimizer");

  // Rule: the groups, their hyperparameters, consecutive flat indices and shapes.
  const json groups = meta.parse("optimizer.groups");
  meta.list(groups, "metadata 'optimizer.groups'");
  int64_t flat = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string where = "optimizer.groups[" + std::to_string(g) + "]";
    CheckpointMetadata::Group group;
    const json& hyper = meta.field(groups[g], "hyperparameters", where);
    if (!hyper.is_object()) fail(who, ": ", where, " hyperparameters is ", shown(hyper), ", expected an object");
    for (const auto& [name, value] : hyper.items())
      group.hyperparameters[name] = meta.number(value, where + " hyperparameter '" + name + "'");
    const json& indices = meta.list(meta.field(groups[g], "params", where), where + " params");
    const json& shapes = meta.list(meta.field(groups[g], "shapes", where), where + " shapes");
    if (indices.size() != shapes.size())
      fail(who, ": ", where, " has ", indices.size(), " params but ", shapes.size(), " shapes");
    for (size_t k = 0; k < indices.size(); ++k, ++flat) {
      if (meta.integer(indices[k], where + " params entry") != flat)
        fail(who, ": ", where, " params are ", shown(indices), ", expected consecutive flat indices from ",
             flat - static_cast<int64_t>(k));
      group.params.push_back(flat);
      group.shapes.push_back(meta.shape(shapes[k], where + " shapes[" + std::to_string(k) + "]"));
    }
    out.groups.push_back(std::move(group));
  }

  // Rule: one step count per parameter, null where no step was taken.
  const json steps = meta.parse("optimizer.steps");
  meta.list(steps, "metadata 'optimizer.steps'");
  if (steps.size() != static_cast<size_t>(flat))
    fail(who, ": metadata 'optimizer.steps' has ", steps.size(), " entries, the optimizer has ", flat,
         " parameters (in 'optimizer.groups')");
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].is_null()) out.steps.emplace_back();
    else out.steps.emplace_back(meta.step_count(steps[i], "optimizer.steps[" + std::to_string(i) + "]"));
  }

  // Rule: optionally, per parameter its named scalars (finite numbers), only where it has state.
  out.scalars.resize(out.steps.size());
  if (meta.has("optimizer.scalars")) {
    const json scalars = meta.parse("optimizer.scalars");
    meta.list(scalars, "metadata 'optimizer.scalars'");
    if (scalars.size() != out.steps.size())
      fail(who, ": metadata 'optimizer.scalars' has ", scalars.size(), " entries, the optimizer has ", out.steps.size(),
           " parameters (in 'optimizer.groups')");
    for (size_t i = 0; i < scalars.size(); ++i) {
      const std::string where = "optimizer.scalars[" + std::to_string(i) + "]";
      if (scalars[i].is_null()) continue;
      if (!scalars[i].is_object()) fail(who, ": ", where, " is ", shown(scalars[i]), ", expected null or an object");
      if (!scalars[i].empty() && !out.steps[i])
        fail(who, ": ", where, " holds scalars, but parameter ", i, " has no state (its step count is null)");
      for (const auto& [name, value] : scalars[i].items()) {
        if (!value.is_number())
          fail(who, ": ", where, " '", name, "' is ", shown(value), ", expected a finite number");
        const double number = value.get<double>();
        if (!std::isfinite(number)) fail(who, ": ", where, " '", name, "' is ", number, ", expected a finite number");
        out.scalars[i][name] = number;
      }
    }
  }

  // Rule: the schedule's step and base rates, both or neither.
  if (meta.has("schedule.step") != meta.has("schedule.base_learning_rates"))
    fail(who, ": the metadata has '", meta.has("schedule.step") ? "schedule.step" : "schedule.base_learning_rates",
         "' without '", meta.has("schedule.step") ? "schedule.base_learning_rates" : "schedule.step", "'");
  if (meta.has("schedule.step")) {
    out.schedule_step = meta.step_count("schedule.step");
    const json bases = meta.parse("schedule.base_learning_rates");
    meta.list(bases, "metadata 'schedule.base_learning_rates'");
    if (bases.size() != out.groups.size())
      fail(who, ": 'schedule.base_learning_rates' has ", bases.size(), " entries, the optimizer has ", out.groups.size(),
           " groups");
    for (size_t g = 0; g < bases.size(); ++g) {
      const std::string what = "schedule.base_learning_rates[" + std::to_string(g) + "]";
      const double rate = meta.number(bases[g], what);
      if (!(rate >= 0.0)) fail(who, ": ", what, " is ", shown(bases[g]), ", expected a learning rate >= 0");
      out.schedule_base_learning_rates.push_back(rate);
    }
  }

  // Rule: the loop's step; then the user's strings.
  out.step = meta.step_count("step");
  for (const auto& [key, value] : metadata)
    if (key.compare(0, 5, "user.") == 0) out.user[key.substr(5)] = value;
  return out;
}

std::map<std::string, std::string> write_checkpoint_metadata(const CheckpointMetadata& meta) {
  json groups = json::array();
  for (const CheckpointMetadata::Group& g : meta.groups) {
    json group = {{"hyperparameters", json::object()}, {"params", g.params}, {"shapes", json::array()}};
    for (const auto& [name, value] : g.hyperparameters) group["hyperparameters"][name] = number_to_json(value);
    for (const std::vector<int64_t>& shape : g.shapes) group["shapes"].push_back(shape);
    groups.push_back(group);
  }
  json steps = json::array();
  for (const std::optional<int64_t>& t : meta.steps) steps.push_back(t ? json(*t) : json(nullptr));

  std::map<std::string, std::string> out;
  out["format"] = checkpoint_format;
  out["optimizer"] = meta.optimizer;
  out["optimizer.groups"] = groups.dump();
  out["optimizer.steps"] = steps.dump();
  bool any_scalars = false;
  json scalars = json::array();
  for (const std::map<std::string, double>& named : meta.scalars) {
    any_scalars = any_scalars || !named.empty();
    json entry = named.empty() ? json(nullptr) : json::object();
    for (const auto& [name, value] : named) entry[name] = number_to_json(value);
    scalars.push_back(entry);
  }
  if (any_scalars) out["optimizer.scalars"] = scalars.dump();  // older files and most optimizers have none
  if (meta.schedule_step) {
    json bases = json::array();
    for (double rate : meta.schedule_base_learning_rates) bases.push_back(number_to_json(rate));
    out["schedule.step"] = std::to_string(*meta.schedule_step);
    out["schedule.base_learning_rates"] = bases.dump();
  }
  out["step"] = std::to_string(meta.step);
  for (const auto& [key, value] : meta.user) out["user." + key] = value;
  return out;
}

std::string exact_number(double value) { return number_to_json(value).dump(); }

}  // namespace moments
