// io/check_cli.cpp — moments-check RECORDING: a recorded optimizer run against moments' reference.
//
//   moments-check RECORDING.safetensors [--reference NAME] [--set NAME=VALUE]... [--rtol X] [--atol X]
//
// RECORDING is the file of io/trajectory.hpp: the parameters before the first step, each step's
// gradient and the parameters after it, as tests/reference/record_optimizer.py writes it from PyTorch
// or save_trajectory() from C++. The reference and its hyperparameters come from the file's metadata;
// --reference and --set (moments' names: learning_rate, beta1, weight_decay, ...) replace them. Prints
// optim/check.hpp's report: "matches", or the first step and element beyond the tolerance, the
// reference's explain() trace of that element, and the classic mistake that reproduces the recording
// when one does. Exit status: 0 matches, 1 diverges, 2 a usage error or a file it cannot read.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "trajectory.hpp"

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "moments-check: %s\n"
               "usage: moments-check RECORDING.safetensors [--reference NAME] [--set NAME=VALUE]... [--rtol X] [--atol X]\n",
               why);
  return 2;
}

bool number(const char* text, double& out) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  return end != text && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  using namespace moments;
  std::string path, reference;
  std::map<std::string, double> overrides;
  CheckOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--reference" && has_value) {
      reference = argv[++i];
    } else if (arg == "--set" && has_value) {
      std::string item = argv[++i];
      size_t eq = item.find('=');
      double value = 0;
      if (eq == std::string::npos || eq == 0 || !number(item.c_str() + eq + 1, value))
        return usage(("--set " + item + ": expected NAME=NUMBER").c_str());
      overrides[item.substr(0, eq)] = value;
    } else if ((arg == "--rtol" || arg == "--atol") && has_value) {
      double value = 0;
      if (!number(argv[++i], value) || !(value >= 0)) return usage((arg + " " + argv[i] + ": expected a number >= 0").c_str());
      (arg == "--rtol" ? options.rtol : options.atol) = value;
    } else if (arg.rfind("--", 0) == 0 || !path.empty()) {
      return usage(("unexpected argument '" + arg + "'").c_str());
    } else {
      path = arg;
    }
  }
  if (path.empty()) return usage("no recording given");
  try {
    RecordedTrajectory recorded = load_trajectory(path);
    if (reference.empty()) reference = recorded.reference;
    if (reference.empty()) return usage("the recording names no reference (moments_check.reference): pass --reference NAME");
    for (const auto& [key, value] : overrides) recorded.hyperparameters[key] = value;
    CheckReport report = check_trajectory(recorded.trajectory, reference, recorded.hyperparameters, options);
    std::printf("%s: %zu parameters (", path.c_str(), recorded.names.size());
    for (size_t p = 0; p < recorded.names.size(); ++p)
      std::printf("%s%zu %s %s", p ? ", " : "", p, recorded.names[p].c_str(), shape_str(recorded.trajectory.initial[p].shape()).c_str());
    std::printf(")\n%s", format_report(report).c_str());
    return report.divergence ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moments-check: %s\n", e.what());
    return 2;
  }
}
