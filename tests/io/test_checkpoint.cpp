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
#include "checkpoint_metadata.hpp"
#include "metadata_fuzz_input.hpp"
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

namespace {

// Everything load_checkpoint may change, as bytes: the model's parameters, the
// optimizer's state (step counts and buffers) and hyperparameters, and the schedule's
// step. Two equal fingerprints mean byte-identical state.
std::string fingerprint(ResumeRun& run) {
  std::ostringstream out;
  auto bits = [&](const Tensor& t) {
    for (uint32_t b : bits_of(t)) out << b << ',';
    out << ';';
  };
  for (const auto& [name, p] : run.model.named_parameters()) out << name << ':', bits(p);
  const StateDict dict = run.optimizer->state_dict();
  for (const StateDict::Group& g : dict.groups)
    for (const auto& [name, value] : g.hyperparameters) out << name << '=' << std::bit_cast<uint64_t>(value) << ';';
  for (const auto& [index, state] : dict.state) {
    out << "state " << index << " t=" << state.step << ';';
    for (const auto& [buffer, tensor] : state.buffers) out << buffer << ':', bits(tensor);
    for (const auto& [scalar, value] : state.scalars) out << scalar << '=' << std::bit_cast<uint64_t>(value) << ';';
  }
  out << "schedule t=" << run.schedule->last_step();
  return out.str();
}

// Saves `tensors` with `metadata` at `bad`: loading it into `target` must fail with every piece of
// `expected` and the path, and leave `target` as `before` (its fingerprint) says.
void check_refused(ResumeRun& target, const std::string& bad, const NamedTensors& tensors, const Metadata& metadata,
                   std::vector<std::string> expected, const std::string& before) {
  save(bad, tensors, metadata);
  expected.push_back("load_checkpoint '" + bad + "'");
  check_error([&] { target.load(bad); }, expected);
  CHECK(fingerprint(target) == before);
}

}  // namespace

TEST_CASE("every corrupted metadata value is refused by name, and the model, optimizer and schedule stay byte-identical") {
  TempDir dir("corrupt");
  ResumeRun run("Adam", 0);
  run.train(0, 4);
  const std::string path = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  run.save(path, 4);
  const SafetensorsFile file = load(path);

  // The target has state of its own (2 steps from another start), which must survive every refusal.
  ResumeRun target("Adam", 99);
  target.train(0, 2);
  const std::string before = fingerprint(target);

  const nlohmann::json groups = nlohmann::json::parse(file.metadata.at("optimizer.groups"));
  auto groups_with = [&](const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json copy = groups;
    change(copy);
    return copy.dump();
  };
  const std::string erase = "\x01(erase)";
  struct Corruption {
    std::string key, value;
    std::vector<std::string> expected;
  };
  const std::vector<Corruption> corruptions = {
      {"format", "moments.checkpoint.v2", {"format 'moments.checkpoint.v2', expected 'moments.checkpoint.v1'"}},
      {"format", erase, {"not a moments checkpoint"}},
      {"optimizer", "SGD", {"holds SGD state, but the optimizer is Adam"}},
      {"optimizer", erase, {"the metadata has no 'optimizer'"}},
      {"optimizer.groups", "[{", {"metadata 'optimizer.groups' is not valid JSON"}},
      {"optimizer.groups", "{}", {"metadata 'optimizer.groups' is {}, expected a list"}},
      {"optimizer.groups", erase, {"the metadata has no 'optimizer.groups'"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[0]["hyperparameters"]["beta1"] = 1.5; }), {"beta1", "1.5"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[1]["hyperparameters"]["learning_rate"] = "nan"; }),
       {"learning_rate", "nan"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[1]["hyperparameters"]["eps"] = -1; }), {"eps", "-1"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[0]["hyperparameters"]["bogus"] = 1; }),
       {"no hyperparameter named 'bogus'"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[0]["params"] = {0, 2}; }), {"optimizer.groups[0] params are [0,2]", "consecutive"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[0]["params"] = {0, 1, 2}; }), {"3 params but 2 shapes"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[0]["shapes"][0] = {4611686018427387904, 4611686018427387904}; }),
       {"optimizer.groups[0] shapes[0] is [4611686018427387904,4611686018427387904]", "overflows int64"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[0]["shapes"][0] = {16, -64}; }), {"optimizer.groups[0] shapes[0] dimension 1 is -64, expected an integer >= 0"}},
      {"optimizer.groups", groups_with([](nlohmann::json& g) { g[0]["shapes"][0] = {16, 63}; }),
       {"optimizer parameter 0 (group 0) has shape [16, 64] in the optimizer, [16, 63] in the checkpoint"}},
      {"optimizer.steps", "[9223372036854775807,4,4,4]",
       {"optimizer.steps[0] is 9223372036854775807, above the largest step count 9007199254740992"}},
      {"optimizer.steps", "[4,4,4,9007199254740993]", {"optimizer.steps[3] is 9007199254740993, above the largest"}},
      {"optimizer.steps", "[4,4,4,18446744073709551616]", {"optimizer.steps[3] is 1.8446744073709552e+19, expected an integer >= 0"}},
      {"optimizer.steps", "[4,4,-1,4]", {"optimizer.steps[2] is -1, expected an integer >= 0"}},
      {"optimizer.steps", "[4,4,4,4.5]", {"optimizer.steps[3] is 4.5"}},
      {"optimizer.steps", "[4,4,4,\"4\"]", {"optimizer.steps[3] is \"4\""}},
      {"optimizer.steps", "[4,4]", {"'optimizer.steps' has 2 entries, the optimizer has 4 parameters"}},
      {"optimizer.steps", erase, {"the metadata has no 'optimizer.steps'"}},
      {"schedule.step", "9223372036854775807", {"metadata 'schedule.step' is 9223372036854775807, above the largest step count"}},
      {"schedule.step", "9007199254740993", {"'schedule.step' is 9007199254740993, above"}},
      {"schedule.step", "99999999999999999999", {"'schedule.step' is '99999999999999999999', expected an integer >= 0"}},
      {"schedule.step", "-1", {"'schedule.step' is '-1', expected an integer >= 0"}},
      {"schedule.step", "4x", {"'schedule.step' is '4x'"}},
      {"schedule.step", "", {"'schedule.step' is ''"}},
      {"schedule.step", "1", {"the schedule is at step 2, past the checkpoint's 1"}},
      {"schedule.step", erase, {"has 'schedule.base_learning_rates' without 'schedule.step'"}},
      {"schedule.base_learning_rates", "[0.003]", {"'schedule.base_learning_rates' has 1 entries, the optimizer has 2 groups"}},
      {"schedule.base_learning_rates", "[0.003,-0.001]", {"schedule.base_learning_rates[1] is -0.001, expected a learning rate >= 0"}},
      {"schedule.base_learning_rates", "[0.003,\"nan\"]", {"schedule.base_learning_rates[1] is \"nan\""}},
      {"schedule.base_learning_rates", "[0.004,0.001]", {"group 0's schedule has base learning rate 0.003, the checkpoint's has 0.004"}},
      {"schedule.base_learning_rates", erase, {"has 'schedule.step' without 'schedule.base_learning_rates'"}},
      {"step", "1000000000000000000", {"metadata 'step' is 1000000000000000000, above the largest step count"}},
      {"step", "-3", {"metadata 'step' is '-3', expected an integer >= 0"}},
      {"step", "", {"metadata 'step' is ''"}},
      {"step", erase, {"the metadata has no 'step'"}},
  };
  for (const Corruption& c : corruptions) {
    CAPTURE(c.key);
    CAPTURE(c.value);
    Metadata metadata = file.metadata;
    if (c.value == erase) metadata.erase(c.key);
    else metadata[c.key] = c.value;
    check_refused(target, bad, file.tensors, metadata, c.expected, before);
  }

  // A schedule whose factor is invalid at the saved step is refused before anything changes
  // (a replay of step() would have thrown halfway, after the model and optimizer were overwritten).
  target.optimizer->set_learning_rate(0, 3e-3);  // the saved base rates
  target.optimizer->set_learning_rate(1, 1e-3);
  LrScheduler negative(*target.optimizer, [](int64_t t) { return t >= 3 ? -1.0 : 1.0; });
  const std::string with_negative = fingerprint(target);
  check_error([&] { load_checkpoint(path, target.model, *target.optimizer, &negative); },
              {"load_checkpoint '" + path + "'", "schedule.step 4", "the schedule gave factor -1 at step 4"});
  CHECK(fingerprint(target) == with_negative);
  CHECK(negative.last_step() == 0);

  // And the good file loads.
  CHECK(target.load(path) == 4);
  CHECK(fingerprint(target) != before);
}

TEST_CASE("a checkpoint at schedule step 10^12 loads at once: the schedule is set by formula, not replayed") {
  TempDir dir("far");
  ResumeRun run("AdamW", 0);
  run.train(0, 3);
  const std::string path = dir.file("far.safetensors");
  run.save(path, 3);
  SafetensorsFile file = load(path);
  file.metadata["schedule.step"] = "1000000000000";
  save(path, file.tensors, file.metadata);

  ResumeRun target("AdamW", 5);
  const auto start = std::chrono::steady_clock::now();
  CHECK(target.load(path) == 3);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(target.schedule->last_step() == 1'000'000'000'000);
  // warmup_cosine(5, 60, 0.1) is at its floor 0.1 long after step 60; the saved
  // hyperparameters (the rate the first run last set) are then restored exactly.
  CHECK(target.schedule->factor() == 0.1);
  CHECK(target.optimizer->learning_rate(0) == run.optimizer->learning_rate(0));
}

TEST_CASE("LrScheduler::set_step(t) sets exactly what t calls of step() set, for every schedule") {
  const std::vector<std::pair<std::string, Schedule>> schedules = {
      {"constant", constant_schedule()},
      {"linear_warmup", linear_warmup(10)},
      {"warmup_cosine", warmup_cosine(10, 100, 0.1)},
      {"step_decay", step_decay(7, 0.5)},
      {"linear_decay", linear_decay(50, 0.2)},
      {"multiply", multiply(linear_warmup(10), step_decay(3, 0.9))},
  };
  Tensor w = Tensor::zeros({2}).requires_grad_();
  for (const auto& [name, schedule] : schedules) {
    CAPTURE(name);
    SGD stepped_sgd({w}, {.learning_rate = 0.1}), jumped_sgd({w}, {.learning_rate = 0.1});
    LrScheduler stepped(stepped_sgd, schedule), jumped(jumped_sgd, schedule);
    for (int64_t t = 0; t <= 300; ++t) {
      CAPTURE(t);
      if (t > 0) stepped.step();
      jumped.set_step(t);
      // Bit for bit (tolerance 0): both compute base · f(t) from t by the same formula.
      CHECK(jumped.last_step() == stepped.last_step());
      CHECK(std::bit_cast<uint64_t>(jumped_sgd.learning_rate(0)) == std::bit_cast<uint64_t>(stepped_sgd.learning_rate(0)));
    }
  }

  // step_decay is γ^⌊t/s⌋ by pow: against a running product γ·γ·…·γ (the recursive form of
  // PyTorch's StepLR / ExponentialLR) it agrees to a relative 1e-12 over 5000 steps
  // (the product's rounding grows by about 1e-16 a step).
  const double gamma = 0.999;
  Schedule decay = step_decay(1, gamma);
  double product = 1.0;
  for (int64_t t = 0; t <= 5000; ++t) {
    CAPTURE(t);
    if (t > 0) product *= gamma;
    CHECK(std::abs(decay(t) - product) <= 1e-12 * product);
  }

  // Out of range: refused with the step named, nothing changed.
  SGD sgd({w}, {.learning_rate = 0.1});
  LrScheduler sched(sgd, step_decay(2, 0.5));
  sched.set_step(5);
  check_error([&] { sched.set_step(-1); }, {"LrScheduler: step -1 is out of range"});
  check_error([&] { sched.set_step(LrScheduler::max_step + 1); }, {"step 9007199254740993 is out of range"});
  CHECK(sched.last_step() == 5);
  CHECK(sgd.learning_rate(0) == 0.1 * 0.25);
  sched.set_step(LrScheduler::max_step);  // γ^(2^52) underflows to 0: a valid factor
  CHECK(sgd.learning_rate(0) == 0.0);
  check_error([&] { sched.step(); }, {"out of range"});
  CHECK(sched.last_step() == LrScheduler::max_step);
}

TEST_CASE("the committed metadata fuzz seeds are checkpoints' metadata, read and written back unchanged") {
  int seeds = 0;
  for (const auto& entry : fs::directory_iterator(IO_FUZZ_METADATA_CORPUS)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("valid_", 0) != 0) continue;
    CAPTURE(name);
    ++seeds;
    const Metadata metadata = io_testing::metadata_from_lines(read_bytes(entry.path().string()));
    const CheckpointMetadata meta = read_checkpoint_metadata(metadata, name);
    CHECK(write_checkpoint_metadata(meta) == metadata);
  }
  CHECK(seeds == 4);
}

TEST_CASE("per-parameter scalars (schedule-free AdamW's lr_max, weight_sum) round trip exactly; malformed ones are refused") {
  TempDir dir("scalars");
  ResumeRun run("AdamWScheduleFree", 0);
  run.train(0, 7);
  const std::string path = dir.file("sf.safetensors"), bad = dir.file("bad.safetensors");
  run.save(path, 7);
  const SafetensorsFile file = load(path);
  REQUIRE(file.metadata.count("optimizer.scalars") == 1);
  ResumeRun resumed("AdamWScheduleFree", 99);
  CHECK(resumed.load(path) == 7);
  CHECK(fingerprint(resumed) == fingerprint(run));  // every double bit for bit (fingerprint hashes their bits)
  const std::vector<Tensor> params = run.optimizer->all_params();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& saved = run.optimizer->state(params[i])->scalars;
    CHECK(saved.size() == 2);
    CHECK(resumed.optimizer->state(resumed.optimizer->all_params()[i])->scalars == saved);
  }
  // Optimizers without scalars write no such key, so their files are as before.
  ResumeRun adam("Adam", 0);
  adam.train(0, 1);
  adam.save(dir.file("adam.safetensors"), 1);
  CHECK(load(dir.file("adam.safetensors")).metadata.count("optimizer.scalars") == 0);

  ResumeRun target("AdamWScheduleFree", 5);
  target.train(0, 2);
  const std::string before = fingerprint(target);
  const std::string good = file.metadata.at("optimizer.scalars");
  const nlohmann::json scalars = nlohmann::json::parse(good);
  auto with = [&](const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json copy = scalars;
    change(copy);
    return copy.dump();
  };
  std::string huge = with([](nlohmann::json& s) { s[2]["lr_max"] = 12345; });
  huge.replace(huge.find("12345"), 5, "1e999");
  const std::vector<std::pair<std::string, std::vector<std::string>>> corruptions = {
      {"[{", {"metadata 'optimizer.scalars' is not valid JSON"}},
      {"{}", {"metadata 'optimizer.scalars' is {}, expected a list"}},
      {with([](nlohmann::json& s) { s.erase(s.size() - 1); }), {"'optimizer.scalars' has 3 entries, the optimizer has 4"}},
      {with([](nlohmann::json& s) { s[1] = 5; }), {"optimizer.scalars[1] is 5, expected null or an object"}},
      {with([](nlohmann::json& s) { s[2]["lr_max"] = "inf"; }), {"optimizer.scalars[2] 'lr_max' is \"inf\"", "finite number"}},
      {huge, {"metadata 'optimizer.scalars' is not valid JSON", "1e999"}},  // a double's overflow is refused too
      {with([](nlohmann::json& s) { s[0]["weight_sum"] = nullptr; }), {"optimizer.scalars[0] 'weight_sum' is null"}},
      {with([](nlohmann::json& s) { s[3].erase("weight_sum"); }), {"parameter 3 (group 1) has no 'weight_sum' scalar"}},
      {with([](nlohmann::json& s) { s[0]["k"] = 7; }), {"parameter 0 (group 0) has an unexpected scalar 'k'"}},
      {with([](nlohmann::json& s) { s[1] = nullptr; }), {"parameter 1 (group 0) has no 'lr_max' scalar"}},
  };
  for (const auto& [value, expected_pieces] : corruptions) {
    CAPTURE(value);
    Metadata metadata = file.metadata;
    metadata["optimizer.scalars"] = value;
    check_refused(target, bad, file.tensors, metadata, expected_pieces, before);
  }
  // Without the key the state has no scalars, which this optimizer refuses; scalars for a parameter
  // whose step count is null (no state) are refused when the metadata is read.
  Metadata metadata = file.metadata;
  metadata.erase("optimizer.scalars");
  check_refused(target, bad, file.tensors, metadata, {"parameter 0 (group 0) has no 'lr_max' scalar"}, before);
  metadata = file.metadata;
  metadata["optimizer.steps"] = "[7,7,7,null]";
  // (read before the tensors, so the stale optimizer.3.* tensors are not reached)
  check_refused(target, bad, file.tensors, metadata, {"optimizer.scalars[3] holds scalars, but parameter 3 has no state"},
                before);
}
