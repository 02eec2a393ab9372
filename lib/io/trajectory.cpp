// io/trajectory.cpp — see trajectory.hpp.
#include "trajectory.hpp"

#include <cerrno>
#include <cstdlib>
#include <set>

#include "../error.hpp"
#include "safetensors.hpp"

namespace moments {

namespace {

// "stepK.KIND.NAME" → (K, KIND, NAME); false if the name does not have that form.
bool parse_step_name(const std::string& name, int64_t& step, std::string& kind, std::string& param) {
  if (name.rfind("step", 0) != 0) return false;
  size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4) return false;
  std::string digits = name.substr(4, dot - 4);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9 || digits[0] == '0') return false;
  step = std::stoll(digits);
  size_t dot2 = name.find('.', dot + 1);
  if (dot2 == std::string::npos) return false;
  kind = name.substr(dot + 1, dot2 - dot - 1);
  param = name.substr(dot2 + 1);
  return (kind == "grad" || kind == "param") && !param.empty();
}

}  // namespace

void save_trajectory(const std::string& path, const Trajectory& t, const std::vector<std::string>& names,
                     const std::string& reference, const std::map<std::string, double>& hyperparameters) {
  if (names.size() != t.initial.size())
    fail("save_trajectory: ", names.size(), " names for ", t.initial.size(), " parameters");
  NamedTensors tensors;
  for (size_t p = 0; p < names.size(); ++p) tensors.push_back({"initial." + names[p], t.initial[p]});
  for (size_t s = 0; s < t.gradients.size(); ++s)
    for (size_t p = 0; p < names.size(); ++p) {
      std::string step = "step" + std::to_string(s + 1) + ".";
      tensors.push_back({step + "grad." + names[p], t.gradients[s][p]});
      if (s < t.after.size()) tensors.push_back({step + "param." + names[p], t.after[s][p]});
    }
  Metadata metadata;
  if (!reference.empty()) metadata["moments_check.reference"] = reference;
  std::string list;
  for (const auto& [key, value] : hyperparameters) {
    char number[64];
    std::snprintf(number, sizeof number, "%.17g", value);
    list += (list.empty() ? "" : ",") + key + "=" + number;
  }
  if (!list.empty()) metadata["moments_check.hyperparameters"] = list;
  save(path, tensors, metadata);
}

RecordedTrajectory load_trajectory(const std::string& path) {
  SafetensorsFile file = load(path);
  RecordedTrajectory r;
  std::map<std::string, Tensor> initial;
  std::map<int64_t, std::map<std::string, Tensor>> grads, params;
  for (const auto& [name, tensor] : file.tensors) {
    int64_t step = 0;
    std::string kind, param;
    if (name.rfind("initial.", 0) == 0 && name.size() > 8) initial[name.substr(8)] = tensor;
    else if (parse_step_name(name, step, kind, param)) (kind == "grad" ? grads : params)[step][param] = tensor;
    else fail("load_trajectory '", path, "': tensor \"", name, "\" is not initial.NAME, stepK.grad.NAME or stepK.param.NAME");
  }
  if (initial.empty()) fail("load_trajectory '", path, "': no initial.NAME tensors");
  for (const auto& [name, tensor] : initial) r.names.push_back(name), r.trajectory.initial.push_back(tensor);
  const int64_t steps = static_cast<int64_t>(grads.size());
  if (steps == 0) fail("load_trajectory '", path, "': no stepK.grad.NAME tensors");
  for (int64_t k = 1; k <= steps; ++k) {
    for (auto* kind : {&grads, &params}) {
      const char* what = kind == &grads ? "grad" : "param";
      auto it = kind->find(k);
      if (it == kind->end()) fail("load_trajectory '", path, "': step ", k, " has no ", what, " tensors (", steps, " steps of gradients)");
      std::vector<Tensor> row;
      for (size_t p = 0; p < r.names.size(); ++p) {
        auto t = it->second.find(r.names[p]);
        if (t == it->second.end()) fail("load_trajectory '", path, "': no tensor step", k, ".", what, ".", r.names[p]);
        if (t->second.shape() != r.trajectory.initial[p].shape())
          fail("load_trajectory '", path, "': step", k, ".", what, ".", r.names[p], " has shape ", shape_str(t->second.shape()),
               ", initial.", r.names[p], " has ", shape_str(r.trajectory.initial[p].shape()));
        row.push_back(t->second);
      }
      if (it->second.size() != r.names.size())
        fail("load_trajectory '", path, "': step ", k, " has ", it->second.size(), " ", what, " tensors for ", r.names.size(),
             " parameters");
      (kind == &grads ? r.trajectory.gradients : r.trajectory.after).push_back(row);
    }
  }
  if (static_cast<int64_t>(params.size()) != steps)
    fail("load_trajectory '", path, "': ", params.size(), " steps of parameters for ", steps, " steps of gradients");
  auto meta = [&](const char* key) { auto it = file.metadata.find(key); return it == file.metadata.end() ? std::string() : it->second; };
  r.reference = meta("moments_check.reference");
  std::string list = meta("moments_check.hyperparameters");
  for (size_t at = 0; at < list.size();) {
    size_t comma = list.find(',', at);
    std::string item = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    size_t eq = item.find('=');
    char* end = nullptr;
    errno = 0;
    double value = eq == std::string::npos ? 0.0 : std::strtod(item.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || end == item.c_str() + eq + 1 || *end != '\0' || errno != 0)
      fail("load_trajectory '", path, "': moments_check.hyperparameters: \"", item, "\" is not NAME=NUMBER");
    r.hyperparameters[item.substr(0, eq)] = value;
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return r;
}

}  // namespace moments
