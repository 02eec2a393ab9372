// Suite `io`: recorded optimizer runs (io/trajectory.hpp) and moments-check, on runs recorded here and
// on the two committed recordings (tests/data/recordings/, written by tests/reference/record_optimizer.py:
// torch.optim.AdamW, and a learner's numpy AdamW with epsilon inside the square root).
#include <string>

#include "io_testing.hpp"
#include "optim_testing.hpp"
#include "trajectory.hpp"

using namespace moments;
using io_testing::run;
using io_testing::TempDir;
using testing::check_error;

namespace {

const std::string kRecordings = MOMENTS_DATA_DIR "/recordings/";

Trajectory adamw_run(double weight_decay) {
  return replay([=](const std::vector<Tensor>& p) { return std::make_unique<AdamW>(p, AdamWOptions{.weight_decay = weight_decay}); },
                check_problem({.steps = 4}));
}

std::string check_command(const std::string& args) { return std::string("'") + MOMENTS_CHECK + "' " + args; }

}  // namespace

TEST_CASE("trajectory: save then load gives the same run, names, reference and hyperparameters") {
  TempDir dir("trajectory");
  Trajectory t = adamw_run(0.1);
  save_trajectory(dir.file("run.safetensors"), t, {"w", "b"}, "AdamW", {{"weight_decay", 0.1}, {"learning_rate", 1e-3}});
  RecordedTrajectory r = load_trajectory(dir.file("run.safetensors"));
  CHECK(r.names == std::vector<std::string>{"b", "w"});  // sorted: the trajectory's order follows
  CHECK(r.reference == "AdamW");
  CHECK(r.hyperparameters == std::map<std::string, double>{{"learning_rate", 1e-3}, {"weight_decay", 0.1}});
  REQUIRE(r.trajectory.after.size() == 4);
  CHECK(r.trajectory.after[3][1].to_vector() == t.after[3][0].to_vector());  // "w" was parameter 0
  CHECK(r.trajectory.gradients[0][0].to_vector() == t.gradients[0][1].to_vector());
  CHECK_FALSE(check_trajectory(r.trajectory, r.reference, r.hyperparameters).divergence);
}

TEST_CASE("trajectory: a malformed recording is refused, naming the file and what is wrong") {
  TempDir dir("trajectory_bad");
  Trajectory t = adamw_run(0.0);
  const std::string path = dir.file("bad.safetensors");
  auto write = [&](NamedTensors tensors, Metadata metadata = {}) { save(path, tensors, metadata); };
  Tensor a = Tensor::zeros({3}), b = Tensor::zeros({2});
  write({{"initial.w", a}, {"weights", a}});
  check_error([&] { load_trajectory(path); }, {"bad.safetensors", "tensor \"weights\" is not initial.NAME"});
  write({{"initial.w", a}, {"step1.grad.w", a}, {"step1.param.w", a}, {"step3.grad.w", a}, {"step3.param.w", a}});
  check_error([&] { load_trajectory(path); }, {"step 2 has no grad tensors"});
  write({{"initial.w", a}, {"step1.grad.w", b}, {"step1.param.w", a}});
  check_error([&] { load_trajectory(path); }, {"step1.grad.w has shape [2], initial.w has [3]"});
  write({{"initial.w", a}, {"step1.grad.w", a}});
  check_error([&] { load_trajectory(path); }, {"step 1 has no param tensors"});
  write({{"initial.w", a}, {"step01.grad.w", a}});
  check_error([&] { load_trajectory(path); }, {"\"step01.grad.w\" is not"});
  write({{"initial.w", a}, {"step1.grad.w", a}, {"step1.param.w", a}}, {{"moments_check.hyperparameters", "lr=fast"}});
  check_error([&] { load_trajectory(path); }, {"\"lr=fast\" is not NAME=NUMBER"});
  write({{"step1.grad.w", a}});
  check_error([&] { load_trajectory(path); }, {"no initial.NAME tensors"});
  check_error([&] { save_trajectory(path, t, {"w"}); }, {"save_trajectory: 1 names for 2 parameters"});
}

TEST_CASE("trajectory: PyTorch's AdamW, recorded, matches moments' AdamW; the numpy learner's mistake is named") {
  RecordedTrajectory torch_run = load_trajectory(kRecordings + "torch_adamw.safetensors");
  CHECK(torch_run.reference == "AdamW");
  CHECK(torch_run.trajectory.after.size() == 20);
  CheckReport same = check_trajectory(torch_run.trajectory, torch_run.reference, torch_run.hyperparameters);
  CHECK_FALSE(same.divergence);
  CHECK(same.max_difference < 1e-7);
  RecordedTrajectory numpy_run = load_trajectory(kRecordings + "numpy_adamw_eps_in_root.safetensors");
  CheckReport wrong = check_trajectory(numpy_run.trajectory, numpy_run.reference, numpy_run.hyperparameters);
  REQUIRE(wrong.divergence);
  CHECK(wrong.likely_mistake.find("epsilon inside the square root") == 0);
}

TEST_CASE("moments-check: exit 0 on a match, 1 on a divergence, 2 on a usage error or a bad file") {
  auto [same, same_status] = run(check_command("'" + kRecordings + "torch_adamw.safetensors'"));
  CHECK(same_status == 0);
  CHECK(same.find("matches: every element of every step") != std::string::npos);
  auto [wrong, wrong_status] = run(check_command("'" + kRecordings + "numpy_adamw_eps_in_root.safetensors'"));
  CHECK(wrong_status == 1);
  CHECK(wrong.find("likely mistake: epsilon inside the square root") != std::string::npos);
  // --set overrides the file's hyperparameters: AdamW with another decay diverges from PyTorch's run.
  auto [decay, decay_status] = run(check_command("'" + kRecordings + "torch_adamw.safetensors' --set weight_decay=0.5"));
  CHECK(decay_status == 1);
  CHECK(decay.find("weight_decay 0.5") != std::string::npos);
  CHECK(run(check_command("'" + kRecordings + "torch_adamw.safetensors' --reference Adamm")).second == 2);
  CHECK(run(check_command("'" + kRecordings + "torch_adamw.safetensors' --set weight_decay")).second == 2);
  CHECK(run(check_command("'" + kRecordings + "torch_adamw.safetensors' --rtol -1")).second == 2);
  CHECK(run(check_command("")).second == 2);
  auto [missing, missing_status] = run(check_command("/nonexistent.safetensors"));
  CHECK(missing_status == 2);
  CHECK(missing.find("No such file or directory") != std::string::npos);
  TempDir dir("check_cli");
  save_trajectory(dir.file("anonymous.safetensors"), adamw_run(0.0), {"w", "b"});
  auto [unnamed, unnamed_status] = run(check_command("'" + dir.file("anonymous.safetensors") + "'"));
  CHECK(unnamed_status == 2);
  CHECK(unnamed.find("pass --reference NAME") != std::string::npos);
  CHECK(run(check_command("'" + dir.file("anonymous.safetensors") + "' --reference AdamW --set weight_decay=0")).second == 0);
}
