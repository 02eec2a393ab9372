// Suite `io`: checkpoints — resume determinism in a fresh process for every
// optimizer, the names a PyTorch user sees, mismatches named on load, and saves
// killed halfway that leave the previous checkpoint intact.
#include "io_testing.hpp"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "atomic_file.hpp"
#include "resume_problem.hpp"
#include "safetensors_format.hpp"
#include "testing.hpp"

using namespace moments;
using io_testing::ResumeRun;
using testing::check_error;

namespace fs = std::filesystem;

namespace {

using io_testing::read_bytes;
using io_testing::TempDir;

std::vector<uint32_t> bits_of(const Tensor& t) {
  std::vector<uint32_t> bits;
  for (int64_t i = 0; i < t.numel(); ++i) bits.push_back(std::bit_cast<uint32_t>(t.data()[i]));
  return bits;
}

// Two checkpoint files hold the same tensors and metadata; on a difference,
// names the first tensor or key that differs.
void check_same_checkpoint(const std::string& actual_path, const std::string& expected_path) {
  SafetensorsFile actual = load(actual_path), expected = load(expected_path);
  REQUIRE(actual.tensors.size() == expected.tensors.size());
  for (size_t i = 0; i < actual.tensors.size(); ++i) {
    const std::string& name = expected.tensors[i].first;
    CAPTURE(name);
    REQUIRE(actual.tensors[i].first == name);
    CHECK(bits_of(actual.tensors[i].second) == bits_of(expected.tensors[i].second));
  }
  for (const auto& entry : expected.metadata) {
    const std::string& key = entry.first;
    CAPTURE(key);
    CHECK(actual.metadata.at(key) == entry.second);
  }
  CHECK(read_bytes(actual_path) == read_bytes(expected_path));  // and so, byte for byte
}

int run(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A model made of the first layer of an MLP only: its names are a subset of the MLP's.
struct FirstLayerOnly : Module {
  MLP mlp;
  explicit FirstLayerOnly(Generator& gen) : mlp({64, 16, 10}, gen) {}
  Tensor forward(const Tensor& x) const override { return mlp.layers[0].forward(x); }
  NamedTensors named_parameters() const override {
    NamedTensors all = mlp.named_parameters();
    return {all[0], all[1]};
  }
};

}  // namespace

TEST_CASE("resume in a fresh process continues bit for bit like an uninterrupted run, for every optimizer") {
  TempDir dir("resume");
  const int64_t stop = 23, total = 40;
  for (const std::string& kind : io_testing::resume_optimizers) {
    CAPTURE(kind);
    // The run that never stops, in this process.
    ResumeRun straight(kind, /*init_seed=*/0);
    straight.train(0, total);
    straight.save(dir.file(kind + "_straight.safetensors"), total);

    // The run that stops at `stop`, saves, and continues in a new process.
    std::string helper = std::string("'") + IO_RESUME_HELPER + "' " + kind + " ";
    std::string checkpoint = dir.file(kind + "_at_stop.safetensors"), resumed = dir.file(kind + "_resumed.safetensors");
    REQUIRE(run(helper + "start '" + checkpoint + "' " + std::to_string(stop)) == 0);
    REQUIRE(run(helper + "resume '" + checkpoint + "' " + std::to_string(total) + " '" + resumed + "'") == 0);
    check_same_checkpoint(resumed, dir.file(kind + "_straight.safetensors"));
  }
}

TEST_CASE("resume within one process gives the same losses step by step") {
  TempDir dir("losses");
  for (const std::string& kind : io_testing::resume_optimizers) {
    CAPTURE(kind);
    ResumeRun straight(kind, 0);
    std::vector<float> expected = straight.train(0, 30);
    ResumeRun first(kind, 0);
    std::vector<float> losses = first.train(0, 12);
    first.save(dir.file("mid.safetensors"), 12);
    ResumeRun second(kind, 777);
    REQUIRE(second.load(dir.file("mid.safetensors")) == 12);
    CHECK(second.schedule->last_step() == 12);
    std::vector<float> rest = second.train(12, 30);
    losses.insert(losses.end(), rest.begin(), rest.end());
    REQUIRE(losses.size() == expected.size());
    for (size_t t = 0; t < losses.size(); ++t) {
      CAPTURE(t);
      CHECK(std::bit_cast<uint32_t>(losses[t]) == std::bit_cast<uint32_t>(expected[t]));
    }
  }
}

TEST_CASE("a checkpoint names its tensors and metadata so that a PyTorch user can read it") {
  TempDir dir("names");
  ResumeRun run("Adam-amsgrad", 0);
  run.train(0, 3);
  save_checkpoint(dir.file("c.safetensors"), run.model, *run.optimizer, run.schedule.get(),
                  {.step = 3, .metadata = {{"dataset", "digits"}}});
  SafetensorsFile file = load(dir.file("c.safetensors"));
  std::vector<std::string> names;
  for (const auto& [name, t] : file.tensors) names.push_back(name);
  // Flat indices count group by group: weights (group 0) are 0 and 1, biases (group 1) 2 and 3.
  std::vector<std::string> expected = {"model.layers.0.weight", "model.layers.0.bias", "model.layers.1.weight",
                                       "model.layers.1.bias"};
  for (int i = 0; i < 4; ++i)
    for (const char* buffer : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
      expected.push_back("optimizer." + std::to_string(i) + "." + buffer);
  CHECK(names == expected);
  CHECK(file.get("optimizer.0.exp_avg").shape() == Shape{16, 64});
  CHECK(file.metadata.at("format") == "moments.checkpoint.v1");
  CHECK(file.metadata.at("optimizer") == "Adam");
  CHECK(file.metadata.at("optimizer.steps") == "[3,3,3,3]");
  CHECK(file.metadata.at("schedule.step") == "3");
  CHECK(file.metadata.at("schedule.base_learning_rates") == "[0.003,0.001]");
  CHECK(file.metadata.at("step") == "3");
  CHECK(file.metadata.at("user.dataset") == "digits");
  nlohmann::json groups = nlohmann::json::parse(file.metadata.at("optimizer.groups"));
  REQUIRE(groups.size() == 2);
  CHECK(groups[0]["params"] == nlohmann::json({0, 1}));
  CHECK(groups[1]["params"] == nlohmann::json({2, 3}));
  CHECK(groups[0]["shapes"] == nlohmann::json::parse("[[16, 64], [10, 16]]"));
  CHECK(groups[1]["hyperparameters"]["beta2"] == 0.99);
  CHECK(groups[1]["hyperparameters"]["amsgrad"] == 1.0);
  CHECK(groups[0]["hyperparameters"]["learning_rate"] == run.optimizer->learning_rate(0));
}

TEST_CASE("state before the first step, steps without buffers, and non-finite hyperparameters round trip") {
  TempDir dir("edge");
  Generator gen(0);
  MLP model({4, 3}, gen);
  // SGD without momentum keeps a step count and no buffers; a parameter never stepped has no state.
  Tensor unused = Tensor::zeros({2}).requires_grad_();
  SGD sgd({model.layers[0].weight, unused}, {.learning_rate = 0.1});
  model.layers[0].weight.set_grad(Tensor::ones({3, 4}));
  sgd.step();
  save_checkpoint(dir.file("sgd.safetensors"), model, sgd);
  CHECK(load(dir.file("sgd.safetensors")).metadata.at("optimizer.steps") == "[1,null]");
  SGD fresh({model.layers[0].weight, unused}, {.learning_rate = 0.5});
  load_checkpoint(dir.file("sgd.safetensors"), model, fresh);
  REQUIRE(fresh.state(model.layers[0].weight) != nullptr);
  CHECK(fresh.state(model.layers[0].weight)->step == 1);
  CHECK(fresh.state(unused) == nullptr);
  CHECK(fresh.learning_rate(0) == 0.1);

  // Adafactor's clip_threshold may be inf (no clipping): JSON has no inf, so it is stored as "inf".
  Adafactor adafactor(model.parameters(), {.clip_threshold = INFINITY});
  save_checkpoint(dir.file("inf.safetensors"), model, adafactor);
  Adafactor other(model.parameters());
  load_checkpoint(dir.file("inf.safetensors"), model, other);
  CHECK(std::isinf(other.hyperparameter(0, "clip_threshold")));
}

TEST_CASE("loading into another model, optimizer or schedule names the first mismatch and changes nothing") {
  TempDir dir("mismatch");
  ResumeRun run("Adam", 0);
  run.train(0, 4);
  const std::string path = dir.file("adam.safetensors");
  run.save(path, 4);

  ResumeRun target("Adam", 99);
  const std::vector<uint32_t> weight_before = bits_of(target.model.layers[0].weight);
  auto unchanged = [&] {
    CHECK(bits_of(target.model.layers[0].weight) == weight_before);
    CHECK(target.optimizer->state(target.model.layers[0].weight) == nullptr);
    CHECK(target.schedule->last_step() == 0);
  };

  Generator gen(1);
  MLP narrower({64, 8, 10}, gen);
  check_error([&] { load_checkpoint(path, narrower, *target.optimizer, target.schedule.get()); },
              {"load_checkpoint '" + path + "'", "parameter 'layers.0.weight' has shape [8, 64] in the model, [16, 64] in the checkpoint"});
  MLP deeper({64, 16, 10, 10}, gen);
  check_error([&] { load_checkpoint(path, deeper, *target.optimizer, target.schedule.get()); },
              {"the model's parameter 'layers.2.weight' is not in the checkpoint"});
  FirstLayerOnly first_layer(gen);
  check_error([&] { load_checkpoint(path, first_layer, *target.optimizer, target.schedule.get()); },
              {"the checkpoint has 'model.layers.1.weight', which the model does not have"});
  unchanged();

  SGD sgd(target.model.parameters());
  check_error([&] { load_checkpoint(path, target.model, sgd); }, {"holds Adam state, but the optimizer is SGD"});
  Adam one_group(target.model.parameters());
  check_error([&] { load_checkpoint(path, target.model, one_group); }, {"2 parameter groups, the optimizer has 1"});
  std::vector<Tensor> params = target.model.parameters();
  Adam swapped({params[0], params[1]});  // same group sizes, other shapes: layers.0.weight and layers.0.bias
  swapped.add_param_group({params[2], params[3]}, AdamOptions{});
  check_error([&] { load_checkpoint(path, target.model, swapped); },
              {"optimizer parameter 1 (group 0) has shape [16] in the optimizer, [10, 16] in the checkpoint"});

  check_error([&] { load_checkpoint(path, target.model, *target.optimizer); }, {"pass its LrScheduler"});
  target.optimizer->set_learning_rate(0, 1.0);
  LrScheduler changed(*target.optimizer, constant_schedule());
  check_error([&] { load_checkpoint(path, target.model, *target.optimizer, &changed); },
              {"group 0's schedule has base learning rate 1.0, the checkpoint's has 0.003"});
  target.optimizer->set_learning_rate(0, 3e-3);
  unchanged();

  // Tampered files: each piece the loader reads is checked.
  SafetensorsFile file = load(path);
  auto tampered = [&](const std::function<void(SafetensorsFile&)>& change) {
    SafetensorsFile copy = file;
    change(copy);
    save(dir.file("tampered.safetensors"), copy.tensors, copy.metadata);
    return dir.file("tampered.safetensors");
  };
  auto load_target = [&](const std::string& p) { load_checkpoint(p, target.model, *target.optimizer, target.schedule.get()); };
  check_error([&] { load_target(tampered([](SafetensorsFile& f) {
                for (auto& [name, t] : f.tensors)
                  if (name == "optimizer.1.exp_avg") t = Tensor::zeros({7});
              })); },
              {"Adam::load_state_dict: parameter 1 (group 0) buffer 'exp_avg' has shape [7], the parameter needs [10, 16]"});
  check_error([&] { load_target(tampered([](SafetensorsFile& f) { f.tensors.emplace_back("extra", Tensor::zeros({1})); })); },
              {"unexpected tensor 'extra'"});
  check_error([&] { load_target(tampered([](SafetensorsFile& f) { f.metadata["optimizer.groups"] = "[{"; })); },
              {"metadata 'optimizer.groups' is not valid JSON"});
  check_error([&] { load_target(tampered([](SafetensorsFile& f) { f.metadata["optimizer.steps"] = "[4,4]"; })); },
              {"'optimizer.steps' has 2 entries, the optimizer has 4 parameters"});
  check_error([&] { load_target(tampered([](SafetensorsFile& f) { f.metadata["optimizer.steps"] = "[4,4,-1,4]"; })); },
              {"optimizer.steps[2] is -1, expected an integer >= 0"});
  check_error([&] { load_target(tampered([](SafetensorsFile& f) { f.metadata["step"] = "x"; })); },
              {"metadata 'step' is 'x', expected an integer >= 0"});
  check_error([&] { load_target(tampered([](SafetensorsFile& f) { f.metadata.erase("format"); })); },
              {"not a moments checkpoint"});
  check_error([&] { load_target(tampered([](SafetensorsFile& f) { f.metadata["optimizer.groups"] = std::string(100, '[') + std::string(100, ']'); })); },
              {"nests 100 levels deep"});
  unchanged();

  // And the real thing still loads.
  CHECK(load_checkpoint(path, target.model, *target.optimizer, target.schedule.get()).step == 4);
  CHECK(bits_of(target.model.layers[0].weight) == bits_of(run.model.layers[0].weight));
  CHECK(target.schedule->last_step() == 4);
  target.train(4, 5);
  check_error([&] { load_target(path); }, {"the schedule is at step 5, past the checkpoint's 4"});
}

// Kills a child process in the middle of write_file_atomically: the producer
// writes half the bytes, tells the parent, and waits to be killed.
TEST_CASE("a save killed halfway leaves the previous checkpoint intact, and the next save cleans up") {
  TempDir dir("kill");
  const std::string path = dir.file("ckpt.safetensors");
  save(path, {{"w", Tensor::from({1.0f, 2.0f})}}, {{"version", "old"}});
  const std::string old_bytes = read_bytes(path);

  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // the child: half a file, then wait for SIGKILL
    close(ready[0]);
    try {
      write_file_atomically(path, [&](const WriteBytes& write) {
        write(old_bytes.data(), old_bytes.size() / 2);
        char byte = 'x';
        if (::write(ready[1], &byte, 1) != 1) _exit(3);
        for (;;) pause();
      });
    } catch (...) {
      _exit(4);
    }
    _exit(0);
  }
  close(ready[1]);
  char byte = 0;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  close(ready[0]);
  const std::vector<std::string> temporaries = temporary_files_of(dir.path.string(), child);
  REQUIRE(temporaries.size() == 1);
  const std::string temporary = temporaries[0];
  CHECK(fs::path(temporary).filename().string().rfind(".moments-tmp." + std::to_string(child) + ".", 0) == 0);
  CHECK(fs::file_size(temporary) == old_bytes.size() / 2);  // the half-written file exists...
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));

  CHECK(read_bytes(path) == old_bytes);  // ...and the checkpoint is untouched
  CHECK(load(path).metadata.at("version") == "old");
  CHECK(fs::exists(temporary));          // the dead child's leftover, named apart from the checkpoint
  save(path, {{"w", Tensor::from({3.0f})}}, {{"version", "new"}});
  CHECK_FALSE(fs::exists(temporary));    // removed by the next save to the same path
  CHECK(load(path).metadata.at("version") == "new");
}

// The real thing: a 200 MB save killed as soon as its temporary file has grown.
// Whenever the kill lands, the path holds a complete checkpoint, old or new.
TEST_CASE("a 200 MB save killed mid-write leaves a loadable checkpoint") {
  TempDir dir("kill_big");
  const std::string path = dir.file("big.safetensors");
  save(path, {{"w", Tensor::from({1.0f, 2.0f})}}, {{"version", "old"}});

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      Tensor big = Tensor::full({50'000'000}, 0.25f);  // 200 MB
      save(path, {{"big", big}}, {{"version", "new"}});
    } catch (...) {
      _exit(4);
    }
    _exit(0);
  }
  std::string temporary;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline) {
    if (temporary.empty()) {
      const std::vector<std::string> found = temporary_files_of(dir.path.string(), child);
      if (!found.empty()) temporary = found[0];
    }
    auto size = temporary.empty() ? 0 : fs::file_size(temporary, ec);
    if (!ec && size > (16u << 20)) break;  // 16 MB written
    if (waitpid(child, nullptr, WNOHANG) == child) {
      child = 0;  // finished before we saw it grow
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  bool killed_mid_save = false;
  if (child > 0) {
    killed_mid_save = !temporary.empty() && fs::exists(temporary);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  }
  SafetensorsFile file = load(path);  // never a torn file
  std::string version = file.metadata.at("version");
  INFO("killed mid-save: ", killed_mid_save, ", the path holds the ", version, " checkpoint");
  if (killed_mid_save) CHECK(version == "old");
  if (version == "old") CHECK(file.get("w").to_vector() == std::vector<float>{1.0f, 2.0f});
  if (version == "new") CHECK(file.get("big").numel() == 50'000'000);
}
