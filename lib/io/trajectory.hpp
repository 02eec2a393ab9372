// io/trajectory.hpp — an optimizer's recorded run (optim/check.hpp's Trajectory) as a safetensors file,
// the file moments-check reads and tests/reference/record_optimizer.py writes from PyTorch.
//
// THE FILE: float32 tensors named
//   initial.NAME          a parameter before the first step
//   stepK.grad.NAME       the gradient the optimizer was given on step K (K = 1, 2, ...)
//   stepK.param.NAME      the parameter after step K
// for every parameter NAME (any names; taken in sorted order), and optionally the metadata
//   moments_check.reference        the reference to compare with, e.g. "AdamW"
//   moments_check.hyperparameters  its hyperparameters in moments' names, "learning_rate=0.001,weight_decay=0.1"
//
// USAGE
//   save_trajectory("mine.safetensors", replay(mine, check_problem()), {"w", "b"}, "AdamW", {{"weight_decay", 0.1}});
//   RecordedTrajectory r = load_trajectory("mine.safetensors");   // checks every name, step and shape
#pragma once
#include <map>
#include <string>
#include <vector>

#include "../optim/check.hpp"

namespace moments {

struct RecordedTrajectory {
  Trajectory trajectory;
  std::vector<std::string> names;                  // the parameters', in the trajectory's order
  std::string reference;                           // "" if the file names none
  std::map<std::string, double> hyperparameters;   // empty if the file gives none
};

void save_trajectory(const std::string& path, const Trajectory& trajectory, const std::vector<std::string>& names,
                     const std::string& reference = "", const std::map<std::string, double>& hyperparameters = {});
// Refuses (naming the file and the tensor) a name outside the scheme, a missing step or tensor, a step
// without its gradient or parameters, and shapes that differ from the initial parameter's.
RecordedTrajectory load_trajectory(const std::string& path);

}  // namespace moments
